"""S3 replication of a bucket of the primary region into a bucket of its own in the DR region.

Guarantees: every new object version of the source is copied (the whole
bucket, delete markers not: a deletion in the primary region removes nothing
in the DR copy); SSE-KMS objects are replicated and their replicas encrypted
with the DR region's key (``ReplicaKmsKeyID``), SSE-S3 objects keep SSE-S3;
an Object Lock source has an Object Lock copy with the same default
retention. The replication role may read the one source bucket's versions
for replication, write replicas into the one destination bucket, decrypt
with the source key only through S3 in the source region for that bucket,
and encrypt with the DR key only through S3 in the DR region for the copy.
No wildcard but the objects of those two buckets.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from components.nag import acknowledge

S3_SERVICE = "s3.amazonaws.com"
REPLICATION_RULE_ID = "CopyToTheDrRegion"
# <prefix>-<short>-<account>-<region>: a prefix of 20 characters, a short name of 10 and the longest
# region names (14) stay within S3's 63.
MAX_SHORT_NAME = 10


def replica_bucket_name(prefix: str, short: str, account: str, region: str) -> str:
    """The DR copy's bucket name: known to both regions before either is deployed, unique per account and region."""
    if len(short) > MAX_SHORT_NAME:
        raise ValueError(f"a replica's short name has at most {MAX_SHORT_NAME} characters, not {short!r}")
    return f"{prefix}-{short}-{account}-{region}".lower()


def bucket_arn(name: str) -> str:
    return f"arn:{Aws.PARTITION}:s3:::{name}"


@dataclass(frozen=True)
class ReplicaSpec:
    """A copy the DR region holds: its construct id and bucket name, whether its source is SSE-KMS (else SSE-S3), the source's
    Object Lock retention (or None), how long a replica is kept (None: for good, as deletions are not
    replicated) and how long a replaced version of it is (None: a day)."""

    name: str
    bucket_name: str
    kms_encrypted: bool
    object_lock_days: int | None = None
    expiration_days: int | None = None
    noncurrent_days: int | None = None


@dataclass(frozen=True)
class ReplicaTarget:
    """The DR copy a source bucket replicates into: its ARN and region and, for an SSE-KMS source, the DR key's ARN."""

    bucket_arn: str
    region: str
    key_arn: str | None
    object_lock: bool


def _bucket_and_objects(arn: str) -> list[str]:
    """The encryption context S3 gives KMS: the object's ARN, or the bucket's with S3 Bucket Keys."""
    return [arn, f"{arn}/*"]


def replicate(bucket: s3.Bucket, *, target: ReplicaTarget, source_key: kms.IKey | None) -> iam.Role:
    """Replicate ``bucket`` (versioned, in ``source_key``'s region when SSE-KMS) into ``target``; returns the role S3 assumes."""
    if (source_key is None) != (target.key_arn is None):
        raise ValueError("an SSE-KMS source replicates into a copy with a key, an SSE-S3 source into one without")
    stack = Stack.of(bucket)
    cfn = bucket.node.default_child
    assert isinstance(cfn, s3.CfnBucket)
    role = iam.Role(
        bucket,
        "ReplicationRole",
        assumed_by=iam.ServicePrincipal(S3_SERVICE, conditions={"StringEquals": {"aws:SourceAccount": stack.account}}),
        description=f"S3 replication of {bucket.node.path} into its copy in {target.region}",
    )
    read_versions = ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"]
    if target.object_lock:
        read_versions += ["s3:GetObjectRetention", "s3:GetObjectLegalHold"]
    statements = [
        iam.PolicyStatement(
            sid="ReadTheSourceConfiguration",
            actions=["s3:GetReplicationConfiguration", "s3:ListBucket"],
            resources=[bucket.bucket_arn],
        ),
        iam.PolicyStatement(sid="ReadTheSourceVersions", actions=read_versions, resources=[bucket.arn_for_objects("*")]),
        iam.PolicyStatement(
            sid="WriteTheReplicas", actions=["s3:ReplicateObject", "s3:ReplicateTags"], resources=[f"{target.bucket_arn}/*"]
        ),
    ]
    if source_key is not None and target.key_arn is not None:
        statements += [
            iam.PolicyStatement(
                sid="DecryptTheSourceThroughS3",
                actions=["kms:Decrypt"],
                resources=[source_key.key_arn],
                conditions={
                    "StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"},
                    "StringLike": {"kms:EncryptionContext:aws:s3:arn": _bucket_and_objects(bucket.bucket_arn)},
                },
            ),
            iam.PolicyStatement(
                sid="EncryptTheReplicasThroughS3",
                actions=["kms:Encrypt"],
                resources=[target.key_arn],
                conditions={
                    "StringEquals": {"kms:ViaService": f"s3.{target.region}.amazonaws.com"},
                    "StringLike": {"kms:EncryptionContext:aws:s3:arn": _bucket_and_objects(target.bucket_arn)},
                },
            ),
        ]
    # A policy of its own, naming the role: the bucket's configuration names the role, the policy the bucket.
    policy = iam.ManagedPolicy(
        bucket,
        "ReplicationPolicy",
        description=f"S3 replication of {bucket.node.path} into its copy in {target.region}",
        statements=statements,
        roles=[role],
    )
    acknowledge(
        policy,
        {
            f"AwsSolutions::AwsSolutions-IAM5[Resource::<{stack.get_logical_id(cfn)}.Arn>/*]": "Replication reads "
            "every object version of this one bucket (the whole bucket is replicated).",
            f"AwsSolutions::AwsSolutions-IAM5[Resource::{_nag_name(target.bucket_arn)}/*]": "Replication writes "
            "replicas of this bucket's objects into its one DR copy, under any key the source holds.",
        },
    )
    destination = s3.CfnBucket.ReplicationDestinationProperty(
        bucket=target.bucket_arn,
        encryption_configuration=s3.CfnBucket.EncryptionConfigurationProperty(replica_kms_key_id=target.key_arn)
        if target.key_arn is not None
        else None,
    )
    cfn.replication_configuration = s3.CfnBucket.ReplicationConfigurationProperty(
        role=role.role_arn,
        rules=[
            s3.CfnBucket.ReplicationRuleProperty(
                id=REPLICATION_RULE_ID,
                status="Enabled",
                priority=1,
                filter=s3.CfnBucket.ReplicationRuleFilterProperty(prefix=""),
                delete_marker_replication=s3.CfnBucket.DeleteMarkerReplicationProperty(status="Disabled"),
                destination=destination,
                source_selection_criteria=s3.CfnBucket.SourceSelectionCriteriaProperty(
                    sse_kms_encrypted_objects=s3.CfnBucket.SseKmsEncryptedObjectsProperty(status="Enabled")
                )
                if source_key is not None
                else None,
            )
        ],
    )
    return role


def _nag_name(arn: str) -> str:
    """How cdk-nag shows the ARN (with its partition) in a finding's id."""
    return arn.replace(Aws.PARTITION, "<AWS::Partition>")
