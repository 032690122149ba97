"""The CloudWatch agent on IRIS members: what it collects, and the log groups it writes to.

Data members (failover and async) ship ``messages.log`` and IRIS's structured
log (which carries the audit events, see :func:`structured_logging_merge`) to
encrypted log groups, publish the fill level of every IRIS volume, and scrape
IRIS's own metrics from ``/api/monitor/metrics`` through the Web Gateway. The
arbiter runs no IRIS instance and publishes only host metrics.

Everything here is a plain function of settings; the member's user data
writes what they return (one writer per document).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from components.log_queries import FAILED_FREEZES, FREEZE_STREAM_SUFFIX, MIRROR_STATE_CHANGES, saved_query
from components.log_retention import encrypted_log_group
from components.mirror_member import install_file_commands
from config.constants import IRIS_MOUNT_POINTS

DATA_ROLES = ("failover", "async")
ARBITER_ROLE = "arbiter"

# Paths on the member host; the IRIS container mounts /iris/db at the same path.
IRIS_MESSAGES_LOG = "/iris/db/durable/mgr/messages.log"
FREEZE_THAW_LOG = "/var/log/iris-freeze-thaw.log"
IRIS_STRUCTURED_LOG = "/iris/db/durable/mgr/structured.log"
ROOT_MOUNT = "/"

AGENT_DIR = "/opt/aws/amazon-cloudwatch-agent"
AGENT_CTL = f"{AGENT_DIR}/bin/amazon-cloudwatch-agent-ctl"
AGENT_CONFIG_PATH = f"{AGENT_DIR}/etc/iris-aws-agent.json"
PROMETHEUS_CONFIG_PATH = f"{AGENT_DIR}/etc/iris-prometheus.yaml"
STRUCTURED_LOG_ROTATION_PATH = "/etc/logrotate.d/iris-structured-log"

# Host metrics (disk, memory) and IRIS's own metrics, in namespaces of their own.
HOST_METRICS_NAMESPACE = "IRIS/Host"
IRIS_METRICS_NAMESPACE = "IRIS/Instance"
DISK_USED_METRIC = "disk_used_percent"
# iris/mount_volumes.sh formats every IRIS volume as xfs; the agent publishes
# the file system type as a dimension, so the alarms name it.
IRIS_FILESYSTEM = "xfs"
METRICS_INTERVAL_SECONDS = 60

IRIS_MONITOR_PATH = "/api/monitor/metrics"
PROMETHEUS_JOB = "iris"
# Instance-wide gauges of /api/monitor/metrics (no labels of their own).
IRIS_INSTANCE_METRICS = (
    "iris_cpu_usage",
    "iris_phys_mem_percent_used",
    "iris_license_percent_used",
    "iris_license_days_remaining",
    "iris_process_count",
    "iris_system_alerts",
    "iris_system_state",
    "iris_glo_ref_per_sec",
    "iris_phys_reads_per_sec",
    "iris_phys_writes_per_sec",
    "iris_wd_cycle_time",
    "iris_trans_open_count",
)
# Per-directory gauges: label id is WIJ, primary or secondary.
IRIS_JOURNAL_METRICS = ("iris_jrn_free_space",)
IRIS_METRIC_UNITS = {
    "iris_cpu_usage": "Percent",
    "iris_phys_mem_percent_used": "Percent",
    "iris_license_percent_used": "Percent",
    "iris_jrn_free_space": "Megabytes",
}

# Structured logging ([Logging] in the CPF): INFO is the level that includes
# every audit event; JSON gives one object per line.
STRUCTURED_LOG_LEVEL = "INFO"
STRUCTURED_LOG_FORMAT = "JSON"
STRUCTURED_LOG_INTERVAL_SECONDS = 10
STRUCTURED_LOG_KEEP_DAYS = 7

LOG_RETENTION_DAYS = 365


def iris_volume_mounts() -> tuple[str, ...]:
    """The mount points of a data member's IRIS volumes, in volume order."""
    return tuple(IRIS_MOUNT_POINTS.values())


# --------------------------------------------------------------------------
# IRIS side: audit events into a file the agent can tail
# --------------------------------------------------------------------------


