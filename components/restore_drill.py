"""What a mirror set's restore drill needs in the account: the scratch instance's security group,
role and image, its integrity-check document, and (when scheduled) a runbook that runs the drill.

The drill itself (ops/restore_drill.py) creates the volumes and the scratch instance and always
removes them; this construct creates nothing that holds data.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from components.member_basics import member_role
from components.nag import acknowledge
from components.severity import AlarmTopics, severity_alarm
from config.constants import HTTPS_PORT
from ops.restore_drill import OUTPUTS  # the stack outputs the drill reads: one table for both sides

ROOT = Path(__file__).resolve().parent.parent
CHECK_SCRIPT = ROOT / "iris" / "restore_check.sh"
DRILL_MODULE = ROOT / "ops" / "restore_drill.py"
# ops/restore_drill.py: the tags and the metric the runbook's Finish step publishes.
MIRROR_SET_TAG = "IrisMirrorSet"
DRILL_TAG = "IrisRestoreDrill"
METRIC_NAMESPACE = "IRIS/RestoreDrill"
METRIC_NAME = "DrillFailed"
VOLUMES_PATTERN = r"^vol-[0-9a-f]{8,17}:/iris/[a-z0-9]+( vol-[0-9a-f]{8,17}:/iris/[a-z0-9]+){0,7}$"


def check_document(*, image: str, iris_instance: str, region: str, timeout_seconds: int) -> dict[str, object]:
    """The SSM command document that runs iris/restore_check.sh on the scratch instance."""
    return {
        "schemaVersion": "2.2",
        "description": "Restore drill: mount the restored IRIS volumes and run CheckList^Integrity on their databases",
        "parameters": {
            "volumes": {
                "type": "String",
                "description": "(Required) VOLUME_ID:MOUNT_POINT pairs of the restored volumes, space-separated",
                "allowedPattern": VOLUMES_PATTERN,
            }
        },
        "mainSteps": [
            {
                "action": "aws:runShellScript",
                "name": "CheckIntegrity",
                "precondition": {"StringEquals": ["platformType", "Linux"]},
                "inputs": {
                    "timeoutSeconds": str(timeout_seconds),
                    "runCommand": [
                        "export VOLUMES='{{ volumes }}'",
                        f"export IMAGE='{image}'",
                        f"export IRIS_INSTANCE='{iris_instance}'",
                        f"export AWS_REGION='{region}'",
                        *CHECK_SCRIPT.read_text().splitlines(),
                    ],
                },
            }
        ],
    }


class RestoreDrillScratch(Construct):
    """The scratch side of one mirror set's restore drill.

    Guarantees: the scratch instance's security group admits nothing and reaches only HTTPS (the
    data subnets' VPC endpoints; they have no other way out), so it can never talk to a member;
    its role holds the members' host policies (image, files) and SSM, and no password, marker or
    invoke permission; the check document runs iris/restore_check.sh; the stack outputs name all of
    it for ``python -m ops restore-drill``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnet: ec2.ISubnet,
        host_policies: Sequence[iam.IManagedPolicy],
        encryption_key: kms.IKey,
        image_id: str,
        iris_image: str,
        iris_instance: str,
        instance_type: str,
        root_device: str,
        root_volume_gib: int,
        timeout_minutes: int,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.set_tag = stack.stack_name
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            allow_all_outbound=False,
            description=f"{self.set_tag} restore drill scratch instance: nothing in, HTTPS out to the VPC endpoints",
        )
        # The data subnets route nowhere but the VPC: anywhere on 443 means the VPC endpoints and S3
        # (whose prefix list id cannot be known offline), as for the members.
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(HTTPS_PORT), "AWS APIs through the VPC endpoints")
        self.role = member_role(self, "Role")
        for policy in host_policies:
            self.role.add_managed_policy(policy)
        self.profile = iam.InstanceProfile(self, "InstanceProfile", role=self.role)
        self.document = ssm.CfnDocument(
            self,
            "CheckDocument",
            document_type="Command",
            update_method="NewVersion",
            content=check_document(
                image=iris_image, iris_instance=iris_instance, region=stack.region, timeout_seconds=timeout_minutes * 60
            ),
        )
        values = {
            "subnet_id": subnet.subnet_id,
            "security_group_id": self.security_group.security_group_id,
            "instance_profile_arn": self.profile.instance_profile_arn,
            "document": self.document.ref,
            "image_id": image_id,
            "instance_type": instance_type,
            "root_device": root_device,
            "root_volume_gib": str(root_volume_gib),
            "key_arn": encryption_key.key_arn,
            "set_tag": self.set_tag,
        }
        self.values = values
        for name, output in OUTPUTS.items():
            CfnOutput(stack, output, value=values[name], description=f"python -m ops restore-drill: {name.replace('_', ' ')}")


