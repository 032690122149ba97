"""DrReplicasStack: the DR region's copies of the primary region's buckets (``dr.replicate_buckets``)."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_s3 as s3
from constructs import Construct

from components.bucket_replication import ReplicaSpec, ReplicaTarget, bucket_arn
from components.encryption_key import EncryptionKey
from components.nag import acknowledge, both_packs
from components.secure_bucket import access_log_bucket, encrypted_bucket, log_target_bucket

DESCRIPTION = "IRIS on AWS, DR region: S3 replicas of the primary region's buckets, under the DR region's key"
ACCESS_LOG_RETENTION_DAYS = 365
REPLICA_REASON = (
    "This bucket is itself the DR region's copy of a bucket of the primary region, which replicates into it; a copy "
    "of the copy would stand in no further region."
)


OWN_LOGS_REASON = (
    "The server access logs of the DR region's copies, written in the DR region itself; they are an audit record of "
    "the copies, no recovery source."
)


class DrReplicasStack(Stack):
    """One bucket per ``ReplicaSpec``, versioned, private, TLS-only and retained: an SSE-KMS source's copy
    under this region's key (``key``) and its access logged; an SSE-S3 source's (access logs) with SSE-S3,
    as its replicas are; an Object Lock source's under the same default retention. Exposes ``targets``
    (name -> ReplicaTarget) and ``buckets``."""

    def __init__(self, scope: Construct, construct_id: str, *, replicas: Sequence[ReplicaSpec], **kwargs: object) -> None:
        kwargs.setdefault("description", DESCRIPTION)
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.key = EncryptionKey(
            self,
            "ReplicaKey",
            description="Encrypts the DR region's replicas of the primary region's SSE-KMS buckets",
            alias=f"alias/{construct_id}/replicas",
        )
        encrypted = [r for r in replicas if r.kms_encrypted]
        self.access_logs = (
            access_log_bucket(self, "AccessLogs", retention_days=ACCESS_LOG_RETENTION_DAYS, replication_reason=OWN_LOGS_REASON)
            if encrypted
            else None
        )
        self.buckets: dict[str, s3.Bucket] = {}
        self.targets: dict[str, ReplicaTarget] = {}
        for spec in replicas:
            lifecycle = [
                s3.LifecycleRule(
                    id="ExpireReplicas",
                    expiration=Duration.days(spec.expiration_days) if spec.expiration_days is not None else None,
                    noncurrent_version_expiration=Duration.days(spec.noncurrent_days or 1),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ]
            if spec.kms_encrypted:
                assert self.access_logs is not None
                bucket = encrypted_bucket(
                    self,
                    spec.name,
                    encryption_key=self.key.key,
                    access_logs=self.access_logs,
                    replication_reason=REPLICA_REASON,
                    lifecycle_rules=lifecycle,
                    object_lock_days=spec.object_lock_days,
                    bucket_name=spec.bucket_name,
                )
            else:
                # Replicas keep their source's SSE-S3 (log delivery writes SSE-S3 objects only).
                bucket = log_target_bucket(
                    self,
                    spec.name,
                    lifecycle_rules=lifecycle,
                    what="copies of the primary region's access logs",
                    bucket_name=spec.bucket_name,
                )
                acknowledge(bucket, both_packs("S3BucketReplicationEnabled", REPLICA_REASON))
            self.buckets[spec.name] = bucket
            self.targets[spec.name] = ReplicaTarget(
                # The name, not a reference: an IAM finding names the copy by it (components/bucket_replication.py).
                bucket_arn=bucket_arn(spec.bucket_name),
                region=self.region,
                key_arn=self.key.key.key_arn if spec.kms_encrypted else None,
                object_lock=spec.object_lock_days is not None,
            )
