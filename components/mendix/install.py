"""The Mendix Operator on the cluster: plans' IAM, database bootstrap, install Job, network policies.

Guarantees: the Operator and its apps share one namespace that denies all
traffic but what they need; the Operator never sees the database's master
secret (a one-shot Job creates its IAM-authenticated admin user); its
storage, database and registry plans are the stack's own bucket, PostgreSQL
and ECR repository; every Job runs on the system nodes from an image pinned in
settings, and nothing is fetched at synthesis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from constructs import Construct, IDependable

from components.mendix import operator as op
from components.mendix.database import IAM_ADMIN_USERNAME
from components.mendix.identity import pod_identity
from components.mendix.nag import inline_reason
from components.mendix.network_policies import network_policies
from components.mendix.nodes import CONTROLLER_PLACEMENT
from components.mendix.plans import MendixPlans
from components.nag import acknowledge_inline_policies
from config.constants import POSTGRES_PORT
from config.eks import MendixOperatorSettings

INLINE_REASON = inline_reason("Job's role")


@dataclass(frozen=True)
class OperatorNetwork:
    """What the Mendix namespace may reach, and where its apps' NLBs go."""

    api_cidrs: tuple[str, ...]
    database_cidrs: tuple[str, ...]
    load_balancer_cidrs: tuple[str, ...]
    load_balancer_subnet_ids: tuple[str, ...]

    @classmethod
    def of(cls, *, cluster_subnets: Sequence[ec2.ISubnet], database_subnets: Sequence[ec2.ISubnet]) -> OperatorNetwork:
        """The API endpoint and the NLBs in the cluster's subnets, the database in its own."""
        cluster_cidrs = tuple(subnet.ipv4_cidr_block for subnet in cluster_subnets)
        return cls(
            api_cidrs=cluster_cidrs,
            database_cidrs=tuple(subnet.ipv4_cidr_block for subnet in database_subnets),
            load_balancer_cidrs=cluster_cidrs,
            load_balancer_subnet_ids=tuple(subnet.subnet_id for subnet in cluster_subnets),
        )


class MendixOperator(Construct):
    """The Operator installed in ``namespace`` by a Job running ``mxpc-cli``, with its plans.

    Beyond the module's guarantees: the storage plan is ``file_bucket`` (IRSA),
    the database plan ``database`` through the admin user ``IAM_ADMIN_USERNAME``,
    the registry ``repository``; version, image, certificate and mode
    (standalone or connected to the Portal) come from ``settings``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.Cluster,
        namespace: str,
        namespace_manifest: IDependable,
        settings: MendixOperatorSettings,
        file_bucket: s3.IBucket,
        encryption_key: kms.IKey,
        database: rds.DatabaseInstance,
        repository: ecr.IRepository,
        network: OperatorNetwork,
        after: Sequence[IDependable],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        database_admin_user, database_port = IAM_ADMIN_USERNAME, POSTGRES_PORT
        node_selector, tolerations = CONTROLLER_PLACEMENT["nodeSelector"], CONTROLLER_PLACEMENT["tolerations"]
        mode, namespace_secret_arn = settings.mode, settings.namespace_secret_arn
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
        bootstrap = pod_identity(
            self,
            "Bootstrap",
            cluster=cluster,
            namespace=op.BOOTSTRAP_NAMESPACE,
            service_account=op.BOOTSTRAP,
            description="Mendix database bootstrap Job: reads the master secret once to create the IAM-authenticated admin",
        )
        self.bootstrap_role = bootstrap.role
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
                image=settings.installer_image,
                region=stack.region,
                host=database.db_instance_endpoint_address,
                port=database_port,
                master_secret_arn=master.secret_arn,
                admin_user=database_admin_user,
                node_selector=node_selector,
                tolerations=tolerations,
            ),
        )
        self.bootstrap.node.add_dependency(bootstrap.association)
        self.bootstrap.node.add_dependency(database)

        self.network_policies = cluster.add_manifest(
            "NetworkPolicies",
            *network_policies(
                namespace,
                api_cidrs=network.api_cidrs,
                database_cidrs=network.database_cidrs,
                load_balancer_cidrs=network.load_balancer_cidrs,
            ),
        )
        self.network_policies.node.add_dependency(namespace_manifest)

        spec = op.OperatorInstall(
            namespace=namespace,
            version=settings.version,
            image=settings.installer_image,
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
            certificate_arn=settings.certificate_arn,
            load_balancer_subnet_ids=network.load_balancer_subnet_ids,
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
            installer = pod_identity(
                self,
                "Installer",
                cluster=cluster,
                namespace=namespace,
                service_account=op.INSTALLER,
                description="Mendix Operator install Job: reads the Portal namespace id and secret",
            )
            self.installer_role = installer.role
            self.installer_role.add_to_principal_policy(
                iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[namespace_secret_arn])
            )
            acknowledge_inline_policies(self.installer_role, INLINE_REASON)
            self.installer.node.add_dependency(installer.association)
        for dependency in after:
            for manifest in (self.bootstrap, self.installer, self.network_policies):
                manifest.node.add_dependency(dependency)
