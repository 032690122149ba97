"""Restore a mirror set's newest snapshot set on a scratch instance and check it with IRIS's ^Integrity.

    python -m ops restore-drill --mirror-set HSDB [--dry-run]

1. Find the newest complete DLM snapshot set of the set's backup member
   (snapshots tagged IrisMirrorSet=<the set's stack>, one per IRIS volume).
2. Create a volume from each in the scratch subnet's zone.
3. Start a scratch instance there: no mirror, in no target group, in a
   security group that admits nothing; attach the volumes where a member has them.
4. Run the set's integrity-check document on it (SSM): it mounts the volumes,
   starts IRIS with a %SYS of its own and runs CheckList^Integrity over every
   restored database directory (iris/restore_check.sh).
5. Report the result and the measured times, and tear the scratch instance and
   volumes down: always, also when a step fails or the run is interrupted.
   Leftovers of a run that could not clean up (the process was killed) carry
   the drill's tags, and the next run removes them first.

This module imports only the standard library and boto3, so that the
scheduled runbook (components/restore_drill.py) runs the same code.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

# Tags: the members' (components/fault_injection.py MIRROR_SET_TAG) and the volumes' own
# (components/iris_volume_set.py), which DLM copies onto the snapshots; the drill's on what it creates.
MIRROR_SET_TAG = "IrisMirrorSet"
MEMBER_TAG = "IrisMirrorMember"
VOLUME_ROLE_TAG = "IrisVolumeRole"
DRILL_TAG = "IrisRestoreDrill"
RUN_TAG = "IrisRestoreDrillRun"
DLM_TAG_PREFIX = "aws:dlm:"
# Where a member has each IRIS volume (config/constants.py IRIS_VOLUME_DEVICES and IRIS_MOUNT_POINTS;
# a test keeps them equal).
VOLUMES = {
    "database": ("/dev/sdf", "/iris/db"),
    "journal1": ("/dev/sdg", "/iris/jrn1"),
    "journal2": ("/dev/sdh", "/iris/jrn2"),
    "wij": ("/dev/sdi", "/iris/wij"),
}
# DLM snapshots one instance's volumes together; their start times lie within seconds.
SET_WINDOW = timedelta(minutes=10)
RESULT_TAG = "IRIS_INTEGRITY"
INTEGRITY_ERRORS_EXIT = 3
POLL_SECONDS = 5
RESOURCE_TIMEOUT_SECONDS = 900
SSM_ONLINE_TIMEOUT_SECONDS = 900
FINISHED = ("Success", "Failed", "Cancelled", "TimedOut", "Undeliverable", "Terminated")

# The stack outputs of the set's stack that name the scratch resources.
OUTPUTS = {
    "subnet_id": "RestoreDrillSubnet",
    "security_group_id": "RestoreDrillSecurityGroup",
    "instance_profile_arn": "RestoreDrillInstanceProfile",
    "document": "RestoreDrillDocument",
    "image_id": "RestoreDrillImage",
    "instance_type": "RestoreDrillInstanceType",
    "root_device": "RestoreDrillRootDevice",
    "root_volume_gib": "RestoreDrillRootVolumeGib",
    "key_arn": "RestoreDrillKey",
    "set_tag": "RestoreDrillSetTag",
}


class DrillError(Exception):
    """The drill could not run or did not finish; the message says where."""


@dataclass(frozen=True)
class Scratch:
    """Where the drill runs: the set stack's outputs (OUTPUTS)."""

    subnet_id: str
    security_group_id: str
    instance_profile_arn: str
    document: str
    image_id: str
    instance_type: str
    root_device: str
    root_volume_gib: str
    key_arn: str
    set_tag: str

    @classmethod
    def from_outputs(cls, outputs: dict[str, str]) -> Scratch:
        return cls(**{name: outputs[output] for name, output in OUTPUTS.items()})


@dataclass(frozen=True)
class SnapshotSet:
    """One DLM run's snapshots of one member: volume role -> snapshot id."""

    member: str
    started: datetime
    snapshots: dict[str, str]


