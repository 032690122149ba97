"""What a mirror set's restore drill needs in the account: the scratch instance's security group,
role and image, its integrity-check document, and (when scheduled) a runbook that runs the drill.

The drill itself (ops/restore_drill.py) creates the volumes and the scratch instance and always
removes them; this construct creates nothing that holds data.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from components.member_basics import member_role
from config.constants import HTTPS_PORT

ROOT = Path(__file__).resolve().parent.parent
CHECK_SCRIPT = ROOT / "iris" / "restore_check.sh"
DRILL_MODULE = ROOT / "ops" / "restore_drill.py"
# ops/restore_drill.py OUTPUTS: the names the drill reads.
OUTPUTS = {
    "subnet_id": "RestoreDrillSubnet",
    "security_group_id": "RestoreDrillSecurityGroup",
    "instance_profile_arn": "RestoreDrillInstanceProfile",
    "document": "RestoreDrillDocument",
    "image_id": "RestoreDrillImage",
    "instance_type": "RestoreDrillInstanceType",
    "root_device": "RestoreDrillRootDevice",
    "root_volume_gib": "RestoreDrillRootVolumeGib",
    "key_arn": "RestoreDrillKey",
    "set_tag": "RestoreDrillSetTag",
}
VOLUMES_PATTERN = r"^vol-[0-9a-f]{8,17}:/iris/[a-z0-9]+( vol-[0-9a-f]{8,17}:/iris/[a-z0-9]+){0,7}$"


def check_document(*, image: str, iris_instance: str, region: str, timeout_seconds: int) -> dict[str, object]:
    """The SSM command document that runs iris/restore_check.sh on the scratch instance."""
    return {
        "schemaVersion": "2.2",
        "description": "Restore drill: mount the restored IRIS volumes and run CheckList^Integrity on their databases",
        "parameters": {
            "volumes": {
                "type": "String",
                "description": "(Required) VOLUME_ID:MOUNT_POINT pairs of the restored volumes, space-separated",
                "allowedPattern": VOLUMES_PATTERN,
            }
        },
        "mainSteps": [
            {
                "action": "aws:runShellScript",
                "name": "CheckIntegrity",
                "precondition": {"StringEquals": ["platformType", "Linux"]},
                "inputs": {
                    "timeoutSeconds": str(timeout_seconds),
                    "runCommand": [
                        "export VOLUMES='{{ volumes }}'",
                        f"export IMAGE='{image}'",
                        f"export IRIS_INSTANCE='{iris_instance}'",
                        f"export AWS_REGION='{region}'",
                        *CHECK_SCRIPT.read_text().splitlines(),
                    ],
                },
            }
        ],
    }


class RestoreDrillScratch(Construct):
    """The scratch side of one mirror set's restore drill.

    Guarantees: the scratch instance's security group admits nothing and reaches only HTTPS (the
    data subnets' VPC endpoints; they have no other way out), so it can never talk to a member;
    its role holds the members' host policies (image, files) and SSM, and no password, marker or
    invoke permission; the check document runs iris/restore_check.sh; the stack outputs name all of
    it for ``python -m ops restore-drill``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnet: ec2.ISubnet,
        host_policies: Sequence[iam.IManagedPolicy],
        encryption_key: kms.IKey,
        image_id: str,
        iris_image: str,
        iris_instance: str,
        instance_type: str,
        root_device: str,
        root_volume_gib: int,
        timeout_minutes: int,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.set_tag = stack.stack_name
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            allow_all_outbound=False,
            description=f"{self.set_tag} restore drill scratch instance: nothing in, HTTPS out to the VPC endpoints",
        )
        # The data subnets route nowhere but the VPC: anywhere on 443 means the VPC endpoints and S3
        # (whose prefix list id cannot be known offline), as for the members.
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(HTTPS_PORT), "AWS APIs through the VPC endpoints")
        self.role = member_role(self, "Role")
        for policy in host_policies:
            self.role.add_managed_policy(policy)
        self.profile = iam.InstanceProfile(self, "InstanceProfile", role=self.role)
        self.document = ssm.CfnDocument(
            self,
            "CheckDocument",
            document_type="Command",
            update_method="NewVersion",
            content=check_document(
                image=iris_image, iris_instance=iris_instance, region=stack.region, timeout_seconds=timeout_minutes * 60
            ),
        )
        values = {
            "subnet_id": subnet.subnet_id,
            "security_group_id": self.security_group.security_group_id,
            "instance_profile_arn": self.profile.instance_profile_arn,
            "document": self.document.ref,
            "image_id": image_id,
            "instance_type": instance_type,
            "root_device": root_device,
            "root_volume_gib": str(root_volume_gib),
            "key_arn": encryption_key.key_arn,
            "set_tag": self.set_tag,
        }
        for name, output in OUTPUTS.items():
            CfnOutput(stack, output, value=values[name], description=f"python -m ops restore-drill: {name.replace('_', ' ')}")
