"""The restore drill (ops/restore_drill.py) against moto's EC2 and a scripted SSM that answers as the
integrity-check document would; and the CLI's refusals and dry run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from config import constants as c
from ops import cli
from ops import restore_drill as rd

REGION = "eu-west-1"
SET_TAG = "Iris-Mirror-HSDB"
ZONE = "eu-west-1c"


def no_sleep(_: float) -> None:
    return None


class Clock:
    """A clock each sleep of the drill moves on; reading it costs nothing."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


class ScriptedSsm:
    """SSM as the scratch instance's agent and the check document answer: offline at first, the
    invocation unknown right after send_command, then in progress, then the document's result."""

    def __init__(self, *, status: str = "Success", stdout: str = "IRIS_INTEGRITY|OK|2|\n", stderr: str = "") -> None:
        self.status, self.stdout, self.stderr = status, stdout, stderr
        self.info_calls = 0
        self.sent: list[dict[str, Any]] = []
        self.polls = 0

    def describe_instance_information(self, Filters: list[dict[str, Any]]) -> dict[str, Any]:  # boto3's names
        self.info_calls += 1
        (instance_id,) = Filters[0]["Values"]
        ping = "Online" if self.info_calls > 2 else "ConnectionLost"
        return {"InstanceInformationList": [{"InstanceId": instance_id, "PingStatus": ping}] if self.info_calls > 1 else []}

    def send_command(self, **kwargs: Any) -> dict[str, Any]:
        self.sent.append(kwargs)
        return {"Command": {"CommandId": "cmd-1"}}

    def get_command_invocation(self, CommandId: str, InstanceId: str) -> dict[str, Any]:
        assert CommandId == "cmd-1" and InstanceId == self.sent[-1]["InstanceIds"][0]
        self.polls += 1
        if self.polls == 1:
            raise ClientError({"Error": {"Code": "InvocationDoesNotExist", "Message": ""}}, "GetCommandInvocation")
        if self.polls == 2:
            return {"Status": "InProgress"}
        return {"Status": self.status, "StandardOutputContent": self.stdout, "StandardErrorContent": self.stderr}


class Aged:
    """moto's EC2 client, with some snapshots started a day earlier (moto stamps every snapshot with now)."""

    def __init__(self, ec2: Any, older: set[str]) -> None:
        self.ec2, self.older = ec2, older

    def get_paginator(self, name: str) -> Any:
        assert name == "describe_snapshots"
        outer = self

        class Pages:
            def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
                for page in outer.ec2.get_paginator(name).paginate(**kwargs):
                    for s in page["Snapshots"]:
                        if s["SnapshotId"] in outer.older:
                            s["StartTime"] -= timedelta(days=1)
                    yield page

        return Pages()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ec2, name)


class Crashing:
    """moto's EC2 client, except that one call dies as a bug or a lost connection would."""

    def __init__(self, ec2: Any, method: str) -> None:
        self.ec2, self.method = ec2, method

    def __getattr__(self, name: str) -> Any:
        if name == self.method:

            def crash(**_: Any) -> Any:
                raise RuntimeError(f"crash in {name}")

            return crash
        return getattr(self.ec2, name)


@pytest.fixture(scope="module")
def moto_account() -> Iterator[dict[str, Any]]:
    """One moto account per module: a VPC with the scratch subnet and group, the profile and the key."""
    env = pytest.MonkeyPatch()
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}.items():
        env.setenv(key, value)
    env.delenv("AWS_PROFILE", raising=False)
    # moto's own images (and their snapshots) cost seconds to load and nothing here needs them.
    env.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    try:
        with mock_aws():
            ec2 = boto3.client("ec2", region_name=REGION)
            vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
            subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.96.0/24", AvailabilityZone=ZONE)["Subnet"]["SubnetId"]
            group = ec2.create_security_group(GroupName="scratch", Description="scratch", VpcId=vpc)["GroupId"]
            iam = boto3.client("iam", region_name=REGION)
            trust = json.dumps({"Version": "2012-10-17", "Statement": []})
            iam.create_role(RoleName="scratch", AssumeRolePolicyDocument=trust)
            profile = iam.create_instance_profile(InstanceProfileName="scratch")["InstanceProfile"]["Arn"]
            key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
            scratch = rd.Scratch(
                subnet_id=subnet,
                security_group_id=group,
                instance_profile_arn=profile,
                document="Iris-Mirror-HSDB-RestoreDrillCheck",
                image_id="ami-0123456789abcdef0",
                instance_type="r6i.large",
                root_device="/dev/sda1",
                root_volume_gib="30",
                key_arn=key,
                set_tag=SET_TAG,
            )
            yield {"ec2": ec2, "scratch": scratch, "vpc": vpc}
    finally:
        env.undo()


