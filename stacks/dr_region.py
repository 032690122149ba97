"""DrRegionStack: async DR members of the mirror sets in a second region."""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnOutput, Duration, Stack, Validations
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from components.address_plan import tier_block
from components.async_member import AsyncMirrorMember, dr_member_document
from components.encryption_key import EncryptionKey
from components.iris_credentials import MirrorCredentials
from components.iris_host_access import iris_hosts
from components.member_basics import alarm_topic, guard_placeholders, member_role
from components.member_monitoring import MemberLogGroups
from components.mirror_alarms import MirrorAlarms
from components.mirror_failover import FailoverMember, FailoverTarget, MirrorFailover
from components.mirror_vip import MirrorHealthCheck
from components.server_fleet import auto_scaling_role
from components.vip_health import VipHealth
from config.app import AppTierSettings
from config.constants import DR_MEMBER_NAME
from config.data import DataTierSettings
from config.dr import DrSettings
from config.placeholders import PLACEHOLDER_AMI, image_placeholders, placeholder_certificate_arn
from stacks.app_tier import build_web_tier
from stacks.network import NetworkStack


class DrRegionStack(Stack):
    """The DR region's half of the mirror: peering, async members, their VIPs and key.

    Exposes ``key`` (receives the data tier's snapshot copies), ``peering``
    (the primary region routes its data tier through it), ``vpc`` (resolves
    the members' names in the data tier's zone), ``members`` (by
    mirror set), ``failover`` (the DR retarget function) and ``health`` (the
    alarms Route 53 follows). Promotion of a DR member is never automatic.
    Volumes and the key are retained when the stack is deleted.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        network: NetworkStack,
        primary_network: NetworkStack,
        primary_vpc_cidr: str,
        data: DataTierSettings,
        app: AppTierSettings,
        dr: DrSettings,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        ami_id = data.ami_ids[self.region]
        assert dr.certificate_arn is not None  # validated with the settings
        guard_placeholders(
            self,
            "PlaceholdersAreReplaced",
            [
                (f"data.ami_ids.{self.region}", ami_id, PLACEHOLDER_AMI),
                (f"app.web_ami_ids.{self.region}", app.web_ami_ids[self.region], PLACEHOLDER_AMI),
                ("dr.certificate_arn", dr.certificate_arn, placeholder_certificate_arn(self.region)),
                *image_placeholders(data.iris),
            ],
        )

        self.key = EncryptionKey(
            self,
            "DrKey",
            description="Encrypts the DR members' volumes, the snapshot copies from the primary region, and alarms",
            alias=f"alias/{construct_id}/data",
        )
        self.key.allow_service("cloudwatch.amazonaws.com", ["kms:Decrypt", "kms:GenerateDataKey*"])
        self.role = member_role(self)
        self.alarm_topic = alarm_topic(self, self.key.key, data.alarm_email)
        self.key.allow_cloudwatch_logs()
        self.member_logs = MemberLogGroups(self, "MemberLogs", encryption_key=self.key.key)

        self.peering = self._peering(network, primary_network, primary_vpc_cidr)
        self.vpc = network.vpc

        health_check = MirrorHealthCheck(
            http=True,
            port=data.health_check_port,
            path=data.health_check_path,
            interval_seconds=data.health_check_interval_seconds,
            healthy_threshold=data.healthy_threshold,
            unhealthy_threshold=data.unhealthy_threshold,
        )
        data_subnets = network.subnets["data"].subnets
        sets = {m.name: m for m in data.mirror_sets}
        # The DR members' own passwords: a DR member's accounts live in its own,
        # unmirrored IRISSYS. The reduced web tier uses its CSPSystem password.
        self.credentials = {
            name: MirrorCredentials(self, f"{name}Credentials", encryption_key=self.key.key, mirror_name=name)
            for name in dr.mirror_sets
        }
        host = iris_hosts(
            self,
            self.role,
            iris=data.iris,
            zone_name=data.private_zone_name,
            health_check_port=data.health_check_port,
            health_check_path=data.health_check_path,
            qos_timeout_ms=data.mirror_qos_timeout_ms,
            iris_instance=data.iris_instance,
            log_groups=self.member_logs.names,
            credentials=list(self.credentials.values()),
            encryption_key=self.key.key,
        )
        self.members: dict[str, AsyncMirrorMember] = {}
        for i, name in enumerate(dr.mirror_sets):
            mirror_set = sets[name]
            self.members[name] = AsyncMirrorMember(
                self,
                name,
                vpc=network.vpc,
                # Members of several sets are spread over the zones.
                subnet=data_subnets[i % len(data_subnets)],
                vip_subnets=data_subnets,
                security_group=network.security_groups.data,
                vip_security_group=network.security_groups.data_lb,
                instance_type=dr.instance_type(mirror_set),
                ami_id=ami_id,
                region=self.region,
                role=self.role,
                encryption_key=self.key.key,
                volume_specs=mirror_set.volumes,
                root_device_name=data.root_device_name,
                root_volume_gib=data.root_volume_gib,
                health_check=health_check,
                host=host,
                secrets=self.credentials[name].member_secrets,
                databases=data.databases_of(name),
            )
        self._acknowledge_replica_volumes()
        # The DR members are watched as the failover members are: status checks, CPU, EBS queues, IRIS volumes.
        for name, member in self.members.items():
            MirrorAlarms(
                self,
                f"{name}Alarms",
                mirror_name=f"{name} DR",
                instances={DR_MEMBER_NAME: member.instance},
                volumes={
                    f"{DR_MEMBER_NAME}{role.title()}": (volume, sets[name].volumes[role].iops)
                    for role, volume in member.volumes.volumes.items()
                },
                load_balancer=member.vip.load_balancer,
                target_groups=member.vip.target_groups[min(member.vip.target_groups)],
                topic=self.alarm_topic,
                iris_volume_members=[DR_MEMBER_NAME],
                disk_used_alarm_percent=data.disk_used_alarm_percent,
            )

        self.failover = MirrorFailover(
            self,
            "Failover",
            function_name=f"{construct_id}-retarget",
            vpc=network.vpc,
            subnets=data_subnets,
            security_group=network.security_groups.failover,
            targets=[
                FailoverTarget(
                    name=name,
                    vip=member.vip,
                    members=[FailoverMember(DR_MEMBER_NAME, member.instance, "async")],
                    desired_primary=None,
                )
                for name, member in self.members.items()
            ],
            health_check=health_check,
            poll=False,
            encryption_key=self.key.key,
            alarm_topic=self.alarm_topic,
        )
        CfnOutput(
            self, "RetargetFunctionName", value=self.failover.function.function_name, description="python -m ops promote-dr"
        )
        self.member_document = dr_member_document(
            self, "DrMemberDocument", iris_instance=data.iris_instance, iris_os_user=data.iris_os_user
        )
        CfnOutput(self, "DrMemberDocumentName", value=self.member_document.ref, description="python -m ops promote-dr")

        self.health = {
            name: VipHealth(
                self,
                f"{name}VipHealth",
                load_balancer=member.vip.load_balancer,
                target_groups={DR_MEMBER_NAME: member.vip.target_groups[data.health_check_port][0]},
                period=Duration.seconds(dr.dns.health_check_period_seconds),
                evaluation_periods=dr.dns.failure_threshold,
                description=f"{name} in {self.region}",
            )
            for name, member in self.members.items()
        }
        self._reduced_web_tier(construct_id, network, data, app, dr)

    def _reduced_web_tier(
        self, construct_id: str, network: NetworkStack, data: DataTierSettings, app: AppTierSettings, dr: DrSettings
    ) -> None:
        """The app tier's web tier, reduced: ``dr.web_servers`` servers (growing up to the
        primary region's maximum after a promotion), this region's certificate, and the
        DR member of the application's mirror set as the Web Gateway's server."""
        assert dr.certificate_arn is not None
        self.auto_scaling_role, auto_scaling_role_arn = auto_scaling_role(self, "AutoScalingRole", suffix=construct_id)
        self.key.allow_auto_scaling(auto_scaling_role_arn)
        # A key policy may name only principals that exist.
        self.key.key.node.add_dependency(self.auto_scaling_role)
        self.gateway_password = self.credentials[app.mirror_set].cspsystem
        self.web = build_web_tier(
            self,
            network=network,
            settings=app,
            data_settings=data,
            members=[self.members[app.mirror_set].instance.instance_private_ip],
            certificate_arn=dr.certificate_arn,
            capacity=(dr.web_servers, max(dr.web_servers, app.web.max_capacity)),
            key=self.key,
            auto_scaling=(self.auto_scaling_role, auto_scaling_role_arn),
            password=self.gateway_password,
            alarm_topic=self.alarm_topic,
        )
        CfnOutput(self, "SiteDnsName", value=self.web.load_balancer.load_balancer_dns_name, description="the DR region's ALB")

    def _peering(
        self, network: NetworkStack, primary_network: NetworkStack, primary_vpc_cidr: str
    ) -> ec2.CfnVPCPeeringConnection:
        """Peering with the primary VPC; only the data subnets route through it.

        Both VPCs belong to this account, so CloudFormation accepts the
        request itself. Security groups and the data NACLs of both networks
        admit only 1972 and 2188 from the other side's data tier.
        """
        peering = ec2.CfnVPCPeeringConnection(
            self,
            "MirrorPeering",
            vpc_id=network.vpc.vpc_id,
            peer_vpc_id=primary_network.vpc.vpc_id,
            peer_region=primary_network.region,
            peer_owner_id=self.account,
        )
        primary_data = tier_block(primary_vpc_cidr, "data")
        for i, subnet in enumerate(network.subnets["data"].subnets):
            ec2.CfnRoute(
                self,
                f"DataToPrimary{i}",
                route_table_id=subnet.route_table.route_table_id,
                destination_cidr_block=primary_data,
                vpc_peering_connection_id=peering.ref,
            )
        return peering

    def _acknowledge_replica_volumes(self) -> None:
        for member in self.members.values():
            for volume in member.volumes.volumes.values():
                for pack in ("HIPAA.Security", "NIST.800.53.R5"):
                    Validations.of(volume).acknowledge(
                        Acknowledgment(
                            id=f"{pack}::{pack}-EC2EBSInBackupPlan",
                            reason="An async DR member is a replica of the primary; the primary's application-consistent "
                            "snapshots are copied into this region, encrypted with this stack's key.",
                        )
                    )
