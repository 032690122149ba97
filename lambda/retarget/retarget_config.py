"""The retarget function's configuration: the one reader and the one writer.

Standard library only, so the CDK app writes the configuration with the same
code the function reads it with (components/mirror_failover.py loads this
file). The deployed function finds it in two places (README.md,
"Configuration"): the health check in the environment variable
``RETARGET_HEALTH_CHECK``, and one SSM parameter per mirror set under the path
in ``RETARGET_PARAMETERS``, each written by the stack of that mirror set (a
set's own function, ``RETARGET_MIRROR_SET``, reads its set's parameter only). The
whole document (``Config.to_json``) is what the operator tools and the tests
pass around.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PARAMETERS_VARIABLE = "RETARGET_PARAMETERS"
HEALTH_CHECK_VARIABLE = "RETARGET_HEALTH_CHECK"
# Set on a mirror set's own function: it reads that set's parameter only and serves that set only.
MIRROR_SET_VARIABLE = "RETARGET_MIRROR_SET"
WHAT = "the retarget configuration"
FAILOVER = "failover"
ASYNC = "async"
ROLES = (FAILOVER, ASYNC)
MAX_PORT = 65535


class RetargetError(Exception):
    """A retarget that did not happen, or not completely; the message says why, on one line."""


class ConfigError(RetargetError):
    """The configuration is missing or not valid."""


@dataclass(frozen=True)
class HealthCheck:
    """How a member is asked whether it is the primary (only the primary answers 200)."""

    port: int
    path: str
    timeout_seconds: float
    interval_seconds: int
    healthy_threshold: int
    unhealthy_threshold: int

    def to_document(self) -> dict[str, Any]:
        return {
            "port": self.port,
            "path": self.path,
            "timeout_seconds": self.timeout_seconds,
            "interval_seconds": self.interval_seconds,
            "healthy_threshold": self.healthy_threshold,
            "unhealthy_threshold": self.unhealthy_threshold,
        }


@dataclass(frozen=True)
class Member:
    name: str
    instance_id: str
    private_ip: str
    role: str  # "failover" or "async"
    target_groups: dict[str, str]  # listener ARN -> target group ARN


@dataclass(frozen=True)
class MirrorSet:
    name: str
    listeners: tuple[str, ...]
    members: dict[str, Member]

    def to_document(self) -> dict[str, Any]:
        """The set's part of the document: what its stack writes to its SSM parameter."""
        return {
            "listeners": list(self.listeners),
            "members": {
                m.name: {
                    "instance_id": m.instance_id,
                    "private_ip": m.private_ip,
                    "role": m.role,
                    "target_groups": dict(m.target_groups),
                }
                for m in self.members.values()
            },
        }


@dataclass(frozen=True)
class Config:
    mirror_sets: dict[str, MirrorSet]
    health_check: HealthCheck

    def to_document(self) -> dict[str, Any]:
        return {
            "mirror_sets": {name: s.to_document() for name, s in self.mirror_sets.items()},
            "health_check": self.health_check.to_document(),
        }

    def to_json(self) -> str:
        """The whole document, as ``load_config`` reads it."""
        return json.dumps(self.to_document())


# --- configuration -----------------------------------------------------------------------------------------------------


def _invalid(where: str, problem: str) -> ConfigError:
    return ConfigError(f"{WHAT} is not valid: {where} {problem}")


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(where, f"must be an object; got {type(value).__name__}")
    return value


