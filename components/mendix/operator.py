"""The Mendix Operator's install, as Mendix documents it for automation:
``mxpc-cli base-install`` then ``mxpc-cli apply-config`` (non-interactive mode),
run by a Kubernetes Job, plus the one-shot Job that prepares the database's
IAM-authenticated admin user.

Everything here is plain data: functions that return Kubernetes manifests and
the shell scripts the Jobs run, so tests call them directly and run the scripts
against stubs of the tools.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from components.mendix.plans import BUILDER_SERVICE_ACCOUNT, STORAGE_ADMIN_SERVICE_ACCOUNT

INSTALLER = "mendix-installer"
CONFIG_FILE = "mx_config_cli.yaml"
CONFIG_DIR = "/etc/mendix-installer"
PORTAL_DIR = "/run/mendix-portal"
BOOTSTRAP_NAMESPACE = "mendix-db-bootstrap"
BOOTSTRAP = "mendix-db-bootstrap"
# Names of the two plans in the Portal (connected) or the MendixApp resources (standalone).
STORAGE_PLAN = "s3-irsa"
DATABASE_PLAN = "postgres-iam"
# Mendix's IAM-authenticated Postgres plan logs in to this database to create tenants.
LOGIN_DATABASE = "postgres"
# The Operator's own configuration object, which base-install creates.
OPERATOR_CONFIGURATION = "mendix-operator-configuration"
APP_TLS_PORT = 443
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
JOB_TIMEOUT_SECONDS = 1800
FINISHED_JOB_TTL_SECONDS = 3600
RESTRICTED_CONTAINER: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
}


@dataclass(frozen=True)
class OperatorInstall:
    """What the install Job needs, all of it from the stack's own resources and settings."""

    namespace: str
    version: str
    image: str
    mode: str  # standalone | connected
    region: str
    bucket_name: str
    environment_policy_arn: str
    storage_admin_role_arn: str
    oidc_issuer_url: str
    database_host: str
    database_port: int
    database_admin_user: str
    registry_host: str
    repository_name: str
    builder_role_arn: str
    certificate_arn: str
    load_balancer_subnet_ids: tuple[str, ...]
    namespace_secret_arn: str | None = None


