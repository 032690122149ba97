"""Lambda entry points: direct calls and CloudFormation custom-resource events.

Both reach ``retarget`` and let its errors raise: Lambda records the failure,
the function's error alarm fires, and the Provider framework reports a failed
custom resource to CloudFormation.
"""

from __future__ import annotations

import time
from typing import Any

from retarget import NotPermitted, RetargetError, config_from_environment, elbv2_client, log_json, resolve_set, retarget

# Direct-call event: key -> (type, required). Optional keys default to
# acknowledge_data_loss false, dry_run false, verify true.
EVENT_KEYS: dict[str, tuple[type, bool]] = {
    "mirror_set": (str, True),
    "new_primary": (str, True),
    "reason": (str, True),
    "acknowledge_data_loss": (bool, False),
    "dry_run": (bool, False),
    "verify": (bool, False),
}
# Custom::IrisMirrorPrimary properties; CloudFormation adds ServiceToken, which is ignored.
CR_PROPERTIES = ("MirrorSet", "DesiredPrimary")
PHYSICAL_ID_SUFFIX = "-vip-primary"
# A set's stack grants the function ModifyListener just before its custom resource asks for the
# initial primary; IAM may take seconds to apply a new grant. A Create retries a refused write
# this often, this far apart, well inside the function's 30 s timeout.
CREATE_ATTEMPTS = 4
CREATE_RETRY_SECONDS = 5.0
_sleep = time.sleep


def validate_event(event: Any) -> dict[str, Any]:
    """The direct-call event, checked: RetargetError naming a missing, unknown or mistyped key."""
    if not isinstance(event, dict):
        raise RetargetError(f"the event must be an object with {', '.join(EVENT_KEYS)}; got {type(event).__name__}")
    unknown = sorted(set(event) - set(EVENT_KEYS))
    if unknown:
        raise RetargetError(f"unknown event key(s) {', '.join(unknown)}; allowed: {', '.join(EVENT_KEYS)}")
    for key, (kind, required) in EVENT_KEYS.items():
        if key not in event:
            if required:
                raise RetargetError(f"the event lacks {key!r} ({kind.__name__})")
            continue
        if not isinstance(event[key], kind) or (kind is str and not event[key].strip()):
            raise RetargetError(f"event key {key!r} must be a non-empty {kind.__name__}; got {event[key]!r}")
    return event


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    """A direct call: ^ZMIRROR's NotifyBecomePrimary, the operator CLI, the drill.

    Returns retarget()'s result; raises RetargetError (or a subclass) when the
    event is invalid or the retarget is refused or fails.
    """
    e = validate_event(event)
    return retarget(
        elbv2_client(),
        config_from_environment(),
        mirror_set=e["mirror_set"],
        new_primary=e["new_primary"],
        reason=e["reason"],
        acknowledge_data_loss=e.get("acknowledge_data_loss", False),
        verify=e.get("verify", True),
        dry_run=e.get("dry_run", False),
    )


def _properties(props: Any) -> tuple[str, str]:
    if not isinstance(props, dict):
        raise RetargetError(f"Custom::IrisMirrorPrimary has no ResourceProperties object; got {type(props).__name__}")
    missing = [key for key in CR_PROPERTIES if not isinstance(props.get(key), str) or not props[key].strip()]
    if missing:
        raise RetargetError(
            f"Custom::IrisMirrorPrimary lacks {', '.join(missing)} (non-empty strings); got {props.get(missing[0])!r}"
        )
    return props["MirrorSet"], props["DesiredPrimary"]


def on_event(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """The CDK Provider framework's onEvent: return data on success, raise on failure.

    Create points the set at DesiredPrimary without the status check (IRIS is
    not installed yet). Update acts only when DesiredPrimary changed: that is
    a planned failover, checked like any other. Any other update (new code,
    other properties) writes nothing, so a deployment never moves traffic
    away from a primary chosen at run time. Delete changes nothing and never
    fails, so it cannot block a stack's deletion or rollback.

    The PhysicalResourceId stays ``<mirror set>-vip-primary`` across updates:
    a new id would make CloudFormation send a Delete for the old one.
    """
    request = event.get("RequestType")
    if request == "Delete":
        log_json(
            {
                "event": "custom_resource",
                "request": request,
                "physical_resource_id": event.get("PhysicalResourceId"),
                "decision": "delete_changes_nothing",
            }
        )
        return {"PhysicalResourceId": event.get("PhysicalResourceId")}

    mirror_set, desired = _properties(event.get("ResourceProperties"))
    physical_id = event.get("PhysicalResourceId") or f"{mirror_set}{PHYSICAL_ID_SUFFIX}"
    config = config_from_environment()
    if request == "Create":
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                result = retarget(
                    elbv2_client(),
                    config,
                    mirror_set=mirror_set,
                    new_primary=desired,
                    reason="initial primary (deploy)",
                    verify=False,
                )
                break
            except NotPermitted:
                if attempt == CREATE_ATTEMPTS:
                    raise
                _sleep(CREATE_RETRY_SECONDS)
    elif request == "Update":
        old = (event.get("OldResourceProperties") or {}).get("DesiredPrimary")
        if old == desired:
            resolve_set(config, mirror_set)  # still fail loudly on a set that no longer exists
            log_json(
                {
                    "event": "custom_resource",
                    "request": request,
                    "mirror_set": mirror_set,
                    "desired_primary": desired,
                    "decision": "unchanged_desired_primary_no_write",
                }
            )
            return {"PhysicalResourceId": physical_id, "Data": {"Primary": desired}}
        result = retarget(
            elbv2_client(), config, mirror_set=mirror_set, new_primary=desired, reason=f"planned failover from {old} (deploy)"
        )
    else:
        raise RetargetError(f"unknown RequestType {request!r}; allowed: Create, Update, Delete")
    return {"PhysicalResourceId": physical_id, "Data": {"Primary": result["new"]}}
