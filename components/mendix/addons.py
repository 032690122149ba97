"""EKS-managed add-ons of the Mendix cluster, each pinned, with Pod Identity roles.

Guarantees: vpc-cni (NetworkPolicy enforcement on), kube-proxy, CoreDNS, the
Pod Identity agent, metrics-server and the EBS CSI driver carry the versions
settings pin, none floats; add-ons that call AWS get a role through EKS Pod
Identity, which only their own service account of this cluster may assume
(the nodes' role keeps no CNI permissions); all are created after the node
groups, the Pod Identity agent first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct, IDependable

from components.mendix.identity import pod_identity_role
from components.mendix.nag import inline_reason
from components.nag import acknowledge_inline_policies, acknowledge_key_grant
from config.eks import EksAddonSettings

POD_IDENTITY_AGENT = "eks-pod-identity-agent"
# The VPC CNI enforces Kubernetes NetworkPolicy through its node agent only when asked.
VPC_CNI_CONFIGURATION = {"enableNetworkPolicy": "true"}


@dataclass(frozen=True)
class AddonIdentity:
    """A service account of an add-on and the AWS-managed policy its role carries."""

    namespace: str
    service_account: str
    managed_policy: str
    reason: str


VPC_CNI_IDENTITY = AddonIdentity(
    "kube-system",
    "aws-node",
    "AmazonEKS_CNI_Policy",
    "The AWS-maintained policy of the VPC CNI (aws-node): it assigns pod addresses from the nodes' network "
    "interfaces, whose ids exist only at run time.",
)
EBS_CSI_IDENTITY = AddonIdentity(
    "kube-system",
    "ebs-csi-controller-sa",
    "service-role/AmazonEBSCSIDriverPolicy",
    "The AWS-maintained policy of the EBS CSI driver, tag-conditioned by AWS to volumes and snapshots the driver "
    "created; it changes with the driver's API use.",
)


def managed_addon(
    scope: Construct,
    construct_id: str,
    *,
    cluster_name: str,
    name: str,
    version: str,
    after: Sequence[IDependable],
    identity: tuple[str, iam.IRole] | None = None,
    configuration: Mapping[str, str] | None = None,
) -> eks.CfnAddon:
    """The EKS-managed add-on ``name`` at ``version``, created after ``after``.

    ``identity`` is the add-on's service account and the role Pod Identity
    gives it; ``configuration`` its configuration values.
    """
    addon = eks.CfnAddon(
        scope,
        construct_id,
        addon_name=name,
        addon_version=version,
        cluster_name=cluster_name,
        # EKS installs its own vpc-cni, kube-proxy and CoreDNS with a new cluster; take them over.
        resolve_conflicts="OVERWRITE",
        configuration_values=json.dumps(configuration, sort_keys=True) if configuration else None,
        pod_identity_associations=[
            eks.CfnAddon.PodIdentityAssociationProperty(role_arn=identity[1].role_arn, service_account=identity[0])
        ]
        if identity
        else None,
    )
    for dependency in after:
        addon.node.add_dependency(dependency)
    return addon


class PlatformAddons(Construct):
    """The cluster's EKS-managed add-ons (the guarantees are the module's); ``addons`` lists them all."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.Cluster,
        versions: EksAddonSettings,
        encryption_key: kms.IKey,
        after: Sequence[IDependable],
    ) -> None:
        super().__init__(scope, construct_id)
        self._cluster = cluster
        self._after = list(after)
        self.pod_identity_agent = self._addon("PodIdentityAgent", POD_IDENTITY_AGENT, versions.pod_identity_agent)
        self.vpc_cni_role = self._role("VpcCniRole", VPC_CNI_IDENTITY, "VPC CNI: pod addresses on node interfaces")
        self.vpc_cni = self._addon(
            "VpcCni",
            "vpc-cni",
            versions.vpc_cni,
            identity=(VPC_CNI_IDENTITY.service_account, self.vpc_cni_role),
            configuration=VPC_CNI_CONFIGURATION,
        )
        self.kube_proxy = self._addon("KubeProxy", "kube-proxy", versions.kube_proxy)
        self.coredns = self._addon("CoreDns", "coredns", versions.coredns)
        self.metrics_server = self._addon("MetricsServer", "metrics-server", versions.metrics_server)

        self.ebs_csi_role = self._role(
            "EbsCsiRole", EBS_CSI_IDENTITY, "EBS CSI driver: creates, attaches and snapshots persistent volumes"
        )
        # Volumes are encrypted with the platform key; the driver hands it to EC2 by grants.
        encryption_key.grant_encrypt_decrypt(self.ebs_csi_role)
        self.ebs_csi_role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                resources=[encryption_key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            )
        )
        acknowledge_key_grant(self.ebs_csi_role.node.find_child("DefaultPolicy"), "EBS CSI driver")
        acknowledge_inline_policies(self.ebs_csi_role, inline_reason("add-on role"))
        self.ebs_csi_driver = self._addon(
            "EbsCsiDriver",
            "aws-ebs-csi-driver",
            versions.ebs_csi_driver,
            identity=(EBS_CSI_IDENTITY.service_account, self.ebs_csi_role),
        )

    @property
    def addons(self) -> list[eks.CfnAddon]:
        return [
            self.pod_identity_agent,
            self.vpc_cni,
            self.kube_proxy,
            self.coredns,
            self.metrics_server,
            self.ebs_csi_driver,
        ]

    def _role(self, construct_id: str, identity: AddonIdentity, description: str) -> iam.Role:
        return pod_identity_role(
            self,
            construct_id,
            cluster=self._cluster,
            namespace=identity.namespace,
            service_account=identity.service_account,
            description=description,
            aws_managed_policies={identity.managed_policy: identity.reason},
        )

    def _addon(
        self,
        construct_id: str,
        name: str,
        version: str,
        *,
        identity: tuple[str, iam.IRole] | None = None,
        configuration: Mapping[str, str] | None = None,
    ) -> eks.CfnAddon:
        # Every add-on but the agent itself waits for the Pod Identity agent.
        after = self._after if name == POD_IDENTITY_AGENT else [*self._after, self.pod_identity_agent]
        return managed_addon(
            self,
            construct_id,
            cluster_name=self._cluster.cluster_name,
            name=name,
            version=version,
            after=after,
            identity=identity,
            configuration=configuration,
        )