@dataclass
class Created:
    """What this run has created so far, for the teardown."""

    run_id: str
    volumes: dict[str, str] = field(default_factory=dict)  # role -> volume id
    instance_id: str | None = None


@dataclass
class DrillReport:
    snapshot_set: SnapshotSet | None = None
    integrity: str | None = None  # OK, ERRORS, or None when the check never answered
    detail: str = ""
    restore_seconds: float | None = None
    check_seconds: float | None = None
    total_seconds: float | None = None
    failure: str | None = None
    left_behind: list[str] = field(default_factory=list)
    swept: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.integrity == "OK" and self.failure is None and not self.left_behind


def _tags(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def newest_snapshot_set(ec2: Any, set_tag: str) -> SnapshotSet:
    """The newest complete set of DLM snapshots of the set's members; DrillError if there is none."""
    pages = ec2.get_paginator("describe_snapshots").paginate(
        OwnerIds=["self"],
        Filters=[{"Name": f"tag:{MIRROR_SET_TAG}", "Values": [set_tag]}, {"Name": "status", "Values": ["completed"]}],
    )
    snapshots = [s for page in pages for s in page["Snapshots"] if any(k.startswith(DLM_TAG_PREFIX) for k in _tags(s))]
    if not snapshots:
        raise DrillError(
            f"no completed Data Lifecycle Manager snapshot tagged {MIRROR_SET_TAG}={set_tag}: has the snapshot policy run "
            "since the set was deployed (data.backup.schedule), and was the backup member frozen (the FreezeFailed alarm)?"
        )
    snapshots.sort(key=lambda s: s["StartTime"], reverse=True)
    newest = snapshots[0]
    member = _tags(newest).get(MEMBER_TAG, "?")
    chosen: dict[str, str] = {}
    for snapshot in snapshots:
        if _tags(snapshot).get(MEMBER_TAG, "?") != member or newest["StartTime"] - snapshot["StartTime"] > SET_WINDOW:
            continue
        role = _volume_role(ec2, snapshot)
        if role in VOLUMES:
            chosen.setdefault(role, snapshot["SnapshotId"])
    missing = [role for role in VOLUMES if role not in chosen]
    if missing:
        raise DrillError(
            f"the newest snapshot set of {set_tag} ({member}, {newest['StartTime']:%Y-%m-%d %H:%M} UTC) has no snapshot "
            f"of {', '.join(missing)}: a set must hold every IRIS volume to be restored"
        )
    return SnapshotSet(member=member, started=newest["StartTime"], snapshots=chosen)


def _volume_role(ec2: Any, snapshot: dict[str, Any]) -> str | None:
    """The IRIS volume a snapshot is of: its own tag, or (when DLM did not copy it) the source volume's."""
    role = _tags(snapshot).get(VOLUME_ROLE_TAG)
    if role is not None:
        return role
    try:
        volumes = ec2.describe_volumes(VolumeIds=[snapshot["VolumeId"]])["Volumes"]
    except ClientError:
        return None
    return _tags(volumes[0]).get(VOLUME_ROLE_TAG) if volumes else None


def _wait(what: str, ready: Callable[[], bool], sleep: Callable[[float], None], timeout: float) -> None:
    waited = 0.0
    while not ready():
        if waited >= timeout:
            raise DrillError(f"{what} did not happen within {int(timeout)} s")
        sleep(POLL_SECONDS)
        waited += POLL_SECONDS


def _drill_tags(scratch: Scratch, created: Created, name: str) -> list[dict[str, str]]:
    return [
        {"Key": DRILL_TAG, "Value": scratch.set_tag},
        {"Key": RUN_TAG, "Value": created.run_id},
        {"Key": "Name", "Value": f"{scratch.set_tag}-restore-drill-{name}"},
    ]


def restore(ec2: Any, scratch: Scratch, snapshot_set: SnapshotSet, created: Created, *, sleep: Callable[[float], None]) -> None:
    """Volumes from ``snapshot_set`` and a scratch instance with them attached; every id lands in ``created`` at once."""
    zone = ec2.describe_subnets(SubnetIds=[scratch.subnet_id])["Subnets"][0]["AvailabilityZone"]
    for role, snapshot in snapshot_set.snapshots.items():
        volume = ec2.create_volume(
            SnapshotId=snapshot,
            AvailabilityZone=zone,
            VolumeType="gp3",
            TagSpecifications=[{"ResourceType": "volume", "Tags": _drill_tags(scratch, created, role)}],
        )
        created.volumes[role] = volume["VolumeId"]

    def volumes_in(state: str) -> bool:
        found = ec2.describe_volumes(VolumeIds=list(created.volumes.values()))["Volumes"]
        return all(v["State"] == state for v in found)

    _wait("the restored volumes becoming available", lambda: volumes_in("available"), sleep, RESOURCE_TIMEOUT_SECONDS)
    reservation = ec2.run_instances(
        ImageId=scratch.image_id,
        InstanceType=scratch.instance_type,
        MinCount=1,
        MaxCount=1,
        SubnetId=scratch.subnet_id,
        SecurityGroupIds=[scratch.security_group_id],
        IamInstanceProfile={"Arn": scratch.instance_profile_arn},
        MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 1},
        BlockDeviceMappings=[
            {
                "DeviceName": scratch.root_device,
                "Ebs": {
                    "Encrypted": True,
                    "KmsKeyId": scratch.key_arn,
                    "DeleteOnTermination": True,
                    "VolumeType": "gp3",
                    "VolumeSize": int(scratch.root_volume_gib),
                },
            }
        ],
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": _drill_tags(scratch, created, "instance")},
            {"ResourceType": "volume", "Tags": _drill_tags(scratch, created, "root")},
        ],
    )
    created.instance_id = instance_id = reservation["Instances"][0]["InstanceId"]

    def instance_running() -> bool:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        return reservations[0]["Instances"][0]["State"]["Name"] == "running"

    _wait(f"the scratch instance {instance_id} running", instance_running, sleep, RESOURCE_TIMEOUT_SECONDS)
    for role, volume_id in created.volumes.items():
        ec2.attach_volume(Device=VOLUMES[role][0], InstanceId=instance_id, VolumeId=volume_id)
    _wait("the restored volumes attaching", lambda: volumes_in("in-use"), sleep, RESOURCE_TIMEOUT_SECONDS)


