"""CloudWatch Logs retention from a day count held in settings."""

from __future__ import annotations

from aws_cdk import aws_logs as logs

from config.constants import LOG_RETENTION_DAYS

# RetentionDays lists the periods in the same ascending order, then INFINITE.
_BY_DAYS = dict(zip(LOG_RETENTION_DAYS, [m for m in logs.RetentionDays if m is not logs.RetentionDays.INFINITE], strict=True))


def retention(days: int) -> logs.RetentionDays:
    """The ``RetentionDays`` member for ``days`` (validated by settings)."""
    return _BY_DAYS[days]
