"""AWS Backup Vault Lock, from settings, for every backup vault of the deployment."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_backup as backup

from config.audit import VaultLockSettings


def vault_lock_configuration(lock: VaultLockSettings | None) -> backup.LockConfiguration | None:
    """AWS Backup Vault Lock from settings: no recovery point kept less than the minimum, nor deleted before it ends.

    Governance mode: a principal allowed backup:DeleteBackupVaultLockConfiguration may
    lift the lock. Compliance mode: after ``changeable_for_days`` nobody can, the account
    root included, and the vault cannot be deleted while it holds recovery points.
    """
    if lock is None:
        return None
    return backup.LockConfiguration(
        min_retention=Duration.days(lock.min_retention_days),
        changeable_for=Duration.days(lock.changeable_for_days) if lock.mode == "compliance" else None,
    )
