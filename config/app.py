"""Settings of the application tier: the public ALB, Web Gateway servers, ECP
application servers and print servers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated

from pydantic import Field

from config import constants as c
from config.base import Allowed, Problem, SettingsModel, rule
from config.data import DATABASE_NAME, NamespaceName, iris_name
from config.types import (
    DNS_NAME,
    URL_PATH,
    AmiIds,
    CertificateArn,
    Check,
    InstanceType,
    RetentionDays,
    RootDevice,
    RootVolumeGib,
)

MAX_FLEET_SIZE = 100


class FleetSettings(SettingsModel):
    """An Auto Scaling group of one kind of server."""

    instance_type: Annotated[
        InstanceType,
        Field(description="The servers' EC2 instance type; for ECP servers, NVMe instance store (e.g. r6id) holds the cache."),
    ]
    min_capacity: Annotated[
        int,
        Field(ge=1, le=MAX_FLEET_SIZE, description="The fewest servers (reference: 3 web servers, one per zone)."),
        Allowed(f"1 to {MAX_FLEET_SIZE} servers"),
    ]
    max_capacity: Annotated[
        int,
        Field(ge=1, le=MAX_FLEET_SIZE, description="The most servers: min_capacity to 100."),
        Allowed(f"min_capacity to {MAX_FLEET_SIZE} servers"),
    ]

    def __init__(self, instance_type: str, min_capacity: int, max_capacity: int) -> None:
        # Positional too: the stacks size the DR region's web tier and the print servers this way.
        super().__init__(**{"instance_type": instance_type, "min_capacity": min_capacity, "max_capacity": max_capacity})


class PrintServerSettings(SettingsModel):
    """Print servers: ECP clients of fixed number; none when ``count`` is 0."""

    instance_type: Annotated[InstanceType, Field(description="The print servers' EC2 instance type.")] = "m6i.large"
    count: Annotated[
        int,
        Field(ge=0, le=MAX_FLEET_SIZE, description="How many print servers (reference 2, the TrakCare example)."),
        Allowed(f"0 (no print servers) to {MAX_FLEET_SIZE}"),
    ] = 0


class ScalingSettings(SettingsModel):
    """Target tracking for the web and ECP application servers."""

    cpu_target_percent: Annotated[
        int,
        Field(ge=10, le=90, description="Target tracking of web and ECP servers on CPU."),
        Allowed("10 to 90 percent"),
    ] = 60
    requests_per_target_per_minute: Annotated[
        int,
        Field(ge=1, le=1_000_000, description="ALBRequestCountPerTarget: requests a web server takes per minute."),
        Allowed("1 to 1000000 requests a minute"),
    ] = 1000
    warmup_seconds: Annotated[
        int,
        Field(
            ge=0,
            le=3600,
            description="Target tracking's cooldown: a new instance's metrics stay out of the group's aggregate this long "
            "(EC2 Auto Scaling's default instance warmup).",
        ),
        Allowed("0 to 3600 seconds"),
    ] = 300


class AppAlarmSettings(SettingsModel):
    """Thresholds of the application tier's alarms."""

    http_5xx_percent: Annotated[
        int,
        Field(ge=1, le=100, description="The ALB's share of 5xx answers that alarms."),
        Allowed("1 to 100 percent of requests"),
    ] = 5
    response_time_ms: Annotated[
        int,
        Field(ge=10, le=60000, description="The p95 target response time that alarms."),
        Allowed("10 to 60000 milliseconds"),
    ] = 2000


def _url_path(path: str) -> bool:
    return re.fullmatch(URL_PATH, path) is not None and ".." not in path


def system_path_clash(path: str) -> str | None:
    """The system path (of config.constants.SYSTEM_PATHS) that ``path`` is, holds or lies under, ignoring case; None if none.

    "Lies under" is a plain prefix, as the WAF compares: /csp/system lies under /csp/sys."""
    lowered = path.lower().rstrip("/") or "/"
    for system in c.SYSTEM_PATHS:
        if lowered.startswith(system) or lowered == "/" or system.startswith(lowered + "/"):
            return system
    return None


