"""The polling method: follow the mirror status pages and retarget on change.

Like an NLB health check, each failover member's page is asked every
``interval_seconds``; a member counts as down after ``unhealthy_threshold``
failures in a row and as up after ``healthy_threshold`` answers of 200 in a
row. When the member the VIP points at is down and exactly one other failover
member is up, the VIP moves there (through ``retarget``, which asks the page
once more). Async DR members are never promoted here; when no member is up,
or several claim to be primary, the VIP stays where it is.

One loop serves every mirror set: each round asks every set's members, then
sleeps until the next interval. Counters start afresh with each invocation
(the schedule starts one a minute), so a member is declared down at the
earliest ``unhealthy_threshold`` intervals into an invocation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from retarget import (
    FAILOVER,
    HTTP_OK,
    Config,
    Logger,
    RetargetError,
    StatusCheck,
    UnhealthyPrimary,
    check_status,
    config_from_environment,
    current_primary,
    elbv2_client,
    log_json,
    resolve_set,
    retarget,
)

DEFAULT_DURATION_SECONDS = 50
# Stop polling this long before the function's own timeout: the last round
# still asks the pages and may switch the listeners.
TIMEOUT_MARGIN_SECONDS = 5


@dataclass
class Streak:
    """Consecutive results of one member's health checks, as an NLB counts them."""

    ok: int = 0
    failed: int = 0

    def record(self, healthy: bool) -> None:
        if healthy:
            self.ok, self.failed = self.ok + 1, 0
        else:
            self.ok, self.failed = 0, self.failed + 1


@dataclass
class SetState:
    """What the poller remembers of one mirror set between rounds."""

    streaks: dict[str, Streak] = field(default_factory=dict)
    # The last decision logged, so that a lasting condition is logged once, not every round.
    logged: str | None = None


def poll(
    elbv2: Any,
    config: Config,
    mirror_set: str | Iterable[str],
    *,
    duration_seconds: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    status_check: StatusCheck = check_status,
    log: Logger = log_json,
) -> list[dict[str, Any]]:
    """Poll one mirror set (a name) or several (an iterable of names) until ``duration_seconds`` have passed.

    A round runs at once and then every ``interval_seconds`` while it starts
    within ``duration_seconds`` by ``clock``; each round asks every requested
    set. Returns the results of the retargets performed, in order. A refused
    retarget (the page no longer answers 200) is decided again next round.
    Any other failure (a failed write, AWS unreachable) is logged, polling
    goes on for the other sets and rounds, and a RetargetError naming the
    failures is raised at the end, so the invocation fails and alarms.
    """
    names = [mirror_set] if isinstance(mirror_set, str) else list(mirror_set)
    for name in names:
        resolve_set(config, name)  # UnknownMirrorSet before any round
    interval = config.health_check.interval_seconds
    states = {name: SetState() for name in names}
    results: list[dict[str, Any]] = []
    failures: list[str] = []
    deadline = clock() + duration_seconds
    while True:
        started = clock()
        for name in names:
            try:
                outcome = _round(elbv2, config, name, states[name], status_check, log)
            except RetargetError as err:  # a failed switch, already logged by retarget
                failures.append(f"{name}: {err}")
                continue
            except (ClientError, BotoCoreError) as err:  # reading the listeners failed, after botocore's retries
                failures.append(f"{name}: {err}")
                _note(states[name], log, {"event": "poll", "mirror_set": name, "decision": "error", "error": str(err)})
                continue
            if outcome is not None:
                results.append(outcome)
        if clock() + interval > deadline:
            break
        sleep(max(0.0, interval - (clock() - started)))
    if failures:
        raise RetargetError(f"polling failed {len(failures)} time(s); first: {failures[0]}")
    return results


def _note(state: SetState, log: Logger, record: dict[str, Any]) -> None:
    """Log ``record`` unless the same decision was the last one logged for this set."""
    key = f"{record['decision']}:{record.get('error', '')}"
    if state.logged != key:
        log(record)
        state.logged = key


