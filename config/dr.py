"""Settings of the DR region: async DR members, a reduced web tier and the
Route 53 failover records."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Annotated

from pydantic import AfterValidator, Field

from config.base import Allowed, Problem, SettingsModel, rule
from config.data import MirrorSetSettings
from config.types import (
    DNS_LABEL,
    DNS_NAME,
    AvailabilityZone,
    CertificateArn,
    Days,
    InstanceType,
    Matches,
    Region,
    RetentionDays,
    VpcCidr,
)

DR_AZ_COUNTS = (2, 3)
MAX_DR_WEB_SERVERS = 20


class DnsSettings(SettingsModel):
    """Route 53 failover records that send users to the region whose mirror member is primary."""

    zone_name: Annotated[
        str,
        Matches(DNS_NAME, "a lower-case DNS domain name such as example.org"),
        Field(description="The public DNS zone of the application's name, e.g. example.org (example.* zones are placeholders)."),
    ]
    record_name: Annotated[
        str,
        Matches(DNS_LABEL, "one lower-case DNS label such as iris"),
        Field(description="The application's name in the zone: iris.example.org."),
    ] = "iris"
    hosted_zone_id: Annotated[
        str | None,
        Matches(r"^Z[A-Z0-9]{1,31}$", "a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ, or none"),
        Field(
            description="An existing public hosted zone for zone_name; none: the DNS stack creates the zone "
            "and outputs its name servers."
        ),
    ] = None
    ttl_seconds: Annotated[
        int,
        Field(
            ge=0,
            le=86400,
            description="The failover records' TTL. After promote-dr flips the DNS gates, resolvers answer the DR "
            "region within ttl_seconds + health_check_period_seconds (90 s with the defaults).",
        ),
        Allowed("0 to 86400 seconds"),
    ] = 30
    health_check_period_seconds: Annotated[
        int,
        Field(
            ge=60,
            le=3600,
            multiple_of=60,
            description="The period of the CloudWatch alarms each health check follows (standard resolution only).",
        ),
        Allowed("a multiple of 60 from 60 to 3600: Route 53 follows only standard-resolution CloudWatch alarms"),
    ] = 60
    failure_threshold: Annotated[
        int,
        Field(ge=1, le=10, description="Failed periods in a row before a region counts as down."),
        Allowed("a count from 1 to 10"),
    ] = 3


InstanceTypes = Annotated[Mapping[str, InstanceType], AfterValidator(lambda v: MappingProxyType(dict(v)))]


class DrSettings(SettingsModel):
    """The DR region: an async DR member per listed mirror set, a reduced web tier, DNS failover."""

    region: Annotated[Region, Field(description="An AWS region other than the primary region.")]
    availability_zones: Annotated[
        tuple[AvailabilityZone, ...],
        Field(
            description="2 or 3 distinct zones of dr.region (reference 3, dev 2).",
            json_schema_extra={"minItems": min(DR_AZ_COUNTS), "maxItems": max(DR_AZ_COUNTS), "uniqueItems": True},
        ),
    ]
    vpc_cidr: Annotated[
        VpcCidr,
        Field(description="Private IPv4 block, /16 to /24, that overlaps neither network.vpc_cidr nor network.onprem_cidr."),
    ]
    mirror_sets: Annotated[
        tuple[str, ...],
        Field(
            description="Names of data.mirror_sets that get an async DR member, each once; must hold app.mirror_set "
            "(the application's DNS name follows it).",
            json_schema_extra={"minItems": 1},
        ),
    ]
    dns: Annotated[DnsSettings, Field(description="Route 53 failover records.")]
    certificate_arn: Annotated[
        CertificateArn | None,
        Field(description="Required: the ACM certificate in dr.region of the DR region's ALB (certificates are regional)."),
    ] = None
    nat_gateways: Annotated[
        int,
        Field(ge=1, le=max(DR_AZ_COUNTS), description="NAT gateways of the DR VPC: 1 to the number of DR zones."),
        Allowed(f"a count from 1 to {max(DR_AZ_COUNTS)} (one per AZ at most)"),
    ] = 1
    flow_log_retention_days: Annotated[RetentionDays, Field(description="How long the DR VPC's flow logs are kept.")] = 365
    instance_types: Annotated[
        InstanceTypes,
        Field(
            default_factory=lambda: MappingProxyType({}),
            description="Mirror set -> a smaller type for its DR member; it must sustain the set's volume IOPS "
            "(default: the set's own type).",
        ),
    ]
    promoted_instance_type: Annotated[
        InstanceType | None,
        Field(
            description="The type promote-dr gives a DR member before promoting it (stop, change, start), e.g. the "
            "failover members' type when dr.instance_types makes DR members smaller; it must sustain the volume IOPS "
            "of every set in dr.mirror_sets. None: the member keeps its type (promote-dr --resize-to still can)."
        ),
    ] = None
    web_servers: Annotated[
        int,
        Field(ge=1, le=MAX_DR_WEB_SERVERS, description="The reduced web tier's servers; it may grow to app.web.max_capacity."),
        Allowed(f"a count from 1 to {MAX_DR_WEB_SERVERS}"),
    ] = 1
    snapshot_copy_retain_days: Annotated[
        Days, Field(description="How long the DR region keeps the data tier's snapshot copies.")
    ] = 7

    def instance_type(self, mirror_set: MirrorSetSettings) -> str:
        return self.instance_types.get(mirror_set.name, mirror_set.instance_type)

    @rule
    def _sets_listed_once(self) -> Iterator[Problem]:
        """`mirror_sets` lists each set once."""
        for i, name in enumerate(self.mirror_sets):
            if name in self.mirror_sets[:i]:
                yield Problem(f"mirror_sets.{i}", name, "a mirror set listed once")

    @rule
    def _types_for_listed_sets(self) -> Iterator[Problem]:
        """`instance_types` names only sets listed in `mirror_sets`."""
        for name, instance_type in self.instance_types.items():
            if name not in self.mirror_sets:
                yield Problem(
                    f"instance_types.{name}",
                    instance_type,
                    f"a type for a mirror set listed in dr.mirror_sets: {', '.join(self.mirror_sets)}",
                )
