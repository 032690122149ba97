"""Kubernetes objects of the platform itself, as plain data: the Mendix
namespace, the default StorageClass and the sample app.

Guarantees: the namespace enforces the baseline Pod Security Standard; every
persistent volume is gp3, encrypted with the platform key, retained, and
tagged for AWS Backup and with the cost tags; the sample app runs non-root on
the app nodes across the AZs behind an internal, cross-zone NLB that the Load
Balancer Controller makes from its Service.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.mendix.nodes import APP_ROLE, NODE_ROLE_LABEL
from config import constants as c

STORAGE_CLASS = "mendix-gp3"
SAMPLE_APP = "mendix-app"
SAMPLE_APP_REPLICAS = 2
# AWS allows load balancer names of up to 32 characters that neither begin nor end with a hyphen.
LOAD_BALANCER_NAME_LENGTH = 32
NLB_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-"


@dataclass(frozen=True)
class SampleApp:
    """The sample Mendix app Service that shows the NLB path end to end."""

    image: str
    health_check_path: str = "/"


def sample_app_load_balancer_name(cluster_name: str) -> str:
    """The NLB's name, fixed so that the alarms can find it once the controller made it."""
    return f"{cluster_name.lower()}-app"[:LOAD_BALANCER_NAME_LENGTH].rstrip("-")


def namespace_manifest() -> dict[str, Any]:
    """The one namespace the Mendix Operator manages, shared with the apps it runs."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": c.MENDIX_NAMESPACE, "labels": {"pod-security.kubernetes.io/enforce": "baseline"}},
    }


def storage_class_manifest(*, key_arn: str, backup_tag: tuple[str, str], resource_tags: Mapping[str, str]) -> dict[str, Any]:
    """The default StorageClass of the EBS CSI driver."""
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
            "kmsKeyId": key_arn,
            # Volumes carry the backup selection tag and the cost tags.
            **{f"tagSpecification_{i + 1}": f"{k}={v}" for i, (k, v) in enumerate(tags.items())},
        },
    }


def _http_probe(path: str, **timing: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": "http"}, **timing}


def sample_app_manifests(app: SampleApp, *, load_balancer_name: str, subnet_ids: Sequence[str]) -> list[dict[str, Any]]:
    """A Deployment spread over the AZs, its Service of type LoadBalancer and a PodDisruptionBudget.

    The Load Balancer Controller turns the Service into an internal NLB
    with cross-zone load balancing and HTTP health checks on the app port,
    in the cluster's subnets, sending traffic straight to pod IPs.
    """
    labels = {"app.kubernetes.io/name": SAMPLE_APP}
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
                    "nodeSelector": {NODE_ROLE_LABEL: APP_ROLE},
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
                            "readinessProbe": _http_probe(app.health_check_path, periodSeconds=10),
                            "livenessProbe": _http_probe(app.health_check_path, initialDelaySeconds=60, periodSeconds=20),
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
    annotations = {
        "type": "external",
        "nlb-target-type": "ip",
        "scheme": "internal",
        "name": load_balancer_name,
        "subnets": ",".join(subnet_ids),
        "attributes": "load_balancing.cross_zone.enabled=true",
        "healthcheck-protocol": "HTTP",
        "healthcheck-port": "traffic-port",
        "healthcheck-path": app.health_check_path,
        "healthcheck-interval": "10",
        "healthcheck-healthy-threshold": "2",
        "healthcheck-unhealthy-threshold": "2",
        "healthcheck-success-codes": "200-399",
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": SAMPLE_APP,
            "namespace": c.MENDIX_NAMESPACE,
            "labels": labels,
            "annotations": {f"{NLB_ANNOTATION}{key}": value for key, value in annotations.items()},
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