def wait_for_ssm(ssm: Any, instance_id: str, *, sleep: Callable[[float], None]) -> None:
    def online() -> bool:
        found = ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [instance_id]}])
        return any(i.get("PingStatus") == "Online" for i in found.get("InstanceInformationList", []))

    _wait(f"the SSM agent of {instance_id} coming online", online, sleep, SSM_ONLINE_TIMEOUT_SECONDS)


def send_check(ssm: Any, scratch: Scratch, created: Created, *, timeout_seconds: int) -> str:
    """Start the integrity-check document on the scratch instance; its command id."""
    assert created.instance_id is not None
    mounts = " ".join(f"{volume_id}:{VOLUMES[role][1]}" for role, volume_id in created.volumes.items())
    return str(
        ssm.send_command(
            InstanceIds=[created.instance_id],
            DocumentName=scratch.document,
            Parameters={"volumes": [mounts]},
            TimeoutSeconds=timeout_seconds,
            Comment=f"restore drill {created.run_id}: ^Integrity on the restored volumes",
        )["Command"]["CommandId"]
    )


def verdict(result: dict[str, Any]) -> tuple[str, str]:
    """(OK or ERRORS, the result line) from a finished invocation of the check; DrillError without one."""
    output = str(result.get("StandardOutputContent", ""))
    for line in output.splitlines():
        fields = line.strip().split("|", 3)
        if fields[0] == RESULT_TAG and len(fields) >= 3 and fields[1] in ("OK", "ERRORS"):
            reported = str(result.get("StandardErrorContent", "")).strip()[-500:] if fields[1] == "ERRORS" else ""
            return fields[1], line.strip() + (f"; reported: {reported}" if reported else "")
    error = str(result.get("StandardErrorContent", "")).strip()[-500:]
    raise DrillError(
        f"the integrity check ended {result.get('Status')} without a verdict ({RESULT_TAG}|...): {error or output[-500:]}"
    )