def _field(parent: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in parent:
        raise _invalid(where, f"lacks {key!r}")
    return parent[key]


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _invalid(where, f"must be a non-empty string; got {value!r}")
    return value


def _integer(value: Any, where: str, minimum: int, maximum: int | None = None) -> int:
    # bool is an int in Python; true is never a port or a count.
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (maximum is not None and value > maximum):
        allowed = f"an integer from {minimum} to {maximum}" if maximum is not None else f"an integer of at least {minimum}"
        raise _invalid(where, f"must be {allowed}; got {value!r}")
    return value


def _positive_number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise _invalid(where, f"must be a number above 0; got {value!r}")
    return float(value)


def _member(set_name: str, name: str, raw: Any, listeners: tuple[str, ...]) -> Member:
    where = f"mirror_sets.{set_name}.members.{name}"
    m = _object(raw, where)
    instance_id = _text(_field(m, "instance_id", where), f"{where}.instance_id")
    private_ip = _text(_field(m, "private_ip", where), f"{where}.private_ip")
    try:
        ipaddress.ip_address(private_ip)
    except ValueError:
        raise _invalid(f"{where}.private_ip", f"must be an IP address; got {private_ip!r}") from None
    role = _field(m, "role", where)
    if role not in ROLES:
        raise _invalid(where, f"has role {role!r}; allowed: {', '.join(ROLES)}")
    groups = _object(_field(m, "target_groups", where), f"{where}.target_groups")
    missing = [arn for arn in listeners if arn not in groups]
    if missing:
        raise _invalid(f"{where}.target_groups", f"has no target group for listener(s) {', '.join(missing)}")
    foreign = [arn for arn in groups if arn not in listeners]
    if foreign:
        raise _invalid(f"{where}.target_groups", f"names listener(s) {', '.join(foreign)}, which are not listeners of {set_name}")
    target_groups = {arn: _text(groups[arn], f"{where}.target_groups[{arn}]") for arn in listeners}
    return Member(name, instance_id, private_ip, role, target_groups)


def _mirror_set(name: str, raw: Any) -> MirrorSet:
    where = f"mirror_sets.{name}"
    s = _object(raw, where)
    raw_listeners = _field(s, "listeners", where)
    if not isinstance(raw_listeners, list) or not raw_listeners:
        raise _invalid(f"{where}.listeners", f"must be a non-empty list of listener ARNs; got {raw_listeners!r}")
    listeners = tuple(_text(arn, f"{where}.listeners") for arn in raw_listeners)
    if len(set(listeners)) != len(listeners):
        raise _invalid(f"{where}.listeners", "names a listener twice")
    raw_members = _object(_field(s, "members", where), f"{where}.members")
    members = {member: _member(name, member, m, listeners) for member, m in raw_members.items()}
    # A DR region's VIP has async members only: it is switched by a person's decision.
    if not members:
        raise _invalid(f"{where}.members", "must name at least one member")
    # The VIP tells members apart by their target groups: a shared group would
    # make "who is primary" ambiguous.
    owners: dict[str, str] = {}
    for member in members.values():
        for group in member.target_groups.values():
            if group in owners:
                raise _invalid(f"{where}.members", f"{owners[group]} and {member.name} share target group {group}")
            owners[group] = member.name
    return MirrorSet(name, listeners, members)


def _health_check(raw: Any) -> HealthCheck:
    where = "health_check"
    h = _object(raw, where)
    path = _text(_field(h, "path", where), f"{where}.path")
    if not path.startswith("/"):
        raise _invalid(f"{where}.path", f"must start with '/'; got {path!r}")
    return HealthCheck(
        port=_integer(_field(h, "port", where), f"{where}.port", 1, MAX_PORT),
        path=path,
        timeout_seconds=_positive_number(_field(h, "timeout_seconds", where), f"{where}.timeout_seconds"),
        interval_seconds=_integer(_field(h, "interval_seconds", where), f"{where}.interval_seconds", 1),
        healthy_threshold=_integer(_field(h, "healthy_threshold", where), f"{where}.healthy_threshold", 1),
        unhealthy_threshold=_integer(_field(h, "unhealthy_threshold", where), f"{where}.unhealthy_threshold", 1),
    )


def parse_config(raw: Any) -> Config:
    """Check a whole document (already parsed from JSON) and return its Config.

    Guarantees of the returned Config: at least one mirror set; each with at
    least one listener and at least one member; every member has a
    valid IP address, a role of ``failover`` or ``async``, and exactly one
    target group per listener of its set, used by no other member; the health
    check has a port, a path and positive timings. Anything else raises
    ConfigError naming the key that is wrong. Unknown keys are ignored.
    """
    top = _object(raw, "the document")
    raw_sets = _object(_field(top, "mirror_sets", "the document"), "mirror_sets")
    if not raw_sets:
        raise _invalid("mirror_sets", "is empty")
    mirror_sets = {name: _mirror_set(name, s) for name, s in raw_sets.items()}
    return Config(mirror_sets, _health_check(_field(top, "health_check", "the document")))


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{WHAT} is not valid: {what} is not JSON ({err})") from None


def load_config(text: str) -> Config:
    """The Config of a whole document (``Config.to_json``); ConfigError naming what is wrong."""
    return parse_config(_json(text, "the document"))


def assemble(set_documents: Mapping[str, str], health_check_text: str) -> Config:
    """The Config of the deployed function: one JSON document per mirror set (its SSM
    parameter's value, by set name) and the health check's JSON."""
    return parse_config(
        {
            "mirror_sets": {name: _json(text, f"mirror_sets.{name}") for name, text in set_documents.items()},
            "health_check": _json(health_check_text, HEALTH_CHECK_VARIABLE),
        }
    )
