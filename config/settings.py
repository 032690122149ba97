"""Typed, validated settings built from CDK context.

A profile in ``cdk.json`` (``context.profiles.<name>``) gives every setting;
``-c profile=NAME`` chooses one and ``-c section.key=value`` overrides a single
setting for one run. The result is a tree of frozen dataclasses, validated as a
whole before any construct exists: a bad value raises :class:`SettingsError`
naming the key, the value given and what is allowed.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import ipaddress
import json
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from config import constants as c
from config.ebs_limits import EBS_IOPS_LIMITS, EBS_PERFORMANCE
from config.instance_memory import instance_memory_mib

DEFAULT_PROFILE = "reference"
PROFILE_KEY = "profile"
PROFILES_KEY = "profiles"
PLACEHOLDER_ACCOUNT = "000000000000"

_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\d[a-z0-9-]*\.(nano|micro|small|medium|large|metal|\d*xlarge|metal-\d+xl)$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_AZ = re.compile(r"^(?P<region>[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d)[a-z]$")
_ACCOUNT = re.compile(r"^\d{12}$")
_AMI = re.compile(r"^ami-([0-9a-f]{8}|[0-9a-f]{17})$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,19}$")
_CRON = re.compile(r"^cron\(.+\)$")
_ACM_CERTIFICATE = re.compile(
    r"^arn:aws[a-z-]*:acm:(?P<region>[a-z0-9-]+):\d{12}:certificate/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$"
)
_URL_PATH = re.compile(r"^/[A-Za-z0-9_./%-]*$")
_DNS_NAME = re.compile(r"^(?=.{1,200}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
_DEVICE = re.compile(r"/dev/(sd[a-z]1?|xvd[a-z]|nvme0n1)")


class SettingsError(ValueError):
    """A setting that cannot be used; the message fits on one line."""

    def __init__(self, key: str, value: object, allowed: str) -> None:
        self.key = key
        self.value = value
        self.allowed = allowed
        super().__init__(f"invalid setting {key}={_show(value)}: {allowed}")


def _show(value: object) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


# --------------------------------------------------------------------------
# The settings tree
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class NetworkSettings:
    """The VPC and its connection to an on-premises network."""

    vpc_cidr: str
    nat_gateways: int
    flow_log_retention_days: int
    # Hybrid model: a site-to-site VPN is built when both are set.
    onprem_cidr: str | None = None
    onprem_gateway_ip: str | None = None

    @property
    def vpn_enabled(self) -> bool:
        return self.onprem_cidr is not None and self.onprem_gateway_ip is not None


@dataclass(frozen=True)
class VolumeSpec:
    """One io1 volume: size and provisioned IOPS."""

    size_gib: int
    iops: int


@dataclass(frozen=True)
class MirrorSetSettings:
    """One IRIS failover mirror: two data members and an arbiter."""

    name: str
    instance_type: str
    arbiter_instance_type: str
    database: VolumeSpec
    journal1: VolumeSpec
    journal2: VolumeSpec
    wij: VolumeSpec
    # Which failover member the mirror VIP points at after the first deploy.
    initial_primary: int = 0

    @property
    def volumes(self) -> dict[str, VolumeSpec]:
        return {"database": self.database, "journal1": self.journal1, "journal2": self.journal2, "wij": self.wij}


@dataclass(frozen=True)
class BackupSettings:
    """Application-consistent EBS snapshots of the IRIS volumes."""

    schedule: str  # a DLM cron expression, e.g. cron(0 3 * * ? *)
    retain_count: int
    # Copy to the DR region (set when the DR region exists).
    copy_region: str | None = None
    copy_kms_key_arn: str | None = None
    copy_retain_days: int = 7


@dataclass(frozen=True)
class ContainerImage:
    """A container image in this account's ECR, pinned by digest (never a tag)."""

    repository: str  # the ECR repository's name, e.g. intersystems/iris
    digest: str  # sha256:<64 hex digits>


@dataclass(frozen=True)
class MirroredDatabaseSettings:
    """A mirrored database of one mirror set and the namespace that maps to it."""

    name: str  # the IRIS database name, e.g. HSDATA
    namespace: str  # the namespace whose globals and routines live in it
    mirror_set: str  # the name of a set in data.mirror_sets


@dataclass(frozen=True)
class IrisSettings:
    """Where IRIS comes from on the members, its licence and its memory."""

    image: ContainerImage  # InterSystems IRIS (or IRIS for Health)
    arbiter_image: ContainerImage  # the InterSystems arbiter (ISCAgent only)
    web_gateway_image: ContainerImage  # the InterSystems Web Gateway (serves the mirror status page)
    source: str = "container"
    edition: str = "licensed"  # licensed | community
    # Where iris.key lives: secretsmanager:<secret name> or s3://<bucket>/<key>; none for community.
    license_key: str | None = None
    # The share of the instance's memory given to the global and routine buffers.
    memory_ratio: float = 0.5
    # How long a backup or async member waits for the primary before it gives up.
    join_timeout_seconds: int = 1800


@dataclass(frozen=True)
class DataTierSettings:
    """The IRIS data tier: mirror sets, their VIP and backups."""

    # The customer's golden image per region, never a floating "latest".
    ami_ids: Mapping[str, str]
    mirror_sets: tuple[MirrorSetSettings, ...]
    backup: BackupSettings
    iris: IrisSettings
    failover_method: str = "polling"  # polling | api
    health_check_port: int = c.IRIS_WEB_PORT
    health_check_path: str = "/csp/bin/mirror_status.cxw"
    health_check_interval_seconds: int = 5
    healthy_threshold: int = 2
    unhealthy_threshold: int = 2
    mirror_qos_timeout_ms: int = 8000
    alarm_email: str | None = None
    # The alarm on each IRIS volume of a member (databases, journals, WIJ) fires at this fill level.
    disk_used_alarm_percent: int = 80
    # The golden image's root device and the size of its root volume.
    root_device_name: str = "/dev/sda1"
    root_volume_gib: int = 30
    # The IRIS instance, and the OS user the DR member and ECP client scripts run `iris` as.
    iris_instance: str = "IRIS"
    iris_os_user: str = "irisowner"
    # Mirrored databases, each in one mirror set, with its namespace.
    databases: tuple[MirroredDatabaseSettings, ...] = ()
    # The private DNS zone of the members' names: member0.<set>.<zone>.
    private_zone_name: str = "data.iris.internal"

    def databases_of(self, mirror_set: str) -> tuple[MirroredDatabaseSettings, ...]:
        """The mirrored databases of one mirror set, in settings order."""
        return tuple(d for d in self.databases if d.mirror_set == mirror_set)


@dataclass(frozen=True)
class DnsSettings:
    """Route 53 failover records that send users to the region whose mirror member is primary."""

    zone_name: str  # the public hosted zone, e.g. example.org
    record_name: str = "iris"  # the application's name in the zone: iris.example.org
    # An existing public hosted zone for zone_name; none: the DNS stack creates it.
    hosted_zone_id: str | None = None
    ttl_seconds: int = 60
    # Each health check follows CloudWatch alarms with this period (standard
    # resolution: a multiple of 60) and this many failed periods in a row.
    health_check_period_seconds: int = 60
    failure_threshold: int = 3


@dataclass(frozen=True)
class DrSettings:
    """The DR region: an async DR member per listed mirror set, a reduced web tier, DNS failover."""

    region: str
    availability_zones: tuple[str, ...]
    vpc_cidr: str
    # Mirror sets (by name) that get an async DR member in the DR region.
    mirror_sets: tuple[str, ...]
    dns: DnsSettings
    # The ACM certificate of the DR region's ALB (certificates are regional); required.
    certificate_arn: str | None = None
    nat_gateways: int = 1
    flow_log_retention_days: int = 365
    # A smaller instance type per mirror set for its DR member; default: the set's own.
    instance_types: Mapping[str, str] = field(default_factory=dict)
    web_servers: int = 1
    # How long the DR region keeps the snapshot copies of the data tier.
    snapshot_copy_retain_days: int = 7

    def instance_type(self, mirror_set: MirrorSetSettings) -> str:
        return self.instance_types.get(mirror_set.name, mirror_set.instance_type)


@dataclass(frozen=True)
class FleetSettings:
    """An Auto Scaling group of one kind of server."""

    instance_type: str
    min_capacity: int
    max_capacity: int


@dataclass(frozen=True)
class PrintServerSettings:
    """Print servers: ECP clients of fixed number; none when ``count`` is 0."""

    instance_type: str = "m6i.large"
    count: int = 0


@dataclass(frozen=True)
class ScalingSettings:
    """Target tracking for the web and ECP application servers."""

    cpu_target_percent: int = 60
    # ALBRequestCountPerTarget: requests a web server takes per minute.
    requests_per_target_per_minute: int = 1000
    # Target tracking's cooldown: a new instance's metrics stay out of the
    # group's aggregate this long (EC2 Auto Scaling's default instance warmup).
    warmup_seconds: int = 300


@dataclass(frozen=True)
class AppAlarmSettings:
    """Thresholds of the application tier's alarms."""

    http_5xx_percent: int = 5
    response_time_ms: int = 2000


