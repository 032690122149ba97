"""Recycle Bin: a deleted EBS snapshot of the project stays recoverable for a while."""

from __future__ import annotations

from aws_cdk import aws_rbin as rbin
from constructs import Construct


def snapshot_recycle_bin(
    scope: Construct, construct_id: str, *, tag: tuple[str, str], retention_days: int, unlock_delay_days: int
) -> rbin.CfnRule:
    """A locked, tag-level retention rule for EBS snapshots tagged ``tag``.

    A snapshot of the project that is deleted, by DLM's retention, by
    mistake or by malice, goes to the Recycle Bin and can be restored for
    ``retention_days``. The rule is locked: changing or deleting it takes an
    unlock first and then ``unlock_delay_days`` of waiting, in which the
    snapshots it holds stay protected.
    """
    return rbin.CfnRule(
        scope,
        construct_id,
        resource_type="EBS_SNAPSHOT",
        description=f"Deleted EBS snapshots tagged {tag[0]}={tag[1]} stay recoverable for {retention_days} days",
        retention_period=rbin.CfnRule.RetentionPeriodProperty(
            retention_period_unit="DAYS", retention_period_value=retention_days
        ),
        resource_tags=[rbin.CfnRule.ResourceTagProperty(resource_tag_key=tag[0], resource_tag_value=tag[1])],
        lock_configuration=rbin.CfnRule.UnlockDelayProperty(unlock_delay_unit="DAYS", unlock_delay_value=unlock_delay_days),
        status="available",
    )
