"""Point a mirror VIP's listeners at a new IRIS primary.

Pure boto3 and the standard library: no CDK. The rules (docs/data-tier.md,
"Mirror failover"): verify the new primary answers 200 on its status page
first; switch every listener of the set between pre-registered target groups
(never register or deregister: NLB registration takes minutes); make no write
when the set already points there; never leave a listener without a target;
refuse an async DR member unless the caller acknowledges possible data loss;
log one JSON line per decision; fail loudly.

Concurrency: each mirror set's own function has a reserved concurrency of 1,
so two run-time retargets of one set never run at once (across processes),
and a flood of calls for one set cannot take another set's capacity. Within
one process, ``_LOCK`` serialises the read-decide-write sequence, so
concurrent callers (threads, the drill) cannot interleave their listener
writes either. The deploy-time function and the poller of the polling method
are further writers, each with its own reserved concurrency of 1; every
writer but the deploy-time Create asks the status page before it switches, so
all converge on the member that answers 200.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

# The configuration's reader and writer: retarget_config.py (standard library only).
from retarget_config import (
    ASYNC,
    FAILOVER,
    HEALTH_CHECK_VARIABLE,
    MIRROR_SET_VARIABLE,
    PARAMETERS_VARIABLE,
    ROLES,
    Config,
    ConfigError,
    HealthCheck,
    Member,
    MirrorSet,
    RetargetError,
    assemble,
    load_config,
    parse_config,
)

__all__ = [
    "ASYNC",
    "FAILOVER",
    "HEALTH_CHECK_VARIABLE",
    "MIRROR_SET_VARIABLE",
    "PARAMETERS_VARIABLE",
    "ROLES",
    "Config",
    "ConfigError",
    "HealthCheck",
    "Member",
    "MirrorSet",
    "RetargetError",
    "assemble",
    "load_config",
    "parse_config",
]

HTTP_OK = 200
# A reason is a person's or a host's short note, logged with every decision: bounded so
# that a caller cannot fill the log or the dead-letter queue with one call.
MAX_REASON_CHARS = 256
# The error codes of a write refused for want of permission.
ACCESS_DENIED = ("AccessDenied", "AccessDeniedException")
# botocore's standard retry mode backs off on throttling and rides out a burst
# of ModifyListener calls from several writers. In a Config, max_attempts
# counts retries: 8 means up to 9 attempts per call.
RETRY_MODE = "standard"
MAX_ATTEMPTS = 8
CONNECT_TIMEOUT_SECONDS = 3
READ_TIMEOUT_SECONDS = 10

# One retarget at a time in this process: read, decide and write as one step.
_LOCK = threading.Lock()

StatusCheck = Callable[[str, int, str, float], "int | None"]
Logger = Callable[[dict[str, Any]], None]


class NotPermitted(RetargetError):
    """ELBv2 refused a listener write for want of permission (for example a grant not yet propagated)."""


class UnknownMirrorSet(RetargetError):
    """The request names a mirror set the configuration does not know."""


class UnknownMember(RetargetError):
    """The request names a member (or instance) its mirror set does not have."""


class UnhealthyPrimary(RetargetError):
    """The new primary did not answer 200 on its status page; nothing was changed."""


class DataLossNotAcknowledged(RetargetError):
    """An async (DR) member was asked for without acknowledging possible data loss."""


class RequestRefused(RetargetError):
    """The request itself was refused before anything was read: malformed, for another set, or without verification."""


def read_set_parameter(ssm: Any, path: str, name: str) -> dict[str, str]:
    """``{name: document}`` from the one SSM parameter ``<path>/<name>``: what a mirror set's own function reads."""
    parameter = f"{path}/{name}"
    try:
        value = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
    except (BotoCoreError, ClientError) as err:
        raise ConfigError(
            f"the retarget configuration of {name} could not be read from the SSM parameter {parameter}: {err}"
        ) from err
    return {name: value}


def read_set_parameters(ssm: Any, path: str) -> dict[str, str]:
    """Mirror set name -> its document, from the SSM parameters directly under ``path``.

    Each mirror set's stack writes ``<path>/<set name>``; a set whose stack is
    gone has no parameter, so the function no longer knows it.
    """
    documents: dict[str, str] = {}
    try:
        for page in ssm.get_paginator("get_parameters_by_path").paginate(Path=path, Recursive=False):
            for parameter in page["Parameters"]:
                documents[parameter["Name"].rsplit("/", 1)[-1]] = parameter["Value"]
    except (BotoCoreError, ClientError) as err:
        raise ConfigError(f"the retarget configuration could not be read from the SSM parameters under {path}: {err}") from err
    if not documents:
        raise ConfigError(f"the retarget configuration is empty: no mirror set has an SSM parameter under {path}")
    return documents