@dataclass(frozen=True)
class AppTierSettings:
    """The application tier: public ALB, Web Gateway servers, ECP and print servers."""

    # The mirror set the tier serves (one of data.mirror_sets).
    mirror_set: str
    # The customer's golden images per region: web servers (Apache and the
    # Web Gateway) and ECP clients (IRIS), never a floating "latest".
    web_ami_ids: Mapping[str, str]
    ecp_ami_ids: Mapping[str, str]
    web: FleetSettings
    ecp: FleetSettings
    # The ACM certificate of the ALB's HTTPS listener; required.
    certificate_arn: str | None = None
    print_servers: PrintServerSettings = field(default_factory=PrintServerSettings)
    sticky_duration_seconds: int = 3600
    health_check_path: str = "/csp/bin/mirror_status.cxw"
    # URL paths Apache hands to the Web Gateway.
    application_paths: tuple[str, ...] = ("/csp",)
    waf_rate_limit: int = 2000
    log_retention_days: int = 365
    deletion_protection: bool = True
    scaling: ScalingSettings = field(default_factory=ScalingSettings)
    alarms: AppAlarmSettings = field(default_factory=AppAlarmSettings)
    # Private DNS for clients that are not mirror-aware: <mirror set>.<zone>.
    private_zone_name: str = "iris.internal"
    root_device_name: str = "/dev/sda1"
    root_volume_gib: int = 30


@dataclass(frozen=True)
class NodeGroupSettings:
    """One role of EKS managed node groups; there is one group per AZ, so the
    sizes are per AZ."""

    instance_types: tuple[str, ...]
    min_per_az: int
    desired_per_az: int
    max_per_az: int
    capacity_type: str = "ON_DEMAND"  # ON_DEMAND | SPOT
    disk_gib: int = 50


@dataclass(frozen=True)
class MendixDatabaseSettings:
    """RDS PostgreSQL for the Mendix runtime."""

    instance_class: str  # without the db. prefix, e.g. m6g.large
    engine_version: str  # a PostgreSQL major.minor, e.g. 17.7
    allocated_storage_gib: int
    max_allocated_storage_gib: int
    backup_retention_days: int
    # Alarm when free storage falls below this share of the allocated storage.
    free_storage_alarm_percent: int = 10
    max_connections_alarm: int = 400


@dataclass(frozen=True)
class PipelineSettings:
    """Source -> image -> ECR -> canary deployment on EKS."""

    # A CodeConnections (CodeStar Connections) connection, authorized in the console.
    connection_arn: str
    repository: str  # owner/name at the provider
    branch: str = "main"
    canary_replicas: int = 1
    # How long the canary must stay healthy before it is promoted.
    canary_seconds: int = 300
    max_canary_restarts: int = 0


@dataclass(frozen=True)
class MendixBackupSettings:
    """AWS Backup plan for the Mendix database and persistent volumes."""

    daily_retention_days: int
    weekly_retention_days: int
    weekly_cold_storage_after_days: int
    # Monthly restore test of the database and the file bucket (AWS Backup restore testing).
    restore_test_schedule: str = "cron(0 6 ? * 1#1 *)"  # 06:00 UTC on the first Sunday of a month
    # How long the longest restore (the database) is expected to take, measured on a real restore.
    expected_restore_hours: int = 2
    # How long the restored copies are kept for checks before AWS Backup deletes them.
    restore_test_validation_hours: int = 6


@dataclass(frozen=True)
class BudgetSettings:
    """A monthly cost budget with e-mail alerts."""

    monthly_limit_usd: int
    thresholds_percent: tuple[int, ...]
    emails: tuple[str, ...]


@dataclass(frozen=True)
class EksAddonSettings:
    """EKS-managed add-ons, each pinned to a version EKS publishes for the
    cluster's Kubernetes version (``aws eks describe-addon-versions``)."""

    vpc_cni: str
    coredns: str
    kube_proxy: str
    pod_identity_agent: str
    metrics_server: str
    ebs_csi_driver: str
    cloudwatch_observability: str


@dataclass(frozen=True)
class NodePoolSettings:
    """A Karpenter NodePool: which instances it may launch and how much in all."""

    cpu_limit: int  # vCPUs of all the pool's nodes together
    memory_limit_gib: int
    instance_categories: tuple[str, ...] = ("c", "m", "r")
    # The oldest instance generation allowed (6: m6i, c6i, r6i and later).
    min_generation: int = 6
    disk_gib: int = 100


@dataclass(frozen=True)
class KarpenterSettings:
    """Karpenter: the app nodes, launched on demand from an on-demand and an optional Spot pool."""

    chart_version: str
    # The EKS-optimized AL2023 AMI release, pinned (al2023@vYYYYMMDD), never @latest.
    ami_alias: str
    on_demand: NodePoolSettings
    # Spot for workloads that tolerate the non-critical taint; none when unset.
    spot: NodePoolSettings | None = None
    # How long a node must be empty or underused before consolidation replaces it.
    consolidate_after_seconds: int = 60
    # Nodes are replaced after this age, so they pick up new AMIs (Karpenter's expireAfter).
    expire_after_hours: int = 720


@dataclass(frozen=True)
class MendixOperatorSettings:
    """The Mendix Operator, installed by a Job running ``mxpc-cli``."""

    version: str
    # An image holding mxpc-cli of ``version`` and kubectl, mirrored into the account's ECR.
    installer_image: str
    # ACM certificate the apps' NLB (a LoadBalancer Service) serves TLS with.
    certificate_arn: str
    # standalone: no link to the Mendix Portal. connected: the Gateway Agent registers
    # with the Portal using the namespace id and secret held in ``namespace_secret_arn``.
    mode: str = "standalone"
    namespace_secret_arn: str | None = None


@dataclass(frozen=True)
class EksSettings:
    """The Mendix platform on EKS and everything it needs around it."""

    kubernetes_version: str
    system_nodes: NodeGroupSettings
    karpenter: KarpenterSettings
    load_balancer_controller_version: str
    load_balancer_controller_chart_version: str
    addons: EksAddonSettings
    mendix_operator: MendixOperatorSettings
    database: MendixDatabaseSettings
    pipeline: PipelineSettings
    backup: MendixBackupSettings
    budget: BudgetSettings
    alarm_email: str | None = None
    enabled: bool = True
    # Empty: the API endpoint is private only. Otherwise also public, for these CIDRs.
    public_endpoint_cidrs: tuple[str, ...] = ()
    # IAM roles that administer the cluster (kubectl, console), each by an access entry.
    admin_role_arns: tuple[str, ...] = ()
    # What the sample app Service runs until the pipeline deploys the first build.
    sample_app_image: str = "public.ecr.aws/nginx/nginx-unprivileged:1.28"
    log_retention_days: int = 365
    file_storage_infrequent_access_days: int = 30
    file_storage_glacier_days: int = 180
    file_storage_noncurrent_expiry_days: int = 365
    image_untagged_expiry_days: int = 14
    # The account trail; turn off where an organization trail already records the account.
    cloudtrail: bool = True


@dataclass(frozen=True)
class Settings:
    """Everything one deployment needs; built by :func:`load_settings`."""

    profile: str
    prefix: str
    account: str
    region: str
    availability_zones: tuple[str, ...]
    network: NetworkSettings
    data: DataTierSettings
    app: AppTierSettings
    eks: EksSettings
    tags: Mapping[str, str] = field(default_factory=dict)
    # The DR region; none: a single-region deployment.
    dr: DrSettings | None = None

    @property
    def account_is_placeholder(self) -> bool:
        return self.account == PLACEHOLDER_ACCOUNT


# --------------------------------------------------------------------------
# Loading: context -> profile dict (+ overrides) -> dataclasses -> validation
# --------------------------------------------------------------------------


def is_cdk_context_key(key: str) -> bool:
    """Keys that belong to the CDK itself (feature flags, CLI options, lookups)."""
    return key.startswith("@") or ":" in key


