"""Customer-managed KMS keys.

Guarantees: annual rotation on, retained when the stack is deleted (data
encrypted with it stays readable), a key policy that lets only the named
AWS service principals use it, each bound to this account by condition, and
grants on it only for AWS resources or by AWS services (Control Tower
CT.KMS.PR.3).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct


class EncryptionKey(Construct):
    """A rotated, retained customer-managed key; ``key`` is the ``kms.Key``."""

    def __init__(self, scope: Construct, construct_id: str, *, description: str, alias: str) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description=description,
            alias=alias,
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # A grant outlives the policy that allowed it: only an AWS service, or a
        # principal acting for an AWS resource (EBS, EKS, RDS), may create one.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyGrantsNotForAwsResources",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["kms:CreateGrant"],
                resources=["*"],  # in a key policy, "*" means this key
                conditions={"BoolIfExists": {"kms:GrantIsForAWSResource": "false", "aws:PrincipalIsAWSService": "false"}},
            )
        )

    def allow_cloudwatch_logs(self) -> None:
        """Let CloudWatch Logs encrypt log groups of this account and region."""
        stack = Stack.of(self)
        log_groups = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:*"
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogs",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],  # in a key policy, "*" means this key
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}},
            )
        )

    def allow_service(self, service: str, actions: Sequence[str]) -> None:
        """Let an AWS service principal use the key on behalf of this account."""
        stack = Stack.of(self)
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(service)],
                actions=list(actions),
                resources=["*"],  # in a key policy, "*" means this key
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )

    def allow_auto_scaling(self, role_arn: str) -> None:
        """Let EC2 Auto Scaling (its service-linked role ``role_arn``) launch
        instances whose EBS volumes this key encrypts."""
        allow_auto_scaling(self.key, role_arn)


def allow_auto_scaling(key: kms.IKey, role_arn: str) -> None:
    """Let an EC2 Auto Scaling service-linked role (``role_arn``) use ``key`` for
    the EBS volumes of the instances it launches, and grant it to them only."""
    principal = iam.ArnPrincipal(role_arn)
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowAutoScalingVolumes",
            principals=[principal],
            actions=["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
            resources=["*"],  # in a key policy, "*" means this key
        )
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowAutoScalingVolumeGrants",
            principals=[principal],
            actions=["kms:CreateGrant"],
            resources=["*"],
            conditions={"Bool": {"kms:GrantIsForAWSResource": True}},
        )
    )
