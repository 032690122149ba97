"""An Auto Scaling group of hardened Linux servers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Duration, Stack
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from components.encryption_key import EncryptionKey
from components.nag import acknowledge
from components.severity import AlarmTopics, severity_alarm
from config.app import AppTierSettings, FleetSettings

AUTO_SCALING_SERVICE = "autoscaling.amazonaws.com"
# How long the group may run below its minimum before the alarm fires.
BELOW_MINIMUM_MINUTES = 10


@dataclass(frozen=True)
class FleetSpec:
    """What one fleet runs, and how many."""

    instance_type: str
    ami_id: str
    min_capacity: int
    max_capacity: int
    root_device_name: str
    root_volume_gib: int
    # Target tracking leaves a new instance's metrics out this long.
    warmup_seconds: int


def auto_scaling_role(scope: Construct, construct_id: str, *, suffix: str) -> tuple[iam.CfnServiceLinkedRole, str]:
    """A service-linked role of EC2 Auto Scaling owned by this stack, and its ARN.

    Groups launch through it, so a customer-managed key's policy can name it
    before any group exists; the account's default Auto Scaling role may not
    exist yet when the key is created, and a key policy cannot name a
    principal that does not exist.
    """
    role = iam.CfnServiceLinkedRole(
        scope,
        construct_id,
        aws_service_name=AUTO_SCALING_SERVICE,
        custom_suffix=suffix,
        description=f"EC2 Auto Scaling for the groups of {Stack.of(scope).stack_name}",
    )
    stack = Stack.of(scope)
    arn = (
        f"arn:{stack.partition}:iam::{stack.account}:role/aws-service-role/"
        f"{AUTO_SCALING_SERVICE}/AWSServiceRoleForAutoScaling_{suffix}"
    )
    return role, arn


class ServerFleet(Construct):
    """Servers of one kind in an Auto Scaling group, spread over the given subnets.

    Guarantees: a launch template with IMDSv2 required, an explicit AMI id
    (never a "latest" that changes under the group), no key pair (SSM Session
    Manager only), detailed monitoring, EBS optimization and an encrypted gp3
    root volume under ``encryption_key``; no public address; the group
    balances its instances over the subnets' zones, launches through
    ``service_linked_role_arn`` (the role the key's policy admits), collects
    group metrics, replaces instances one at a time when the launch template
    changes, and raises an ``alarm_kind`` alarm (components/severity.py) when
    fewer than the minimum are in service.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: Sequence[ec2.ISubnet],
        security_group: ec2.ISecurityGroup,
        spec: FleetSpec,
        region: str,
        role: iam.IRole,
        encryption_key: kms.IKey,
        service_linked_role: iam.CfnServiceLinkedRole,
        service_linked_role_arn: str,
        user_data_commands: Sequence[str],
        alarm_topics: AlarmTopics,
        alarm_kind: str,
        description: str,
    ) -> None:
        super().__init__(scope, construct_id)
        user_data = ec2.UserData.for_linux()
        user_data.add_commands(*user_data_commands)
        self.launch_template = ec2.LaunchTemplate(
            self,
            "LaunchTemplate",
            instance_type=ec2.InstanceType(spec.instance_type),
            # An explicit image id per region: a new base image never reaches
            # the group unless an operator changes the setting.
            machine_image=ec2.MachineImage.generic_linux({region: spec.ami_id}),
            role=role,
            security_group=security_group,
            user_data=user_data,
            require_imdsv2=True,
            http_put_response_hop_limit=1,
            detailed_monitoring=True,
            ebs_optimized=True,
            block_devices=[
                ec2.BlockDevice(
                    device_name=spec.root_device_name,
                    volume=ec2.BlockDeviceVolume.ebs(
                        spec.root_volume_gib,
                        encrypted=True,
                        kms_key=encryption_key,
                        volume_type=ec2.EbsDeviceVolumeType.GP3,
                        delete_on_termination=True,
                    ),
                )
            ],
            version_description=description,
        )
        self.group = autoscaling.AutoScalingGroup(
            self,
            "Group",
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnets=list(subnets)),
            launch_template=self.launch_template,
            min_capacity=spec.min_capacity,
            max_capacity=spec.max_capacity,
            az_capacity_distribution_strategy=autoscaling.CapacityDistributionStrategy.BALANCED_BEST_EFFORT,
            health_checks=autoscaling.HealthChecks.ec2(grace_period=Duration.seconds(max(spec.warmup_seconds, 60))),
            default_instance_warmup=Duration.seconds(spec.warmup_seconds),
            group_metrics=[autoscaling.GroupMetrics.all()],
            update_policy=autoscaling.UpdatePolicy.rolling_update(
                max_batch_size=1,
                # A replacement never takes the group below its minimum less one.
                min_instances_in_service=max(spec.min_capacity - 1, 0),
                pause_time=Duration.seconds(spec.warmup_seconds),
            ),
        )
        cfn_group = self.group.node.default_child
        assert isinstance(cfn_group, autoscaling.CfnAutoScalingGroup)
        cfn_group.service_linked_role_arn = service_linked_role_arn
        self.group.node.add_dependency(service_linked_role)
        self._alarm_below_minimum(spec.min_capacity, alarm_topics, alarm_kind, description)
        acknowledge(
            self.group,
            {
                "AwsSolutions::AwsSolutions-AS3": "Launch and termination failures surface as the group's below-minimum "
                "alarm (and, for web servers, the unhealthy-hosts alarm) on the project's alarm topic; the activity "
                "history and CloudTrail keep every scaling event."
            },
        )
        acknowledge(
            self.launch_template,
            {
                "CloudFormation-Validate::W9010": "The AMI id is pinned in settings per region on purpose: servers change "
                "image only when an operator changes the setting, never because a newer base image was published."
            },
        )

    def _alarm_below_minimum(self, minimum: int, topics: AlarmTopics, kind: str, description: str) -> None:
        if minimum < 1:
            return
        self.below_minimum_alarm = severity_alarm(
            self,
            "BelowMinimum",
            kind=kind,
            topics=topics,
            metric=cw.Metric(
                namespace="AWS/AutoScaling",
                metric_name="GroupInServiceInstances",
                dimensions_map={"AutoScalingGroupName": self.group.auto_scaling_group_name},
                statistic="Minimum",
                period=Duration.minutes(1),
            ),
            threshold=minimum,
            evaluation_periods=BELOW_MINIMUM_MINUTES,
            comparison_operator=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.BREACHING,
            subject=f"{description}: fewer than {minimum} in service for {BELOW_MINIMUM_MINUTES} minutes "
            "(launches failing or instances unhealthy)",
        )


def fleet_key(
    scope: Construct, key_id: str, *, description: str, alias: str, suffix: str
) -> tuple[EncryptionKey, iam.CfnServiceLinkedRole, str]:
    """A key for a region's server fleets (volumes, logs) and the Auto Scaling service-linked role allowed to use it."""
    key = EncryptionKey(scope, key_id, description=description, alias=alias)
    key.allow_cloudwatch_logs()
    role, role_arn = auto_scaling_role(scope, "AutoScalingRole", suffix=suffix)
    key.allow_auto_scaling(role_arn)
    # A key policy may name only principals that exist.
    key.key.node.add_dependency(role)
    return key, role, role_arn


def fleet_spec(f: FleetSettings, ami_id: str, app: AppTierSettings) -> FleetSpec:
    """A fleet of the app tier: its size from ``f``, root volume and warm-up from the app tier's settings."""
    return FleetSpec(
        instance_type=f.instance_type,
        ami_id=ami_id,
        min_capacity=f.min_capacity,
        max_capacity=f.max_capacity,
        root_device_name=app.root_device_name,
        root_volume_gib=app.root_volume_gib,
        warmup_seconds=app.scaling.warmup_seconds,
    )
