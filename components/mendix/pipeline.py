"""The Mendix app's image repository and its delivery: source -> deployment
package -> staging ``MendixApp`` -> approval -> production ``MendixApp``.

Guarantees: images (which the Operator builds) are scanned on push, immutable,
KMS-encrypted and retained; a package reaches an environment only through its
``MendixApp`` resource (the Operator reverts direct edits of the Deployments it
owns); production gets the very package staging ran, only after a person
approves; before any package change of an existing app a manual RDS snapshot
must be available, and a package that does not become ready is replaced by
the previous one (pipeline/mendix_deploy.py); the deploy step runs in the VPC
against the private API endpoint and may touch MendixApp resources of one
namespace only; every role holds only what its step needs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sns as sns
from constructs import Construct

from components.log_retention import encrypted_log_group
from components.nag import (
    acknowledge,
    acknowledge_inline_policies,
    acknowledge_key_grant,
    both_packs,
    inline_policies,
)
from components.secure_bucket import encrypted_bucket
from config.constants import HTTPS_PORT
from config.eks import ECR_IMAGE, MendixEnvironmentSettings, PipelineSettings

DEPLOY_SCRIPT = Path(__file__).resolve().parents[2] / "pipeline" / "mendix_deploy.py"
BUILD_IMAGE = codebuild.LinuxBuildImage.STANDARD_7_0
PROJECT_TIMEOUT = Duration.minutes(60)
INLINE_REASON = (
    "The policy belongs to exactly one role of this pipeline, is created and deleted with it and holds that "
    "step's grants; a customer-managed policy would add a resource that nothing else may attach."
)
# Package stage outputs, read by both deploy actions.
PACKAGE_KEY = "PACKAGE_KEY"
PACKAGE_SHA256 = "PACKAGE_SHA256"
PACKAGE_PREFIX = "packages/"
# The Kubernetes group the deploy role is mapped to; a Role in the namespace gives it MendixApps only.
DELIVERY_GROUP = "mendix-delivery"
MENDIX_API_GROUP = "privatecloud.mendix.com"
MENDIX_APP_VERBS = ["get", "list", "watch", "create", "patch"]
# Packages a rollback may still need stay this long after a newer upload replaced them.
PACKAGE_NONCURRENT_DAYS = 90


class MendixImageRepository(Construct):
    """ECR repository for the Mendix app image.

    Guarantees: scan on push, immutable tags, KMS encryption with the given
    key, untagged images expire after ``untagged_expiry_days``; retained when
    the stack is deleted.
    """

    def __init__(self, scope: Construct, construct_id: str, *, encryption_key: kms.IKey, untagged_expiry_days: int) -> None:
        super().__init__(scope, construct_id)
        self.repository = ecr.Repository(
            self,
            "Repository",
            image_scan_on_push=True,
            image_tag_mutability=ecr.TagMutability.IMMUTABLE,
            encryption=ecr.RepositoryEncryption.KMS,
            encryption_key=encryption_key,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                ecr.LifecycleRule(
                    description="Expire untagged images (layers of superseded builds)",
                    tag_status=ecr.TagStatus.UNTAGGED,
                    max_image_age=Duration.days(untagged_expiry_days),
                    rule_priority=1,
                )
            ],
        )


@dataclass(frozen=True)
class DeliveryTarget:
    """Where the packages go: the Operator's namespace, its plans and the database to snapshot."""

    namespace: str
    storage_plan: str
    database_plan: str
    database: rds.DatabaseInstance
    database_identifier: str

    @property
    def snapshot_prefix(self) -> str:
        """Names of the manual snapshots taken before package changes (and what the deploy role may touch)."""
        return f"{self.database_identifier}-predeploy"


def delivery_role_manifests(namespace: str) -> list[dict[str, Any]]:
    """The deploy step's Kubernetes rights: MendixApp resources in ``namespace``, nothing else."""
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": DELIVERY_GROUP, "namespace": namespace},
            "rules": [{"apiGroups": [MENDIX_API_GROUP], "resources": ["mendixapps"], "verbs": MENDIX_APP_VERBS}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": DELIVERY_GROUP, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": DELIVERY_GROUP},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": DELIVERY_GROUP}],
        },
    ]


def connection_action(connection_arn: str) -> str:
    """``UseConnection`` of the service the connection's ARN names: ``codeconnections`` and
    ``codestar-connections`` are two IAM services, each with its own connection resource type."""
    return f"{connection_arn.split(':')[2]}:UseConnection"


