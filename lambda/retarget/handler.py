"""Lambda entry points: direct calls and CloudFormation custom-resource events.

Both reach ``retarget`` and let its errors raise: Lambda records the failure,
the function's error alarm fires, and the Provider framework reports a failed
custom resource to CloudFormation. The two never share a function
(entry.py): a direct call can never ask for what only the deploy-time custom
resource may do, skip the status check.
"""

from __future__ import annotations

import time
from typing import Any

from retarget import (
    MAX_REASON_CHARS,
    NotPermitted,
    RequestRefused,
    RetargetError,
    bound_mirror_set,
    config_from_environment,
    elbv2_client,
    log_json,
    resolve_set,
    retarget,
)

# Direct-call event: key -> (type, required). Optional keys default to
# acknowledge_data_loss false, dry_run false, verify true. verify may only be
# true: the status check is never skipped on a direct call.
EVENT_KEYS: dict[str, tuple[type, bool]] = {
    "mirror_set": (str, True),
    "new_primary": (str, True),
    "reason": (str, True),
    "acknowledge_data_loss": (bool, False),
    "dry_run": (bool, False),
    "verify": (bool, False),
}
# Longest text of an event value repeated in a refusal's log line.
MAX_LOGGED_CHARS = 64
# Custom::IrisMirrorPrimary properties; CloudFormation adds ServiceToken, which is ignored.
CR_PROPERTIES = ("MirrorSet", "DesiredPrimary")
PHYSICAL_ID_SUFFIX = "-vip-primary"
# A set's stack grants the function ModifyListener just before its custom resource asks for the
# initial primary; IAM may take seconds to apply a new grant. A Create retries a refused write
# this often, this far apart, well inside the function's 30 s timeout.
CREATE_ATTEMPTS = 4
CREATE_RETRY_SECONDS = 5.0
_sleep = time.sleep


def _shown(value: Any) -> Any:
    """An event value as a refusal's log line repeats it: strings cut to MAX_LOGGED_CHARS."""
    if isinstance(value, str) and len(value) > MAX_LOGGED_CHARS:
        return f"{value[:MAX_LOGGED_CHARS]}... ({len(value)} characters)"
    return value


def caller(context: Any) -> dict[str, Any]:
    """Who called, as far as Lambda tells a function: the entry invoked (which IAM lets only
    its mirror set's member role, or an administrator, invoke) and the request id, which
    CloudTrail's Lambda data events record beside the calling principal."""
    return {
        "entry": getattr(context, "invoked_function_arn", None),
        "request_id": getattr(context, "aws_request_id", None),
    }


def refuse(event: Any, context: Any, decision: str, message: str, *, kind: str = "retarget") -> RequestRefused:
    """Log the one decision line of a refused request (who, which set, why) and return the error to raise."""
    mirror_set = event.get("mirror_set") if isinstance(event, dict) else None
    log_json(
        {
            "event": kind,
            "decision": decision,
            "mirror_set": _shown(mirror_set),
            "served_set": bound_mirror_set(),
            **caller(context),
            "error": message,
        }
    )
    return RequestRefused(message)


def validate_event(event: Any) -> dict[str, Any]:
    """The direct-call event, checked: RequestRefused naming a missing, unknown or mistyped key,
    a reason longer than MAX_REASON_CHARS, or ``verify`` false."""
    if not isinstance(event, dict):
        raise RequestRefused(f"the event must be an object with {', '.join(EVENT_KEYS)}; got {type(event).__name__}")
    unknown = sorted(set(event) - set(EVENT_KEYS))
    if unknown:
        shown = ", ".join(str(_shown(k)) for k in unknown[:5])
        raise RequestRefused(f"unknown event key(s) {shown}; allowed: {', '.join(EVENT_KEYS)}")
    for key, (kind, required) in EVENT_KEYS.items():
        if key not in event:
            if required:
                raise RequestRefused(f"the event lacks {key!r} ({kind.__name__})")
            continue
        if not isinstance(event[key], kind) or (kind is str and not event[key].strip()):
            raise RequestRefused(f"event key {key!r} must be a non-empty {kind.__name__}; got {_shown(event[key])!r}")
    if len(event["reason"]) > MAX_REASON_CHARS:
        raise RequestRefused(f"event key 'reason' must be at most {MAX_REASON_CHARS} characters; got {len(event['reason'])}")
    if event.get("verify") is False:
        raise RequestRefused(
            "verify false is refused on a direct call: the new primary's status page is always asked; "
            "only the deploy-time custom resource's Create skips it"
        )
    return event


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    """A direct call: ^ZMIRROR's NotifyBecomePrimary, the operator CLI, the drill.

    Returns retarget()'s result; raises RetargetError (or a subclass) when the
    event is invalid or the retarget is refused or fails. A set's own function
    (``RETARGET_MIRROR_SET``) serves that set only. Every decision, refusals
    included, is one log line naming the entry invoked and the request id.
    """
    if isinstance(event, dict) and "RequestType" in event:
        message = "custom-resource events go to the deploy-time function only"
        raise refuse(event, context, "refused_custom_resource_event", message)
    try:
        e = validate_event(event)
    except RequestRefused as err:
        raise refuse(event, context, "refused_invalid_event", str(err)) from None
    served = bound_mirror_set()
    if served is not None and e["mirror_set"] != served:
        raise refuse(
            event,
            context,
            "refused_other_set",
            f"this function serves mirror set {served!r} only; {_shown(e['mirror_set'])!r} has its own, "
            "which only that set's members may invoke",
        )
    who = caller(context)
    return retarget(
        elbv2_client(),
        config_from_environment(),
        mirror_set=e["mirror_set"],
        new_primary=e["new_primary"],
        reason=e["reason"],
        acknowledge_data_loss=e.get("acknowledge_data_loss", False),
        verify=True,
        dry_run=e.get("dry_run", False),
        log=lambda record: log_json({**record, **who}),
    )


def _refuse_custom_resource(request: Any, decision: str, message: str) -> RetargetError:
    """Log the one decision line of a refused custom-resource event and return the error to raise."""
    log_json({"event": "custom_resource", "request": _shown(request), "decision": decision, "error": message})
    return RetargetError(message)


def _properties(request: Any, props: Any) -> tuple[str, str]:
    if not isinstance(props, dict):
        message = f"Custom::IrisMirrorPrimary has no ResourceProperties object; got {type(props).__name__}"
        raise _refuse_custom_resource(request, "refused_invalid_properties", message)
    missing = [key for key in CR_PROPERTIES if not isinstance(props.get(key), str) or not props[key].strip()]
    if missing:
        message = (
            f"Custom::IrisMirrorPrimary lacks {', '.join(missing)} (non-empty strings); got {_shown(props.get(missing[0]))!r}"
        )
        raise _refuse_custom_resource(request, "refused_invalid_properties", message)
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

    if request not in ("Create", "Update"):
        message = f"unknown RequestType {_shown(request)!r}; allowed: Create, Update, Delete"
        raise _refuse_custom_resource(request, "refused_unknown_request", message)
    mirror_set, desired = _properties(request, event.get("ResourceProperties"))
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
    else:  # Update
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
    return {"PhysicalResourceId": physical_id, "Data": {"Primary": result["new"]}}