def _documents(ssm: Any, path: str, mirror_set: str | None) -> dict[str, str]:
    return read_set_parameter(ssm, path, mirror_set) if mirror_set else read_set_parameters(ssm, path)


def bound_mirror_set() -> str | None:
    """The one mirror set this function serves (a set's own function), or None (it serves every set under its path)."""
    return os.environ.get(MIRROR_SET_VARIABLE) or None


def config_from_environment(ssm: Any | None = None) -> Config:
    """The configuration of the deployed function: the health check from its
    environment, each mirror set's document from SSM (only its own set's, for a
    set's own function); ConfigError if either is missing."""
    path = os.environ.get(PARAMETERS_VARIABLE)
    health_check = os.environ.get(HEALTH_CHECK_VARIABLE)
    if not path or not health_check:
        raise ConfigError(
            f"{PARAMETERS_VARIABLE} and {HEALTH_CHECK_VARIABLE} must both be set: "
            "the function was deployed without its configuration"
        )
    return assemble(_documents(ssm or ssm_client(), path, bound_mirror_set()), health_check)


def deployed_config(lambda_client: Any, ssm: Any, function_name: str) -> Config:
    """What the deployed function ``function_name`` reads, as an operator tool sees it from outside."""
    configuration = lambda_client.get_function_configuration(FunctionName=function_name)
    variables = configuration.get("Environment", {}).get("Variables", {})
    path, health_check = variables.get(PARAMETERS_VARIABLE), variables.get(HEALTH_CHECK_VARIABLE)
    if not path or not health_check:
        raise ConfigError(f"{function_name} has no {PARAMETERS_VARIABLE} and {HEALTH_CHECK_VARIABLE}: is it a retarget function?")
    return assemble(_documents(ssm, path, variables.get(MIRROR_SET_VARIABLE) or None), health_check)


# --- the outside world -------------------------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Report a redirect as its own status: only the page itself answering 200 means primary."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        return None


def check_status(ip: str, port: int, path: str, timeout: float) -> int | None:
    """HTTP status of ``http://{ip}:{port}{path}``, or None if the member did not answer.

    One GET, no retry, no proxy, redirects not followed: a 503 (a member that
    is not primary) is returned like any other status; a timeout, a refused
    connection or a broken answer is None.
    """
    # No proxy: members are reached on their private address from inside the VPC,
    # whatever HTTP_PROXY the environment may carry.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
    try:
        with opener.open(f"http://{ip}:{port}{path}", timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError):
        return None


def elbv2_client(region: str | None = None, endpoint_url: str | None = None) -> Any:
    """An ELBv2 client that retries throttling with botocore's standard mode and never hangs long."""
    return boto3.client("elbv2", region_name=region, endpoint_url=endpoint_url, config=_client_config())


def _client_config() -> BotoConfig:
    return BotoConfig(
        retries={"mode": RETRY_MODE, "max_attempts": MAX_ATTEMPTS},
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
    )


def ssm_client(region: str | None = None, endpoint_url: str | None = None) -> Any:
    """An SSM client with the same retries and timeouts, for the configuration's parameters."""
    return boto3.client("ssm", region_name=region, endpoint_url=endpoint_url, config=_client_config())


def log_json(record: dict[str, Any]) -> None:
    """One JSON line per decision, on stdout: CloudWatch Logs keeps it searchable."""
    print(json.dumps(record, sort_keys=True, default=str), flush=True)


# --- reading the VIP ---------------------------------------------------------------------------------------------------


def resolve_set(config: Config, name: str) -> MirrorSet:
    """The mirror set called ``name``; UnknownMirrorSet naming the known sets otherwise."""
    if name not in config.mirror_sets:
        raise UnknownMirrorSet(f"unknown mirror set {name!r}: known mirror sets are {', '.join(sorted(config.mirror_sets))}")
    return config.mirror_sets[name]


def resolve_member(mirror_set: MirrorSet, name_or_instance_id: str) -> Member:
    """The member of ``mirror_set`` with that name or instance id; UnknownMember naming the known ones otherwise."""
    for member in mirror_set.members.values():
        if name_or_instance_id in (member.name, member.instance_id):
            return member
    known = ", ".join(f"{m.name} ({m.instance_id})" for m in mirror_set.members.values())
    raise UnknownMember(f"unknown member {name_or_instance_id!r} of mirror set {mirror_set.name!r}: known members are {known}")


