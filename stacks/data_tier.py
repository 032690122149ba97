"""DataTierStack: what the IRIS mirror sets of a region share.

Each mirror set has a stack of its own (stacks/mirror_set.py); this one holds
what exists once: the data key, the region's alarm topics, the members' log groups and
private zone, the host files and images they read, the deploy-time retarget
function and (polling method) the poller that keep every VIP on its primary,
and the snapshot policy. Each set's run-time retarget function is in the set's stack.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_route53 as route53
from constructs import Construct

from components.address_plan import routes_over_peering, tier_block
from components.encryption_key import EncryptionKey
from components.host_certificate import CertificateAuthority, certificate_policy
from components.iris_host_access import iris_hosts
from components.links import DataTierLink, DrLink, NetworkRefs, PrivateCaEndpoint
from components.member_basics import guard_placeholders
from components.member_monitoring import MemberLogGroups
from components.mirror_failover import MirrorFailover
from components.mirror_vip import MirrorHealthCheck
from components.nlb_alias import DnsNameAlias
from components.severity import SeverityTopics
from components.snapshot_backup import CrossRegionCopy, SnapshotBackup
from config.data import DataTierSettings
from config.dr import DrSettings
from config.ops import SeverityNotifications
from config.placeholders import PLACEHOLDER_AMI, image_placeholders

BACKUP_TAG_KEY = "IrisBackup"


DESCRIPTION = "IRIS on AWS: what the mirror sets share: data key, alarm topics, member zone and logs, mirror failover, snapshots"


class DataTierStack(Stack):
    """The shared half of the data tier; exposes ``link``, what each mirror set's stack builds on.

    The key is retained when the stack is deleted. With ``dr``, the data
    subnets route to the DR data tier over the peering (and to nothing
    else there), the zone is associated with the DR VPC, and snapshot copies
    go to the DR region with its key.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        network: NetworkRefs,
        settings: DataTierSettings,
        ca: CertificateAuthority,
        notifications: SeverityNotifications,
        dr: DrLink | None = None,
        dr_settings: DrSettings | None = None,
        **kwargs: object,
    ) -> None:
        kwargs.setdefault("description", DESCRIPTION)
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        guard_placeholders(
            self,
            "GoldenImageIsSet",
            [(f"data.ami_ids.{self.region}", settings.ami_ids[self.region], PLACEHOLDER_AMI), *image_placeholders(settings.iris)],
        )
        self.key = EncryptionKey(
            self, "DataKey", description="Encrypts the IRIS volumes, snapshots and alarms", alias=f"alias/{construct_id}/data"
        )
        self.key.allow_service("cloudwatch.amazonaws.com", ["kms:Decrypt", "kms:GenerateDataKey*"])
        # The region's alarm topics, one per severity: every stack of the region raises its alarms on them.
        self.alarm_topics = SeverityTopics(self, "AlarmTopics", key=self.key.key, notifications=notifications).topics
        # The members' CloudWatch agents write to these (components/member_monitoring.py).
        self.key.allow_cloudwatch_logs()
        self.member_logs = MemberLogGroups(self, "MemberLogs", encryption_key=self.key.key)
        self.zone = route53.PrivateHostedZone(
            self, "MemberZone", zone_name=settings.private_zone_name, vpc=network.vpc, comment="IRIS mirror members' names"
        )

        host, host_policy = iris_hosts(self, data=settings, log_groups=self.member_logs, ca=ca)
        certificates = certificate_policy(self, "HostCertificatePolicy", ca=ca, hosts="IRIS member hosts")
        health_check = MirrorHealthCheck.of(settings, http=settings.failover_method == "polling")
        self.failover = MirrorFailover(
            self,
            "Failover",
            function_name=f"{construct_id}-retarget",
            vpc=network.vpc,
            subnets=network.tier("data"),
            security_group=network.security_groups.failover,
            parameter_path=f"/{construct_id}/retarget",
            health_check=health_check,
            provider=True,
            poll=settings.failover_method == "polling",
            encryption_key=self.key.key,
            alarm_topics=self.alarm_topics,
        )
        CfnOutput(self, "RetargetFunctionName", value=self.failover.function.function_name, description="python -m ops status")

        backup_tag = (BACKUP_TAG_KEY, construct_id)
        self.backup = SnapshotBackup(
            self,
            "Backup",
            target_tag=backup_tag,
            schedule=settings.backup.schedule,
            retain_count=settings.backup.retain_count,
            iris_instance=settings.iris_instance,
            encryption_key=self.key.key,
            alarm_topics=self.alarm_topics,
            copy=_snapshot_copy(settings, dr, dr_settings),
        )
        if dr is not None and dr_settings is not None:
            self._route_to_dr(network, dr, dr_settings)

        self.link = DataTierLink(
            key=self.key.key,
            alarm_topics=self.alarm_topics,
            zone=self.zone,
            host=host,
            host_policies=[host_policy],
            certificate_policy=certificates,
            failover=self.failover.link,
            health_check=health_check,
            backup_tag=backup_tag,
            marker_path=f"/{construct_id}",
        )

    def _route_to_dr(self, network: NetworkRefs, dr: DrLink, dr_settings: DrSettings) -> None:
        """The data subnets reach the DR data tier over the peering; beside them only the AWS Private CA
        endpoint's subnets, which answer the DR hosts (:meth:`_private_ca_for_dr`).

        The DR region resolves the members' names in this stack's zone, where
        its DR members have theirs too (written by the mirror sets' stacks).
        """
        self.zone.add_vpc(dr.vpc)
        dr_data = tier_block(dr_settings.vpc_cidr, "data")
        routes_over_peering(self, "DataToDr", network.tier("data"), dr_data, dr.peering_id)
        if network.private_ca_endpoint is not None:
            self._private_ca_for_dr(network, network.private_ca_endpoint, dr, dr_settings)

    def _private_ca_for_dr(self, network: NetworkRefs, endpoint: PrivateCaEndpoint, dr: DrLink, dr_settings: DrSettings) -> None:
        """The DR region's hosts reach this region's AWS Private CA through its endpoint, over the peering.

        The CA is regional and the DR data subnets have no way out but the
        peering: in the DR VPC the CA's regional name resolves to this VPC's
        endpoint (a private zone of that name, as the endpoint's private DNS
        does here), and the endpoint's subnets route back to the DR blocks of
        ``dr_settings.ca_client_tiers()`` (data, web and, with ECP servers, app).
        The endpoint's own group admits them (stacks/network.py).
        """
        zone = route53.PrivateHostedZone(
            self,
            "PrivateCaNameForDr",
            zone_name=f"acm-pca.{self.region}.{self.url_suffix}",
            vpc=dr.vpc,
            comment="AWS Private CA of the primary region for the DR region's hosts, through the primary VPC's endpoint",
        )
        route53.ARecord(
            self,
            "PrivateCaEndpointForDr",
            zone=zone,
            target=route53.RecordTarget.from_alias(DnsNameAlias(endpoint.dns_name, endpoint.hosted_zone_id)),
            comment="The primary VPC's AWS Private CA endpoint",
        )
        for tier in dr_settings.ca_client_tiers():
            block = tier_block(dr_settings.vpc_cidr, tier)
            routes_over_peering(self, f"PrivateCaToDr{tier.title()}", network.tier("app"), block, dr.peering_id)


def _snapshot_copy(settings: DataTierSettings, dr: DrLink | None, dr_settings: DrSettings | None) -> CrossRegionCopy | None:
    """Copies go to the DR region with its key; without one, where settings say, if anywhere."""
    if dr is not None and dr_settings is not None:
        return CrossRegionCopy(dr.region, dr.key_arn, dr_settings.snapshot_copy_retain_days)
    b = settings.backup
    if b.copy_region and b.copy_kms_key_arn:
        return CrossRegionCopy(b.copy_region, b.copy_kms_key_arn, b.copy_retain_days)
    return None
