"""The backup scripts run for real with bash, against stubs that behave like
the tools they call: `iris session` (ObjectScript on stdin until `halt`, or one
routine whose halt status is the exit status), the AWS CLI, IMDSv2 through
curl, and logger; then what the data tier's template holds for backups: the
members' tagging permission, the timer in their user data, the alarms."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from components import log_queries
from components.iris_host import HOST_SCRIPTS
from components.snapshot_backup import (
    BACKUP_ROLE_PATH,
    SYSTEMD_DIR,
    SnapshotBackup,
    backup_role_commands,
    backup_role_units,
    schedule_window,
)
from config import constants as c
from tests.conftest import ROOT, Synthesized
from tests.stub_server import client
from tests.templates import props, render, resources, severity_of, severity_topic

FREEZE_THAW = ROOT / "iris" / "freeze_thaw.sh"
BACKUP_ROLE = ROOT / "iris" / "backup_role.sh"
INSTANCE_ID = "i-0123456789abcdef0"
TOKEN = "AQAEAKJ-imds-token=="
TAG = ("IrisBackup", "Iris-DataTier")

# `iris`: the state file holds the member's mirror role (primary | backup |
# none) or "down". With no routine, the session prints IRIS's banner, then a
# prompt per line read from stdin, evaluates `write` of string literals,
# $SYSTEM.Mirror.IsPrimary()/IsBackup() and `!`, and ends at `halt`; an
# unknown function is an <UNDEFINED> error, as in IRIS. With a routine, it
# exits with the status the routine halts with: ExternalFreeze and
# ExternalThaw with $FREEZE_STATUS / $THAW_STATUS (default 5, which also
# freezes or thaws), IsWDSuspendedExt with 5 while frozen.
IRIS_STUB = r"""#!{python}
import os, re, sys
state_file = os.environ["IRIS_STATE"]
frozen = state_file + ".frozen"
with open(os.environ["IRIS_CALLS"], "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\n")
state = open(state_file).read().strip()
if sys.argv[1:4] != ["session", "IRIS", "-U"] or sys.argv[4:5] != ["%SYS"]:
    print("usage: iris session INSTANCE -U NAMESPACE [routine]", file=sys.stderr)
    sys.exit(2)
if state == "down":
    print("Startup of InterSystems IRIS IRIS is not complete: IRIS is down", file=sys.stderr)
    sys.exit(1)
if len(sys.argv) > 5:
    routine = sys.argv[5]
    if routine == "##Class(Backup.General).ExternalFreeze()":
        status = int(os.environ.get("FREEZE_STATUS", "5"))
        if status == 5:
            open(frozen, "w").close()
    elif routine == "##Class(Backup.General).ExternalThaw()":
        status = int(os.environ.get("THAW_STATUS", "5"))
        if status == 5 and os.path.exists(frozen):
            os.remove(frozen)
    elif routine == "##Class(Backup.General).IsWDSuspendedExt()":
        status = 5 if os.path.exists(frozen) else 1
    else:
        status = 1
    sys.exit(status)
values = {"$SYSTEM.Mirror.IsPrimary()": int(state == "primary"), "$SYSTEM.Mirror.IsBackup()": int(state == "backup")}
print("\nNode: member1, Instance: IRIS\n")
stdin_log = open(os.environ["IRIS_CALLS"] + ".stdin", "a")
for line in sys.stdin:
    stdin_log.write(line)
    sys.stdout.write("%SYS>")
    command = line.strip()
    if command == "halt":
        sys.exit(0)
    if not command.startswith("write "):
        print("\n<SYNTAX>")
        continue
    out = []
    for item in re.findall(r'"[^"]*"|[^,]+', command[len("write "):]):
        if item.startswith('"'):
            out.append(item[1:-1])
        elif item == "!":
            out.append("\n")
        elif item in values:
            out.append(str(values[item]))
        else:
            out = ["\n<UNDEFINED> " + item + "\n"]
            break
    sys.stdout.write("".join(out))
sys.exit(0)
"""

# `curl`: IMDSv2. A PUT to /latest/api/token with a TTL header returns the
# token; a GET of meta-data needs that token in its header, else 401 (curl -f:
# exit 22). $IMDS_DOWN makes every call fail to connect (exit 7).
CURL_STUB = r"""#!{python}
import os, sys
args = sys.argv[1:]
with open(os.environ["CURL_CALLS"], "a") as log:
    log.write(" ".join(args) + "\n")
