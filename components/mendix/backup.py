"""AWS Backup for the Mendix database, file bucket and persistent volumes, with monthly restore tests.

Guarantees: a retained vault encrypted with the platform key; daily and weekly
recovery points kept as settings say, weekly ones tiered to cold storage where
AWS Backup can; restore tests of the newest database and bucket recovery
points on the settings' schedule, whose copies are deleted after validation;
with a DR vault, every recovery point is copied there, encrypted with the DR
region's key and kept as long as the original.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_backup as backup
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from constructs import Construct

from components.nag import acknowledge, acknowledge_inline_policies, acknowledge_key_grant
from components.service_role import service_role
from components.vault_lock import vault_lock_configuration
from config.audit import VaultLockSettings
from config.eks import MendixBackupSettings

DAILY = events.Schedule.cron(minute="0", hour="4")
WEEKLY = events.Schedule.cron(minute="0", hour="5", week_day="SUN")
# A restore test picks the newest recovery point of the last week.
RESTORE_TEST_SELECTION_DAYS = 7
RESTORE_TEST_START_WINDOW_HOURS = 8
# What AWS Backup needs on the destination vault's key to write an encrypted copy there.
COPY_KEY_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey", "kms:CreateGrant"]


@dataclass(frozen=True)
class BackupCopy:
    """The DR region's vault that receives a copy of every recovery point, and the key it encrypts with."""

    region: str
    vault_arn: str
    key_arn: str


