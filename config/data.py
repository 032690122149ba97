"""Settings of the IRIS data tier: mirror sets and their volumes, IRIS on the
members, mirrored databases, the mirror VIP and snapshot backups."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Annotated

from pydantic import Field

from config import constants as c
from config.base import Allowed, Problem, SettingsModel, rule
from config.ebs_limits import EBS_IOPS_LIMITS, EBS_PERFORMANCE
from config.instance_memory import instance_memory_mib
from config.types import (
    AmiIds,
    Check,
    Days,
    DnsName,
    InstanceType,
    Matches,
    OneOf,
    Port,
    Region,
    RootDevice,
    RootVolumeGib,
)

IRIS_SOURCES = ("container",)
IRIS_EDITIONS = ("licensed", "community")
FAILOVER_METHODS = ("polling", "api")
# Journal compression types a mirror offers for its traffic to async members (Config.Mirrors).
ASYNC_COMPRESSION_TYPES = ("zlib", "zstd", "lz4")
MAX_MIRROR_NAME = c.IRIS_MIRROR_NAME_MAX - 3  # room for the members' suffixes: 0, 1, DR, DR1, DR2, ARB
MAX_MEMORY_RATIO = 0.9
ECR_REPOSITORY = r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$"
DIGEST = r"^sha256:[0-9a-f]{64}$"
LICENSE = r"^(secretsmanager:[A-Za-z0-9/_+=.@-]{1,512}|s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\S+)$"
# IRIS names: a database starts with a letter or _, then letters, digits, _ or -, up to 30 characters; a
# namespace starts with a letter or %, up to 64 characters. The system's own names are taken.
DATABASE_NAME = r"^[A-Za-z_][A-Za-z0-9_-]{0,29}$"
NAMESPACE_NAME = r"^[A-Za-z%][A-Za-z0-9_-]{0,63}$"
IRIS_SYSTEM_NAMES = ("%SYS", "%ALL", "USER", "IRISSYS", "IRISLIB", "IRISTEMP", "IRISLOCALDATA", "IRISAUDIT", "ENSLIB", "HSLIB")
VOLUME_ROLES = ("database", "journal1", "journal2", "wij")


class VolumeSpec(SettingsModel):
    """One io1 volume: size and provisioned IOPS."""

    size_gib: Annotated[
        int,
        Field(ge=c.IO1_MIN_SIZE_GIB, le=c.IO1_MAX_SIZE_GIB, description="The volume's size in GiB."),
        Allowed(f"an io1 size from {c.IO1_MIN_SIZE_GIB} to {c.IO1_MAX_SIZE_GIB} GiB"),
    ]
    iops: Annotated[
        int,
        Field(
            ge=c.IO1_MIN_IOPS,
            le=c.IO1_MAX_IOPS_PER_VOLUME,
            description=f"Provisioned IOPS: at most {c.IO1_MAX_IOPS_PER_GIB} per GiB of size_gib.",
        ),
        Allowed(
            f"{c.IO1_MIN_IOPS} to {c.IO1_MAX_IOPS_PER_VOLUME} IOPS "
            f"(io1 allows {c.IO1_MAX_IOPS_PER_GIB} per GiB and {c.IO1_MAX_IOPS_PER_VOLUME} per volume)"
        ),
    ]

    @rule
    def _iops_per_gib(self) -> Iterator[Problem]:
        """`iops` is at most 50 per GiB of `size_gib` (and 64,000)."""
        ceiling = min(c.IO1_MAX_IOPS_PER_VOLUME, self.size_gib * c.IO1_MAX_IOPS_PER_GIB)
        if not c.IO1_MIN_IOPS <= self.iops <= ceiling:
            yield Problem(
                "iops",
                self.iops,
                f"{c.IO1_MIN_IOPS} to {ceiling} IOPS for {self.size_gib} GiB "
                f"(io1 allows {c.IO1_MAX_IOPS_PER_GIB} per GiB and {c.IO1_MAX_IOPS_PER_VOLUME} per volume)",
            )


def ebs_capacity_problem(instance_type: str, volumes: Mapping[str, VolumeSpec], volumes_named: str) -> str | None:
    """Why ``instance_type`` cannot sustain the IOPS ``volumes`` provision, or None;
    ``volumes_named`` names the volumes in the advice."""
    limit = EBS_IOPS_LIMITS.get(instance_type)
    if limit is None:
        supported = ", ".join(sorted(EBS_IOPS_LIMITS))
        return f"an instance type with a known EBS IOPS limit (config/ebs_limits.py): {supported}"
    burst = EBS_PERFORMANCE.get(instance_type, (0, 0))[1]
    total = sum(spec.iops for spec in volumes.values())
    if total > limit:
        return (
            f"{instance_type} sustains at most {limit} EBS IOPS (bursts to {burst} for at most 30 minutes a day) "
            f"but its volumes provision {total} "
            f"(each io1 volume allows at most {c.IO1_MAX_IOPS_PER_VOLUME} IOPS and {c.IO1_MAX_IOPS_PER_GIB} per GiB); "
            f"lower the iops of {volumes_named} or choose a larger type"
        )
    return None


class MirrorSetSettings(SettingsModel):
    """One IRIS failover mirror: two data members and an arbiter."""

    name: Annotated[
        str,
        Matches(
            rf"^[A-Za-z][A-Za-z0-9]{{0,{MAX_MIRROR_NAME - 1}}}$",
            f"a letter then up to {MAX_MIRROR_NAME - 1} letters or digits: upper-cased, it names the IRIS mirror, "
            f"and its members' names add a suffix within IRIS's {c.IRIS_MIRROR_NAME_MAX} characters",
        ),
        Field(
            description="Upper-cased, the IRIS mirror's name; the members' names (HSDB0, HSDB1, HSDBDR) stay within "
            f"IRIS's {c.IRIS_MIRROR_NAME_MAX} characters. Unique among the mirror sets."
        ),
    ]
    instance_type: Annotated[
        InstanceType,
        Field(
            description="The data members' type: one listed in config/ebs_limits.py, of a family in "
            "config/instance_memory.py. The four volumes' IOPS together must not exceed its sustained (baseline) EBS IOPS."
        ),
    ]
    arbiter_instance_type: Annotated[InstanceType, Field(description="The arbiter's EC2 instance type.")]
    database: Annotated[VolumeSpec, Field(description="The databases' io1 volume.")]
    journal1: Annotated[VolumeSpec, Field(description="The primary journal's io1 volume.")]
    journal2: Annotated[VolumeSpec, Field(description="The alternate journal's io1 volume.")]
    wij: Annotated[VolumeSpec, Field(description="The write image journal's io1 volume.")]
    initial_primary: Annotated[
        int,
        Field(ge=0, le=1, description="Which failover member the mirror VIP points at after the first deploy."),
        Allowed("0 or 1 (the first or second failover member)"),
    ] = 0

    @property
    def volumes(self) -> dict[str, VolumeSpec]:
        return {"database": self.database, "journal1": self.journal1, "journal2": self.journal2, "wij": self.wij}

    @rule
    def _instance_sustains_the_volumes(self) -> Iterator[Problem]:
        """The four volumes' IOPS together stay within the instance type's sustained (baseline) EBS IOPS
        (`config/ebs_limits.py`)."""
        problem = ebs_capacity_problem(self.instance_type, self.volumes, "its database/journal1/journal2/wij volumes")
        if problem:
            yield Problem("instance_type", self.instance_type, problem)

    @rule
    def _instance_memory_known(self) -> Iterator[Problem]:
        """`instance_type` is of a family in `config/instance_memory.py` (IRIS's buffers are sized from its memory)."""
        try:
            instance_memory_mib(self.instance_type)
        except KeyError:
            yield Problem("instance_type", self.instance_type, "an instance type of a family in config/instance_memory.py")


class BackupSettings(SettingsModel):
    """Application-consistent EBS snapshots of the IRIS volumes."""

    schedule: Annotated[
        str,
        Matches(r"^cron\(\S+(\s+\S+){5}\)$", "a DLM cron expression with six fields, e.g. cron(0 3 * * ? *)"),
        Field(description="When DLM takes the snapshots: a cron expression with six fields, e.g. cron(0 3 * * ? *)."),
    ]
    retain_count: Annotated[
        int,
        Field(ge=1, le=1000, description="How many snapshots DLM keeps per volume."),
        Allowed("a count from 1 to 1000 snapshots"),
    ]
    copy_region: Annotated[
        Region | None,
        Field(
            description="Without dr only: a region to copy the snapshots to, other than region. "
            "With dr the copies go to the DR region with its key, and this must be none."
        ),
    ] = None
    copy_kms_key_arn: Annotated[str | None, Field(description="The ARN of a KMS key in copy_region for the copies.")] = None
    copy_retain_days: Annotated[Days, Field(description="How long the copies in copy_region are kept.")] = 7

    @rule
    def _copy_key_in_copy_region(self) -> Iterator[Problem]:
        """With `copy_region`, `copy_kms_key_arn` is a KMS key in that region."""
        if self.copy_region is not None and (
            self.copy_kms_key_arn is None or not self.copy_kms_key_arn.startswith(f"arn:aws:kms:{self.copy_region}:")
        ):
            yield Problem("copy_kms_key_arn", self.copy_kms_key_arn, f"the ARN of a KMS key in {self.copy_region}")


# AWS FIS runs an action for at most 12 hours; the drills need far less.
FIS_MAX_MINUTES = 720
Minutes = Annotated[int, Field(ge=1, le=FIS_MAX_MINUTES), Allowed(f"1 to {FIS_MAX_MINUTES} minutes")]


class ExperimentSettings(SettingsModel):
    """AWS FIS experiment templates of each mirror set (docs/runbook-failover.md, "Fault-injection experiments")."""

    enabled: Annotated[bool, Field(description="Build the experiment templates (they cost nothing until started).")] = True
    max_duration_minutes: Annotated[
        Minutes,
        Field(description="The ceiling every experiment duration below must stay under: the longest outage a drill may cause."),
    ] = 60
    stop_primary_minutes: Annotated[
        Minutes, Field(description="stop-primary: how long the primary stays stopped before FIS starts it again.")
    ] = 10
    power_interruption_minutes: Annotated[
        Minutes,
        Field(
            description="az-power: how long one zone's members stay stopped, their volumes paused and its data subnet cut off."
        ),
    ] = 30
    network_minutes: Annotated[
        Minutes, Field(description="network: how long one zone's data subnet is cut off from the other zones' data subnets.")
    ] = 5

    @rule
    def _durations_under_the_ceiling(self) -> Iterator[Problem]:
        """Each experiment duration is at most `max_duration_minutes`."""
        for key in ("stop_primary_minutes", "power_interruption_minutes", "network_minutes"):
            value = getattr(self, key)
            if value > self.max_duration_minutes:
                yield Problem(key, value, f"at most data.experiments.max_duration_minutes ({self.max_duration_minutes} minutes)")


class RestoreDrillSettings(SettingsModel):
    """The IRIS restore drill: the newest snapshot set restored on a scratch instance and checked by ^Integrity."""

    instance_type: Annotated[
        InstanceType, Field(description="The scratch instance's type (a Nitro type: volumes are found by their NVMe serial).")
    ] = "r6i.large"
    schedule: Annotated[
        str | None,
        Matches(r"^cron\(\S+(\s+\S+){5}\)$", "an EventBridge cron expression with six fields, e.g. cron(0 5 1 * ? *)"),
        Field(
            description="When the drill runs by itself (an SSM Automation runbook in the mirror set's stack), "
            "e.g. cron(0 5 1 * ? *) for monthly; none: only when an operator runs it."
        ),
    ] = None
    timeout_minutes: Annotated[
        int,
        Field(ge=10, le=720, description="How long the integrity check may run on the scratch instance."),
        Allowed("10 to 720 minutes"),
    ] = 180


class ContainerImage(SettingsModel):
    """A container image in this account's ECR, pinned by digest (never a tag)."""

    repository: Annotated[
        str,
        Matches(ECR_REPOSITORY, "an ECR repository name such as intersystems/iris"),
        Field(description="The ECR repository's name, e.g. intersystems/irishealth."),
    ]
    digest: Annotated[
        str,
        Matches(DIGEST, "an image digest sha256:<64 hex digits>, never a tag"),
        Field(description="sha256:<64 hex digits>; the shipped digests are placeholders."),
    ]


def iris_name(value: str, pattern: str) -> bool:
    """``value`` matches ``pattern`` and names no IRIS system database or namespace."""
    return re.fullmatch(pattern, value) is not None and value.upper() not in IRIS_SYSTEM_NAMES


# An IRIS namespace name, in data.databases and app.ecp_databases alike.
NamespaceName = Annotated[
    str,
    Check(
        lambda v: iris_name(v, NAMESPACE_NAME),
        "an IRIS namespace name: a letter or %, then up to 63 letters, digits, _ or -, not a system namespace",
    ),
    Field(json_schema_extra={"pattern": NAMESPACE_NAME}),
]


class MirroredDatabaseSettings(SettingsModel):
    """A mirrored database of one mirror set and the namespace that maps to it."""

    name: Annotated[
        str,
        Check(
            lambda v: iris_name(v, DATABASE_NAME),
            "an IRIS database name: a letter or _, then up to 29 letters, digits, _ or -, not a system database",
        ),
        Field(
            description="The IRIS database name, e.g. HSDATA; not a system name (%SYS, USER, IRISSYS, ...); once per set.",
            json_schema_extra={"pattern": DATABASE_NAME},
        ),
    ]
    namespace: Annotated[
        NamespaceName, Field(description="The namespace whose globals and routines live in the database; once per set.")
    ]
    mirror_set: Annotated[str, Field(description="The name of a set in data.mirror_sets.")]


class IrisSettings(SettingsModel):
    """Where IRIS comes from on the members, its licence and its memory."""

    image: Annotated[ContainerImage, Field(description="InterSystems IRIS (or IRIS for Health).")]
    arbiter_image: Annotated[ContainerImage, Field(description="The InterSystems arbiter (ISCAgent only).")]
    web_gateway_image: Annotated[
        ContainerImage, Field(description="The InterSystems Web Gateway (serves the mirror status page).")
    ]
    source: Annotated[
        str,
        OneOf(IRIS_SOURCES, f"one of {', '.join(IRIS_SOURCES)} (the InterSystems images in this account's ECR)"),
        Field(description="container (the only source): the InterSystems images in this account's ECR (docs/data-tier.md)."),
    ] = "container"
    edition: Annotated[
        str, OneOf(IRIS_EDITIONS, f"one of {', '.join(IRIS_EDITIONS)}"), Field(description="licensed or community.")
    ] = "licensed"
    license_key: Annotated[
        str | None,
        Matches(LICENSE, "secretsmanager:<secret name> or s3://<bucket>/<key>"),
        Field(description="Where iris.key lives: secretsmanager:<secret name> or s3://<bucket>/<key>; none for community."),
    ] = None
    memory_ratio: Annotated[
        float,
        Field(
            ge=0.1,
            le=MAX_MEMORY_RATIO,
            description="The share of the instance type's memory (config/instance_memory.py) for the global and "
            "routine buffers; routines get a tenth, at most 4 GiB.",
        ),
        Allowed(f"0.1 to {MAX_MEMORY_RATIO}: the rest of memory is the OS's and IRIS's own"),
    ] = 0.5
    join_timeout_seconds: Annotated[
        int,
        Field(ge=60, le=7200, description="How long a backup or async member waits for the primary before it gives up."),
        Allowed("60 to 7200 seconds"),
    ] = 1800

    @rule
    def _licensed_edition_has_a_key(self) -> Iterator[Problem]:
        """The licensed edition needs `license_key`."""
        if self.edition == "licensed" and self.license_key is None:
            yield Problem(
                "license_key",
                None,
                "secretsmanager:<secret name> or s3://<bucket>/<key> of iris.key: the licensed edition needs one",
            )


def _health_port(port: int) -> bool:
    return port not in (c.IRIS_SUPERSERVER_PORT, c.ISCAGENT_PORT)


class DataTierSettings(SettingsModel):
    """The IRIS data tier: mirror sets, their VIP and backups."""

    ami_ids: Annotated[
        AmiIds,
        Field(
            description="Region -> AMI id of the customer's IRIS golden image, never a floating latest; "
            "must hold region (and dr.region)."
        ),
    ]
    mirror_sets: Annotated[
        tuple[MirrorSetSettings, ...],
        Field(
            description=f"The mirror sets, 1 to {c.MAX_MIRROR_SETS}, names unique.",
            json_schema_extra={"minItems": 1, "maxItems": c.MAX_MIRROR_SETS},
        ),
    ]
    backup: Annotated[BackupSettings, Field(description="Snapshot backups of the IRIS volumes.")]
    iris: Annotated[IrisSettings, Field(description="IRIS on the members.")]
    failover_method: Annotated[
        str,
        OneOf(FAILOVER_METHODS, "polling or api"),
        Field(
            description="polling: the VIP's health check asks the mirror status page; api: ^ZMIRROR calls the retarget function."
        ),
    ] = "polling"
    health_check_port: Annotated[
        Port,
        Check(_health_port, f"a web port other than {c.IRIS_SUPERSERVER_PORT} and {c.ISCAGENT_PORT}"),
        Field(
            description="The member's Web Gateway serves the mirror status page here; not 1972 or 2188, "
            "which IRIS and the ISCAgent use."
        ),
    ] = c.IRIS_WEB_PORT
    health_check_path: Annotated[
        str,
        Matches(r"^/csp/(?!.*\.\.)[A-Za-z0-9_./-]+$", "a path under /csp/, e.g. /csp/bin/mirror_status.cxw"),
        Field(description="The mirror status page: a path under /csp/."),
    ] = "/csp/bin/mirror_status.cxw"
    health_check_interval_seconds: Annotated[
        int, Field(ge=5, le=300, description="The VIP's health check interval."), Allowed("5 to 300 seconds")
    ] = 5
    healthy_threshold: Annotated[
        int, Field(ge=2, le=10, description="Checks in a row before a member counts as healthy."), Allowed("a count from 2 to 10")
    ] = 2
    unhealthy_threshold: Annotated[
        int,
        Field(ge=2, le=10, description="Checks in a row before a member counts as unhealthy."),
        Allowed("a count from 2 to 10"),
    ] = 2
    mirror_qos_timeout_ms: Annotated[
        int,
        Field(ge=2000, le=60000, description="The mirror's QoS timeout: the time to detect a failed primary."),
        Allowed("2000 to 60000 milliseconds"),
    ] = 8000
    mirror_async_compression: Annotated[
        str,
        OneOf(ASYNC_COMPRESSION_TYPES, "zlib, zstd or lz4"),
        Field(
            description="The compression of the journal data the primary sends to async members (the DR members): "
            "zlib, zstd or lz4, always on. Failover members keep IRIS's own choice."
        ),
    ] = "zstd"
    disk_used_alarm_percent: Annotated[
        int,
        Field(
            ge=c.DISK_USED_ALARM_MIN_PERCENT,
            le=c.DISK_USED_ALARM_MAX_PERCENT,
            description="The alarm on each IRIS volume of a member (/iris/db, /iris/jrn1, /iris/jrn2, /iris/wij) "
            "fires at this fill level.",
        ),
        Allowed(f"a percentage from {c.DISK_USED_ALARM_MIN_PERCENT} to {c.DISK_USED_ALARM_MAX_PERCENT}"),
    ] = 80
    root_device_name: Annotated[RootDevice, Field(description="The golden image's root device.")] = "/dev/sda1"
    root_volume_gib: Annotated[RootVolumeGib, Field(description="The size of the members' root volume.")] = 30
    iris_instance: Annotated[
        str,
        Matches(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$", "a letter then up to 31 letters, digits, _ or -"),
        Field(description="The IRIS instance name."),
    ] = "IRIS"
    iris_os_user: Annotated[
        str,
        Matches(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$", "a letter then up to 31 letters, digits, _ or -"),
        Field(description="The OS user the DR member and ECP client scripts run iris as."),
    ] = "irisowner"
    databases: Annotated[
        tuple[MirroredDatabaseSettings, ...],
        Field(description="Mirrored databases, each in one mirror set, with its namespace."),
    ] = ()
    private_zone_name: Annotated[
        DnsName, Field(description="The private DNS zone of the members' names: member0.<set>.<zone>.")
    ] = "data.iris.internal"
    experiments: Annotated[
        ExperimentSettings, Field(description="AWS FIS experiment templates of each mirror set, and their duration ceiling.")
    ] = ExperimentSettings()
    restore_drill: Annotated[
        RestoreDrillSettings, Field(description="The restore drill of each mirror set's newest snapshot set.")
    ] = RestoreDrillSettings()

    def databases_of(self, mirror_set: str) -> tuple[MirroredDatabaseSettings, ...]:
        """The mirrored databases of one mirror set, in settings order."""
        return tuple(d for d in self.databases if d.mirror_set == mirror_set)

    @rule
    def _mirror_set_count(self) -> Iterator[Problem]:
        """1 to `MAX_MIRROR_SETS` (config/constants.py) mirror sets."""
        names = [m.name for m in self.mirror_sets]
        if not names:
            yield Problem("mirror_sets", [], "at least one mirror set")
        elif len(names) > c.MAX_MIRROR_SETS:
            yield Problem(
                "mirror_sets",
                names,
                f"at most {c.MAX_MIRROR_SETS} mirror sets (config/constants.py MAX_MIRROR_SETS), {len(names)} given",
            )

    @rule
    def _mirror_set_names_unique(self) -> Iterator[Problem]:
        """Mirror set names are unique."""
        names = [m.name for m in self.mirror_sets]
        for i, name in enumerate(names):
            if name in names[:i]:
                yield Problem(f"mirror_sets.{i}.name", name, "a name used by no other mirror set")

    @rule
    def _databases_in_known_sets(self) -> Iterator[Problem]:
        """Each database's `mirror_set` is one of `data.mirror_sets`."""
        sets = [m.name for m in self.mirror_sets]
        for n, db in enumerate(self.databases):
            if db.mirror_set not in sets:
                yield Problem(
                    f"databases.{n}.mirror_set", db.mirror_set, f"the name of a mirror set in data.mirror_sets: {', '.join(sets)}"
                )

    @rule
    def _database_names_once_per_set(self) -> Iterator[Problem]:
        """A database name and a namespace appear once per mirror set (case-insensitive)."""
        seen: set[tuple[str, str, str]] = set()
        for n, db in enumerate(self.databases):
            for kind, value in (("name", db.name), ("namespace", db.namespace)):
                if (db.mirror_set, kind, value.upper()) in seen:
                    yield Problem(f"databases.{n}.{kind}", value, f"a {kind} used once in mirror set {db.mirror_set}")
                seen.add((db.mirror_set, kind, value.upper()))
