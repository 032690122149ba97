"""Point a mirror VIP's listeners at a new IRIS primary.

Pure boto3 and the standard library: no CDK. The rules (DESIGN.md, "Mirror
failover"): verify the new primary answers 200 on its status page first;
switch every listener of the set between pre-registered target groups (never
register or deregister: NLB registration takes minutes); make no write when
the set already points there; never leave a listener without a target; refuse
an async DR member unless the caller acknowledges possible data loss; log one
JSON line per decision; fail loudly.

Concurrency: the deployed function has a reserved concurrency of 1, so two
invocations never run at once. Within one process, ``_LOCK`` serialises the
read-decide-write sequence as well, so concurrent callers (threads, the
drill) cannot interleave their listener writes either.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

ROLES = ("failover", "async")
HTTP_OK = 200
_LOCK = threading.Lock()

StatusCheck = Callable[[str, int, str, float], "int | None"]
Logger = Callable[[dict[str, Any]], None]


class RetargetError(Exception):
    """A retarget that did not happen; the message says why, on one line."""


class ConfigError(RetargetError):
    pass


class UnknownMirrorSet(RetargetError):
    pass


class UnknownMember(RetargetError):
    pass


class UnhealthyPrimary(RetargetError):
    pass


class DataLossNotAcknowledged(RetargetError):
    pass


@dataclass(frozen=True)
class HealthCheck:
    port: int
    path: str
    timeout_seconds: float
    interval_seconds: int
    healthy_threshold: int
    unhealthy_threshold: int


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


@dataclass(frozen=True)
class Config:
    mirror_sets: dict[str, MirrorSet]
    health_check: HealthCheck


def load_config(text: str) -> Config:
    """Parse and check the RETARGET_CONFIG document written at synthesis."""
    try:
        raw = json.loads(text)
        sets = {}
        for set_name, s in raw["mirror_sets"].items():
            listeners = tuple(s["listeners"])
            if not listeners:
                raise ConfigError(f"mirror set {set_name!r} has no listeners")
            members = {}
            for member_name, m in s["members"].items():
                if m["role"] not in ROLES:
                    raise ConfigError(
                        f"member {member_name!r} of {set_name!r} has role {m['role']!r}; allowed: {', '.join(ROLES)}"
                    )
                missing = [arn for arn in listeners if arn not in m["target_groups"]]
                if missing:
                    raise ConfigError(
                        f"member {member_name!r} of {set_name!r} has no target group for listener(s) {', '.join(missing)}"
                    )
                members[member_name] = Member(member_name, m["instance_id"], m["private_ip"], m["role"], dict(m["target_groups"]))
            sets[set_name] = MirrorSet(set_name, listeners, members)
        h = raw["health_check"]
        health = HealthCheck(
            int(h["port"]),
            str(h["path"]),
            float(h["timeout_seconds"]),
            int(h["interval_seconds"]),
            int(h["healthy_threshold"]),
            int(h["unhealthy_threshold"]),
        )
    except ConfigError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ConfigError(f"RETARGET_CONFIG is not a valid configuration: {type(err).__name__}: {err}") from None
    return Config(sets, health)


def config_from_environment() -> Config:
    text = os.environ.get("RETARGET_CONFIG")
    if not text:
        raise ConfigError("RETARGET_CONFIG is not set: the function was deployed without its configuration")
    return load_config(text)


def check_status(ip: str, port: int, path: str, timeout: float) -> int | None:
    """HTTP status of the member's mirror status page, or None if it did not answer."""
    try:
        with urllib.request.urlopen(f"http://{ip}:{port}{path}", timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except (urllib.error.URLError, OSError, ValueError):
        return None


def elbv2_client(region: str | None = None, endpoint_url: str | None = None) -> Any:
    """An ELBv2 client that retries throttling with botocore's standard mode."""
    config = BotoConfig(retries={"mode": "standard", "max_attempts": 8}, connect_timeout=3, read_timeout=10)
    return boto3.client("elbv2", region_name=region, endpoint_url=endpoint_url, config=config)


def log_json(record: dict[str, Any]) -> None:
    """One JSON line per decision, on stdout: CloudWatch Logs keeps it searchable."""
    print(json.dumps(record, sort_keys=True), flush=True)


def resolve_member(mirror_set: MirrorSet, name_or_instance_id: str) -> Member:
    for member in mirror_set.members.values():
        if name_or_instance_id in (member.name, member.instance_id):
            return member
    known = ", ".join(f"{m.name} ({m.instance_id})" for m in mirror_set.members.values())
    raise UnknownMember(f"unknown member {name_or_instance_id!r} of mirror set {mirror_set.name!r}: known members are {known}")


def resolve_set(config: Config, name: str) -> MirrorSet:
    if name not in config.mirror_sets:
        raise UnknownMirrorSet(f"unknown mirror set {name!r}: known mirror sets are {', '.join(sorted(config.mirror_sets))}")
    return config.mirror_sets[name]


def current_targets(elbv2: Any, mirror_set: MirrorSet) -> dict[str, str | None]:
    """Listener ARN -> the target group its default forward action points at."""
    found: dict[str, str | None] = {}
    for listener in elbv2.describe_listeners(ListenerArns=list(mirror_set.listeners))["Listeners"]:
        group = None
        for action in listener.get("DefaultActions", []):
            if action.get("Type") == "forward":
                group = action.get("TargetGroupArn") or next(
                    (g["TargetGroupArn"] for g in action.get("ForwardConfig", {}).get("TargetGroups", [])), None
                )
        found[listener["ListenerArn"]] = group
    return found


def primary_of(mirror_set: MirrorSet, targets: dict[str, str | None]) -> str | None:
    """The member every listener points at, or None when they disagree."""
    for member in mirror_set.members.values():
        if all(targets.get(arn) == member.target_groups[arn] for arn in mirror_set.listeners):
            return member.name
    return None


def current_primary(elbv2: Any, mirror_set: MirrorSet) -> str | None:
    return primary_of(mirror_set, current_targets(elbv2, mirror_set))


def retarget(
    elbv2: Any,
    config: Config,
    *,
    mirror_set: str,
    new_primary: str,
    reason: str,
    acknowledge_data_loss: bool = False,
    verify: bool = True,
    dry_run: bool = False,
    status_check: StatusCheck = check_status,
    log: Logger = log_json,
) -> dict[str, Any]:
    """Point every listener of ``mirror_set`` at ``new_primary``'s target groups."""
    decision: dict[str, Any] = {"event": "retarget", "mirror_set": mirror_set, "new_primary": new_primary, "reason": reason}
    try:
        target_set = resolve_set(config, mirror_set)
        member = resolve_member(target_set, new_primary)
    except RetargetError as err:
        log(
            {
                **decision,
                "decision": "unknown_member" if isinstance(err, UnknownMember) else "unknown_mirror_set",
                "error": str(err),
            }
        )
        raise
    decision["new_primary"] = member.name
    if member.role == "async" and not acknowledge_data_loss:
        message = (
            f"{member.name} of {mirror_set} is an async (DR) member: promoting it can lose the transactions it has not "
            "received; a person must decide, by calling again with acknowledge_data_loss true"
        )
        log({**decision, "decision": "refused_async", "error": message})
        raise DataLossNotAcknowledged(message)

    with _LOCK:
        before = current_targets(elbv2, target_set)
        previous = primary_of(target_set, before)
        decision["previous"] = previous
        pending = [arn for arn in target_set.listeners if before.get(arn) != member.target_groups[arn]]
        if not pending:
            log({**decision, "decision": "already_primary"})
            return _result(mirror_set, previous, member.name, changed=False, dry_run=dry_run, listeners=before)

        if verify:
            h = config.health_check
            status = status_check(member.private_ip, h.port, h.path, h.timeout_seconds)
            if status != HTTP_OK:
                shown = "no answer" if status is None else f"HTTP {status}"
                message = (
                    f"{member.name} ({member.private_ip}) of {mirror_set} is not primary: {h.path} on port {h.port} "
                    f"gave {shown}, expected {HTTP_OK}; the listeners still point at {previous or 'their previous targets'}"
                )
                log({**decision, "decision": "refused_unhealthy", "status": status, "error": message})
                raise UnhealthyPrimary(message)

        wanted = {arn: member.target_groups[arn] for arn in target_set.listeners}
        if dry_run:
            log({**decision, "decision": "dry_run", "would_switch": pending})
            return _result(mirror_set, previous, member.name, changed=False, dry_run=True, listeners=wanted)

        switched: list[str] = []
        for arn in pending:
            try:
                # One concrete target group per call: a listener always has a target.
                elbv2.modify_listener(ListenerArn=arn, DefaultActions=[{"Type": "forward", "TargetGroupArn": wanted[arn]}])
            except (ClientError, BotoCoreError) as err:
                left = [a for a in pending if a not in switched]
                message = (
                    f"switching {mirror_set} to {member.name} failed at listener {arn}: {err}; "
                    f"switched: {switched or 'none'}; not switched: {left}"
                )
                log({**decision, "decision": "failed", "switched": switched, "not_switched": left, "error": message})
                raise RetargetError(message) from err
            switched.append(arn)
        log({**decision, "decision": "switched", "switched": switched})
        return _result(mirror_set, previous, member.name, changed=True, dry_run=False, listeners=wanted)


def _result(
    mirror_set: str, previous: str | None, new: str, *, changed: bool, dry_run: bool, listeners: dict[str, Any]
) -> dict[str, Any]:
    return {
        "mirror_set": mirror_set,
        "previous": previous,
        "new": new,
        "changed": changed,
        "dry_run": dry_run,
        "listeners": listeners,
    }
