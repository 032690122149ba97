"""DrMirrorSetStack: one mirror set's async member in the DR region, deployable on its own."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from constructs import Construct

from components.async_member import AsyncMirrorMember
from components.iris_host_access import mirror_set_identity
from components.links import DrMember, MemberBase, MirrorLink, NetworkRefs
from components.mirror_alarms import MirrorAlarms
from components.mirror_failover import FailoverMember, FailoverRegistration, FailoverTarget
from components.nag import acknowledge, both_packs
from components.vip_health import VipHealth
from config.constants import DR_MEMBER_NAME
from config.data import DataTierSettings, MirrorSetSettings
from config.dr import DnsSettings, DrSettings

DESCRIPTION = "IRIS on AWS, DR region: one mirror set's async DR member, its io1 volumes, VIP, passwords and alarms"


class DrMirrorSetStack(Stack):
    """The async DR member of one mirror set, its VIP (which the DR retarget
    function knows but no deployment points anywhere), its own passwords (a DR
    member's accounts live in its own, unmirrored IRISSYS), its alarms and the
    per-member VIP alarms Route 53 follows. Exposes ``member`` and ``link``.
    Volumes are retained when the stack is deleted.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        network: NetworkRefs,
        base: MemberBase,
        settings: MirrorSetSettings,
        data_settings: DataTierSettings,
        dr: DrSettings,
        dns: DnsSettings,
        **kwargs: object,
    ) -> None:
        kwargs.setdefault("description", DESCRIPTION)
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        name = settings.name
        self.role, self.credentials = mirror_set_identity(
            self, name, host_policies=[*base.host_policies, base.certificate_policy], encryption_key=base.key
        )
        subnets = network.tier("data")
        # Members of several sets are spread over the zones.
        index = dr.mirror_sets.index(name)
        self.member = AsyncMirrorMember(
            self,
            name,
            network=network,
            subnet=subnets[index % len(subnets)],
            instance_type=dr.instance_type(settings),
            settings=settings,
            data_settings=data_settings,
            base=base,
            role=self.role,
            secrets=self.credentials.member_secrets,
        )
        for volume in self.member.volumes.volumes.values():
            acknowledge(
                volume,
                both_packs(
                    "EC2EBSInBackupPlan",
                    "An async DR member is a replica of the primary; the primary's application-consistent "
                    "snapshots are copied into this region, encrypted with the DR region's key.",
                ),
            )
        vip = self.member.vip
        # Watched as the failover members are: status checks, CPU, EBS queues, IRIS volumes.
        MirrorAlarms(
            self,
            f"{name}Alarms",
            mirror_name=f"{name} DR",
            instances={DR_MEMBER_NAME: self.member.instance},
            volumes={
                f"{DR_MEMBER_NAME}{role.title()}": (volume, settings.volumes[role].iops)
                for role, volume in self.member.volumes.volumes.items()
            },
            load_balancer=vip.load_balancer,
            target_groups=vip.target_groups[min(vip.target_groups)],
            topics=base.alarm_topics,
            iris_volume_members=[DR_MEMBER_NAME],
            disk_used_alarm_percent=data_settings.disk_used_alarm_percent,
            dr=True,
        )
        FailoverRegistration(
            self,
            f"{name}Failover",
            link=base.failover,
            target=FailoverTarget(
                name=name, vip=vip, members=[FailoverMember(DR_MEMBER_NAME, self.member.instance, "async")], desired_primary=None
            ),
        )
        health = VipHealth(
            self,
            f"{name}VipHealth",
            load_balancer=vip.load_balancer,
            target_groups={DR_MEMBER_NAME: vip.target_groups[base.health_check.port][0]},
            period=Duration.seconds(dns.health_check_period_seconds),
            evaluation_periods=dns.failure_threshold,
            description=f"{name} in {self.region}",
        )
        address = self.member.instance.instance_private_ip
        self.link = DrMember(
            address=address,
            link=MirrorLink(
                name=name,
                load_balancer=vip.load_balancer,
                member_addresses=[address],
                initial_primary_address=address,
                cspsystem=self.credentials.cspsystem,
                health_alarms=health.alarms,
            ),
        )
