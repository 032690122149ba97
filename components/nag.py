"""cdk-nag acknowledgements that recur across components, each still scoped
to one resource and one finding, with its reason."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aws_cdk import Acknowledgment, Validations
from aws_cdk import aws_iam as iam
from constructs import IConstruct

# HIPAA and NIST both carry these rules under the same name.
BOTH_PACKS = ("HIPAA.Security", "NIST.800.53.R5")
KEY_GRANT_ACTIONS = ("kms:GenerateDataKey*", "kms:ReEncrypt*")
# How cdk-nag names an AWS-managed policy's ARN in its findings.
AWS_MANAGED_POLICY_ARN = "arn:<AWS::Partition>:iam::aws:policy/"


def acknowledge(construct: IConstruct, findings: Mapping[str, str]) -> None:
    """Acknowledge each ``Pack::Rule[finding]`` on ``construct`` with its reason (in one call to the CDK)."""
    if findings:
        Validations.of(construct).acknowledge(*(Acknowledgment(id=rule, reason=reason) for rule, reason in findings.items()))


def both_packs(rule: str, reason: str) -> dict[str, str]:
    """The same HIPAA and NIST rule, one reason."""
    return {f"{pack}::{pack}-{rule}": reason for pack in BOTH_PACKS}


def managed_policy_finding(name: str) -> str:
    """AwsSolutions-IAM4 on the one AWS-managed policy ``name`` (e.g. ``service-role/AWSBackupServiceRolePolicyForBackup``)."""
    return f"AwsSolutions::AwsSolutions-IAM4[Policy::{AWS_MANAGED_POLICY_ARN}{name}]"


def inline_policies(scope: IConstruct) -> Iterable[iam.CfnPolicy]:
    return (c for c in scope.node.find_all() if isinstance(c, iam.CfnPolicy))


def acknowledge_inline_policies(scope: IConstruct, reason: str) -> None:
    """Acknowledge IAMNoInlinePolicy on every inline policy below ``scope``, one by one."""
    for policy in inline_policies(scope):
        acknowledge(policy, both_packs("IAMNoInlinePolicy", reason))


def acknowledge_key_grant(policy: IConstruct, what: str) -> None:
    """The CDK's KMS grants name action families (GenerateDataKey*, ReEncrypt*) on one key."""
    acknowledge(
        policy,
        {
            f"AwsSolutions::AwsSolutions-IAM5[Action::{action}]": f"{what}: the CDK's encrypt/decrypt grant on the one "
            "platform key; the wildcard covers that operation's variants (with or without plaintext, to or from "
            "this key), nothing beyond the key."
            for action in KEY_GRANT_ACTIONS
        },
    )


def acknowledge_provider_function(function: IConstruct, what: str) -> None:
    """A deploy-time function CloudFormation calls synchronously (a custom resource's)."""
    reason = (
        f"{what} runs only while CloudFormation deploys a stack holding a custom resource it serves, synchronously, "
        "and a failure fails and rolls "
        "back that deployment"
    )
    acknowledge(
        function,
        {
            **both_packs("LambdaConcurrency", f"{reason}; a reserved concurrency would only take capacity from the account."),
            **both_packs("LambdaDLQ", f"{reason}; a dead-letter queue would receive nothing."),
        },
    )
