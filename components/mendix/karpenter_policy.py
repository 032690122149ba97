"""Karpenter v1's documented controller policy for this cluster, and the
acknowledgements of the wildcards it keeps.

Guarantees: EC2 writes only on resources tagged
``kubernetes.io/cluster/<cluster>=owned`` and ``karpenter.sh/nodepool``,
``iam:PassRole`` on the node role only, instance profiles only with this
cluster's and region's tags, reads limited to this region; every wildcard
left is acknowledged one by one with the reason Karpenter needs it.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam

from components.nag import acknowledge, acknowledge_inline_policies, acknowledge_key_grant

# What Karpenter creates and tags at run time, so its ids exist only then.
CREATED_KINDS = ("fleet", "instance", "volume", "network-interface", "launch-template", "spot-instances-request")
INLINE_REASON = (
    "The policy belongs to exactly one role, Karpenter's controller, is created and deleted with it and follows "
    "Karpenter's documented controller policy; a customer-managed policy would add a resource nothing else attaches."
)


def controller_statements(
    *, partition: str, region: str, account: str, cluster_name: str, node_role_arn: str, queue_arn: str
) -> list[iam.PolicyStatement]:
    """Karpenter v1's documented controller policy (its getting-started CloudFormation
    template), for this cluster, region and account."""
    ec2 = f"arn:{partition}:ec2:{region}"
    owned_tag = f"kubernetes.io/cluster/{cluster_name}"
    created = [f"{ec2}:{account}:{kind}/*" for kind in CREATED_KINDS]
    profiles = f"arn:{partition}:iam::{account}:instance-profile/*"
    request_tags = {
        f"aws:RequestTag/{owned_tag}": "owned",
        "aws:RequestTag/eks:eks-cluster-name": cluster_name,
    }
    return [
        iam.PolicyStatement(
            sid="AllowScopedEC2InstanceAccessActions",
            actions=["ec2:RunInstances", "ec2:CreateFleet"],
            resources=[
                f"{ec2}::image/*",
                f"{ec2}::snapshot/*",
                f"{ec2}:{account}:security-group/*",
                f"{ec2}:{account}:subnet/*",
                f"{ec2}:{account}:capacity-reservation/*",
            ],
        ),
        iam.PolicyStatement(
            sid="AllowScopedEC2LaunchTemplateAccessActions",
            actions=["ec2:RunInstances", "ec2:CreateFleet"],
            resources=[f"{ec2}:{account}:launch-template/*"],
            conditions={
                "StringEquals": {f"aws:ResourceTag/{owned_tag}": "owned"},
                "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
            },
        ),
        iam.PolicyStatement(
            sid="AllowScopedEC2InstanceActionsWithTags",
            actions=["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
            resources=created,
            conditions={"StringEquals": request_tags, "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}},
        ),
        iam.PolicyStatement(
            sid="AllowScopedResourceCreationTagging",
            actions=["ec2:CreateTags"],
            resources=created,
            conditions={
                "StringEquals": {**request_tags, "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"]},
                "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
            },
        ),
        iam.PolicyStatement(
            sid="AllowScopedResourceTagging",
            actions=["ec2:CreateTags"],
            resources=[f"{ec2}:{account}:instance/*"],
            conditions={
                "StringEquals": {f"aws:ResourceTag/{owned_tag}": "owned"},
                "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                "StringEqualsIfExists": {"aws:RequestTag/eks:eks-cluster-name": cluster_name},
                "ForAllValues:StringEquals": {"aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]},
            },
        ),
        iam.PolicyStatement(
            sid="AllowScopedDeletion",
            actions=["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
            resources=[f"{ec2}:{account}:instance/*", f"{ec2}:{account}:launch-template/*"],
            conditions={
                "StringEquals": {f"aws:ResourceTag/{owned_tag}": "owned"},
                "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
            },
        ),
        iam.PolicyStatement(
            sid="AllowPassingInstanceRole",
            actions=["iam:PassRole"],
            resources=[node_role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
        ),
        iam.PolicyStatement(
            sid="AllowScopedInstanceProfileCreationActions",
            actions=["iam:CreateInstanceProfile"],
            resources=[profiles],
            conditions={
                "StringEquals": {**request_tags, "aws:RequestTag/topology.kubernetes.io/region": region},
                "StringLike": {"aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"},
            },
        ),
        iam.PolicyStatement(
            sid="AllowScopedInstanceProfileTagActions",
            actions=["iam:TagInstanceProfile"],
            resources=[profiles],
            conditions={
                "StringEquals": {
                    f"aws:ResourceTag/{owned_tag}": "owned",
                    "aws:ResourceTag/topology.kubernetes.io/region": region,
                    **request_tags,
                    "aws:RequestTag/topology.kubernetes.io/region": region,
                },
                "StringLike": {
                    "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*",
                    "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*",
                },
            },
        ),
        iam.PolicyStatement(
            sid="AllowScopedInstanceProfileActions",
            actions=["iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"],
            resources=[profiles],
            conditions={
                "StringEquals": {
                    f"aws:ResourceTag/{owned_tag}": "owned",
                    "aws:ResourceTag/topology.kubernetes.io/region": region,
                },
                "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*"},
            },
        ),
        iam.PolicyStatement(sid="AllowInstanceProfileReadActions", actions=["iam:GetInstanceProfile"], resources=[profiles]),
        iam.PolicyStatement(
            sid="AllowAPIServerEndpointDiscovery",
            actions=["eks:DescribeCluster"],
            resources=[f"arn:{partition}:eks:{region}:{account}:cluster/{cluster_name}"],
        ),
        iam.PolicyStatement(
            sid="AllowInterruptionQueueActions",
            actions=["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
            resources=[queue_arn],
        ),
        iam.PolicyStatement(
            sid="AllowRegionalReadActions",
            actions=[
                "ec2:DescribeCapacityReservations",
                "ec2:DescribeImages",
                "ec2:DescribeInstances",
                "ec2:DescribeInstanceTypeOfferings",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplates",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSpotPriceHistory",
                "ec2:DescribeSubnets",
            ],
            resources=["*"],
            conditions={"StringEquals": {"aws:RequestedRegion": region}},
        ),
        iam.PolicyStatement(
            sid="AllowSSMReadActions",
            actions=["ssm:GetParameter"],
            resources=[f"arn:{partition}:ssm:{region}::parameter/aws/service/*"],
        ),
        iam.PolicyStatement(sid="AllowPricingReadActions", actions=["pricing:GetProducts"], resources=["*"]),
        iam.PolicyStatement(sid="AllowUnscopedInstanceProfileListAction", actions=["iam:ListInstanceProfiles"], resources=["*"]),
    ]


def acknowledge_controller_policy(role: iam.Role, cluster_name: str) -> None:
    """The wildcards of the controller's policy, its key grant and its inline policies."""
    stack = Stack.of(role)
    policy = role.node.find_child("DefaultPolicy")
    ec2 = f"arn:{stack.partition}:ec2:{stack.region}"
    account = stack.account
    tagged = (
        "Karpenter's documented controller policy: it may act only on instances, launch templates, fleets, "
        f"volumes and interfaces that carry kubernetes.io/cluster/{cluster_name}=owned and a karpenter.sh/nodepool "
        "tag, whose ids exist only at run time."
    )
    wildcards = {
        f"{ec2}::image/*": "Images Karpenter launches from, chosen by the EC2NodeClass's pinned AMI alias; "
        "RunInstances needs the image as a resource.",
        f"{ec2}::snapshot/*": "The EBS snapshots behind those AWS-published images, which RunInstances reads as "
        "resources; their ids change with every AMI release.",
        f"{ec2}:{account}:security-group/*": "Security groups the EC2NodeClass names by id; RunInstances needs "
        "the group as a resource.",
        f"{ec2}:{account}:subnet/*": "Subnets the EC2NodeClass names by id; RunInstances needs the subnet as a resource.",
        f"{ec2}:{account}:capacity-reservation/*": "Capacity reservations of this account, which Karpenter may "
        "launch into when they exist; Karpenter's documented policy names them by wildcard.",
        f"arn:{stack.partition}:iam::{account}:instance-profile/*": "Instance profiles Karpenter creates per "
        "EC2NodeClass, limited by tag conditions to this cluster and region.",
        f"arn:{stack.partition}:ssm:{stack.region}::parameter/aws/service/*": "The public SSM parameters that "
        "name the EKS-optimized AMIs, which Karpenter resolves the pinned AMI alias through.",
        "*": "Describe calls and pricing:GetProducts accept no resource; the Describe calls are limited to this region.",
    }
    for kind in CREATED_KINDS:
        wildcards[f"{ec2}:{account}:{kind}/*"] = tagged
    acknowledge(policy, {f"AwsSolutions::AwsSolutions-IAM5[Resource::{arn}]": reason for arn, reason in wildcards.items()})
    acknowledge_key_grant(policy, "Karpenter's node volumes")
    acknowledge_inline_policies(role, INLINE_REASON)
