"""AppTierStack: the public web tier, ECP application and print servers, and
the private name xDBC clients use to reach the primary."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_route53 as route53
from constructs import Construct

from components.bucket_replication import ReplicaTarget
from components.ecp_servers import ecp_server_access
from components.host_certificate import CertificateAuthority
from components.links import MirrorLink, NetworkRefs
from components.member_basics import guard_placeholders
from components.nlb_alias import NetworkLoadBalancerAlias
from components.server_fleet import FleetSpec, ServerFleet, fleet_key, fleet_spec
from components.severity import AlarmTopics
from components.web_tier import build_web_tier
from config import constants as c
from config.app import AppTierSettings, FleetSettings
from config.data import DataTierSettings
from config.placeholders import PLACEHOLDER_AMI, placeholder_certificate_arn

DESCRIPTION = "IRIS on AWS: public ALB with WAF, Web Gateway servers, ECP application and print servers, xDBC name"


class AppTierStack(Stack):
    """User traffic from the internet to the mirror's primary.

    Users reach the web servers through the internet-facing ALB; the Web
    Gateway and the ECP application and print servers are mirror-aware and
    connect to the primary themselves; xDBC/TCP clients, which are not, use
    ``<mirror set>.<private zone>``, an alias of the mirror VIP, which the
    failover function keeps on the primary. Exposes ``web``, ``ecp_servers``,
    ``print_servers`` (or None), ``private_zone`` and ``xdbc_record``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        network: NetworkRefs,
        mirror: MirrorLink,
        alarm_topics: AlarmTopics,
        settings: AppTierSettings,
        data_settings: DataTierSettings,
        ca: CertificateAuthority,
        access_log_replica: ReplicaTarget | None = None,
        **kwargs: object,
    ) -> None:
        """``access_log_replica``: the DR copy the ALB's access logs replicate into (``dr.replicate_buckets``)."""
        kwargs.setdefault("description", DESCRIPTION)
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        assert settings.certificate_arn is not None  # validated with the settings
        guard_placeholders(
            self,
            "PlaceholdersAreReplaced",
            [
                (f"app.web_ami_ids.{self.region}", settings.web_ami_ids[self.region], PLACEHOLDER_AMI),
                (f"app.ecp_ami_ids.{self.region}", settings.ecp_ami_ids[self.region], PLACEHOLDER_AMI),
                ("app.certificate_arn", settings.certificate_arn, placeholder_certificate_arn(self.region)),
            ],
        )
        sg = network.security_groups

        self.key, self.auto_scaling_role, auto_scaling_role_arn = fleet_key(
            self,
            "AppKey",
            description="Encrypts the application tier's server volumes and WAF logs",
            alias=f"alias/{construct_id}/app",
            suffix=construct_id,
        )

        # ECP clients connect to the member that is primary at deployment; IRIS
        # redirects them to whichever member is primary from then on.
        access = ecp_server_access(
            self,
            ca=ca,
            cspsystem=mirror.cspsystem,
            default_key=self.key.key,
            mirror_name=settings.mirror_set,
            address=mirror.initial_primary_address,
            databases=[(db.name, db.namespace) for db in settings.ecp_databases],
            data_settings=data_settings,
            region=self.region,
        )
        self.ecp_role, ecp_commands = access.role, access.commands

        def ecp_fleet(fleet_id: str, spec: FleetSpec, description: str, alarm_kind: str) -> ServerFleet:
            return ServerFleet(
                self,
                fleet_id,
                vpc=network.vpc,
                subnets=network.tier("app"),
                security_group=sg.app,
                spec=spec,
                region=self.region,
                role=self.ecp_role,
                encryption_key=self.key.key,
                service_linked_role=self.auto_scaling_role,
                service_linked_role_arn=auto_scaling_role_arn,
                user_data_commands=ecp_commands,
                alarm_topics=alarm_topics,
                alarm_kind=alarm_kind,
                description=description,
            )

        ecp_ami = settings.ecp_ami_ids[self.region]
        self.ecp_servers = ecp_fleet(
            "EcpServers", fleet_spec(settings.ecp, ecp_ami, settings), "ECP application servers", "app-server-capacity"
        )
        self.ecp_servers.group.scale_on_cpu_utilization(
            "CpuScaling",
            target_utilization_percent=settings.scaling.cpu_target_percent,
            estimated_instance_warmup=Duration.seconds(settings.scaling.warmup_seconds),
        )
        # The CSPSystem password the data tier gave IRIS at its first start.
        self.gateway_password = mirror.cspsystem
        self.web = build_web_tier(
            self,
            network=network,
            settings=settings,
            members=[],  # the mirror is the application servers' business
            certificate_arn=settings.certificate_arn,
            capacity=(settings.web.min_capacity, settings.web.max_capacity),
            key=self.key.key,
            auto_scaling=(self.auto_scaling_role, auto_scaling_role_arn),
            password=self.gateway_password,
            ca=ca,
            alarm_topics=alarm_topics,
            # The Web Gateway serves from the ECP application servers, over TLS to their superservers.
            app_server_group=self.ecp_servers.group.auto_scaling_group_name,
            access_log_replica=access_log_replica,
        )

        self.print_servers: ServerFleet | None = None
        p = settings.print_servers
        if p.count:
            self.print_servers = ecp_fleet(
                "PrintServers",
                fleet_spec(FleetSettings(p.instance_type, p.count, p.count), ecp_ami, settings),
                "Print servers",
                "print-server-capacity",
            )

        # xDBC/TCP clients are not mirror-aware: their name is an alias of the
        # mirror VIP, which the failover function keeps on the primary.
        self.private_zone = route53.PrivateHostedZone(
            self,
            "PrivateZone",
            zone_name=settings.private_zone_name,
            vpc=network.vpc,
            comment=f"{construct_id}: names of the IRIS services inside the VPC",
        )
        self.xdbc_record = route53.ARecord(
            self,
            "XdbcRecord",
            zone=self.private_zone,
            record_name=settings.mirror_set.lower(),
            target=route53.RecordTarget.from_alias(NetworkLoadBalancerAlias(mirror.load_balancer)),
            comment=f"Mirror VIP of {settings.mirror_set}: the primary's superserver for xDBC/TCP clients",
        )

        CfnOutput(self, "SiteDnsName", value=self.web.load_balancer.load_balancer_dns_name, description="CNAME your site here")
        CfnOutput(
            self,
            "XdbcEndpoint",
            value=f"{settings.mirror_set.lower()}.{settings.private_zone_name}:{c.IRIS_SUPERSERVER_PORT}",
            description="xDBC/TCP clients connect here; give them the security group XdbcClientSecurityGroup",
        )
        CfnOutput(self, "XdbcClientSecurityGroup", value=sg.xdbc_clients.security_group_id)
        CfnOutput(self, "WebGatewayPasswordSecret", value=self.gateway_password.secret_arn)
