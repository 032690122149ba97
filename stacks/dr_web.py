"""DrWebStack: the DR region's reduced web tier and ECP application servers."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from constructs import Construct

from components.ecp_servers import ecp_server_access
from components.host_certificate import CertificateAuthority
from components.links import MirrorLink, NetworkRefs
from components.member_basics import guard_placeholders
from components.server_fleet import ServerFleet, fleet_key, fleet_spec
from components.severity import AlarmTopics
from components.web_tier import build_web_tier
from config.app import AppTierSettings, FleetSettings
from config.data import DataTierSettings
from config.placeholders import PLACEHOLDER_AMI, placeholder_certificate_arn

DESCRIPTION = "IRIS on AWS, DR region: the reduced web tier (ALB with WAF, Web Gateway servers) and ECP application servers"


class DrWebStack(Stack):
    """The app tier's web tier, reduced: ``servers`` servers (growing up to the
    primary region's maximum after a promotion) and this region's certificate.
    With ``ecp_servers``, that many ECP application servers in the app subnets
    (growing up to the primary region's maximum too) connect to the DR VIP, which
    promote-dr points at the promoted member, and the Web Gateway serves from
    them; without, it serves from the DR members of the application's mirror set.
    Exposes ``web`` and ``ecp_servers`` (or None)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        network: NetworkRefs,
        mirror: MirrorLink,
        alarm_topics: AlarmTopics,
        app: AppTierSettings,
        servers: int,
        certificate: tuple[str, str],
        ca: CertificateAuthority,
        ecp_servers: int = 0,
        data_settings: DataTierSettings | None = None,
        **kwargs: object,
    ) -> None:
        """``servers`` web servers to start with; ``certificate``: (the setting that holds it, the ACM
        certificate of this region) for the ALB; ``ecp_servers`` ECP application servers to start
        with, configured from ``data_settings`` (required with them)."""
        kwargs.setdefault("description", DESCRIPTION)
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        certificate_key, certificate_arn = certificate
        guard_placeholders(
            self,
            "PlaceholdersAreReplaced",
            [
                (f"app.web_ami_ids.{self.region}", app.web_ami_ids[self.region], PLACEHOLDER_AMI),
                (certificate_key, certificate_arn, placeholder_certificate_arn(self.region)),
                *([(f"app.ecp_ami_ids.{self.region}", app.ecp_ami_ids[self.region], PLACEHOLDER_AMI)] if ecp_servers else []),
            ],
        )
        self.key, self.auto_scaling_role, auto_scaling_role_arn = fleet_key(
            self,
            "DrWebKey",
            description="Encrypts the DR web and ECP servers' volumes and WAF logs",
            alias=f"alias/{construct_id}/web",
            suffix=construct_id,
        )
        self.gateway_password = mirror.cspsystem
        self.ecp_servers: ServerFleet | None = None
        if ecp_servers:
            assert data_settings is not None
            self.ecp_servers = self._ecp_servers(
                network, mirror, alarm_topics, app, ecp_servers, data_settings, ca, auto_scaling_role_arn
            )
        self.web = build_web_tier(
            self,
            network=network,
            settings=app,
            # With ECP servers, the mirror is theirs to follow; else the gateway's.
            members=[] if self.ecp_servers else mirror.member_addresses,
            certificate_arn=certificate_arn,
            capacity=(servers, max(servers, app.web.max_capacity)),
            key=self.key.key,
            auto_scaling=(self.auto_scaling_role, auto_scaling_role_arn),
            password=self.gateway_password,
            # The primary region's CA, reached through the NAT gateway (docs/certificates.md).
            ca=ca,
            alarm_topics=alarm_topics,
            app_server_group=self.ecp_servers.group.auto_scaling_group_name if self.ecp_servers else None,
        )
        CfnOutput(self, "SiteDnsName", value=self.web.load_balancer.load_balancer_dns_name, description="the DR region's ALB")

    def _ecp_servers(
        self,
        network: NetworkRefs,
        mirror: MirrorLink,
        alarm_topics: AlarmTopics,
        app: AppTierSettings,
        count: int,
        data_settings: DataTierSettings,
        ca: CertificateAuthority,
        auto_scaling_role_arn: str,
    ) -> ServerFleet:
        """ECP application servers like the primary region's, ``count`` of them, connected to the DR VIP.

        No async member is primary before a promotion, so a request for a remote
        database waits and fails while the client retries; the setup script only
        configures IRIS and never waits for the data server. After promote-dr
        moves the VIP to the promoted member, the mirror connection follows it.
        """
        access = ecp_server_access(
            self,
            ca=ca,
            cspsystem=mirror.cspsystem,
            default_key=self.key.key,
            mirror_name=app.mirror_set,
            address=mirror.load_balancer.load_balancer_dns_name,
            databases=[(db.name, db.namespace) for db in app.ecp_databases],
            data_settings=data_settings,
            region=self.region,
            hosts="DR ECP application servers",
        )
        fleet = ServerFleet(
            self,
            "EcpServers",
            vpc=network.vpc,
            subnets=network.tier("app"),
            security_group=network.security_groups.app,
            spec=fleet_spec(
                FleetSettings(app.ecp.instance_type, count, max(count, app.ecp.max_capacity)), app.ecp_ami_ids[self.region], app
            ),
            region=self.region,
            role=access.role,
            encryption_key=self.key.key,
            service_linked_role=self.auto_scaling_role,
            service_linked_role_arn=auto_scaling_role_arn,
            user_data_commands=access.commands,
            alarm_topics=alarm_topics,
            alarm_kind="app-server-capacity",
            description="DR ECP application servers",
        )
        fleet.group.scale_on_cpu_utilization(
            "CpuScaling",
            target_utilization_percent=app.scaling.cpu_target_percent,
            estimated_instance_warmup=Duration.seconds(app.scaling.warmup_seconds),
        )
        return fleet
