"""The async (DR) mirror members of a set in another region, one per zone, behind their own mirror VIP."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Stack, Tags
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from components.iris_host import MemberSecrets, data_member_commands
from components.iris_volume_set import IrisVolumeSet
from components.links import MemberBase, NetworkRefs
from components.mirror_member import MirrorMember
from components.mirror_vip import MirrorVip
from config.constants import DR_MEMBER_NAMES, IRIS_SUPERSERVER_PORT
from config.data import DataTierSettings, MirrorSetSettings

DR_MEMBER_SCRIPT = Path(__file__).resolve().parent.parent / "iris" / "dr_member.sh"
DR_MEMBER_ACTIONS = ("status", "promote")


def dr_member_document(scope: Construct, construct_id: str, *, iris_instance: str, iris_os_user: str) -> ssm.CfnDocument:
    """The SSM command document that reports on, or promotes, an async DR member (iris/dr_member.sh).

    Its ``action`` parameter takes only status or promote; the operator CLI
    runs it, never a schedule or an alarm.
    """
    return ssm.CfnDocument(
        scope,
        construct_id,
        document_type="Command",
        update_method="NewVersion",
        content={
            "schemaVersion": "2.2",
            "description": "Report on, or promote, the IRIS async DR member (python -m ops promote-dr)",
            "parameters": {
                "action": {
                    "type": "String",
                    "description": "(Required) status, or promote: make this member primary without the lost failover members",
                    "allowedValues": list(DR_MEMBER_ACTIONS),
                }
            },
            "mainSteps": [
                {
                    "action": "aws:runShellScript",
                    "name": "IrisDrMember",
                    "precondition": {"StringEquals": ["platformType", "Linux"]},
                    "inputs": {
                        "timeoutSeconds": "300",
                        "runCommand": [
                            f"export IRIS_INSTANCE='{iris_instance}'",
                            f"export IRIS_OS_USER='{iris_os_user}'",
                            "set -- '{{ action }}'",
                            *DR_MEMBER_SCRIPT.read_text().splitlines(),
                        ],
                    },
                }
            ],
        },
    )


@dataclass(frozen=True)
class OnPremisesJoin:
    """The on-premises mirror async members join in the hybrid model: its name, its failover
    members' addresses (whichever is primary answers) and its arbiter's address."""

    mirror_name: str
    failover_addresses: Sequence[str]
    arbiter_address: str


class AsyncMirrorMembers(Construct):
    """The async (disaster recovery) members of one mirror set, one per subnet given, and a VIP in front of them.

    Guarantees: the hardening of every MirrorMember (EBS-optimized, IMDSv2,
    no key pair, termination protection, pinned AMI) and, for each member, its
    own volume set in its own zone laid out like the failover members' (an
    IrisVolumeSet: io1, encrypted with the given key, retained). Each member
    configures IRIS at every boot like them (iris/member_boot.sh) and joins the
    set as a DR async member under its own name (DR, DR1, DR2: HSDBDR,
    HSDBDR1 in the mirror). No ^ZMIRROR hook: an async member becomes primary
    only when a person promotes it (python -m ops promote-dr), which also moves
    the VIP to it. The VIP has a target group per member, and its health check
    always asks the mirror status page, so a member's group is healthy only
    while that member is primary: the DNS failover follows that.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        network: NetworkRefs,
        subnets: Sequence[ec2.ISubnet],
        instance_type: str,
        settings: MirrorSetSettings,
        data_settings: DataTierSettings,
        base: MemberBase,
        role: iam.IRole,
        secrets: MemberSecrets,
        onprem: OnPremisesJoin | None = None,
    ) -> None:
        """A member in each of ``subnets`` (distinct data subnets of ``network``), the VIP over all of
        the data subnets; volumes from ``settings``; image, root volume and databases from
        ``data_settings``; key, hosts and health check from ``base``; ``role`` and ``secrets`` are the set's own.
        They join the set's failover members in the primary region, or with ``onprem`` an on-premises mirror."""
        super().__init__(scope, construct_id)
        if not 1 <= len(subnets) <= len(DR_MEMBER_NAMES):
            raise ValueError(f"a mirror set has 1 to {len(DR_MEMBER_NAMES)} async DR members, not {len(subnets)}")
        region = Stack.of(self).region
        vpc, vip_subnets = network.vpc, network.tier("data")
        security_group, vip_security_group = network.security_groups.data, network.security_groups.data_lb
        health_check, host = base.health_check, base.host
        databases = data_settings.databases_of(construct_id)
        self.volume_sets: dict[str, IrisVolumeSet] = {}
        self.members: dict[str, MirrorMember] = {}
        for index, (member, subnet) in enumerate(zip(DR_MEMBER_NAMES, subnets, strict=False)):
            # The first member's construct ids are those of the single member of before: its
            # instance and volumes keep their logical ids, so adding members replaces nothing.
            volumes = IrisVolumeSet(
                self,
                "Volumes" if index == 0 else f"Volumes{member}",
                availability_zone=subnet.availability_zone,
                specs=settings.volumes,
                encryption_key=base.key,
            )
            self.volume_sets[member] = volumes
            self.members[member] = MirrorMember(
                self,
                member,
                vpc=vpc,
                subnet=subnet,
                security_group=security_group,
                instance_type=instance_type,
                ami_id=data_settings.ami_ids[region],
                region=region,
                role=role,
                encryption_key=base.key,
                root_device_name=data_settings.root_device_name,
                root_volume_gib=data_settings.root_volume_gib,
                volumes=volumes,
                # It joins the set as a DR async member through whichever failover member is primary.
                user_data_commands=data_member_commands(
                    host,
                    set_name=construct_id,
                    member=member,
                    async_member=True,
                    instance_type=instance_type,
                    databases=databases,
                    peers=["Member0", "Member1"] if onprem is None else list(onprem.failover_addresses),
                    creates_mirror=False,
                    secrets=secrets,
                    marker="",
                    mounts=volumes.mount_specs(),
                    onprem_mirror=onprem.mirror_name if onprem else None,
                    onprem_arbiter=onprem.arbiter_address if onprem else None,
                ),
            )
            Tags.of(self.members[member].instance).add("IrisMirrorRole", "async")
        # Only the primary answers 200 on the status page, whatever the
        # failover method of the primary region.
        status_page = dataclasses.replace(health_check, http=True)
        self.vip = MirrorVip(
            self,
            "Vip",
            vpc=vpc,
            subnets=vip_subnets,
            security_group=vip_security_group,
            members=[m.instance for m in self.members.values()],
            ports=sorted({IRIS_SUPERSERVER_PORT, health_check.port}),
            health_check=status_page,
        )

    @property
    def instances(self) -> dict[str, ec2.Instance]:
        """The members' instances by member name (DR, DR1, ...), in zone order."""
        return {name: member.instance for name, member in self.members.items()}
