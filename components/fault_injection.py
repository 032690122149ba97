"""AWS FIS experiment templates that disrupt a mirror set, or the Mendix platform's Spot nodes, on purpose.

Every template stops itself when an alarm goes into ALARM that says the
disruption reached further than planned (:func:`stop_alarms`, from the severity
table of components/severity.py), acts only on resources it finds by this deployment's tags (or on
this stack's own subnets by ARN), and runs with a role of its own that may do
only what its actions need on those resources. An operator starts them with
``python -m ops experiment`` (ops/experiment.py), which finds them by the
stack outputs named here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import CfnOutput, Stack, Tags
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_fis as fis
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from components.nag import acknowledge
from components.severity import SeverityAlarm

# What stops an experiment comes from the alarm severity table (components/severity.py): every
# P1 alarm of what it disrupts (a mirror set's: its retarget function failing), and the alarms of
# the kinds below on what it leaves running. Those are P2 in the table, since the service still runs
# on the rest; with part of it out on purpose, the rest failing is P1's "system down". Only the
# failover members count: a set without its arbiter still serves. VipHealth's alarms are never stop
# conditions: the standby member's is in ALARM by design, and a stop condition in ALARM ends an
# experiment at once.
STOP_SEVERITY = "P1"
SURVIVOR_KINDS = ("member-status",)
FAILOVER_MEMBERS = ("Member0", "Member1")
# The Mendix platform: a Spot notice takes nodes on purpose; the app's targets failing means the rest did not carry it.
PLATFORM_SURVIVOR_KINDS = ("mendix-app-unhealthy",)

# Tags the experiments find their targets by; the snapshots DLM copies from the members carry them too.
MIRROR_SET_TAG = "IrisMirrorSet"
MEMBER_TAG = "IrisMirrorMember"
# Karpenter's own tags on the nodes it launches.
KARPENTER_POOL_TAG = "karpenter.sh/nodepool"
EKS_CLUSTER_TAG = "eks:eks-cluster-name"
# FIS tags the network ACL it puts on a subnet during aws:network:disrupt-connectivity.
FIS_MANAGED_TAG = "managedByFIS"
# The real Spot notice is two minutes; FIS sends the same.
SPOT_NOTICE = "PT2M"

# The stack outputs ops/experiment.py reads, one per template.
STOP_OUTPUT = "ExperimentStop{member}"
AZ_POWER_OUTPUT = "ExperimentAzPower{zone}"
NETWORK_OUTPUT = "ExperimentNetwork{zone}"
SPOT_OUTPUT = "ExperimentSpotInterruption"


def zone_id(zone: str) -> str:
    """eu-west-1a -> EuWest1a: a zone in a construct id or an output name."""
    return "".join(part[:1].upper() + part[1:] for part in zone.split("-"))


def minutes(value: int) -> str:
    return f"PT{value}M"


def stop_alarms(
    alarms: Iterable[SeverityAlarm], survivors: Iterable[str] = (), survivor_kinds: Sequence[str] = SURVIVOR_KINDS
) -> list[SeverityAlarm]:
    """The stop conditions among ``alarms``: every P1 alarm, and the ``survivor_kinds`` alarms of the
    ``survivors`` (ids ``<member><...>``, as MirrorAlarms names them; no survivors: every one of those kinds)."""
    names = tuple(survivors)

    def survivor(alarm: SeverityAlarm) -> bool:
        return alarm.kind in survivor_kinds and (not names or alarm.node.id.startswith(names))

    return [a for a in alarms if a.severity == STOP_SEVERITY or survivor(a)]


@dataclass(frozen=True)
class ExperimentDurations:
    """How long each fault lasts, in minutes (config/data.py ExperimentSettings, checked against its ceiling)."""

    stop_primary: int
    power_interruption: int
    network: int


def fis_role(scope: Construct, construct_id: str, *, description: str) -> iam.Role:
    """A role only FIS may assume, and only for experiments of this account."""
    stack = Stack.of(scope)
    return iam.Role(
        scope,
        construct_id,
        assumed_by=iam.ServicePrincipal(
            "fis.amazonaws.com",
            conditions={
                "StringEquals": {"aws:SourceAccount": stack.account},
                "ArnLike": {"aws:SourceArn": stack.format_arn(service="fis", resource="experiment", resource_name="*")},
            },
        ),
        description=description,
    )


def _template(
    scope: Construct,
    construct_id: str,
    *,
    description: str,
    role: iam.IRole,
    stop_alarms: Sequence[cw.Alarm],
    targets: Mapping[str, fis.CfnExperimentTemplate.ExperimentTemplateTargetProperty],
    actions: Mapping[str, fis.CfnExperimentTemplate.ExperimentTemplateActionProperty],
    tags: Mapping[str, str],
) -> fis.CfnExperimentTemplate:
    if not stop_alarms:
        raise ValueError(f"{construct_id}: an experiment needs at least one alarm to stop it")
    return fis.CfnExperimentTemplate(
        scope,
        construct_id,
        description=description,
        role_arn=role.role_arn,
        stop_conditions=[
            fis.CfnExperimentTemplate.ExperimentTemplateStopConditionProperty(source="aws:cloudwatch:alarm", value=a.alarm_arn)
            for a in stop_alarms
        ],
        targets=dict(targets),
        actions=dict(actions),
        # A target that resolves to nothing fails the experiment instead of passing it by doing nothing.
        experiment_options=fis.CfnExperimentTemplate.ExperimentTemplateExperimentOptionsProperty(
            account_targeting="single-account", empty_target_resolution_mode="fail"
        ),
        tags={"Name": construct_id, **tags},
    )


class MirrorSetExperiments(Construct):
    """FIS templates for one mirror set: stop a failover member (the ops command picks the primary),
    one zone's power interruption, and one zone's data subnet cut off from the others.

    Guarantees: the set's instances carry ``IrisMirrorSet`` (the stack's name) and ``IrisMirrorMember``
    tags, and so do its IRIS volumes; instance targets are found by those tags (running instances
    only), subnet targets are this set's data subnets by ARN; each template stops on the set's P1 alarms
    and the status alarms of the failover members it does not disrupt (all of them for the network
    cut), as :func:`stop_alarms` picks them from ``alarms``; durations come
    from settings; the role may stop and start these instances only, replace the network ACL of
    these subnets only with an ACL FIS creates and tags, and nothing else but read.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        instances: Mapping[str, ec2.Instance],
        zones: Mapping[str, str],
        volumes: Mapping[str, Sequence[ec2.Volume]],
        subnets: Sequence[ec2.ISubnet],
        vpc: ec2.IVpc,
        alarms: Sequence[SeverityAlarm],
        durations: ExperimentDurations,
        encryption_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.set_tag = stack.stack_name
        for member, instance in instances.items():
            for resource in (instance, *volumes.get(member, ())):
                Tags.of(resource).add(MIRROR_SET_TAG, self.set_tag)
                Tags.of(resource).add(MEMBER_TAG, member)
        set_tags = {MIRROR_SET_TAG: self.set_tag}

        self.role = fis_role(self, "Role", description=f"AWS FIS experiments on mirror set {self.set_tag}")
        instance_arns = [
            stack.format_arn(service="ec2", resource="instance", resource_name=i.instance_id) for i in instances.values()
        ]
        subnet_arns = {
            s.availability_zone: stack.format_arn(service="ec2", resource="subnet", resource_name=s.subnet_id) for s in subnets
        }
        # Literal ARNs (the stack's account and region are given), which cdk-nag names as they are.
        acl_arn = stack.format_arn(service="ec2", resource="network-acl", resource_name="*")
        prefix_lists = stack.format_arn(service="ec2", resource="prefix-list", resource_name="*")
        policy = iam.ManagedPolicy(
            self,
            "Policy",
            description=f"AWS FIS: stop and start {self.set_tag}'s members, cut off its data subnets for a while",
            statements=[
                iam.PolicyStatement(
                    sid="FindTargets",
                    actions=[
                        "ec2:DescribeInstances",
                        "ec2:DescribeSubnets",
                        "ec2:DescribeNetworkAcls",
                        "ec2:DescribeVpcs",
                        "ec2:DescribeManagedPrefixLists",
                    ],
                    resources=["*"],
                ),
                iam.PolicyStatement(
                    sid="StopAndStartMembers", actions=["ec2:StopInstances", "ec2:StartInstances"], resources=instance_arns
                ),
                # Starting an instance again attaches its encrypted volumes, for which EC2 needs a grant on the key.
                iam.PolicyStatement(
                    sid="RestartEncryptedVolumes",
                    actions=["kms:CreateGrant"],
                    resources=[encryption_key.key_arn],
                    conditions={"Bool": {"kms:GrantIsForAWSResource": True}},
                ),
                iam.PolicyStatement(
                    sid="CreateFisAcl",
                    actions=["ec2:CreateNetworkAcl"],
                    resources=[acl_arn],
                    conditions={"StringEquals": {f"aws:RequestTag/{FIS_MANAGED_TAG}": "true"}},
                ),
                iam.PolicyStatement(
                    sid="CreateFisAclInVpc",
                    actions=["ec2:CreateNetworkAcl"],
                    resources=[stack.format_arn(service="ec2", resource="vpc", resource_name=vpc.vpc_id)],
                ),
                iam.PolicyStatement(
                    sid="TagFisAcl",
                    actions=["ec2:CreateTags"],
                    resources=[acl_arn],
                    conditions={"StringEquals": {"ec2:CreateAction": "CreateNetworkAcl"}},
                ),
                iam.PolicyStatement(
                    sid="ChangeFisAclOnly",
                    actions=["ec2:CreateNetworkAclEntry", "ec2:DeleteNetworkAcl"],
                    resources=[acl_arn],
                    conditions={"StringEquals": {f"aws:ResourceTag/{FIS_MANAGED_TAG}": "true"}},
                ),
                # The swap away from the subnet's own ACL and back again.
                iam.PolicyStatement(
                    sid="SwapDataSubnetAcl",
                    actions=["ec2:ReplaceNetworkAclAssociation"],
                    resources=[*subnet_arns.values(), acl_arn],
                ),
                iam.PolicyStatement(
                    sid="ReadPrefixLists",
                    actions=["ec2:GetManagedPrefixListEntries"],
                    resources=[prefix_lists],
                ),
            ],
        )
        self.role.add_managed_policy(policy)
        acknowledge(
            policy,
            {
                "AwsSolutions::AwsSolutions-IAM5[Resource::*]": "FIS resolves targets with EC2 Describe calls, which accept "
                "no resource ARN; the role changes only the set's instances and subnets named in the other statements.",
                f"AwsSolutions::AwsSolutions-IAM5[Resource::{acl_arn}]": "The network ACL FIS creates for a "
                "disruption has no ARN before it exists: creating one requires the managedByFIS tag, and changing "
                "or deleting one requires that tag on it.",
                f"AwsSolutions::AwsSolutions-IAM5[Resource::{prefix_lists}]": "aws:network:disrupt-connectivity reads "
                "AWS-managed prefix lists, whose ids differ per region; reading them is all this allows.",
            },
        )

        def instance_target(
            filters: Mapping[str, str], member: str | None = None
        ) -> fis.CfnExperimentTemplate.ExperimentTemplateTargetProperty:
            tags = {**set_tags, **({MEMBER_TAG: member} if member else {})}
            return fis.CfnExperimentTemplate.ExperimentTemplateTargetProperty(
                resource_type="aws:ec2:instance",
                resource_tags=tags,
                filters=[
                    fis.CfnExperimentTemplate.ExperimentTemplateTargetFilterProperty(path=path, values=[value])
                    for path, value in {"State.Name": "running", **filters}.items()
                ],
                selection_mode="ALL",
            )

        def subnet_target(zone: str) -> fis.CfnExperimentTemplate.ExperimentTemplateTargetProperty:
            return fis.CfnExperimentTemplate.ExperimentTemplateTargetProperty(
                resource_type="aws:ec2:subnet", resource_arns=[subnet_arns[zone]], selection_mode="ALL"
            )

        def action(
            action_id: str, target: tuple[str, str], **parameters: str
        ) -> fis.CfnExperimentTemplate.ExperimentTemplateActionProperty:
            return fis.CfnExperimentTemplate.ExperimentTemplateActionProperty(
                action_id=action_id, targets={target[0]: target[1]}, parameters=parameters or None
            )

        self.templates: dict[str, fis.CfnExperimentTemplate] = {}
        self.stop_conditions: dict[str, list[cw.Alarm]] = {}

        def add(output: str, template_id: str, description: str, stop_alarms: Sequence[cw.Alarm], **kwargs: object) -> None:
            template = _template(
                self,
                template_id,
                description=description,
                role=self.role,
                stop_alarms=stop_alarms,
                tags=set_tags,
                **kwargs,  # type: ignore[arg-type]
            )
            self.templates[output] = template
            self.stop_conditions[output] = list(stop_alarms)
            CfnOutput(stack, output, value=template.attr_id, description=f"python -m ops experiment: {description}")

        failover = [m for m in FAILOVER_MEMBERS if m in instances]
        for member in failover:
            add(
                STOP_OUTPUT.format(member=member),
                f"Stop{member}",
                f"{self.set_tag}: stop {member} for {durations.stop_primary} minutes, then start it again",
                stop_alarms(alarms, [m for m in failover if m != member]),
                targets={"Member": instance_target({}, member)},
                actions={
                    "StopMember": action(
                        "aws:ec2:stop-instances",
                        ("Instances", "Member"),
                        startInstancesAfterDuration=minutes(durations.stop_primary),
                    )
                },
            )
        for zone in sorted(subnet_arns):
            in_zone = [m for m, z in zones.items() if z == zone]
            power = minutes(durations.power_interruption)
            add(
                AZ_POWER_OUTPUT.format(zone=zone_id(zone)),
                f"AzPower{zone_id(zone)}",
                f"{self.set_tag}: AZ Availability: Power Interruption in {zone} for {durations.power_interruption} minutes "
                "(its members stopped, its data subnet cut off)",
                stop_alarms(alarms, [m for m in failover if m not in in_zone]),
                targets={
                    "MembersInZone": instance_target({"Placement.AvailabilityZone": zone}),
                    "DataSubnet": subnet_target(zone),
                },
                actions={
                    "StopInstances": action(
                        "aws:ec2:stop-instances", ("Instances", "MembersInZone"), startInstancesAfterDuration=power
                    ),
                    "PauseNetworkConnectivity": action(
                        "aws:network:disrupt-connectivity", ("Subnets", "DataSubnet"), duration=power, scope="all"
                    ),
                },
            )
            add(
                NETWORK_OUTPUT.format(zone=zone_id(zone)),
                f"Network{zone_id(zone)}",
                f"{self.set_tag}: cut {zone}'s data subnet off from the other zones for {durations.network} minutes",
                stop_alarms(alarms, failover),
                targets={"DataSubnet": subnet_target(zone)},
                actions={
                    "DisruptBetweenZones": action(
                        "aws:network:disrupt-connectivity",
                        ("Subnets", "DataSubnet"),
                        duration=minutes(durations.network),
                        scope="availability-zone",
                    )
                },
            )


