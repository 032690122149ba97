"""An async (DR) mirror member in another region, behind its own mirror VIP."""

from __future__ import annotations

import dataclasses
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
from config.constants import DR_MEMBER_NAME, IRIS_SUPERSERVER_PORT
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


class AsyncMirrorMember(Construct):
    """An async (disaster recovery) member of one mirror set, and a VIP in front of it.

    Guarantees: the hardening of every MirrorMember (EBS-optimized, IMDSv2,
    no key pair, termination protection, pinned AMI) and the volume layout of
    the failover members (an IrisVolumeSet: io1, encrypted with the given key,
    retained). It configures IRIS at every boot like them (iris/member_boot.sh)
    and joins the set as a DR async member. No ^ZMIRROR hook: an async member becomes primary only when a
    person promotes it (python -m ops promote-dr), which also moves its VIP.
    The VIP's health check always asks the mirror status page, so its target
    is healthy only while this member is primary: the DNS failover follows that.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        network: NetworkRefs,
        subnet: ec2.ISubnet,
        instance_type: str,
        settings: MirrorSetSettings,
        data_settings: DataTierSettings,
        base: MemberBase,
        role: iam.IRole,
        secrets: MemberSecrets,
    ) -> None:
        """In ``subnet`` (one of ``network``'s data subnets), its VIP over all of them; volumes from
        ``settings``; image, root volume and databases from ``data_settings``; key, hosts and health
        check from ``base``; ``role`` and ``secrets`` are the set's own."""
        super().__init__(scope, construct_id)
        region = Stack.of(self).region
        vpc, vip_subnets = network.vpc, network.tier("data")
        security_group, vip_security_group = network.security_groups.data, network.security_groups.data_lb
        ami_id, volume_specs = data_settings.ami_ids[region], settings.volumes
        root_device_name, root_volume_gib = data_settings.root_device_name, data_settings.root_volume_gib
        encryption_key, health_check, host = base.key, base.health_check, base.host
        databases = data_settings.databases_of(construct_id)
        self.volumes = IrisVolumeSet(
            self,
            "Volumes",
            availability_zone=subnet.availability_zone,
            specs=volume_specs,
            encryption_key=encryption_key,
        )
        self.member = MirrorMember(
            self,
            DR_MEMBER_NAME,
            vpc=vpc,
            subnet=subnet,
            security_group=security_group,
            instance_type=instance_type,
            ami_id=ami_id,
            region=region,
            role=role,
            encryption_key=encryption_key,
            root_device_name=root_device_name,
            root_volume_gib=root_volume_gib,
            volumes=self.volumes,
            # It joins the set as a DR async member through whichever failover member is primary.
            user_data_commands=data_member_commands(
                host,
                set_name=construct_id,
                member=DR_MEMBER_NAME,
                async_member=True,
                instance_type=instance_type,
                databases=databases,
                peers=["Member0", "Member1"],
                creates_mirror=False,
                secrets=secrets,
                marker="",
                mounts=self.volumes.mount_specs(),
            ),
        )
        Tags.of(self.member.instance).add("IrisMirrorRole", "async")
        # Only the primary answers 200 on the status page, whatever the
        # failover method of the primary region.
        status_page = dataclasses.replace(health_check, http=True)
        self.vip = MirrorVip(
            self,
            "Vip",
            vpc=vpc,
            subnets=vip_subnets,
            security_group=vip_security_group,
            members=[self.member.instance],
            ports=sorted({IRIS_SUPERSERVER_PORT, health_check.port}),
            health_check=status_page,
        )

    @property
    def instance(self) -> ec2.Instance:
        return self.member.instance
