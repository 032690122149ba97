"""The Mendix Operator on the cluster: plans' IAM, database bootstrap, install Job, network policies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from constructs import Construct, IDependable

from components.mendix import operator as op
from components.mendix.identity import pod_identity_role
from components.mendix.network_policies import network_policies
from components.mendix.plans import MendixPlans
from components.nag import acknowledge_inline_policies

INLINE_REASON = (
    "The policy belongs to exactly one Job's role, is created and deleted with it and is written for it alone; "
    "a customer-managed policy would add a resource that nothing else may attach."
)


class MendixOperator(Construct):
    """The Operator installed in ``namespace`` by a Job running ``mxpc-cli``, with its plans.

    Guarantees: the Operator and the apps share ``namespace``; its storage plan
    is the file bucket (IRSA), its database plan the stack's PostgreSQL through
    an IAM-authenticated admin user that a one-shot Job creates from the master
    secret (which the Operator never sees), its registry the project's ECR
    repository; the namespace denies all traffic but what the Operator and apps
    need. Nothing is fetched at synthesis: the Job's image is pinned in settings.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.Cluster,
        namespace: str,
        namespace_manifest: IDependable,
        version: str,
        installer_image: str,
        certificate_arn: str,
        mode: str,
        namespace_secret_arn: str | None,
        file_bucket: s3.IBucket,
        encryption_key: kms.IKey,
        database: rds.DatabaseInstance,
        database_admin_user: str,
        database_port: int,
        repository: ecr.IRepository,
        api_cidrs: Sequence[str],
        database_cidrs: Sequence[str],
        load_balancer_cidrs: Sequence[str],
        load_balancer_subnet_ids: Sequence[str],
        node_selector: dict[str, str],
        tolerations: list[dict[str, Any]],
        after: Sequence[IDependable],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        master = database.secret
        assert master is not None, "the database keeps its master credentials in Secrets Manager"
        resource_id = database.instance_resource_id
        assert resource_id is not None, "rds-db:connect names the instance's resource id"
        self.plans = MendixPlans(
            self,
            "Plans",
            cluster=cluster,
            namespace=namespace,
            file_bucket=file_bucket,
            encryption_key=encryption_key,
            database_resource_id=resource_id,
            database_admin_user=database_admin_user,
            repository=repository,
        )

        # One-shot: the Operator's database admin user, IAM-authenticated.
        self.bootstrap_role = pod_identity_role(
            self,
            "BootstrapRole",
            cluster=cluster,
            namespace=op.BOOTSTRAP_NAMESPACE,
            service_account=op.BOOTSTRAP,
            description="Mendix database bootstrap Job: reads the master secret once to create the IAM-authenticated admin",
        )
        # Stated on the role, not by grant_read: that would name the role in the key policy, and the
        # role's trust names the cluster, whose logs need the key first.
        self.bootstrap_role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadTheMasterSecretOnce",
                actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                resources=[master.secret_arn],
            )
        )
        self.bootstrap_role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DecryptItThroughSecretsManager",
                actions=["kms:Decrypt"],
                resources=[encryption_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{stack.region}.amazonaws.com"}},
            )
        )
        acknowledge_inline_policies(self.bootstrap_role, INLINE_REASON)
        self.bootstrap = cluster.add_manifest(
            "DatabaseBootstrap",
            *op.bootstrap_manifests(
                image=installer_image,
                region=stack.region,
                host=database.db_instance_endpoint_address,
                port=database_port,
                master_secret_arn=master.secret_arn,
                admin_user=database_admin_user,
                node_selector=node_selector,
                tolerations=tolerations,
            ),
        )
        bootstrap_association = eks.CfnPodIdentityAssociation(
            self,
            "BootstrapIdentity",
            cluster_name=cluster.cluster_name,
            namespace=op.BOOTSTRAP_NAMESPACE,
            service_account=op.BOOTSTRAP,
            role_arn=self.bootstrap_role.role_arn,
        )
        self.bootstrap.node.add_dependency(bootstrap_association)
        self.bootstrap.node.add_dependency(database)

        self.network_policies = cluster.add_manifest(
            "NetworkPolicies",
            *network_policies(
                namespace, api_cidrs=api_cidrs, database_cidrs=database_cidrs, load_balancer_cidrs=load_balancer_cidrs
            ),
        )
        self.network_policies.node.add_dependency(namespace_manifest)

        spec = op.OperatorInstall(
            namespace=namespace,
            version=version,
            image=installer_image,
            mode=mode,
            region=stack.region,
            bucket_name=file_bucket.bucket_name,
            environment_policy_arn=self.plans.environment_policy.managed_policy_arn,
            storage_admin_role_arn=self.plans.storage_admin_role.role_arn,
            oidc_issuer_url=cluster.cluster_open_id_connect_issuer_url,
            database_host=database.db_instance_endpoint_address,
            database_port=database_port,
            database_admin_user=database_admin_user,
            registry_host=f"{stack.account}.dkr.ecr.{stack.region}.{stack.url_suffix}",
            repository_name=repository.repository_name,
            builder_role_arn=self.plans.builder_role.role_arn,
            certificate_arn=certificate_arn,
            load_balancer_subnet_ids=tuple(load_balancer_subnet_ids),
            namespace_secret_arn=namespace_secret_arn,
        )
        self.installer = cluster.add_manifest(
            "OperatorInstaller", *op.installer_manifests(spec, node_selector=node_selector, tolerations=tolerations)
        )
        # The installer watches the bootstrap Job, in the namespace that manifest creates.
        self.installer.node.add_dependency(self.bootstrap)
        self.installer.node.add_dependency(self.network_policies)
        self.installer.node.add_dependency(namespace_manifest)
        self.installer_role: iam.Role | None = None
        if mode == "connected":
            assert namespace_secret_arn is not None
            self.installer_role = pod_identity_role(
                self,
                "InstallerRole",
                cluster=cluster,
                namespace=namespace,
                service_account=op.INSTALLER,
                description="Mendix Operator install Job: reads the Portal namespace id and secret",
            )
            self.installer_role.add_to_principal_policy(
                iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[namespace_secret_arn])
            )
            acknowledge_inline_policies(self.installer_role, INLINE_REASON)
            association = eks.CfnPodIdentityAssociation(
                self,
                "InstallerIdentity",
                cluster_name=cluster.cluster_name,
                namespace=namespace,
                service_account=op.INSTALLER,
                role_arn=self.installer_role.role_arn,
            )
            self.installer.node.add_dependency(association)
        for dependency in after:
            for manifest in (self.bootstrap, self.installer, self.network_policies):
                manifest.node.add_dependency(dependency)
