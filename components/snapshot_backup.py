"""Application-consistent EBS snapshots of IRIS members by Data Lifecycle Manager."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import CfnTag
from aws_cdk import aws_dlm as dlm
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from components.service_role import service_role
from config.constants import DLM_SCRIPTS_TAG

FREEZE_THAW_SCRIPT = Path(__file__).resolve().parent.parent / "iris" / "freeze_thaw.sh"
DLM_MANAGED_POLICIES = (
    "service-role/AWSDataLifecycleManagerServiceRole",
    "service-role/AWSDataLifecycleManagerSSMFullAccess",
)
# DLM needs these on the volumes' key to snapshot (and copy) encrypted volumes.
SNAPSHOT_KEY_ACTIONS = [
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
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
    snapshot and fails unless IRIS answers 5; a failed freeze yields no
    snapshot (``ExecuteOperationOnScriptFailure`` false); boot volumes are
    excluded; retention, schedule and an optional cross-region copy are given.
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
        iris_os_user: str,
        encryption_key: kms.IKey,
        copy: CrossRegionCopy | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.document = ssm.CfnDocument(
            self,
            "FreezeThawDocument",
            document_type="Command",
            update_method="NewVersion",
            content=self.document_content(iris_instance, iris_os_user),
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
        encryption_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowDlmSnapshots",
                principals=[iam.ArnPrincipal(self.role.role_arn)],
                actions=SNAPSHOT_KEY_ACTIONS,
                resources=["*"],  # in a key policy, "*" means this key
            )
        )
        if copy is not None:
            copy_policy = iam.ManagedPolicy(
                self,
                "CopyKeyPolicy",
                description=f"Lets DLM encrypt snapshot copies in {copy.region}",
                statements=[iam.PolicyStatement(actions=SNAPSHOT_KEY_ACTIONS, resources=[copy.kms_key_arn])],
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
                parameters=dlm.CfnLifecyclePolicy.ParametersProperty(exclude_boot_volume=True),
                schedules=[schedule_props],
            ),
        )

    @staticmethod
    def document_content(iris_instance: str, iris_os_user: str) -> dict[str, object]:
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
                            f"export IRIS_OS_USER='{iris_os_user}'",
                            *FREEZE_THAW_SCRIPT.read_text().splitlines(),
                        ],
                    },
                }
            ],
        }
