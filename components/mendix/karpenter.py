"""Karpenter: the Mendix cluster's app nodes, launched on demand and consolidated."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IDependable

from components.mendix.identity import pod_identity_role
from components.nag import acknowledge, acknowledge_inline_policies, acknowledge_key_grant

KARPENTER_REPOSITORY = "oci://public.ecr.aws/karpenter/karpenter"
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "karpenter"
NODE_CLASS = "mendix"
# Interruption notices are worth nothing after a few minutes; Karpenter's own template keeps 300 s.
INTERRUPTION_RETENTION = Duration.minutes(5)
INTERRUPTION_EVENTS = {
    "ScheduledChange": ("aws.health", "AWS Health Event"),
    "SpotInterruption": ("aws.ec2", "EC2 Spot Instance Interruption Warning"),
    "Rebalance": ("aws.ec2", "EC2 Instance Rebalance Recommendation"),
    "InstanceStateChange": ("aws.ec2", "EC2 Instance State-change Notification"),
}
INLINE_REASON = (
    "The policy belongs to exactly one role, Karpenter's controller, is created and deleted with it and follows "
    "Karpenter's documented controller policy; a customer-managed policy would add a resource nothing else attaches."
)


@dataclass(frozen=True)
class NodePool:
    """One Karpenter NodePool: capacity type, instance families and limits."""

    name: str
    capacity_type: str  # on-demand | spot
    instance_categories: tuple[str, ...]
    min_generation: int
    cpu_limit: int
    memory_limit_gib: int
    disk_gib: int
    taint: tuple[str, str] | None = None
    weight: int = 10


def controller_statements(
    *, partition: str, region: str, account: str, cluster_name: str, node_role_arn: str, queue_arn: str
) -> list[iam.PolicyStatement]:
    """Karpenter v1's documented controller policy (its getting-started CloudFormation
    template), for this cluster, region and account."""
    ec2 = f"arn:{partition}:ec2:{region}"
    owned_tag = f"kubernetes.io/cluster/{cluster_name}"
    created = [
        f"{ec2}:{account}:{kind}/*"
        for kind in ("fleet", "instance", "volume", "network-interface", "launch-template", "spot-instances-request")
    ]
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


def node_class_manifest(
    *,
    name: str,
    node_role: str,
    ami_alias: str,
    subnet_ids: Sequence[str],
    security_group_ids: Sequence[str],
    key_arn: str,
    disk_gib: int,
    tags: Mapping[str, str],
) -> dict[str, Any]:
    """The EC2NodeClass: pinned AL2023 AMI, the cluster's subnets and security groups,
    IMDSv2 with hop limit 1, an encrypted gp3 root volume."""
    return {
        "apiVersion": "karpenter.k8s.aws/v1",
        "kind": "EC2NodeClass",
        "metadata": {"name": name},
        "spec": {
            "role": node_role,
            "amiSelectorTerms": [{"alias": ami_alias}],
            "subnetSelectorTerms": [{"id": subnet} for subnet in subnet_ids],
            "securityGroupSelectorTerms": [{"id": group} for group in security_group_ids],
            "metadataOptions": {
                "httpEndpoint": "enabled",
                "httpProtocolIPv6": "disabled",
                "httpPutResponseHopLimit": 1,
                "httpTokens": "required",
            },
            "blockDeviceMappings": [
                {
                    "deviceName": "/dev/xvda",
                    "ebs": {
                        "volumeSize": f"{disk_gib}Gi",
                        "volumeType": "gp3",
                        "encrypted": True,
                        "kmsKeyID": key_arn,
                        "deleteOnTermination": True,
                    },
                }
            ],
            "tags": dict(tags),
        },
    }


def node_pool_manifest(
    pool: NodePool, *, node_class: str, labels: Mapping[str, str], consolidate_after_seconds: int, expire_after_hours: int
) -> dict[str, Any]:
    """A NodePool of x86-64 instances (Mendix needs x86-64), consolidated when empty or underused."""
    requirements = [
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": [pool.capacity_type]},
        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
        {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
        {"key": "karpenter.k8s.aws/instance-category", "operator": "In", "values": list(pool.instance_categories)},
        {"key": "karpenter.k8s.aws/instance-generation", "operator": "Gt", "values": [str(pool.min_generation - 1)]},
    ]
    template_spec: dict[str, Any] = {
        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": node_class},
        "requirements": requirements,
        "expireAfter": f"{expire_after_hours}h",
    }
    if pool.taint is not None:
        template_spec["taints"] = [{"key": pool.taint[0], "value": pool.taint[1], "effect": "NoSchedule"}]
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": pool.name},
        "spec": {
            "weight": pool.weight,
            "template": {"metadata": {"labels": dict(labels)}, "spec": template_spec},
            "limits": {"cpu": str(pool.cpu_limit), "memory": f"{pool.memory_limit_gib}Gi"},
            "disruption": {
                "consolidationPolicy": "WhenEmptyOrUnderutilized",
                "consolidateAfter": f"{consolidate_after_seconds}s",
                # At most one node in ten replaced at a time, so consolidation never drains an AZ at once.
                "budgets": [{"nodes": "10%"}],
            },
        },
    }


class KarpenterCapacity(Construct):
    """Karpenter on the system nodes, with its interruption queue and NodePools.

    Guarantees: the controller runs from a pinned chart on the tainted system
    node group, with Karpenter's documented policy for this cluster only (Pod
    Identity); Spot interruption, rebalance, health and state-change events
    reach it through an SQS queue encrypted with the platform key; nodes come
    from a pinned AL2023 AMI with IMDSv2, hop limit 1 and encrypted volumes;
    the on-demand and Spot pools consolidate empty or underused nodes.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.Cluster,
        cluster_name: str,
        chart_version: str,
        ami_alias: str,
        node_role: iam.IRole,
        subnet_ids: Sequence[str],
        security_group_ids: Sequence[str],
        encryption_key: kms.IKey,
        pools: Sequence[NodePool],
        labels_of: Mapping[str, Mapping[str, str]],
        consolidate_after_seconds: int,
        expire_after_hours: int,
        placement: Mapping[str, Any],
        tags: Mapping[str, str],
        after: Sequence[IDependable],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.queue = sqs.Queue(
            self,
            "InterruptionQueue",
            retention_period=INTERRUPTION_RETENTION,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=encryption_key,
            enforce_ssl=True,
        )
        acknowledge(
            self.queue,
            {
                "AwsSolutions::AwsSolutions-SQS3": "The queue only carries EC2 and Health notices Karpenter reads within "
                "seconds; a notice it fails to read is stale after five minutes, so a dead-letter queue would keep "
                "nothing worth replaying.",
            },
        )
        self.rules = []
        for name, (source, detail_type) in INTERRUPTION_EVENTS.items():
            rule = events.Rule(
                self,
                f"{name}Rule",
                description=f"{detail_type} to Karpenter's interruption queue",
                event_pattern=events.EventPattern(source=[source], detail_type=[detail_type]),
                targets=[targets.SqsQueue(self.queue)],
            )
            self.rules.append(rule)

        self.controller_role = pod_identity_role(
            self,
            "ControllerRole",
            cluster=cluster,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            description="Karpenter controller: launches and removes this cluster's app nodes",
        )
        for statement in controller_statements(
            partition=stack.partition,
            region=stack.region,
            account=stack.account,
            cluster_name=cluster_name,
            node_role_arn=node_role.role_arn,
            queue_arn=self.queue.queue_arn,
        ):
            self.controller_role.add_to_principal_policy(statement)
        # Root volumes are encrypted with the platform key: EC2 uses it on Karpenter's behalf.
        encryption_key.grant_encrypt_decrypt(self.controller_role)
        self.controller_role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="AllowVolumeKeyGrantsForEc2",
                actions=["kms:CreateGrant"],
                resources=[encryption_key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            )
        )
        if any(pool.capacity_type == "spot" for pool in pools):
            # Spot instances are launched by EC2's Spot service-linked role, which must use the volume key too.
            spot = iam.ArnPrincipal(
                f"arn:{stack.partition}:iam::{stack.account}:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot"
            )
            encryption_key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="AllowEc2SpotVolumes",
                    principals=[spot],
                    actions=["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                    resources=["*"],  # in a key policy, "*" means this key
                )
            )
            encryption_key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="AllowEc2SpotVolumeGrants",
                    principals=[spot],
                    actions=["kms:CreateGrant"],
                    resources=["*"],
                    conditions={"Bool": {"kms:GrantIsForAWSResource": True}},
                )
            )
        self._acknowledge(stack, cluster_name)
        association = eks.CfnPodIdentityAssociation(
            self,
            "ControllerIdentity",
            cluster_name=cluster.cluster_name,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            role_arn=self.controller_role.role_arn,
        )

        self.chart = cluster.add_helm_chart(
            "Karpenter",
            chart="karpenter",
            repository=KARPENTER_REPOSITORY,
            version=chart_version,
            namespace=NAMESPACE,
            release="karpenter",
            wait=True,
            timeout=Duration.minutes(10),
            values={
                "settings": {"clusterName": cluster_name, "interruptionQueue": self.queue.queue_name},
                "serviceAccount": {"name": SERVICE_ACCOUNT},
                "replicas": 2,
                **placement,
                "controller": {"resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}},
            },
        )
        self.chart.node.add_dependency(association)
        for dependency in after:
            self.chart.node.add_dependency(dependency)

        self.node_class = cluster.add_manifest(
            "NodeClass",
            node_class_manifest(
                name=NODE_CLASS,
                node_role=node_role.role_name,
                ami_alias=ami_alias,
                subnet_ids=subnet_ids,
                security_group_ids=security_group_ids,
                key_arn=encryption_key.key_arn,
                disk_gib=max(p.disk_gib for p in pools),
                tags=tags,
            ),
        )
        self.node_class.node.add_dependency(self.chart)
        self.node_pools = cluster.add_manifest(
            "NodePools",
            *[
                node_pool_manifest(
                    pool,
                    node_class=NODE_CLASS,
                    labels=labels_of[pool.name],
                    consolidate_after_seconds=consolidate_after_seconds,
                    expire_after_hours=expire_after_hours,
                )
                for pool in pools
            ],
        )
        self.node_pools.node.add_dependency(self.node_class)

    def _acknowledge(self, stack: Stack, cluster_name: str) -> None:
        policy = self.controller_role.node.find_child("DefaultPolicy")
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
        for kind in ("fleet", "instance", "volume", "network-interface", "launch-template", "spot-instances-request"):
            wildcards[f"{ec2}:{account}:{kind}/*"] = tagged
        acknowledge(policy, {f"AwsSolutions::AwsSolutions-IAM5[Resource::{arn}]": reason for arn, reason in wildcards.items()})
        acknowledge_key_grant(policy, "Karpenter's node volumes")
        acknowledge_inline_policies(self.controller_role, INLINE_REASON)
