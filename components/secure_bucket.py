"""S3 buckets with the controls every bucket of the project needs.

Guarantees: public access blocked, TLS-only bucket policy, versioning,
objects owned by the bucket owner (no ACLs), retained when the stack is
deleted; data buckets are encrypted with a customer-managed key (bucket keys
on) and write server access logs to an access-log bucket.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from components.bucket_replication import ReplicaTarget, replicate
from components.nag import acknowledge, both_packs

ACCESS_LOG_REPLICATION_REASON = (
    "Server access logs are an audit record of this region's buckets, versioned and retained when the stack is "
    "deleted, for the retention in settings; they are no recovery source, and no stack copies them to the DR region."
)


def _common(**extra: object) -> dict[str, object]:
    return {
        "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
        "enforce_ssl": True,
        "versioned": True,
        "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        "removal_policy": RemovalPolicy.RETAIN,
        **extra,
    }


def log_target_bucket(
    scope: Construct,
    construct_id: str,
    *,
    lifecycle_rules: Sequence[s3.LifecycleRule],
    what: str = "server access logs",
    bucket_name: str | None = None,
) -> s3.Bucket:
    """A bucket of ``what``, SSE-S3 (log delivery and the replicas of SSE-S3 objects use nothing else), its own
    access unlogged; its replication is the caller's to acknowledge or configure."""
    bucket = s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        lifecycle_rules=list(lifecycle_rules) or None,
        bucket_name=bucket_name,
        **_common(),  # type: ignore[arg-type]
    )
    unlogged = f"This bucket receives {what}; logging its own access would need yet another bucket, and so on without end."
    sse_s3 = (
        "S3 server access log delivery supports only SSE-S3 on the target bucket, and replicas of SSE-S3 objects keep "
        "SSE-S3; a customer-managed key would make delivery fail."
    )
    reasons = {
        "AwsSolutions::AwsSolutions-S1": unlogged,
        **both_packs("S3BucketLoggingEnabled", unlogged),
        **both_packs("S3DefaultEncryptionKMS", sse_s3),
    }
    acknowledge(bucket, reasons)
    return bucket


def access_log_bucket(
    scope: Construct,
    construct_id: str,
    *,
    retention_days: int,
    replica: ReplicaTarget | None = None,
    replication_reason: str = ACCESS_LOG_REPLICATION_REASON,
) -> s3.Bucket:
    """The target of S3 server access logs: SSE-S3, because S3 log delivery
    cannot write to a bucket encrypted with a customer-managed key. With
    ``replica``, replicated into that DR copy; else ``replication_reason`` says why not."""
    bucket = log_target_bucket(
        scope,
        construct_id,
        lifecycle_rules=[
            s3.LifecycleRule(
                id="ExpireAccessLogs",
                expiration=Duration.days(retention_days),
                noncurrent_version_expiration=Duration.days(1),
                abort_incomplete_multipart_upload_after=Duration.days(1),
            )
        ],
        what="the server access logs of the other buckets",
    )
    if replica is not None:
        replicate(bucket, target=replica, source_key=None)
    else:
        acknowledge(bucket, both_packs("S3BucketReplicationEnabled", replication_reason))
    return bucket


def encrypted_bucket(
    scope: Construct,
    construct_id: str,
    *,
    encryption_key: kms.IKey,
    access_logs: s3.IBucket,
    replication_reason: str,
    lifecycle_rules: Sequence[s3.LifecycleRule] = (),
    object_lock_days: int | None = None,
    replica: ReplicaTarget | None = None,
    bucket_name: str | None = None,
) -> s3.Bucket:
    """A data bucket encrypted with ``encryption_key`` that logs to ``access_logs``.

    With ``object_lock_days``, S3 Object Lock in compliance mode keeps every
    object version that long: no principal, the account root included, can
    delete or overwrite it sooner, and the retention cannot be shortened.

    With ``replica``, the bucket replicates into that DR copy (its replicas under
    the copy's key); else ``replication_reason`` says why the bucket is not
    replicated to another region: it becomes the acknowledgement of that one finding.
    """
    bucket = s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.KMS,
        encryption_key=encryption_key,
        bucket_key_enabled=True,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=f"{construct_id}/",
        bucket_name=bucket_name,
        lifecycle_rules=list(lifecycle_rules) or None,
        object_lock_enabled=True if object_lock_days is not None else None,
        object_lock_default_retention=s3.ObjectLockRetention.compliance(Duration.days(object_lock_days))
        if object_lock_days is not None
        else None,
        **_common(),  # type: ignore[arg-type]
    )
    if replica is not None:
        replicate(bucket, target=replica, source_key=encryption_key)
    else:
        acknowledge(bucket, both_packs("S3BucketReplicationEnabled", replication_reason))
    return bucket
