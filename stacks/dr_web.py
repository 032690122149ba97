"""DrWebStack: the DR region's reduced web tier."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from components.host_certificate import CertificateAuthority
from components.links import MirrorLink, NetworkRefs
from components.member_basics import guard_placeholders
from components.server_fleet import fleet_key
from components.severity import AlarmTopics
from components.web_tier import build_web_tier
from config.app import AppTierSettings
from config.placeholders import PLACEHOLDER_AMI, placeholder_certificate_arn

DESCRIPTION = "IRIS on AWS, DR region: the reduced web tier (ALB with WAF, Web Gateway servers) on the DR member"


class DrWebStack(Stack):
    """The app tier's web tier, reduced: ``servers`` servers (growing up to the
    primary region's maximum after a promotion), this region's certificate, and the
    DR members of the application's mirror set as the Web Gateway's servers.
    Exposes ``web``."""

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
        **kwargs: object,
    ) -> None:
        """``servers`` web servers to start with; ``certificate``: (the setting that holds it, the ACM
        certificate of this region) for the ALB."""
        kwargs.setdefault("description", DESCRIPTION)
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        certificate_key, certificate_arn = certificate
        guard_placeholders(
            self,
            "PlaceholdersAreReplaced",
            [
                (f"app.web_ami_ids.{self.region}", app.web_ami_ids[self.region], PLACEHOLDER_AMI),
                (certificate_key, certificate_arn, placeholder_certificate_arn(self.region)),
            ],
        )
        self.key, self.auto_scaling_role, auto_scaling_role_arn = fleet_key(
            self,
            "DrWebKey",
            description="Encrypts the DR web servers' volumes and WAF logs",
            alias=f"alias/{construct_id}/web",
            suffix=construct_id,
        )
        self.gateway_password = mirror.cspsystem
        self.web = build_web_tier(
            self,
            network=network,
            settings=app,
            members=mirror.member_addresses,
            certificate_arn=certificate_arn,
            capacity=(servers, max(servers, app.web.max_capacity)),
            key=self.key.key,
            auto_scaling=(self.auto_scaling_role, auto_scaling_role_arn),
            password=self.gateway_password,
            # The primary region's CA, reached through the NAT gateway (docs/certificates.md).
            ca=ca,
            alarm_topics=alarm_topics,
        )
        CfnOutput(self, "SiteDnsName", value=self.web.load_balancer.load_balancer_dns_name, description="the DR region's ALB")
