"""DataTierStack: the IRIS mirror sets, their VIPs, backups and alarms."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, CfnOutput, Duration, Stack, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_route53 as route53
from constructs import Construct

from components.address_plan import tier_block
from components.encryption_key import EncryptionKey
from components.iris_credentials import MirrorCredentials
from components.iris_host_access import iris_hosts
from components.member_basics import alarm_topic, guard_placeholders, member_role
from components.member_monitoring import MemberLogGroups
from components.mirror_alarms import MirrorAlarms
from components.mirror_failover import FailoverMember, FailoverTarget, MirrorFailover, retarget_function_arn
from components.mirror_set import MirrorSet, member_record
from components.mirror_vip import MirrorHealthCheck
from components.snapshot_backup import CrossRegionCopy, SnapshotBackup, allow_backup_tagging
from components.vip_health import VipHealth
from config.constants import DR_MEMBER_NAME
from config.data import DataTierSettings
from config.dr import DrSettings
from config.placeholders import PLACEHOLDER_AMI, image_placeholders
from stacks.network import NetworkStack

if TYPE_CHECKING:  # the DR stack builds on the app tier, which builds on this one
    from stacks.dr_region import DrRegionStack

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
        dr: DrSettings | None = None,
        dr_region: DrRegionStack | None = None,
        **kwargs: object,
    ) -> None:
        """With ``dr`` and ``dr_region``: routes to the DR data tier over the
        peering, snapshot copies to the DR region with its key, and the alarms
        Route 53 follows for the DR'd mirror sets."""
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        ami_id = settings.ami_ids[self.region]
        guard_placeholders(
            self,
            "GoldenImageIsSet",
            [(f"data.ami_ids.{self.region}", ami_id, PLACEHOLDER_AMI), *image_placeholders(settings.iris)],
        )

        self.key = EncryptionKey(
            self, "DataKey", description="Encrypts the IRIS volumes, snapshots and alarms", alias=f"alias/{construct_id}/data"
        )
        self.key.allow_service("cloudwatch.amazonaws.com", ["kms:Decrypt", "kms:GenerateDataKey*"])
        self.role = member_role(self)
        self.alarm_topic = alarm_topic(self, self.key.key, settings.alarm_email)
        # The members' CloudWatch agents write to these (components/member_monitoring.py).
        self.key.allow_cloudwatch_logs()
        self.member_logs = MemberLogGroups(self, "MemberLogs", encryption_key=self.key.key)

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

        # What turns the hosts into a mirror: IRIS from ECR, the members' names,
        # their passwords, and the marker a first primary leaves.
        self.zone = route53.PrivateHostedZone(
            self, "MemberZone", zone_name=settings.private_zone_name, vpc=network.vpc, comment="IRIS mirror members' names"
        )
        self.credentials = {
            m.name: MirrorCredentials(self, f"{m.name}Credentials", encryption_key=self.key.key, mirror_name=m.name)
            for m in settings.mirror_sets
        }
        markers = {m.name: f"/{construct_id}/{m.name}/mirror-created" for m in settings.mirror_sets}
        self.host = iris_hosts(
            self,
            self.role,
            iris=settings.iris,
            zone_name=settings.private_zone_name,
            health_check_port=settings.health_check_port,
            health_check_path=settings.health_check_path,
            qos_timeout_ms=settings.mirror_qos_timeout_ms,
            iris_instance=settings.iris_instance,
            log_groups=self.member_logs.names,
            credentials=list(self.credentials.values()),
            encryption_key=self.key.key,
            markers=list(markers.values()),
        )
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
                host=self.host,
                zone=self.zone,
                secrets=self.credentials[m.name].member_secrets,
                databases=settings.databases_of(m.name),
                mirror_marker=markers[m.name],
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
                iris_volume_members=[f"Member{i}" for i in range(len(mirror.members))],
                disk_used_alarm_percent=settings.disk_used_alarm_percent,
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
            encryption_key=self.key.key,
            alarm_topic=self.alarm_topic,
            copy=self._snapshot_copy(settings, dr, dr_region),
        )
        allow_backup_tagging(
            self,
            "BackupTagPolicy",
            role=self.role,
            target_tag=backup_tag,
            instances=[member.instance for mirror in self.mirror_sets.values() for member in mirror.members],
        )
        self._acknowledge_dlm_backups()

        self.health: dict[str, VipHealth] = {}
        if dr is not None and dr_region is not None:
            self._route_to_dr(network, dr, dr_region)
            for name in dr.mirror_sets:
                vip = self.mirror_sets[name].vip
                self.health[name] = VipHealth(
                    self,
                    f"{name}VipHealth",
                    load_balancer=vip.load_balancer,
                    target_groups={f"Member{i}": group for i, group in enumerate(vip.target_groups[settings.health_check_port])},
                    period=Duration.seconds(dr.dns.health_check_period_seconds),
                    evaluation_periods=dr.dns.failure_threshold,
                    description=f"{name} in {self.region}",
                )

    @staticmethod
    def _snapshot_copy(
        settings: DataTierSettings, dr: DrSettings | None, dr_region: DrRegionStack | None
    ) -> CrossRegionCopy | None:
        """Copies go to the DR region with its key; without one, where settings say, if anywhere."""
        if dr is not None and dr_region is not None:
            return CrossRegionCopy(dr.region, dr_region.key.key.key_arn, dr.snapshot_copy_retain_days)
        b = settings.backup
        if b.copy_region and b.copy_kms_key_arn:
            return CrossRegionCopy(b.copy_region, b.copy_kms_key_arn, b.copy_retain_days)
        return None

    def _route_to_dr(self, network: NetworkStack, dr: DrSettings, dr_region: DrRegionStack) -> None:
        """The data subnets reach the DR data tier over the peering, and nothing else does.

        The DR region resolves the members' names in this stack's zone, where
        its DR members have theirs too.
        """
        self.zone.add_vpc(dr_region.vpc)
        for name, member in dr_region.members.items():
            self.mirror_sets[name].records.append(
                member_record(
                    self.mirror_sets[name],
                    f"{DR_MEMBER_NAME}Name",
                    zone=self.zone,
                    set_name=name,
                    member=DR_MEMBER_NAME,
                    address=member.instance.instance_private_ip,
                )
            )
        dr_data = tier_block(dr.vpc_cidr, "data")
        for i, subnet in enumerate(network.subnets["data"].subnets):
            ec2.CfnRoute(
                self,
                f"DataToDr{i}",
                route_table_id=subnet.route_table.route_table_id,
                destination_cidr_block=dr_data,
                vpc_peering_connection_id=dr_region.peering.ref,
            )

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

    @property
    def instances(self) -> list[ec2.Instance]:
        return [i for m in self.mirror_sets.values() for i in m.instances]