AppPath = Annotated[
    str,
    Check(
        lambda p: _url_path(p) and p != "/" and not p.endswith("/") and len(p) <= c.MAX_APPLICATION_PATH_CHARS,
        f"a URL path below / such as /csp/user, without a trailing slash, at most {c.MAX_APPLICATION_PATH_CHARS} characters",
    ),
    Field(json_schema_extra={"pattern": URL_PATH, "maxLength": c.MAX_APPLICATION_PATH_CHARS}),
]


class RemoteDatabaseSettings(SettingsModel):
    """A mirrored database the ECP application and print servers use, and the namespace they see it in."""

    name: Annotated[
        str,
        Check(lambda v: iris_name(v, DATABASE_NAME), "an IRIS database name: one of data.databases of app.mirror_set"),
        Field(
            description="A mirrored database of app.mirror_set (one of data.databases): the servers' remote database "
            "of the same name, reached over ECP through the mirror connection.",
            json_schema_extra={"pattern": DATABASE_NAME},
        ),
    ]
    namespace: Annotated[
        NamespaceName,
        Field(description="The namespace on the ECP servers whose globals and routines live in that remote database."),
    ]


def _own_zone(name: str) -> bool:
    return re.fullmatch(DNS_NAME, name) is not None and not name.endswith(("amazonaws.com", "aws"))


