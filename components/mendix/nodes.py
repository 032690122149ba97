"""The nodes' identity and the system node group: where add-ons and controllers run.

Guarantees: nodes hold only the worker-node, ECR pull and SSM policies (pods
get their own roles); one small managed node group for the system role,
on-demand, tainted so that only add-ons and controllers run there, spread over
all AZs, auto-repaired; every node with IMDSv2, a metadata hop limit of 1 and
an encrypted gp3 root volume whose key EC2 Auto Scaling may use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from components.encryption_key import allow_auto_scaling
from components.service_role import service_role
from config.eks import NodeGroupSettings

NODE_ROLE_LABEL = "mendix.io/node-role"
# System nodes run only what tolerates this taint: add-ons and controllers.
SYSTEM_TAINT = ("CriticalAddonsOnly", "true")
# Values of NODE_ROLE_LABEL: the system group's, and those of Karpenter's on-demand and Spot pools.
SYSTEM_ROLE = "system"
APP_ROLE = "app"
SPOT_ROLE = "spot"
# 1: a pod's packets take one hop more than the node's, so only host-network
# pods (aws-node, kube-proxy, the CSI node plugin) reach the metadata
# service; every other pod gets AWS credentials from Pod Identity or IRSA.
METADATA_HOP_LIMIT = 1
ROOT_DEVICE = "/dev/xvda"
# What every controller and Job of the platform adds to its pod spec to run on the system nodes.
CONTROLLER_PLACEMENT: dict[str, Any] = {
    "nodeSelector": {NODE_ROLE_LABEL: SYSTEM_ROLE},
    "tolerations": [{"key": SYSTEM_TAINT[0], "operator": "Exists", "effect": "NoSchedule"}],
}


def node_security_group(scope: Construct, vpc: ec2.IVpc) -> ec2.SecurityGroup:
    """The nodes' own group: the identity the database and other services admit."""
    return ec2.SecurityGroup(
        scope,
        "NodeSecurityGroup",
        vpc=vpc,
        description="Mendix EKS nodes: the identity the database and other services admit",
        allow_all_outbound=True,
    )


def node_role(scope: Construct) -> iam.Role:
    """The role of every node, the system group's and Karpenter's alike."""
    return service_role(
        scope,
        "NodeRole",
        service="ec2.amazonaws.com",
        description="Mendix EKS nodes: kubelet, image pulls and SSM; add-ons and pods get their own roles",
        aws_managed_policies={
            "AmazonEKSWorkerNodePolicy": "The AWS-maintained minimum a node needs to join an EKS cluster.",
            "AmazonEC2ContainerRegistryReadOnly": "The AWS-maintained pull-only ECR policy nodes need to start "
            "the platform's and the add-ons' images; it cannot push or delete.",
            "AmazonSSMManagedInstanceCore": "The AWS-maintained minimum for SSM Session Manager, so nodes "
            "need no SSH keys or open ports.",
        },
    )


def allow_auto_scaling_to_use_the_key(encryption_key: kms.IKey) -> None:
    """Managed node groups launch through EC2 Auto Scaling, whose service-linked
    role must be able to use the key of the encrypted root volumes."""
    stack = Stack.of(encryption_key)
    allow_auto_scaling(
        encryption_key,
        f"arn:{stack.partition}:iam::{stack.account}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
    )


def launch_template(
    scope: Construct, role: str, *, disk_gib: int, security_groups: Sequence[ec2.ISecurityGroup], encryption_key: kms.IKey
) -> ec2.LaunchTemplate:
    """IMDSv2 only, hop limit 1, detailed monitoring, an encrypted gp3 root volume deleted with the node."""
    first, *more = security_groups
    template = ec2.LaunchTemplate(
        scope,
        f"{role.title()}LaunchTemplate",
        require_imdsv2=True,
        detailed_monitoring=True,
        http_put_response_hop_limit=METADATA_HOP_LIMIT,
        security_group=first,
        block_devices=[
            ec2.BlockDevice(
                device_name=ROOT_DEVICE,
                volume=ec2.BlockDeviceVolume.ebs(
                    disk_gib,
                    encrypted=True,
                    kms_key=encryption_key,
                    volume_type=ec2.EbsDeviceVolumeType.GP3,
                    delete_on_termination=True,
                ),
            )
        ],
    )
    for group in more:
        template.add_security_group(group)
    return template


def system_node_group(
    scope: Construct,
    *,
    cluster: eks.Cluster,
    settings: NodeGroupSettings,
    subnets: Sequence[ec2.ISubnet],
    role: iam.IRole,
    security_group: ec2.ISecurityGroup,
    encryption_key: kms.IKey,
) -> eks.Nodegroup:
    """One small managed node group over all AZs, on-demand and tainted: only
    add-ons and controllers (Karpenter among them) run here; the EC2 Auto
    Scaling group keeps it balanced over the AZs."""
    template = launch_template(
        scope,
        SYSTEM_ROLE,
        disk_gib=settings.disk_gib,
        # The EKS cluster security group carries node <-> control plane and node <-> node traffic.
        security_groups=[security_group, cluster.cluster_security_group],
        encryption_key=encryption_key,
    )
    azs = len(subnets)
    return cluster.add_nodegroup_capacity(
        "System",
        subnets=ec2.SubnetSelection(subnets=list(subnets)),
        instance_types=[ec2.InstanceType(t) for t in settings.instance_types],
        capacity_type=eks.CapacityType.ON_DEMAND,
        ami_type=eks.NodegroupAmiType.AL2023_X86_64_STANDARD,
        min_size=settings.min_per_az * azs,
        desired_size=settings.desired_per_az * azs,
        max_size=settings.max_per_az * azs,
        node_role=role,
        launch_template_spec=eks.LaunchTemplateSpec(id=template.launch_template_id or "", version=template.latest_version_number),
        labels={NODE_ROLE_LABEL: SYSTEM_ROLE},
        taints=[eks.TaintSpec(effect=eks.TaintEffect.NO_SCHEDULE, key=SYSTEM_TAINT[0], value=SYSTEM_TAINT[1])],
        enable_node_auto_repair=True,
    )
