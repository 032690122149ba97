"""Settings of the DR region: async DR members, a reduced web tier and the
Route 53 failover records."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Annotated

from pydantic import AfterValidator, Field

from config import constants as c
from config.base import Allowed, Problem, SettingsModel, refuse, rule
from config.data import MAX_MIRROR_NAME, MirrorSetSettings
from config.types import (
    DNS_LABEL,
    DNS_NAME,
    AvailabilityZone,
    CertificateArn,
    Cidr,
    Days,
    InstanceType,
    Matches,
    OneOf,
    Region,
    RetentionDays,
    VpcCidr,
)

DR_AZ_COUNTS = (2, 3)
MAX_DR_WEB_SERVERS = 20
# The primary region's buckets whose objects dr.replicate_buckets may copy into the DR region.
REPLICABLE_BUCKETS = ("mendix_files", "trail", "access_logs")
ReplicableBucket = Annotated[str, OneOf(REPLICABLE_BUCKETS, f"one of {', '.join(REPLICABLE_BUCKETS)}")]


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
    """The DR region: async DR members (one per zone) per listed mirror set, a reduced web tier, DNS failover."""

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
    async_members_per_set: Annotated[
        int,
        Field(
            ge=1,
            le=max(DR_AZ_COUNTS),
            description="Async DR members of each listed mirror set, one per DR zone, each with its own volumes "
            "(reference 2, dev 1); at most the number of dr.availability_zones.",
        ),
        Allowed(f"a count from 1 to {max(DR_AZ_COUNTS)} (one per DR zone at most)"),
    ] = 1
    web_servers: Annotated[
        int,
        Field(ge=1, le=MAX_DR_WEB_SERVERS, description="The reduced web tier's servers; it may grow to app.web.max_capacity."),
        Allowed(f"a count from 1 to {MAX_DR_WEB_SERVERS}"),
    ] = 1
    ecp_app_servers: Annotated[
        int,
        Field(
            ge=0,
            description="ECP application servers in the DR region, behind its web tier and connected to the DR VIP, "
            "so the application works after promote-dr (reference 2, dev 1); at most app.ecp.min_capacity, the "
            "primary region's count; after a promotion they may grow to app.ecp.max_capacity. 0: none, and the DR "
            "web tier serves from the DR members themselves.",
        ),
        Allowed("a count from 0 to app.ecp.min_capacity"),
    ] = 1
    replicate_buckets: Annotated[
        tuple[ReplicableBucket, ...],
        Field(
            default=(),
            description="Buckets of the primary region copied into the DR region by S3 replication, each into a bucket "
            "of its own there: mendix_files (the Mendix file bucket), trail (the Audit stack's; its copy under the same "
            "Object Lock), access_logs (the load balancer's and the buckets' access logs). An entry whose bucket is not "
            "built (eks.enabled or audit.trail false) copies nothing. Replicas of SSE-KMS objects are encrypted with a "
            "key of the DR region. Reference: all three; dev: none.",
            json_schema_extra={"uniqueItems": True},
        ),
    ]
    snapshot_copy_retain_days: Annotated[
        Days, Field(description="How long the DR region keeps the data tier's snapshot copies.")
    ] = 7

    def ca_client_tiers(self) -> tuple[str, ...]:
        """The DR subnet tiers whose hosts get their certificates from the primary region's CA, over the
        peering: the members' and the web servers', and the ECP servers' when there are any."""
        return ("data", "web", "app") if self.ecp_app_servers else ("data", "web")

    def instance_type(self, mirror_set: MirrorSetSettings) -> str:
        return self.instance_types.get(mirror_set.name, mirror_set.instance_type)

    @rule
    def _sets_listed_once(self) -> Iterator[Problem]:
        """`mirror_sets` lists each set once."""
        for i, name in enumerate(self.mirror_sets):
            if name in self.mirror_sets[:i]:
                yield Problem(f"mirror_sets.{i}", name, "a mirror set listed once")

    @rule
    def _a_zone_per_member(self) -> Iterator[Problem]:
        """`async_members_per_set` is at most the number of `availability_zones`: one member per zone."""
        zones = len(self.availability_zones)
        if zones in DR_AZ_COUNTS and self.async_members_per_set > zones:  # else the zones are the problem
            yield Problem(
                "async_members_per_set",
                self.async_members_per_set,
                f"a count from 1 to {zones}, the number of dr.availability_zones (one async member per zone)",
            )

    @rule
    def _buckets_listed_once(self) -> Iterator[Problem]:
        """`replicate_buckets` lists each bucket once."""
        for i, name in enumerate(self.replicate_buckets):
            if name in self.replicate_buckets[:i]:
                yield Problem(f"replicate_buckets.{i}", name, "a bucket listed once")

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


# --------------------------------------------------------------------------
# The hybrid model
# --------------------------------------------------------------------------

IRIS_MEMBER_NAME = rf"^[A-Z][A-Z0-9]{{0,{c.IRIS_MIRROR_NAME_MAX - 1}}}$"
IRIS_MIRROR_NAME = rf"^[A-Z][A-Z0-9]{{0,{MAX_MIRROR_NAME - 1}}}$"
MAX_ONPREM_FAILOVER_MEMBERS = 2


def _private_address(value: str) -> str:
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError:
        raise refuse("an IPv4 address such as 192.168.10.11") from None
    if not address.is_private:
        raise refuse("a private IPv4 address, reached over the site-to-site VPN")
    return value


