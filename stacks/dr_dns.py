"""DrDnsStack: the application's name, failing over between the two regions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aws_cdk import CfnOutput, Fn, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_route53 as route53
from constructs import Construct

from config.dr import DnsSettings

# A health check that cannot read its alarm (the region reports nothing) fails.
INSUFFICIENT_DATA = "Unhealthy"


DESCRIPTION = "IRIS on AWS: Route 53 failover of the application's name between the primary and DR regions"


class DrDnsStack(Stack):
    """Route 53 failover records for ``<record_name>.<zone_name>``: the primary region's ALB, else the DR region's.

    Each record follows a gate, a calculated health check over one check per
    member alarm (VipHealth), any one of them enough: the primary record's
    gate (PrimaryHealth) over the primary region's VIP alarms, the secondary
    record's (DrHealth) over the DR members' VIP alarms, healthy only while a
    DR member is primary. Route 53's checkers read the alarms and treat an
    alarm they cannot read as unhealthy; when neither region is healthy
    Route 53 answers with the primary.

    The gates are also the explicit signal of a person's decision:
    ``python -m ops promote-dr`` sets PrimaryHealth's health threshold above
    its number of children (Route 53 then always considers it unhealthy) and
    DrHealth's to 0 (always healthy). DNS then answers the DR region within
    one TTL and one health-check period, whatever the primary region's members
    still answer and whichever failover method (API or polling) moves its VIP.
    Failback sets both thresholds back to 1 (docs/runbook-dr.md).

    The stack lives in the DR region, so its records can be managed while the
    primary region is down. A zone the stack creates is retained on deletion
    (it is delegated to). Outputs what promote-dr reads: HostedZoneId,
    RecordName, DrEndpoint, PrimaryHealthCheckId and DrHealthCheckId.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dns: DnsSettings,
        primary_load_balancer: elbv2.IApplicationLoadBalancer,
        primary_alarms: Mapping[str, cw.Alarm],
        dr_load_balancer: elbv2.IApplicationLoadBalancer,
        dr_alarms: Mapping[str, cw.Alarm],
        **kwargs: object,
    ) -> None:
        kwargs.setdefault("description", DESCRIPTION)
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        if dns.hosted_zone_id is not None:
            self.zone: route53.IHostedZone = route53.PublicHostedZone.from_hosted_zone_attributes(
                self, "Zone", hosted_zone_id=dns.hosted_zone_id, zone_name=dns.zone_name
            )
        else:
            zone = route53.PublicHostedZone(self, "Zone", zone_name=dns.zone_name, comment=f"{construct_id}: the IRIS site")
            zone.apply_removal_policy(RemovalPolicy.RETAIN)
            CfnOutput(self, "NameServers", value=Fn.join(", ", zone.hosted_zone_name_servers or []), description="delegate here")
            self.zone = zone
        self.record_name = f"{dns.record_name}.{dns.zone_name}"

        primary_members = {
            member: self._alarm_check(f"Primary{member}", alarm) for member, alarm in sorted(primary_alarms.items())
        }
        self.primary_check = self._gate("PrimaryHealth", primary_members.values(), "primary region")
        if not dr_alarms:
            raise ValueError("the DR region's VIP has at least one member")
        # The first member's check keeps the id of the single member of before.
        dr_members = {
            member: self._alarm_check("DrMember" if i == 0 else f"DrMember{member}", alarm)
            for i, (member, alarm) in enumerate(sorted(dr_alarms.items()))
        }
        self.dr_check = self._gate("DrHealth", dr_members.values(), "DR region")

        self.records = {
            role: route53.CfnRecordSet(
                self,
                f"{role.title()}Record",
                hosted_zone_id=self.zone.hosted_zone_id,
                name=f"{self.record_name}.",
                type="CNAME",
                ttl=str(dns.ttl_seconds),
                resource_records=[load_balancer.load_balancer_dns_name],
                failover=role.upper(),
                set_identifier=f"{dns.record_name}-{role}",
                health_check_id=check.attr_health_check_id,
            )
            for role, load_balancer, check in (
                ("primary", primary_load_balancer, self.primary_check),
                ("secondary", dr_load_balancer, self.dr_check),
            )
        }
        CfnOutput(self, "HostedZoneId", value=self.zone.hosted_zone_id, description="python -m ops promote-dr")
        CfnOutput(self, "RecordName", value=self.record_name, description="the application's name")
        CfnOutput(self, "PrimaryEndpoint", value=primary_load_balancer.load_balancer_dns_name)
        CfnOutput(self, "DrEndpoint", value=dr_load_balancer.load_balancer_dns_name, description="python -m ops promote-dr")
        for output, check in (("PrimaryHealthCheckId", self.primary_check), ("DrHealthCheckId", self.dr_check)):
            CfnOutput(self, output, value=check.attr_health_check_id, description="python -m ops promote-dr: the DNS gates")

    def _gate(self, check_id: str, children: Iterable[route53.CfnHealthCheck], region: str) -> route53.CfnHealthCheck:
        """A calculated check, healthy while one of ``children`` is: the gate promote-dr flips."""
        return route53.CfnHealthCheck(
            self,
            check_id,
            health_check_config=route53.CfnHealthCheck.HealthCheckConfigProperty(
                type="CALCULATED",
                child_health_checks=[c.attr_health_check_id for c in children],
                health_threshold=1,
            ),
            health_check_tags=[route53.CfnHealthCheck.HealthCheckTagProperty(key="Name", value=f"{self.record_name} {region}")],
        )

    def _alarm_check(self, check_id: str, alarm: cw.Alarm) -> route53.CfnHealthCheck:
        """A health check that follows one CloudWatch alarm, in that alarm's region."""
        return route53.CfnHealthCheck(
            self,
            check_id,
            health_check_config=route53.CfnHealthCheck.HealthCheckConfigProperty(
                type="CLOUDWATCH_METRIC",
                alarm_identifier=route53.CfnHealthCheck.AlarmIdentifierProperty(
                    name=alarm.alarm_name, region=Stack.of(alarm).region
                ),
                insufficient_data_health_status=INSUFFICIENT_DATA,
            ),
            health_check_tags=[route53.CfnHealthCheck.HealthCheckTagProperty(key="Name", value=f"{self.record_name} {check_id}")],
        )