def runbook_content(*, scratch_outputs: dict[str, str], timeout_seconds: int) -> dict[str, object]:
    """The SSM Automation runbook: ops/restore_drill.py's Start, a wait for the check, and its Finish."""
    script = DRILL_MODULE.read_text()
    payload = {"Scratch": scratch_outputs, "RunId": "{{ automation:EXECUTION_ID }}", "TimeoutSeconds": timeout_seconds}
    return {
        "schemaVersion": "0.3",
        "description": "IRIS restore drill: the newest snapshot set on a scratch instance, CheckList^Integrity, teardown",
        "assumeRole": "{{ AutomationAssumeRole }}",
        "parameters": {"AutomationAssumeRole": {"type": "String", "description": "(Required) The runbook's role"}},
        "mainSteps": [
            {
                "name": "Start",
                "action": "aws:executeScript",
                "timeoutSeconds": 600,
                "onFailure": "step:Finish",
                "inputs": {"Runtime": "python3.11", "Handler": "automation_start", "Script": script, "InputPayload": payload},
                "outputs": [
                    {"Name": "InstanceId", "Selector": "$.Payload.InstanceId", "Type": "String"},
                    {"Name": "CommandId", "Selector": "$.Payload.CommandId", "Type": "String"},
                ],
            },
            {
                "name": "WaitForCheck",
                "action": "aws:waitForAwsResourceProperty",
                "timeoutSeconds": timeout_seconds + 600,
                "onFailure": "step:Finish",
                "inputs": {
                    "Service": "ssm",
                    "Api": "GetCommandInvocation",
                    "CommandId": "{{ Start.CommandId }}",
                    "InstanceId": "{{ Start.InstanceId }}",
                    "PropertySelector": "$.Status",
                    "DesiredValues": ["Success", "Failed", "Cancelled", "TimedOut"],
                },
            },
            {
                "name": "Finish",
                "action": "aws:executeScript",
                "timeoutSeconds": 600,
                "isEnd": True,
                "inputs": {"Runtime": "python3.11", "Handler": "automation_finish", "Script": script, "InputPayload": payload},
            },
        ],
    }


