"""DrMirrorSetStack: one mirror set's async members in the DR region, deployable on its own."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from constructs import Construct

from components.async_member import AsyncMirrorMembers, OnPremisesJoin
from components.iris_host_access import mirror_set_identity
from components.links import DrMember, MemberBase, MirrorLink, NetworkRefs
from components.mirror_alarms import MirrorAlarms
from components.mirror_failover import FailoverMember, FailoverRegistration, FailoverTarget
from components.nag import acknowledge, both_packs
from components.vip_health import VipHealth
from config.constants import DR_MEMBER_NAME
from config.data import DataTierSettings, MirrorSetSettings
from config.dr import DnsSettings, OnPremisesMirror

DESCRIPTION = "IRIS on AWS, DR region: one mirror set's async DR members (one per zone), io1 volumes, VIP, passwords and alarms"


class DrMirrorSetStack(Stack):
    """The async DR members of one mirror set (``dr.async_members_per_set``, one per DR zone), their VIP (which the DR retarget
    function knows but no deployment points anywhere), its own passwords (a DR
    member's accounts live in its own, unmirrored IRISSYS), its alarms and the
    per-member VIP alarms Route 53 follows. Exposes ``members`` and ``link``.
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
        instance_type: str,
        members: int,
        first_zone: int,
        dns: DnsSettings | None,
        onprem: OnPremisesMirror | None = None,
        **kwargs: object,
    ) -> None:
        """``members`` async members of instance type ``instance_type`` in as many zones from the
        ``first_zone``-th on; with ``dns``, the per-member VIP alarms Route 53 follows; with ``onprem``
        (the hybrid model), they join that on-premises mirror instead of the set's failover members."""
        kwargs.setdefault("description", DESCRIPTION)
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        name = settings.name
        self.role, self.credentials = mirror_set_identity(
            self, name, host_policies=[*base.host_policies, base.certificate_policy], encryption_key=base.key
        )
        subnets = network.tier("data")
        # One member per zone; the sets start at different zones, so several sets spread over them.
        self.members = AsyncMirrorMembers(
            self,
            name,
            network=network,
            subnets=[subnets[(first_zone + i) % len(subnets)] for i in range(members)],
            instance_type=instance_type,
            settings=settings,
            data_settings=data_settings,
            base=base,
            role=self.role,
            secrets=self.credentials.member_secrets,
            onprem=None
            if onprem is None
            else OnPremisesJoin(
                mirror_name=onprem.mirror_name,
                failover_addresses=[m.address for m in onprem.failover_members],
                arbiter_address=onprem.arbiter_address,
            ),
        )
        instances = self.members.instances
        backed_up = (
            "An async DR member is a replica of the primary; the primary's application-consistent "
            "snapshots are copied into this region, encrypted with the DR region's key."
            if onprem is None
            else "An async DR member is a replica of the on-premises primary, whose backups the data centre "
            "keeps; docs/dr-region.md (hybrid model) says how to back up a promoted member."
        )
        for volumes in self.members.volume_sets.values():
            for volume in volumes.volumes.values():
                acknowledge(volume, both_packs("EC2EBSInBackupPlan", backed_up))
        vip = self.members.vip
        # Watched as the failover members are: status checks, CPU, EBS queues, IRIS volumes.
        MirrorAlarms(
            self,
            f"{name}Alarms",
            mirror_name=f"{name} DR",
            instances=instances,
            volumes={
                f"{member}{role.title()}": (volume, settings.volumes[role].iops)
                for member, volumes in self.members.volume_sets.items()
                for role, volume in volumes.volumes.items()
            },
            load_balancer=vip.load_balancer,
            target_groups=vip.target_groups[min(vip.target_groups)],
            topics=base.alarm_topics,
            iris_volume_members=list(instances),
            disk_used_alarm_percent=data_settings.disk_used_alarm_percent,
            dr=True,
        )
        FailoverRegistration(
            self,
            f"{name}Failover",
            link=base.failover,
            target=FailoverTarget(
                name=name,
                vip=vip,
                members=[FailoverMember(member, instance, "async") for member, instance in instances.items()],
                desired_primary=None,
            ),
        )
        health_alarms = {}
        if dns is not None:
            health_alarms = VipHealth(
                self,
                f"{name}VipHealth",
                load_balancer=vip.load_balancer,
                target_groups=dict(zip(instances, vip.target_groups[base.health_check.port], strict=True)),
                period=Duration.seconds(dns.health_check_period_seconds),
                evaluation_periods=dns.failure_threshold,
                description=f"{name} in {self.region}",
            ).alarms
        addresses = {member: instance.instance_private_ip for member, instance in instances.items()}
        self.link = DrMember(
            addresses=addresses,
            link=MirrorLink(
                name=name,
                load_balancer=vip.load_balancer,
                member_addresses=list(addresses.values()),
                # No async member is primary until a person promotes one; the first stands for them all.
                initial_primary_address=addresses[DR_MEMBER_NAME],
                cspsystem=self.credentials.cspsystem,
                health_alarms=health_alarms,
            ),
        )
