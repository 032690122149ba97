"""Customer-managed KMS keys.

Guarantees: annual rotation on, retained when the stack is deleted (data
encrypted with it stays readable), a key policy that lets only the named
AWS service principals use it, each bound to this account by condition, and
grants on it only for AWS resources or by AWS services (Control Tower
CT.KMS.PR.3), CloudWatch Logs only for the project's log groups, and (with
:class:`KeyAdministration`) deletion and disabling reserved to the key
administrator named in settings.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct, IConstruct


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
        """Let CloudWatch Logs encrypt the project's log groups of this account and region (:func:`project_log_groups`)."""
        stack = Stack.of(self)
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogs",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],  # in a key policy, "*" means this key
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": project_log_groups(stack)}},
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


def project_log_groups(stack: Stack) -> list[str]:
    """ARN patterns of the project's log groups in ``stack``'s account and region.

    Every stack is ``<prefix>-<name>`` (composition.py); its log groups are
    named after it by CloudFormation (``<stack>-<id>-<random>``), after a
    function, cluster or database of it by AWS (``/aws/<service>/<stack>-...``,
    in lower case for RDS), or,
    for WAF, ``aws-waf-logs-<stack>-...``. Another project's groups match none.
    """
    prefix = stack.stack_name.partition("-")[0]
    base = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:"
    # RDS names its groups after the instance identifier, which is lower case.
    services = [f"{base}/aws/*/{p}-*" for p in dict.fromkeys((prefix, prefix.lower()))]
    return [f"{base}{prefix}-*", *services, f"{base}aws-waf-logs-{prefix}-*"]


# What a key administrator does to a key; the usage of the key (encrypt, decrypt) is not among them.
KEY_ADMIN_ACTIONS = [
    "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*", "kms:Revoke*",
    "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand",
]  # fmt: skip
# Reserved to the key administrator: what makes a key, and the data it protects, unusable.
KEY_DESTRUCTION_ACTIONS = ["kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:DisableKeyRotation"]


def key_administration_statements(stack: Stack, admin_role: str | None) -> list[iam.PolicyStatement]:
    """The key policy's administration: the named role administers the key; nobody else may
    schedule its deletion, disable it or stop its rotation.

    The account root statement the CDK writes stays, as AWS's default key
    policy has it (it lets IAM policies grant the key's use and keeps the key
    manageable); these statements stand beside it. Without ``admin_role`` no
    principal may destroy the key, the account root included.
    """
    role_arn = f"arn:{stack.partition}:iam::{stack.account}:role/{admin_role}" if admin_role else None
    deny = iam.PolicyStatement(
        sid="OnlyTheKeyAdministratorDestroys",
        effect=iam.Effect.DENY,
        principals=[iam.AnyPrincipal()],
        actions=KEY_DESTRUCTION_ACTIONS,
        resources=["*"],  # in a key policy, "*" means this key
        conditions={"ArnNotEquals": {"aws:PrincipalArn": role_arn}} if role_arn else None,
    )
    if role_arn is None:
        return [deny]
    allow = iam.PolicyStatement(
        sid="AllowKeyAdministration",
        principals=[iam.ArnPrincipal(role_arn)],
        actions=KEY_ADMIN_ACTIONS,
        resources=["*"],
    )
    return [allow, deny]


class KeyAdministration:
    """Adds :func:`key_administration_statements` to every customer-managed key it visits (a visitor
    of :class:`kms.Key`, components/visitors.py)."""

    def __init__(self, admin_role: str | None) -> None:
        self._admin_role = admin_role

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, kms.Key):
            for statement in key_administration_statements(Stack.of(node), self._admin_role):
                node.add_to_resource_policy(statement)


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