def endpoint_patch(certificate_arn: str, subnet_ids: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """The OperatorConfiguration's endpoint: a LoadBalancer Service per app, which
    the AWS Load Balancer Controller makes an internal NLB serving TLS with the
    ACM certificate (Mendix's "Service without Ingress" page documents
    ``type: service``, ``serviceType``, ``serviceAnnotations``, ``servicePorts``)."""
    annotation = "service.beta.kubernetes.io/aws-load-balancer-"
    return {
        "spec": {
            "endpoint": {
                "type": "service",
                "serviceType": "LoadBalancer",
                "serviceAnnotations": {
                    f"{annotation}type": "external",
                    f"{annotation}nlb-target-type": "ip",
                    f"{annotation}scheme": "internal",
                    f"{annotation}subnets": ",".join(subnet_ids),
                    f"{annotation}ssl-cert": certificate_arn,
                    f"{annotation}ssl-ports": str(APP_TLS_PORT),
                    f"{annotation}ssl-negotiation-policy": TLS_POLICY,
                    f"{annotation}attributes": "load_balancing.cross_zone.enabled=true",
                },
                "servicePorts": [APP_TLS_PORT],
            }
        }
    }


def mendix_config(spec: OperatorInstall) -> dict[str, Any]:
    """The ``mx_config_cli.yaml`` that ``mxpc-cli apply-config --file`` reads.

    The keys are those the configuration tool writes with **Write YAML** (and
    that aws-ia/terraform-aws-mendix-private-cloud generates): an ``amazon-s3``
    storage plan in IRSA mode on the existing file bucket, a ``postgres``
    database plan with ``aws-iam`` authentication, and the ``amazon-ecr``
    registry through the builder's IRSA role. The endpoint (``ingress``) is left
    masked: the install Job sets the endpoint on the OperatorConfiguration
    afterwards (:func:`endpoint_patch`).
    """
    return {
        "namespace": spec.namespace,
        "cluster_mode": spec.mode,
        "mask": {
            "database_plan": True,
            "storage_plan": True,
            "ingress": False,
            "registry": True,
            "proxy": False,
            "custom_tls": False,
        },
        "database_plan": {
            "name": DATABASE_PLAN,
            "type": "postgres",
            "postgres": {
                "databaseprops": {
                    "host": spec.database_host,
                    "port": spec.database_port,
                    "user": spec.database_admin_user,
                    "password": "",
                    "strict_tls": True,
                },
                "db_name": LOGIN_DATABASE,
                "authentication_mode": "aws-iam",
                "aws_iam_role": spec.storage_admin_role_arn,
                "kubernetes_service_account": STORAGE_ADMIN_SERVICE_ACCOUNT,
            },
        },
        "storage_plan": {
            "name": STORAGE_PLAN,
            "type": "amazon-s3",
            "s3": {
                "irsa_authentication": True,
                "create_bucket": False,
                "create_user": False,
                "create_inline_policy": False,
                "existing_bucket": spec.bucket_name,
                "existing_policy": spec.environment_policy_arn,
                "bucket_autogen_prefix": True,
                "region": spec.region,
                "admin_iam_role": spec.storage_admin_role_arn,
                "kubernetes_service_account": STORAGE_ADMIN_SERVICE_ACCOUNT,
                "oidc_url": spec.oidc_issuer_url,
            },
        },
        "registry": {
            "type": "amazon-ecr",
            "ecr_registry": {
                "name": spec.repository_name,
                "hostname": spec.registry_host,
                "aws_region": spec.region,
                "is_static_credential": False,
                "aws_iam_role": spec.builder_role_arn,
                "kubernetes_service_account": BUILDER_SERVICE_ACCOUNT,
            },
        },
    }


def installer_script(
    *, namespace: str, mode: str, namespace_secret_arn: str | None, endpoint: dict[str, Any] | None = None
) -> str:
    """The install Job's script: wait for the database user, then base-install and apply-config.

    In connected mode the namespace id and secret are read from Secrets Manager
    (through the Job's Pod Identity role) into shell variables only: they reach
    mxpc-cli as its documented ``-i``/``-s`` arguments and are never printed,
    written to disk or stored in a Kubernetes Secret.
    """
    ns = shlex.quote(namespace)
    lines = [
        "set -eu",
        # mxpc-cli reads a kubeconfig; build one from the pod's own service account.
        "sa=/var/run/secrets/kubernetes.io/serviceaccount",
        'export KUBECONFIG="$HOME/kubeconfig"',
        'kubectl config set-cluster in-cluster --server="https://${KUBERNETES_SERVICE_HOST}:${KUBERNETES_SERVICE_PORT}"'
        ' --certificate-authority="$sa/ca.crt" >/dev/null',
        'kubectl config set-credentials installer --token="$(cat "$sa/token")" >/dev/null',
        "kubectl config set-context in-cluster --cluster=in-cluster --user=installer >/dev/null",
        "kubectl config use-context in-cluster >/dev/null",
        # The database plan connects as the IAM user the bootstrap Job creates.
        f"kubectl -n {BOOTSTRAP_NAMESPACE} wait --for=condition=complete job/{BOOTSTRAP} --timeout={JOB_TIMEOUT_SECONDS}s",
        "set --",
    ]
    if mode == "connected":
        assert namespace_secret_arn is not None
        lines += [
            f"portal=$(aws secretsmanager get-secret-value --secret-id {shlex.quote(namespace_secret_arn)}"
            " --query SecretString --output text)",
            "namespace_id=$(printf '%s' \"$portal\" | jq -er .namespace_id)",
            "namespace_secret=$(printf '%s' \"$portal\" | jq -er .namespace_secret)",
            "unset portal",
            'set -- -i "$namespace_id" -s "$namespace_secret"',
        ]
    lines += [
        f'mxpc-cli base-install --namespace {ns} "$@" --clusterMode {shlex.quote(mode)} --clusterType generic',
        f'mxpc-cli apply-config "$@" --file {CONFIG_DIR}/{CONFIG_FILE}',
    ]
    if endpoint is not None:
        lines.append(
            f"kubectl -n {ns} patch operatorconfiguration {OPERATOR_CONFIGURATION} --type merge"
            f" -p {shlex.quote(json.dumps(endpoint, sort_keys=True))}"
        )
    lines += [
        f"echo 'Mendix Operator installed and configured in namespace {namespace} ({mode})'",
    ]
    return "\n".join(lines) + "\n"


def bootstrap_sql(admin_user: str) -> str:
    """Create the Operator's database admin, IAM-authenticated only (idempotent).

    ``rds_iam`` makes PostgreSQL accept only IAM tokens for that user, which is
    why the master user never gets it: its password is rotated by RDS and the
    rotation must keep working. ``rds_superuser`` is the nearest RDS has to the
    superuser Mendix requires to create each environment's role and database.
    """
    user = _identifier(admin_user)
    return (
        "DO $$ BEGIN\n"
        f"  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{admin_user}') THEN\n"
        f"    CREATE ROLE {user} WITH LOGIN CREATEDB CREATEROLE;\n"
        "  END IF;\n"
        "END $$;\n"
        f"GRANT rds_iam TO {user};\n"
        f"GRANT rds_superuser TO {user};\n"
    )


def bootstrap_script(*, master_secret_arn: str, admin_user: str) -> str:
    """Read the current master credentials and apply :func:`bootstrap_sql` over TLS.

    The credentials live only in this process's environment for the one psql
    call; the Job's pod is deleted an hour after it finishes.
    """
    return (
        "\n".join(
            [
                "set -eu",
                f"master=$(aws secretsmanager get-secret-value --secret-id {shlex.quote(master_secret_arn)}"
                " --query SecretString --output text)",
                "PGUSER=$(printf '%s' \"$master\" | jq -er .username)",
                "PGPASSWORD=$(printf '%s' \"$master\" | jq -er .password)",
                "unset master",
                "export PGUSER PGPASSWORD",
                "psql -v ON_ERROR_STOP=1 --no-psqlrc <<'SQL'",
                bootstrap_sql(admin_user).rstrip("\n"),
                "SQL",
                f"echo 'database user {admin_user} is ready for IAM authentication'",
            ]
        )
        + "\n"
    )


def _identifier(name: str) -> str:
    if not name.replace("_", "").isalnum() or not name[0].isalpha():
        raise ValueError(f"not a plain PostgreSQL identifier: {name!r}")
    return name


def _job(
    *,
    name: str,
    namespace: str,
    image: str,
    script: str,
    env: list[dict[str, Any]],
    node_selector: dict[str, str],
    tolerations: list[dict[str, Any]],
    volumes: list[dict[str, Any]],
    mounts: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/name": name}},
        "spec": {
            "backoffLimit": 3,
            "activeDeadlineSeconds": JOB_TIMEOUT_SECONDS,
            "ttlSecondsAfterFinished": FINISHED_JOB_TTL_SECONDS,
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": name}},
                "spec": {
                    "serviceAccountName": name,
                    "restartPolicy": "Never",
                    "nodeSelector": node_selector,
                    "tolerations": tolerations,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [
                        {
                            "name": name,
                            "image": image,
                            "command": ["/bin/sh", "-c", script],
                            # The root file system is read-only; mxpc-cli and psql write only under /tmp.
                            "workingDir": "/tmp",
                            "env": [{"name": "HOME", "value": "/tmp"}, *env],
                            "securityContext": RESTRICTED_CONTAINER,
                            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, *mounts],
                        }
                    ],
                    "volumes": [{"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}, *volumes],
                },
            },
        },
    }


def installer_manifests(
    spec: OperatorInstall, *, node_selector: dict[str, str], tolerations: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """ServiceAccount, RBAC, the configuration file and the Job that installs the Operator.

    RBAC: the Operator's CRDs are cluster-wide, so the installer may manage
    CustomResourceDefinitions; everything else it creates (the Operator, the
    agent, their roles and bindings, the plans) lives in ``spec.namespace``,
    where it is admin. It may also watch the bootstrap Job, and nothing more.
    """
    ns = spec.namespace
    labels = {"app.kubernetes.io/name": INSTALLER}
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": INSTALLER, "namespace": ns, "labels": labels}}
    subject = [{"kind": "ServiceAccount", "name": INSTALLER, "namespace": ns}]
    cluster_role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": f"{ns}-{INSTALLER}", "labels": labels},
        "rules": [
            {
                "apiGroups": ["apiextensions.k8s.io"],
                "resources": ["customresourcedefinitions"],
                "verbs": ["get", "list", "watch", "create", "update", "patch"],
            },
            {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list"]},
        ],
    }
    cluster_binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": f"{ns}-{INSTALLER}", "labels": labels},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"{ns}-{INSTALLER}"},
        "subjects": subject,
    }
    namespace_binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": INSTALLER, "namespace": ns, "labels": labels},
        # The built-in admin role cannot create roles with rights it lacks; this
        # Role names everything in the one namespace the Operator will manage.
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": INSTALLER},
        "subjects": subject,
    }
    namespace_role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": INSTALLER, "namespace": ns, "labels": labels},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
    }
    watch_bootstrap = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": f"{INSTALLER}-watch", "namespace": BOOTSTRAP_NAMESPACE, "labels": labels},
        "rules": [
            {"apiGroups": ["batch"], "resources": ["jobs"], "resourceNames": [BOOTSTRAP], "verbs": ["get", "list", "watch"]}
        ],
    }
    watch_binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": f"{INSTALLER}-watch", "namespace": BOOTSTRAP_NAMESPACE, "labels": labels},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"{INSTALLER}-watch"},
        "subjects": subject,
    }
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": INSTALLER, "namespace": ns, "labels": labels},
        # JSON is YAML: mxpc-cli reads it as the file Write YAML produces.
        "data": {CONFIG_FILE: json.dumps(mendix_config(spec), indent=2, sort_keys=True)},
    }
    job = _job(
        name=INSTALLER,
        namespace=ns,
        image=spec.image,
        script=installer_script(
            namespace=ns,
            mode=spec.mode,
            namespace_secret_arn=spec.namespace_secret_arn,
            endpoint=endpoint_patch(spec.certificate_arn, spec.load_balancer_subnet_ids),
        ),
        env=[{"name": "AWS_REGION", "value": spec.region}, {"name": "MENDIX_OPERATOR_VERSION", "value": spec.version}],
        node_selector=node_selector,
        tolerations=tolerations,
        volumes=[{"name": "config", "configMap": {"name": INSTALLER}}],
        mounts=[{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}],
    )
    # A new Operator version or configuration is a new Job: Jobs are immutable once created.
    job["metadata"]["annotations"] = {"mendix.io/operator-version": spec.version}
    return [
        account,
        cluster_role,
        cluster_binding,
        namespace_role,
        namespace_binding,
        watch_bootstrap,
        watch_binding,
        config,
        job,
    ]


def bootstrap_manifests(
    *,
    image: str,
    region: str,
    host: str,
    port: int,
    master_secret_arn: str,
    admin_user: str,
    node_selector: dict[str, str],
    tolerations: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """The bootstrap namespace, its ServiceAccount (Pod Identity) and the one-shot Job."""
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": BOOTSTRAP_NAMESPACE, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
    }
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": BOOTSTRAP, "namespace": BOOTSTRAP_NAMESPACE}}
    job = _job(
        name=BOOTSTRAP,
        namespace=BOOTSTRAP_NAMESPACE,
        image=image,
        script=bootstrap_script(master_secret_arn=master_secret_arn, admin_user=admin_user),
        env=[
            {"name": "AWS_REGION", "value": region},
            {"name": "PGHOST", "value": host},
            {"name": "PGPORT", "value": str(port)},
            {"name": "PGDATABASE", "value": LOGIN_DATABASE},
            # The parameter group forces TLS; the client insists on it too.
            {"name": "PGSSLMODE", "value": "require"},
            {"name": "PGCONNECT_TIMEOUT", "value": "10"},
        ],
        node_selector=node_selector,
        tolerations=tolerations,
        volumes=[],
        mounts=[],
    )
    return [namespace, account, job]
