"""Annotated types shared by the settings models: each names what it allows.

A type's check raises a one-line problem in the words of :class:`Allowed`
(``config/base.py``); its pattern, range or list of values also goes into the
profiles' JSON Schema, so an editor flags the same mistakes.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import AfterValidator, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from config import constants as c
from config.base import Allowed, refuse

# --------------------------------------------------------------------------
# Patterns (one definition each)
# --------------------------------------------------------------------------

INSTANCE_TYPE = r"^[a-z][a-z0-9-]*\d[a-z0-9-]*\.(nano|micro|small|medium|large|metal|\d*xlarge|metal-\d+xl)$"
REGION = r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$"
AZ = r"^(?P<region>[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d)[a-z]$"
ACCOUNT = r"^\d{12}$"
AMI = r"^ami-([0-9a-f]{8}|[0-9a-f]{17})$"
NAME = r"^[A-Za-z][A-Za-z0-9]{0,19}$"
CRON = r"^cron\(.+\)$"
ACM_CERTIFICATE = r"^arn:aws[a-z-]*:acm:(?P<region>[a-z0-9-]+):\d{12}:certificate/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$"
URL_PATH = r"^/[A-Za-z0-9_./%-]*$"
DNS_NAME = r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
DNS_LABEL = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
DEVICE = r"^/dev/(sd[a-z]1?|xvd[a-z]|nvme0n1)$"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
SECRET_ARN = r"^arn:aws[a-z-]*:secretsmanager:(?P<region>[a-z0-9-]+):\d{12}:secret:[A-Za-z0-9/_+=.@-]+$"


def _json_pattern(regex: str) -> str:
    """A Python pattern as JSON Schema's ``pattern`` reads it: no group names."""
    return re.sub(r"\(\?P<\w+>", "(", regex)


@dataclass(frozen=True)
class Matches:
    """Annotation metadata: the string matches ``regex`` in full, else ``allowed``."""

    regex: str
    allowed: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        compiled = re.compile(self.regex)

        def check(value: str | None) -> str | None:
            if value is not None and not compiled.fullmatch(value):
                raise refuse(self.allowed)
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = _json_pattern(self.regex)
        return json_schema


@dataclass(frozen=True)
class OneOf:
    """Annotation metadata: the value is one of ``values``, else ``allowed``."""

    values: tuple[Any, ...]
    allowed: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        def check(value: Any) -> Any:
            if value is not None and value not in self.values:
                raise refuse(self.allowed)
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["enum"] = list(self.values)
        return json_schema


@dataclass(frozen=True)
class Check:
    """Annotation metadata: ``predicate`` holds for the value, else ``allowed``."""

    predicate: Callable[[Any], bool]
    allowed: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        def check(value: Any) -> Any:
            if value is not None and not self.predicate(value):
                raise refuse(self.allowed)
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))


# --------------------------------------------------------------------------
# AWS names
# --------------------------------------------------------------------------

InstanceType = Annotated[str, Matches(INSTANCE_TYPE, "an EC2 instance type such as r6i.2xlarge (family.size)")]
Region = Annotated[str, Matches(REGION, "an AWS region name such as eu-west-1")]
AvailabilityZone = Annotated[str, Matches(AZ, "an availability zone name such as eu-west-1a")]
AccountId = Annotated[str, Matches(ACCOUNT, "a 12-digit AWS account id")]
AmiId = Annotated[str, Matches(AMI, "an AMI id such as ami-0123456789abcdef0")]
Email = Annotated[str, Matches(EMAIL, "an e-mail address")]
DnsName = Annotated[str, Matches(DNS_NAME, "a lower-case DNS name such as data.iris.internal")]
RootDevice = Annotated[str, Matches(DEVICE, "the AMI's root device, e.g. /dev/sda1 or /dev/xvda")]
# An ACM certificate must be in the region of its load balancer: the region is
# checked by a rule beside the region, which names it in the message.
CertificateArn = Annotated[str, Field(json_schema_extra={"pattern": _json_pattern(ACM_CERTIFICATE)})]

# region -> AMI id, read-only.
AmiIds = Annotated[Mapping[Region, AmiId], AfterValidator(lambda v: MappingProxyType(dict(v)))]
StringMap = Annotated[Mapping[str, str], AfterValidator(lambda v: MappingProxyType(dict(v)))]

# --------------------------------------------------------------------------
# Addresses
# --------------------------------------------------------------------------


def _network(value: str) -> str:
    try:
        ipaddress.IPv4Network(value, strict=True)
    except ValueError as err:
        raise refuse(f"an IPv4 CIDR block such as 10.0.0.0/16 ({err})") from None
    return value