def _round(
    elbv2: Any, config: Config, name: str, state: SetState, status_check: StatusCheck, log: Logger
) -> dict[str, Any] | None:
    """Ask the members once; retarget if the VIP's member is down and one other failover member is up."""
    h = config.health_check
    mirror_set = config.mirror_sets[name]
    primary = current_primary(elbv2, mirror_set)
    failover = [m for m in mirror_set.members.values() if m.role == FAILOVER]
    # The failover members, and the VIP's member even if async (a person promoted
    # it): it is left alone while it answers 200.
    watched = [*failover]
    if primary is not None and mirror_set.members[primary].role != FAILOVER:
        watched.append(mirror_set.members[primary])
    for member in watched:
        healthy = status_check(member.private_ip, h.port, h.path, h.timeout_seconds) == HTTP_OK
        state.streaks.setdefault(member.name, Streak()).record(healthy)

    current = state.streaks.get(primary) if primary is not None else None
    if current is not None and current.failed < h.unhealthy_threshold:
        state.logged = None  # the VIP's member is up (or not yet declared down): a new outage is logged again
        return None
    up = [m for m in failover if m.name != primary and state.streaks[m.name].ok >= h.healthy_threshold]
    record = {"event": "poll", "mirror_set": name, "current": primary}
    if not up:
        others = [m for m in failover if m.name != primary]
        if all(state.streaks[m.name].failed >= h.unhealthy_threshold for m in others):
            _note(state, log, {**record, "decision": "no_healthy_member"})
        return None  # every member is down, or the counts are not in yet: the VIP stays
    if len(up) > 1:
        # Only the primary answers 200: two answers mean no member can be trusted.
        _note(state, log, {**record, "decision": "several_claim_primary", "members": [m.name for m in up]})
        return None
    new = up[0]
    reason = (
        f"polling: {primary or 'no single member'} failed {h.unhealthy_threshold} checks in a row, "
        f"{new.name} answered {HTTP_OK} {h.healthy_threshold} times in a row"
    )
    try:
        result = retarget(elbv2, config, mirror_set=name, new_primary=new.name, reason=reason, status_check=status_check, log=log)
    except UnhealthyPrimary:
        return None  # logged by retarget; the next round decides again
    state.logged = None
    return result


# The scheduled event: key -> what it must be.
EVENT_KEYS = {"mirror_set": "a non-empty string", "duration_seconds": "a number of at least 0"}


def validate_event(event: Any) -> dict[str, Any]:
    """The poller's event, checked: RetargetError naming what is wrong; None is an empty event."""
    if event is None:
        return {}
    if not isinstance(event, dict):
        raise RetargetError(f"the poller's event must be an object with {', '.join(EVENT_KEYS)}; got {type(event).__name__}")
    unknown = sorted(str(k)[:64] for k in set(event) - set(EVENT_KEYS))
    if unknown:
        raise RetargetError(f"unknown event key(s) {', '.join(unknown[:5])}; allowed: {', '.join(EVENT_KEYS)}")
    mirror_set = event.get("mirror_set")
    if mirror_set is not None and (not isinstance(mirror_set, str) or not mirror_set.strip()):
        raise RetargetError(f"event key 'mirror_set' must be {EVENT_KEYS['mirror_set']}; got {str(mirror_set)[:64]!r}")
    duration = event.get("duration_seconds", DEFAULT_DURATION_SECONDS)
    if isinstance(duration, bool) or not isinstance(duration, int | float) or not duration >= 0:
        raise RetargetError(f"event key 'duration_seconds' must be {EVENT_KEYS['duration_seconds']}; got {str(duration)[:64]!r}")
    return event


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    """Scheduled every minute: poll every mirror set (or ``event["mirror_set"]``) for most of it.

    The event may carry ``duration_seconds`` (default 50); it is cut so that
    polling ends ``TIMEOUT_MARGIN_SECONDS`` before the function's timeout. An
    event that is not an object of those keys is refused with one log line.
    """
    try:
        event = validate_event(event)
    except RetargetError as err:
        log_json({"event": "poll", "decision": "refused_invalid_event", "error": str(err)})
        raise
    config = config_from_environment()
    mirror_set = event.get("mirror_set")
    try:
        names = [resolve_set(config, mirror_set).name] if mirror_set else sorted(config.mirror_sets)
    except RetargetError as err:
        log_json({"event": "poll", "decision": "unknown_mirror_set", "mirror_set": str(mirror_set)[:64], "error": str(err)})
        raise
    duration = event.get("duration_seconds", DEFAULT_DURATION_SECONDS)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        duration = max(0.0, min(float(duration), remaining() / 1000 - TIMEOUT_MARGIN_SECONDS))
    results = poll(elbv2_client(), config, names, duration_seconds=float(duration))
    return {"retargets": results}
