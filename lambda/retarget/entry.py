"""The function's entry point.

One function serves custom-resource events (from the CDK Provider framework)
and direct calls (^ZMIRROR, the operator CLI), so that its reserved
concurrency of 1 keeps every retarget of the stack one after the other.
"""

from __future__ import annotations

from typing import Any

from handler import handler as direct_call
from handler import on_event


def handler(event: Any, context: Any) -> dict[str, Any]:
    if isinstance(event, dict) and "RequestType" in event:
        return on_event(event, context)
    return direct_call(event, context)