def _vpc(value: str) -> str:
    vpc = ipaddress.IPv4Network(_network(value))
    if not c.VPC_MIN_PREFIX <= vpc.prefixlen <= c.VPC_MAX_PREFIX:
        raise refuse(f"a prefix from /{c.VPC_MIN_PREFIX} to /{c.VPC_MAX_PREFIX}")
    if not vpc.is_private:
        raise refuse("a private (RFC 1918) range")
    return value


# RFC 5737 ranges: the shipped placeholder gateway address lives in one of them.
DOCUMENTATION_NETS = tuple(ipaddress.IPv4Network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))


def _gateway(value: str) -> str:
    try:
        ip = ipaddress.IPv4Address(value)
    except ValueError:
        raise refuse("an IPv4 address") from None
    if not (ip.is_global or any(ip in net for net in DOCUMENTATION_NETS)):
        raise refuse("the public IPv4 address of the customer gateway")
    return value


def _public_cidr(value: str) -> str:
    net = ipaddress.IPv4Network(_network(value))
    if net.prefixlen == 0 or net.is_private:
        raise refuse("a public CIDR narrower than 0.0.0.0/0 (the private endpoint serves the VPC)")
    return value


_CIDR_SCHEMA = {"pattern": r"^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$"}
Cidr = Annotated[
    str, AfterValidator(_network), Field(json_schema_extra=_CIDR_SCHEMA), Allowed("an IPv4 CIDR block such as 10.0.0.0/16")
]
VpcCidr = Annotated[
    str,
    AfterValidator(_vpc),
    Field(json_schema_extra=_CIDR_SCHEMA),
    Allowed(f"a private (RFC 1918) IPv4 block from /{c.VPC_MIN_PREFIX} to /{c.VPC_MAX_PREFIX}, no host bits"),
]
PublicCidr = Annotated[
    str,
    AfterValidator(_public_cidr),
    Field(json_schema_extra=_CIDR_SCHEMA),
    Allowed("a public IPv4 CIDR block narrower than 0.0.0.0/0"),
]
GatewayAddress = Annotated[
    str,
    AfterValidator(_gateway),
    Field(json_schema_extra={"pattern": r"^\d{1,3}(\.\d{1,3}){3}$"}),
    Allowed("a public IPv4 address"),
]

# --------------------------------------------------------------------------
# Numbers with a fixed meaning
# --------------------------------------------------------------------------

RetentionDays = Annotated[
    int,
    OneOf(
        tuple(c.LOG_RETENTION_DAYS),
        "one of the CloudWatch Logs retention periods in days: " + ", ".join(str(d) for d in c.LOG_RETENTION_DAYS),
    ),
]
Port = Annotated[int, Field(ge=1, le=65535), Allowed("a TCP port from 1 to 65535")]
RootVolumeGib = Annotated[int, Field(ge=8, le=1024), Allowed("8 to 1024 GiB")]
Days = Annotated[int, Field(ge=1, le=3650), Allowed("1 to 3650 days")]
NodeDiskGib = Annotated[int, Field(ge=c.NODE_MIN_DISK_GIB, le=16384), Allowed(f"{c.NODE_MIN_DISK_GIB} to 16384 GiB")]


def az_problem(region: str, azs: tuple[str, ...], counts: tuple[int, ...]) -> str | None:
    """What is wrong with ``azs`` as the zones of ``region`` (``counts`` of them), or None."""
    if len(azs) not in counts:
        what = " or ".join(str(n) for n in counts)
        why = " (primary, backup and arbiter each get one)" if counts == (c.REQUIRED_AZ_COUNT,) else ""
        return f"exactly {what} availability zones{why}"
    if len(set(azs)) != len(azs):
        dupes = sorted({az for az in azs if azs.count(az) > 1})
        return f"{len(azs)} distinct availability zones; repeated: {', '.join(dupes)}"
    for az in azs:
        m = re.match(AZ, az)
        if not m:
            return f"zone names such as {region}a; {az!r} is not one"
        if m.group("region") != region:
            return f"zones of region {region} (e.g. {region}a); {az} is in {m.group('region')}"
    return None


def certificate_problem(arn: str | None, region: str) -> str | None:
    """What is wrong with ``arn`` as an ALB's certificate in ``region``, or None."""
    wanted = f"the ARN of an ACM certificate in {region} (arn:aws:acm:{region}:<account>:certificate/<id>)"
    if not arn:
        return f"required: the ALB serves HTTPS only; give {wanted}"
    m = re.match(ACM_CERTIFICATE, arn)
    if not m:
        return wanted
    if m.group("region") != region:
        return f"{wanted}: an ALB can use certificates of its own region only"
    return None
