"""The polling method: follow the mirror status pages and retarget on change.

Like an NLB health check, each failover member's page is asked every
``interval_seconds``; a member counts as down after ``unhealthy_threshold``
failures in a row and as up after ``healthy_threshold`` answers of 200 in a
row. When the member the VIP points at is down and another failover member is
up, the VIP moves there (through ``retarget``, which asks the page once more).
Async DR members are never promoted here, and when no member is up the VIP
stays where it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from retarget import (
    HTTP_OK,
    Config,
    RetargetError,
    StatusCheck,
    check_status,
    config_from_environment,
    current_primary,
    elbv2_client,
    log_json,
    retarget,
)

DEFAULT_DURATION_SECONDS = 50


@dataclass
class Streak:
    """Consecutive results of one member's health checks."""

    ok: int = 0
    failed: int = 0

    def record(self, healthy: bool) -> None:
        if healthy:
            self.ok, self.failed = self.ok + 1, 0
        else:
            self.ok, self.failed = 0, self.failed + 1


@dataclass
class SetState:
    streaks: dict[str, Streak] = field(default_factory=dict)


def poll(
    elbv2: Any,
    config: Config,
    mirror_sets: Iterable[str],
    *,
    duration_seconds: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    status_check: StatusCheck = check_status,
    log: Callable[[dict[str, Any]], None] = log_json,
) -> list[dict[str, Any]]:
    """Poll every set in ``mirror_sets`` until ``duration_seconds`` have passed."""
    names = list(mirror_sets)
    h = config.health_check
    states = {name: SetState() for name in names}
    results: list[dict[str, Any]] = []
    deadline = clock() + duration_seconds
    while True:
        started = clock()
        for name in names:
            outcome = _check_set(elbv2, config, name, states[name], status_check, log)
            if outcome is not None:
                results.append(outcome)
        if clock() + h.interval_seconds > deadline:
            return results
        sleep(max(0.0, h.interval_seconds - (clock() - started)))


def _check_set(
    elbv2: Any, config: Config, name: str, state: SetState, status_check: StatusCheck, log: Callable[[dict[str, Any]], None]
) -> dict[str, Any] | None:
    h = config.health_check
    mirror_set = config.mirror_sets[name]
    failover = [m for m in mirror_set.members.values() if m.role == "failover"]
    for member in failover:
        healthy = status_check(member.private_ip, h.port, h.path, h.timeout_seconds) == HTTP_OK
        state.streaks.setdefault(member.name, Streak()).record(healthy)
    primary = current_primary(elbv2, mirror_set)
    current = state.streaks.get(primary) if primary else None
    if current is not None and current.failed < h.unhealthy_threshold:
        return None  # the VIP's member is healthy, or not yet declared down
    candidates = [m for m in failover if m.name != primary and state.streaks[m.name].ok >= h.healthy_threshold]
    if not candidates:
        if current is not None and current.failed == h.unhealthy_threshold:
            log({"event": "poll", "mirror_set": name, "decision": "no_healthy_member", "current": primary})
        return None
    new = candidates[0]
    reason = (
        f"polling: {primary or 'no member'} failed {h.unhealthy_threshold} checks, "
        f"{new.name} answered 200 {h.healthy_threshold} times"
    )
    try:
        return retarget(elbv2, config, mirror_set=name, new_primary=new.name, reason=reason, status_check=status_check, log=log)
    except RetargetError:
        return None  # logged by retarget; the next round decides again


def handler(event: dict[str, Any] | None, context: Any = None) -> dict[str, Any]:
    """Scheduled every minute: poll for most of it."""
    event = event or {}
    config = config_from_environment()
    names = [event["mirror_set"]] if event.get("mirror_set") else sorted(config.mirror_sets)
    duration = float(event.get("duration_seconds", DEFAULT_DURATION_SECONDS))
    results = poll(elbv2_client(), config, names, duration_seconds=duration)
    return {"retargets": results}
