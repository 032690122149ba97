"""One IRIS mirror member (or arbiter) on EC2."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from components.iris_volume_set import IrisVolumeSet
from components.nag import acknowledge
from config.constants import IRIS_VOLUME_DEVICES

# Ends each file's heredoc in user data (short: user data is limited to 16 KB).
FILE_END = "IRIS_EOF"


def install_file_commands(path: str, text: str, mode: str, *, make_folder: bool = True) -> list[str]:
    """Shell commands (for user data) that write ``text`` to ``path`` (in its folder, made unless ``make_folder`` is off)."""
    delimiter = FILE_END
    if delimiter in text:
        raise ValueError(f"{path}: the content holds the heredoc delimiter {delimiter}")
    return [
        *([f"mkdir -p {Path(path).parent}"] if make_folder else []),
        f"cat > {path} <<'{delimiter}'",
        text.rstrip("\n"),
        delimiter,
        f"chmod {mode} {path}",
    ]


class MirrorMember(Construct):
    """An EC2 instance for an IRIS mirror member or arbiter.

    Guarantees: EBS-optimized, IMDSv2 required, detailed monitoring,
    termination protection, no key pair (SSM Session Manager only), an
    encrypted root volume, and a pinned AMI id: a new base image or a change of
    user data never replaces the instance. With ``volumes``, each data volume
    is attached at its role's device; ``user_data_commands`` mount them
    (components/iris_host.py).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnet: ec2.ISubnet,
        security_group: ec2.ISecurityGroup,
        instance_type: str,
        ami_id: str,
        region: str,
        role: iam.IRole,
        encryption_key: kms.IKey,
        root_device_name: str,
        root_volume_gib: int,
        volumes: IrisVolumeSet | None = None,
        user_data_commands: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        user_data = ec2.UserData.for_linux()
        user_data.add_commands(*user_data_commands)
        self.instance = ec2.Instance(
            self,
            "Instance",
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnets=[subnet]),
            security_group=security_group,
            instance_type=ec2.InstanceType(instance_type),
            # An explicit image id per region: never a "latest" parameter that
            # CloudFormation would resolve anew, and replace the server, on a deploy.
            machine_image=ec2.MachineImage.generic_linux({region: ami_id}),
            role=role,
            user_data=user_data,
            user_data_causes_replacement=False,
            require_imdsv2=True,
            detailed_monitoring=True,
            ebs_optimized=True,
            disable_api_termination=True,
            block_devices=[
                ec2.BlockDevice(
                    device_name=root_device_name,
                    volume=ec2.BlockDeviceVolume.ebs(
                        root_volume_gib,
                        encrypted=True,
                        kms_key=encryption_key,
                        volume_type=ec2.EbsDeviceVolumeType.GP3,
                        delete_on_termination=True,
                    ),
                )
            ],
        )
        acknowledge(
            self.instance,
            {
                "CloudFormation-Validate::W9010": "The AMI id is pinned in settings per region on purpose: a member is "
                "replaced only when an operator changes its image, never because a newer base image was published.",
                "CloudFormation-Validate::W3010": "The instance's zone is its subnet's, taken from settings: synthesis is "
                "hermetic and the mirror places members in three given zones.",
            },
        )
        self.attachments: list[ec2.CfnVolumeAttachment] = []
        if volumes is not None:
            for volume_role, volume in volumes.volumes.items():
                self.attachments.append(
                    ec2.CfnVolumeAttachment(
                        self,
                        f"{volume_role.title()}Attachment",
                        instance_id=self.instance.instance_id,
                        volume_id=volume.volume_id,
                        device=IRIS_VOLUME_DEVICES[volume_role],
                    )
                )
        self.volumes = volumes