class PlatformBackup(Construct):
    """Daily and weekly backups into an encrypted vault.

    Guarantees: the vault is encrypted with ``encryption_key`` and retained;
    daily recovery points are kept ``settings.daily_retention_days``; weekly
    ones move to cold storage after ``settings.weekly_cold_storage_after_days``
    (for the resource types AWS Backup can tier, such as EBS; others stay warm)
    and are kept ``settings.weekly_retention_days``; the plan covers the
    database, the Mendix file bucket (whose versioning AWS Backup requires) and
    every volume tagged ``backup_tag``; on ``settings.restore_test_schedule``
    AWS Backup restores the newest database and bucket recovery points and
    deletes the copies after ``settings.restore_test_validation_hours``. With
    ``copy``, both rules copy each recovery point to ``copy.vault_arn`` with
    the same lifecycle, and the backup role may use ``copy.key_arn`` for it.
    With ``vault_lock``, the vault is locked (:func:`vault_lock_configuration`).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        encryption_key: kms.IKey,
        database: rds.DatabaseInstance,
        file_bucket: s3.IBucket,
        backup_tag: tuple[str, str],
        settings: MendixBackupSettings,
        plan_name: str,
        copy: BackupCopy | None = None,
        vault_lock: VaultLockSettings | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.vault = backup.BackupVault(
            self,
            "Vault",
            encryption_key=encryption_key,
            removal_policy=RemovalPolicy.RETAIN,
            lock_configuration=vault_lock_configuration(vault_lock),
        )
        self.copy_vault = backup.BackupVault.from_backup_vault_arn(self, "DrVault", copy.vault_arn) if copy is not None else None

        def copies(delete_after: int, cold_after: int | None = None) -> list[backup.BackupPlanCopyActionProps] | None:
            if self.copy_vault is None:
                return None
            return [
                backup.BackupPlanCopyActionProps(
                    destination_backup_vault=self.copy_vault,
                    delete_after=Duration.days(delete_after),
                    move_to_cold_storage_after=Duration.days(cold_after) if cold_after is not None else None,
                )
            ]

        self.plan = backup.BackupPlan(
            self,
            "Plan",
            backup_vault=self.vault,
            backup_plan_rules=[
                backup.BackupPlanRule(
                    rule_name="Daily",
                    schedule_expression=DAILY,
                    delete_after=Duration.days(settings.daily_retention_days),
                    start_window=Duration.hours(1),
                    completion_window=Duration.hours(4),
                    copy_actions=copies(settings.daily_retention_days),
                ),
                backup.BackupPlanRule(
                    rule_name="Weekly",
                    schedule_expression=WEEKLY,
                    move_to_cold_storage_after=Duration.days(settings.weekly_cold_storage_after_days),
                    delete_after=Duration.days(settings.weekly_retention_days),
                    start_window=Duration.hours(1),
                    completion_window=Duration.hours(8),
                    copy_actions=copies(settings.weekly_retention_days, settings.weekly_cold_storage_after_days),
                ),
            ],
        )
        role = service_role(
            self,
            "Role",
            service="backup.amazonaws.com",
            description="AWS Backup: backs up, restores and restore-tests the Mendix database, files and volumes",
            aws_managed_policies={
                "service-role/AWSBackupServiceRolePolicyForBackup": "AWS Backup's own service-role policy, "
                "maintained by AWS as the services it backs up change; the plan selects only the Mendix resources.",
                "service-role/AWSBackupServiceRolePolicyForRestores": "AWS Backup's own restore policy, maintained "
                "by AWS; restores are started by a person or the monthly restore test, into this account only.",
                "AWSBackupServiceRolePolicyForS3Backup": "AWS Backup's own policy for S3 backups, maintained by AWS; "
                "the plan selects only the Mendix file bucket.",
                "AWSBackupServiceRolePolicyForS3Restore": "AWS Backup's own policy for S3 restores, maintained by "
                "AWS; the monthly restore test restores the file bucket into a new bucket it then deletes.",
            },
        )
        encryption_key.grant_encrypt_decrypt(role)
        if copy is not None:
            role.add_to_principal_policy(
                iam.PolicyStatement(sid="EncryptCopiesInTheDrVault", actions=COPY_KEY_ACTIONS, resources=[copy.key_arn])
            )
        policy = role.node.find_child("DefaultPolicy")
        acknowledge_key_grant(policy, "AWS Backup")
        if copy is not None:
            acknowledge(
                policy,
                {
                    f"AwsSolutions::AwsSolutions-IAM5[Action::{action}]": "AWS Backup writes the copies in the DR vault "
                    "encrypted with the DR region's key; the wildcard covers that operation's variants, on that one key."
                    for action in ("kms:ReEncrypt*", "kms:GenerateDataKey*")
                },
            )
        acknowledge_inline_policies(
            role,
            "The policy holds the one key grant of the backup role and is created and deleted with it; a "
            "customer-managed policy would add a resource that nothing else may attach.",
        )
        self.plan.add_selection(
            "Resources",
            role=role,
            resources=[
                backup.BackupResource.from_rds_database_instance(database),
                backup.BackupResource.from_arn(file_bucket.bucket_arn),
                backup.BackupResource.from_tag(backup_tag[0], backup_tag[1]),
            ],
            allow_restores=False,
        )
        self.restore_testing_plan = backup.CfnRestoreTestingPlan(
            self,
            "RestoreTestingPlan",
            restore_testing_plan_name=plan_name,
            schedule_expression=settings.restore_test_schedule,
            start_window_hours=RESTORE_TEST_START_WINDOW_HOURS,
            recovery_point_selection=backup.CfnRestoreTestingPlan.RestoreTestingRecoveryPointSelectionProperty(
                algorithm="LATEST_WITHIN_WINDOW",
                include_vaults=[self.vault.backup_vault_arn],
                recovery_point_types=["SNAPSHOT"],
                selection_window_days=RESTORE_TEST_SELECTION_DAYS,
            ),
        )
        self.restore_testing_selections = [
            backup.CfnRestoreTestingSelection(
                self,
                f"RestoreTest{kind.title()}",
                iam_role_arn=role.role_arn,
                protected_resource_type=kind,
                protected_resource_arns=[arn],
                # Ref of a restore testing plan is its name; it also orders the selection after the plan.
                restore_testing_plan_name=self.restore_testing_plan.ref,
                restore_testing_selection_name=f"mendix_{kind.lower()}",
                validation_window_hours=settings.restore_test_validation_hours,
            )
            for kind, arn in (("RDS", database.instance_arn), ("S3", file_bucket.bucket_arn))
        ]