def load_settings(context: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Settings:
    """Build and validate :class:`Settings` from the app's context.

    ``context`` is the whole CDK context (cdk.json plus ``-c`` values);
    ``environ`` may give ``CDK_DEFAULT_ACCOUNT``, which replaces the
    placeholder account so the same app deploys for real.
    """
    profiles = context.get(PROFILES_KEY)
    if not isinstance(profiles, Mapping) or not profiles:
        raise SettingsError(PROFILES_KEY, profiles, "cdk.json must define context.profiles as an object of profiles")
    name = context.get(PROFILE_KEY, DEFAULT_PROFILE)
    if name not in profiles:
        raise SettingsError(PROFILE_KEY, name, f"one of {', '.join(sorted(profiles))}")

    raw = copy.deepcopy(dict(profiles[name]))
    for key, value in context.items():
        if key in (PROFILE_KEY, PROFILES_KEY) or is_cdk_context_key(key):
            continue
        _apply_override(raw, key, value)

    env_account = (environ or {}).get("CDK_DEFAULT_ACCOUNT")
    if env_account:
        raw["account"] = env_account
    raw["profile"] = name
    settings = _build(Settings, raw, "")
    validate(settings)
    return settings


def _apply_override(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set ``a.b.c`` in the profile dict; the path must name a real setting."""
    _set_path(raw, Settings, key.split("."), value, key)


def _set_path(target: dict[str, Any], cls: Any, parts: list[str], value: Any, key: str) -> None:
    head, rest = parts[0], parts[1:]
    hints = {name: tp for name, tp in _hints(cls).items() if not (cls is Settings and name == "profile")}
    if head not in hints:
        done = key[: len(key) - len(".".join(parts))]
        candidates = [f"{done}{name}" for name in hints]
        close = difflib.get_close_matches(f"{done}{head}", candidates, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise SettingsError(key, value, f"unknown setting; {hint}known keys here: {', '.join(sorted(candidates))}")
    if not rest:
        target[head] = value
        return
    tp = _strip_optional(hints[head])
    item = _tuple_item(tp)
    if item is not None and dataclasses.is_dataclass(item):
        # data.mirror_sets.0.instance_type: an index into a list of sections
        items = target.setdefault(head, [])
        if not rest[0].isdigit() or int(rest[0]) >= len(items):
            raise SettingsError(key, value, f"{head} takes an index from 0 to {len(items) - 1}")
        if len(rest) == 1:
            items[int(rest[0])] = value
        else:
            _set_path(items[int(rest[0])], item, rest[1:], value, key)
        return
    if typing.get_origin(tp) in (Mapping, dict) or tp is Mapping:
        # data.ami_ids.eu-west-1=ami-...: one entry of a map
        target.setdefault(head, {})[".".join(rest)] = value
        return
    if not dataclasses.is_dataclass(tp):
        raise SettingsError(key, value, f"{head} is a single setting and has no sub-keys")
    _set_path(target.setdefault(head, {}), tp, rest, value, key)


def _hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _strip_optional(tp: Any) -> Any:
    args = typing.get_args(tp)
    if (typing.get_origin(tp) in (typing.Union, types.UnionType)) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0]
    return tp


def _tuple_item(tp: Any) -> Any:
    if typing.get_origin(tp) is tuple:
        return typing.get_args(tp)[0]
    return None


def _build(cls: Any, raw: Any, prefix: str) -> Any:
    """Turn a dict into dataclass ``cls``; unknown and missing keys are errors."""
    if isinstance(raw, str):
        raw = _parse_json(prefix.rstrip("."), raw, "an object")
    if not isinstance(raw, Mapping):
        raise SettingsError(prefix.rstrip(".") or "profile", raw, "an object of settings")
    hints = _hints(cls)
    for key in raw:
        if key not in hints:
            close = difflib.get_close_matches(key, list(hints), n=1)
            hint = f"did you mean {prefix}{close[0]}? " if close else ""
            raise SettingsError(f"{prefix}{key}", raw[key], f"unknown setting; {hint}known keys: {', '.join(sorted(hints))}")
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        if f.name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise SettingsError(key, None, "this setting is required")
            continue
        values[f.name] = _coerce(key, hints[f.name], raw[f.name])
    return cls(**values)


def _coerce(key: str, tp: Any, value: Any) -> Any:
    """Convert a JSON value or a ``-c`` string to the declared type."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("", "none", "null")):
            return None
        return _coerce(key, _strip_optional(tp), value)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, f"{key}.")
    if origin is tuple:
        item = typing.get_args(tp)[0]
        if isinstance(value, str):
            value = (
                _parse_json(key, value, "a JSON list")
                if value.lstrip().startswith("[") or dataclasses.is_dataclass(item)
                else [v.strip() for v in value.split(",") if v.strip()]
            )
        if not isinstance(value, list | tuple):
            raise SettingsError(key, value, "a list")
        return tuple(_coerce(f"{key}.{i}", item, v) for i, v in enumerate(value))
    if origin in (Mapping, dict) or tp is Mapping:
        if isinstance(value, str):
            value = _parse_json(key, value, "a JSON object")
        if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
            raise SettingsError(key, value, "an object of strings")
        return types.MappingProxyType(dict(value))
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise SettingsError(key, value, "true or false")
    if tp is int:
        if isinstance(value, bool):
            raise SettingsError(key, value, "a whole number")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            return int(value)
        raise SettingsError(key, value, "a whole number")
    if tp is float:
        if isinstance(value, bool):
            raise SettingsError(key, value, "a number")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value.strip()):
            return float(value)
        raise SettingsError(key, value, "a number")
    if tp is str:
        if not isinstance(value, str):
            raise SettingsError(key, value, "a string")
        return value
    raise TypeError(f"unsupported setting type {tp!r} for {key}")  # a programming error


def _parse_json(key: str, text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise SettingsError(key, text, f"{what} in JSON") from None


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


def validate(s: Settings) -> None:
    """Check every rule that crosses a single value; raise on the first failure."""
    if not _NAME.match(s.prefix):
        raise SettingsError("prefix", s.prefix, "a letter then up to 19 letters or digits, used in stack names")
    if not _ACCOUNT.match(s.account):
        raise SettingsError("account", s.account, "a 12-digit AWS account id")
    if not _REGION.match(s.region):
        raise SettingsError("region", s.region, "an AWS region name such as eu-west-1")
    _validate_azs(s.region, s.availability_zones)
    _validate_network(s.network, len(s.availability_zones))
    _validate_data(s.data, s.region, s.network)
    _validate_app(s.app, s.region, s.data)
    if s.dr is not None:
        _validate_dr(s.dr, s)
    _validate_eks(s.eks, s.region)
    for key, value in s.tags.items():
        if not 1 <= len(key) <= 128 or len(value) > 256:
            raise SettingsError(f"tags.{key}", value, "tag keys of 1-128 and values of at most 256 characters")
    missing = [key for key in c.COST_ALLOCATION_TAGS if not s.tags.get(key)]
    if missing:
        raise SettingsError(
            "tags",
            dict(s.tags),
            f"the cost allocation tags {', '.join(c.COST_ALLOCATION_TAGS)}, each with a value; missing: {', '.join(missing)}",
        )


def _validate_azs(
    region: str, azs: tuple[str, ...], key: str = "availability_zones", counts: tuple[int, ...] = (c.REQUIRED_AZ_COUNT,)
) -> None:
    if len(azs) not in counts:
        what = " or ".join(str(n) for n in counts)
        why = " (primary, backup and arbiter each get one)" if counts == (c.REQUIRED_AZ_COUNT,) else ""
        raise SettingsError(key, list(azs), f"exactly {what} availability zones{why}")
    if len(set(azs)) != len(azs):
        dupes = sorted({az for az in azs if azs.count(az) > 1})
        raise SettingsError(key, list(azs), f"{len(azs)} distinct availability zones; repeated: {', '.join(dupes)}")
    for az in azs:
        m = _AZ.match(az)
        if not m:
            raise SettingsError(key, list(azs), f"zone names such as {region}a; {az!r} is not one")
        if m.group("region") != region:
            raise SettingsError(key, list(azs), f"zones of region {region} (e.g. {region}a); {az} is in {m.group('region')}")


def _network(key: str, value: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(value, strict=True)
    except ValueError as err:
        raise SettingsError(key, value, f"an IPv4 CIDR block such as 10.0.0.0/16 ({err})") from None


def _validate_vpc(key: str, value: str) -> ipaddress.IPv4Network:
    vpc = _network(key, value)
    if not c.VPC_MIN_PREFIX <= vpc.prefixlen <= c.VPC_MAX_PREFIX:
        raise SettingsError(key, value, f"a prefix from /{c.VPC_MIN_PREFIX} to /{c.VPC_MAX_PREFIX}")
    if not vpc.is_private:
        raise SettingsError(key, value, "a private (RFC 1918) range")
    return vpc


def _validate_nat(key: str, value: int, az_count: int) -> None:
    if not 1 <= value <= az_count:
        raise SettingsError(key, value, f"a count from 1 to {az_count} (one per AZ at most)")


def _validate_network(n: NetworkSettings, az_count: int) -> None:
    vpc = _validate_vpc("network.vpc_cidr", n.vpc_cidr)
    _validate_nat("network.nat_gateways", n.nat_gateways, az_count)
    _validate_retention("network.flow_log_retention_days", n.flow_log_retention_days)
    if (n.onprem_cidr is None) != (n.onprem_gateway_ip is None):
        missing = "network.onprem_gateway_ip" if n.onprem_gateway_ip is None else "network.onprem_cidr"
        raise SettingsError(missing, None, "set both network.onprem_cidr and network.onprem_gateway_ip for the VPN, or neither")
    if n.onprem_cidr is not None:
        onprem = _network("network.onprem_cidr", n.onprem_cidr)
        if onprem.overlaps(vpc):
            raise SettingsError(
                "network.onprem_cidr", n.onprem_cidr, f"a range that does not overlap network.vpc_cidr {n.vpc_cidr}"
            )
    if n.onprem_gateway_ip is not None:
        try:
            ip = ipaddress.IPv4Address(n.onprem_gateway_ip)
        except ValueError:
            raise SettingsError("network.onprem_gateway_ip", n.onprem_gateway_ip, "an IPv4 address") from None
        if not (ip.is_global or any(ip in net for net in DOCUMENTATION_NETS)):
            raise SettingsError(
                "network.onprem_gateway_ip", n.onprem_gateway_ip, "the public IPv4 address of the customer gateway"
            )


# RFC 5737 ranges: the shipped placeholder gateway address lives in one of them.
DOCUMENTATION_NETS = tuple(ipaddress.IPv4Network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))


def _validate_retention(key: str, days: int) -> None:
    if days not in c.LOG_RETENTION_DAYS:
        allowed = ", ".join(str(d) for d in c.LOG_RETENTION_DAYS)
        raise SettingsError(key, days, f"one of the CloudWatch Logs retention periods in days: {allowed}")


def validate_instance_type(key: str, value: str) -> None:
    if not _INSTANCE_TYPE.match(value):
        raise SettingsError(key, value, "an EC2 instance type such as r6i.2xlarge (family.size)")


def _validate_data(d: DataTierSettings, region: str, n: NetworkSettings) -> None:
    _validate_ami_ids("data.ami_ids", d.ami_ids, region)
    if d.failover_method not in ("polling", "api"):
        raise SettingsError("data.failover_method", d.failover_method, "polling or api")
    if not 1 <= d.health_check_port <= 65535:
        raise SettingsError("data.health_check_port", d.health_check_port, "a TCP port from 1 to 65535")
    if d.health_check_port in (c.IRIS_SUPERSERVER_PORT, c.ISCAGENT_PORT):
        raise SettingsError(
            "data.health_check_port",
            d.health_check_port,
            f"a web port other than {c.IRIS_SUPERSERVER_PORT} and {c.ISCAGENT_PORT}",
        )
    if not re.fullmatch(r"/csp/[A-Za-z0-9_./-]+", d.health_check_path) or ".." in d.health_check_path:
        raise SettingsError("data.health_check_path", d.health_check_path, "a path under /csp/, e.g. /csp/bin/mirror_status.cxw")
    if not 5 <= d.health_check_interval_seconds <= 300:
        raise SettingsError("data.health_check_interval_seconds", d.health_check_interval_seconds, "5 to 300 seconds")
    for key in ("healthy_threshold", "unhealthy_threshold"):
        value = getattr(d, key)
        if not 2 <= value <= 10:
            raise SettingsError(f"data.{key}", value, "a count from 2 to 10")
    if not 2000 <= d.mirror_qos_timeout_ms <= 60000:
        raise SettingsError("data.mirror_qos_timeout_ms", d.mirror_qos_timeout_ms, "2000 to 60000 milliseconds")
    if d.alarm_email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", d.alarm_email):
        raise SettingsError("data.alarm_email", d.alarm_email, "an e-mail address")
    if not c.DISK_USED_ALARM_MIN_PERCENT <= d.disk_used_alarm_percent <= c.DISK_USED_ALARM_MAX_PERCENT:
        raise SettingsError(
            "data.disk_used_alarm_percent",
            d.disk_used_alarm_percent,
            f"a percentage from {c.DISK_USED_ALARM_MIN_PERCENT} to {c.DISK_USED_ALARM_MAX_PERCENT}",
        )
    _validate_root_volume("data", d.root_device_name, d.root_volume_gib)
    for key in ("iris_instance", "iris_os_user"):
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,31}", getattr(d, key)):
            raise SettingsError(f"data.{key}", getattr(d, key), "a letter then up to 31 letters, digits, _ or -")
    if not d.mirror_sets:
        raise SettingsError("data.mirror_sets", [], "at least one mirror set")
    names = [m.name for m in d.mirror_sets]
    for i, m in enumerate(d.mirror_sets):
        _validate_mirror_set(f"data.mirror_sets.{i}", m)
        if names.count(m.name) > 1:
            raise SettingsError(f"data.mirror_sets.{i}.name", m.name, "a name used by no other mirror set")
    _validate_backup(d.backup, region)
    if not _DNS_NAME.match(d.private_zone_name):
        raise SettingsError("data.private_zone_name", d.private_zone_name, "a lower-case DNS name such as data.iris.internal")
    _validate_iris(d)