def _forwarded_group(listener: Mapping[str, Any]) -> str | None:
    """The one target group a listener's default action forwards to, or None.

    None when there is no forward action, or a weighted forward over several
    groups (no single member is the target then).
    """
    for action in listener.get("DefaultActions", []):
        if action.get("Type") != "forward":
            continue
        if action.get("TargetGroupArn"):
            return str(action["TargetGroupArn"])
        groups = action.get("ForwardConfig", {}).get("TargetGroups", [])
        if len(groups) == 1:
            return str(groups[0]["TargetGroupArn"])
    return None


def current_targets(elbv2: Any, mirror_set: MirrorSet) -> dict[str, str | None]:
    """Listener ARN -> the target group its default action forwards to (None if not exactly one), from DescribeListeners."""
    listeners = elbv2.describe_listeners(ListenerArns=list(mirror_set.listeners))["Listeners"]
    return {listener["ListenerArn"]: _forwarded_group(listener) for listener in listeners}


def primary_of(mirror_set: MirrorSet, targets: Mapping[str, str | None]) -> str | None:
    """The member every listener points at, or None when they disagree or point at an unknown group."""
    for member in mirror_set.members.values():
        if all(targets.get(arn) == member.target_groups[arn] for arn in mirror_set.listeners):
            return member.name
    return None


def current_primary(elbv2: Any, mirror_set: MirrorSet) -> str | None:
    """The member the VIP forwards to now (one DescribeListeners call), or None."""
    return primary_of(mirror_set, current_targets(elbv2, mirror_set))


# --- the switch --------------------------------------------------------------------------------------------------------


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
    """Point every listener of ``mirror_set`` at ``new_primary``'s target groups.

    ``new_primary`` is a member name or instance id. In this order:
    an unknown set or member raises UnknownMirrorSet / UnknownMember; an async
    (DR) member raises DataLossNotAcknowledged unless ``acknowledge_data_loss``;
    a set already pointing there returns ``changed`` False with no write and no
    status check; with ``verify`` the member must answer 200 on its status page
    or UnhealthyPrimary is raised and nothing changes; ``dry_run`` reports and
    writes nothing; otherwise each listener not yet there gets one
    ModifyListener naming a concrete target group (a listener is never left
    without a target). A failed write raises RetargetError naming the
    listeners switched and those not. Exactly one JSON line is logged per call.

    Returns ``{"mirror_set", "previous", "new", "changed", "dry_run",
    "listeners"}``: ``previous`` is the member the set pointed at (None if its
    listeners disagreed), ``new`` the member's name, ``listeners`` listener
    ARN -> target group ARN after the call (as it would be, for a dry run).
    """
    # A direct call's reason is refused above MAX_REASON_CHARS (handler.validate_event); any other
    # caller's is cut to it in the log line.
    decision: dict[str, Any] = {
        "event": "retarget",
        "mirror_set": mirror_set,
        "new_primary": new_primary,
        "reason": reason[:MAX_REASON_CHARS],
    }
    try:
        target_set = resolve_set(config, mirror_set)
        member = resolve_member(target_set, new_primary)
    except RetargetError as err:
        kind = "unknown_member" if isinstance(err, UnknownMember) else "unknown_mirror_set"
        log({**decision, "decision": kind, "error": str(err)})
        raise
    decision["new_primary"] = member.name
    if member.role == ASYNC and not acknowledge_data_loss:
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
        wanted = {arn: member.target_groups[arn] for arn in target_set.listeners}
        pending = [arn for arn in target_set.listeners if before.get(arn) != wanted[arn]]
        if not pending:
            log({**decision, "decision": "already_primary"})
            return _result(mirror_set, previous, member.name, changed=False, dry_run=dry_run, listeners=wanted)

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
                denied = isinstance(err, ClientError) and err.response.get("Error", {}).get("Code") in ACCESS_DENIED
                raise (NotPermitted if denied else RetargetError)(message) from err
            switched.append(arn)
        log({**decision, "decision": "switched", "switched": switched})
        return _result(mirror_set, previous, member.name, changed=True, dry_run=False, listeners=wanted)


def _result(
    mirror_set: str, previous: str | None, new: str, *, changed: bool, dry_run: bool, listeners: dict[str, str]
) -> dict[str, Any]:
    return {
        "mirror_set": mirror_set,
        "previous": previous,
        "new": new,
        "changed": changed,
        "dry_run": dry_run,
        "listeners": listeners,
    }
