"""The account's CloudTrail trail."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from components.encryption_key import EncryptionKey
from components.log_retention import encrypted_log_group
from components.nag import acknowledge_inline_policies
from components.secure_bucket import encrypted_bucket


class AccountTrail(Construct):
    """A multi-region trail of the account's management events.

    Guarantees: log file validation on; log files encrypted with a
    customer-managed key that only CloudTrail of this account may use to
    encrypt; the bucket is TLS-only, versioned, private and logs its own
    access; events also go to a CloudWatch Logs group with a retention.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        access_logs: s3.IBucket,
        retention_days: int,
    ) -> None:
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
            replication_reason="CloudTrail itself records every region of the account into this one bucket; "
            "a cross-region copy belongs with the DR region stack, which does not exist yet.",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ArchiveTrail",
                    transitions=[
                        s3.Transition(storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, transition_after=Duration.days(90))
                    ],
                    noncurrent_version_expiration=Duration.days(30),
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
            management_events=cloudtrail.ReadWriteType.ALL,
        )
        acknowledge_inline_policies(
            self.trail,
            "CloudTrail's delivery role may only create streams in and put events to the trail's own log group; "
            "the policy is created and deleted with that role.",
        )
