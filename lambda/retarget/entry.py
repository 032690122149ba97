"""The functions' entry points: direct calls and deploy-time custom-resource events never share one.

``entry.handler``: a mirror set's own function (^ZMIRROR, the operator CLI)
and the DR region's function. Direct calls only: a custom-resource event is
refused, and so is ``verify`` false.

``entry.deploy``: the data tier's deploy-time function, behind the Provider
framework, whose role alone may invoke it. Custom-resource events only: its
Create is the one retarget that skips the status check (IRIS is not
installed yet).
"""

from __future__ import annotations

from typing import Any

from handler import handler as direct_call
from handler import on_event, refuse

CUSTOM_RESOURCE_TYPE = "Custom::IrisMirrorPrimary"


def handler(event: Any, context: Any) -> dict[str, Any]:
    return direct_call(event, context)


def deploy(event: Any, context: Any) -> dict[str, Any]:
    if not isinstance(event, dict) or "RequestType" not in event or event.get("ResourceType") != CUSTOM_RESOURCE_TYPE:
        raise refuse(
            event,
            context,
            "refused_not_custom_resource",
            f"this function serves {CUSTOM_RESOURCE_TYPE} events from the Provider framework only; "
            "direct calls go to the mirror set's own function",
            kind="custom_resource",
        )
    return on_event(event, context)
