"""Karpenter: the Mendix cluster's app nodes, launched on demand and consolidated.

Guarantees: the controller runs from a pinned chart on the tainted system
node group, with Karpenter's documented policy for this cluster only (Pod
Identity); Spot interruption, rebalance, health and state-change events
reach it through an SQS queue encrypted with the platform key; nodes come
from a pinned AL2023 AMI with IMDSv2, hop limit 1 and encrypted volumes;
the on-demand pool and the optional Spot pool (tainted for non-critical
workloads) consolidate empty or underused nodes.
"""

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

from components.mendix.identity import pod_identity
from components.mendix.karpenter_policy import acknowledge_controller_policy, controller_statements
from components.mendix.nodes import APP_ROLE, CONTROLLER_PLACEMENT, METADATA_HOP_LIMIT, NODE_ROLE_LABEL, ROOT_DEVICE, SPOT_ROLE
from components.nag import acknowledge
from config.eks import KarpenterSettings, NodePoolSettings

KARPENTER_REPOSITORY = "oci://public.ecr.aws/karpenter/karpenter"
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "karpenter"
NODE_CLASS = "mendix"
# Karpenter's pools and the node role label their nodes carry (the sample app selects "app").
ON_DEMAND_POOL = "on-demand"
SPOT_POOL = "spot"
POOL_ROLES = {ON_DEMAND_POOL: APP_ROLE, SPOT_POOL: SPOT_ROLE}
# Spot nodes run only workloads that declare themselves non-critical.
NON_CRITICAL_TAINT = ("mendix.io/non-critical", "true")
# Karpenter prefers the heavier pool: on-demand unless a pod tolerates Spot's taint.
ON_DEMAND_WEIGHT = 10
SPOT_WEIGHT = 5
# Interruption notices are worth nothing after a few minutes; Karpenter's own template keeps 300 s.
INTERRUPTION_RETENTION = Duration.minutes(5)
INTERRUPTION_EVENTS = {
    "ScheduledChange": ("aws.health", "AWS Health Event"),
    "SpotInterruption": ("aws.ec2", "EC2 Spot Instance Interruption Warning"),
    "Rebalance": ("aws.ec2", "EC2 Instance Rebalance Recommendation"),
    "InstanceStateChange": ("aws.ec2", "EC2 Instance State-change Notification"),
}


@dataclass(frozen=True)
class NodePool:
    """One Karpenter NodePool: its name, capacity type, size (instance families, limits, disk) and taint."""

    name: str
    capacity_type: str  # on-demand | spot
    size: NodePoolSettings
    taint: tuple[str, str] | None = None
    weight: int = ON_DEMAND_WEIGHT


def node_pools(settings: KarpenterSettings) -> tuple[NodePool, ...]:
    """The on-demand pool, and the Spot pool when settings ask for one."""
    on_demand = NodePool(ON_DEMAND_POOL, "on-demand", settings.on_demand)
    if settings.spot is None:
        return (on_demand,)
    return (on_demand, NodePool(SPOT_POOL, "spot", settings.spot, taint=NON_CRITICAL_TAINT, weight=SPOT_WEIGHT))


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
                "httpPutResponseHopLimit": METADATA_HOP_LIMIT,
                "httpTokens": "required",
            },
            "blockDeviceMappings": [
                {
                    "deviceName": ROOT_DEVICE,
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
        {"key": "karpenter.k8s.aws/instance-category", "operator": "In", "values": list(pool.size.instance_categories)},
        {"key": "karpenter.k8s.aws/instance-generation", "operator": "Gt", "values": [str(pool.size.min_generation - 1)]},
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
            "limits": {"cpu": str(pool.size.cpu_limit), "memory": f"{pool.size.memory_limit_gib}Gi"},
            "disruption": {
                "consolidationPolicy": "WhenEmptyOrUnderutilized",
                "consolidateAfter": f"{consolidate_after_seconds}s",
                # At most one node in ten replaced at a time, so consolidation never drains an AZ at once.
                "budgets": [{"nodes": "10%"}],
            },
        },
    }


class KarpenterCapacity(Construct):
    """Karpenter on the system nodes, with its interruption queue and the NodePools of ``settings``
    (the guarantees are the module's)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.Cluster,
        cluster_name: str,
        settings: KarpenterSettings,
        node_role: iam.IRole,
        subnet_ids: Sequence[str],
        security_group_ids: Sequence[str],
        encryption_key: kms.IKey,
        tags: Mapping[str, str],
        after: Sequence[IDependable],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.pools = pools = node_pools(settings)
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

        controller = pod_identity(
            self,
            "Controller",
            cluster=cluster,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            description="Karpenter controller: launches and removes this cluster's app nodes",
        )
        self.controller_role = controller.role
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
        acknowledge_controller_policy(self.controller_role, cluster_name)

        self.chart = cluster.add_helm_chart(
            "Karpenter",
            chart="karpenter",
            repository=KARPENTER_REPOSITORY,
            version=settings.chart_version,
            namespace=NAMESPACE,
            release="karpenter",
            wait=True,
            timeout=Duration.minutes(10),
            values={
                "settings": {"clusterName": cluster_name, "interruptionQueue": self.queue.queue_name},
                "serviceAccount": {"name": SERVICE_ACCOUNT},
                "replicas": 2,
                **CONTROLLER_PLACEMENT,
                "controller": {"resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}},
            },
        )
        self.chart.node.add_dependency(controller.association)
        for dependency in after:
            self.chart.node.add_dependency(dependency)

        self.node_class = cluster.add_manifest(
            "NodeClass",
            node_class_manifest(
                name=NODE_CLASS,
                node_role=node_role.role_name,
                ami_alias=settings.ami_alias,
                subnet_ids=subnet_ids,
                security_group_ids=security_group_ids,
                key_arn=encryption_key.key_arn,
                disk_gib=max(p.size.disk_gib for p in pools),
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
                    labels={NODE_ROLE_LABEL: POOL_ROLES[pool.name]},
                    consolidate_after_seconds=settings.consolidate_after_seconds,
                    expire_after_hours=settings.expire_after_hours,
                )
                for pool in pools
            ],
        )
        self.node_pools.node.add_dependency(self.node_class)
