"""NetworkPolicies of the Mendix namespace: deny by default, then allow what the
Operator, its agent, the image builder and the app runtimes need.

The VPC CNI enforces them (its add-on runs with ``enableNetworkPolicy``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from config.constants import HTTPS_PORT, MENDIX_APP_PORT, POSTGRES_PORT

DNS_PORT = 53
# The EKS Pod Identity agent answers pods on this link-local address.
POD_IDENTITY_AGENT_CIDR = "169.254.170.23/32"
POD_IDENTITY_AGENT_PORT = 80
ANYWHERE = "0.0.0.0/0"
# Instance metadata stays closed to pods even where HTTPS to the internet is open.
INSTANCE_METADATA_CIDR = "169.254.169.254/32"


def _policy(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"podSelector": {}, **spec},
    }


def _tcp(port: int) -> dict[str, Any]:
    return {"protocol": "TCP", "port": port}


def network_policies(
    namespace: str, *, api_cidrs: Sequence[str], database_cidrs: Sequence[str], load_balancer_cidrs: Sequence[str]
) -> list[dict[str, Any]]:
    """Default deny in and out, then:

    - DNS to CoreDNS in kube-system;
    - the Kubernetes API (its private endpoint's interfaces in ``api_cidrs``) on 443:
      the Operator and agent watch their resources, the builder reads them;
    - PostgreSQL to the data subnets (``database_cidrs``) only;
    - the Pod Identity agent (the installer Job reads the Portal secret through it);
    - HTTPS out, to the AWS APIs (STS, S3, ECR, IAM) and the Mendix Portal
      (connected mode), never to instance metadata;
    - traffic between the namespace's own pods (Operator, agent, runtimes, builder);
    - the app port from the load balancer subnets, where the NLB's addresses are.
    """
    dns_peer = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
    }
    same_namespace: list[dict[str, Any]] = [{"podSelector": {}}]

    def blocks(cidrs: Sequence[str]) -> list[dict[str, Any]]:
        return [{"ipBlock": {"cidr": cidr}} for cidr in cidrs]

    return [
        _policy("default-deny", namespace, {"policyTypes": ["Ingress", "Egress"]}),
        _policy(
            "allow-dns",
            namespace,
            {
                "policyTypes": ["Egress"],
                "egress": [{"to": [dns_peer], "ports": [{"protocol": "UDP", "port": DNS_PORT}, _tcp(DNS_PORT)]}],
            },
        ),
        _policy(
            "allow-kubernetes-api",
            namespace,
            {"policyTypes": ["Egress"], "egress": [{"to": blocks(api_cidrs), "ports": [_tcp(HTTPS_PORT)]}]},
        ),
        _policy(
            "allow-database",
            namespace,
            {"policyTypes": ["Egress"], "egress": [{"to": blocks(database_cidrs), "ports": [_tcp(POSTGRES_PORT)]}]},
        ),
        _policy(
            "allow-pod-identity-agent",
            namespace,
            {
                "policyTypes": ["Egress"],
                "egress": [{"to": blocks([POD_IDENTITY_AGENT_CIDR]), "ports": [_tcp(POD_IDENTITY_AGENT_PORT)]}],
            },
        ),
        _policy(
            "allow-https-out",
            namespace,
            {
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [{"ipBlock": {"cidr": ANYWHERE, "except": [INSTANCE_METADATA_CIDR]}}],
                        "ports": [_tcp(HTTPS_PORT)],
                    }
                ],
            },
        ),
        _policy(
            "allow-same-namespace",
            namespace,
            {"policyTypes": ["Ingress", "Egress"], "ingress": [{"from": same_namespace}], "egress": [{"to": same_namespace}]},
        ),
        _policy(
            "allow-app-from-load-balancer",
            namespace,
            {"policyTypes": ["Ingress"], "ingress": [{"from": blocks(load_balancer_cidrs), "ports": [_tcp(MENDIX_APP_PORT)]}]},
        ),
    ]