def check(
    ssm: Any, scratch: Scratch, created: Created, *, timeout_seconds: int, sleep: Callable[[float], None]
) -> tuple[str, str]:
    """Run the integrity-check document and wait for it; (OK or ERRORS, what it said). DrillError without a verdict."""
    command = send_check(ssm, scratch, created, timeout_seconds=timeout_seconds)
    result: dict[str, Any] = {}

    def finished() -> bool:
        nonlocal result
        try:
            result = ssm.get_command_invocation(CommandId=command, InstanceId=created.instance_id)
        except ClientError as err:
            if err.response["Error"]["Code"] == "InvocationDoesNotExist":
                return False  # not registered yet
            raise
        return result["Status"] in FINISHED

    _wait(f"the integrity check on {created.instance_id}", finished, sleep, timeout_seconds + SSM_ONLINE_TIMEOUT_SECONDS)
    return verdict(result)


def teardown(ec2: Any, instance_ids: list[str], volume_ids: list[str], *, sleep: Callable[[float], None]) -> list[str]:
    """Terminate the instances, then delete the volumes; what could not be removed (empty when all is gone)."""
    problems: list[str] = []
    if instance_ids:
        try:
            ec2.terminate_instances(InstanceIds=instance_ids)

            def terminated() -> bool:
                reservations = ec2.describe_instances(InstanceIds=instance_ids)["Reservations"]
                return all(i["State"]["Name"] == "terminated" for r in reservations for i in r["Instances"])

            _wait("the scratch instance terminating", terminated, sleep, RESOURCE_TIMEOUT_SECONDS)
        except (ClientError, DrillError) as err:
            problems.append(f"instance {', '.join(instance_ids)}: {err}")
    for volume_id in volume_ids:

        def detached(volume_id: str = volume_id) -> bool:
            return _volume_state(ec2, volume_id) in ("available", "deleted")

        try:
            _wait(f"volume {volume_id} detaching", detached, sleep, RESOURCE_TIMEOUT_SECONDS)
            if _volume_state(ec2, volume_id) != "deleted":
                ec2.delete_volume(VolumeId=volume_id)
        except (ClientError, DrillError) as err:
            problems.append(f"volume {volume_id}: {err}")
    return problems


def _volume_state(ec2: Any, volume_id: str) -> str:
    try:
        return str(ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["State"])
    except ClientError as err:
        if err.response["Error"]["Code"] == "InvalidVolume.NotFound":
            return "deleted"
        raise