def structured_logging_merge() -> dict[str, dict[str, str]]:
    """CPF merge content (section -> key -> value) that turns on structured logging.

    IRIS's audit log is a database (IRISAUDIT), not a file. Structured logging
    writes what goes to messages.log and to the audit database, one line per
    entry, through ``irislogd -f`` into :data:`IRIS_STRUCTURED_LOG`.
    ``ChildProcessLaunchCommand`` is the key every IRIS release since 2019
    reads (newest releases prefer ``ChildProcessArgs`` when it is set, and
    honour this one when it is not).
    """
    return {
        "Logging": {
            "Enabled": "1",
            "Level": STRUCTURED_LOG_LEVEL,
            "Format": STRUCTURED_LOG_FORMAT,
            "Interval": str(STRUCTURED_LOG_INTERVAL_SECONDS),
            "ChildProcessLaunchCommand": f"irislogd -f {IRIS_STRUCTURED_LOG}",
        }
    }


def structured_log_rotation() -> str:
    """logrotate configuration for the structured log, which irislogd keeps open (hence copytruncate)."""
    return (
        f"{IRIS_STRUCTURED_LOG} {{\n"
        "    daily\n"
        f"    rotate {STRUCTURED_LOG_KEEP_DAYS}\n"
        "    maxsize 200M\n"
        "    compress\n"
        "    delaycompress\n"
        "    missingok\n"
        "    notifempty\n"
        "    copytruncate\n"
        "}\n"
    )


# --------------------------------------------------------------------------
# The log groups, once per stack
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberLogGroupNames:
    """Where the agent writes: IRIS messages, structured log (audit), IRIS metrics (EMF)."""

    messages: str
    audit: str
    metrics: str