@pytest.fixture
def aws(moto_account: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The module's account with no instance, volume, snapshot or stack left from another test."""
    yield moto_account
    ec2 = moto_account["ec2"]
    reservations = ec2.describe_instances()["Reservations"]
    if instances := [i["InstanceId"] for r in reservations for i in r["Instances"] if i["State"]["Name"] != "terminated"]:
        ec2.terminate_instances(InstanceIds=instances)
    for snapshot in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]:
        ec2.delete_snapshot(SnapshotId=snapshot["SnapshotId"])
    for volume in ec2.describe_volumes()["Volumes"]:
        if volume["State"] == "available":
            ec2.delete_volume(VolumeId=volume["VolumeId"])
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    for stack in cloudformation.list_stacks(StackStatusFilter=["CREATE_COMPLETE"])["StackSummaries"]:
        cloudformation.delete_stack(StackName=stack["StackName"])


def snapshot_set(
    ec2: Any, *, member: str = "Member1", roles: tuple[str, ...] = tuple(rd.VOLUMES), dlm: bool = True
) -> dict[str, str]:
    """A DLM run's snapshots of a member's IRIS volumes, tagged as DLM copies the member's tags."""
    made = {}
    for role in roles:
        volume = ec2.create_volume(
            AvailabilityZone="eu-west-1b",
            Size=10,
            TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "IrisVolumeRole", "Value": role}]}],
        )["VolumeId"]
        tags = [
            {"Key": rd.MIRROR_SET_TAG, "Value": SET_TAG},
            {"Key": rd.MEMBER_TAG, "Value": member},
            {"Key": "IrisVolumeRole", "Value": role},
        ]
        if dlm:
            tags.append({"Key": "aws:dlm:lifecycle-policy-id", "Value": "policy-0123456789abcdef0"})
        made[role] = ec2.create_snapshot(VolumeId=volume, TagSpecifications=[{"ResourceType": "snapshot", "Tags": tags}])[
            "SnapshotId"
        ]
    return made


def drill_resources(ec2: Any) -> tuple[list[str], list[str]]:
    """What carries the drill's tag and still exists (instances not terminated, volumes not deleted)."""
    return rd.leftovers(ec2, SET_TAG)


def run(aws: dict[str, Any], ssm: ScriptedSsm, ec2: Any | None = None) -> rd.DrillReport:
    lines: list[str] = []
    report = rd.run(ec2 or aws["ec2"], ssm, aws["scratch"], timeout_seconds=600, clock=Clock(), sleep=no_sleep, out=lines.append)
    report.detail = report.detail or "\n".join(lines)
    return report


def test_happy_path_restores_the_newest_set_checks_it_and_removes_everything(aws: dict[str, Any]) -> None:
    ec2 = aws["ec2"]
    older = snapshot_set(ec2, member="Member0")  # yesterday's run, when Member0 was the backup
    newest = snapshot_set(ec2, member="Member1")
    ssm = ScriptedSsm()
    report = run(aws, ssm, ec2=Aged(ec2, set(older.values())))
    assert report.ok, report
    assert report.snapshot_set is not None and report.snapshot_set.snapshots == newest
    assert report.integrity == "OK" and report.restore_seconds and report.check_seconds
    (sent,) = ssm.sent
    assert sent["DocumentName"] == aws["scratch"].document
    mounts = dict(pair.split(":") for pair in sent["Parameters"]["volumes"][0].split())
    assert sorted(mounts.values()) == sorted(c.IRIS_MOUNT_POINTS.values())
    # The volumes were made from the newest snapshots, in the scratch subnet's zone, and are gone now.
    assert all(rd._volume_state(ec2, volume_id) == "deleted" for volume_id in mounts)
    assert drill_resources(ec2) == ([], [])
    instance = sent["InstanceIds"][0]
    described = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    assert described["State"]["Name"] == "terminated"
    assert described["SubnetId"] == aws["scratch"].subnet_id
    assert [g["GroupId"] for g in described["SecurityGroups"]] == [aws["scratch"].security_group_id]
    assert described["MetadataOptions"]["HttpTokens"] == "required"


