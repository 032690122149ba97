"""One IRIS synchronous failover mirror: two data members and an arbiter."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, Stack, Tags
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_route53 as route53
from constructs import Construct

from components.iris_host import MemberSecrets, arbiter_commands, data_member_commands, host_name
from components.iris_volume_set import IrisVolumeSet
from components.links import DataTierLink, NetworkRefs
from components.mirror_failover import member_hook_commands
from components.mirror_member import MirrorMember
from components.mirror_vip import MirrorVip
from components.snapshot_backup import backup_role_commands
from config.constants import IRIS_SUPERSERVER_PORT
from config.data import DataTierSettings, MirrorSetSettings

FAILOVER_MEMBERS = 2
# A member's name follows a new instance's address within a minute.
MEMBER_RECORD_TTL = Duration.seconds(60)


def member_record(
    scope: Construct, construct_id: str, *, zone: route53.IHostedZone, set_name: str, member: str, address: str
) -> route53.ARecord:
    """The A record of a member's stable name (components/iris_host.host_name) in the data tier's zone."""
    name = host_name(set_name, member, zone.zone_name)
    return route53.ARecord(
        scope,
        construct_id,
        zone=zone,
        record_name=f"{name}.",
        target=route53.RecordTarget.from_ip_addresses(address),
        ttl=MEMBER_RECORD_TTL,
        comment=f"{member} of mirror set {set_name}",
    )


class MirrorSet(Construct):
    """Primary and backup in two AZs and an arbiter in the third, behind a VIP.

    Guarantees: three instances in the data subnets of three distinct AZs;
    each failover member has its own IrisVolumeSet and configures IRIS at
    every boot (iris/member_boot.sh): Member0 creates the mirror at the
    first deploy, Member1 joins it as backup, and the arbiter runs
    only the ISCAgent; each has a stable name in ``zone``. The failover
    members run the backup-role timer, which puts ``backup_tag`` on whichever
    of them is the mirror's backup so that the snapshot policy finds it, and
    ^ZMIRROR, whose helper invokes ``retarget_function_arn`` (the set's own
    function) when they become primary. The arbiter runs with ``arbiter_role``,
    which holds no password, marker or invoke permission.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        network: NetworkRefs,
        settings: MirrorSetSettings,
        data_settings: DataTierSettings,
        data: DataTierLink,
        role: iam.IRole,
        arbiter_role: iam.IRole,
        secrets: MemberSecrets,
        mirror_marker: str,
        retarget_function_arn: str,
    ) -> None:
        """In ``network``'s data subnets and groups; sizes from ``settings``; image, root volume and
        databases from ``data_settings``; key, hosts, zone, health check, backup tag and retarget
        function from ``data``; ``role``, ``arbiter_role``, ``secrets`` and the retarget function are the set's own."""
        super().__init__(scope, construct_id)
        region = Stack.of(self).region
        vpc, subnets = network.vpc, network.tier("data")
        security_group, vip_security_group = network.security_groups.data, network.security_groups.data_lb
        instance_type, arbiter_instance_type = settings.instance_type, settings.arbiter_instance_type
        ami_id, volume_specs = data_settings.ami_ids[region], settings.volumes
        root_device_name, root_volume_gib = data_settings.root_device_name, data_settings.root_volume_gib
        encryption_key, health_check, backup_tag, host, zone = data.key, data.health_check, data.backup_tag, data.host, data.zone
        databases = data_settings.databases_of(construct_id)
        if len({s.availability_zone for s in subnets}) != FAILOVER_MEMBERS + 1 or len(subnets) != FAILOVER_MEMBERS + 1:
            raise ValueError("a mirror set needs three subnets in three distinct availability zones")

        def member(
            member_id: str,
            subnet: ec2.ISubnet,
            size: str,
            volumes: IrisVolumeSet | None,
            commands: Sequence[str] = (),
            member_role: iam.IRole = role,
        ) -> MirrorMember:
            return MirrorMember(
                self,
                member_id,
                vpc=vpc,
                subnet=subnet,
                security_group=security_group,
                instance_type=size,
                ami_id=ami_id,
                region=region,
                role=member_role,
                encryption_key=encryption_key,
                root_device_name=root_device_name,
                root_volume_gib=root_volume_gib,
                volumes=volumes,
                user_data_commands=commands,
            )

        self.members: list[MirrorMember] = []
        for i in range(FAILOVER_MEMBERS):
            volumes = IrisVolumeSet(
                self,
                f"Member{i}Volumes",
                availability_zone=subnets[i].availability_zone,
                specs=volume_specs,
                encryption_key=encryption_key,
            )
            name = f"Member{i}"
            commands = [
                *member_hook_commands(mirror_set=construct_id, member=name, function_arn=retarget_function_arn, region=region),
                *data_member_commands(
                    host,
                    set_name=construct_id,
                    member=name,
                    async_member=False,
                    instance_type=instance_type,
                    databases=databases,
                    peers=[f"Member{j}" for j in range(FAILOVER_MEMBERS) if j != i],
                    # The mirror's first primary is always Member0, so that a planned
                    # switch (initial_primary) changes no instance's user data.
                    creates_mirror=i == 0,
                    secrets=secrets,
                    marker=mirror_marker,
                    mounts=volumes.mount_specs(),
                ),
                *backup_role_commands(target_tag=backup_tag),
            ]
            m = member(name, subnets[i], instance_type, volumes, commands)
            Tags.of(m.instance).add("IrisMirrorRole", "failover")
            self.members.append(m)
        self.arbiter = member(
            "Arbiter",
            subnets[FAILOVER_MEMBERS],
            arbiter_instance_type,
            None,
            arbiter_commands(host, set_name=construct_id),
            member_role=arbiter_role,
        )
        Tags.of(self.arbiter.instance).add("IrisMirrorRole", "arbiter")
        self.records = [
            member_record(
                self, f"{name}Name", zone=zone, set_name=construct_id, member=name, address=m.instance.instance_private_ip
            )
            for name, m in (*((f"Member{i}", m) for i, m in enumerate(self.members)), ("Arbiter", self.arbiter))
        ]

        self.vip = MirrorVip(
            self,
            "Vip",
            vpc=vpc,
            subnets=subnets,
            security_group=vip_security_group,
            members=[m.instance for m in self.members],
            ports=sorted({IRIS_SUPERSERVER_PORT, health_check.port}),
            health_check=health_check,
        )