class MemberLogGroups(Construct):
    """The log groups every IRIS member of a stack writes to, one log stream per instance id.

    Guarantees: encrypted with ``encryption_key`` (which must let CloudWatch
    Logs use it: EncryptionKey.allow_cloudwatch_logs), kept ``retention_days``,
    retained when the stack is deleted. The agent finds them by name; the
    names are CloudFormation's, handed to the user data as ``names``.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, encryption_key: kms.IKey, retention_days: int = LOG_RETENTION_DAYS
    ) -> None:
        super().__init__(scope, construct_id)

        def group(group_id: str) -> logs.LogGroup:
            return encrypted_log_group(self, group_id, encryption_key=encryption_key, retention_days=retention_days)

        self.messages = group("Messages")
        self.audit = group("Audit")
        self.metrics = group("IrisMetrics")
        self.names = MemberLogGroupNames(
            messages=self.messages.log_group_name, audit=self.audit.log_group_name, metrics=self.metrics.log_group_name
        )
        saved_query(
            self, "MirrorStateChanges", name="mirror-state-changes", query=MIRROR_STATE_CHANGES, log_groups=[self.messages]
        )
        saved_query(self, "FailedFreezes", name="failed-freezes", query=FAILED_FREEZES, log_groups=[self.messages])


# --------------------------------------------------------------------------
# The agent's configuration
# --------------------------------------------------------------------------


def prometheus_scrape_config(*, health_check_port: int, mirror_set: str, member: str) -> dict[str, Any]:
    """The Prometheus scrape configuration: IRIS's /api/monitor/metrics through the member's Web Gateway.

    The static labels become the CloudWatch dimensions, so a replaced instance
    keeps its member's metric series.
    """
    return {
        "global": {"scrape_interval": f"{METRICS_INTERVAL_SECONDS}s", "scrape_timeout": "10s"},
        "scrape_configs": [
            {
                "job_name": PROMETHEUS_JOB,
                "metrics_path": IRIS_MONITOR_PATH,
                "scheme": "http",
                "sample_limit": 10000,
                "static_configs": [
                    {"targets": [f"127.0.0.1:{health_check_port}"], "labels": {"MirrorSet": mirror_set, "Member": member}}
                ],
            }
        ],
    }


def _selectors(names: tuple[str, ...]) -> list[str]:
    return [f"^{name}$" for name in names]


def _host_metrics(mounts: tuple[str, ...]) -> dict[str, Any]:
    return {
        "namespace": HOST_METRICS_NAMESPACE,
        "append_dimensions": {"InstanceId": "${aws:InstanceId}"},
        "metrics_collected": {
            "disk": {
                "resources": list(mounts),
                "measurement": ["used_percent"],
                # Nitro renames NVMe devices across reboots; path identifies the volume.
                "drop_device": True,
                "metrics_collection_interval": METRICS_INTERVAL_SECONDS,
            },
            "mem": {"measurement": ["used_percent"], "metrics_collection_interval": METRICS_INTERVAL_SECONDS},
        },
    }


def cloudwatch_agent_config(
    *, role: str, mirror_set: str, member: str, health_check_port: int, log_groups: MemberLogGroupNames | None
) -> dict[str, Any]:
    """The CloudWatch agent's JSON configuration for one member.

    ``role`` is failover, async or arbiter (member.env's ROLE). A data member
    needs ``log_groups``; the arbiter takes none and reports host metrics only.
    """
    agent = {"metrics_collection_interval": METRICS_INTERVAL_SECONDS, "omit_hostname": True}
    if role == ARBITER_ROLE:
        return {"agent": agent, "metrics": _host_metrics((ROOT_MOUNT,))}
    if role not in DATA_ROLES:
        raise ValueError(f"role {role!r}: one of {', '.join((*DATA_ROLES, ARBITER_ROLE))}")
    if log_groups is None:
        raise ValueError(f"{member}: a {role} member ships its logs and needs log groups")
    stream = "{instance_id}"
    return {
        "agent": agent,
        "metrics": _host_metrics((ROOT_MOUNT, *iris_volume_mounts())),
        "logs": {
            "logs_collected": {
                "files": {
                    "collect_list": [
                        {"file_path": IRIS_MESSAGES_LOG, "log_group_name": log_groups.messages, "log_stream_name": stream},
                        {"file_path": IRIS_STRUCTURED_LOG, "log_group_name": log_groups.audit, "log_stream_name": stream},
                        # iris/freeze_thaw.sh's decisions, beside messages.log (components/log_queries.py).
                        {
                            "file_path": FREEZE_THAW_LOG,
                            "log_group_name": log_groups.messages,
                            "log_stream_name": stream + FREEZE_STREAM_SUFFIX,
                        },
                    ]
                }
            },
            "metrics_collected": {
                "prometheus": {
                    "log_group_name": log_groups.metrics,
                    "prometheus_config_path": PROMETHEUS_CONFIG_PATH,
                    "emf_processor": {
                        "metric_declaration_dedup": True,
                        "metric_namespace": IRIS_METRICS_NAMESPACE,
                        "metric_unit": dict(IRIS_METRIC_UNITS),
                        "metric_declaration": [
                            {
                                "source_labels": ["job"],
                                "label_matcher": f"^{PROMETHEUS_JOB}$",
                                "dimensions": [["MirrorSet", "Member"]],
                                "metric_selectors": _selectors(IRIS_INSTANCE_METRICS),
                            },
                            {
                                "source_labels": ["job"],
                                "label_matcher": f"^{PROMETHEUS_JOB}$",
                                "dimensions": [["MirrorSet", "Member", "id"]],
                                "metric_selectors": _selectors(IRIS_JOURNAL_METRICS),
                            },
                        ],
                    },
                }
            },
        },
    }


def _json(document: Mapping[str, Any]) -> str:
    # Compact: it travels in the user data, which EC2 limits to 16 KB.
    return json.dumps(document, separators=(",", ":"), sort_keys=True) + "\n"


def cloudwatch_agent_commands(
    *, role: str, mirror_set: str, member: str, health_check_port: int, log_groups: MemberLogGroupNames | None
) -> list[str]:
    """User-data commands that write the agent's configuration and (re)start it with it.

    The Prometheus scrape configuration is written as JSON, which is YAML too.
    ``fetch-config`` replaces any earlier configuration, so a second boot
    gives the same agent.
    """
    config = cloudwatch_agent_config(
        role=role, mirror_set=mirror_set, member=member, health_check_port=health_check_port, log_groups=log_groups
    )
    commands = install_file_commands(AGENT_CONFIG_PATH, _json(config), "0644")
    if role != ARBITER_ROLE:
        scrape = prometheus_scrape_config(health_check_port=health_check_port, mirror_set=mirror_set, member=member)
        commands += install_file_commands(PROMETHEUS_CONFIG_PATH, _json(scrape), "0644")
        commands += install_file_commands(STRUCTURED_LOG_ROTATION_PATH, structured_log_rotation(), "0644")
    commands.append(f"{AGENT_CTL} -a fetch-config -m ec2 -s -c file:{AGENT_CONFIG_PATH}")
    return commands