IRIS_SOURCES = ("container",)
IRIS_EDITIONS = ("licensed", "community")
MAX_MIRROR_NAME = c.IRIS_MIRROR_NAME_MAX - 3  # room for the members' suffixes: 0, 1, DR, ARB
MAX_MEMORY_RATIO = 0.9
_ECR_REPOSITORY = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_LICENSE = re.compile(r"^(secretsmanager:[A-Za-z0-9/_+=.@-]{1,512}|s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\S+)$")
# IRIS names: a database starts with a letter or _, then letters, digits, _ or -, up to 30 characters; a
# namespace starts with a letter or %, up to 64 characters. The system's own names are taken.
_DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,29}$")
_NAMESPACE_NAME = re.compile(r"^[A-Za-z%][A-Za-z0-9_-]{0,63}$")
IRIS_SYSTEM_NAMES = ("%SYS", "%ALL", "USER", "IRISSYS", "IRISLIB", "IRISTEMP", "IRISLOCALDATA", "IRISAUDIT", "ENSLIB", "HSLIB")


def _validate_iris(d: DataTierSettings) -> None:
    """Where IRIS comes from, its licence and memory, and the mirrored databases."""
    i = d.iris
    if i.source not in IRIS_SOURCES:
        raise SettingsError(
            "data.iris.source", i.source, f"one of {', '.join(IRIS_SOURCES)} (the InterSystems images in this account's ECR)"
        )
    for name in ("image", "arbiter_image", "web_gateway_image"):
        image: ContainerImage = getattr(i, name)
        if not _ECR_REPOSITORY.match(image.repository):
            raise SettingsError(
                f"data.iris.{name}.repository", image.repository, "an ECR repository name such as intersystems/iris"
            )
        if not _DIGEST.match(image.digest):
            raise SettingsError(f"data.iris.{name}.digest", image.digest, "an image digest sha256:<64 hex digits>, never a tag")
    if i.edition not in IRIS_EDITIONS:
        raise SettingsError("data.iris.edition", i.edition, f"one of {', '.join(IRIS_EDITIONS)}")
    if i.edition == "licensed" and i.license_key is None:
        raise SettingsError(
            "data.iris.license_key",
            None,
            "secretsmanager:<secret name> or s3://<bucket>/<key> of iris.key: the licensed edition needs one",
        )
    if i.license_key is not None and not _LICENSE.match(i.license_key):
        raise SettingsError("data.iris.license_key", i.license_key, "secretsmanager:<secret name> or s3://<bucket>/<key>")
    if not 0.1 <= i.memory_ratio <= MAX_MEMORY_RATIO:
        raise SettingsError(
            "data.iris.memory_ratio", i.memory_ratio, f"0.1 to {MAX_MEMORY_RATIO}: the rest of memory is the OS's and IRIS's own"
        )
    if not 60 <= i.join_timeout_seconds <= 7200:
        raise SettingsError("data.iris.join_timeout_seconds", i.join_timeout_seconds, "60 to 7200 seconds")
    for m_index, m in enumerate(d.mirror_sets):
        try:
            instance_memory_mib(m.instance_type)
        except KeyError:
            raise SettingsError(
                f"data.mirror_sets.{m_index}.instance_type",
                m.instance_type,
                "an instance type of a family in config/instance_memory.py",
            ) from None
    sets = [m.name for m in d.mirror_sets]
    seen: set[tuple[str, str]] = set()
    for n, db in enumerate(d.databases):
        key = f"data.databases.{n}"
        if db.mirror_set not in sets:
            raise SettingsError(
                f"{key}.mirror_set", db.mirror_set, f"the name of a mirror set in data.mirror_sets: {', '.join(sets)}"
            )
        if not _DATABASE_NAME.match(db.name) or db.name.upper() in IRIS_SYSTEM_NAMES:
            raise SettingsError(
                f"{key}.name",
                db.name,
                "an IRIS database name: a letter or _, then up to 29 letters, digits, _ or -, not a system database",
            )
        if not _NAMESPACE_NAME.match(db.namespace) or db.namespace.upper() in IRIS_SYSTEM_NAMES:
            raise SettingsError(
                f"{key}.namespace",
                db.namespace,
                "an IRIS namespace name: a letter or %, then up to 63 letters, digits, _ or -, not a system namespace",
            )
        for kind, value in (("name", db.name.upper()), ("namespace", db.namespace.upper())):
            if (db.mirror_set, kind + value) in seen:
                raise SettingsError(f"{key}.{kind}", getattr(db, kind), f"a {kind} used once in mirror set {db.mirror_set}")
            seen.add((db.mirror_set, kind + value))


def _validate_mirror_set(key: str, m: MirrorSetSettings) -> None:
    if not _NAME.match(m.name) or len(m.name) > MAX_MIRROR_NAME:
        raise SettingsError(
            f"{key}.name",
            m.name,
            f"a letter then up to {MAX_MIRROR_NAME - 1} letters or digits: upper-cased, it names the IRIS mirror, "
            f"and its members' names add a suffix within IRIS's {c.IRIS_MIRROR_NAME_MAX} characters",
        )
    validate_instance_type(f"{key}.instance_type", m.instance_type)
    validate_instance_type(f"{key}.arbiter_instance_type", m.arbiter_instance_type)
    if m.initial_primary not in (0, 1):
        raise SettingsError(f"{key}.initial_primary", m.initial_primary, "0 or 1 (the first or second failover member)")
    for role, spec in m.volumes.items():
        validate_io1(f"{key}.{role}", spec)
    validate_ebs_capacity(f"{key}.instance_type", m.instance_type, m, key)