def deploy_command(*, target: DeliveryTarget, settings: PipelineSettings) -> str:
    """The deploy step's call of pipeline/mendix_deploy.py; the app and its replicas come from the action."""
    return (
        "python3 mendix_deploy.py deploy "
        f'--namespace {target.namespace} --app "$MENDIX_APP" --replicas "$MENDIX_REPLICAS" '
        f'--bucket "$PACKAGES_BUCKET" --key "${PACKAGE_KEY}" --sha256 "${PACKAGE_SHA256}" '
        f"--db-instance {target.database_identifier} --snapshot-prefix {target.snapshot_prefix} "
        f"--storage-plan {target.storage_plan} --database-plan {target.database_plan} "
        f"--timeout-seconds {settings.deploy_timeout_minutes * 60} --keep-snapshots {settings.pre_deploy_snapshots_kept}"
    )


class MendixDelivery(Construct):
    """CodePipeline (V2): CodeConnections source, MxBuild packaging into an
    encrypted bucket, the package on the staging ``MendixApp``, a manual
    approval, then the same package on the production ``MendixApp``.

    Beyond the module's guarantees: source, project file, MxBuild image, the two
    environments, the deploy timeout and the snapshots kept come from
    ``settings``; the approval is announced on ``approval_topic``; projects,
    logs, artifacts and packages are encrypted with ``encryption_key``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: PipelineSettings,
        target: DeliveryTarget,
        cluster: eks.Cluster,
        kubectl_version: str,
        vpc: ec2.IVpc,
        subnets: Sequence[ec2.ISubnet],
        encryption_key: kms.IKey,
        access_logs: s3.IBucket,
        log_retention_days: int,
        approval_topic: sns.ITopic | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._key = encryption_key
        self._log_days = log_retention_days
        self._snapshot_prefix = target.snapshot_prefix
        owner, repo = settings.repository.split("/", 1)
        self.artifacts = encrypted_bucket(
            self,
            "Artifacts",
            encryption_key=encryption_key,
            access_logs=access_logs,
            replication_reason="Pipeline artifacts are intermediate build products, rebuilt from source on demand; "
            "a copy in another region would not be used.",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireArtifacts",
                    expiration=Duration.days(90),
                    noncurrent_version_expiration=Duration.days(7),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )
        self.packages = encrypted_bucket(
            self,
            "Packages",
            encryption_key=encryption_key,
            access_logs=access_logs,
            replication_reason="Deployment packages are rebuilt from the repository at their commit; the DR region "
            "would build its own.",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="KeepReplacedPackagesForRollback",
                    noncurrent_version_expiration=Duration.days(PACKAGE_NONCURRENT_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )
        self.package_project = self._package_project(settings)
        self.deploy_project = self._deploy_project(cluster, kubectl_version, vpc, subnets, target, settings)

        source = codepipeline.Artifact("Source")
        source_action = actions.CodeStarConnectionsSourceAction(
            action_name="Source",
            connection_arn=settings.connection_arn,
            owner=owner,
            repo=repo,
            branch=settings.branch,
            output=source,
            trigger_on_push=True,
        )
        package_action = actions.CodeBuildAction(
            action_name="BuildPackage", project=self.package_project, input=source, variables_namespace="Package"
        )
        package = {
            name: codebuild.BuildEnvironmentVariable(value=package_action.variable(name))
            for name in (PACKAGE_KEY, PACKAGE_SHA256)
        }

        def deploy(name: str, environment: MendixEnvironmentSettings, order: int = 1) -> actions.CodeBuildAction:
            return actions.CodeBuildAction(
                action_name=name,
                project=self.deploy_project,
                input=source,
                run_order=order,
                environment_variables={
                    **package,
                    "MENDIX_APP": codebuild.BuildEnvironmentVariable(value=environment.app),
                    "MENDIX_REPLICAS": codebuild.BuildEnvironmentVariable(value=str(environment.replicas)),
                },
            )

        self.approval = actions.ManualApprovalAction(
            action_name="PromoteToProduction",
            notification_topic=approval_topic,
            additional_information=f"Staging ({settings.staging.app}) runs package #{{Package.{PACKAGE_SHA256}}}. "
            f"Approve to put the same package on production ({settings.production.app}); a database snapshot is "
            "taken first.",
        )
        self.pipeline = codepipeline.Pipeline(
            self,
            "Pipeline",
            pipeline_type=codepipeline.PipelineType.V2,
            artifact_bucket=self.artifacts,
            cross_account_keys=False,
            restart_execution_on_update=False,
            stages=[
                codepipeline.StageProps(stage_name="Source", actions=[source_action]),
                codepipeline.StageProps(stage_name="Package", actions=[package_action]),
                codepipeline.StageProps(stage_name="Staging", actions=[deploy("DeployStaging", settings.staging)]),
                codepipeline.StageProps(stage_name="Approval", actions=[self.approval]),
                codepipeline.StageProps(stage_name="Production", actions=[deploy("DeployProduction", settings.production)]),
            ],
        )
        self._use_connection(settings.connection_arn)
        self._acknowledge()

    def _use_connection(self, connection_arn: str) -> None:
        """The source action's ``UseConnection`` names the service of the connection's ARN.

        The CDK always writes ``codestar-connections:UseConnection``; for a
        ``codeconnections`` ARN that statement matches no resource type of that
        service, so IAM would not apply it to the connection.
        """
        action = connection_action(connection_arn)
        if action == "codestar-connections:UseConnection":
            return
        role = self.pipeline.node.find_child("Source").node.find_child("Source").node.find_child("CodePipelineActionRole")
        policy = role.node.find_child("DefaultPolicy")
        assert isinstance(policy, iam.Policy)
        statements = Stack.of(self).resolve(policy.document)["Statement"]
        (index,) = [i for i, st in enumerate(statements) if st["Action"] == "codestar-connections:UseConnection"]
        cfn = policy.node.default_child
        assert isinstance(cfn, iam.CfnPolicy)
        cfn.add_property_override(f"PolicyDocument.Statement.{index}.Action", action)

    def _project(
        self,
        construct_id: str,
        log_name: str,
        *,
        variables: dict[str, str],
        build_spec: dict[str, Any],
        **options: Any,
    ) -> codebuild.PipelineProject:
        """A project encrypted with the pipeline key, logging to its own encrypted group, with plain variables."""
        log_group = encrypted_log_group(self, f"{log_name}Logs", encryption_key=self._key, retention_days=self._log_days)
        return codebuild.PipelineProject(
            self,
            construct_id,
            encryption_key=self._key,
            timeout=options.pop("timeout", PROJECT_TIMEOUT),
            logging=codebuild.LoggingOptions(cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=log_group)),
            environment_variables={name: codebuild.BuildEnvironmentVariable(value=value) for name, value in variables.items()},
            build_spec=codebuild.BuildSpec.from_object(build_spec),
            **options,
        )

    def _package_project(self, settings: PipelineSettings) -> codebuild.PipelineProject:
        """MxBuild turns the project at the pipeline's commit into a deployment package (.mda),
        stored once under its SHA-256, so a key names exactly one package."""
        match = re.fullmatch(ECR_IMAGE, settings.mxbuild_image)
        assert match is not None, "settings validated the image"
        registry, _, reference = settings.mxbuild_image.partition("/")
        name, tag = re.split(r"[:@]", reference, maxsplit=1)
        if "@" in reference:
            tag = reference.split("@", 1)[1]
        account, region = registry.split(".")[0], match["region"]
        stack = Stack.of(self)
        mxbuild = ecr.Repository.from_repository_attributes(
            self,
            "MxBuildRepository",
            repository_arn=f"arn:{stack.partition}:ecr:{region}:{account}:repository/{name}",
            repository_name=name,
        )
        project = self._project(
            "BuildPackage",
            "Package",
            description="Builds the Mendix deployment package with MxBuild and stores it under its SHA-256",
            environment=codebuild.BuildEnvironment(
                build_image=codebuild.LinuxBuildImage.from_ecr_repository(mxbuild, tag),
                compute_type=codebuild.ComputeType.MEDIUM,
            ),
            variables={"PACKAGES_BUCKET": self.packages.bucket_name, "PROJECT_FILE": settings.project_file},
            build_spec=(
                {
                    "version": "0.2",
                    "env": {"shell": "bash", "exported-variables": [PACKAGE_KEY, PACKAGE_SHA256]},
                    "phases": {
                        "build": {
                            "commands": [
                                'mxbuild --java-home="$JAVA_HOME" --java-exe-path="$JAVA_HOME/bin/java" '
                                '--output=/tmp/app.mda "$PROJECT_FILE"',
                                f"export {PACKAGE_SHA256}=$(sha256sum /tmp/app.mda | cut -d' ' -f1)",
                                f'export {PACKAGE_KEY}="{PACKAGE_PREFIX}${PACKAGE_SHA256}.mda"',
                                # The same bytes are stored once: a rebuilt commit keeps its key and its object.
                                f'aws s3api head-object --bucket "$PACKAGES_BUCKET" --key "${PACKAGE_KEY}" >/dev/null 2>&1 '
                                f'|| aws s3 cp /tmp/app.mda "s3://$PACKAGES_BUCKET/${PACKAGE_KEY}"',
                            ]
                        },
                    },
                }
            ),
        )
        self.packages.grant_read_write(project)
        acknowledge(
            project,
            {
                "AwsSolutions::AwsSolutions-CB5": "MxBuild is not in CodeBuild's images: the project runs the image in "
                "this account's ECR that eks.pipeline.mxbuild_image pins (MxBuild of the app's Mendix version and a JDK)."
            },
        )
        return project

    def _deploy_project(
        self,
        cluster: eks.Cluster,
        kubectl_version: str,
        vpc: ec2.IVpc,
        subnets: Sequence[ec2.ISubnet],
        target: DeliveryTarget,
        settings: PipelineSettings,
    ) -> codebuild.PipelineProject:
        script = s3_assets.Asset(self, "DeployScript", path=str(DEPLOY_SCRIPT))
        self.security_group = ec2.SecurityGroup(
            self,
            "DeploySecurityGroup",
            vpc=vpc,
            description="Mendix deploy step: the EKS API and AWS APIs over HTTPS",
            allow_all_outbound=False,
        )
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(HTTPS_PORT), "EKS API, AWS APIs and kubectl download"
        )
        cluster.connections.allow_from(self.security_group, ec2.Port.tcp(HTTPS_PORT), "Mendix deploy step to the EKS API")
        project = self._project(
            "DeployPackage",
            "Deploy",
            description="Puts a deployment package on one MendixApp after a database snapshot; rolls back if not ready",
            environment=codebuild.BuildEnvironment(build_image=BUILD_IMAGE, compute_type=codebuild.ComputeType.SMALL),
            vpc=vpc,
            subnet_selection=ec2.SubnetSelection(subnets=list(subnets)),
            security_groups=[self.security_group],
            timeout=Duration.minutes(2 * settings.deploy_timeout_minutes + 30),
            variables={
                "CLUSTER_NAME": cluster.cluster_name,
                "KUBECTL_VERSION": kubectl_version,
                "DEPLOY_SCRIPT_URL": script.s3_object_url,
                "PACKAGES_BUCKET": self.packages.bucket_name,
            },
            build_spec=(
                {
                    "version": "0.2",
                    "env": {"shell": "bash"},
                    "phases": {
                        "install": {
                            "commands": [
                                'curl -fsSLo /usr/local/bin/kubectl "https://dl.k8s.io/release/$KUBECTL_VERSION/bin/linux/amd64/kubectl"',
                                'echo "$(curl -fsSL https://dl.k8s.io/release/$KUBECTL_VERSION/bin/linux/amd64/kubectl.sha256)  '
                                '/usr/local/bin/kubectl" | sha256sum --check',
                                "chmod +x /usr/local/bin/kubectl",
                            ]
                        },
                        "build": {
                            "commands": [
                                'aws eks update-kubeconfig --name "$CLUSTER_NAME"',
                                'aws s3 cp "$DEPLOY_SCRIPT_URL" mendix_deploy.py',
                                deploy_command(target=target, settings=settings),
                            ]
                        },
                    },
                }
            ),
        )
        # The one object: the asset's key is its content hash, fixed at synthesis.
        project.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[script.bucket.arn_for_objects(script.s3_object_key)])
        )
        # The presigned package URLs act as this role: the Operator's build fetches the object through them.
        self.packages.grant_read(project)
        stack = Stack.of(self)
        snapshots = stack.format_arn(
            service="rds",
            resource="snapshot",
            resource_name=f"{target.snapshot_prefix}-*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        instance = target.database.instance_arn
        for sid, rds_actions, resources in (
            ("SnapshotTheDatabaseBeforeAPackageChange", ["rds:CreateDBSnapshot"], [instance, snapshots]),
            ("TagThoseSnapshots", ["rds:AddTagsToResource"], [snapshots]),
            ("WaitForAndListThem", ["rds:DescribeDBSnapshots"], [instance, snapshots]),
            ("PruneTheOldestOfThem", ["rds:DeleteDBSnapshot"], [snapshots]),
        ):
            project.add_to_role_policy(iam.PolicyStatement(sid=sid, actions=rds_actions, resources=resources))
        project.add_to_role_policy(iam.PolicyStatement(actions=["eks:DescribeCluster"], resources=[cluster.cluster_arn]))
        assert project.role is not None
        # Kubernetes rights: a group whose only Role is MendixApps in the one namespace.
        self.access_entry = eks.CfnAccessEntry(
            self,
            "DeployAccess",
            cluster_name=cluster.cluster_name,
            principal_arn=project.role.role_arn,
            kubernetes_groups=[DELIVERY_GROUP],
            type="STANDARD",
        )
        self.kubernetes_role = cluster.add_manifest("DeployRole", *delivery_role_manifests(target.namespace))
        acknowledge(
            project.node.find_child("PolicyDocument"),
            {
                "AwsSolutions::AwsSolutions-IAM5[Resource::*]": "CodeBuild's documented VPC permissions: the EC2 "
                "Describe calls accept no resource-level permissions.",
                "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:"
                "network-interface/*]": "CodeBuild creates the network interfaces of a VPC build at run time; "
                "the CDK limits the grant to the project's subnets by condition.",
            },
        )
        return project

    def _acknowledge(self) -> None:
        """The pipeline's CDK-generated grants: artifacts, logs and reports of these projects only."""
        stack = Stack.of(self)
        artifacts = stack.get_logical_id(self.artifacts.node.default_child)  # type: ignore[arg-type]
        artifact_reason = (
            "CodePipeline's artifact grant on its own artifact bucket: the object-level action families the "
            "pipeline and its actions need to pass artifacts between stages, on that bucket only."
        )
        artifact_findings = {
            f"AwsSolutions::AwsSolutions-IAM5[{finding}]": artifact_reason
            for finding in (
                "Action::s3:GetBucket*",
                "Action::s3:GetObject*",
                "Action::s3:List*",
                "Action::s3:Abort*",
                "Action::s3:DeleteObject*",
                f"Resource::<{artifacts}.Arn>/*",
            )
        }
        region, account, partition = stack.region, stack.account, stack.partition
        packages = stack.get_logical_id(self.packages.node.default_child)  # type: ignore[arg-type]
        package_findings = {
            f"AwsSolutions::AwsSolutions-IAM5[{finding}]": "The CDK's grant on the pipeline's own package bucket: the "
            "object-level action families needed to store and fetch deployment packages, on that bucket only."
            for finding in (
                "Action::s3:GetBucket*",
                "Action::s3:GetObject*",
                "Action::s3:List*",
                "Action::s3:Abort*",
                "Action::s3:DeleteObject*",
                f"Resource::<{packages}.Arn>/*",
            )
        }
        for project, extra in (
            (self.package_project, package_findings),
            (self.deploy_project, {**package_findings, **self._deploy_findings()}),
        ):
            assert project.role is not None
            project_id = stack.get_logical_id(project.node.default_child)  # type: ignore[arg-type]
            run_time = (
                "CodeBuild names this project's log streams and report groups at run time; the grant covers this one project's."
            )
            policy = project.role.node.find_child("DefaultPolicy")
            acknowledge(
                policy,
                {
                    **artifact_findings,
                    f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:{partition}:logs:{region}:{account}:log-group:"
                    f"/aws/codebuild/<{project_id}>:*]": run_time,
                    f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:{partition}:codebuild:{region}:{account}:"
                    f"report-group/<{project_id}>-*]": run_time,
                    **extra,
                },
            )
            acknowledge_key_grant(policy, "CodeBuild project")
            acknowledge(
                project,
                both_packs(
                    "CodeBuildProjectSourceRepoUrl",
                    "The project's source is the pipeline's artifact (type CODEPIPELINE), fetched through the "
                    "CodeConnections connection; the project holds no repository URL and no credentials.",
                ),
            )
        acknowledge(
            self.package_project.role.node.find_child("DefaultPolicy"),  # type: ignore[union-attr]
            {
                "AwsSolutions::AwsSolutions-IAM5[Resource::*]": "ecr:GetAuthorizationToken accepts no resource; "
                "pulling is limited to the one MxBuild image repository."
            },
        )
        for policy in inline_policies(self.pipeline):
            acknowledge(policy, artifact_findings)
            acknowledge_key_grant(policy, "CodePipeline")
        acknowledge_inline_policies(self, INLINE_REASON)

    def _deploy_findings(self) -> dict[str, str]:
        stack = Stack.of(self)
        return {
            "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:"
            "network-interface/*]": "CodeBuild attaches the network interfaces of a VPC build, created at run time; "
            "the CDK limits the grant to the project's subnets by condition.",
            f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:{stack.partition}:rds:{stack.region}:{stack.account}:snapshot:"
            f"{self._snapshot_prefix}-*]": "The manual snapshots the deploy step takes before a package change and prunes "
            "later; their names carry the time, known only at run time, under this one prefix.",
        }
