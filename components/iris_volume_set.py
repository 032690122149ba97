"""The data volumes of one IRIS mirror member."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import RemovalPolicy, Size, Tags
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from constructs import Construct

from components.nag import acknowledge
from config.constants import IRIS_MOUNT_POINTS, IRIS_VOLUME_DEVICES
from config.data import VolumeSpec


class IrisVolumeSet(Construct):
    """Separate io1 volumes for databases, primary and alternate journal and WIJ.

    Guarantees: one volume per role with the given size and provisioned IOPS
    (io1 limits checked by the VolumeSpec settings model), encrypted with the given customer-managed key,
    retained when the stack is deleted, and tagged with its role.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        availability_zone: str,
        specs: Mapping[str, VolumeSpec],
        encryption_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        if set(specs) != set(IRIS_VOLUME_DEVICES):
            raise ValueError(f"IrisVolumeSet needs exactly the roles {sorted(IRIS_VOLUME_DEVICES)}, got {sorted(specs)}")
        self.volumes: dict[str, ec2.Volume] = {}
        for role, spec in specs.items():
            volume = ec2.Volume(
                self,
                role.title(),
                availability_zone=availability_zone,
                size=Size.gibibytes(spec.size_gib),
                volume_type=ec2.EbsDeviceVolumeType.IO1,
                iops=spec.iops,
                encrypted=True,
                encryption_key=encryption_key,
                removal_policy=RemovalPolicy.RETAIN,
            )
            Tags.of(volume).add("IrisVolumeRole", role)
            acknowledge(
                volume,
                {
                    "CloudFormation-Validate::W3010": "A volume must live in its member's zone, which comes from settings: "
                    "synthesis is hermetic and the zones are validated to belong to the region."
                },
            )
            self.volumes[role] = volume

    def mount_specs(self) -> list[str]:
        """``VOLUME_ID:DEVICE:MOUNT_POINT`` for iris/mount_volumes.sh."""
        return [f"{v.volume_id}:{IRIS_VOLUME_DEVICES[role]}:{IRIS_MOUNT_POINTS[role]}" for role, v in self.volumes.items()]
