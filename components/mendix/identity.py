"""IAM roles for Kubernetes service accounts (IRSA) of an EKS cluster."""

from __future__ import annotations

from aws_cdk import CfnJson
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from constructs import Construct


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


POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"


def pod_identity_role(
    scope: Construct, construct_id: str, *, cluster: eks.Cluster, namespace: str, service_account: str, description: str
) -> iam.Role:
    """A role for EKS Pod Identity that only ``namespace/service_account`` of ``cluster`` may assume.

    The trust policy is the one the EKS user guide documents (``sts:AssumeRole``
    and ``sts:TagSession`` for ``pods.eks.amazonaws.com``), narrowed by the
    session tags Pod Identity sets: the cluster ARN, namespace and service account.
    """
    conditions = {
        "StringEquals": {
            "aws:RequestTag/eks-cluster-arn": cluster.cluster_arn,
            "aws:RequestTag/kubernetes-namespace": namespace,
            "aws:RequestTag/kubernetes-service-account": service_account,
        }
    }
    principal = iam.SessionTagsPrincipal(iam.ServicePrincipal(POD_IDENTITY_PRINCIPAL).with_conditions(conditions))
    return iam.Role(scope, construct_id, assumed_by=principal, description=description)
