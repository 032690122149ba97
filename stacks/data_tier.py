"""DataTierStack: the IRIS mirror sets, their VIPs, backups and alarms."""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnOutput, CfnRule, CfnRuleAssertion, Fn, Stack, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from components.encryption_key import EncryptionKey
from components.mirror_alarms import MirrorAlarms
from components.mirror_failover import FailoverMember, FailoverTarget, MirrorFailover, retarget_function_arn
from components.mirror_set import MirrorSet
from components.mirror_vip import MirrorHealthCheck
from components.service_role import service_role
from components.snapshot_backup import CrossRegionCopy, SnapshotBackup
from config.placeholders import PLACEHOLDER_AMI
from config.settings import DataTierSettings
from stacks.network import NetworkStack

BACKUP_TAG_KEY = "IrisBackup"


class DataTierStack(Stack):
    """One or more IRIS mirror sets in the data subnets of the network.

    Exposes ``mirror_sets`` (by name), ``failover``, ``key`` and
    ``alarm_topic``. Volumes and the key are retained when the stack is deleted.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        network: NetworkStack,
        settings: DataTierSettings,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        ami_id = settings.ami_ids[self.region]
        self._guard_placeholder_ami(ami_id)

        self.key = EncryptionKey(
            self, "DataKey", description="Encrypts the IRIS volumes, snapshots and alarms", alias=f"alias/{construct_id}/data"
        )
        self.key.allow_service("cloudwatch.amazonaws.com", ["kms:Decrypt", "kms:GenerateDataKey*"])
        # Members decrypt their own EBS volumes through EC2, which needs no
        # permission on the instance role.
        self.role = service_role(
            self,
            "InstanceRole",
            service="ec2.amazonaws.com",
            description="IRIS mirror members: SSM Session Manager and the CloudWatch agent, nothing broader",
            aws_managed_policies={
                "AmazonSSMManagedInstanceCore": "The AWS-maintained minimum for SSM Session Manager (no SSH, no key pairs); "
                "the instance role holds nothing else but the invoke permission of ^ZMIRROR.",
                "CloudWatchAgentServerPolicy": "The AWS-maintained minimum for the CloudWatch agent's metrics and logs; "
                "the instance role holds nothing else but the invoke permission of ^ZMIRROR.",
            },
        )

        self.alarm_topic = sns.Topic(
            self, "AlarmTopic", master_key=self.key.key, enforce_ssl=True, display_name=f"{construct_id} alarms"
        )
        if settings.alarm_email:
            self.alarm_topic.add_subscription(subscriptions.EmailSubscription(settings.alarm_email))

        health_check = MirrorHealthCheck(
            http=settings.failover_method == "polling",
            port=settings.health_check_port,
            path=settings.health_check_path,
            interval_seconds=settings.health_check_interval_seconds,
            healthy_threshold=settings.healthy_threshold,
            unhealthy_threshold=settings.unhealthy_threshold,
        )
        backup_tag = (BACKUP_TAG_KEY, construct_id)
        function_name = f"{construct_id}-retarget"
        function_arn = retarget_function_arn(self, function_name)
        self._allow_members_to_invoke(function_arn)
        data_subnets = network.subnets["data"].subnets
        self.mirror_sets: dict[str, MirrorSet] = {}
        for m in settings.mirror_sets:
            mirror = MirrorSet(
                self,
                m.name,
                vpc=network.vpc,
                subnets=data_subnets,
                security_group=network.security_groups.data,
                vip_security_group=network.security_groups.data_lb,
                instance_type=m.instance_type,
                arbiter_instance_type=m.arbiter_instance_type,
                ami_id=ami_id,
                region=self.region,
                role=self.role,
                encryption_key=self.key.key,
                volume_specs=m.volumes,
                root_device_name=settings.root_device_name,
                root_volume_gib=settings.root_volume_gib,
                health_check=health_check,
                backup_tag=backup_tag,
                failover_function_arn=function_arn,
            )
            self.mirror_sets[m.name] = mirror
            MirrorAlarms(
                self,
                f"{m.name}Alarms",
                mirror_name=m.name,
                instances={f"Member{i}": member.instance for i, member in enumerate(mirror.members)}
                | {"Arbiter": mirror.arbiter.instance},
                volumes={
                    f"Member{i}{role.title()}": (volume, m.volumes[role].iops)
                    for i, member in enumerate(mirror.members)
                    if member.volumes is not None
                    for role, volume in member.volumes.volumes.items()
                },
                load_balancer=mirror.vip.load_balancer,
                target_groups=mirror.vip.target_groups[min(mirror.vip.target_groups)],
                topic=self.alarm_topic,
            )

        self.failover = MirrorFailover(
            self,
            "Failover",
            function_name=function_name,
            vpc=network.vpc,
            subnets=data_subnets,
            security_group=network.security_groups.failover,
            targets=[
                FailoverTarget(
                    name=m.name,
                    vip=self.mirror_sets[m.name].vip,
                    members=[
                        FailoverMember(f"Member{i}", member.instance, "failover")
                        for i, member in enumerate(self.mirror_sets[m.name].members)
                    ],
                    desired_primary=f"Member{m.initial_primary}",
                )
                for m in settings.mirror_sets
            ],
            health_check=health_check,
            poll=settings.failover_method == "polling",
            encryption_key=self.key.key,
            alarm_topic=self.alarm_topic,
        )
        CfnOutput(
            self, "RetargetFunctionName", value=self.failover.function.function_name, description="python -m ops status|failover"
        )

        b = settings.backup
        self.backup = SnapshotBackup(
            self,
            "Backup",
            target_tag=backup_tag,
            schedule=b.schedule,
            retain_count=b.retain_count,
            iris_instance=settings.iris_instance,
            iris_os_user=settings.iris_os_user,
            encryption_key=self.key.key,
            copy=CrossRegionCopy(b.copy_region, b.copy_kms_key_arn, b.copy_retain_days)
            if b.copy_region and b.copy_kms_key_arn
            else None,
        )
        self._acknowledge_dlm_backups()

    def _allow_members_to_invoke(self, function_arn: str) -> None:
        """^ZMIRROR may invoke the retarget function, and no other function."""
        self.role.add_managed_policy(
            iam.ManagedPolicy(
                self,
                "InvokeRetargetPolicy",
                description="IRIS members: NotifyBecomePrimary^ZMIRROR invokes the mirror failover function",
                statements=[iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[function_arn])],
            )
        )

    def _acknowledge_dlm_backups(self) -> None:
        for mirror in self.mirror_sets.values():
            for member in mirror.members:
                assert member.volumes is not None
                for volume in member.volumes.volumes.values():
                    for pack in ("HIPAA.Security", "NIST.800.53.R5"):
                        Validations.of(volume).acknowledge(
                            Acknowledgment(
                                id=f"{pack}::{pack}-EC2EBSInBackupPlan",
                                reason="Backed up by the stack's Data Lifecycle Manager policy, which freezes IRIS "
                                "around each snapshot; an AWS Backup plan would add crash-consistent copies of a live database.",
                            )
                        )

    def _guard_placeholder_ami(self, ami_id: str) -> None:
        """Offline synthesis works with the placeholder image; a deployment does not.

        CloudFormation evaluates rules before it touches any resource, so a
        template that still names the placeholder fails at once, with this text.
        """
        if ami_id != PLACEHOLDER_AMI:
            return
        CfnRule(
            self,
            "GoldenImageIsSet",
            assertions=[
                CfnRuleAssertion(
                    assert_=Fn.condition_not(Fn.condition_equals(ami_id, PLACEHOLDER_AMI)),
                    assert_description=f"data.ami_ids.{self.region} is the placeholder {PLACEHOLDER_AMI}: "
                    "set it to your IRIS golden image (cdk.json or -c) before deploying",
                )
            ],
        )

    @property
    def instances(self) -> list[ec2.Instance]:
        return [i for m in self.mirror_sets.values() for i in m.instances]
