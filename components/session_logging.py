"""Session Manager preferences of a region: every session logged, encrypted, to a log group and a bucket.

Guarantees: the region's ``SSM-SessionManagerRunShell`` document (the
preferences every shell session uses) streams each session's input and
output to an encrypted log group and uploads the transcript to an encrypted
bucket, under Object Lock (compliance mode) for as long as it is kept;
session data is encrypted with the region's session key; Run As is off
(sessions run as ssm-user); an idle session ends after the idle timeout.
``policy`` is what an instance needs to take part: write its sessions' logs
there and use the key; :class:`SessionLoggingGrants` attaches it to every
role EC2 instances assume in the region's stacks.
"""

from __future__ import annotations

import json

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ssm as ssm
from constructs import Construct, IConstruct

from components.encryption_key import EncryptionKey
from components.log_retention import encrypted_log_group
from components.nag import acknowledge
from components.secure_bucket import encrypted_bucket

# The name Session Manager reads its preferences from (one per account and region).
PREFERENCES_DOCUMENT = "SSM-SessionManagerRunShell"
IDLE_SESSION_TIMEOUT_MINUTES = 20
EC2_SERVICE = "ec2.amazonaws.com"


def preferences(*, bucket_name: str, log_group_name: str, key_id: str) -> dict[str, object]:
    """The preferences document's content (Session document schema 1.0, ``Standard_Stream``)."""
    return {
        "schemaVersion": "1.0",
        "description": "Session Manager preferences: every session logged, encrypted, to CloudWatch Logs and S3",
        "sessionType": "Standard_Stream",
        "inputs": {
            "s3BucketName": bucket_name,
            "s3KeyPrefix": "sessions",
            "s3EncryptionEnabled": True,
            "cloudWatchLogGroupName": log_group_name,
            "cloudWatchEncryptionEnabled": True,
            "cloudWatchStreamingEnabled": True,
            "kmsKeyId": key_id,
            "runAsEnabled": False,
            "idleSessionTimeout": str(IDLE_SESSION_TIMEOUT_MINUTES),
        },
    }


class SessionLogging(Construct):
    """The region's Session Manager preferences and where they send the sessions; see the module docstring."""

    def __init__(self, scope: Construct, construct_id: str, *, access_logs: s3.IBucket, retention_days: int) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.key = EncryptionKey(
            self,
            "Key",
            description="Encrypts Session Manager sessions and their logs",
            alias=f"alias/{stack.stack_name}/sessions",
        )
        self.key.allow_cloudwatch_logs()
        self.bucket = encrypted_bucket(
            self,
            "Bucket",
            encryption_key=self.key.key,
            access_logs=access_logs,
            replication_reason="Session transcripts are an audit record of this region's hosts, kept in the region "
            "they describe; the log group holds a second copy.",
            # A transcript is evidence: nobody deletes or rewrites one before it expires.
            object_lock_days=retention_days,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireSessions",
                    expiration=Duration.days(retention_days),
                    noncurrent_version_expiration=Duration.days(1),
                )
            ],
        )
        self.log_group = encrypted_log_group(self, "Logs", encryption_key=self.key.key, retention_days=retention_days)
        # logs:DescribeLogGroups takes no group: it lists those of the account and region.
        self.all_log_groups = stack.format_arn(
            service="logs", resource="log-group", resource_name="*", arn_format=ArnFormat.COLON_RESOURCE_NAME
        )
        self.document = ssm.CfnDocument(
            self,
            "Preferences",
            name=PREFERENCES_DOCUMENT,
            document_type="Session",
            update_method="NewVersion",
            content=preferences(
                bucket_name=self.bucket.bucket_name, log_group_name=self.log_group.log_group_name, key_id=self.key.key.key_id
            ),
        )
        self.policy = iam.ManagedPolicy(
            self,
            "InstancePolicy",
            description="EC2 instances: log their Session Manager sessions, encrypted, to the region's session logs",
            statements=self.instance_statements(),
        )
        acknowledge(
            self.policy,
            {
                f"AwsSolutions::AwsSolutions-IAM5[Resource::<{stack.get_logical_id(self.bucket.node.default_child)}.Arn>"  # type: ignore[arg-type]
                "/sessions/*]": "Session Manager names each transcript after its session, under the sessions/ prefix "
                "of this one bucket; the instances may only add objects there.",
                f"AwsSolutions::AwsSolutions-IAM5[Resource::{self.all_log_groups}]": "logs:DescribeLogGroups lists "
                "groups and takes no group as its resource; the SSM "
                "Agent calls it to check the session log group is encrypted before it opens a session.",
            },
        )

    def instance_statements(self) -> list[iam.PolicyStatement]:
        """What the SSM Agent on an instance needs for logged, encrypted sessions, on these resources only."""
        return [
            iam.PolicyStatement(
                sid="UploadSessionTranscripts",
                actions=["s3:PutObject"],
                resources=[self.bucket.arn_for_objects("sessions/*")],
            ),
            iam.PolicyStatement(
                sid="CheckTheBucketIsEncrypted", actions=["s3:GetEncryptionConfiguration"], resources=[self.bucket.bucket_arn]
            ),
            iam.PolicyStatement(
                sid="StreamSessionLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                # The group's ARN attribute ends in ":*": the group and its streams.
                resources=[self.log_group.log_group_arn],
            ),
            iam.PolicyStatement(
                sid="CheckTheLogGroupIsEncrypted",
                actions=["logs:DescribeLogGroups"],
                resources=[self.all_log_groups],
            ),
            iam.PolicyStatement(
                sid="EncryptSessions", actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[self.key.key.key_arn]
            ),
        ]


class SessionLoggingGrants:
    """Attaches ``policy`` to every IAM role that EC2 instances assume in the stacks it visits (a visitor
    of :class:`iam.Role`, components/visitors.py).

    Every instance with the SSM Agent uses the region's preferences: one
    that cannot write its session logs cannot open a session at all. So the
    grant goes to every instance role, whichever stack or component made it.
    """

    def __init__(self, policy: iam.IManagedPolicy) -> None:
        self._policy = policy

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, iam.Role) and EC2_SERVICE in json.dumps(Stack.of(node).resolve(node.assume_role_policy)):
            node.add_managed_policy(self._policy)