class SpotInterruptionExperiment(Construct):
    """A FIS template that sends one Spot node of the cluster's Spot pool its two-minute interruption notice.

    Guarantees: the target is one running Spot instance tagged by Karpenter with this cluster and the
    Spot pool; the template stops on ``stop_alarms`` (the EKS stack passes the platform's P1 and
    app-unhealthy alarms, :func:`stop_alarms`); the role may send the notice only to
    instances carrying both tags, and read.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, cluster_name: str, pool: str, stop_alarms: Sequence[cw.Alarm]
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        pool_tags = {KARPENTER_POOL_TAG: pool, EKS_CLUSTER_TAG: cluster_name}
        any_instance = stack.format_arn(service="ec2", resource="instance", resource_name="*")
        self.role = fis_role(self, "Role", description=f"AWS FIS: Spot interruption notices to {cluster_name}'s {pool} pool")
        policy = iam.ManagedPolicy(
            self,
            "Policy",
            description=f"AWS FIS: interrupt Spot nodes of {cluster_name}'s {pool} pool only",
            statements=[
                iam.PolicyStatement(sid="FindTargets", actions=["ec2:DescribeInstances"], resources=["*"]),
                iam.PolicyStatement(
                    sid="InterruptPoolNodes",
                    actions=["ec2:SendSpotInstanceInterruptions"],
                    resources=[any_instance],
                    conditions={"StringEquals": {f"aws:ResourceTag/{k}": v for k, v in pool_tags.items()}},
                ),
            ],
        )
        self.role.add_managed_policy(policy)
        acknowledge(
            policy,
            {
                "AwsSolutions::AwsSolutions-IAM5[Resource::*]": "ec2:DescribeInstances accepts no resource ARN; FIS "
                "resolves the Spot target with it.",
                f"AwsSolutions::AwsSolutions-IAM5[Resource::{any_instance}]": "Karpenter launches the Spot nodes, "
                "so their ids are unknown here; the condition limits the notice to instances tagged with this "
                "cluster and its Spot pool.",
            },
        )
        self.stop_conditions = list(stop_alarms)
        self.template = _template(
            self,
            "Template",
            description=f"{cluster_name}: send one {pool} node its Spot interruption notice ({SPOT_NOTICE})",
            role=self.role,
            stop_alarms=stop_alarms,
            targets={
                "SpotNode": fis.CfnExperimentTemplate.ExperimentTemplateTargetProperty(
                    resource_type="aws:ec2:spot-instance",
                    resource_tags=pool_tags,
                    filters=[
                        fis.CfnExperimentTemplate.ExperimentTemplateTargetFilterProperty(path="State.Name", values=["running"])
                    ],
                    selection_mode="COUNT(1)",
                )
            },
            actions={
                "InterruptSpotNode": fis.CfnExperimentTemplate.ExperimentTemplateActionProperty(
                    action_id="aws:ec2:send-spot-instance-interruptions",
                    targets={"SpotInstances": "SpotNode"},
                    parameters={"durationBeforeInterruption": SPOT_NOTICE},
                )
            },
            tags={},
        )
        CfnOutput(stack, SPOT_OUTPUT, value=self.template.attr_id, description="python -m ops experiment spot")