def validate_ebs_capacity(key: str, instance_type: str, m: MirrorSetSettings, volumes_key: str) -> None:
    """The instance type can sustain the IOPS that the set's volumes provision."""
    limit = EBS_IOPS_LIMITS.get(instance_type)
    burst = EBS_PERFORMANCE.get(instance_type, (0, 0))[1]
    if limit is None:
        supported = ", ".join(sorted(EBS_IOPS_LIMITS))
        raise SettingsError(
            key, instance_type, f"an instance type with a known EBS IOPS limit (config/ebs_limits.py): {supported}"
        )
    total = sum(spec.iops for spec in m.volumes.values())
    if total > limit:
        raise SettingsError(
            key,
            instance_type,
            f"{instance_type} sustains at most {limit} EBS IOPS (bursts to {burst} for at most 30 minutes a day) "
            f"but its volumes provision {total} "
            f"(each io1 volume allows at most {c.IO1_MAX_IOPS_PER_VOLUME} IOPS and {c.IO1_MAX_IOPS_PER_GIB} per GiB); "
            f"lower the iops of {volumes_key}.database/journal1/journal2/wij or choose a larger type",
        )


def _validate_ami_ids(key: str, ami_ids: Mapping[str, str], region: str) -> None:
    if ami_ids.get(region) is None:
        raise SettingsError(key, dict(ami_ids), f"an AMI id for region {region}")
    for ami_region, ami_id in ami_ids.items():
        if not _AMI.match(ami_id):
            raise SettingsError(f"{key}.{ami_region}", ami_id, "an AMI id such as ami-0123456789abcdef0")


def _validate_root_volume(section: str, device: str, size_gib: int) -> None:
    if not _DEVICE.fullmatch(device):
        raise SettingsError(f"{section}.root_device_name", device, "the AMI's root device, e.g. /dev/sda1 or /dev/xvda")
    if not 8 <= size_gib <= 1024:
        raise SettingsError(f"{section}.root_volume_gib", size_gib, "8 to 1024 GiB")


def validate_io1(key: str, spec: VolumeSpec) -> None:
    """io1 size 4-16384 GiB; IOPS 100-64,000 and at most 50 per GiB."""
    if not c.IO1_MIN_SIZE_GIB <= spec.size_gib <= c.IO1_MAX_SIZE_GIB:
        raise SettingsError(
            f"{key}.size_gib", spec.size_gib, f"an io1 size from {c.IO1_MIN_SIZE_GIB} to {c.IO1_MAX_SIZE_GIB} GiB"
        )
    ceiling = min(c.IO1_MAX_IOPS_PER_VOLUME, spec.size_gib * c.IO1_MAX_IOPS_PER_GIB)
    if not c.IO1_MIN_IOPS <= spec.iops <= ceiling:
        raise SettingsError(
            f"{key}.iops",
            spec.iops,
            f"{c.IO1_MIN_IOPS} to {ceiling} IOPS for {spec.size_gib} GiB "
            f"(io1 allows {c.IO1_MAX_IOPS_PER_GIB} per GiB and {c.IO1_MAX_IOPS_PER_VOLUME} per volume)",
        )


def _validate_backup(b: BackupSettings, region: str) -> None:
    if not _CRON.match(b.schedule) or len(b.schedule.split()) != 6:
        raise SettingsError("data.backup.schedule", b.schedule, "a DLM cron expression with six fields, e.g. cron(0 3 * * ? *)")
    if not 1 <= b.retain_count <= 1000:
        raise SettingsError("data.backup.retain_count", b.retain_count, "a count from 1 to 1000 snapshots")
    if not 1 <= b.copy_retain_days <= 3650:
        raise SettingsError("data.backup.copy_retain_days", b.copy_retain_days, "1 to 3650 days")
    if b.copy_region is not None:
        if not _REGION.match(b.copy_region) or b.copy_region == region:
            raise SettingsError("data.backup.copy_region", b.copy_region, f"another AWS region than {region}")
        if b.copy_kms_key_arn is None or not b.copy_kms_key_arn.startswith(f"arn:aws:kms:{b.copy_region}:"):
            raise SettingsError("data.backup.copy_kms_key_arn", b.copy_kms_key_arn, f"the ARN of a KMS key in {b.copy_region}")


_DNS_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_HOSTED_ZONE_ID = re.compile(r"^Z[A-Z0-9]{1,31}$")
DR_AZ_COUNTS = (2, 3)
MAX_DR_WEB_SERVERS = 20


def _validate_dr(dr: DrSettings, s: Settings) -> None:
    """The DR region: its own zones and a block that overlaps nothing it must route to."""
    if not _REGION.match(dr.region) or dr.region == s.region:
        raise SettingsError("dr.region", dr.region, f"an AWS region name other than the primary region {s.region}")
    _validate_azs(dr.region, dr.availability_zones, "dr.availability_zones", DR_AZ_COUNTS)
    vpc = _validate_vpc("dr.vpc_cidr", dr.vpc_cidr)
    others = {"network.vpc_cidr": s.network.vpc_cidr}
    if s.network.onprem_cidr is not None:
        others["network.onprem_cidr"] = s.network.onprem_cidr
    for other_key, other in others.items():
        if vpc.overlaps(ipaddress.IPv4Network(other)):
            raise SettingsError("dr.vpc_cidr", dr.vpc_cidr, f"a range that does not overlap {other_key} {other}")
    _validate_nat("dr.nat_gateways", dr.nat_gateways, len(dr.availability_zones))
    _validate_retention("dr.flow_log_retention_days", dr.flow_log_retention_days)
    if dr.region not in s.data.ami_ids:
        raise SettingsError("data.ami_ids", dict(s.data.ami_ids), f"an AMI id for the DR region {dr.region} too")
    sets = {m.name: m for m in s.data.mirror_sets}
    if not dr.mirror_sets:
        raise SettingsError("dr.mirror_sets", [], f"at least one of the mirror sets {', '.join(sets)}")
    for i, name in enumerate(dr.mirror_sets):
        if name not in sets:
            raise SettingsError(f"dr.mirror_sets.{i}", name, f"the name of a mirror set in data.mirror_sets: {', '.join(sets)}")
        if name in dr.mirror_sets[:i]:
            raise SettingsError(f"dr.mirror_sets.{i}", name, "a mirror set listed once")
    for name, instance_type in dr.instance_types.items():
        key = f"dr.instance_types.{name}"
        if name not in dr.mirror_sets:
            raise SettingsError(
                key, instance_type, f"a type for a mirror set listed in dr.mirror_sets: {', '.join(dr.mirror_sets)}"
            )
        validate_instance_type(key, instance_type)
        index = list(sets).index(name)
        validate_ebs_capacity(key, instance_type, sets[name], f"data.mirror_sets.{index}")
    if not 1 <= dr.web_servers <= MAX_DR_WEB_SERVERS:
        raise SettingsError("dr.web_servers", dr.web_servers, f"a count from 1 to {MAX_DR_WEB_SERVERS}")
    if not 1 <= dr.snapshot_copy_retain_days <= 3650:
        raise SettingsError("dr.snapshot_copy_retain_days", dr.snapshot_copy_retain_days, "1 to 3650 days")
    # The DR region's reduced web tier: the app tier's web servers, in the DR region.
    _validate_certificate("dr.certificate_arn", dr.certificate_arn, dr.region)
    if dr.region not in s.app.web_ami_ids:
        raise SettingsError("app.web_ami_ids", dict(s.app.web_ami_ids), f"an AMI id for the DR region {dr.region} too")
    if s.app.mirror_set not in dr.mirror_sets:
        raise SettingsError(
            "dr.mirror_sets",
            list(dr.mirror_sets),
            f"a list that holds app.mirror_set {s.app.mirror_set}: the application's DNS name follows its primary",
        )
    if s.data.backup.copy_region is not None:
        raise SettingsError(
            "data.backup.copy_region",
            s.data.backup.copy_region,
            f"none while dr is set: the snapshots are copied to the DR region {dr.region}, with its key",
        )
    _validate_dns(dr.dns)


def _validate_dns(d: DnsSettings) -> None:
    if not _DNS_NAME.match(d.zone_name):
        raise SettingsError("dr.dns.zone_name", d.zone_name, "a lower-case DNS domain name such as example.org")
    if not _DNS_LABEL.match(d.record_name):
        raise SettingsError("dr.dns.record_name", d.record_name, "one lower-case DNS label such as iris")
    if d.hosted_zone_id is not None and not _HOSTED_ZONE_ID.match(d.hosted_zone_id):
        raise SettingsError(
            "dr.dns.hosted_zone_id", d.hosted_zone_id, "a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ, or none"
        )
    if not 0 <= d.ttl_seconds <= 86400:
        raise SettingsError("dr.dns.ttl_seconds", d.ttl_seconds, "0 to 86400 seconds")
    period = d.health_check_period_seconds
    if period < 60 or period % 60 or period > 3600:
        raise SettingsError(
            "dr.dns.health_check_period_seconds",
            period,
            "a multiple of 60 from 60 to 3600: Route 53 follows only standard-resolution CloudWatch alarms",
        )
    if not 1 <= d.failure_threshold <= 10:
        raise SettingsError("dr.dns.failure_threshold", d.failure_threshold, "a count from 1 to 10")