def test_volumes_come_from_the_set_in_the_scratch_zone_at_the_members_devices(aws: dict[str, Any]) -> None:
    ec2 = aws["ec2"]
    snapshots = snapshot_set(ec2)
    created = rd.Created(run_id="run1")
    rd.restore(ec2, aws["scratch"], rd.newest_snapshot_set(ec2, SET_TAG), created, sleep=no_sleep)
    for role, volume_id in created.volumes.items():
        volume = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
        assert volume["SnapshotId"] == snapshots[role] and volume["AvailabilityZone"] == ZONE
        assert volume["Attachments"][0]["Device"] == rd.VOLUMES[role][0] == c.IRIS_VOLUME_DEVICES[role]
        assert rd.VOLUMES[role][1] == c.IRIS_MOUNT_POINTS[role]
        assert {t["Key"]: t["Value"] for t in volume["Tags"]}[rd.DRILL_TAG] == SET_TAG
    # The scratch instance is in no target group and carries no tag the experiments or the snapshot policy follow.
    instance = ec2.describe_instances(InstanceIds=[created.instance_id])["Reservations"][0]["Instances"][0]
    tags = {t["Key"] for t in instance["Tags"]}
    assert rd.MIRROR_SET_TAG not in tags and "IrisBackup" not in tags
    assert boto3.client("elbv2", region_name=REGION).describe_target_groups()["TargetGroups"] == []
    assert rd.teardown(ec2, [created.instance_id or ""], list(created.volumes.values()), sleep=no_sleep) == []


def test_integrity_errors_fail_the_drill_and_still_remove_everything(aws: dict[str, Any]) -> None:
    snapshot_set(aws["ec2"])
    ssm = ScriptedSsm(status="Failed", stdout="IRIS_INTEGRITY|ERRORS|2|ERROR #5000: Integrity check found errors\n")
    report = run(aws, ssm)
    assert not report.ok
    assert report.integrity == "ERRORS" and "Integrity check found errors" in report.detail
    assert report.left_behind == [] and drill_resources(aws["ec2"]) == ([], [])
    assert any("FOUND ERRORS" in line for line in rd.summary(report, SET_TAG))


def test_a_check_that_gives_no_verdict_is_a_failure_not_a_pass(aws: dict[str, Any]) -> None:
    snapshot_set(aws["ec2"])
    report = run(aws, ScriptedSsm(status="Failed", stdout="", stderr="iris-restore-check: FAILED: cannot pull the image"))
    assert not report.ok and report.integrity is None
    assert report.failure is not None and "cannot pull the image" in report.failure
    assert drill_resources(aws["ec2"]) == ([], [])


def test_no_snapshot_fails_before_anything_is_created(aws: dict[str, Any]) -> None:
    snapshot_set(aws["ec2"], dlm=False)  # a hand-made snapshot is not the policy's
    ssm = ScriptedSsm()
    report = run(aws, ssm)
    assert not report.ok and report.failure is not None
    assert "no completed Data Lifecycle Manager snapshot" in report.failure
    assert ssm.sent == [] and drill_resources(aws["ec2"]) == ([], [])
    assert drill_resources(aws["ec2"]) == ([], [])


def test_an_incomplete_set_is_refused(aws: dict[str, Any]) -> None:
    snapshot_set(aws["ec2"], roles=("database", "journal1", "wij"))
    with pytest.raises(rd.DrillError, match="no snapshot of journal2"):
        rd.newest_snapshot_set(aws["ec2"], SET_TAG)


