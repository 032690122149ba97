"""CloudWatch alarms that tell Route 53 whether a mirror VIP reaches a primary."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from constructs import Construct

from components.nag import acknowledge, both_packs
from components.severity import severity_alarm


class VipHealth(Construct):
    """One alarm per member target group of a mirror VIP: in ALARM while it has no healthy target.

    Guarantees: standard-resolution metrics and a plain statistic (Route 53
    follows no other alarms); missing data counts as unhealthy, so a group no
    listener uses, or a region that reports nothing, is down. Route 53 health
    checks follow ``alarms`` by name and region; a calculated check over them
    is healthy while the member the VIP forwards to answers its health check.
    The alarms notify nobody: standby groups are in ALARM by design, and the
    mirror's own alarms report outages.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        load_balancer: elbv2.NetworkLoadBalancer,
        target_groups: Mapping[str, elbv2.NetworkTargetGroup],
        period: Duration,
        evaluation_periods: int,
        description: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarms: dict[str, cw.Alarm] = {}
        for member, group in target_groups.items():
            alarm = severity_alarm(
                self,
                member,
                kind="vip-health-signal",
                topics=None,
                # Built by hand: a standby group is attached to no listener in the
                # template, so the group's own metric helpers refuse it.
                metric=cw.Metric(
                    namespace="AWS/NetworkELB",
                    metric_name="HealthyHostCount",
                    dimensions_map={
                        "LoadBalancer": load_balancer.load_balancer_full_name,
                        "TargetGroup": group.target_group_full_name,
                    },
                    period=period,
                    statistic=cw.Stats.MINIMUM,
                ),
                threshold=1,
                comparison_operator=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
                evaluation_periods=evaluation_periods,
                datapoints_to_alarm=evaluation_periods,
                treat_missing_data=cw.TreatMissingData.BREACHING,
                subject=f"{description}: {member}'s target group has no healthy target (Route 53 failover signal)",
            )
            acknowledge(
                alarm,
                both_packs(
                    "CloudWatchAlarmAction",
                    "A Route 53 health check reads this alarm; it notifies nobody because the standby "
                    "member's group is in ALARM by design. The mirror's own alarms notify the alarm topic.",
                ),
            )
            self.alarms[member] = alarm
