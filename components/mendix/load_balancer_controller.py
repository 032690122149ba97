"""The AWS Load Balancer Controller: its pinned release, its documented IAM
policy narrowed to this account, and the acknowledgements of that policy.

Guarantees: the controller runs from a pinned chart and image on the system
nodes, two replicas, tagging what it creates with the cost tags; its policy is
the upstream file verbatim but for region and account; each wildcard left is
acknowledged one by one with the reason the controller needs it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import aws_eks_v2 as eks

from components.mendix.nag import inline_reason
from components.mendix.nodes import CONTROLLER_PLACEMENT
from components.nag import acknowledge, acknowledge_inline_policies

POLICIES = Path(__file__).resolve().parents[1] / "policies"
LOAD_BALANCER_CONTROLLER_IMAGE = "public.ecr.aws/eks/aws-load-balancer-controller"
REPLICAS = 2
WILDCARD_REASONS = {
    "*": "The controller's documented policy: Describe and Get calls accept no resource-level permissions, and "
    "its writes on * are conditioned on the elbv2.k8s.aws/cluster tag the controller puts on what it creates.",
    "security-group/*": "Security groups the controller creates for NLBs, in this region and account; creating "
    "requires, and changing requires an existing, elbv2.k8s.aws/cluster tag.",
    "loadbalancer/": "Load balancers the controller creates, in this region and account; it tags them with "
    "elbv2.k8s.aws/cluster and may change only tagged ones. Their names are chosen at run time.",
    "targetgroup/": "Target groups the controller creates, in this region and account, named at run time and "
    "tagged elbv2.k8s.aws/cluster.",
    "listener": "Listeners and rules of the controller's load balancers, in this region and account, whose ids "
    "exist only at run time; the documented policy lets it tag them.",
}


@dataclass(frozen=True)
class ControllerRelease:
    """The controller's version (which names its embedded policy) and its Helm chart's version."""

    version: str
    chart_version: str


def load_balancer_controller_policy(version: str, *, region: str, account: str) -> dict[str, Any]:
    """The controller's documented IAM policy, each ARN narrowed to this region and account.

    The embedded file is the upstream one, verbatim; only ``arn:aws:<service>:*:*:``
    becomes ``arn:aws:<service>:<region>:<account>:`` here. Statements on ``*``
    stay as documented: their actions either take no resource (Describe*) or
    are limited by the controller's ``elbv2.k8s.aws/cluster`` tag conditions.
    """
    policy = json.loads((POLICIES / f"aws-load-balancer-controller-{version}.json").read_text())

    def narrow(resource: str) -> str:
        return re.sub(r"^(arn:aws:[a-z0-9-]+):\*:\*:", rf"\1:{region}:{account}:", resource)

    for statement in policy["Statement"]:
        res = statement["Resource"]
        statement["Resource"] = [narrow(r) for r in res] if isinstance(res, list) else narrow(res)
    return policy  # type: ignore[no-any-return]


def controller_options(
    release: ControllerRelease, *, policy: dict[str, Any], resource_tags: Mapping[str, str]
) -> eks.AlbControllerOptions:
    """The cluster's ``alb_controller``: pinned, on the system nodes, tagging load balancers with the cost tags."""
    return eks.AlbControllerOptions(
        version=eks.AlbControllerVersion.of(release.version, release.chart_version),
        policy=policy,
        repository=LOAD_BALANCER_CONTROLLER_IMAGE,
        additional_helm_chart_values={
            **CONTROLLER_PLACEMENT,
            "replicaCount": REPLICAS,
            # Load balancers the controller creates carry the cost tags too.
            "defaultTags": dict(resource_tags),
        },
    )


def _wildcard_reason(resource_arn: str) -> str:
    if resource_arn == "*":
        return WILDCARD_REASONS["*"]
    return next(reason for key, reason in WILDCARD_REASONS.items() if key != "*" and key in resource_arn)


def acknowledge_controller_policy(controller: eks.AlbController, policy: dict[str, Any]) -> None:
    """Each wildcard resource the narrowed policy keeps, and the inline policies of the controller's role."""
    role_policy = controller.node.find_child("alb-sa").node.find_child("Role").node.find_child("DefaultPolicy")
    resources = {
        r
        for statement in policy["Statement"]
        for r in (statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]])
    }
    acknowledge(
        role_policy,
        {
            # The controller writes arn:aws: as arn:${AWS::Partition}:, which nag shows as <AWS::Partition>.
            "AwsSolutions::AwsSolutions-IAM5[Resource::"
            + arn.replace("arn:aws:", "arn:<AWS::Partition>:", 1)
            + "]": _wildcard_reason(arn)
            for arn in sorted(resources)
        },
    )
    acknowledge_inline_policies(controller, inline_reason("role"))