PrivateAddress = Annotated[
    str,
    AfterValidator(_private_address),
    Field(json_schema_extra={"pattern": r"^\d{1,3}(\.\d{1,3}){3}$"}),
    Allowed("a private IPv4 address"),
]


class OnPremisesMember(SettingsModel):
    """A failover member of a mirror in the customer's data centre."""

    name: Annotated[
        str,
        Matches(IRIS_MEMBER_NAME, f"an IRIS mirror member name: upper-case letters and digits, at most {c.IRIS_MIRROR_NAME_MAX}"),
        Field(description="The member's name in its mirror, e.g. HSDB01 (the on-premises configuration's own)."),
    ]
    address: Annotated[
        PrivateAddress,
        Field(description="Its address, inside network.onprem_cidr: the AWS members reach its superserver and ISCAgent."),
    ]


class OnPremisesMirror(SettingsModel):
    """An on-premises mirror whose failover pair stays in the data centre; AWS holds its async DR members."""

    mirror_set: Annotated[
        str,
        Field(description="The set of data.mirror_sets whose volumes, instance type and databases the AWS members take."),
    ]
    mirror_name: Annotated[
        str,
        Matches(
            IRIS_MIRROR_NAME,
            f"an IRIS mirror name: upper-case letters and digits, at most {MAX_MIRROR_NAME} (the AWS members add DR, DR1, DR2)",
        ),
        Field(description="The mirror's name on-premises; the AWS members join it as <mirror_name>DR, <mirror_name>DR1."),
    ]
    arbiter_address: Annotated[
        PrivateAddress,
        Field(description="The mirror's arbiter on-premises (its ISCAgent, 2188), inside network.onprem_cidr."),
    ]
    failover_members: Annotated[
        tuple[OnPremisesMember, ...],
        Field(
            description="The on-premises failover members (1 or 2) the AWS members join through, whichever is primary.",
            json_schema_extra={"minItems": 1, "maxItems": MAX_ONPREM_FAILOVER_MEMBERS},
        ),
    ]

    @rule
    def _one_or_two_failover_members(self) -> Iterator[Problem]:
        """`failover_members` holds one or two members, names and addresses each once."""
        if not 1 <= len(self.failover_members) <= MAX_ONPREM_FAILOVER_MEMBERS:
            yield Problem("failover_members", len(self.failover_members), "one or two on-premises failover members")
        for i, member in enumerate(self.failover_members):
            for other in self.failover_members[:i]:
                if member.name == other.name or member.address == other.address:
                    yield Problem(f"failover_members.{i}", member.name, "a member whose name and address are its own")


class HybridSettings(SettingsModel):
    """The hybrid model: failover pairs on-premises, async DR members in AWS over the site-to-site VPN."""

    mirrors: Annotated[
        tuple[OnPremisesMirror, ...],
        Field(
            description="Every mirror of data.mirror_sets, with its on-premises failover members.",
            json_schema_extra={"minItems": 1},
        ),
    ]
    async_members_per_set: Annotated[
        int,
        Field(
            ge=1,
            le=c.REQUIRED_AZ_COUNT,
            description="Async DR members of each mirror in AWS, one per availability zone, each with its own volumes.",
        ),
        Allowed(f"a count from 1 to {c.REQUIRED_AZ_COUNT} (one per zone at most)"),
    ] = 2
    xdbc_clients: Annotated[
        tuple[Cidr, ...],
        Field(
            default=(),
            description="On-premises blocks, inside network.onprem_cidr, whose xDBC clients reach the mirror VIP "
            "over the VPN (1972 only).",
        ),
    ]
    web_tier: Annotated[
        bool,
        Field(description="A web tier (ALB, WAF, Web Gateway servers) on the AWS members, for after a promotion."),
    ] = False
    web_servers: Annotated[
        int,
        Field(ge=1, le=MAX_DR_WEB_SERVERS, description="Its servers, with web_tier on."),
        Allowed(f"a count from 1 to {MAX_DR_WEB_SERVERS}"),
    ] = 1

    def mirror_of(self, mirror_set: str) -> OnPremisesMirror:
        (mirror,) = [m for m in self.mirrors if m.mirror_set == mirror_set]
        return mirror

    @rule
    def _mirrors_listed_once(self) -> Iterator[Problem]:
        """Each mirror set and each mirror name once in `mirrors`."""
        for i, mirror in enumerate(self.mirrors):
            for other in self.mirrors[:i]:
                if mirror.mirror_set == other.mirror_set or mirror.mirror_name == other.mirror_name:
                    yield Problem(f"mirrors.{i}", mirror.mirror_set, "a mirror set and a mirror name listed once")

    @rule
    def _member_names_left_for_aws(self) -> Iterator[Problem]:
        """No on-premises member takes a name the AWS members use (<mirror_name>DR, DR1, DR2)."""
        for i, mirror in enumerate(self.mirrors):
            taken = {mirror.mirror_name + name for name in c.DR_MEMBER_NAMES}
            for j, member in enumerate(mirror.failover_members):
                if member.name in taken:
                    yield Problem(
                        f"mirrors.{i}.failover_members.{j}.name",
                        member.name,
                        f"a name other than those of the AWS async members: {', '.join(sorted(taken))}",
                    )
