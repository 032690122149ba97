"""AWS identities for pods of the Mendix cluster: EKS Pod Identity roles, and
IRSA roles where Mendix documents only IRSA (the Operator's plans).

Guarantees: every role here can be assumed by exactly one service account of
one namespace of this cluster, and each AWS-managed policy it holds carries
its reason as the cdk-nag acknowledgement of that one policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import CfnJson
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from constructs import Construct

from components.nag import acknowledge, managed_policy_finding

POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"


def irsa_role(
    scope: Construct, construct_id: str, *, cluster: eks.Cluster, namespace: str, service_account: str, description: str
) -> iam.Role:
    """A role that exactly one service account of ``cluster`` may assume.

    The trust policy names the cluster's OIDC provider and requires both the
    STS audience and the ``system:serviceaccount:<namespace>:<name>`` subject,
    so no other pod, namespace or cluster can use it.
    """
    issuer = cluster.open_id_connect_provider.open_id_connect_provider_issuer
    conditions = CfnJson(
        scope,
        f"{construct_id}Conditions",
        value={
            f"{issuer}:aud": "sts.amazonaws.com",
            f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
        },
    )
    return iam.Role(
        scope,
        construct_id,
        assumed_by=iam.OpenIdConnectPrincipal(cluster.open_id_connect_provider).with_conditions({"StringEquals": conditions}),
        description=description,
    )


def pod_identity_role(
    scope: Construct,
    construct_id: str,
    *,
    cluster: eks.Cluster,
    namespace: str,
    service_account: str,
    description: str,
    aws_managed_policies: Mapping[str, str] | None = None,
) -> iam.Role:
    """A role for EKS Pod Identity that only ``namespace/service_account`` of ``cluster`` may assume.

    The trust policy is the one the EKS user guide documents (``sts:AssumeRole``
    and ``sts:TagSession`` for ``pods.eks.amazonaws.com``), narrowed by the
    session tags Pod Identity sets: the cluster ARN, namespace and service account.
    ``aws_managed_policies`` maps each AWS-managed policy the role holds to the
    reason it is used.
    """
    conditions = {
        "StringEquals": {
            "aws:RequestTag/eks-cluster-arn": cluster.cluster_arn,
            "aws:RequestTag/kubernetes-namespace": namespace,
            "aws:RequestTag/kubernetes-service-account": service_account,
        }
    }
    principal = iam.SessionTagsPrincipal(iam.ServicePrincipal(POD_IDENTITY_PRINCIPAL).with_conditions(conditions))
    role = iam.Role(scope, construct_id, assumed_by=principal, description=description)
    for name, reason in (aws_managed_policies or {}).items():
        role.add_managed_policy(iam.ManagedPolicy.from_aws_managed_policy_name(name))
        acknowledge(role, {managed_policy_finding(name): reason})
    return role


@dataclass(frozen=True)
class PodIdentity:
    """A Pod Identity role and the association that gives it to its one service account."""

    role: iam.Role
    association: eks.CfnPodIdentityAssociation


def pod_identity(
    scope: Construct, name: str, *, cluster: eks.Cluster, namespace: str, service_account: str, description: str
) -> PodIdentity:
    """``<name>Role`` (see :func:`pod_identity_role`) and ``<name>Identity``, which gives it to
    ``namespace/service_account``, for workloads that are not EKS add-ons (those name their role themselves)."""
    role = pod_identity_role(
        scope, f"{name}Role", cluster=cluster, namespace=namespace, service_account=service_account, description=description
    )
    association = eks.CfnPodIdentityAssociation(
        scope,
        f"{name}Identity",
        cluster_name=cluster.cluster_name,
        namespace=namespace,
        service_account=service_account,
        role_arn=role.role_arn,
    )
    return PodIdentity(role, association)
