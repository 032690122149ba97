"""The CloudWatch agent on IRIS members: what it ships where, the encrypted log
groups it writes to, the IRIS volume alarms, and the structured-logging merge
that puts IRIS's audit events into a file."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template

from components import member_monitoring as mm
from components.mirror_alarms import MirrorAlarms
from components.severity import AlarmTopics
from config import SettingsError, load_settings
from config.ops import SEVERITIES
from tests.conftest import QUIET, ROOT, Synthesized, cdk_json_context
from tests.templates import props, render, resources, severity_of, severity_topic

NAMES = mm.MemberLogGroupNames(messages="iris-messages", audit="iris-audit", metrics="iris-metrics")
IRIS_MOUNTS = ["/iris/db", "/iris/jrn1", "/iris/jrn2", "/iris/wij"]


def member_config(role: str = "failover", port: int = 52773) -> dict[str, Any]:
    return mm.cloudwatch_agent_config(role=role, mirror_set="HSDB", member="Member1", health_check_port=port, log_groups=NAMES)


# --------------------------------------------------------------------------
# The agent's configuration
# --------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["failover", "async"])
def test_a_data_member_ships_messages_and_the_structured_log_per_instance(role: str) -> None:
    files = member_config(role)["logs"]["logs_collected"]["files"]["collect_list"]
    assert files == [
        {"file_path": "/iris/db/durable/mgr/messages.log", "log_group_name": "iris-messages", "log_stream_name": "{instance_id}"},
        {"file_path": "/iris/db/durable/mgr/structured.log", "log_group_name": "iris-audit", "log_stream_name": "{instance_id}"},
        # iris/freeze_thaw.sh's own log, beside messages.log (the failed-freezes query, docs/operations.md).
        {
            "file_path": "/var/log/iris-freeze-thaw.log",
            "log_group_name": "iris-messages",
            "log_stream_name": "{instance_id}-freeze-thaw",
        },
    ]


def test_the_agent_tails_the_file_irislogd_writes() -> None:
    # The audit events reach CloudWatch only if both sides name the same file.
    command = mm.structured_logging_merge()["Logging"]["ChildProcessLaunchCommand"]
    assert command.split() == ["irislogd", "-f", mm.IRIS_STRUCTURED_LOG]
    tailed = {f["file_path"]: f["log_group_name"] for f in member_config()["logs"]["logs_collected"]["files"]["collect_list"]}
    assert tailed[mm.IRIS_STRUCTURED_LOG] == NAMES.audit


def test_disk_used_covers_root_and_every_iris_volume_by_mount_path() -> None:
    metrics = member_config()["metrics"]
    assert metrics["namespace"] == "IRIS/Host"
    assert metrics["append_dimensions"] == {"InstanceId": "${aws:InstanceId}"}
    assert metrics["metrics_collected"]["disk"] == {
        "resources": ["/", *IRIS_MOUNTS],
        "measurement": ["used_percent"],
        "drop_device": True,
        "metrics_collection_interval": 60,
    }
    # No host name dimension: the alarms name InstanceId, path and fstype only.
    assert member_config()["agent"] == {"metrics_collection_interval": 60, "omit_hostname": True}


def test_the_iris_volumes_are_the_mount_points_the_volume_set_mounts() -> None:
    assert list(mm.iris_volume_mounts()) == IRIS_MOUNTS


def test_the_alarms_name_the_file_system_the_mount_script_makes() -> None:
    script = (ROOT / "iris" / "mount_volumes.sh").read_text()
    assert f"mkfs.{mm.IRIS_FILESYSTEM} " in script
    assert re.search(rf"\s{mm.IRIS_FILESYSTEM}\s+defaults", script)


def test_prometheus_scrapes_iris_through_the_members_web_gateway() -> None:
    scrape = mm.prometheus_scrape_config(health_check_port=57772, mirror_set="HSDB", member="Member1")
    assert scrape == {
        "global": {"scrape_interval": "60s", "scrape_timeout": "10s"},
        "scrape_configs": [
            {
                "job_name": "iris",
                "metrics_path": "/api/monitor/metrics",
                "scheme": "http",
                "sample_limit": 10000,
                "static_configs": [{"targets": ["127.0.0.1:57772"], "labels": {"MirrorSet": "HSDB", "Member": "Member1"}}],
            }
        ],
    }


def test_iris_metrics_become_cloudwatch_metrics_per_member() -> None:
    prometheus = member_config()["logs"]["metrics_collected"]["prometheus"]
    assert prometheus["log_group_name"] == "iris-metrics"
    assert prometheus["prometheus_config_path"] == mm.PROMETHEUS_CONFIG_PATH
    emf = prometheus["emf_processor"]
    assert emf["metric_namespace"] == "IRIS/Instance"
    instance, journal = emf["metric_declaration"]
    assert instance["source_labels"] == journal["source_labels"] == ["job"]
    assert instance["label_matcher"] == journal["label_matcher"] == "^iris$"
    assert instance["dimensions"] == [["MirrorSet", "Member"]]
    assert "^iris_cpu_usage$" in instance["metric_selectors"]
    assert "^iris_license_percent_used$" in instance["metric_selectors"]
    # Journal free space comes per directory (label id), so id is a dimension.
    assert journal == {
        "source_labels": ["job"],
        "label_matcher": "^iris$",
        "dimensions": [["MirrorSet", "Member", "id"]],
        "metric_selectors": ["^iris_jrn_free_space$"],
    }


def test_the_arbiter_reports_host_metrics_only() -> None:
    config = mm.cloudwatch_agent_config(
        role="arbiter", mirror_set="HSDB", member="Arbiter", health_check_port=52773, log_groups=None
    )
    assert config == {
        "agent": {"metrics_collection_interval": 60, "omit_hostname": True},
        "metrics": {
            "namespace": "IRIS/Host",
            "append_dimensions": {"InstanceId": "${aws:InstanceId}"},
            "metrics_collected": {
                "disk": {
                    "resources": ["/"],
                    "measurement": ["used_percent"],
                    "drop_device": True,
                    "metrics_collection_interval": 60,
                },
                "mem": {"measurement": ["used_percent"], "metrics_collection_interval": 60},
            },
        },
    }


def test_a_data_member_without_log_groups_or_an_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="needs log groups"):
        mm.cloudwatch_agent_config(role="failover", mirror_set="HSDB", member="Member0", health_check_port=52773, log_groups=None)
    with pytest.raises(ValueError, match="one of failover, async, arbiter"):
        mm.cloudwatch_agent_config(role="primary", mirror_set="HSDB", member="Member0", health_check_port=52773, log_groups=NAMES)


def heredocs(commands: list[str]) -> dict[str, str]:
    """path -> text of each file the commands write with install_file_commands."""
    script = "\n".join(commands)
    return {
        m.group("path"): m.group("body")
        for m in re.finditer(r"cat > (?P<path>\S+) <<'(?P<end>\w+)'\n(?P<body>.*?)\n(?P=end)\n", script, re.S)
    }


def test_the_commands_write_both_configurations_and_start_the_agent_with_them() -> None:
    commands = mm.cloudwatch_agent_commands(
        role="failover", mirror_set="HSDB", member="Member1", health_check_port=52773, log_groups=NAMES
    )
    files = heredocs(commands)
    assert json.loads(files[mm.AGENT_CONFIG_PATH]) == member_config()
    # JSON is YAML too: the agent reads the scrape configuration as YAML.
    assert json.loads(files[mm.PROMETHEUS_CONFIG_PATH]) == mm.prometheus_scrape_config(
        health_check_port=52773, mirror_set="HSDB", member="Member1"
    )
    assert "copytruncate" in files[mm.STRUCTURED_LOG_ROTATION_PATH]
    assert files[mm.STRUCTURED_LOG_ROTATION_PATH].startswith(f"{mm.IRIS_STRUCTURED_LOG} {{")
    assert commands[-1] == (
        "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s "
        "-c file:/opt/aws/amazon-cloudwatch-agent/etc/iris-aws-agent.json"
    )
    subprocess.run(["bash", "-n"], input="\n".join(commands), text=True, check=True)


def test_the_arbiter_commands_write_the_agent_configuration_only() -> None:
    commands = mm.cloudwatch_agent_commands(
        role="arbiter", mirror_set="HSDB", member="Arbiter", health_check_port=52773, log_groups=None
    )
    assert list(heredocs(commands)) == [mm.AGENT_CONFIG_PATH]
    assert commands[-1].endswith(f"-c file:{mm.AGENT_CONFIG_PATH}")


# --------------------------------------------------------------------------
# IRIS side: structured logging
# --------------------------------------------------------------------------


def test_structured_logging_merge_writes_audit_events_as_json_lines() -> None:
    assert mm.structured_logging_merge() == {
        "Logging": {
            "Enabled": "1",
            "Level": "INFO",  # the level that includes every audit event
            "Format": "JSON",
            "Interval": "10",
            "ChildProcessLaunchCommand": "irislogd -f /iris/db/durable/mgr/structured.log",
        }
    }


# --------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------


def load(**overrides: object):
    return load_settings({**cdk_json_context(), **overrides}, {})


@pytest.mark.parametrize("value", ["49", "96", "0", "100"])
def test_a_disk_alarm_threshold_outside_50_to_95_is_refused_in_one_line(value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load(**{"data.disk_used_alarm_percent": value})
    assert caught.value.key == "data.disk_used_alarm_percent"
    assert str(caught.value) == f"invalid setting data.disk_used_alarm_percent={value}: a percentage from 50 to 95"


def test_the_disk_alarm_threshold_defaults_to_80_and_takes_the_bounds() -> None:
    assert load().data.disk_used_alarm_percent == 80
    assert load(profile="dev").data.disk_used_alarm_percent == 80
    assert load(**{"data.disk_used_alarm_percent": "50"}).data.disk_used_alarm_percent == 50
    assert load(**{"data.disk_used_alarm_percent": "95"}).data.disk_used_alarm_percent == 95


# --------------------------------------------------------------------------
# The alarms, from settings to the template
# --------------------------------------------------------------------------


def alarms_template(threshold: int) -> dict[str, Any]:
    """MirrorAlarms alone in a small stack, with the threshold the settings give."""
    app = cdk.App(**QUIET)
    stack = cdk.Stack(app, "Alarms", env=cdk.Environment(account="000000000000", region="eu-west-1"))
    vpc = ec2.Vpc(
        stack,
        "Vpc",
        availability_zones=["eu-west-1a"],
        nat_gateways=0,
        subnet_configuration=[ec2.SubnetConfiguration(name="data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)],
    )

    def instance(name: str) -> ec2.Instance:
        return ec2.Instance(
            stack,
            name,
            vpc=vpc,
            instance_type=ec2.InstanceType("t3.micro"),
            machine_image=ec2.MachineImage.generic_linux({"eu-west-1": "ami-0123456789abcdef0"}),
        )

    instances = {"Member0": instance("Member0"), "Member1": instance("Member1"), "Arbiter": instance("Arbiter")}
    load_balancer = elbv2.NetworkLoadBalancer(stack, "Vip", vpc=vpc)
    group = elbv2.NetworkTargetGroup(stack, "Group", vpc=vpc, port=1972)
    MirrorAlarms(
        stack,
        "HSDBAlarms",
        mirror_name="HSDB",
        instances=instances,
        volumes={},
        load_balancer=load_balancer,
        target_groups=[group],
        topics=AlarmTopics(dict.fromkeys(SEVERITIES, sns.Topic(stack, "Topic"))),
        iris_volume_members=["Member0", "Member1"],
        disk_used_alarm_percent=threshold,
    )
    return Template.from_stack(stack).to_json()


def disk_alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in resources(template, "AWS::CloudWatch::Alarm").items() if "DiskUsed" in k}


def test_a_changed_setting_changes_every_disk_alarm_threshold() -> None:
    threshold = load(**{"data.disk_used_alarm_percent": "90"}).data.disk_used_alarm_percent
    alarms = disk_alarms(alarms_template(threshold))
    assert len(alarms) == 2 * len(IRIS_MOUNTS)  # the arbiter has no IRIS volumes
    assert {a["Threshold"] for a in alarms.values()} == {90}
    assert {a["ComparisonOperator"] for a in alarms.values()} == {"GreaterThanOrEqualToThreshold"}


def test_the_iris_volume_alarms_need_a_threshold() -> None:
    with pytest.raises(ValueError, match="need disk_used_alarm_percent"):
        alarms_template(None)  # type: ignore[arg-type]


def _instance_ids(template: dict[str, Any], mirror: str) -> dict[str, str]:
    """Member name -> logical id of its instance (Member0, Member1)."""
    out = {}
    for logical_id in resources(template, "AWS::EC2::Instance"):
        m = re.fullmatch(rf"{mirror}(Member\d)Instance[0-9A-F]{{8}}", logical_id)
        if m:
            out[m.group(1)] = logical_id
    return out


def test_each_member_volume_has_a_disk_alarm_to_the_alarm_topic(assembly: Synthesized) -> None:
    template = assembly.template_json("data")
    alarms = disk_alarms(template)
    expected = set()
    for m in assembly.settings.data.mirror_sets:
        for instance_id in _instance_ids(template, m.name).values():
            for mount in IRIS_MOUNTS:
                expected.add((instance_id, mount))
    seen = set()
    for a in alarms.values():
        assert a["Namespace"] == "IRIS/Host"
        assert a["MetricName"] == "disk_used_percent"
        assert a["Statistic"] == "Maximum"
        assert a["Threshold"] == assembly.settings.data.disk_used_alarm_percent
        assert [assembly.local(x) for x in a["AlarmActions"]] == [severity_topic(template, severity_of(a))]
        assert a["TreatMissingData"] == "notBreaching"
        dims = {d["Name"]: d["Value"] for d in a["Dimensions"]}
        assert set(dims) == {"InstanceId", "path", "fstype"}
        assert dims["fstype"] == "xfs"
        seen.add((dims["InstanceId"]["Ref"], dims["path"]))
    assert seen == expected
    assert len(alarms) == len(expected) == 2 * len(IRIS_MOUNTS) * len(assembly.settings.data.mirror_sets)


# --------------------------------------------------------------------------
# The log groups and the key
# --------------------------------------------------------------------------


def test_member_log_groups_are_encrypted_with_the_data_key_and_retained(assembly: Synthesized) -> None:
    template = assembly.template_json("data")
    (key_id,) = resources(template, "AWS::KMS::Key")
    groups = {k: v for k, v in resources(template, "AWS::Logs::LogGroup").items() if k.startswith("MemberLogs")}
    assert sorted(re.sub(r"[0-9A-F]{8}$", "", k) for k in groups) == [
        "MemberLogsAudit",
        "MemberLogsIrisMetrics",
        "MemberLogsMessages",
    ]
    for logical_id, group in groups.items():
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}, logical_id
        assert group["Properties"]["RetentionInDays"] == mm.LOG_RETENTION_DAYS
        assert group["DeletionPolicy"] == "Retain"
        assert "LogGroupName" not in group["Properties"]  # the agent is told CloudFormation's names


def test_the_data_key_lets_cloudwatch_logs_use_it_for_this_accounts_log_groups(assembly: Synthesized) -> None:
    template = assembly.template_json("data")
    (key,) = props(template, "AWS::KMS::Key")
    (statement,) = [s for s in key["KeyPolicy"]["Statement"] if s.get("Sid") == "AllowCloudWatchLogs"]
    s = assembly.settings
    assert statement["Principal"] == {"Service": f"logs.{s.region}.amazonaws.com"}
    # The project's groups only (components/encryption_key.py, project_log_groups): never every group of the account.
    base = f"arn:aws:logs:{s.region}:{s.account}:log-group:"
    (patterns,) = statement["Condition"]["ArnLike"].values()
    assert f"{base}{s.prefix}-*" in patterns and f"{base}*" not in patterns
    assert all(p.startswith(base) and s.prefix.lower() in p.lower() for p in patterns), patterns
    assert "kms:Decrypt*" in statement["Action"] and "kms:GenerateDataKey*" in statement["Action"]


def test_user_data_hands_the_agent_cloudformations_log_group_names() -> None:
    # The names are tokens at synthesis; the agent's JSON must carry them as references.
    app = cdk.App(**QUIET)
    stack = cdk.Stack(app, "Logs", env=cdk.Environment(account="000000000000", region="eu-west-1"))
    groups = mm.MemberLogGroups(stack, "MemberLogs", encryption_key=kms.Key(stack, "Key"))
    user_data = ec2.UserData.for_linux()
    user_data.add_commands(
        *mm.cloudwatch_agent_commands(
            role="async", mirror_set="HSDB", member="DR", health_check_port=52773, log_groups=groups.names
        )
    )
    rendered = render(stack.resolve(user_data.render()))
    config = json.loads(heredocs(rendered.splitlines())[mm.AGENT_CONFIG_PATH])
    ids = {name: stack.get_logical_id(getattr(groups, name).node.default_child) for name in ("messages", "audit", "metrics")}
    files = config["logs"]["logs_collected"]["files"]["collect_list"]
    assert [f["log_group_name"] for f in files] == [f"<Ref:{ids[name]}>" for name in ("messages", "audit", "messages")]
    assert config["logs"]["metrics_collected"]["prometheus"]["log_group_name"] == f"<Ref:{ids['metrics']}>"
