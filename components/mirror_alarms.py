"""Alarms and a dashboard for one mirror set."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from constructs import Construct

from components.member_monitoring import DISK_USED_METRIC, HOST_METRICS_NAMESPACE, IRIS_FILESYSTEM, iris_volume_mounts
from components.severity import AlarmTopics, SeverityAlarm, severity_alarm
from config.constants import IRIS_SUPERSERVER_PORT

CPU_ALARM_PERCENT = 90
# io1 latency stays low while the queue holds about one request per 1,000
# provisioned IOPS; four times that for 15 minutes means the volume is short.
QUEUE_PER_1000_IOPS = 4


class MirrorAlarms(Construct):
    """Alarms on every member of a mirror set, and its dashboard.

    Guarantees: a failed system status check recovers the instance (EC2
    recover) and notifies; a failed instance status check, CPU above 90 %, an
    EBS queue longer than the volume's IOPS can serve, and any IRIS volume of
    an ``iris_volume_members`` instance filled to ``disk_used_alarm_percent``
    (the CloudWatch agent's figure) notify the topic of their kind's severity
    (components/severity.py): ``arbiters`` and a ``dr`` member rank below a failover member.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        mirror_name: str,
        instances: Mapping[str, ec2.Instance],
        volumes: Mapping[str, tuple[ec2.Volume, int]],
        load_balancer: elbv2.NetworkLoadBalancer,
        target_groups: Sequence[elbv2.NetworkTargetGroup],
        topics: AlarmTopics,
        iris_volume_members: Sequence[str] = (),
        disk_used_alarm_percent: int | None = None,
        arbiters: Sequence[str] = (),
        dr: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarms: list[SeverityAlarm] = []

        def alarm(
            alarm_id: str, kind: str, metric: cw.IMetric, threshold: float, periods: int, description: str
        ) -> SeverityAlarm:
            a = severity_alarm(
                self,
                alarm_id,
                kind=kind,
                subject=f"{mirror_name}: {description}",
                topics=topics,
                metric=metric,
                threshold=threshold,
                evaluation_periods=periods,
                treat_missing_data=cw.TreatMissingData.BREACHING if "Status" in alarm_id else cw.TreatMissingData.NOT_BREACHING,
            )
            self.alarms.append(a)
            return a

        for name, instance in instances.items():
            dims = {"InstanceId": instance.instance_id}
            status = "dr-member-status" if dr else "arbiter-status" if name in arbiters else "member-status"
            system = alarm(
                f"{name}SystemStatus",
                status,
                cw.Metric(
                    namespace="AWS/EC2",
                    metric_name="StatusCheckFailed_System",
                    dimensions_map=dims,
                    statistic="Maximum",
                    period=Duration.minutes(1),
                ),
                1,
                2,
                f"{name} failed its system status check; EC2 recovers it onto healthy hardware",
            )
            system.add_alarm_action(cw_actions.Ec2Action(cw_actions.Ec2InstanceAction.RECOVER))
            alarm(
                f"{name}InstanceStatus",
                status,
                cw.Metric(
                    namespace="AWS/EC2",
                    metric_name="StatusCheckFailed_Instance",
                    dimensions_map=dims,
                    statistic="Maximum",
                    period=Duration.minutes(1),
                ),
                1,
                3,
                f"{name} failed its instance status check",
            )
            alarm(
                f"{name}Cpu",
                "host-cpu",
                cw.Metric(
                    namespace="AWS/EC2",
                    metric_name="CPUUtilization",
                    dimensions_map=dims,
                    statistic="Average",
                    period=Duration.minutes(5),
                ),
                CPU_ALARM_PERCENT,
                3,
                f"{name} CPU above {CPU_ALARM_PERCENT} % for 15 minutes",
            )
        for name, (volume, iops) in volumes.items():
            alarm(
                f"{name}QueueLength",
                "ebs-queue",
                cw.Metric(
                    namespace="AWS/EBS",
                    metric_name="VolumeQueueLength",
                    dimensions_map={"VolumeId": volume.volume_id},
                    statistic="Average",
                    period=Duration.minutes(5),
                ),
                max(1, iops // 1000) * QUEUE_PER_1000_IOPS,
                3,
                f"{name} EBS queue longer than its {iops} IOPS can serve for 15 minutes",
            )

        disk_metrics: list[cw.IMetric] = []
        if iris_volume_members:
            if disk_used_alarm_percent is None:
                raise ValueError(f"{mirror_name}: the IRIS volume alarms need disk_used_alarm_percent")
            full = disk_used_alarm_percent
            for name in iris_volume_members:
                for mount in iris_volume_mounts():
                    metric = disk_used_metric(instances[name].instance_id, mount)
                    disk_metrics.append(metric.with_(label=f"{name} {mount}"))
                    alarm(
                        f"{name}{_mount_id(mount)}DiskUsed",
                        "dr-volume-full" if dr else "iris-volume-full",
                        metric,
                        full,
                        2,
                        f"{name} {mount} is {full} % full or more",
                    )

        self.dashboard = cw.Dashboard(self, "Dashboard", default_interval=Duration.hours(6))
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title=f"{mirror_name}: CPU",
                left=[
                    cw.Metric(
                        namespace="AWS/EC2", metric_name="CPUUtilization", dimensions_map={"InstanceId": i.instance_id}, label=n
                    )
                    for n, i in instances.items()
                ],
                width=12,
            ),
            cw.GraphWidget(
                title=f"{mirror_name}: EBS queue length",
                left=[
                    cw.Metric(
                        namespace="AWS/EBS", metric_name="VolumeQueueLength", dimensions_map={"VolumeId": v.volume_id}, label=n
                    )
                    for n, (v, _) in volumes.items()
                ],
                width=12,
            ),
            cw.GraphWidget(
                title=f"{mirror_name}: mirror VIP healthy members (port {IRIS_SUPERSERVER_PORT})",
                # Built from dimensions: only the target group a listener points
                # at is attached, and the CDK's helper requires attachment.
                left=[
                    cw.Metric(
                        namespace="AWS/NetworkELB",
                        metric_name="HealthyHostCount",
                        dimensions_map={
                            "TargetGroup": tg.target_group_full_name,
                            "LoadBalancer": load_balancer.load_balancer_full_name,
                        },
                        statistic="Minimum",
                        label=f"member {i}",
                    )
                    for i, tg in enumerate(target_groups)
                ],
                width=12,
            ),
            cw.AlarmStatusWidget(title=f"{mirror_name}: alarms", alarms=self.alarms, width=12),
        )
        if disk_metrics:
            self.dashboard.add_widgets(
                cw.GraphWidget(
                    title=f"{mirror_name}: IRIS volumes used (%)",
                    left=disk_metrics,
                    left_y_axis=cw.YAxisProps(min=0, max=100),
                    width=24,
                )
            )


def disk_used_metric(instance_id: str, mount: str) -> cw.Metric:
    """The CloudWatch agent's fill level of the file system at ``mount`` on one instance
    (components/member_monitoring.py: InstanceId appended, device dropped, no host name)."""
    return cw.Metric(
        namespace=HOST_METRICS_NAMESPACE,
        metric_name=DISK_USED_METRIC,
        dimensions_map={"InstanceId": instance_id, "path": mount, "fstype": IRIS_FILESYSTEM},
        statistic="Maximum",
        period=Duration.minutes(5),
    )


def _mount_id(mount: str) -> str:
    """/iris/jrn1 -> IrisJrn1: a construct id from a mount point."""
    return "".join(part.title() for part in mount.split("/") if part)
