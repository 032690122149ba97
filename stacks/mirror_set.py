"""MirrorSetStack: one IRIS mirror set, deployable on its own.

A stack per mirror set keeps every stack far under CloudFormation's 500
resources whatever the number of sets, and lets an operator add a set to a
running system by deploying one new stack, without touching the others
(docs/data-tier.md, "One stack per mirror set").
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from constructs import Construct

from components.fault_injection import ExperimentDurations, MirrorSetExperiments
from components.iris_host_access import arbiter_identity, image_uri, mirror_set_identity
from components.links import DataTierLink, DrMember, MirrorLink, NetworkRefs
from components.mirror_alarms import MirrorAlarms
from components.mirror_failover import (
    FailoverMember,
    FailoverRegistration,
    FailoverTarget,
    SetRetargetFunction,
    retarget_function_arn,
)
from components.mirror_set import MirrorSet, member_record
from components.nag import acknowledge, both_packs
from components.restore_drill import RestoreDrillSchedule, RestoreDrillScratch
from components.snapshot_backup import allow_backup_tagging
from components.vip_health import VipHealth
from config.data import DataTierSettings, MirrorSetSettings
from config.dr import DnsSettings

DESCRIPTION = "IRIS on AWS: one mirror set (primary, backup, arbiter), its io1 volumes, VIP, passwords and alarms"


class MirrorSetStack(Stack):
    """Primary, backup and arbiter of one mirror set, its VIP, passwords, names and alarms.

    Exposes ``mirror`` (the MirrorSet construct), ``credentials`` and
    ``link``. The members' role is the set's own: it reads this set's
    passwords and mirror marker, tags only its own members for backup,
    invokes this set's own retarget function and no other, and holds the data
    tier's shared host policies; the arbiter has a role of its own with the
    host policies only. The set registers its VIP with the data tier's
    functions (the deploy-time one points the VIP at ``initial_primary`` on
    the first deploy; the poller follows it) and has its own run-time
    retarget function, ``<stack>-retarget``. With ``dr_member`` the DR
    member gets its name in the data tier's zone and, with ``dns``, the
    VIP's per-member alarms that Route 53 follows are built. Volumes are
    retained when the stack is deleted.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        network: NetworkRefs,
        data: DataTierLink,
        settings: MirrorSetSettings,
        data_settings: DataTierSettings,
        dr_member: DrMember | None = None,
        dns: DnsSettings | None = None,
        **kwargs: object,
    ) -> None:
        kwargs.setdefault("description", DESCRIPTION)
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        name = settings.name
        marker = f"{data.marker_path}/{name}/mirror-created"
        self.role, self.credentials = mirror_set_identity(
            self, name, host_policies=[*data.host_policies, data.certificate_policy], encryption_key=data.key, markers=[marker]
        )
        self.arbiter_role = arbiter_identity(self, name, host_policies=data.host_policies)
        # Named before it exists: the members' user data names it, and it names the members.
        function_name = f"{self.stack_name}-retarget"

        self.mirror = MirrorSet(
            self,
            name,
            network=network,
            settings=settings,
            data_settings=data_settings,
            data=data,
            role=self.role,
            arbiter_role=self.arbiter_role,
            secrets=self.credentials.member_secrets,
            mirror_marker=marker,
            retarget_function_arn=retarget_function_arn(self, function_name),
        )
        members = {f"Member{i}": member for i, member in enumerate(self.mirror.members)}
        allow_backup_tagging(
            self,
            f"{name}BackupTagPolicy",
            role=self.role,
            target_tag=data.backup_tag,
            instances=[member.instance for member in members.values()],
        )
        for member in members.values():
            assert member.volumes is not None
            for volume in member.volumes.volumes.values():
                acknowledge(
                    volume,
                    both_packs(
                        "EC2EBSInBackupPlan",
                        "Backed up by the data tier's Data Lifecycle Manager policy, which freezes IRIS around each "
                        "snapshot; an AWS Backup plan would add crash-consistent copies of a live database.",
                    ),
                )
        alarms = MirrorAlarms(
            self,
            f"{name}Alarms",
            mirror_name=name,
            instances={member_id: member.instance for member_id, member in members.items()}
            | {"Arbiter": self.mirror.arbiter.instance},
            volumes={
                f"{member_id}{role.title()}": (volume, settings.volumes[role].iops)
                for member_id, member in members.items()
                if member.volumes is not None
                for role, volume in member.volumes.volumes.items()
            },
            load_balancer=self.mirror.vip.load_balancer,
            target_groups=self.mirror.vip.target_groups[min(self.mirror.vip.target_groups)],
            topics=data.alarm_topics,
            iris_volume_members=list(members),
            disk_used_alarm_percent=data_settings.disk_used_alarm_percent,
            arbiters=["Arbiter"],
        )
        drill = data_settings.restore_drill
        # In the arbiter's zone, where no failover member's volumes share the snapshot restores.
        scratch = RestoreDrillScratch(
            self,
            f"{name}RestoreDrill",
            vpc=network.vpc,
            subnet=network.tier("data")[-1],
            host_policies=data.host_policies,
            encryption_key=data.key,
            image_id=data_settings.ami_ids[self.region],
            iris_image=image_uri(self, data_settings.iris.image),
            iris_instance=data_settings.iris_instance,
            instance_type=drill.instance_type,
            root_device=data_settings.root_device_name,
            root_volume_gib=data_settings.root_volume_gib,
            timeout_minutes=drill.timeout_minutes,
        )
        if drill.schedule is not None:
            RestoreDrillSchedule(
                self,
                f"{name}RestoreDrillSchedule",
                scratch=scratch,
                schedule=drill.schedule,
                timeout_minutes=drill.timeout_minutes,
                encryption_key=data.key,
                alarm_topics=data.alarm_topics,
                outputs=scratch.values,
            )
        self.registration = FailoverRegistration(
            self,
            f"{name}Failover",
            link=data.failover,
            target=FailoverTarget(
                name=name,
                vip=self.mirror.vip,
                members=[FailoverMember(member_id, member.instance, "failover") for member_id, member in members.items()],
                desired_primary=f"Member{settings.initial_primary}",
            ),
        )
        self.retarget = SetRetargetFunction(
            self,
            f"{name}Retarget",
            function_name=function_name,
            registration=self.registration,
            link=data.failover,
            vpc=network.vpc,
            subnets=network.tier("data"),
            security_group=network.security_groups.failover,
            encryption_key=data.key,
            alarm_topics=data.alarm_topics,
            member_role=self.role,
        )
        CfnOutput(self, "RetargetFunctionName", value=self.retarget.function.function_name, description="python -m ops failover")
        if data_settings.experiments.enabled:
            e = data_settings.experiments
            data_subnets = network.tier("data")
            MirrorSetExperiments(
                self,
                f"{name}Experiments",
                instances={member_id: member.instance for member_id, member in members.items()}
                | {"Arbiter": self.mirror.arbiter.instance},
                zones={f"Member{i}": subnet.availability_zone for i, subnet in enumerate(data_subnets[: len(members)])}
                | {"Arbiter": data_subnets[len(members)].availability_zone},
                volumes={
                    member_id: list(member.volumes.volumes.values())
                    for member_id, member in members.items()
                    if member.volumes is not None
                },
                subnets=data_subnets,
                vpc=network.vpc,
                alarms=[*alarms.alarms, self.retarget.errors_alarm],
                durations=ExperimentDurations(e.stop_primary_minutes, e.power_interruption_minutes, e.network_minutes),
                encryption_key=data.key,
            )

        health_alarms = {}
        if dr_member is not None:
            self.mirror.records += [
                member_record(self, f"{name}{member}Name", zone=data.zone, set_name=name, member=member, address=address)
                for member, address in dr_member.addresses.items()
            ]
            if dns is not None:
                health_alarms = VipHealth(
                    self,
                    f"{name}VipHealth",
                    load_balancer=self.mirror.vip.load_balancer,
                    target_groups={
                        member_id: group
                        for member_id, group in zip(members, self.mirror.vip.target_groups[data.health_check.port], strict=True)
                    },
                    period=Duration.seconds(dns.health_check_period_seconds),
                    evaluation_periods=dns.failure_threshold,
                    description=f"{name} in {self.region}",
                ).alarms

        self.link = MirrorLink(
            name=name,
            load_balancer=self.mirror.vip.load_balancer,
            member_addresses=[member.instance.instance_private_ip for member in members.values()],
            initial_primary_address=self.mirror.members[settings.initial_primary].instance.instance_private_ip,
            cspsystem=self.credentials.cspsystem,
            health_alarms=health_alarms,
        )
