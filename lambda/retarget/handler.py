"""Lambda entry points: direct calls and CloudFormation custom-resource events."""

from __future__ import annotations

from typing import Any

from retarget import RetargetError, config_from_environment, elbv2_client, log_json, resolve_set, retarget

# Direct-call event: key -> (type, required)
EVENT_KEYS: dict[str, tuple[type, bool]] = {
    "mirror_set": (str, True),
    "new_primary": (str, True),
    "reason": (str, True),
    "acknowledge_data_loss": (bool, False),
    "dry_run": (bool, False),
    "verify": (bool, False),
}
CR_PROPERTIES = ("MirrorSet", "DesiredPrimary")


def validate_event(event: Any) -> dict[str, Any]:
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
    """A direct call: ^ZMIRROR's NotifyBecomePrimary, the operator CLI, the drill."""
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


def on_event(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """The CDK Provider framework's onEvent: return data on success, raise on failure.

    Create points the set at DesiredPrimary without the status check (IRIS is
    not installed yet). Update acts only when DesiredPrimary changed: that is a
    planned failover, checked like any other. Any other update (new code, new
    properties) writes nothing, so a deployment never moves traffic away from
    a primary chosen at run time. Delete changes nothing.
    """
    request = event["RequestType"]
    props = event.get("ResourceProperties", {})
    missing = [key for key in CR_PROPERTIES if not props.get(key)]
    if missing:
        raise RetargetError(f"Custom::IrisMirrorPrimary lacks {', '.join(missing)}")
    mirror_set, desired = props["MirrorSet"], props["DesiredPrimary"]
    physical_id = event.get("PhysicalResourceId") or f"{mirror_set}-vip-primary"
    record = {"event": "custom_resource", "request": request, "mirror_set": mirror_set, "desired_primary": desired}

    if request == "Delete":
        log_json({**record, "decision": "delete_changes_nothing"})
        return {"PhysicalResourceId": physical_id}
    config = config_from_environment()
    if request == "Update":
        old = event.get("OldResourceProperties", {}).get("DesiredPrimary")
        if old == desired:
            resolve_set(config, mirror_set)  # still fail loudly on a set that no longer exists
            log_json({**record, "decision": "unchanged_desired_primary_no_write"})
            return {"PhysicalResourceId": physical_id, "Data": {"Primary": desired}}
        result = retarget(
            elbv2_client(), config, mirror_set=mirror_set, new_primary=desired, reason=f"planned failover from {old} (deploy)"
        )
    elif request == "Create":
        result = retarget(
            elbv2_client(), config, mirror_set=mirror_set, new_primary=desired, reason="initial primary (deploy)", verify=False
        )
    else:
        raise RetargetError(f"unknown RequestType {request!r}")
    return {"PhysicalResourceId": physical_id, "Data": {"Primary": result["new"]}}
