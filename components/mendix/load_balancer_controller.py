"""The AWS Load Balancer Controller: its pinned release, its documented IAM
policy narrowed to this account and fenced to what it created, and the
acknowledgements of that policy.

Guarantees: the controller runs from a pinned chart and image on the system
nodes, two replicas, tagging what it creates with the cost tags; its policy is
the upstream file verbatim but for region and account, followed by explicit
denies (``boundary_statements``): no load balancer, listener, rule or target
group without this cluster's ``elbv2.k8s.aws/cluster`` tag, no security group
outside the platform's VPC, no web ACL or Shield protection at all (the
controller's WAF and Shield features are off); each wildcard left is
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
# The tag the controller puts on every load balancer, target group, listener, rule and security group it creates.
CLUSTER_TAG = "elbv2.k8s.aws/cluster"
# Writes on existing Elastic Load Balancing resources: every one is denied on a resource without this
# cluster's tag (another cluster's, or the IRIS stacks' VIPs, ALBs and target groups, which have none).
ELB_WRITES_ON_EXISTING = (
    "elasticloadbalancing:AddListenerCertificates",
    "elasticloadbalancing:CreateListener",
    "elasticloadbalancing:CreateRule",
    "elasticloadbalancing:DeleteListener",
    "elasticloadbalancing:DeleteLoadBalancer",
    "elasticloadbalancing:DeleteRule",
    "elasticloadbalancing:DeleteTargetGroup",
    "elasticloadbalancing:DeregisterTargets",
    "elasticloadbalancing:ModifyCapacityReservation",
    "elasticloadbalancing:ModifyIpPools",
    "elasticloadbalancing:ModifyListener",
    "elasticloadbalancing:ModifyListenerAttributes",
    "elasticloadbalancing:ModifyLoadBalancerAttributes",
    "elasticloadbalancing:ModifyRule",
    "elasticloadbalancing:ModifyTargetGroup",
    "elasticloadbalancing:ModifyTargetGroupAttributes",
    "elasticloadbalancing:RegisterTargets",
    "elasticloadbalancing:RemoveListenerCertificates",
    "elasticloadbalancing:SetIpAddressType",
    "elasticloadbalancing:SetRulePriorities",
    "elasticloadbalancing:SetSecurityGroups",
    "elasticloadbalancing:SetSubnets",
)
# Tagging is denied the same way, except as part of a create (the new resource has no tags yet).
ELB_TAGGING = ("elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags")
# Security-group writes the controller makes on existing groups (its own, and the nodes' rules for its NLBs).
SECURITY_GROUP_WRITES = ("ec2:AuthorizeSecurityGroupIngress", "ec2:DeleteSecurityGroup", "ec2:RevokeSecurityGroupIngress")
# The platform uses no ALB Ingress: web ACLs and Shield protections are none of the controller's business.
WEB_ACL_AND_SHIELD = (
    "elasticloadbalancing:SetWebAcl",
    "shield:CreateProtection",
    "shield:DeleteProtection",
    "waf-regional:AssociateWebACL",
    "waf-regional:DisassociateWebACL",
    "wafv2:AssociateWebACL",
    "wafv2:DisassociateWebACL",
)
# Chart values that match the denies: the WAF and Shield features off, listeners and rules tagged.
CONTROLLER_FEATURES: dict[str, Any] = {
    "enableShield": False,
    "enableWaf": False,
    "enableWafv2": False,
    # Listeners and rules carry the cluster tag, so the deny on untagged ones spares the controller's own.
    "featureGates": {"ListenerRulesTagging": True},
}
WILDCARD_REASONS = {
    "*": "The controller's documented policy: Describe and Get calls accept no resource-level permissions. Its writes "
    "on * are either conditioned upstream on the elbv2.k8s.aws/cluster tag or fenced by the explicit denies that "
    "follow the documented statements: no load balancer, listener, rule or target group without this cluster's tag, "
    "no security group outside the platform's VPC, no web ACL or Shield protection at all.",
    "security-group/*": "Security groups the controller creates for NLBs, in this region and account; creating "
    "requires, and changing requires an existing, elbv2.k8s.aws/cluster tag.",
    "loadbalancer/": "Load balancers the controller creates, in this region and account; it tags them with "
    "elbv2.k8s.aws/cluster and may change only tagged ones. Their names are chosen at run time.",
    "targetgroup/": "Target groups the controller creates, in this region and account, named at run time and "
    "tagged elbv2.k8s.aws/cluster; registering targets in, or changing, one without this cluster's tag is denied.",
    "listener": "Listeners and rules of the controller's load balancers, in this region and account, whose ids "
    "exist only at run time; the documented policy lets it tag them, and the denies keep that to listeners and "
    "rules it creates or that carry this cluster's tag.",
}


@dataclass(frozen=True)
class ControllerRelease:
    """The controller's version (which names its embedded policy) and its Helm chart's version."""

    version: str
    chart_version: str


@dataclass(frozen=True)
class ControllerFence:
    """What the controller's denies name: its cluster, the platform's VPC and security groups (ARNs)."""

    cluster_name: str
    vpc_arn: str
    security_groups_arn: str


def boundary_statements(fence: ControllerFence) -> list[dict[str, Any]]:
    """Explicit denies that keep the controller to what it created: an allow of the documented
    policy on ``*`` (listeners, rules, targets, security-group ingress, web ACLs) cannot reach
    another stack's resources, and security groups only in the platform's VPC."""
    foreign = {"StringNotEquals": {f"aws:ResourceTag/{CLUSTER_TAG}": fence.cluster_name}}
    vpc_arn = fence.vpc_arn
    return [
        {
            "Sid": "DenyElbWritesOnResourcesOfOthers",
            "Effect": "Deny",
            "Action": list(ELB_WRITES_ON_EXISTING),
            "Resource": "*",
            "Condition": foreign,
        },
        {
            "Sid": "DenyElbTaggingOfResourcesOfOthers",
            "Effect": "Deny",
            "Action": list(ELB_TAGGING),
            "Resource": "*",
            # Null "true": the request is no create (a create tags a resource that has no tags yet).
            "Condition": {**foreign, "Null": {"elasticloadbalancing:CreateAction": "true"}},
        },
        {
            "Sid": "DenySecurityGroupWritesOutsideThePlatformVpc",
            "Effect": "Deny",
            "Action": list(SECURITY_GROUP_WRITES),
            "Resource": "*",
            "Condition": {"ArnNotEquals": {"ec2:Vpc": vpc_arn}},
        },
        {
            "Sid": "DenySecurityGroupsInOtherVpcs",
            "Effect": "Deny",
            "Action": "ec2:CreateSecurityGroup",
            # A create names the new group and its VPC: any VPC but the platform's is refused.
            "NotResource": [fence.security_groups_arn, vpc_arn],
        },
        {"Sid": "DenyWebAclsAndShield", "Effect": "Deny", "Action": list(WEB_ACL_AND_SHIELD), "Resource": "*"},
    ]


def load_balancer_controller_policy(version: str, *, region: str, account: str, fence: ControllerFence) -> dict[str, Any]:
    """The controller's documented IAM policy, each ARN narrowed to this region and account, then
    the denies of ``boundary_statements``.

    The embedded file is the upstream one, verbatim; only ``arn:aws:<service>:*:*:``
    becomes ``arn:aws:<service>:<region>:<account>:`` here. Statements on ``*``
    stay as documented: their actions either take no resource (Describe*), are
    limited by the controller's ``elbv2.k8s.aws/cluster`` tag conditions, or are
    fenced by the denies.
    """
    policy = json.loads((POLICIES / f"aws-load-balancer-controller-{version}.json").read_text())

    def narrow(resource: str) -> str:
        return re.sub(r"^(arn:aws:[a-z0-9-]+):\*:\*:", rf"\1:{region}:{account}:", resource)

    for statement in policy["Statement"]:
        res = statement["Resource"]
        statement["Resource"] = [narrow(r) for r in res] if isinstance(res, list) else narrow(res)
    policy["Statement"] += boundary_statements(fence)
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
            **CONTROLLER_FEATURES,
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
        if statement["Effect"] == "Allow"
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