@pytest.mark.parametrize("method", ["run_instances", "attach_volume"])
def test_a_crash_mid_way_still_tears_down_what_was_created(aws: dict[str, Any], method: str) -> None:
    ec2 = aws["ec2"]
    snapshot_set(ec2)
    with pytest.raises(RuntimeError, match=f"crash in {method}"):
        run(aws, ScriptedSsm(), ec2=Crashing(ec2, method))
    assert drill_resources(ec2) == ([], [])
    assert [v for v in ec2.describe_volumes()["Volumes"] if any(t["Key"] == rd.DRILL_TAG for t in v.get("Tags", []))] == []


def test_what_a_killed_run_left_behind_is_removed_by_the_next_run(aws: dict[str, Any]) -> None:
    ec2 = aws["ec2"]
    snapshots = snapshot_set(ec2)
    killed = rd.Created(run_id="killed")
    rd.restore(ec2, aws["scratch"], rd.newest_snapshot_set(ec2, SET_TAG), killed, sleep=no_sleep)  # and then kill -9
    instances, volumes = drill_resources(ec2)
    assert instances == [killed.instance_id] and set(killed.volumes.values()) < set(volumes)  # and its root volume
    report = run(aws, ScriptedSsm())
    assert report.ok and sorted(report.swept) == sorted(instances + volumes)
    assert drill_resources(ec2) == ([], [])
    assert snapshots  # the snapshots themselves are never touched
    assert len(ec2.describe_snapshots(SnapshotIds=list(snapshots.values()))["Snapshots"]) == len(snapshots)


# --- the CLI ---------------------------------------------------------------


class Session:
    def __init__(self, **_: Any) -> None:
        pass

    def client(self, name: str) -> Any:
        return boto3.client(name, region_name=REGION)


def deploy_outputs(scratch: rd.Scratch) -> None:
    outputs = {rd.OUTPUTS[name]: {"Value": value} for name, value in vars(scratch).items()}
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}, "Outputs": outputs}
    boto3.client("cloudformation", region_name=REGION).create_stack(StackName=SET_TAG, TemplateBody=json.dumps(template))


