"""One IRIS synchronous failover mirror: two data members and an arbiter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Tags
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from components.iris_volume_set import IrisVolumeSet
from components.mirror_failover import member_hook_commands
from components.mirror_member import MirrorMember
from components.mirror_vip import MirrorHealthCheck, MirrorVip
from components.snapshot_backup import backup_role_commands
from config.constants import IRIS_SUPERSERVER_PORT
from config.settings import VolumeSpec

FAILOVER_MEMBERS = 2


class MirrorSet(Construct):
    """Primary and backup in two AZs and an arbiter in the third, behind a VIP.

    Guarantees: three instances in the data subnets of three distinct AZs;
    each failover member has its own IrisVolumeSet; the arbiter is a small
    instance with no data volumes; the failover members run the backup-role
    timer, which puts ``backup_tag`` on whichever of them is the mirror's
    backup so that the snapshot policy finds it, and ^ZMIRROR with its helper,
    which invoke ``failover_function_arn`` when they become primary.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: Sequence[ec2.ISubnet],
        security_group: ec2.ISecurityGroup,
        vip_security_group: ec2.ISecurityGroup,
        instance_type: str,
        arbiter_instance_type: str,
        ami_id: str,
        region: str,
        role: iam.IRole,
        encryption_key: kms.IKey,
        volume_specs: Mapping[str, VolumeSpec],
        root_device_name: str,
        root_volume_gib: int,
        health_check: MirrorHealthCheck,
        backup_tag: tuple[str, str],
        failover_function_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        if len({s.availability_zone for s in subnets}) != FAILOVER_MEMBERS + 1 or len(subnets) != FAILOVER_MEMBERS + 1:
            raise ValueError("a mirror set needs three subnets in three distinct availability zones")

        def member(
            member_id: str, subnet: ec2.ISubnet, size: str, volumes: IrisVolumeSet | None, commands: Sequence[str] = ()
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
                role=role,
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
            hooks = member_hook_commands(
                mirror_set=construct_id, member=f"Member{i}", function_arn=failover_function_arn, region=region
            )
            m = member(f"Member{i}", subnets[i], instance_type, volumes, [*hooks, *backup_role_commands(target_tag=backup_tag)])
            Tags.of(m.instance).add("IrisMirrorRole", "failover")
            self.members.append(m)
        self.arbiter = member("Arbiter", subnets[FAILOVER_MEMBERS], arbiter_instance_type, None)
        Tags.of(self.arbiter.instance).add("IrisMirrorRole", "arbiter")

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

    @property
    def instances(self) -> list[ec2.Instance]:
        return [m.instance for m in (*self.members, self.arbiter)]
