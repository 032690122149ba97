"""The Mendix app's image repository and its delivery: source -> image -> ECR -> canary on EKS.

Guarantees: images are scanned on push, immutable, KMS-encrypted and retained;
the build refuses an image with critical findings and never overwrites a tag;
the canary deploy runs in the VPC against the private API endpoint, may edit
one namespace only, and rolls back by itself; every role holds only what its
step needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import DefaultStackSynthesizer, Duration, RemovalPolicy, Stack
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
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
from config.eks import PipelineSettings

DEPLOY_SCRIPT = Path(__file__).resolve().parents[2] / "pipeline" / "canary_deploy.py"
BUILD_IMAGE = codebuild.LinuxBuildImage.STANDARD_7_0
PROJECT_TIMEOUT = Duration.minutes(60)
INLINE_REASON = (
    "The policy belongs to exactly one role of this pipeline, is created and deleted with it and holds that "
    "step's grants; a customer-managed policy would add a resource that nothing else may attach."
)
# Build output exported to the deploy stage.
IMAGE_VARIABLE = "IMAGE_URI"


@dataclass(frozen=True)
class CanaryTarget:
    """The Deployment and container the canary replaces the image of (see pipeline/canary_deploy.py)."""

    namespace: str
    deployment: str
    container: str


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


class ImagePipeline(Construct):
    """CodePipeline (V2): CodeConnections source, a CodeBuild image build pushed
    to ECR, and a canary deployment to EKS that rolls back by itself.

    Beyond the module's guarantees: the source, branch and canary's size,
    duration and restart budget come from ``settings``; the deploy role is
    admitted to ``canary.namespace`` only, through an EKS access entry;
    projects, logs and artifacts are encrypted with ``encryption_key``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: PipelineSettings,
        image_repository: ecr.IRepository,
        cluster: eks.Cluster,
        kubectl_version: str,
        vpc: ec2.IVpc,
        subnets: Sequence[ec2.ISubnet],
        canary: CanaryTarget,
        encryption_key: kms.IKey,
        access_logs: s3.IBucket,
        log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self._key = encryption_key
        self._log_days = log_retention_days
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
        self.build_project = self._build_project(image_repository)
        self.deploy_project = self._deploy_project(cluster, kubectl_version, vpc, subnets, canary, settings)

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
        build_action = actions.CodeBuildAction(
            action_name="BuildImage", project=self.build_project, input=source, variables_namespace="Build"
        )
        deploy_action = actions.CodeBuildAction(
            action_name="CanaryDeploy",
            project=self.deploy_project,
            input=source,
            environment_variables={
                IMAGE_VARIABLE: codebuild.BuildEnvironmentVariable(value=build_action.variable(IMAGE_VARIABLE))
            },
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
                codepipeline.StageProps(stage_name="Build", actions=[build_action]),
                codepipeline.StageProps(stage_name="Deploy", actions=[deploy_action]),
            ],
        )
        self._acknowledge()

    def _project(
        self,
        construct_id: str,
        log_name: str,
        *,
        variables: dict[str, str],
        build_spec: dict[str, Any],
        **options: Any,
    ) -> codebuild.PipelineProject:
        """A project encrypted with the platform key, logging to its own encrypted group, with plain variables."""
        log_group = encrypted_log_group(self, f"{log_name}Logs", encryption_key=self._key, retention_days=self._log_days)
        return codebuild.PipelineProject(
            self,
            construct_id,
            encryption_key=self._key,
            timeout=PROJECT_TIMEOUT,
            logging=codebuild.LoggingOptions(cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=log_group)),
            environment_variables={name: codebuild.BuildEnvironmentVariable(value=value) for name, value in variables.items()},
            build_spec=codebuild.BuildSpec.from_object(build_spec),
            **options,
        )

    def _build_project(self, repository: ecr.IRepository) -> codebuild.PipelineProject:
        project = self._project(
            "BuildImage",
            "Build",
            description="Builds the Mendix app image from its Dockerfile and pushes it to ECR, tagged with the commit",
            environment=codebuild.BuildEnvironment(
                build_image=BUILD_IMAGE,
                compute_type=codebuild.ComputeType.MEDIUM,
                privileged=True,  # docker build needs the Docker daemon
            ),
            variables={"REPOSITORY_URI": repository.repository_uri, "REPOSITORY_NAME": repository.repository_name},
            build_spec=(
                {
                    "version": "0.2",
                    "env": {"shell": "bash", "exported-variables": [IMAGE_VARIABLE]},
                    "phases": {
                        "pre_build": {
                            "commands": [
                                "TAG=${CODEBUILD_RESOLVED_SOURCE_VERSION}",
                                f"export {IMAGE_VARIABLE}=$REPOSITORY_URI:$TAG",
                                "aws ecr get-login-password"
                                ' | docker login --username AWS --password-stdin "${REPOSITORY_URI%%/*}"',
                            ]
                        },
                        "build": {
                            "commands": [
                                # Tags are immutable: a commit already built is not built again.
                                'if aws ecr describe-images --repository-name "$REPOSITORY_NAME" --image-ids imageTag="$TAG" '
                                '>/dev/null 2>&1; then echo "image $TAG exists"; else '
                                'docker build --pull --tag "$IMAGE_URI" . && docker push "$IMAGE_URI"; fi',
                            ]
                        },
                        "post_build": {
                            "commands": [
                                'aws ecr wait image-scan-complete --repository-name "$REPOSITORY_NAME" '
                                '--image-id imageTag="$TAG"',
                                'CRITICAL=$(aws ecr describe-image-scan-findings --repository-name "$REPOSITORY_NAME" '
                                '--image-id imageTag="$TAG" --query "imageScanFindings.findingSeverityCounts.CRITICAL" '
                                "--output text)",
                                'if [ "$CRITICAL" != "None" ] && [ "$CRITICAL" -gt 0 ]; then '
                                'echo "refusing $IMAGE_URI: $CRITICAL critical findings"; exit 1; fi',
                            ]
                        },
                    },
                }
            ),
        )
        repository.grant_pull_push(project)
        repository.grant_read(project)
        project.add_to_role_policy(
            iam.PolicyStatement(actions=["ecr:DescribeImageScanFindings"], resources=[repository.repository_arn])
        )
        acknowledge(
            project,
            {
                "AwsSolutions::AwsSolutions-CB3": "Privileged mode runs the Docker daemon that builds the image; the "
                "project builds only the application's repository at the pipeline's commit and holds no deploy "
                "permissions."
            },
        )
        return project

    def _deploy_project(
        self,
        cluster: eks.Cluster,
        kubectl_version: str,
        vpc: ec2.IVpc,
        subnets: Sequence[ec2.ISubnet],
        canary: CanaryTarget,
        settings: PipelineSettings,
    ) -> codebuild.PipelineProject:
        script = s3_assets.Asset(self, "DeployScript", path=str(DEPLOY_SCRIPT))
        self.security_group = ec2.SecurityGroup(
            self,
            "DeploySecurityGroup",
            vpc=vpc,
            description="Canary deploy step: the EKS API and AWS APIs over HTTPS",
            allow_all_outbound=False,
        )
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(HTTPS_PORT), "EKS API, AWS APIs and kubectl download"
        )
        cluster.connections.allow_from(self.security_group, ec2.Port.tcp(HTTPS_PORT), "Canary deploy step to the EKS API")
        project = self._project(
            "CanaryDeploy",
            "Deploy",
            description="Deploys the new image to EKS as a canary; promotes it when healthy, removes it otherwise",
            environment=codebuild.BuildEnvironment(build_image=BUILD_IMAGE, compute_type=codebuild.ComputeType.SMALL),
            vpc=vpc,
            subnet_selection=ec2.SubnetSelection(subnets=list(subnets)),
            security_groups=[self.security_group],
            variables={
                "CLUSTER_NAME": cluster.cluster_name,
                "KUBECTL_VERSION": kubectl_version,
                "DEPLOY_SCRIPT_URL": script.s3_object_url,
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
                                'aws s3 cp "$DEPLOY_SCRIPT_URL" canary_deploy.py',
                                "python3 canary_deploy.py "
                                f"--namespace {canary.namespace} --deployment {canary.deployment} "
                                f'--container {canary.container} --image "${IMAGE_VARIABLE}" '
                                f"--canary-replicas {settings.canary_replicas} --canary-seconds {settings.canary_seconds} "
                                f"--max-restarts {settings.max_canary_restarts}",
                            ]
                        },
                    },
                }
            ),
        )
        script.grant_read(project)
        project.add_to_role_policy(iam.PolicyStatement(actions=["eks:DescribeCluster"], resources=[cluster.cluster_arn]))
        assert project.role is not None
        # Kubernetes permissions: edit rights in the app's namespace, nothing cluster-wide.
        self.access_entry = eks.AccessEntry(
            self,
            "DeployAccess",
            cluster=cluster,  # type: ignore[arg-type]  # jsii protocol: Cluster implements ICluster
            principal=project.role.role_arn,
            access_policies=[
                eks.AccessPolicy.from_access_policy_name(
                    "AmazonEKSEditPolicy", access_scope_type=eks.AccessScopeType.NAMESPACE, namespaces=[canary.namespace]
                )
            ],
        )
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
        for project, extra in ((self.build_project, {}), (self.deploy_project, self._deploy_findings())):
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
            self.build_project.role.node.find_child("DefaultPolicy"),  # type: ignore[union-attr]
            {
                "AwsSolutions::AwsSolutions-IAM5[Resource::*]": "ecr:GetAuthorizationToken accepts no resource; "
                "pushing and reading are limited to the one repository."
            },
        )
        for policy in inline_policies(self.pipeline):
            acknowledge(policy, artifact_findings)
            acknowledge_key_grant(policy, "CodePipeline")
        acknowledge_inline_policies(self, INLINE_REASON)

    def _deploy_findings(self) -> dict[str, str]:
        stack = Stack.of(self)
        qualifier = DefaultStackSynthesizer.DEFAULT_QUALIFIER
        return {
            f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:{stack.partition}:s3:::cdk-{qualifier}-assets-"
            f"{stack.account}-{stack.region}/*]": "Read access to the CDK asset bucket's objects, for the deploy "
            "script uploaded there with the stack; the asset's key is a content hash known only at deploy time.",
            "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:"
            "network-interface/*]": "CodeBuild attaches the network interfaces of a VPC build, created at run time; "
            "the CDK limits the grant to the project's subnets by condition.",
        }
