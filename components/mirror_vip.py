"""An internal Network Load Balancer standing in for the mirror virtual IP."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_elasticloadbalancingv2_targets as targets
from constructs import Construct

from components.nag import acknowledge, both_packs
from config.constants import IRIS_SUPERSERVER_PORT
from config.data import DataTierSettings

# The member every listener forwards to in the template (see MirrorVip).
BOOTSTRAP_MEMBER = 0


def listener_reason(port: int) -> str:
    """Why a VIP listener holds no ACM certificate: what really crosses it, and whether it is encrypted."""
    if port == IRIS_SUPERSERVER_PORT:
        return (
            "TCP pass-through to the primary's superserver: IRIS offers TLS there itself (its %SuperServer "
            "configuration, support level Enabled), so an xDBC client that asks for TLS has it end to end to the "
            "member and can verify the member's certificate against the deployment's CA; a certificate at the VIP would "
            "end that TLS at the VIP."
        )
    return (
        "TCP pass-through to the member's Web Gateway, which serves only the mirror status page on this port, "
        "unencrypted (docs/data-tier.md lists the hops that are not encrypted); it carries no application data."
    )


@dataclass(frozen=True)
class MirrorHealthCheck:
    """How the load balancer asks a member whether it is the primary.

    ``http`` (the polling method): only the primary answers 200 on ``path``.
    Otherwise a TCP check on the target port, and the retarget function
    decides which member is primary (the API method).
    """

    http: bool
    port: int
    path: str
    interval_seconds: int
    healthy_threshold: int
    unhealthy_threshold: int

    @classmethod
    def of(cls, data: DataTierSettings, *, http: bool) -> MirrorHealthCheck:
        """The check the data tier's settings describe."""
        return cls(
            http=http,
            port=data.health_check_port,
            path=data.health_check_path,
            interval_seconds=data.health_check_interval_seconds,
            healthy_threshold=data.healthy_threshold,
            unhealthy_threshold=data.unhealthy_threshold,
        )


class MirrorVip(Construct):
    """The mirror VIP: an internal NLB kept pointing at the current primary.

    Guarantees: internal, cross-zone load balancing on, deletion protection;
    one listener per port; for each port one target group per failover
    member, each with its member pre-registered. ``listeners[port]`` and
    ``target_groups[port][member]`` are what a failover switches between.

    In the template every listener forwards to the first member's group and
    never to anything else: who is primary is state that changes at run time,
    so it is kept out of the template, where a later deployment would put it
    back. MirrorFailover's custom resource points the listeners at the
    configured primary.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: Sequence[ec2.ISubnet],
        security_group: ec2.ISecurityGroup,
        members: Sequence[ec2.Instance],
        ports: Sequence[int],
        health_check: MirrorHealthCheck,
    ) -> None:
        super().__init__(scope, construct_id)
        if not members:
            raise ValueError("a mirror VIP needs at least one member")
        self.load_balancer = elbv2.NetworkLoadBalancer(
            self,
            "Nlb",
            vpc=vpc,
            internet_facing=False,
            vpc_subnets=ec2.SubnetSelection(subnets=list(subnets)),
            cross_zone_enabled=True,
            deletion_protection=True,
            security_groups=[security_group],
        )
        reason = (
            "The mirror VIP has TCP listeners only, and NLB access logs record TLS connections only; "
            "the VPC flow logs record each of its connections (addresses, ports, bytes)."
        )
        acknowledge(
            self.load_balancer,
            {"AwsSolutions::AwsSolutions-ELB2": reason, **both_packs("ELBLoggingEnabled", reason)},
        )
        self.listeners: dict[int, elbv2.NetworkListener] = {}
        self.target_groups: dict[int, list[elbv2.NetworkTargetGroup]] = {}
        for port in ports:
            groups = [
                elbv2.NetworkTargetGroup(
                    self,
                    f"Member{i}Port{port}",
                    vpc=vpc,
                    port=port,
                    protocol=elbv2.Protocol.TCP,
                    target_type=elbv2.TargetType.INSTANCE,
                    targets=[targets.InstanceTarget(member, port)],
                    health_check=self._health_check(health_check),
                    # A failover moves the listener, not the targets: connections
                    # to the old primary are dropped at once rather than drained.
                    deregistration_delay=Duration.seconds(0),
                )
                for i, member in enumerate(members)
            ]
            self.target_groups[port] = groups
            listener = self.load_balancer.add_listener(
                f"Port{port}", port=port, protocol=elbv2.Protocol.TCP, default_target_groups=[groups[BOOTSTRAP_MEMBER]]
            )
            acknowledge(listener, both_packs("ELBv2ACMCertificateRequired", listener_reason(port)))
            self.listeners[port] = listener

    @staticmethod
    def _health_check(h: MirrorHealthCheck) -> elbv2.HealthCheck:
        return elbv2.HealthCheck(
            protocol=elbv2.Protocol.HTTP if h.http else elbv2.Protocol.TCP,
            port=str(h.port) if h.http else None,
            path=h.path if h.http else None,
            healthy_http_codes="200" if h.http else None,
            interval=Duration.seconds(h.interval_seconds),
            timeout=Duration.seconds(max(2, h.interval_seconds - 1)),
            healthy_threshold_count=h.healthy_threshold,
            unhealthy_threshold_count=h.unhealthy_threshold,
        )