class AppTierSettings(SettingsModel):
    """The application tier: public ALB, Web Gateway servers, ECP and print servers."""

    mirror_set: Annotated[
        str,
        Field(
            description="The name of one of data.mirror_sets: the mirror the web, ECP and print servers use, "
            "and whose VIP xDBC clients reach."
        ),
    ]
    web_ami_ids: Annotated[
        AmiIds,
        Field(
            description="Region -> AMI id of the web server image (Apache with mod_ssl and the Web Gateway); "
            "must hold region (and dr.region)."
        ),
    ]
    ecp_ami_ids: Annotated[
        AmiIds,
        Field(description="Region -> AMI id of the ECP client image (IRIS), for the ECP application and print servers."),
    ]
    web: Annotated[FleetSettings, Field(description="The web servers (Apache and the Web Gateway).")]
    ecp: Annotated[FleetSettings, Field(description="The ECP application servers.")]
    certificate_arn: Annotated[
        CertificateArn | None,
        Field(
            description="Required: the ACM certificate in region of the ALB's HTTPS listener (the shipped one is a placeholder)."
        ),
    ] = None
    print_servers: Annotated[PrintServerSettings, Field(description="Print servers (ECP clients).")] = PrintServerSettings()
    sticky_duration_seconds: Annotated[
        int,
        Field(
            ge=c.ALB_STICKINESS_MIN_SECONDS,
            le=c.ALB_STICKINESS_MAX_SECONDS,
            description="The lifetime of the ALB's stickiness cookie.",
        ),
        Allowed(
            f"{c.ALB_STICKINESS_MIN_SECONDS} to {c.ALB_STICKINESS_MAX_SECONDS} seconds (the ALB's cookie lasts at most 7 days)"
        ),
    ] = 3600
    application_paths: Annotated[
        tuple[AppPath, ...],
        Field(
            description="The application's URL paths: the only paths the public ALB forwards (each with everything under "
            "it) and Apache hands to the Web Gateway, each listed once; never a system path such as /csp/sys. "
            "The default is IRIS's USER namespace application.",
            json_schema_extra={"minItems": 1, "maxItems": c.MAX_APPLICATION_PATHS},
        ),
    ] = ("/csp/user",)
    waf_rate_limit: Annotated[
        int,
        Field(ge=c.WAF_RATE_LIMIT_MIN, le=c.WAF_RATE_LIMIT_MAX, description="The WAF's rate-based rule."),
        Allowed(f"{c.WAF_RATE_LIMIT_MIN} to {c.WAF_RATE_LIMIT_MAX} requests per client address in 5 minutes"),
    ] = 2000
    log_retention_days: Annotated[RetentionDays, Field(description="How long WAF logs and ALB access logs are kept.")] = 365
    deletion_protection: Annotated[bool, Field(description="The ALB's deletion protection.")] = True
    scaling: Annotated[ScalingSettings, Field(description="Target tracking.")] = ScalingSettings()
    alarms: Annotated[AppAlarmSettings, Field(description="Alarm thresholds.")] = AppAlarmSettings()
    private_zone_name: Annotated[
        str,
        Check(_own_zone, "a lower-case DNS domain of your own, e.g. iris.internal"),
        Field(
            description="The VPC's private zone for clients that are not mirror-aware: <mirror_set>.<private_zone_name>.",
            json_schema_extra={"pattern": DNS_NAME},
        ),
    ] = "iris.internal"
    ecp_databases: Annotated[
        tuple[RemoteDatabaseSettings, ...],
        Field(
            description="The remote databases and namespaces of the ECP application and print servers: what they serve.",
            json_schema_extra={"minItems": 1},
        ),
    ] = ()
    web_to_data: Annotated[
        bool,
        Field(
            description="Also let the web servers reach the data members and the mirror VIP on 1972 (security groups and "
            "the data NACL). Off: the Web Gateway reaches the ECP application servers only."
        ),
    ] = False
    root_device_name: Annotated[RootDevice, Field(description="The images' root device.")] = "/dev/sda1"
    root_volume_gib: Annotated[RootVolumeGib, Field(description="The size of the servers' root volume.")] = 30

    @rule
    def _fleet_sizes(self) -> Iterator[Problem]:
        """`web.max_capacity` and `ecp.max_capacity` are at least their `min_capacity`."""
        for name in ("web", "ecp"):
            fleet: FleetSettings = getattr(self, name)
            if fleet.max_capacity < fleet.min_capacity:
                yield Problem(
                    f"{name}.max_capacity",
                    fleet.max_capacity,
                    f"app.{name}.min_capacity ({fleet.min_capacity}) to {MAX_FLEET_SIZE} servers",
                )

    @rule
    def _paths_listed_once(self) -> Iterator[Problem]:
        """`application_paths` holds 1 to 100 paths (one listener rule each), each once in any case."""
        if not self.application_paths:
            yield Problem("application_paths", [], "at least one URL path, e.g. /csp/user")
        if len(self.application_paths) > c.MAX_APPLICATION_PATHS:
            yield Problem(
                "application_paths",
                f"{len(self.application_paths)} paths, {self.application_paths[0]} to {self.application_paths[-1]}",
                f"at most {c.MAX_APPLICATION_PATHS} paths: one listener rule each, and an ALB holds at most "
                f"{c.MAX_APPLICATION_PATHS} rules",
            )
        for i, path in enumerate(self.application_paths):
            earlier = [p for p in self.application_paths[:i] if p.lower() == path.lower()]
            if earlier:
                yield Problem(
                    f"application_paths.{i}", path, f"a path listed once (IRIS ignores case in paths; {earlier[0]} is listed)"
                )

    @rule
    def _no_system_path_is_public(self) -> Iterator[Problem]:
        """No path of `application_paths` is, holds or lies under a system path (`/csp/sys`, `/csp/docbook`,
        `/csp/documatic`, `/api/mgmnt`, `/csp/bin`), in any case: those are never public."""
        for i, path in enumerate(self.application_paths):
            system = system_path_clash(path)
            if system is not None:
                yield Problem(
                    f"application_paths.{i}",
                    path,
                    f"an application's own path, neither holding nor under {system} "
                    f"(never public: {', '.join(c.SYSTEM_PATHS)}), e.g. /csp/user",
                )

    @rule
    def _ecp_databases_listed_once(self) -> Iterator[Problem]:
        """`ecp_databases` holds at least one database; each database and namespace once."""
        if not self.ecp_databases:
            yield Problem("ecp_databases", [], "at least one mirrored database of app.mirror_set, with its namespace")
        for i, db in enumerate(self.ecp_databases):
            for key in ("name", "namespace"):
                value = getattr(db, key)
                if value.upper() in (getattr(d, key).upper() for d in self.ecp_databases[:i]):
                    yield Problem(f"ecp_databases.{i}.{key}", value, f"a {key} listed once")