def _validate_app(a: AppTierSettings, region: str, d: DataTierSettings) -> None:
    names = [m.name for m in d.mirror_sets]
    if a.mirror_set not in names:
        raise SettingsError("app.mirror_set", a.mirror_set, f"the name of one of data.mirror_sets: {', '.join(names)}")
    _validate_certificate("app.certificate_arn", a.certificate_arn, region)
    _validate_ami_ids("app.web_ami_ids", a.web_ami_ids, region)
    _validate_ami_ids("app.ecp_ami_ids", a.ecp_ami_ids, region)
    for name in ("web", "ecp"):
        _validate_fleet(f"app.{name}", getattr(a, name))
    validate_instance_type("app.print_servers.instance_type", a.print_servers.instance_type)
    if not 0 <= a.print_servers.count <= MAX_FLEET_SIZE:
        raise SettingsError("app.print_servers.count", a.print_servers.count, f"0 (no print servers) to {MAX_FLEET_SIZE}")
    if not c.ALB_STICKINESS_MIN_SECONDS <= a.sticky_duration_seconds <= c.ALB_STICKINESS_MAX_SECONDS:
        raise SettingsError(
            "app.sticky_duration_seconds",
            a.sticky_duration_seconds,
            f"{c.ALB_STICKINESS_MIN_SECONDS} to {c.ALB_STICKINESS_MAX_SECONDS} seconds (the ALB's cookie lasts at most 7 days)",
        )
    _validate_paths(a)
    if not c.WAF_RATE_LIMIT_MIN <= a.waf_rate_limit <= c.WAF_RATE_LIMIT_MAX:
        raise SettingsError(
            "app.waf_rate_limit",
            a.waf_rate_limit,
            f"{c.WAF_RATE_LIMIT_MIN} to {c.WAF_RATE_LIMIT_MAX} requests per client address in 5 minutes",
        )
    _validate_retention("app.log_retention_days", a.log_retention_days)
    sc = a.scaling
    if not 10 <= sc.cpu_target_percent <= 90:
        raise SettingsError("app.scaling.cpu_target_percent", sc.cpu_target_percent, "10 to 90 percent")
    if not 1 <= sc.requests_per_target_per_minute <= 1_000_000:
        raise SettingsError(
            "app.scaling.requests_per_target_per_minute", sc.requests_per_target_per_minute, "1 to 1000000 requests a minute"
        )
    if not 0 <= sc.warmup_seconds <= 3600:
        raise SettingsError("app.scaling.warmup_seconds", sc.warmup_seconds, "0 to 3600 seconds")
    if not 1 <= a.alarms.http_5xx_percent <= 100:
        raise SettingsError("app.alarms.http_5xx_percent", a.alarms.http_5xx_percent, "1 to 100 percent of requests")
    if not 10 <= a.alarms.response_time_ms <= 60000:
        raise SettingsError("app.alarms.response_time_ms", a.alarms.response_time_ms, "10 to 60000 milliseconds")
    if not _DNS_NAME.match(a.private_zone_name) or a.private_zone_name.endswith(("amazonaws.com", "aws")):
        raise SettingsError(
            "app.private_zone_name", a.private_zone_name, "a lower-case DNS domain of your own, e.g. iris.internal"
        )
    _validate_root_volume("app", a.root_device_name, a.root_volume_gib)


MAX_FLEET_SIZE = 100


def _validate_certificate(key: str, arn: str | None, region: str) -> None:
    wanted = f"the ARN of an ACM certificate in {region} (arn:aws:acm:{region}:<account>:certificate/<id>)"
    if not arn:
        raise SettingsError(key, arn, f"required: the ALB serves HTTPS only; give {wanted}")
    m = _ACM_CERTIFICATE.match(arn)
    if not m:
        raise SettingsError(key, arn, wanted)
    if m.group("region") != region:
        raise SettingsError(key, arn, f"{wanted}: an ALB can use certificates of its own region only")


def _validate_fleet(key: str, f: FleetSettings) -> None:
    validate_instance_type(f"{key}.instance_type", f.instance_type)
    if not 1 <= f.min_capacity <= MAX_FLEET_SIZE:
        raise SettingsError(f"{key}.min_capacity", f.min_capacity, f"1 to {MAX_FLEET_SIZE} servers")
    if not f.min_capacity <= f.max_capacity <= MAX_FLEET_SIZE:
        raise SettingsError(
            f"{key}.max_capacity", f.max_capacity, f"{key}.min_capacity ({f.min_capacity}) to {MAX_FLEET_SIZE} servers"
        )


def _validate_paths(a: AppTierSettings) -> None:
    if not a.application_paths:
        raise SettingsError("app.application_paths", [], "at least one URL path, e.g. /csp")
    for i, path in enumerate(a.application_paths):
        if not _URL_PATH.match(path) or ".." in path or (len(path) > 1 and path.endswith("/")):
            raise SettingsError(f"app.application_paths.{i}", path, "a URL path such as /csp, without a trailing slash")
        if a.application_paths.count(path) > 1:
            raise SettingsError(f"app.application_paths.{i}", path, "a path listed once")
    path = a.health_check_path
    if not _URL_PATH.match(path) or ".." in path or len(path) > 1024:
        raise SettingsError(
            "app.health_check_path", path, "a URL path of at most 1024 characters, e.g. /csp/bin/mirror_status.cxw"
        )
    if not any(path == p or path.startswith(p.rstrip("/") + "/") for p in a.application_paths):
        raise SettingsError(
            "app.health_check_path",
            path,
            f"a path under one of app.application_paths ({', '.join(a.application_paths)}): the Web Gateway answers nothing else",
        )


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_KUBERNETES_VERSION = re.compile(r"^1\.\d{2}$")
_SEMVER = re.compile(r"^v?\d+\.\d+\.\d+$")
_CONNECTION_ARN = re.compile(
    r"^arn:aws[a-z-]*:(codestar-connections|codeconnections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]{36}$"
)
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_BRANCH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")
_DB_INSTANCE_CLASS = re.compile(r"^[a-z][a-z0-9-]*\d[a-z0-9-]*\.(micro|small|medium|large|\d*xlarge)$")
_POSTGRES_VERSION = re.compile(r"^(?P<major>\d{2})\.\d+$")


# Mendix's "Supported Providers" page (docs.mendix.com/developerportal/deploy/
# private-cloud-supported-environments/#supported-versions): Operator v2 supports
# Kubernetes 1.19 through 1.34, as of the release notes of Operator v2.24.2
# (15 December 2025). Kubernetes minors below 1.19 are absent on EKS anyway.
MENDIX_MAX_KUBERNETES_MINOR = 34
MENDIX_MIN_KUBERNETES_MINOR = 19
# Operator releases this repository's install Job and plans were written against
# (Mendix's release notes); the IRSA plans need 2.12 or later.
MENDIX_OPERATOR_VERSIONS = ("2.24.2",)
MENDIX_OPERATOR_MODES = ("standalone", "connected")
_ADDON_VERSION = re.compile(r"^v\d+\.\d+\.\d+-eksbuild\.\d+$")
# CoreDNS minor series EKS ships per Kubernetes minor (the EKS user guide's
# "Manage CoreDNS" table); a Kubernetes version missing here has no CoreDNS pin yet.
COREDNS_SERIES = {"1.34": "1.12"}
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:(?P<region>[a-z0-9-]+):\d{12}:secret:[A-Za-z0-9/_+=.@-]+$")
_ECR_IMAGE = re.compile(
    r"^\d{12}\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?/[a-z0-9._/-]+(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64})$"
)


def _validate_kubernetes_version(version: str) -> None:
    key = "eks.kubernetes_version"
    if not _KUBERNETES_VERSION.match(version):
        raise SettingsError(key, version, "a Kubernetes minor version such as 1.34")
    if not MENDIX_MIN_KUBERNETES_MINOR <= int(version.split(".")[1]) <= MENDIX_MAX_KUBERNETES_MINOR:
        raise SettingsError(
            key,
            version,
            f"a Kubernetes version the Mendix Operator supports, 1.{MENDIX_MIN_KUBERNETES_MINOR} to "
            f"1.{MENDIX_MAX_KUBERNETES_MINOR} (Mendix's Supported Providers page)",
        )
    if version not in c.KUBECTL_LAYERS:
        raise SettingsError(
            key,
            version,
            f"a Kubernetes version whose kubectl layer is pinned in requirements.txt: {', '.join(sorted(c.KUBECTL_LAYERS))}",
        )