if os.environ.get("IMDS_DOWN"):
    sys.exit(7)
method, headers, url = "GET", [], None
i = 0
while i < len(args):
    if args[i] == "-X":
        method = args[i + 1]; i += 2
    elif args[i] == "-H":
        headers.append(args[i + 1]); i += 2
    elif args[i] == "--max-time":
        i += 2
    elif args[i].startswith("-"):
        i += 1
    else:
        url = args[i]; i += 1
token = os.environ["IMDS_TOKEN"]
base = "http://169.254.169.254"
if url == base + "/latest/api/token":
    if method != "PUT" or not any(h.startswith("X-aws-ec2-metadata-token-ttl-seconds:") for h in headers):
        sys.exit(22)
    sys.stdout.write(token)
    sys.exit(0)
if "X-aws-ec2-metadata-token: " + token not in headers:
    sys.exit(22)
answers = {"instance-id": os.environ["IMDS_INSTANCE_ID"], "placement/region": "eu-west-1"}
path = (url or "").removeprefix(base + "/latest/meta-data/")
if path not in answers:
    sys.exit(22)
sys.stdout.write(answers[path])
"""

# `aws`: records each call; $AWS_FAIL makes it fail like an access denial.
AWS_STUB = r"""#!/bin/bash
echo "$*" >> "$AWS_CALLS"
if [ -n "${AWS_FAIL:-}" ]; then
  echo "An error occurred (UnauthorizedOperation) when calling the $2 operation: You are not authorized." >&2
  exit 254
fi
"""

# `logger -t TAG [-p PRIO] -- message`: one line per message in $SYSLOG.
LOGGER_STUB = r"""#!/bin/bash
tag=""
while [ $# -gt 0 ]; do
  case "$1" in -t) tag="$2"; shift 2 ;; -p) shift 2 ;; --) shift; break ;; *) break ;; esac
