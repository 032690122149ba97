"""What an IRIS member host may reach in AWS, and the shared host configuration of a stack."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from components.host_certificate import CertificateAuthority
from components.iris_credentials import MirrorCredentials
from components.iris_host import HostAsset, IrisHost
from components.member_basics import member_role
from components.member_monitoring import HOST_METRICS_NAMESPACE, MemberLogGroupNames, MemberLogGroups
from components.nag import acknowledge
from config.data import ContainerImage, DataTierSettings, IrisSettings

IRIS_DIR = Path(__file__).resolve().parent.parent / "iris"
ECR_PULL_ACTIONS = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]


def registry(stack: Stack) -> str:
    """The stack's own ECR registry host."""
    return f"{stack.account}.dkr.ecr.{stack.region}.{stack.url_suffix}"


def image_uri(stack: Stack, image: ContainerImage) -> str:
    return f"{registry(stack)}/{image.repository}@{image.digest}"


def iris_host_config(
    scope: Construct,
    *,
    iris: IrisSettings,
    asset: HostAsset,
    zone_name: str,
    health_check_port: int,
    health_check_path: str,
    qos_timeout_ms: int,
    async_compression: str,
    iris_instance: str,
    log_groups: MemberLogGroupNames,
    ca: CertificateAuthority,
) -> IrisHost:
    """The IrisHost of ``scope``'s stack: images from that region's ECR, pinned by digest."""
    stack = Stack.of(scope)
    return IrisHost(
        asset=asset,
        region=stack.region,
        registry=registry(stack),
        image=image_uri(stack, iris.image),
        arbiter_image=image_uri(stack, iris.arbiter_image),
        web_gateway_image=image_uri(stack, iris.web_gateway_image),
        zone_name=zone_name,
        health_check_port=health_check_port,
        health_check_path=health_check_path,
        memory_ratio=iris.memory_ratio,
        qos_timeout_ms=qos_timeout_ms,
        async_compression=async_compression,
        join_timeout_seconds=iris.join_timeout_seconds,
        license_key=iris.license_key,
        iris_instance=iris_instance,
        log_groups=log_groups,
        ca=ca,
    )


def iris_hosts(
    scope: Construct, *, data: DataTierSettings, log_groups: MemberLogGroups, ca: CertificateAuthority
) -> tuple[IrisHost, iam.ManagedPolicy]:
    """What every member host of ``scope``'s region shares: its files (one asset), its configuration,
    and the policy that lets it read its files, images and licence and write its metrics and logs
    (for the member roles to attach)."""
    files, asset = host_files_asset(scope)
    host = iris_host_config(
        scope,
        iris=data.iris,
        asset=asset,
        zone_name=data.private_zone_name,
        health_check_port=data.health_check_port,
        health_check_path=data.health_check_path,
        qos_timeout_ms=data.mirror_qos_timeout_ms,
        async_compression=data.mirror_async_compression,
        iris_instance=data.iris_instance,
        log_groups=log_groups.names,
        ca=ca,
    )
    return host, allow_iris_hosts(scope, host_files=files, images=data.iris, log_groups=log_groups)


def mirror_set_identity(
    scope: Construct,
    name: str,
    *,
    host_policies: Sequence[iam.IManagedPolicy],
    encryption_key: kms.IKey,
    markers: Sequence[str] = (),
) -> tuple[iam.Role, MirrorCredentials]:
    """One mirror set's member role and passwords: the role holds the region's shared host
    policies and reads this set's passwords (and marker) only."""
    role = member_role(scope, f"{name}InstanceRole")
    for policy in host_policies:
        role.add_managed_policy(policy)
    credentials = MirrorCredentials(scope, f"{name}Credentials", encryption_key=encryption_key, mirror_name=name)
    allow_mirror_secrets(
        scope, f"{name}SecretsPolicy", role=role, credentials=[credentials], encryption_key=encryption_key, markers=markers
    )
    return role, credentials


def arbiter_identity(scope: Construct, name: str, *, host_policies: Sequence[iam.IManagedPolicy]) -> iam.Role:
    """One mirror set's arbiter role: the region's shared host policies (its files and image) and
    nothing of the members': no password, no mirror marker, no retarget function to invoke."""
    role = member_role(scope, f"{name}ArbiterRole")
    for policy in host_policies:
        role.add_managed_policy(policy)
    return role


def host_files_asset(scope: Construct) -> tuple[s3_assets.Asset, HostAsset]:
    """``iris/`` as one S3 asset: the scripts and ^ZMIRROR every member host installs."""
    asset = s3_assets.Asset(scope, "HostFiles", path=str(IRIS_DIR), exclude=["__pycache__"])
    return asset, HostAsset(asset.s3_bucket_name, asset.s3_object_key)


def project_prefix(stack: Stack) -> str:
    """The deployment's prefix: every stack is ``<prefix>-<name>`` (composition.py), and so is every
    SSM parameter a host reads (``/<prefix>-<stack>/...``)."""
    return stack.stack_name.partition("-")[0]