def test_dry_run_shows_the_set_and_the_scratch_and_creates_nothing(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    snapshots = snapshot_set(aws["ec2"])
    deploy_outputs(aws["scratch"])
    assert cli.main(["restore-drill", "--mirror-set", "HSDB", "--dry-run"], session_factory=Session) == 0
    out = capsys.readouterr().out
    assert "dry run: nothing is created" in out and all(s in out for s in snapshots.values())
    assert aws["scratch"].security_group_id in out and "no target group" in out
    assert drill_resources(aws["ec2"]) == ([], [])
    assert [v for v in aws["ec2"].describe_volumes()["Volumes"] if v.get("SnapshotId") in snapshots.values()] == []


def test_the_cli_refuses_an_unknown_set_and_a_missing_stack(aws: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["restore-drill", "--mirror-set", "NOPE", "--dry-run"], session_factory=Session) == 2
    assert "no mirror set NOPE" in capsys.readouterr().err
    assert cli.main(["restore-drill", "--mirror-set", "HSDB", "--dry-run"], session_factory=Session) == 1
    assert "Iris-Mirror-HSDB" in capsys.readouterr().err


def test_the_cli_exits_1_when_the_check_fails(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy_outputs(aws["scratch"])  # and no snapshot at all
    assert cli.main(["restore-drill", "--mirror-set", "HSDB"], session_factory=Session) == 1
    out = capsys.readouterr().out
    assert "FAILED: no completed Data Lifecycle Manager snapshot" in out and "all removed" in out


def test_the_outputs_the_drill_reads_are_the_ones_the_stack_writes(reference: Any) -> None:
    from components import restore_drill as component

    assert component.OUTPUTS == rd.OUTPUTS
    assert reference.stacks["mirror_HSDB"].stack_name == SET_TAG
    outputs = reference.template_json("mirror_HSDB")["Outputs"]
    assert set(rd.OUTPUTS.values()) <= set(outputs)
    assert outputs[rd.OUTPUTS["set_tag"]]["Value"] == SET_TAG


# --- the schedule (off in the shipped profiles: built here in a stack of its own) ---------------


def test_the_schedule_runs_this_modules_code_and_raises_a_p3_alarm_on_failure(tmp_path: Any) -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_sns as sns
    from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks

    from components import restore_drill as component
    from components.severity import AlarmTopics
    from config.ops import SEVERITIES
    from tests.conftest import cdk_json_context

    # The feature flags of a real run (among them the target partition, which makes ARNs literal).
    app = cdk.App(outdir=str(tmp_path), context={k: v for k, v in cdk_json_context().items() if k.startswith("@")})
    stack = cdk.Stack(app, SET_TAG, env=cdk.Environment(account="000000000000", region=REGION))
    vpc = ec2.Vpc(
        stack,
        "Vpc",
        availability_zones=[f"{REGION}a", f"{REGION}b"],
        nat_gateways=0,
        subnet_configuration=[ec2.SubnetConfiguration(name="data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)],
    )
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    scratch = component.RestoreDrillScratch(
        stack, "Scratch", vpc=vpc, subnet=vpc.isolated_subnets[0], host_policies=[], encryption_key=key,
        image_id="ami-0123456789abcdef0", iris_image="000000000000.dkr.ecr.eu-west-1.amazonaws.com/iris@sha256:" + "a" * 64,
        iris_instance="IRIS", instance_type="r6i.large", root_device="/dev/sda1", root_volume_gib=30, timeout_minutes=60,
    )  # fmt: skip
    topics = AlarmTopics({s: sns.Topic(stack, f"Topic{s}", master_key=key) for s in SEVERITIES})
    component.RestoreDrillSchedule(
        stack, "Schedule", scratch=scratch, schedule="cron(0 5 1 * ? *)", timeout_minutes=60, encryption_key=key,
        alarm_topics=topics, outputs=scratch.values,
    )  # fmt: skip
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(), HIPAASecurityChecks(), NIST80053R5Checks())
    try:
        app.synth()
    except RuntimeError as err:
        assert "ValidationFailed" in str(err)
    report = json.loads((tmp_path / "validation-report.json").read_text())
    mine = [
        (v["ruleName"], r["constructPath"])
        for plugin in report["pluginReports"]
        for v in plugin.get("violations", [])
        for r in v["violatingConstructs"]
        if "/Scratch/" in r["constructPath"] or "/Schedule/" in r["constructPath"]
    ]
    assert mine == []

    template = json.loads((tmp_path / f"{SET_TAG}.template.json").read_text())
    by_type: dict[str, list[dict[str, Any]]] = {}
    for r in template["Resources"].values():
        by_type.setdefault(r["Type"], []).append(r["Properties"])
    (runbook,) = [d for d in by_type["AWS::SSM::Document"] if d["DocumentType"] == "Automation"]
    steps = {s["name"]: s for s in runbook["Content"]["mainSteps"]}
    assert list(steps) == ["Start", "WaitForCheck", "Finish"]
    assert steps["Start"]["onFailure"] == steps["WaitForCheck"]["onFailure"] == "step:Finish"
    for name, handler in (("Start", rd.automation_start), ("Finish", rd.automation_finish)):
        inputs = steps[name]["inputs"]
        assert inputs["Script"] == component.DRILL_MODULE.read_text() and inputs["Handler"] == handler.__name__
        assert set(inputs["InputPayload"]["Scratch"]) == set(rd.OUTPUTS.values())
    (rule,) = by_type["AWS::Events::Rule"]
    assert rule["ScheduleExpression"] == "cron(0 5 1 * ? *)" and "automation-definition" in json.dumps(rule["Targets"])
    (alarm,) = by_type["AWS::CloudWatch::Alarm"]
    assert alarm["AlarmDescription"].startswith("P3 ") and alarm["MetricName"] == rd.METRIC_NAME
    assert alarm["AlarmDescription"].endswith("Runbook: docs/operations.md#restore-drill-failed")
    topic_ids = {s: stack.get_logical_id(topics.of(s).node.default_child) for s in SEVERITIES}  # type: ignore[arg-type]
    assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": topic_ids["P3"]}]
    assert alarm["Namespace"] == rd.METRIC_NAMESPACE == component.METRIC_NAMESPACE
    assert (component.MIRROR_SET_TAG, component.DRILL_TAG) == (rd.MIRROR_SET_TAG, rd.DRILL_TAG)
    (group,) = by_type["AWS::EC2::SecurityGroup"]
    assert "SecurityGroupIngress" not in group
    assert [(e["IpProtocol"], e["FromPort"], e["ToPort"]) for e in group["SecurityGroupEgress"]] == [("tcp", 443, 443)]


# --- iris/restore_check.sh on a stand-in host -----------------------------------------------------

DOCKER_STUB = r'''#!/usr/bin/env python3
"""docker as the check uses it: image inspect, rm -f, run -d (its -v mounts recorded), and exec into
IRIS's session, which reads ObjectScript until halt and answers the two statements the check sends."""
import json, os, re, sys
state_file = os.environ["STUB_STATE"]
state = json.load(open(state_file))
args = sys.argv[1:]
def save():
    json.dump(state, open(state_file, "w"))
if args[:2] == ["image", "inspect"] or args[:2] == ["rm", "-f"]:
    sys.exit(0)
if args[0] == "run":
    state["run"] = args
    state["mounts"] = [args[i + 1] for i, a in enumerate(args) if a == "-v"]
    save()
    sys.exit(0)
if args[0] == "exec" and args[3:] == ["iris", "session", "IRIS", "-U", "%SYS"]:
    lines = sys.stdin.read().splitlines()
    if "halt" not in lines:
        print("<SESSION ENDED WITHOUT HALT>", file=sys.stderr)
        sys.exit(1)
    status = None
    for line in lines[: lines.index("halt")]:
        if line == 'write "IRIS-"_"UP",!':
            print("IRIS-UP")
        elif m := re.fullmatch(r'set sc=\$\$CheckList\^Integrity\(,\$listbuild\((.*)\),0,,(-?\d+)\)', line):
            dirs = json.loads("[" + m.group(1) + "]")
            seen = {c: h for h, c in (v.split(":") for v in state["mounts"])}
            for d in dirs:
                inside = next((c for c in seen if d.startswith(c)), None)
                if inside is None or not os.path.isfile(seen[inside] + d[len(inside):] + "IRIS.DAT"):
                    print(f"<DIRECTORY NOT FOUND> {d}")
                    sys.exit(1)
            state["checked"] = dirs
            status = "ERRORS" if any(d.rstrip("/").rsplit("/", 1)[-1] in state["corrupt"] for d in dirs) else "OK"
        elif line.startswith("if 'sc do Display^Integrity"):
            if status == "ERRORS":
                print("Error in global ^DATA: block 1234 is damaged")
        elif line.startswith('write "IRIS_"_"INTEGRITY|"'):
            assert status is not None, "the verdict before the check"
            n = len(state["checked"])
            print(f"IRIS_INTEGRITY|{status}|{n}|" + ("ERROR #5000: integrity check errors" if status == "ERRORS" else ""))
        else:
            print(f"<SYNTAX> {line}")
            sys.exit(1)
    save()
    sys.exit(0)
print(f"docker stub: unexpected {args}", file=sys.stderr)
sys.exit(2)
'''


def stand_in_host(
    tmp_path: Any, *, formatted: bool = True, databases: tuple[str, ...] = ("hsdata",), corrupt: tuple[str, ...] = ()
) -> dict[str, str]:
    import os
    import stat

    from tests.stub_server import client

    bin_dir, dev, root = tmp_path / "bin", tmp_path / "dev", tmp_path / "iris"
    for d in (bin_dir, dev / "disk" / "by-id"):
        d.mkdir(parents=True)
    # docker, a Python stand-in, runs in the stub server: a Python start for each call would cost more.
    (bin_dir / "docker.py").write_text(DOCKER_STUB)
    client(bin_dir / "docker", str(bin_dir / "docker.py"))
    stubs = {
        "blkid": "#!/bin/sh\n" + ("echo xfs\n" if formatted else "exit 2\n"),
        "mountpoint": "#!/bin/sh\nexit 1\n",
        "mount": f'#!/bin/sh\necho "$@" >> {tmp_path}/mounts\n',
        "logger": "#!/bin/sh\nexit 0\n",
    }
    for name, text in stubs.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(stat.S_IRWXU)
    volumes = []
    for i, role in enumerate(rd.VOLUMES):
        volume_id = f"vol-0{i}23456789abcdef0"
        (dev / f"nvme{i + 1}n1").write_text("")
        (dev / "disk" / "by-id" / f"nvme-Amazon_Elastic_Block_Store_{volume_id.replace('-', '')}").symlink_to(
            dev / f"nvme{i + 1}n1"
        )
        volumes.append(f"{volume_id}:{root}/{rd.VOLUMES[role][1].rsplit('/', 1)[-1]}")
    for name in databases:  # what the restored database volume holds
        (root / "db" / "data" / name).mkdir(parents=True)
        (root / "db" / "data" / name / "IRIS.DAT").write_text("")
    (tmp_path / "state.json").write_text(json.dumps({"corrupt": list(corrupt)}))
    return {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "STUB_STATE": str(tmp_path / "state.json"),
        "VOLUMES": " ".join(volumes),
        "IMAGE": "000000000000.dkr.ecr.eu-west-1.amazonaws.com/iris@sha256:" + "a" * 64,
        "AWS_REGION": REGION,
        "IRIS_ROOT": str(root),
        "DEV_ROOT": str(dev),
        "WAIT_SECONDS": "1",
        "POLL_SECONDS": "1",
    }


def check_script(env: dict[str, str]) -> Any:
    import subprocess

    from components.restore_drill import CHECK_SCRIPT

    return subprocess.run(["bash", str(CHECK_SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    ("corrupt", "exit_code", "verdict"), [((), 0, "OK"), (("hsanalytics",), rd.INTEGRITY_ERRORS_EXIT, "ERRORS")]
)
def test_the_check_script_runs_checklist_on_every_restored_database(
    tmp_path: Any, corrupt: tuple[str, ...], exit_code: int, verdict: str
) -> None:
    env = stand_in_host(tmp_path, databases=("hsdata", "hsanalytics"), corrupt=corrupt)
    done = check_script(env)
    assert done.returncode == exit_code, done.stderr
    line = done.stdout.strip().splitlines()[-1]
    assert rd.verdict({"Status": "Success", "StandardOutputContent": done.stdout})[0] == verdict
    assert line.startswith(f"IRIS_INTEGRITY|{verdict}|2|")
    assert ("block 1234 is damaged" in done.stderr) == (verdict == "ERRORS")  # Display^Integrity's errors, for the report
    state = json.loads((tmp_path / "state.json").read_text())
    root = env["IRIS_ROOT"]
    assert sorted(state["checked"]) == [f"{root}/db/data/hsanalytics/", f"{root}/db/data/hsdata/"]
    assert "--network" in state["run"] and state["run"][state["run"].index("--network") + 1] == "none"
    assert state["mounts"] == [f"{root}/db/data:{root}/db/data"]  # no restored %SYS, journals or WIJ in IRIS
    assert len((tmp_path / "mounts").read_text().splitlines()) == len(rd.VOLUMES)


def test_the_check_script_never_formats_and_gives_no_verdict_on_a_blank_volume(tmp_path: Any) -> None:
    done = check_script(stand_in_host(tmp_path, formatted=False))
    assert done.returncode == 1 and "holds no file system" in done.stderr
    assert "IRIS_INTEGRITY" not in done.stdout and not (tmp_path / "mounts").exists()
    with pytest.raises(rd.DrillError, match="without a verdict"):
        rd.verdict({"Status": "Failed", "StandardOutputContent": done.stdout, "StandardErrorContent": done.stderr})


def test_the_check_script_refuses_a_volume_without_databases(tmp_path: Any) -> None:
    done = check_script(stand_in_host(tmp_path, databases=()))
    assert done.returncode == 1 and "no database (IRIS.DAT)" in done.stderr
    assert "run" not in json.loads((tmp_path / "state.json").read_text())
