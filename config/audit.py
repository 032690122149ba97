"""Settings of what keeps a record and keeps the backups: the trail, session logs, Vault Lock, Recycle Bin, key administration."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from pydantic import Field

from config.base import Allowed, Problem, SettingsModel, rule
from config.types import Matches, OneOf, RetentionDays

VAULT_LOCK_MODES = ("governance", "compliance")
# AWS Backup Vault Lock: a compliance lock becomes immutable after a grace time of at least 3 days.
VAULT_LOCK_MIN_GRACE_DAYS = 3
# Recycle Bin: retention 1 to 365 days; a locked rule's unlock delay 7 to 30 days.
RECYCLE_BIN_MAX_DAYS = 365
RECYCLE_BIN_UNLOCK_DELAY_DAYS = (7, 30)
# S3 Object Lock default retention: at most 100 years in days.
OBJECT_LOCK_MAX_DAYS = 36500
IAM_ROLE_NAME = r"^[\w+=,.@-]{1,64}$"


class VaultLockSettings(SettingsModel):
    """AWS Backup Vault Lock on every backup vault of the deployment."""

    mode: Annotated[
        str,
        OneOf(VAULT_LOCK_MODES, "governance or compliance"),
        Field(
            description="governance: principals with backup:DeleteBackupVaultLockConfiguration may lift the lock; "
            "compliance: after changeable_for_days nobody can, not even the account root."
        ),
    ] = "governance"
    changeable_for_days: Annotated[
        int,
        Field(ge=VAULT_LOCK_MIN_GRACE_DAYS, le=3650, description="compliance mode: days in which the lock may still be removed."),
        Allowed(f"{VAULT_LOCK_MIN_GRACE_DAYS} to 3650 days (AWS Backup's minimum grace time is {VAULT_LOCK_MIN_GRACE_DAYS})"),
    ] = VAULT_LOCK_MIN_GRACE_DAYS
    min_retention_days: Annotated[
        int,
        Field(ge=1, le=36500, description="No recovery point in a vault may be kept less, nor deleted earlier, than this."),
        Allowed("1 to 36500 days"),
    ] = 7


class AuditSettings(SettingsModel):
    """The deployment's own trail and session logs, and what protects backups and keys from deletion."""

    trail: Annotated[
        bool,
        Field(description="The deployment's trail (Audit stack); false where an organization trail already records the account."),
    ] = True
    trail_log_retention_days: Annotated[
        RetentionDays, Field(description="How long the trail's events are kept in CloudWatch Logs.")
    ] = 365
    object_lock_days: Annotated[
        int,
        Field(
            ge=1,
            le=OBJECT_LOCK_MAX_DAYS,
            description="S3 Object Lock retention (compliance mode) of the trail's log files: nobody, not even the "
            "account root, can delete or overwrite one sooner. At least the longest backup retention.",
        ),
        Allowed(f"1 to {OBJECT_LOCK_MAX_DAYS} days, and at least the longest backup retention"),
    ] = 2190
    session_log_retention_days: Annotated[
        RetentionDays, Field(description="How long Session Manager session logs are kept in CloudWatch Logs and S3.")
    ] = 365
    recycle_bin_days: Annotated[
        int,
        Field(
            ge=1,
            le=RECYCLE_BIN_MAX_DAYS,
            description="How long a deleted EBS snapshot carrying the project's tag stays recoverable in the Recycle Bin.",
        ),
        Allowed(f"1 to {RECYCLE_BIN_MAX_DAYS} days"),
    ] = 14
    recycle_bin_unlock_delay_days: Annotated[
        int,
        Field(
            ge=RECYCLE_BIN_UNLOCK_DELAY_DAYS[0],
            le=RECYCLE_BIN_UNLOCK_DELAY_DAYS[1],
            description="The Recycle Bin rules are locked: once unlocked, they can be changed or deleted only after this delay.",
        ),
        Allowed(f"{RECYCLE_BIN_UNLOCK_DELAY_DAYS[0]} to {RECYCLE_BIN_UNLOCK_DELAY_DAYS[1]} days"),
    ] = 7
    vault_lock: Annotated[VaultLockSettings, Field(description="AWS Backup Vault Lock on the backup vaults.")] = (
        VaultLockSettings()
    )
    key_admin_role: Annotated[
        str | None,
        Matches(IAM_ROLE_NAME, "an IAM role name of this account (1 to 64 letters, digits or +=,.@_-)"),
        Field(
            description="The IAM role (name, in this account) that administers the customer-managed keys: only it may "
            "schedule a key's deletion or disable a key. None: no principal may."
        ),
    ] = None

    @rule
    def _grace_only_in_compliance_mode(self) -> Iterator[Problem]:
        """`vault_lock.changeable_for_days` is left at its default in governance mode (it would be ignored)."""
        v = self.vault_lock
        if v.mode == "governance" and v.changeable_for_days != VAULT_LOCK_MIN_GRACE_DAYS:
            yield Problem(
                "vault_lock.changeable_for_days",
                v.changeable_for_days,
                "unset in governance mode (a grace time applies to audit.vault_lock.mode=compliance only)",
            )
