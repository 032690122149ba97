"""CloudWatch Logs: retention from a day count held in settings, and encrypted, retained log groups."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct

from config.constants import LOG_RETENTION_DAYS

# RetentionDays lists the periods in the same ascending order, then INFINITE.
_BY_DAYS = dict(zip(LOG_RETENTION_DAYS, [m for m in logs.RetentionDays if m is not logs.RetentionDays.INFINITE], strict=True))


def retention(days: int) -> logs.RetentionDays:
    """The ``RetentionDays`` member for ``days`` (validated by settings)."""
    return _BY_DAYS[days]


def encrypted_log_group(
    scope: Construct, construct_id: str, *, encryption_key: kms.IKey, retention_days: int, log_group_name: str | None = None
) -> logs.LogGroup:
    """A log group encrypted with ``encryption_key``, kept ``retention_days``, and
    retained when its stack is deleted (logs are evidence)."""
    return logs.LogGroup(
        scope,
        construct_id,
        log_group_name=log_group_name,
        encryption_key=encryption_key,
        retention=retention(retention_days),
        removal_policy=RemovalPolicy.RETAIN,
    )


def logged_from_the_first_call(resource: IConstruct, function: IConstruct) -> None:
    """``resource``, a custom resource that ``function`` serves in the same stack, is created only after
    the function's own log group (the one the CDK adds as ``LogGroup``; none without that feature flag).

    Lambda creates a missing ``/aws/lambda/<function>`` group at the function's first call, with no key
    and no retention. CloudFormation creates the function's group and its custom resources in parallel:
    when the call comes first, the group's creation finds its name taken and the stack rolls back.
    """
    group = function.node.try_find_child("LogGroup")
    if group is not None:
        resource.node.add_dependency(group)


class EncryptedLogGroups:
    """Gives every log group of a stack a retention and a KMS key (a visitor of :class:`logs.CfnLogGroup`,
    components/visitors.py).

    Log groups the CDK creates for its own deploy-time functions (the kubectl
    provider, custom resources) come without a key; this aspect fills in what
    is missing and leaves what a log group sets alone.
    """

    def __init__(self, *, key_arn: str, days: int) -> None:
        self._key_arn = key_arn
        self._days = days

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, logs.CfnLogGroup):
            return
        if node.kms_key_id is None:
            node.kms_key_id = self._key_arn
        if node.retention_in_days is None:
            node.retention_in_days = self._days
