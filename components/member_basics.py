"""What every region's IRIS members share: their instance role and the placeholder guard."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import CfnRule, CfnRuleAssertion, Fn, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from components.service_role import service_role


def member_role(scope: Construct, construct_id: str = "InstanceRole") -> iam.Role:
    """The role of IRIS members and arbiters: SSM Session Manager, and the stack's own policies.

    Members decrypt their own EBS volumes through EC2, which needs no
    permission on the role. The stack adds its own resource-scoped policies:
    the CloudWatch agent's metrics and the members' log groups, and SSM
    parameters under the project's prefix only (components/iris_host_access.py,
    ``host_telemetry_policy``), ^ZMIRROR's invoke permission, the hosts'
    files, images, passwords and mirror markers, and each failover member's
    own backup tag (components/snapshot_backup.py).
    """
    return service_role(
        scope,
        construct_id,
        service="ec2.amazonaws.com",
        description="IRIS mirror members: SSM Session Manager and the stack's scoped grants",
        aws_managed_policies={
            "AmazonSSMManagedInstanceCore": "The AWS-maintained minimum for SSM Session Manager (no SSH, no key pairs); "
            "the instance role's other grants are the stack's own policies, each scoped to named resources, and "
            "one of them denies reading SSM parameters outside the project's prefix.",
        },
    )


def guard_placeholders(stack: Stack, rule_id: str, checks: Sequence[tuple[str, str, str]]) -> None:
    """Offline synthesis works with the shipped placeholders; a deployment does not.

    ``checks`` are (setting, value, placeholder). For each value that is still
    its placeholder, a CloudFormation rule assertion fails the deployment
    before any resource is touched, naming the setting. No rule when none is left.
    """
    assertions = [
        CfnRuleAssertion(
            assert_=Fn.condition_not(Fn.condition_equals(value, placeholder)),
            assert_description=f"{key} is the placeholder {placeholder}: set it (cdk.json or -c) before deploying",
        )
        for key, value, placeholder in checks
        if value == placeholder
    ]
    if assertions:
        CfnRule(stack, rule_id, assertions=assertions)