class RestoreDrillSchedule(Construct):
    """The restore drill on a schedule: an SSM Automation runbook started by an EventBridge rule, and
    a P3 alarm when a run fails.

    Guarantees: the runbook runs ops/restore_drill.py itself (its Start and Finish handlers), so a
    scheduled drill behaves as an operator's; Finish runs after any failed step and tears down what
    the run created; every run publishes IRIS/RestoreDrill DrillFailed (1 failed, 0 passed), and the
    alarm (kind ``restore-drill-failed``, P3) notifies its severity's topic when a run failed. The
    runbook's role may create volumes only from this set's snapshots, and start, attach, terminate
    and delete only what carries the drill's tag.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        scratch: RestoreDrillScratch,
        schedule: str,
        timeout_minutes: int,
        encryption_key: kms.IKey,
        alarm_topics: AlarmTopics,
        outputs: dict[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        set_tag = scratch.set_tag

        def arn(service: str, resource: str, name: str, *, account: bool = True) -> str:
            if account:
                return stack.format_arn(service=service, resource=resource, resource_name=name)
            return stack.format_arn(service=service, resource=resource, resource_name=name, account="")

        this_account = {"StringEquals": {"aws:SourceAccount": stack.account}}
        self.role = iam.Role(
            self,
            "RunbookRole",
            assumed_by=iam.ServicePrincipal("ssm.amazonaws.com", conditions=this_account),
            description=f"{set_tag} restore drill runbook",
        )
        drill_tag = {f"aws:ResourceTag/{DRILL_TAG}": set_tag}
        any_volume, any_instance = arn("ec2", "volume", "*"), arn("ec2", "instance", "*")
        policy = iam.ManagedPolicy(
            self,
            "RunbookPolicy",
            description=f"The {set_tag} restore drill: restore its snapshots on a scratch instance and remove it again",
            statements=[
                iam.PolicyStatement(
                    sid="Read",
                    actions=[
                        "ec2:DescribeSnapshots",
                        "ec2:DescribeVolumes",
                        "ec2:DescribeInstances",
                        "ec2:DescribeSubnets",
                        "ssm:DescribeInstanceInformation",
                        "ssm:ListCommandInvocations",
                        "ssm:GetCommandInvocation",
                    ],
                    resources=["*"],
                ),
                iam.PolicyStatement(
                    sid="FromThisSetsSnapshots",
                    actions=["ec2:CreateVolume"],
                    resources=[arn("ec2", "snapshot", "*", account=False)],
                    conditions={"StringEquals": {f"aws:ResourceTag/{MIRROR_SET_TAG}": set_tag}},
                ),
                iam.PolicyStatement(
                    sid="TaggedScratch",
                    actions=["ec2:CreateVolume", "ec2:RunInstances"],
                    resources=[any_volume, any_instance],
                    conditions={"StringEquals": {f"aws:RequestTag/{DRILL_TAG}": set_tag}},
                ),
                iam.PolicyStatement(
                    sid="TagOnCreate",
                    actions=["ec2:CreateTags"],
                    resources=[any_volume, any_instance],
                    conditions={"StringEquals": {"ec2:CreateAction": ["CreateVolume", "RunInstances"]}},
                ),
                iam.PolicyStatement(
                    sid="LaunchWhereTheDrillRuns",
                    actions=["ec2:RunInstances"],
                    resources=[
                        arn("ec2", "subnet", outputs["subnet_id"]),
                        arn("ec2", "security-group", outputs["security_group_id"]),
                        arn("ec2", "image", outputs["image_id"], account=False),
                        arn("ec2", "network-interface", "*"),
                    ],
                ),
                iam.PolicyStatement(
                    sid="PassScratchRole",
                    actions=["iam:PassRole"],
                    resources=[scratch.role.role_arn],
                    conditions={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
                ),
                iam.PolicyStatement(
                    sid="OnlyTheDrillsOwn",
                    actions=["ec2:AttachVolume", "ec2:TerminateInstances", "ec2:DeleteVolume"],
                    resources=[any_volume, any_instance],
                    conditions={"StringEquals": drill_tag},
                ),
                iam.PolicyStatement(
                    sid="RunTheCheck", actions=["ssm:SendCommand"], resources=[arn("ssm", "document", scratch.document.ref)]
                ),
                iam.PolicyStatement(
                    sid="OnTheScratchInstance",
                    actions=["ssm:SendCommand"],
                    resources=[any_instance],
                    conditions={"StringEquals": {f"ssm:resourceTag/{DRILL_TAG}": set_tag}},
                ),
                # The restored volumes are encrypted with the data key, as the snapshots are.
                iam.PolicyStatement(
                    sid="RestoredVolumesKey",
                    actions=[
                        "kms:Decrypt",
                        "kms:DescribeKey",
                        "kms:GenerateDataKeyWithoutPlaintext",
                        "kms:ReEncryptFrom",
                        "kms:ReEncryptTo",
                    ],
                    resources=[encryption_key.key_arn],
                ),
                iam.PolicyStatement(
                    sid="RestoredVolumesGrant",
                    actions=["kms:CreateGrant"],
                    resources=[encryption_key.key_arn],
                    conditions={"Bool": {"kms:GrantIsForAWSResource": True}},
                ),
                iam.PolicyStatement(
                    sid="Verdict",
                    actions=["cloudwatch:PutMetricData"],
                    resources=["*"],
                    conditions={"StringEquals": {"cloudwatch:namespace": METRIC_NAMESPACE}},
                ),
            ],
        )
        self.role.add_managed_policy(policy)
        acknowledge(
            policy,
            {
                "AwsSolutions::AwsSolutions-IAM5[Resource::*]": "EC2 and SSM Describe, List and GetCommandInvocation "
                "accept no resource ARN, and PutMetricData is limited to the drill's namespace by its condition.",
                f"AwsSolutions::AwsSolutions-IAM5[Resource::{any_volume}]": "The drill's volumes do not exist before "
                "it runs: creating one requires the drill's tag, and attaching or deleting one requires it on the volume.",
                f"AwsSolutions::AwsSolutions-IAM5[Resource::{any_instance}]": "The scratch instance does not exist "
                "before the drill: launching requires the drill's tag, and terminating it or sending it the check "
                "requires that tag on it.",
                f"AwsSolutions::AwsSolutions-IAM5[Resource::{arn('ec2', 'snapshot', '*', account=False)}]": "DLM names "
                "the snapshots; the condition allows only those tagged with this mirror set.",
                f"AwsSolutions::AwsSolutions-IAM5[Resource::{arn('ec2', 'network-interface', '*')}]": "RunInstances "
                "creates the scratch instance's network interface, which has no ARN before; the subnet and security "
                "group it may use are named.",
            },
        )
        self.runbook = ssm.CfnDocument(
            self,
            "Runbook",
            document_type="Automation",
            update_method="NewVersion",
            content=runbook_content(scratch_outputs=outputs_by_name(outputs), timeout_seconds=timeout_minutes * 60),
        )
        events_role = iam.Role(
            self,
            "ScheduleRole",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com", conditions=this_account),
            description=f"EventBridge: start the {set_tag} restore drill runbook",
        )
        definition = arn("ssm", "automation-definition", f"{self.runbook.ref}:$DEFAULT")
        events_role.add_managed_policy(
            iam.ManagedPolicy(
                self,
                "SchedulePolicy",
                description=f"Start the {set_tag} restore drill runbook with its role",
                statements=[
                    iam.PolicyStatement(actions=["ssm:StartAutomationExecution"], resources=[definition]),
                    iam.PolicyStatement(
                        actions=["iam:PassRole"],
                        resources=[self.role.role_arn],
                        conditions={"StringEquals": {"iam:PassedToService": "ssm.amazonaws.com"}},
                    ),
                ],
            )
        )
        self.rule = events.CfnRule(
            self,
            "Schedule",
            description=f"{set_tag}: the restore drill, {schedule}",
            schedule_expression=schedule,
            state="ENABLED",
            targets=[
                events.CfnRule.TargetProperty(
                    id="RestoreDrill",
                    arn=definition,
                    role_arn=events_role.role_arn,
                    input=stack.to_json_string({"AutomationAssumeRole": [self.role.role_arn]}),
                )
            ],
        )
        self.alarm = severity_alarm(
            self,
            "DrillFailed",
            kind="restore-drill-failed",
            subject=f"{set_tag}: the scheduled restore drill failed (the newest snapshot set did not restore, or "
            "^Integrity found errors); see the runbook's execution in Systems Manager",
            topics=alarm_topics,
            metric=cw.Metric(
                namespace=METRIC_NAMESPACE,
                metric_name=METRIC_NAME,
                dimensions_map={"MirrorSet": set_tag},
                statistic="Maximum",
                period=Duration.days(1),
            ),
            threshold=1,
            evaluation_periods=1,
        )


def outputs_by_name(values: dict[str, str]) -> dict[str, str]:
    """The scratch values keyed as the stack outputs are (ops/restore_drill.py Scratch.from_outputs)."""
    return {OUTPUTS[name]: value for name, value in values.items()}
