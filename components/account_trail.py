"""The deployment's CloudTrail trail: every management event, and who reads or writes the data it keeps in S3 and EBS."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, IResolvable, Stack
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from components.bucket_replication import ReplicaTarget
from components.encryption_key import EncryptionKey
from components.log_retention import encrypted_log_group
from components.nag import acknowledge_inline_policies
from components.secure_bucket import encrypted_bucket

# Replaced versions of a log file (a new object version under Object Lock) are kept this long.
NONCURRENT_LOG_DAYS = 30


def event_selectors(data_buckets: Sequence[str]) -> list[cloudtrail.CfnTrail.AdvancedEventSelectorProperty]:
    """Advanced event selectors: every management event; every object-level call (read and write) on the
    buckets ``data_buckets`` (ARNs); every EBS direct API call on a snapshot (reading a snapshot's blocks
    reads the volume it copies)."""

    def selector(name: str, **fields: list[str]) -> cloudtrail.CfnTrail.AdvancedEventSelectorProperty:
        fs = [
            cloudtrail.CfnTrail.AdvancedFieldSelectorProperty(
                field=field.replace("_", "."), **({"starts_with": v} if field == "resources_ARN" else {"equal_to": v})
            )
            for field, v in fields.items()
        ]
        return cloudtrail.CfnTrail.AdvancedEventSelectorProperty(name=name, field_selectors=fs)

    selectors = [selector("Management events", eventCategory=["Management"])]
    if data_buckets:
        selectors.append(
            selector(
                "Objects in the buckets that hold patient data, backups or logs",
                eventCategory=["Data"],
                resources_type=["AWS::S3::Object"],
                resources_ARN=[f"{arn}/" for arn in data_buckets],
            )
        )
    selectors.append(selector("EBS direct APIs on snapshots", eventCategory=["Data"], resources_type=["AWS::EC2::Snapshot"]))
    return selectors


class AccountTrail(Construct):
    """A multi-region trail of the account's management events and of the data events on the deployment's data.

    Guarantees: log file validation on; log files encrypted with a
    customer-managed key that only CloudTrail of this account may use to
    encrypt; the bucket is TLS-only, versioned, private, logs its own access
    and keeps every log file under S3 Object Lock (compliance mode) for
    ``object_lock_days``; events also go to a CloudWatch Logs group with a
    retention; data events (:func:`event_selectors`) for ``data_buckets``
    (ARNs) and for EBS snapshots.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        access_logs: s3.IBucket,
        retention_days: int,
        object_lock_days: int,
        data_buckets: Sequence[str] = (),
        replica: ReplicaTarget | None = None,
    ) -> None:
        """With ``replica``, the bucket replicates into that DR copy (under the same Object Lock)."""
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.key = EncryptionKey(
            self, "Key", description="Encrypts the account's CloudTrail log files", alias=f"alias/{stack.stack_name}/trail"
        )
        self.key.allow_cloudwatch_logs()
        trails = f"arn:{stack.partition}:cloudtrail:*:{stack.account}:trail/*"
        self.key.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudTrailEncrypt",
                principals=[iam.ServicePrincipal("cloudtrail.amazonaws.com")],
                actions=["kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" means this key
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": trails},
                },
            )
        )
        self.key.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudTrailDescribe",
                principals=[iam.ServicePrincipal("cloudtrail.amazonaws.com")],
                actions=["kms:DescribeKey"],
                resources=["*"],  # in a key policy, "*" means this key
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
        self.bucket = encrypted_bucket(
            self,
            "Bucket",
            encryption_key=self.key.key,
            access_logs=access_logs,
            replication_reason="CloudTrail itself records every region of the account into this one bucket, whose "
            "Object Lock keeps each log file for its retention; the CloudWatch Logs group holds a second copy.",
            object_lock_days=object_lock_days,
            replica=replica,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ArchiveTrail",
                    transitions=[
                        s3.Transition(storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, transition_after=Duration.days(90))
                    ],
                    noncurrent_version_expiration=Duration.days(NONCURRENT_LOG_DAYS),
                )
            ],
        )
        self.log_group = encrypted_log_group(self, "Logs", encryption_key=self.key.key, retention_days=retention_days)
        self.trail = cloudtrail.Trail(
            self,
            "Trail",
            bucket=self.bucket,
            encryption_key=self.key.key,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_file_validation=True,
            send_to_cloud_watch_logs=True,
            cloud_watch_log_group=self.log_group,
        )
        # Management and data events both through advanced selectors (a trail has one kind or the other).
        trail = self.trail.node.default_child
        assert isinstance(trail, cloudtrail.CfnTrail)
        trail.advanced_event_selectors = list[cloudtrail.CfnTrail.AdvancedEventSelectorProperty | IResolvable](
            event_selectors(data_buckets)
        )
        # A trail takes basic or advanced selectors, not both: the L2 trail's empty EventSelectors goes.
        trail.add_property_deletion_override("EventSelectors")
        acknowledge_inline_policies(
            self.trail,
            "CloudTrail's delivery role may only create streams in and put events to the trail's own log group; "
            "the policy is created and deleted with that role.",
        )