def _validate_addons(a: EksAddonSettings, kubernetes_version: str) -> None:
    for name in (
        "vpc_cni",
        "coredns",
        "kube_proxy",
        "pod_identity_agent",
        "metrics_server",
        "ebs_csi_driver",
        "cloudwatch_observability",
    ):
        value = getattr(a, name)
        if not _ADDON_VERSION.match(value):
            raise SettingsError(f"eks.addons.{name}", value, "an EKS add-on version such as v1.2.3-eksbuild.1, never latest")
    if not a.kube_proxy.startswith(f"v{kubernetes_version}."):
        raise SettingsError(
            "eks.addons.kube_proxy",
            a.kube_proxy,
            f"a kube-proxy of the cluster's minor version, v{kubernetes_version}.N-eksbuild.N (it must match Kubernetes)",
        )
    series = COREDNS_SERIES.get(kubernetes_version)
    if series is None or not a.coredns.startswith(f"v{series}."):
        allowed = f"v{series}.N-eksbuild.N" if series else "a Kubernetes version with a known CoreDNS series"
        raise SettingsError(
            "eks.addons.coredns", a.coredns, f"the CoreDNS series EKS ships for Kubernetes {kubernetes_version}: {allowed}"
        )


def _validate_mendix_operator(o: MendixOperatorSettings, region: str) -> None:
    if o.version not in MENDIX_OPERATOR_VERSIONS:
        raise SettingsError(
            "eks.mendix_operator.version",
            o.version,
            f"a Mendix Operator release this stack supports: {', '.join(MENDIX_OPERATOR_VERSIONS)}",
        )
    image = _ECR_IMAGE.match(o.installer_image)
    if image is None or o.installer_image.endswith(":latest"):
        raise SettingsError(
            "eks.mendix_operator.installer_image",
            o.installer_image,
            "an ECR image (ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME) with a pinned tag or digest, not latest",
        )
    if image.group("region") != region:
        raise SettingsError("eks.mendix_operator.installer_image", o.installer_image, f"an image in this region's ECR ({region})")
    certificate = _ACM_CERTIFICATE.match(o.certificate_arn)
    if certificate is None or certificate.group("region") != region:
        raise SettingsError(
            "eks.mendix_operator.certificate_arn",
            o.certificate_arn,
            f"the ARN of an ACM certificate in {region} for the apps' NLB (arn:aws:acm:{region}:<account>:certificate/<id>)",
        )
    if o.mode not in MENDIX_OPERATOR_MODES:
        raise SettingsError("eks.mendix_operator.mode", o.mode, " or ".join(MENDIX_OPERATOR_MODES))
    if o.mode == "connected":
        arn = o.namespace_secret_arn
        match = _SECRET_ARN.match(arn or "")
        if match is None or match.group("region") != region:
            raise SettingsError(
                "eks.mendix_operator.namespace_secret_arn",
                arn,
                f"in connected mode, the ARN of a Secrets Manager secret in {region} holding the namespace's id and secret",
            )
    elif o.namespace_secret_arn is not None:
        raise SettingsError(
            "eks.mendix_operator.namespace_secret_arn", o.namespace_secret_arn, "unset in standalone mode (no Portal link)"
        )


def _validate_eks(e: EksSettings, region: str) -> None:
    _validate_kubernetes_version(e.kubernetes_version)
    _validate_addons(e.addons, e.kubernetes_version)
    _validate_mendix_operator(e.mendix_operator, region)
    _validate_karpenter(e.karpenter)
    for key in ("load_balancer_controller_chart_version",):
        value = getattr(e, key)
        if not _SEMVER.match(value) or value.startswith("v"):
            raise SettingsError(f"eks.{key}", value, "a pinned chart version such as 1.2.3, never a range or latest")
    if not re.fullmatch(r"v\d+\.\d+\.\d+", e.load_balancer_controller_version):
        raise SettingsError(
            "eks.load_balancer_controller_version", e.load_balancer_controller_version, "a controller release such as v2.17.1"
        )
    if e.load_balancer_controller_version != c.LOAD_BALANCER_CONTROLLER_POLICY_VERSION:
        raise SettingsError(
            "eks.load_balancer_controller_version",
            e.load_balancer_controller_version,
            f"{c.LOAD_BALANCER_CONTROLLER_POLICY_VERSION}, the release whose IAM policy the repository embeds "
            "(components/policies/); update the policy file with the version",
        )
    if not re.fullmatch(r"[a-z0-9.-]+(:\d+)?(/[a-z0-9._-]+)+(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64})", e.sample_app_image) or (
        e.sample_app_image.endswith(":latest")
    ):
        raise SettingsError(
            "eks.sample_app_image", e.sample_app_image, "an image with a registry and a pinned tag or digest, not latest"
        )
    for i, cidr in enumerate(e.public_endpoint_cidrs):
        net = _network(f"eks.public_endpoint_cidrs.{i}", cidr)
        if net.prefixlen == 0 or net.is_private:
            raise SettingsError(
                f"eks.public_endpoint_cidrs.{i}",
                cidr,
                "a public CIDR narrower than 0.0.0.0/0 (the private endpoint serves the VPC)",
            )
    for i, arn in enumerate(e.admin_role_arns):
        if not _ROLE_ARN.match(arn):
            raise SettingsError(f"eks.admin_role_arns.{i}", arn, "the ARN of an IAM role, arn:aws:iam::ACCOUNT:role/NAME")
    _validate_node_group("eks.system_nodes", e.system_nodes, spot_allowed=False, min_floor=1)
    _validate_retention("eks.log_retention_days", e.log_retention_days)
    if e.alarm_email is not None and not _EMAIL.fullmatch(e.alarm_email):
        raise SettingsError("eks.alarm_email", e.alarm_email, "an e-mail address")
    ia, glacier = e.file_storage_infrequent_access_days, e.file_storage_glacier_days
    if ia < c.S3_MIN_DAYS_BEFORE_IA:
        raise SettingsError(
            "eks.file_storage_infrequent_access_days",
            ia,
            f"at least {c.S3_MIN_DAYS_BEFORE_IA} days (S3's minimum for Standard-IA)",
        )
    if glacier < ia + c.S3_MIN_DAYS_IN_IA:
        raise SettingsError(
            "eks.file_storage_glacier_days",
            glacier,
            f"at least {ia + c.S3_MIN_DAYS_IN_IA} days: {c.S3_MIN_DAYS_IN_IA} days after the move to Standard-IA on day {ia}",
        )
    for key in ("file_storage_noncurrent_expiry_days", "image_untagged_expiry_days"):
        if not 1 <= getattr(e, key) <= 3650:
            raise SettingsError(f"eks.{key}", getattr(e, key), "1 to 3650 days")
    _validate_database(e.database)
    _validate_pipeline(e.pipeline)
    _validate_mendix_backup(e.backup)
    _validate_budget(e.budget)


_AMI_ALIAS = re.compile(r"^al2023@v\d{8}$")
_INSTANCE_CATEGORIES = frozenset("cmrt")


def _validate_karpenter(k: KarpenterSettings) -> None:
    if not _SEMVER.match(k.chart_version) or k.chart_version.startswith("v"):
        raise SettingsError("eks.karpenter.chart_version", k.chart_version, "a pinned chart version such as 1.8.1, never a range")
    if not _AMI_ALIAS.match(k.ami_alias):
        raise SettingsError(
            "eks.karpenter.ami_alias", k.ami_alias, "an EKS AL2023 AMI release pinned as al2023@vYYYYMMDD, never @latest"
        )
    pools = [("on_demand", k.on_demand)] + ([("spot", k.spot)] if k.spot is not None else [])
    for name, pool in pools:
        key = f"eks.karpenter.{name}"
        if not 1 <= pool.cpu_limit <= 100000:
            raise SettingsError(f"{key}.cpu_limit", pool.cpu_limit, "1 to 100000 vCPUs for the whole pool")
        if not 1 <= pool.memory_limit_gib <= 1000000:
            raise SettingsError(f"{key}.memory_limit_gib", pool.memory_limit_gib, "1 to 1000000 GiB for the whole pool")
        if not pool.instance_categories or not set(pool.instance_categories) <= _INSTANCE_CATEGORIES:
            raise SettingsError(
                f"{key}.instance_categories",
                list(pool.instance_categories),
                f"one or more of {', '.join(sorted(_INSTANCE_CATEGORIES))} (x86-64 families; Mendix needs x86-64)",
            )
        if name == "spot" and len(pool.instance_categories) < c.SPOT_MIN_INSTANCE_TYPES:
            raise SettingsError(
                f"{key}.instance_categories",
                list(pool.instance_categories),
                f"at least {c.SPOT_MIN_INSTANCE_TYPES} families for Spot, so one interrupted pool does not empty it",
            )
        if not 3 <= pool.min_generation <= 9:
            raise SettingsError(f"{key}.min_generation", pool.min_generation, "an instance generation from 3 to 9")
        if not c.NODE_MIN_DISK_GIB <= pool.disk_gib <= 16384:
            raise SettingsError(f"{key}.disk_gib", pool.disk_gib, f"{c.NODE_MIN_DISK_GIB} to 16384 GiB")
    if not 0 <= k.consolidate_after_seconds <= 86400:
        raise SettingsError("eks.karpenter.consolidate_after_seconds", k.consolidate_after_seconds, "0 to 86400 seconds")
    if not 24 <= k.expire_after_hours <= 8760:
        raise SettingsError("eks.karpenter.expire_after_hours", k.expire_after_hours, "24 to 8760 hours")


