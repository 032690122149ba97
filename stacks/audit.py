"""AuditStack: the deployment's CloudTrail trail, beside every other stack of the primary region.

The trail records the management events of every region of the account and
the data events on what holds the deployment's data: the objects of the
buckets it is given (the Mendix file bucket, the load balancers' and
buckets' access logs) and the EBS direct APIs on snapshots. It comes last
because it names those buckets; the Session Manager preferences and the
Recycle Bin rules, which every host needs first, are in each region's
network stack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from components.account_trail import AccountTrail
from components.bucket_replication import ReplicaTarget
from components.secure_bucket import access_log_bucket
from config.audit import AuditSettings

DESCRIPTION = "IRIS on AWS: the deployment's CloudTrail trail (management and data events), under S3 Object Lock"
ACCESS_LOG_RETENTION_DAYS = 365


class AuditStack(Stack):
    """The trail (``trail``) and its bucket's access logs; ``data_buckets`` are bucket ARNs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: AuditSettings,
        data_buckets: Sequence[str],
        replicas: Mapping[str, ReplicaTarget] | None = None,
        **kwargs: object,
    ) -> None:
        """``replicas``: the DR copies of the trail's bucket (``trail``) and of its access logs (``access_logs``)."""
        kwargs.setdefault("description", DESCRIPTION)
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        replicas = replicas or {}
        self.access_logs = access_log_bucket(
            self, "AccessLogs", retention_days=ACCESS_LOG_RETENTION_DAYS, replica=replicas.get("access_logs")
        )
        self.trail = AccountTrail(
            self,
            "Trail",
            access_logs=self.access_logs,
            retention_days=settings.trail_log_retention_days,
            object_lock_days=settings.object_lock_days,
            data_buckets=data_buckets,
            replica=replicas.get("trail"),
        )
        CfnOutput(self, "TrailBucket", value=self.trail.bucket.bucket_name, description="The trail's log files")