done
echo "$tag: $*" >> "$SYSLOG"
"""


def write_stub(bin_dir: Path, name: str, body: str) -> None:
    """``body`` as the command ``name``. A Python stub (``#!{python}``) is run by the test process's
    stub server (tests/stub_server.py): a Python start for each call would cost far more."""
    path = bin_dir / name
    if body.startswith("#!{python}\n"):
        script = bin_dir / f"{name}.py"
        script.write_text(body.removeprefix("#!{python}\n"))
        client(path, str(script))
        return
    path.write_text(body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


class Member:
    """One failover member's host: its IRIS, its instance metadata, the AWS CLI and syslog."""

    def __init__(self, root: Path) -> None:
        self.root = root
        bin_dir = root / "bin"
        bin_dir.mkdir()
        for name, body in (("iris", IRIS_STUB), ("curl", CURL_STUB), ("aws", AWS_STUB), ("logger", LOGGER_STUB)):
            write_stub(bin_dir, name, body)
        self.state = root / "iris.state"
        self.role = "backup"
        self.env = {
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "IRIS_STATE": str(self.state),
            "IRIS_CALLS": str(root / "iris.calls"),
            "CURL_CALLS": str(root / "curl.calls"),
            "AWS_CALLS": str(root / "aws.calls"),
            "SYSLOG": str(root / "syslog"),
            "FREEZE_THAW_LOG": str(root / "freeze-thaw.log"),
            "IMDS_TOKEN": TOKEN,
            "IMDS_INSTANCE_ID": INSTANCE_ID,
            "IRIS_INSTANCE": "IRIS",
        }

    @property
    def role(self) -> str:
        return self.state.read_text()

    @role.setter
    def role(self, value: str) -> None:
        self.state.write_text(value)

    @property
    def frozen(self) -> bool:
        return Path(f"{self.state}.frozen").exists()

    def lines(self, name: str) -> list[str]:
        path = self.root / name
        return path.read_text().splitlines() if path.exists() else []

    def run(self, script: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", str(script), *args], env={**self.env, **env}, capture_output=True, text=True, timeout=60)


@pytest.fixture
def member(tmp_path: Path) -> Member:
    return Member(tmp_path)


# --- the stubs behave like the tools -----------------------------------------


def test_iris_stub_answers_objectscript_until_halt_like_a_session(member: Member) -> None:
    member.role = "primary"
    run = subprocess.run(
        ["iris", "session", "IRIS", "-U", "%SYS"],
        input='write "R|",$SYSTEM.Mirror.IsPrimary(),"|",$SYSTEM.Mirror.IsBackup(),!\nhalt\nwrite "after halt",!\n',
        env=member.env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "%SYS>R|1|0\n" in run.stdout
    assert "after halt" not in run.stdout


def test_imds_stub_refuses_metadata_without_the_session_token(member: Member) -> None:
    url = "http://169.254.169.254/latest/meta-data/instance-id"
    without = subprocess.run(["curl", "-sf", url], env=member.env, capture_output=True, text=True)
    assert without.returncode == 22 and without.stdout == ""
    token = subprocess.run(
        [
            "curl",
            "-sf",
            "-X",
            "PUT",
            "-H",
            "X-aws-ec2-metadata-token-ttl-seconds: 300",
            "http://169.254.169.254/latest/api/token",
        ],
        env=member.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    with_token = subprocess.run(
        ["curl", "-sf", "-H", f"X-aws-ec2-metadata-token: {token}", url], env=member.env, capture_output=True, text=True
    )
    assert with_token.stdout == INSTANCE_ID


# --- backup_role.sh: the target tag follows the backup role ------------------


def run_backup_role(member: Member, script: Path = BACKUP_ROLE, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        "BACKUP_TAG_KEY": TAG[0],
        "BACKUP_TAG_VALUE": TAG[1],
        "STATE_DIR": str(member.root / "run"),
        "AWS_REGION": "eu-west-1",
        **env,
    }
    return member.run(script, **environment)


def test_the_backup_tags_its_own_instance(member: Member) -> None:
    member.role = "backup"
    run = run_backup_role(member)
    assert run.returncode == 0, run.stderr
    assert member.lines("aws.calls") == [
        f"ec2 create-tags --region eu-west-1 --resources {INSTANCE_ID} --tags Key=IrisBackup,Value=Iris-DataTier"
    ]
    assert member.lines("syslog") == [
        f"iris-backup-role: tagged {INSTANCE_ID} IrisBackup=Iris-DataTier: this member is the mirror's backup, "
        "so the snapshot policy targets it"
    ]
    # IMDSv2: the token first, then the instance id with it.
    token_call, id_call = member.lines("curl.calls")
    assert token_call.startswith("-sf --max-time 2 -X PUT -H X-aws-ec2-metadata-token-ttl-seconds: 300")
    assert id_call.endswith(f"X-aws-ec2-metadata-token: {TOKEN} http://169.254.169.254/latest/meta-data/instance-id")
    # IRIS was asked through a session that ends with halt.
    assert member.lines("iris.calls") == ["session IRIS -U %SYS"]
    assert member.lines("iris.calls.stdin")[-1] == "halt"


def test_the_primary_loses_the_tag(member: Member) -> None:
    member.role = "primary"
    run = run_backup_role(member)
    assert run.returncode == 0, run.stderr
    assert member.lines("aws.calls") == [f"ec2 delete-tags --region eu-west-1 --resources {INSTANCE_ID} --tags Key=IrisBackup"]
    assert member.lines("syslog") == [
        f"iris-backup-role: removed IrisBackup from {INSTANCE_ID}: this member is the mirror's primary, "
        "so the snapshot policy skips it"
    ]


def test_a_member_that_is_neither_primary_nor_backup_is_untagged(member: Member) -> None:
    member.role = "none"
    assert run_backup_role(member).returncode == 0
    assert member.lines("aws.calls") == [f"ec2 delete-tags --region eu-west-1 --resources {INSTANCE_ID} --tags Key=IrisBackup"]
    assert "neither primary nor backup" in member.lines("syslog")[0]


def test_a_repeat_with_the_same_role_calls_nothing_and_logs_nothing(member: Member) -> None:
    member.role = "backup"
    assert run_backup_role(member).returncode == 0
    for _ in range(3):
        again = run_backup_role(member)
        assert again.returncode == 0, again.stderr
    assert len(member.lines("aws.calls")) == 1
    assert len(member.lines("curl.calls")) == 2  # token and instance id, once
    assert len(member.lines("syslog")) == 1


def test_a_failover_moves_the_tag(member: Member) -> None:
    member.role = "backup"
    run_backup_role(member)
    member.role = "primary"  # this member took over
    run_backup_role(member)
    member.role = "backup"  # and later rejoined as backup
    run_backup_role(member)
    assert [call.split()[1] for call in member.lines("aws.calls")] == ["create-tags", "delete-tags", "create-tags"]
    assert len(member.lines("syslog")) == 3


def test_iris_not_answering_leaves_the_tag_and_says_why_once(member: Member) -> None:
    member.role = "backup"
    run_backup_role(member)
    member.role = "down"
    for _ in range(3):
        run = run_backup_role(member)
        assert run.returncode == 0, run.stderr
    assert len(member.lines("aws.calls")) == 1  # the tag as it was: no delete
    assert member.lines("syslog")[1:] == [
        "iris-backup-role: IRIS instance IRIS did not answer; the IrisBackup tag stays as it is "
        "(the freeze script refuses unless IRIS says this member is the backup)"
    ]
    member.role = "primary"
    run_backup_role(member)
    assert member.lines("syslog")[-2:] == [
        "iris-backup-role: IRIS instance IRIS answers again (mirror role: primary)",
        f"iris-backup-role: removed IrisBackup from {INSTANCE_ID}: this member is the mirror's primary, "
        "so the snapshot policy skips it",
    ]


def test_iris_answering_garbage_counts_as_not_answering(member: Member, tmp_path: Path) -> None:
    # A session that prints an error instead of the role line: no tag change.
    write_stub(tmp_path / "bin", "iris", '#!/bin/bash\ncat >/dev/null; echo "<PROTECT> %SYSTEM.Mirror"; exit 0\n')
    run = run_backup_role(member)
    assert run.returncode == 0
    assert member.lines("aws.calls") == []
    assert "did not answer" in member.lines("syslog")[0]


def test_a_failed_tag_call_is_retried_on_the_next_run(member: Member) -> None:
    member.role = "backup"
    failed = run_backup_role(member, AWS_FAIL="1")
    assert failed.returncode == 1
    assert "could not tag" in failed.stderr and "UnauthorizedOperation" in failed.stderr
    assert run_backup_role(member).returncode == 0
    assert [call.split()[1] for call in member.lines("aws.calls")] == ["create-tags", "create-tags"]


def test_no_instance_metadata_changes_nothing(member: Member) -> None:
    run = run_backup_role(member, IMDS_DOWN="1")
    assert run.returncode == 1
    assert "instance metadata service" in run.stderr
    assert member.lines("aws.calls") == []


def test_the_region_comes_from_instance_metadata_without_aws_region(member: Member) -> None:
    run = run_backup_role(member, AWS_REGION="")
    assert run.returncode == 0, run.stderr
    assert member.lines("aws.calls")[0].startswith("ec2 create-tags --region eu-west-1 ")


def test_the_installed_units_run_the_script_at_boot_and_every_minute() -> None:
    units = backup_role_units(target_tag=TAG)
    assert BACKUP_ROLE_PATH not in units  # the script comes with the host files, whole
    assert HOST_SCRIPTS["backup_role.sh"] == BACKUP_ROLE_PATH
    service, mode = units[f"{SYSTEMD_DIR}/iris-backup-role.service"]
    assert mode == "0644"
    assert f"ExecStart={BACKUP_ROLE_PATH}" in service.splitlines()
    assert "Environment=BACKUP_TAG_KEY=IrisBackup" in service.splitlines()
    assert "Environment=BACKUP_TAG_VALUE=Iris-DataTier" in service.splitlines()
    assert "EnvironmentFile=-/etc/iris-aws/member.env" in service.splitlines()
    timer, _ = units[f"{SYSTEMD_DIR}/iris-backup-role.timer"]
    assert {"OnBootSec=30s", "OnUnitActiveSec=1min", "WantedBy=timers.target"} <= set(timer.splitlines())


def test_the_user_data_commands_write_the_files_and_start_the_timer(tmp_path: Path) -> None:
    # Run the commands for real with bash, in a scratch root, systemctl recorded.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    write_stub(bin_dir, "systemctl", '#!/bin/bash\necho "$*" >> "$SYSTEMCTL_CALLS"\n')
    root = tmp_path / "root"
    script = "\n".join(backup_role_commands(target_tag=TAG))
    for prefix in ("/usr/local/sbin", SYSTEMD_DIR):
        script = script.replace(f" {prefix}", f" {root}{prefix}")
    run = subprocess.run(
        ["bash", "-e", "-c", script],
        env={"PATH": f"{bin_dir}:{os.environ['PATH']}", "SYSTEMCTL_CALLS": str(tmp_path / "systemctl")},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    for path, (text, _) in backup_role_units(target_tag=TAG).items():
        assert (root / path.lstrip("/")).read_text() == text.rstrip("\n") + "\n"
    assert (tmp_path / "systemctl").read_text().splitlines() == [
        "daemon-reload",
        "enable --now iris-backup-role.timer",
        "start --no-block iris-backup-role.service",
    ]


# --- freeze_thaw.sh: only the backup freezes; a failed freeze thaws ----------


def run_freeze_thaw(member: Member, command: str, **env: str) -> subprocess.CompletedProcess[str]:
    return member.run(FREEZE_THAW, DLM_COMMAND=command, **env)


def routines(member: Member) -> list[str]:
    """The Backup.General methods called, in order."""
    return [call.split(".")[-1] for call in member.lines("iris.calls") if "Backup.General" in call]


def test_freeze_on_the_backup_freezes_then_the_post_script_thaws(member: Member) -> None:
    member.role = "backup"
    pre = run_freeze_thaw(member, "pre-script")
    assert pre.returncode == 0, pre.stderr
    assert member.frozen
    assert member.lines("iris.calls")[0] == "session IRIS -U %SYS"  # the role, asked first
    post = run_freeze_thaw(member, "post-script")
    assert post.returncode == 0, post.stderr
    assert not member.frozen
    assert routines(member) == ["ExternalFreeze()", "ExternalThaw()"]
    assert member.lines("syslog") == [
        "iris-freeze-thaw: iris IRIS: frozen on the backup member for the snapshot",
        "iris-freeze-thaw: iris IRIS: thawed after the snapshot",
    ]


@pytest.mark.parametrize(
    ("role", "why"),
    [
        ("primary", "this member is the mirror's primary, and a freeze would stall its writes"),
        ("none", "this member is not the mirror's backup"),
        ("down", "IRIS did not say whether this member is the mirror's backup"),
    ],
)
def test_freeze_anywhere_but_on_the_backup_is_refused_and_logged(member: Member, role: str, why: str) -> None:
    member.role = role
    run = run_freeze_thaw(member, "pre-script")
    assert run.returncode == 206  # DLM's "application not ready": no snapshot of this instance
    assert routines(member) == []  # never frozen
    assert not member.frozen
    line = f"iris IRIS: refusing to freeze: {why}; DLM takes no snapshot of it"
    assert run.stderr.strip() == line
    assert member.lines("syslog") == [f"iris-freeze-thaw: {line}"]


@pytest.mark.parametrize(
    ("status", "what"), [(c.IRIS_EXTERNAL_FREEZE_FAILED, "failed (status 3)"), (1, "returned unexpected status 1")]
)
def test_a_failed_freeze_is_thawed_and_fails_the_pre_script(member: Member, status: int, what: str) -> None:
    member.role = "backup"
    run = run_freeze_thaw(member, "pre-script", FREEZE_STATUS=str(status))
    assert run.returncode == 201
    assert routines(member) == ["ExternalFreeze()", "ExternalThaw()"]
    assert f"ExternalFreeze {what}; thawing, and DLM takes no snapshot" in run.stderr
    assert member.lines("syslog")[-1] == "iris-freeze-thaw: iris IRIS: thawed after the failed freeze"


def test_a_thaw_that_leaves_iris_frozen_fails_loudly(member: Member) -> None:
    member.role = "backup"
    assert run_freeze_thaw(member, "pre-script").returncode == 0
    run = run_freeze_thaw(member, "post-script", THAW_STATUS=str(c.IRIS_EXTERNAL_FREEZE_FAILED))
    assert run.returncode == 202
    assert member.frozen
    assert "IRIS is still frozen" in run.stderr
    assert routines(member) == ["ExternalFreeze()", "ExternalThaw()", "IsWDSuspendedExt()"]


def test_a_post_script_after_a_refused_freeze_has_nothing_to_thaw(member: Member) -> None:
    member.role = "primary"
    assert run_freeze_thaw(member, "pre-script").returncode == 206
    run = run_freeze_thaw(member, "post-script", THAW_STATUS=str(c.IRIS_EXTERNAL_FREEZE_FAILED))
    assert run.returncode == 0, run.stderr
    assert "nothing to thaw" in run.stdout


def test_dry_run_touches_nothing(member: Member) -> None:
    run = run_freeze_thaw(member, "dry-run")
    assert run.returncode == 0
    assert member.lines("iris.calls") == []


def test_unknown_command_is_refused(member: Member) -> None:
    run = run_freeze_thaw(member, "snapshot")
    assert run.returncode == 1
    assert "unknown DLM command 'snapshot'" in run.stderr


def test_the_ssm_document_runs_the_same_script(member: Member, tmp_path: Path) -> None:
    """The document's runCommand, with SSM's {{ command }} filled in, behaves like the script."""
    (step,) = SnapshotBackup.document_content("IRIS")["mainSteps"]  # type: ignore[index]
    script = tmp_path / "document.sh"
    script.write_text("\n".join(step["inputs"]["runCommand"]).replace("{{ command }}", "pre-script"))
    member.role = "primary"
    refused = member.run(script)
    assert refused.returncode == 206 and "refusing to freeze" in refused.stderr
    member.role = "backup"
    frozen = member.run(script)
    assert frozen.returncode == 0, frozen.stderr
    assert member.frozen


# --- the schedule the missing-snapshot alarm can watch --------------------------


@pytest.mark.parametrize(
    ("cron", "days"),
    [
        ("cron(0 3 * * ? *)", 1),
        ("cron(0 */6 * * ? *)", 1),
        ("cron(0 3 ? * SUN *)", 7),
        ("cron(0 3 ? * MON,THU *)", 7),
        ("cron(0 3 1 * ? *)", None),
        ("cron(0 3 * 1 ? *)", None),
    ],
)
def test_the_window_a_schedule_runs_in_at_least_once(cron: str, days: int | None) -> None:
    window = schedule_window(cron)
    assert (window.to_days() if window else None) == days


# --- what the data tier's template holds -------------------------------------


def data_tier(assembly: Synthesized) -> dict[str, Any]:
    return assembly.template_json("data")


@pytest.mark.parametrize("per_set", [0, -1])
def test_members_may_add_or_remove_the_target_tag_on_themselves_only(assembly: Synthesized, per_set: int) -> None:
    mirror_set = assembly.settings.data.mirror_sets[per_set].name
    template = assembly.template_json(f"mirror_{mirror_set}")
    stack_name = assembly.stacks["data_tier"].stack_name
    (policy,) = (p for p in props(template, "AWS::IAM::ManagedPolicy") if "snapshot target tag" in p.get("Description", ""))
    (role_id,) = resources(template, "AWS::IAM::Role").keys() & {r["Ref"] for r in policy["Roles"]}
    assert role_id.startswith(f"{mirror_set}InstanceRole")
    # This set's failover members, and only they.
    failover = sorted(k for k in resources(template, "AWS::EC2::Instance") if "Arbiter" not in k)
    assert len(failover) == 2

    region, account = assembly.settings.region, assembly.settings.account

    def arn(instance_id: str) -> dict[str, Any]:
        return {"Fn::Join": ["", [f"arn:aws:ec2:{region}:{account}:instance/", {"Ref": instance_id}]]}

    only_the_key = {"ForAllValues:StringEquals": {"aws:TagKeys": ["IrisBackup"]}, "Null": {"aws:TagKeys": "false"}}
    expected = []
    for i, instance_id in enumerate(failover):
        expected += [
            {
                "Sid": f"Member{i}TagsItself",
                "Effect": "Allow",
                "Action": "ec2:CreateTags",
                "Resource": arn(instance_id),
                "Condition": {
                    "StringEquals": {"ec2:SourceInstanceARN": arn(instance_id), "aws:RequestTag/IrisBackup": stack_name},
                    **only_the_key,
                },
            },
            {
                "Sid": f"Member{i}UntagsItself",
                "Effect": "Allow",
                "Action": "ec2:DeleteTags",
                "Resource": arn(instance_id),
                "Condition": {"StringEquals": {"ec2:SourceInstanceARN": arn(instance_id)}, **only_the_key},
            },
        ]
    statements = policy["PolicyDocument"]["Statement"]
    # Each failover member exactly once, in whatever order the stack lists them.
    by_resource = sorted(statements, key=lambda s: (s["Resource"]["Fn::Join"][1][-1]["Ref"], s["Action"]))
    want = sorted(expected, key=lambda s: (s["Resource"]["Fn::Join"][1][-1]["Ref"], s["Action"]))
    assert [{**s, "Sid": None} for s in by_resource] == [{**s, "Sid": None} for s in want]


def test_failover_members_run_the_backup_role_timer_and_carry_the_tags_the_policy_needs(assembly: Synthesized) -> None:
    template = data_tier(assembly)
    stack_name = assembly.stacks["data_tier"].stack_name
    instances = resources(template, "AWS::EC2::Instance")
    assert instances
    for logical_id, instance in instances.items():
        p = instance["Properties"]
        user_data = render(p["UserData"])
        failover = "Arbiter" not in logical_id
        assert "IrisBackup" not in tags(p)  # set at run time by the backup member itself
        assert (tags(p).get("IrisMirrorRole") == "failover") == failover
        assert ("systemctl enable --now iris-backup-role.timer" in user_data) == failover
        if failover:
            assert "Environment=BACKUP_TAG_KEY=IrisBackup\n" in user_data
            assert f"Environment=BACKUP_TAG_VALUE={stack_name}\n" in user_data


def test_the_policy_targets_the_tag_the_members_set(assembly: Synthesized) -> None:
    template = data_tier(assembly)
    (policy,) = props(template, "AWS::DLM::LifecyclePolicy")
    assert policy["PolicyDetails"]["TargetTags"] == [{"Key": "IrisBackup", "Value": assembly.stacks["data_tier"].stack_name}]
    # Every volume but the boot volume: database (durable %SYS), journals, WIJ.
    assert policy["PolicyDetails"]["Parameters"] == {"ExcludeBootVolume": True}


def test_an_alarm_fires_when_a_scheduled_snapshot_does_not_complete(assembly: Synthesized) -> None:
    template = data_tier(assembly)
    (policy_id,) = resources(template, "AWS::DLM::LifecyclePolicy")
    alarms = {p["MetricName"]: p for p in props(template, "AWS::CloudWatch::Alarm") if p.get("Namespace") == "AWS/EBS"}
    backup_alarms = {
        k: v for k, v in alarms.items() if v.get("Dimensions") == [{"Name": "DLMPolicyId", "Value": {"Ref": policy_id}}]
    }
    assert set(backup_alarms) == {"SnapshotsCreateFailed", "PreScriptFailed", "PostScriptFailed", "SnapshotsCreateStarted"}
    for name in ("SnapshotsCreateFailed", "PreScriptFailed", "PostScriptFailed"):
        a = backup_alarms[name]
        assert (a["Statistic"], a["Period"], a["EvaluationPeriods"], a["Threshold"]) == ("Sum", 3600, 1, 1)
        assert a["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert a["TreatMissingData"] == "notBreaching"
    started = backup_alarms["SnapshotsCreateStarted"]
    # No snapshot started in a whole calendar day (the schedule is daily),
    # missing data counting as none.
    assert assembly.settings.data.backup.schedule == "cron(0 3 * * ? *)"
    assert (started["Statistic"], started["Period"], started["EvaluationPeriods"]) == ("Sum", 86400, 1)
    assert started["EvaluationWindow"] == {"WallClockWindow": {"Timezone": "UTC"}}
    assert (started["ComparisonOperator"], started["Threshold"]) == ("LessThanThreshold", 1)
    assert started["TreatMissingData"] == "breaching"
    for a in backup_alarms.values():
        assert a["AlarmActions"] == a["OKActions"] == [severity_topic(template, severity_of(a))]


def tags(resource_props: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource_props.get("Tags", [])}


def test_the_failed_freezes_query_finds_what_freeze_thaw_writes_on_a_refused_and_a_failed_freeze(member: Member) -> None:
    # The lines the CloudWatch agent ships (components/member_monitoring.py) and the saved query reads.
    member.role = "primary"
    assert run_freeze_thaw(member, "pre-script").returncode != 0  # refused: the primary is never frozen
    member.role = "backup"
    assert run_freeze_thaw(member, "pre-script", FREEZE_STATUS="3").returncode != 0  # IRIS refused the freeze
    assert run_freeze_thaw(member, "post-script").returncode == 0
    line = re.compile(log_queries.FREEZE_LINE.replace("(?<", "(?P<"))
    records = [line.match(text) for text in member.lines("freeze-thaw.log")]
    assert records and all(records), member.lines("freeze-thaw.log")
    wanted = [r for r in records if r and (r["level"] == "ERROR" or re.search(r"(?i)(refus|fail)", r["text"]))]
    assert len(wanted) >= 2 and any(r["level"] == "ERROR" for r in wanted)