def _validate_node_group(key: str, n: NodeGroupSettings, *, spot_allowed: bool, min_floor: int) -> None:
    if not n.instance_types:
        raise SettingsError(f"{key}.instance_types", [], "at least one instance type")
    for i, instance_type in enumerate(n.instance_types):
        validate_instance_type(f"{key}.instance_types.{i}", instance_type)
    allowed = ("ON_DEMAND", "SPOT") if spot_allowed else ("ON_DEMAND",)
    if n.capacity_type not in allowed:
        why = "" if spot_allowed else " (system add-ons and controllers must not lose their nodes to Spot interruptions)"
        raise SettingsError(f"{key}.capacity_type", n.capacity_type, f"{' or '.join(allowed)}{why}")
    if n.capacity_type == "SPOT" and len(n.instance_types) < c.SPOT_MIN_INSTANCE_TYPES:
        raise SettingsError(
            f"{key}.instance_types",
            list(n.instance_types),
            f"at least {c.SPOT_MIN_INSTANCE_TYPES} instance types for Spot, so one interrupted pool does not empty the group",
        )
    if not min_floor <= n.min_per_az <= n.desired_per_az <= n.max_per_az:
        raise SettingsError(
            f"{key}.desired_per_az",
            n.desired_per_az,
            f"sizes with {min_floor} <= min_per_az ({n.min_per_az}) <= desired_per_az <= max_per_az ({n.max_per_az})",
        )
    # The system role is one group over all AZs, so the quota holds for the sum.
    most = c.EKS_MAX_NODES_PER_GROUP // c.REQUIRED_AZ_COUNT
    if not 1 <= n.max_per_az <= most:
        raise SettingsError(
            f"{key}.max_per_az",
            n.max_per_az,
            f"1 to {most} nodes ({c.EKS_MAX_NODES_PER_GROUP} per managed node group, over {c.REQUIRED_AZ_COUNT} AZs)",
        )
    if not c.NODE_MIN_DISK_GIB <= n.disk_gib <= 16384:
        raise SettingsError(f"{key}.disk_gib", n.disk_gib, f"{c.NODE_MIN_DISK_GIB} to 16384 GiB")


def _validate_database(d: MendixDatabaseSettings) -> None:
    if not _DB_INSTANCE_CLASS.match(d.instance_class) or d.instance_class.startswith("db."):
        raise SettingsError("eks.database.instance_class", d.instance_class, "an RDS instance class without db., e.g. m6g.large")
    m = _POSTGRES_VERSION.match(d.engine_version)
    if not m or int(m.group("major")) not in c.POSTGRES_MAJOR_VERSIONS:
        majors = ", ".join(str(v) for v in c.POSTGRES_MAJOR_VERSIONS)
        raise SettingsError("eks.database.engine_version", d.engine_version, f"a PostgreSQL major.minor of major {majors}")
    if not c.RDS_MIN_STORAGE_GIB <= d.allocated_storage_gib <= c.RDS_MAX_STORAGE_GIB:
        raise SettingsError(
            "eks.database.allocated_storage_gib",
            d.allocated_storage_gib,
            f"{c.RDS_MIN_STORAGE_GIB} to {c.RDS_MAX_STORAGE_GIB} GiB (gp3)",
        )
    if not d.allocated_storage_gib < d.max_allocated_storage_gib <= c.RDS_MAX_STORAGE_GIB:
        raise SettingsError(
            "eks.database.max_allocated_storage_gib",
            d.max_allocated_storage_gib,
            f"more than allocated_storage_gib ({d.allocated_storage_gib}) and at most {c.RDS_MAX_STORAGE_GIB} "
            "(the ceiling of storage autoscaling)",
        )
    if not c.RDS_MIN_BACKUP_RETENTION_DAYS <= d.backup_retention_days <= c.RDS_MAX_BACKUP_RETENTION_DAYS:
        raise SettingsError(
            "eks.database.backup_retention_days",
            d.backup_retention_days,
            f"{c.RDS_MIN_BACKUP_RETENTION_DAYS} to {c.RDS_MAX_BACKUP_RETENTION_DAYS} days (0 would turn automated backups off)",
        )
    if not 1 <= d.free_storage_alarm_percent <= 50:
        raise SettingsError("eks.database.free_storage_alarm_percent", d.free_storage_alarm_percent, "1 to 50 percent")
    if not 1 <= d.max_connections_alarm <= 100000:
        raise SettingsError("eks.database.max_connections_alarm", d.max_connections_alarm, "1 to 100000 connections")


def _validate_pipeline(p: PipelineSettings) -> None:
    if not _CONNECTION_ARN.match(p.connection_arn):
        raise SettingsError(
            "eks.pipeline.connection_arn",
            p.connection_arn,
            "the ARN of a CodeConnections connection, arn:aws:codeconnections:REGION:ACCOUNT:connection/UUID",
        )
    if not _REPOSITORY.match(p.repository):
        raise SettingsError("eks.pipeline.repository", p.repository, "owner/name of the application's source repository")
    if not _BRANCH.match(p.branch) or ".." in p.branch:
        raise SettingsError("eks.pipeline.branch", p.branch, "a branch name")
    if not 1 <= p.canary_replicas <= 10:
        raise SettingsError("eks.pipeline.canary_replicas", p.canary_replicas, "1 to 10 pods")
    if not 60 <= p.canary_seconds <= 3600:
        raise SettingsError("eks.pipeline.canary_seconds", p.canary_seconds, "60 to 3600 seconds")
    if not 0 <= p.max_canary_restarts <= 10:
        raise SettingsError("eks.pipeline.max_canary_restarts", p.max_canary_restarts, "0 to 10 restarts")


def _validate_mendix_backup(b: MendixBackupSettings) -> None:
    if not _CRON.match(b.restore_test_schedule):
        raise SettingsError("eks.backup.restore_test_schedule", b.restore_test_schedule, "a cron(...) expression")
    if not 1 <= b.expected_restore_hours <= 168:
        raise SettingsError("eks.backup.expected_restore_hours", b.expected_restore_hours, "1 to 168 hours")
    if not b.expected_restore_hours <= b.restore_test_validation_hours <= 168:
        raise SettingsError(
            "eks.backup.restore_test_validation_hours",
            b.restore_test_validation_hours,
            f"{b.expected_restore_hours} to 168 hours: the restored copies must outlive the restore "
            f"(eks.backup.expected_restore_hours={b.expected_restore_hours}) so the test can check them",
        )
    if not 1 <= b.daily_retention_days <= 35:
        raise SettingsError("eks.backup.daily_retention_days", b.daily_retention_days, "1 to 35 days")
    if not b.weekly_cold_storage_after_days >= 1:
        raise SettingsError("eks.backup.weekly_cold_storage_after_days", b.weekly_cold_storage_after_days, "at least 1 day")
    floor = b.weekly_cold_storage_after_days + c.BACKUP_MIN_DAYS_IN_COLD_STORAGE
    if not floor <= b.weekly_retention_days <= 36500:
        raise SettingsError(
            "eks.backup.weekly_retention_days",
            b.weekly_retention_days,
            f"{floor} to 36500 days: AWS Backup keeps a recovery point at least "
            f"{c.BACKUP_MIN_DAYS_IN_COLD_STORAGE} days in cold storage (moved there on day {b.weekly_cold_storage_after_days})",
        )


def _validate_budget(b: BudgetSettings) -> None:
    if not 1 <= b.monthly_limit_usd <= 10_000_000:
        raise SettingsError("eks.budget.monthly_limit_usd", b.monthly_limit_usd, "1 to 10000000 US dollars")
    if not b.thresholds_percent or len(set(b.thresholds_percent)) != len(b.thresholds_percent):
        raise SettingsError("eks.budget.thresholds_percent", list(b.thresholds_percent), "one or more distinct percentages")
    if len(b.thresholds_percent) > c.BUDGET_MAX_NOTIFICATIONS - 1:
        raise SettingsError(
            "eks.budget.thresholds_percent",
            list(b.thresholds_percent),
            f"at most {c.BUDGET_MAX_NOTIFICATIONS - 1} thresholds: a budget has at most {c.BUDGET_MAX_NOTIFICATIONS} "
            "notifications and one warns on the month's forecast",
        )
    for i, t in enumerate(b.thresholds_percent):
        if not 1 <= t <= 1000:
            raise SettingsError(f"eks.budget.thresholds_percent.{i}", t, "1 to 1000 percent of the limit")
    if not 1 <= len(b.emails) <= c.BUDGET_MAX_EMAIL_SUBSCRIBERS:
        raise SettingsError(
            "eks.budget.emails", list(b.emails), f"1 to {c.BUDGET_MAX_EMAIL_SUBSCRIBERS} addresses (AWS Budgets' limit per alert)"
        )
    for i, email in enumerate(b.emails):
        if not _EMAIL.fullmatch(email):
            raise SettingsError(f"eks.budget.emails.{i}", email, "an e-mail address")
