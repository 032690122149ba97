"""Application-consistent EBS snapshots of IRIS members by Data Lifecycle Manager.

Only the mirror's backup member is frozen and snapshotted: each failover
member runs ``iris/backup_role.sh`` (``backup_role_commands``), which keeps
the policy's target tag on the instance while IRIS says it is the backup, and
``allow_backup_tagging`` lets a member change that one tag on itself alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import CfnTag, Duration, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_dlm as dlm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from components.iris_host import HOST_SCRIPTS
from components.mirror_member import install_file_commands
from components.service_role import service_role
from components.severity import AlarmTopics, severity_alarm
from config.constants import DLM_SCRIPTS_TAG

IRIS_DIR = Path(__file__).resolve().parent.parent / "iris"
FREEZE_THAW_SCRIPT = IRIS_DIR / "freeze_thaw.sh"
BACKUP_ROLE_PATH = HOST_SCRIPTS["backup_role.sh"]
BACKUP_ROLE_UNIT = "iris-backup-role"
SYSTEMD_DIR = "/etc/systemd/system"
MEMBER_ENV = "/etc/iris-aws/member.env"
# DLM publishes its policy metrics in AWS/EBS, per policy (dimension DLMPolicyId).
DLM_METRICS_NAMESPACE = "AWS/EBS"
DLM_MANAGED_POLICIES = (
    "service-role/AWSDataLifecycleManagerServiceRole",
    "service-role/AWSDataLifecycleManagerSSMFullAccess",
)
# DLM needs these on the volumes' key to snapshot (and copy) encrypted volumes, and
# kms:CreateGrant, which it gets only for grants to AWS resources (EBS), never for a principal of its choosing.
SNAPSHOT_KEY_ACTIONS = [
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
]
GRANT_FOR_AWS_RESOURCES = {"Bool": {"kms:GrantIsForAWSResource": True}}


def snapshot_key_statements(sid: str | None, resource: str, principal: iam.IPrincipal | None = None) -> list[iam.PolicyStatement]:
    """What DLM needs on one key: its snapshot actions, and CreateGrant only when the grant is for an AWS resource."""
    principals = [principal] if principal is not None else None
    return [
        iam.PolicyStatement(sid=sid, principals=principals, actions=SNAPSHOT_KEY_ACTIONS, resources=[resource]),
        iam.PolicyStatement(
            sid=f"{sid}Grant" if sid else None,
            principals=principals,
            actions=["kms:CreateGrant"],
            resources=[resource],
            conditions=GRANT_FOR_AWS_RESOURCES,
        ),
    ]


@dataclass(frozen=True)
class CrossRegionCopy:
    """Copy each snapshot to another region, encrypted with a key there."""

    region: str
    kms_key_arn: str
    retain_days: int


class SnapshotBackup(Construct):
    """DLM snapshots of the instances tagged ``target_tag``, IRIS frozen meanwhile.

    Guarantees: an SSM command document (tagged for DLM's managed policy) runs
    ``Backup.General.ExternalFreeze()`` before and ``ExternalThaw()`` after each
    snapshot; the freeze refuses unless IRIS says the member is the mirror's
    backup, and a failed freeze is thawed; a refused or failed freeze yields no
    snapshot (``ExecuteOperationOnScriptFailure`` false); every volume but the
    boot volume is snapshotted; retention, schedule and an optional
    cross-region copy are given. ``alarms`` notify their severity's topic when a
    snapshot, a freeze or a thaw fails, and (for daily or weekly schedules)
    when no snapshot started in a calendar day or week.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        target_tag: tuple[str, str],
        schedule: str,
        retain_count: int,
        iris_instance: str,
        encryption_key: kms.IKey,
        alarm_topics: AlarmTopics,
        copy: CrossRegionCopy | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.document = ssm.CfnDocument(
            self,
            "FreezeThawDocument",
            document_type="Command",
            update_method="NewVersion",
            content=self.document_content(iris_instance),
            tags=[CfnTag(key=DLM_SCRIPTS_TAG[0], value=DLM_SCRIPTS_TAG[1])],
        )

        self.role = service_role(
            self,
            "Role",
            service="dlm.amazonaws.com",
            description="Data Lifecycle Manager: IRIS snapshots with freeze/thaw scripts",
            aws_managed_policies=dict.fromkeys(
                DLM_MANAGED_POLICIES,
                "DLM's own service-role policy, maintained by AWS as DLM's API use changes; the SSM part "
                "runs only documents tagged DLMScriptsAccess=true, which here is the freeze/thaw document alone.",
            ),
        )
        # Through the key policy rather than an identity policy: the volumes' key
        # lets this role, and only for snapshots, use it.
        # In a key policy, "*" means this key.
        for statement in snapshot_key_statements("AllowDlmSnapshots", "*", iam.ArnPrincipal(self.role.role_arn)):
            encryption_key.add_to_resource_policy(statement)
        if copy is not None:
            copy_policy = iam.ManagedPolicy(
                self,
                "CopyKeyPolicy",
                description=f"Lets DLM encrypt snapshot copies in {copy.region}",
                statements=snapshot_key_statements(None, copy.kms_key_arn),
            )
            self.role.add_managed_policy(copy_policy)

        schedule_props = dlm.CfnLifecyclePolicy.ScheduleProperty(
            name="IrisDaily",
            copy_tags=True,
            create_rule=dlm.CfnLifecyclePolicy.CreateRuleProperty(
                cron_expression=schedule,
                scripts=[
                    dlm.CfnLifecyclePolicy.ScriptProperty(
                        stages=["PRE", "POST"],
                        execution_handler_service="AWS_SYSTEMS_MANAGER",
                        execution_handler=self.document.ref,
                        execute_operation_on_script_failure=False,
                        execution_timeout=120,
                        maximum_retry_count=2,
                    )
                ],
            ),
            retain_rule=dlm.CfnLifecyclePolicy.RetainRuleProperty(count=retain_count),
            cross_region_copy_rules=[
                dlm.CfnLifecyclePolicy.CrossRegionCopyRuleProperty(
                    target=copy.region,
                    encrypted=True,
                    cmk_arn=copy.kms_key_arn,
                    copy_tags=True,
                    retain_rule=dlm.CfnLifecyclePolicy.CrossRegionCopyRetainRuleProperty(
                        interval=copy.retain_days, interval_unit="DAYS"
                    ),
                )
            ]
            if copy
            else None,
        )
        self.policy = dlm.CfnLifecyclePolicy(
            self,
            "Policy",
            description=f"IRIS application-consistent snapshots of instances tagged {target_tag[0]} {target_tag[1]}",
            state="ENABLED",
            execution_role_arn=self.role.role_arn,
            policy_details=dlm.CfnLifecyclePolicy.PolicyDetailsProperty(
                policy_type="EBS_SNAPSHOT_MANAGEMENT",
                resource_types=["INSTANCE"],
                target_tags=[CfnTag(key=target_tag[0], value=target_tag[1])],
                # Every data volume (database with durable %SYS, both journals,
                # WIJ) is in the snapshot set; only the boot volume is left out.
                parameters=dlm.CfnLifecyclePolicy.ParametersProperty(exclude_boot_volume=True),
                schedules=[schedule_props],
            ),
        )
        self.alarms = self._alarms(alarm_topics, window=schedule_window(schedule))

    def _alarms(self, topics: AlarmTopics, *, window: Duration | None) -> dict[str, cw.Alarm]:
        """One alarm per way a scheduled snapshot can fail to complete."""

        def metric(name: str, period: Duration) -> cw.Metric:
            return cw.Metric(
                namespace=DLM_METRICS_NAMESPACE,
                metric_name=name,
                dimensions_map={"DLMPolicyId": self.policy.ref},
                statistic="Sum",
                period=period,
            )

        failures = {
            "SnapshotsFailed": ("SnapshotsCreateFailed", "snapshot-failed", "a scheduled IRIS snapshot could not be created"),
            "FreezeFailed": (
                "PreScriptFailed",
                "freeze-failed",
                "the freeze before an IRIS snapshot was refused or failed, so that member was not snapshotted "
                "(see syslog iris-freeze-thaw on the member: a primary or a member of unknown role is refused)",
            ),
            "ThawFailed": (
                "PostScriptFailed",
                "thaw-failed",
                "the thaw after an IRIS snapshot failed: IRIS may still be frozen on the backup member",
            ),
        }
        alarms: dict[str, cw.Alarm] = {}
        for alarm_id, (name, kind, description) in failures.items():
            alarms[alarm_id] = severity_alarm(
                self,
                alarm_id,
                kind=kind,
                subject=f"{Stack.of(self).stack_name}: {description}",
                topics=topics,
                metric=metric(name, Duration.hours(1)),
                threshold=1,
                evaluation_periods=1,
            )
        if window is not None:
            # A wall-clock window (UTC, as DLM's cron) judges each calendar day
            # or week on its own, so a run that starts later than the one before
            # is not a missed run; no data in the window counts as no snapshot.
            days = int(window.to_days())
            alarms["NoSnapshotStarted"] = no_start = severity_alarm(
                self,
                "NoSnapshotStarted",
                kind="no-snapshot",
                topics=topics,
                metric=metric("SnapshotsCreateStarted", window),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.BREACHING,
                subject=f"{Stack.of(self).stack_name}: no IRIS snapshot started in a whole "
                f"{'day' if days == 1 else 'week'} (UTC): no backup member tagged, the policy not running, "
                "or every freeze refused",
            )
            cfn_alarm = no_start.node.default_child
            assert isinstance(cfn_alarm, cw.CfnAlarm)
            cfn_alarm.evaluation_window = cw.CfnAlarm.EvaluationWindowProperty(
                wall_clock_window=cw.CfnAlarm.WallClockWindowProperty(timezone="UTC")
            )
        return alarms

    @staticmethod
    def document_content(iris_instance: str) -> dict[str, object]:
        """The SSM command document DLM runs as pre and post script."""
        return {
            "schemaVersion": "2.2",
            "description": "Freeze IRIS before and thaw it after a Data Lifecycle Manager snapshot",
            "parameters": {
                "executionId": {
                    "type": "String",
                    "default": "None",
                    "description": "(Required) The id DLM gives one pre/post execution",
                    "allowedPattern": "^(None|[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12})$",
                },
                "command": {
                    "type": "String",
                    "default": "dry-run",
                    "description": "(Required) Whether to run the pre-script or the post-script",
                    "allowedValues": ["pre-script", "post-script", "dry-run"],
                },
            },
            "mainSteps": [
                {
                    "action": "aws:runShellScript",
                    "name": "FreezeOrThawIris",
                    "precondition": {"StringEquals": ["platformType", "Linux"]},
                    "inputs": {
                        "timeoutSeconds": "110",
                        "runCommand": [
                            "export DLM_COMMAND='{{ command }}'",
                            f"export IRIS_INSTANCE='{iris_instance}'",
                            *FREEZE_THAW_SCRIPT.read_text().splitlines(),
                        ],
                    },
                }
            ],
        }


def schedule_window(cron: str) -> Duration | None:
    """The calendar window in which a DLM cron schedule runs at least once: a day, a week, or None.

    ``cron(min hour day-of-month month day-of-week year)``: every day (any
    hours) is a day; given days of the week, every month, is a week; anything
    else (days of the month, some months, some years) has no window an alarm
    can watch.
    """
    fields = cron.removeprefix("cron(").removesuffix(")").split()
    if len(fields) != 6:
        raise ValueError(f"not a six-field DLM cron expression: {cron}")
    _, _, day_of_month, month, day_of_week, year = fields
    if month != "*" or year not in ("*", "?"):
        return None
    if day_of_month in ("*", "?") and day_of_week in ("*", "?"):
        return Duration.days(1)
    if day_of_month == "?":
        return Duration.days(7)
    return None


def allow_backup_tagging(
    scope: Construct,
    construct_id: str,
    *,
    role: iam.IRole,
    target_tag: tuple[str, str],
    instances: Sequence[ec2.Instance],
) -> iam.ManagedPolicy:
    """Lets each of ``instances`` add or remove ``target_tag`` on itself, and nothing else.

    One pair of statements per instance: the resource is that instance's ARN
    and the request must come from that same instance (``ec2:SourceInstanceARN``,
    set when a request is signed with an instance's role credentials), so a
    member can never tag another. The request may name only the target tag's
    key (a DeleteTags without keys, which would delete every tag, is refused),
    and CreateTags may set it only to the target value.
    """
    key, value = target_tag
    only_this_key = {
        "ForAllValues:StringEquals": {"aws:TagKeys": [key]},
        "Null": {"aws:TagKeys": "false"},
    }
    statements: list[iam.PolicyStatement] = []
    for i, instance in enumerate(instances):
        arn = Stack.of(scope).format_arn(service="ec2", resource="instance", resource_name=instance.instance_id)
        statements += [
            iam.PolicyStatement(
                sid=f"Member{i}TagsItself",
                actions=["ec2:CreateTags"],
                resources=[arn],
                conditions={"StringEquals": {"ec2:SourceInstanceARN": arn, f"aws:RequestTag/{key}": value}, **only_this_key},
            ),
            iam.PolicyStatement(
                sid=f"Member{i}UntagsItself",
                actions=["ec2:DeleteTags"],
                resources=[arn],
                conditions={"StringEquals": {"ec2:SourceInstanceARN": arn}, **only_this_key},
            ),
        ]
    return iam.ManagedPolicy(
        scope,
        construct_id,
        roles=[role],
        description=f"IRIS failover members: add or remove the snapshot target tag {key} on their own instance",
        statements=statements,
    )


def backup_role_units(*, target_tag: tuple[str, str]) -> dict[str, tuple[str, str]]:
    """The files that keep a member's target tag in step with its mirror role: path -> (text, mode)."""
    key, value = target_tag
    service = f"""[Unit]
Description=Set the snapshot tag {key} from the mirror role
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
EnvironmentFile=-{MEMBER_ENV}
Environment=BACKUP_TAG_KEY={key}
Environment=BACKUP_TAG_VALUE={value}
ExecStart={BACKUP_ROLE_PATH}
TimeoutStartSec=90
"""
    timer = f"""[Unit]
Description=Follow the mirror role with the snapshot tag {key}

[Timer]
OnBootSec=30s
OnUnitActiveSec=1min
AccuracySec=5s

[Install]
WantedBy=timers.target
"""
    # The script itself (iris/backup_role.sh) comes with the member's host files (components/iris_host.py).
    return {
        f"{SYSTEMD_DIR}/{BACKUP_ROLE_UNIT}.service": (service, "0644"),
        f"{SYSTEMD_DIR}/{BACKUP_ROLE_UNIT}.timer": (timer, "0644"),
    }


def backup_role_commands(*, target_tag: tuple[str, str]) -> list[str]:
    """User-data commands for a failover member: install the backup-role script's service and timer, and start it.

    The script reads IRIS_INSTANCE and AWS_REGION from /etc/iris-aws/member.env.
    """
    commands: list[str] = []
    for path, (text, mode) in backup_role_units(target_tag=target_tag).items():
        commands += install_file_commands(path, text, mode)
    return [
        *commands,
        "systemctl daemon-reload",
        f"systemctl enable --now {BACKUP_ROLE_UNIT}.timer",
        # The first check now, rather than when the timer's boot delay passes.
        f"systemctl start --no-block {BACKUP_ROLE_UNIT}.service",
    ]