def leftovers(ec2: Any, set_tag: str, run_id: str | None = None) -> tuple[list[str], list[str]]:
    """Instances and volumes an earlier drill of this set (or only run ``run_id``) left behind (its tags on them)."""
    tag = [{"Name": f"tag:{RUN_TAG if run_id else DRILL_TAG}", "Values": [run_id or set_tag]}]
    reservations = ec2.describe_instances(
        Filters=[*tag, {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
    )["Reservations"]
    instances = [i["InstanceId"] for r in reservations for i in r["Instances"]]
    volumes = [v["VolumeId"] for v in ec2.describe_volumes(Filters=tag)["Volumes"]]
    return instances, volumes


@contextmanager
def scratch_resources(ec2: Any, created: Created, report: DrillReport, *, sleep: Callable[[float], None]) -> Iterator[Created]:
    """``created``, torn down when the block ends however it ends (an exception, Ctrl-C)."""
    try:
        yield created
    finally:
        instances = [created.instance_id] if created.instance_id else []
        report.left_behind = teardown(ec2, instances, list(created.volumes.values()), sleep=sleep)


def run(
    ec2: Any,
    ssm: Any,
    scratch: Scratch,
    *,
    timeout_seconds: int,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    out: Callable[[str], None] = print,
    run_id: str | None = None,
) -> DrillReport:
    """The whole drill; the report says how it went (it raises only what the teardown did not catch: nothing)."""
    report = DrillReport()
    started = clock()
    old_instances, old_volumes = leftovers(ec2, scratch.set_tag)
    if old_instances or old_volumes:
        out(f"removing what an earlier drill left behind: {', '.join(old_instances + old_volumes)}")
        report.left_behind = teardown(ec2, old_instances, old_volumes, sleep=sleep)
        report.swept = old_instances + old_volumes
        if report.left_behind:
            report.failure = "an earlier drill's resources could not be removed"
            return report
    created = Created(run_id=run_id or uuid.uuid4().hex[:12])
    try:
        with scratch_resources(ec2, created, report, sleep=sleep):
            report.snapshot_set = snapshot_set = newest_snapshot_set(ec2, scratch.set_tag)
            out(
                f"1. newest snapshot set: {snapshot_set.member}, {snapshot_set.started:%Y-%m-%d %H:%M} UTC: "
                + ", ".join(f"{role} {sid}" for role, sid in snapshot_set.snapshots.items())
            )
            out(f"2. restoring it on a scratch {scratch.instance_type} in {scratch.subnet_id} (run {created.run_id})")
            restore(ec2, scratch, snapshot_set, created, sleep=sleep)
            assert created.instance_id is not None
            wait_for_ssm(ssm, created.instance_id, sleep=sleep)
            report.restore_seconds = clock() - started
            out(f"   restored and reachable through SSM after {report.restore_seconds:.0f} s: {created.instance_id}")
            out("3. running ^Integrity (CheckList^Integrity) on the restored databases")
            check_started = clock()
            report.integrity, report.detail = check(ssm, scratch, created, timeout_seconds=timeout_seconds, sleep=sleep)
            report.check_seconds = clock() - check_started
            out(f"   {report.detail}")
            out("4. tearing the scratch instance and volumes down")
    except DrillError as err:
        report.failure = str(err)
    except ClientError as err:
        report.failure = f"AWS: {err}"
    report.total_seconds = clock() - started
    return report


def summary(report: DrillReport, set_tag: str) -> list[str]:
    def s(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f} s"

    verdict = {"OK": "passed", "ERRORS": "FOUND ERRORS"}.get(report.integrity or "", "gave no verdict")
    lines = [
        f"restore drill of {set_tag}: integrity check {verdict}",
        f"  measured restore time (snapshot to a reachable instance with the volumes): {s(report.restore_seconds)}",
        f"  integrity check: {s(report.check_seconds)}; whole drill with teardown: {s(report.total_seconds)}",
    ]
    if report.failure:
        lines.append(f"  FAILED: {report.failure}")
    lines.append(
        "  LEFT BEHIND (remove by hand, or run the drill again): " + "; ".join(report.left_behind)
        if report.left_behind
        else "  scratch resources: all removed"
    )
    return lines


def from_cli(args: Any, settings: Any, session_factory: Callable[..., Any], *, out: Callable[[str], None] = print) -> int:
    """``python -m ops restore-drill``: 0 the check passed, 1 it found errors or the drill failed, 2 refused."""
    from ops.aws import CliError, stack_outputs  # the CLI's, not the runbook's

    names = [m.name for m in settings.data.mirror_sets]
    if args.mirror_set not in names:
        raise CliError(f"no mirror set {args.mirror_set} in profile {settings.profile}: {', '.join(names)}", 2)
    session = session_factory(profile_name=args.aws_profile, region_name=settings.region)
    stack = f"{settings.prefix}-Mirror-{args.mirror_set}"
    outputs = stack_outputs(session.client("cloudformation"), stack, tuple(OUTPUTS.values()), "deploy that stack first")
    scratch = Scratch.from_outputs(outputs)
    ec2, ssm = session.client("ec2"), session.client("ssm")
    timeout = 60 * (args.timeout_minutes or settings.data.restore_drill.timeout_minutes)
    if args.dry_run:
        try:
            snapshot_set = newest_snapshot_set(ec2, scratch.set_tag)
        except DrillError as err:
            raise CliError(str(err)) from None
        old_instances, old_volumes = leftovers(ec2, scratch.set_tag)
        for line in (
            "dry run: nothing is created. The drill would:",
            f"  restore {snapshot_set.member}'s snapshot set of {snapshot_set.started:%Y-%m-%d %H:%M} UTC: "
            + ", ".join(f"{role} {sid}" for role, sid in snapshot_set.snapshots.items()),
            f"  as gp3 volumes on a scratch {scratch.instance_type} ({scratch.image_id}) in {scratch.subnet_id}, "
            f"security group {scratch.security_group_id} (nothing in), in no target group and no mirror",
            f"  run {scratch.document} (CheckList^Integrity) with a {timeout // 60}-minute limit, then remove all of it",
            *(
                [f"  first remove what an earlier drill left behind: {', '.join(old_instances + old_volumes)}"]
                if old_instances or old_volumes
                else []
            ),
        ):
            out(line)
        return 0
    report = run(ec2, ssm, scratch, timeout_seconds=timeout, out=out)
    for line in summary(report, scratch.set_tag):
        out(line)
    return 0 if report.ok else 1


# --- the scheduled runbook (components/restore_drill.py RestoreDrillSchedule) -----------------
# SSM Automation runs each aws:executeScript step's handler with the step's input payload; an
# exception fails the step. Start may take at most the step's 600 s; the check's wait is the
# runbook's own step, and Finish runs after a failure too.

METRIC_NAMESPACE = "IRIS/RestoreDrill"
METRIC_NAME = "DrillFailed"


def _clients() -> tuple[Any, Any, Any]:
    import boto3

    return boto3.client("ec2"), boto3.client("ssm"), boto3.client("cloudwatch")


def automation_start(events: dict[str, Any], context: Any) -> dict[str, Any]:
    """Step Start: remove leftovers, restore the newest set, start the check; the ids for the next steps."""
    ec2, ssm, _ = _clients()
    scratch = Scratch.from_outputs(events["Scratch"])
    old_instances, old_volumes = leftovers(ec2, scratch.set_tag)
    if problems := teardown(ec2, old_instances, old_volumes, sleep=time.sleep):
        raise DrillError(f"an earlier drill's resources could not be removed: {'; '.join(problems)}")
    created = Created(run_id=events["RunId"])
    snapshot_set = newest_snapshot_set(ec2, scratch.set_tag)
    restore(ec2, scratch, snapshot_set, created, sleep=time.sleep)
    assert created.instance_id is not None
    wait_for_ssm(ssm, created.instance_id, sleep=time.sleep)
    command = send_check(ssm, scratch, created, timeout_seconds=int(events["TimeoutSeconds"]))
    return {
        "InstanceId": created.instance_id,
        "CommandId": command,
        "SnapshotSet": f"{snapshot_set.member} {snapshot_set.started}",
    }


def automation_finish(events: dict[str, Any], context: Any) -> dict[str, Any]:
    """Step Finish (after a failed step too): the verdict, this run's teardown, and the metric the P3 alarm reads."""
    ec2, ssm, cloudwatch = _clients()
    scratch = Scratch.from_outputs(events["Scratch"])
    instances, volumes = leftovers(ec2, scratch.set_tag, events["RunId"])
    failure: str | None = None
    detail = ""
    left: list[str] = []
    try:
        if not instances:
            raise DrillError("the Start step made no scratch instance: see its output in the execution")
        invocations = ssm.list_command_invocations(
            InstanceId=instances[0], Filters=[{"key": "DocumentName", "value": scratch.document}]
        )["CommandInvocations"]
        if not invocations:
            raise DrillError("the integrity check was never sent: see the Start step's output")
        result = ssm.get_command_invocation(CommandId=invocations[0]["CommandId"], InstanceId=instances[0])
        integrity, detail = verdict(result)
        if integrity != "OK":
            failure = detail
    except (DrillError, ClientError) as err:
        failure = str(err)
    finally:
        left = teardown(ec2, instances, volumes, sleep=time.sleep)
        failed = failure is not None or bool(left)
        cloudwatch.put_metric_data(
            Namespace=METRIC_NAMESPACE,
            MetricData=[
                {"MetricName": METRIC_NAME, "Dimensions": [{"Name": "MirrorSet", "Value": scratch.set_tag}], "Value": int(failed)}
            ],
        )
    if failed:
        raise DrillError("; ".join([failure or "the drill failed", *(f"left behind: {p}" for p in left)]))
    return {"Result": detail}
