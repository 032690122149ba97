"""IAM roles for AWS services, with each AWS-managed policy justified."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import aws_iam as iam
from constructs import Construct

from components.nag import acknowledge, managed_policy_finding


def service_role(
    scope: Construct, construct_id: str, *, service: str, description: str, aws_managed_policies: Mapping[str, str]
) -> iam.Role:
    """A role ``service`` assumes, holding the given AWS-managed policies.

    ``aws_managed_policies`` maps each policy name to the reason it is used;
    the reason becomes the cdk-nag acknowledgement of that one policy
    (AwsSolutions-IAM4 for exactly that ARN), so an added policy without a
    reason cannot slip through.
    """
    role = iam.Role(
        scope,
        construct_id,
        assumed_by=iam.ServicePrincipal(service),
        description=description,
        managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(name) for name in aws_managed_policies],
    )
    acknowledge(role, {managed_policy_finding(name): reason for name, reason in aws_managed_policies.items()})
    return role