def host_telemetry_statements(stack: Stack, log_groups: MemberLogGroups) -> list[iam.PolicyStatement]:
    """The CloudWatch agent's rights, in place of CloudWatchAgentServerPolicy, and the hosts' SSM parameter bound.

    Metrics only in the hosts' namespace (PutMetricData takes no resource, so
    the namespace condition bounds it); log events only into the members' own
    log groups, with no right to create, delete or re-time a group. The deny
    keeps AmazonSSMManagedInstanceCore's parameter reads under the project's prefix.
    """
    # A group's ARN attribute ends in ":*": the group and its streams.
    groups = [g.log_group_arn for g in (log_groups.messages, log_groups.audit, log_groups.metrics)]
    parameters = stack.format_arn(service="ssm", resource="parameter", resource_name=f"{project_prefix(stack)}-*")
    return [
        iam.PolicyStatement(
            sid="HostMetricsInTheirNamespace",
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": HOST_METRICS_NAMESPACE}},
        ),
        iam.PolicyStatement(
            sid="LogEventsIntoTheMembersLogGroups",
            actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            resources=groups,
        ),
        iam.PolicyStatement(
            sid="NoParametersOutsideTheProject",
            effect=iam.Effect.DENY,
            actions=["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:GetParameterHistory"],
            not_resources=[parameters],
        ),
    ]


def allow_iris_hosts(
    scope: Construct, *, host_files: s3_assets.Asset, images: IrisSettings, log_groups: MemberLogGroups
) -> iam.ManagedPolicy:
    """What every member host reads and writes, whatever its mirror set: its files, its images and the
    licence; its metrics and logs (:func:`host_telemetry_statements`).

    Each names its resources; the wildcards are ECR's authorization token and
    PutMetricData, which no resource can scope (a namespace condition bounds
    the metrics). The caller attaches the policy to the hosts' roles.
    """
    stack = Stack.of(scope)
    repositories = sorted({i.repository for i in (images.image, images.arbiter_image, images.web_gateway_image)})
    statements = [
        iam.PolicyStatement(actions=["s3:GetObject"], resources=[host_files.bucket.arn_for_objects(host_files.s3_object_key)]),
        iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]),
        iam.PolicyStatement(
            actions=ECR_PULL_ACTIONS,
            resources=[stack.format_arn(service="ecr", resource="repository", resource_name=r) for r in repositories],
        ),
    ]
    wildcard_findings = ["Resource::*"]
    licence = images.license_key
    if licence is not None and licence.startswith("secretsmanager:"):
        # A secret's ARN ends in six random characters that no setting can know.
        name = licence.removeprefix("secretsmanager:")
        statements.append(
            iam.PolicyStatement(
                actions=["secretsmanager:GetSecretValue"],
                resources=[
                    stack.format_arn(
                        service="secretsmanager",
                        resource="secret",
                        resource_name=f"{name}-??????",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        wildcard_findings.append(
            f"Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:{name}-??????"
        )
    elif licence is not None:
        bucket, _, key = licence.removeprefix("s3://").partition("/")
        statements.append(iam.PolicyStatement(actions=["s3:GetObject"], resources=[f"arn:{stack.partition}:s3:::{bucket}/{key}"]))
    policy = iam.ManagedPolicy(
        scope,
        "IrisHostPolicy",
        description="IRIS member hosts: their files, images and licence, their metrics and logs",
        statements=[*statements, *host_telemetry_statements(stack, log_groups)],
    )
    reason = (
        "ecr:GetAuthorizationToken takes no resource (the pulls it allows are scoped to the three repositories), nor "
        "does cloudwatch:PutMetricData (bound to the hosts' namespace by condition); a Secrets Manager ARN ends in six "
        "random characters, matched by -?????? and nothing wider."
    )
    acknowledge(policy, {f"AwsSolutions::AwsSolutions-IAM5[{finding}]": reason for finding in wildcard_findings})
    return policy


def allow_mirror_secrets(
    scope: Construct,
    construct_id: str,
    *,
    role: iam.IRole,
    credentials: Sequence[MirrorCredentials],
    encryption_key: kms.IKey,
    markers: Sequence[str] = (),
) -> iam.ManagedPolicy:
    """The hosts of ``role`` read their mirror sets' passwords and read and write their mirror markers; nothing else."""
    stack = Stack.of(scope)
    statements = [
        iam.PolicyStatement(
            actions=["secretsmanager:GetSecretValue"],
            resources=[s.secret_arn for c in credentials for s in (c.superuser, c.cspsystem)],
        ),
        iam.PolicyStatement(
            actions=["kms:Decrypt"],
            resources=[encryption_key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{stack.region}.{stack.url_suffix}"}},
        ),
    ]
    if markers:
        statements.append(
            iam.PolicyStatement(
                actions=["ssm:GetParameter", "ssm:PutParameter"],
                resources=[stack.format_arn(service="ssm", resource="parameter", resource_name=m.lstrip("/")) for m in markers],
            )
        )
    return iam.ManagedPolicy(
        scope,
        construct_id,
        description="IRIS member hosts: their mirror sets' passwords and mirror markers",
        statements=statements,
        roles=[role],
    )
