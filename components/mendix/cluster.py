"""The EKS cluster that runs the Mendix platform, with its nodes and controllers."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from components.encryption_key import allow_auto_scaling
from components.log_retention import encrypted_log_group
from components.mendix.addons import AddonVersions, PlatformAddons
from components.mendix.karpenter import KarpenterCapacity, NodePool
from components.nag import (
    acknowledge,
    acknowledge_inline_policies,
    acknowledge_provider_function,
)
from components.service_role import service_role
from config import constants as c
from config.settings import NodeGroupSettings

POLICIES = Path(__file__).resolve().parents[1] / "policies"
LOAD_BALANCER_CONTROLLER_IMAGE = "public.ecr.aws/eks/aws-load-balancer-controller"
NODE_ROLE_LABEL = "mendix.io/node-role"
# System nodes run only what tolerates this taint: add-ons and controllers.
SYSTEM_TAINT = ("CriticalAddonsOnly", "true")
# Karpenter's pools and the node role label their nodes carry (the sample app selects "app").
ON_DEMAND_POOL = "on-demand"
SPOT_POOL = "spot"
POOL_ROLES = {ON_DEMAND_POOL: "app", SPOT_POOL: "spot"}
# Spot nodes run only workloads that declare themselves non-critical.
NON_CRITICAL_TAINT = ("mendix.io/non-critical", "true")
SAMPLE_APP = "mendix-app"
METADATA_HOP_LIMIT = 1
SAMPLE_APP_REPLICAS = 2
STORAGE_CLASS = "mendix-gp3"
ALL_CONTROL_PLANE_LOGS = [
    eks.ClusterLoggingTypes.API,
    eks.ClusterLoggingTypes.AUDIT,
    eks.ClusterLoggingTypes.AUTHENTICATOR,
    eks.ClusterLoggingTypes.CONTROLLER_MANAGER,
    eks.ClusterLoggingTypes.SCHEDULER,
]
INLINE_REASON = (
    "The policy belongs to exactly one role, is created and deleted with it and is written for it alone; "
    "a customer-managed policy would add a resource that nothing else may attach."
)
LBC_WILDCARD_REASONS = {
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
CONTROLLER_PLACEMENT: dict[str, Any] = {
    "nodeSelector": {NODE_ROLE_LABEL: "system"},
    "tolerations": [{"key": SYSTEM_TAINT[0], "operator": "Exists", "effect": "NoSchedule"}],
}


def _wildcard_reason(resource_arn: str) -> str:
    if resource_arn == "*":
        return LBC_WILDCARD_REASONS["*"]
    return next(reason for key, reason in LBC_WILDCARD_REASONS.items() if key != "*" and key in resource_arn)


@dataclass(frozen=True)
class ClusterCharts:
    """Helm charts the cluster installs, each pinned to a version."""

    karpenter_version: str
    load_balancer_controller_version: str
    load_balancer_controller_chart_version: str


@dataclass(frozen=True)
class KarpenterOptions:
    """The app capacity Karpenter provides: its pools and how it replaces nodes."""

    ami_alias: str
    pools: tuple[NodePool, ...]
    consolidate_after_seconds: int
    expire_after_hours: int


@dataclass(frozen=True)
class SampleApp:
    """The sample Mendix app Service that shows the NLB path end to end."""

    image: str
    health_check_path: str = "/"


def kubectl_layer(scope: Construct, kubernetes_version: str) -> lambda_.ILayerVersion:
    """The kubectl layer of ``kubernetes_version``, from its pinned package."""
    module, _, name = c.KUBECTL_LAYERS[kubernetes_version].rpartition(".")
    layer_class = getattr(importlib.import_module(module), name)
    return layer_class(scope, "KubectlLayer")  # type: ignore[no-any-return]


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


class MendixCluster(Construct):
    """EKS for Mendix: private API endpoint, envelope-encrypted secrets, every
    control-plane log type, access entries (API authentication mode only).

    Guarantees: one small managed node group for the system role, on-demand,
    tainted for add-ons and controllers, over all AZs; app capacity from
    Karpenter (on-demand and optional Spot NodePools, consolidation, an
    interruption queue); every node with IMDSv2, a metadata hop limit of 1
    (pods cannot reach the node's credentials) and an encrypted gp3 root volume;
    vpc-cni, kube-proxy, CoreDNS, the Pod Identity agent, metrics-server and the
    EBS CSI driver as EKS-managed add-ons at pinned versions; the AWS Load
    Balancer Controller and Karpenter from pinned Helm charts that the kubectl
    provider fetches at deploy time; each controller's role bound to its one
    service account.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster_name: str,
        kubernetes_version: str,
        vpc: ec2.IVpc,
        subnets: Sequence[ec2.ISubnet],
        public_endpoint_cidrs: Sequence[str],
        admin_role_arns: Sequence[str],
        encryption_key: kms.IKey,
        log_retention_days: int,
        system_nodes: NodeGroupSettings,
        karpenter: KarpenterOptions,
        charts: ClusterCharts,
        addon_versions: AddonVersions,
        sample_app: SampleApp,
        resource_tags: Mapping[str, str],
        backup_tag: tuple[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self._stack = stack
        self._cluster_name = cluster_name
        self._subnets = list(subnets)
        self._encryption_key = encryption_key

        # EKS writes to this group; created first so that it has a retention
        # and the key, instead of the never-expiring group EKS would create.
        self.control_plane_logs = encrypted_log_group(
            self,
            "ControlPlaneLogs",
            encryption_key=encryption_key,
            retention_days=log_retention_days,
            log_group_name=f"/aws/eks/{cluster_name}/cluster",
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
        lbc_policy = load_balancer_controller_policy(
            charts.load_balancer_controller_version, region=stack.region, account=stack.account
        )
        self.cluster = eks.Cluster(
            self,
            "Cluster",
            cluster_name=cluster_name,
            version=eks.KubernetesVersion.of(kubernetes_version),
            role=self.cluster_role,
            vpc=vpc,
            vpc_subnets=[ec2.SubnetSelection(subnets=self._subnets)],
            endpoint_access=eks.EndpointAccess.PUBLIC_AND_PRIVATE.only_from(*public_endpoint_cidrs)
            if public_endpoint_cidrs
            else eks.EndpointAccess.PRIVATE,
            secrets_encryption_key=encryption_key,
            cluster_logging=ALL_CONTROL_PLANE_LOGS,
            # Managed node groups below; no Auto Mode and no default capacity.
            default_capacity=0,
            default_capacity_type=eks.DefaultCapacityType.NODEGROUP,
            kubectl_provider_options=eks.KubectlProviderOptions(kubectl_layer=kubectl_layer(self, kubernetes_version)),
            alb_controller=eks.AlbControllerOptions(
                version=eks.AlbControllerVersion.of(
                    charts.load_balancer_controller_version, charts.load_balancer_controller_chart_version
                ),
                policy=lbc_policy,
                repository=LOAD_BALANCER_CONTROLLER_IMAGE,
                additional_helm_chart_values={
                    **CONTROLLER_PLACEMENT,
                    "replicaCount": 2,
                    # Load balancers the controller creates carry the cost tags too.
                    "defaultTags": dict(resource_tags),
                },
            ),
        )
        self.cluster.node.default_child.node.add_dependency(self.control_plane_logs)  # type: ignore[union-attr]
        self._acknowledge_cluster(public_endpoint_cidrs, lbc_policy)
        for i, arn in enumerate(admin_role_arns):
            self.cluster.grant_cluster_admin(f"Admin{i}", arn)

        self.node_security_group = ec2.SecurityGroup(
            self,
            "NodeSecurityGroup",
            vpc=vpc,
            description="Mendix EKS nodes: the identity the database and other services admit",
            allow_all_outbound=True,
        )
        self.node_role = service_role(
            self,
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
        self._allow_autoscaling_to_use_the_key()
        self.system_nodes = self._system_nodes(system_nodes)
        self.addons = PlatformAddons(
            self,
            "Addons",
            cluster=self.cluster,
            versions=addon_versions,
            encryption_key=encryption_key,
            after=[self.system_nodes],
        )
        self.karpenter = KarpenterCapacity(
            self,
            "Karpenter",
            cluster=self.cluster,
            cluster_name=cluster_name,
            chart_version=charts.karpenter_version,
            ami_alias=karpenter.ami_alias,
            node_role=self.node_role,
            subnet_ids=[subnet.subnet_id for subnet in self._subnets],
            security_group_ids=[
                self.node_security_group.security_group_id,
                self.cluster.cluster_security_group.security_group_id,
            ],
            encryption_key=encryption_key,
            pools=karpenter.pools,
            labels_of={pool.name: {NODE_ROLE_LABEL: POOL_ROLES[pool.name]} for pool in karpenter.pools},
            consolidate_after_seconds=karpenter.consolidate_after_seconds,
            expire_after_hours=karpenter.expire_after_hours,
            placement=CONTROLLER_PLACEMENT,
            tags=resource_tags,
            after=[self.system_nodes, *self.addons.addons],
        )
        # The one namespace the Mendix Operator manages, shared with the apps it runs.
        self.namespace = self.cluster.add_manifest(
            "MendixNamespace",
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": c.MENDIX_NAMESPACE, "labels": {"pod-security.kubernetes.io/enforce": "baseline"}},
            },
        )
        self.storage_class = self.cluster.add_manifest("StorageClass", self._storage_class_manifest(backup_tag, resource_tags))
        self.sample_app_name = f"{cluster_name.lower()}-app"[:32]
        self.sample_app = self.cluster.add_manifest("SampleApp", *self._sample_app_manifests(sample_app))
        self.sample_app.node.add_dependency(self.namespace)
        if self.cluster.alb_controller is not None:
            # The Service's load balancer is made by the controller, so it must run first.
            self.sample_app.node.add_dependency(self.cluster.alb_controller)
        self._after_nodes(self.sample_app)

    # ------------------------------------------------------------------ nodes

    def _allow_autoscaling_to_use_the_key(self) -> None:
        """Managed node groups launch through EC2 Auto Scaling, whose service-linked
        role must be able to use the key of the encrypted root volumes."""
        stack = self._stack
        allow_auto_scaling(
            self._encryption_key,
            f"arn:{stack.partition}:iam::{stack.account}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
        )

    def _launch_template(self, role: str, disk_gib: int) -> ec2.LaunchTemplate:
        template = ec2.LaunchTemplate(
            self,
            f"{role.title()}LaunchTemplate",
            require_imdsv2=True,
            # 1: a pod's packets take one hop more than the node's, so only host-network
            # pods (aws-node, kube-proxy, the CSI node plugin) reach the metadata
            # service; every other pod gets AWS credentials from Pod Identity or IRSA.
            http_put_response_hop_limit=METADATA_HOP_LIMIT,
            security_group=self.node_security_group,
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/xvda",
                    volume=ec2.BlockDeviceVolume.ebs(
                        disk_gib,
                        encrypted=True,
                        kms_key=self._encryption_key,
                        volume_type=ec2.EbsDeviceVolumeType.GP3,
                        delete_on_termination=True,
                    ),
                )
            ],
        )
        # The EKS cluster security group carries node <-> control plane and node <-> node traffic.
        template.add_security_group(self.cluster.cluster_security_group)
        return template

    def _system_nodes(self, spec: NodeGroupSettings) -> eks.Nodegroup:
        """One small managed node group over all AZs, on-demand and tainted: only
        add-ons and controllers (Karpenter among them) run here; the EC2 Auto
        Scaling group keeps it balanced over the AZs."""
        template = self._launch_template("system", spec.disk_gib)
        azs = len(self._subnets)
        return self.cluster.add_nodegroup_capacity(
            "System",
            subnets=ec2.SubnetSelection(subnets=self._subnets),
            instance_types=[ec2.InstanceType(t) for t in spec.instance_types],
            capacity_type=eks.CapacityType.ON_DEMAND,
            ami_type=eks.NodegroupAmiType.AL2023_X86_64_STANDARD,
            min_size=spec.min_per_az * azs,
            desired_size=spec.desired_per_az * azs,
            max_size=spec.max_per_az * azs,
            node_role=self.node_role,
            launch_template_spec=eks.LaunchTemplateSpec(
                id=template.launch_template_id or "", version=template.latest_version_number
            ),
            labels={NODE_ROLE_LABEL: "system"},
            taints=[eks.TaintSpec(effect=eks.TaintEffect.NO_SCHEDULE, key=SYSTEM_TAINT[0], value=SYSTEM_TAINT[1])],
            enable_node_auto_repair=True,
        )

    def _after_nodes(self, construct: Construct) -> None:
        construct.node.add_dependency(self.system_nodes)

    # ------------------------------------------------------------ controllers

    def _storage_class_manifest(self, backup_tag: tuple[str, str], resource_tags: Mapping[str, str]) -> dict[str, Any]:
        tags = {backup_tag[0]: backup_tag[1], **resource_tags}
        return {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": STORAGE_CLASS, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "ebs.csi.aws.com",
            "volumeBindingMode": "WaitForFirstConsumer",
            "reclaimPolicy": "Retain",
            "allowVolumeExpansion": True,
            "parameters": {
                "type": "gp3",
                "encrypted": "true",
                "kmsKeyId": self._encryption_key.key_arn,
                # Volumes carry the backup selection tag and the cost tags.
                **{f"tagSpecification_{i + 1}": f"{k}={v}" for i, (k, v) in enumerate(tags.items())},
            },
        }

    def _sample_app_manifests(self, app: SampleApp) -> list[dict[str, Any]]:
        """A Deployment spread over the AZs and its Service of type LoadBalancer.

        The Load Balancer Controller turns the Service into an internal NLB
        with cross-zone load balancing and HTTP health checks on the app port,
        in the cluster's subnets, sending traffic straight to pod IPs.
        """
        labels = {"app.kubernetes.io/name": SAMPLE_APP}
        annotation = "service.beta.kubernetes.io/aws-load-balancer-"
        subnet_ids = ",".join(s.subnet_id for s in self._subnets)
        deployment = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": SAMPLE_APP, "namespace": c.MENDIX_NAMESPACE, "labels": labels},
            "spec": {
                "replicas": SAMPLE_APP_REPLICAS,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": {**labels, "track": "stable"}},
                    "spec": {
                        "nodeSelector": {NODE_ROLE_LABEL: "app"},
                        "topologySpreadConstraints": [
                            {
                                "maxSkew": 1,
                                "topologyKey": "topology.kubernetes.io/zone",
                                "whenUnsatisfiable": "ScheduleAnyway",
                                "labelSelector": {"matchLabels": labels},
                            }
                        ],
                        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                        "containers": [
                            {
                                "name": "app",
                                "image": app.image,
                                "ports": [{"name": "http", "containerPort": c.MENDIX_APP_PORT}],
                                "readinessProbe": {
                                    "httpGet": {"path": app.health_check_path, "port": "http"},
                                    "periodSeconds": 10,
                                },
                                "livenessProbe": {
                                    "httpGet": {"path": app.health_check_path, "port": "http"},
                                    "initialDelaySeconds": 60,
                                    "periodSeconds": 20,
                                },
                                "resources": {
                                    "requests": {"cpu": "250m", "memory": "512Mi"},
                                    "limits": {"memory": "1Gi"},
                                },
                                "securityContext": {
                                    "allowPrivilegeEscalation": False,
                                    "capabilities": {"drop": ["ALL"]},
                                },
                            }
                        ],
                    },
                },
            },
        }
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": SAMPLE_APP,
                "namespace": c.MENDIX_NAMESPACE,
                "labels": labels,
                "annotations": {
                    f"{annotation}type": "external",
                    f"{annotation}nlb-target-type": "ip",
                    f"{annotation}scheme": "internal",
                    f"{annotation}name": self.sample_app_name,
                    f"{annotation}subnets": subnet_ids,
                    f"{annotation}attributes": "load_balancing.cross_zone.enabled=true",
                    f"{annotation}healthcheck-protocol": "HTTP",
                    f"{annotation}healthcheck-port": "traffic-port",
                    f"{annotation}healthcheck-path": app.health_check_path,
                    f"{annotation}healthcheck-interval": "10",
                    f"{annotation}healthcheck-healthy-threshold": "2",
                    f"{annotation}healthcheck-unhealthy-threshold": "2",
                    f"{annotation}healthcheck-success-codes": "200-399",
                },
            },
            "spec": {
                "type": "LoadBalancer",
                "selector": labels,
                "ports": [{"name": "http", "port": c.HTTP_PORT, "targetPort": "http", "protocol": "TCP"}],
            },
        }
        disruption_budget = {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": SAMPLE_APP, "namespace": c.MENDIX_NAMESPACE},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": labels}},
        }
        return [deployment, service, disruption_budget]

    # ------------------------------------------------------------------- nag

    def _acknowledge_cluster(self, public_endpoint_cidrs: Sequence[str], lbc_policy: dict[str, Any]) -> None:
        cluster = self.cluster
        stack = self._stack
        if public_endpoint_cidrs:
            resource = cluster.node.default_child
            assert resource is not None
            acknowledge(
                resource,
                {
                    "AwsSolutions::AwsSolutions-EKS1": "The public endpoint is on only because "
                    f"eks.public_endpoint_cidrs names {', '.join(public_endpoint_cidrs)}, and admits only those; "
                    "nodes and the kubectl provider use the private endpoint."
                },
            )
        # The kubectl provider: the CDK's deploy-time functions that run kubectl and helm.
        provider = cluster.node.find_child("KubectlProvider")
        handler = provider.node.find_child("Handler")
        framework = provider.node.find_child("Provider").node.find_child("framework-onEvent")
        managed = "arn:<AWS::Partition>:iam::aws:policy/"
        basic = {
            f"AwsSolutions::AwsSolutions-IAM4[Policy::{managed}service-role/AWSLambdaBasicExecutionRole]": "The "
            "AWS-maintained minimum for a Lambda function to write its own logs.",
            f"AwsSolutions::AwsSolutions-IAM4[Policy::{managed}service-role/AWSLambdaVPCAccessExecutionRole]": "The "
            "AWS-maintained policy with exactly the network-interface permissions Lambda needs in a VPC; the "
            "provider runs in the VPC to reach the private API endpoint.",
        }
        # Attached only in the aws partition, so its ARN is a condition: nag names it by the resolved JSON.
        condition = stack.get_logical_id(handler.node.find_child("HasEcrPublic"))  # type: ignore[arg-type]
        public_policy = {
            "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/AmazonElasticContainerRegistryPublicReadOnly"]]
        }
        ecr_public = json.dumps({"Fn::If": [condition, public_policy, {"Ref": "AWS::NoValue"}]}, separators=(",", ":"))
        acknowledge(
            handler.node.find_child("ServiceRole"),
            {
                **basic,
                f"AwsSolutions::AwsSolutions-IAM4[Policy::{managed}AmazonEC2ContainerRegistryReadOnly]": "The "
                "AWS-maintained pull-only ECR policy the kubectl provider uses to pull OCI Helm charts from ECR.",
                f"AwsSolutions::AwsSolutions-IAM4[Policy::{ecr_public}]": "The AWS-maintained "
                "pull-only ECR Public policy, attached in the aws partition only, for charts published on ECR Public.",
            },
        )
        acknowledge(framework.node.find_child("ServiceRole"), basic)
        acknowledge(
            handler,
            {
                "AwsSolutions::AwsSolutions-L1": "The runtime is the one the CDK's kubectl handler is built and "
                "tested for; it moves with aws-cdk-lib, pinned in requirements.txt."
            },
        )
        acknowledge_provider_function(handler, "The kubectl provider's handler")
        acknowledge_provider_function(framework, "The kubectl provider's framework function")
        handler_id = stack.get_logical_id(handler.node.default_child)  # type: ignore[arg-type]
        acknowledge(
            framework.node.find_child("ServiceRole").node.find_child("DefaultPolicy"),
            {
                f"AwsSolutions::AwsSolutions-IAM5[Resource::<{handler_id}.Arn>:*]": "The framework invokes the "
                "kubectl handler, any version of that one function."
            },
        )
        acknowledge_inline_policies(provider, INLINE_REASON)
        # The load balancer controller's documented policy, narrowed to this region and account.
        controller = cluster.alb_controller
        assert controller is not None
        policy = controller.node.find_child("alb-sa").node.find_child("Role").node.find_child("DefaultPolicy")
        resources = {
            r
            for statement in lbc_policy["Statement"]
            for r in (statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]])
        }
        acknowledge(
            policy,
            {
                # The controller writes arn:aws: as arn:${AWS::Partition}:, which nag shows as <AWS::Partition>.
                "AwsSolutions::AwsSolutions-IAM5[Resource::"
                + arn.replace("arn:aws:", "arn:<AWS::Partition>:", 1)
                + "]": _wildcard_reason(arn)
                for arn in sorted(resources)
            },
        )
        acknowledge_inline_policies(controller, INLINE_REASON)
