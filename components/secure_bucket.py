"""S3 buckets with the controls every bucket of the project needs.

Guarantees: public access blocked, TLS-only bucket policy, versioning,
objects owned by the bucket owner (no ACLs), retained when the stack is
deleted; data buckets are encrypted with a customer-managed key (bucket keys
on) and write server access logs to an access-log bucket.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

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


def access_log_bucket(scope: Construct, construct_id: str, *, retention_days: int) -> s3.Bucket:
    """The target of S3 server access logs: SSE-S3, because S3 log delivery
    cannot write to a bucket encrypted with a customer-managed key."""
    bucket = s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        lifecycle_rules=[
            s3.LifecycleRule(
                id="ExpireAccessLogs",
                expiration=Duration.days(retention_days),
                noncurrent_version_expiration=Duration.days(1),
                abort_incomplete_multipart_upload_after=Duration.days(1),
            )
        ],
        **_common(),  # type: ignore[arg-type]
    )
    reasons = {
        "AwsSolutions::AwsSolutions-S1": "This bucket receives the server access logs of the other buckets; "
        "logging its own access would need yet another bucket, and so on without end.",
        "HIPAA.Security::HIPAA.Security-S3BucketLoggingEnabled": "This bucket receives the server access logs of the "
        "other buckets; logging its own access would need yet another bucket, and so on without end.",
        "NIST.800.53.R5::NIST.800.53.R5-S3BucketLoggingEnabled": "This bucket receives the server access logs of the "
        "other buckets; logging its own access would need yet another bucket, and so on without end.",
        "HIPAA.Security::HIPAA.Security-S3DefaultEncryptionKMS": "S3 server access log delivery supports only SSE-S3 "
        "on the target bucket; a customer-managed key would make delivery fail.",
        "NIST.800.53.R5::NIST.800.53.R5-S3DefaultEncryptionKMS": "S3 server access log delivery supports only SSE-S3 "
        "on the target bucket; a customer-managed key would make delivery fail.",
        "HIPAA.Security::HIPAA.Security-S3BucketReplicationEnabled": ACCESS_LOG_REPLICATION_REASON,
        "NIST.800.53.R5::NIST.800.53.R5-S3BucketReplicationEnabled": ACCESS_LOG_REPLICATION_REASON,
    }
    for rule, reason in reasons.items():
        Validations.of(bucket).acknowledge(Acknowledgment(id=rule, reason=reason))
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
) -> s3.Bucket:
    """A data bucket encrypted with ``encryption_key`` that logs to ``access_logs``.

    With ``object_lock_days``, S3 Object Lock in compliance mode keeps every
    object version that long: no principal, the account root included, can
    delete or overwrite it sooner, and the retention cannot be shortened.

    ``replication_reason`` says why the bucket is not replicated to another
    region: it becomes the acknowledgement of that one finding.
    """
    bucket = s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.KMS,
        encryption_key=encryption_key,
        bucket_key_enabled=True,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=f"{construct_id}/",
        lifecycle_rules=list(lifecycle_rules) or None,
        object_lock_enabled=True if object_lock_days is not None else None,
        object_lock_default_retention=s3.ObjectLockRetention.compliance(Duration.days(object_lock_days))
        if object_lock_days is not None
        else None,
        **_common(),  # type: ignore[arg-type]
    )
    acknowledge(bucket, both_packs("S3BucketReplicationEnabled", replication_reason))
    return bucket
