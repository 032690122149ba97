"""The EKS cluster of the Mendix platform, composed with its nodes, add-ons,
controllers and the platform's own Kubernetes objects.

Guarantees: a private API endpoint (public only for the CIDRs settings name),
envelope-encrypted secrets, every control-plane log type into a group with a
retention and the platform key, access entries only (API authentication
mode); no default capacity and no Auto Mode: the system node group
(nodes.py) and Karpenter (karpenter.py) are the only capacity; the add-ons
(addons.py) and the Load Balancer Controller (load_balancer_controller.py)
come after the system nodes; the kubectl provider runs in the VPC.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from components.log_retention import encrypted_log_group
from components.mendix import load_balancer_controller as lbc
from components.mendix import manifests, nodes
from components.mendix.addons import PlatformAddons
from components.mendix.karpenter import KarpenterCapacity
from components.mendix.nag import acknowledge_kubectl_provider, acknowledge_public_endpoint
from components.service_role import service_role
from config import constants as c
from config.eks import EksAddonSettings, KarpenterSettings, NodeGroupSettings

ALL_CONTROL_PLANE_LOGS = [
    eks.ClusterLoggingTypes.API,
    eks.ClusterLoggingTypes.AUDIT,
    eks.ClusterLoggingTypes.AUTHENTICATOR,
    eks.ClusterLoggingTypes.CONTROLLER_MANAGER,
    eks.ClusterLoggingTypes.SCHEDULER,
]


@dataclass(frozen=True)
class ClusterSpec:
    """The control plane: its name and version, who may reach and administer it, how long its logs stay."""

    name: str
    kubernetes_version: str
    public_endpoint_cidrs: tuple[str, ...]
    admin_role_arns: tuple[str, ...]
    log_retention_days: int


def kubectl_layer(scope: Construct, kubernetes_version: str) -> lambda_.ILayerVersion:
    """The kubectl layer of ``kubernetes_version``, from its pinned package."""
    module, _, name = c.KUBECTL_LAYERS[kubernetes_version].rpartition(".")
    layer_class = getattr(importlib.import_module(module), name)
    return layer_class(scope, "KubectlLayer")  # type: ignore[no-any-return]


class MendixCluster(Construct):
    """EKS for Mendix in ``subnets`` (the guarantees are the module's).

    Exposes ``cluster``, ``node_security_group``, ``node_role``,
    ``system_nodes``, ``addons``, ``karpenter``, the ``namespace``,
    ``storage_class`` and ``sample_app`` manifests and ``sample_app_name``
    (the sample app's NLB).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: ClusterSpec,
        vpc: ec2.IVpc,
        subnets: Sequence[ec2.ISubnet],
        encryption_key: kms.IKey,
        system_nodes: NodeGroupSettings,
        karpenter: KarpenterSettings,
        addons: EksAddonSettings,
        load_balancer_controller: lbc.ControllerRelease,
        sample_app: manifests.SampleApp,
        resource_tags: Mapping[str, str],
        backup_tag: tuple[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        subnets = list(subnets)

        # EKS writes to this group; created first so that it has a retention
        # and the key, instead of the never-expiring group EKS would create.
        self.control_plane_logs = encrypted_log_group(
            self,
            "ControlPlaneLogs",
            encryption_key=encryption_key,
            retention_days=spec.log_retention_days,
            log_group_name=f"/aws/eks/{spec.name}/cluster",
        )
        self.cluster_role = service_role(
            self,
            "ClusterRole",
            service="eks.amazonaws.com",
            description="EKS control plane of the Mendix cluster",
            aws_managed_policies={
                "AmazonEKSClusterPolicy": "The AWS-maintained policy EKS requires for its control plane; "
                "AWS changes it as the EKS service's own API use changes."
            },
        )
        lbc_policy = lbc.load_balancer_controller_policy(
            load_balancer_controller.version,
            region=stack.region,
            account=stack.account,
            fence=lbc.ControllerFence(
                cluster_name=spec.name,
                vpc_arn=stack.format_arn(service="ec2", resource="vpc", resource_name=vpc.vpc_id),
                security_groups_arn=stack.format_arn(service="ec2", resource="security-group", resource_name="*"),
            ),
        )
        self.cluster = eks.Cluster(
            self,
            "Cluster",
            cluster_name=spec.name,
            version=eks.KubernetesVersion.of(spec.kubernetes_version),
            role=self.cluster_role,
            vpc=vpc,
            vpc_subnets=[ec2.SubnetSelection(subnets=subnets)],
            endpoint_access=eks.EndpointAccess.PUBLIC_AND_PRIVATE.only_from(*spec.public_endpoint_cidrs)
            if spec.public_endpoint_cidrs
            else eks.EndpointAccess.PRIVATE,
            secrets_encryption_key=encryption_key,
            cluster_logging=ALL_CONTROL_PLANE_LOGS,
            # The system node group and Karpenter below; no Auto Mode and no default capacity.
            default_capacity=0,
            default_capacity_type=eks.DefaultCapacityType.NODEGROUP,
            kubectl_provider_options=eks.KubectlProviderOptions(kubectl_layer=kubectl_layer(self, spec.kubernetes_version)),
            alb_controller=lbc.controller_options(load_balancer_controller, policy=lbc_policy, resource_tags=resource_tags),
        )
        self.cluster.node.default_child.node.add_dependency(self.control_plane_logs)  # type: ignore[union-attr]
        acknowledge_public_endpoint(self.cluster, spec.public_endpoint_cidrs)
        acknowledge_kubectl_provider(self.cluster)
        assert self.cluster.alb_controller is not None
        lbc.acknowledge_controller_policy(self.cluster.alb_controller, lbc_policy)
        for i, arn in enumerate(spec.admin_role_arns):
            self.cluster.grant_cluster_admin(f"Admin{i}", arn)

        self.node_security_group = nodes.node_security_group(self, vpc)
        self.node_role = nodes.node_role(self)
        nodes.allow_auto_scaling_to_use_the_key(encryption_key)
        self.system_nodes = nodes.system_node_group(
            self,
            cluster=self.cluster,
            settings=system_nodes,
            subnets=subnets,
            role=self.node_role,
            security_group=self.node_security_group,
            encryption_key=encryption_key,
        )
        self.addons = PlatformAddons(
            self, "Addons", cluster=self.cluster, versions=addons, encryption_key=encryption_key, after=[self.system_nodes]
        )
        self.karpenter = KarpenterCapacity(
            self,
            "Karpenter",
            cluster=self.cluster,
            cluster_name=spec.name,
            settings=karpenter,
            node_role=self.node_role,
            subnet_ids=[subnet.subnet_id for subnet in subnets],
            security_group_ids=[
                self.node_security_group.security_group_id,
                self.cluster.cluster_security_group.security_group_id,
            ],
            encryption_key=encryption_key,
            tags=resource_tags,
            after=[self.system_nodes, *self.addons.addons],
        )

        self.namespace = self.cluster.add_manifest("MendixNamespace", manifests.namespace_manifest())
        self.storage_class = self.cluster.add_manifest(
            "StorageClass",
            manifests.storage_class_manifest(key_arn=encryption_key.key_arn, backup_tag=backup_tag, resource_tags=resource_tags),
        )
        self.sample_app_name = manifests.sample_app_load_balancer_name(spec.name)
        self.sample_app = self.cluster.add_manifest(
            "SampleApp",
            *manifests.sample_app_manifests(
                sample_app, load_balancer_name=self.sample_app_name, subnet_ids=[s.subnet_id for s in subnets]
            ),
        )
        self.sample_app.node.add_dependency(self.namespace)
        # The Service's load balancer is made by the controller, so it must run first.
        self.sample_app.node.add_dependency(self.cluster.alb_controller)
        self.sample_app.node.add_dependency(self.system_nodes)
