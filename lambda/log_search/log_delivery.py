"""CloudWatch Logs subscription -> OpenSearch: each batch of log events becomes one bulk request.

A subscription delivers a gzip'd, base64'd JSON batch of one log group's
events. Each event is indexed into ``logs-<source>-<UTC day of the event>``
with the event's own id as document id, so a batch delivered twice (Lambda
retries a failed asynchronous invocation) indexes each event once. Any
refused document fails the invocation: Lambda retries it, then puts it in the
function's dead-letter queue, so no batch is dropped without a trace. The
CloudWatch log group keeps every event whatever happens here.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from search_http import SearchClient, SearchError, Transport, urllib_transport

ENDPOINT_VARIABLE = "SEARCH_ENDPOINT"
SOURCES_VARIABLE = "LOG_SOURCES"  # {"<log group name>": "<source>"}
INDEX_PREFIX = "logs-"
OTHER_SOURCE = "other"
SOURCE = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")


def decode(event: Mapping[str, Any]) -> dict[str, Any]:
    """The subscription's batch: ``messageType``, ``logGroup``, ``logStream``, ``logEvents`` ..."""
    data = event["awslogs"]["data"]
    batch: dict[str, Any] = json.loads(gzip.decompress(base64.b64decode(data)))
    return batch


def index_name(source: str, timestamp_ms: int) -> str:
    day = datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC).strftime("%Y.%m.%d")
    return f"{INDEX_PREFIX}{source}-{day}"


def document(batch: Mapping[str, Any], log_event: Mapping[str, Any]) -> dict[str, Any]:
    """One event as a document; a message that is a JSON object (the retarget function's decisions,
    Fluent Bit's container records) is kept whole and also parsed into ``fields``."""
    message = log_event["message"]
    doc: dict[str, Any] = {
        "@timestamp": datetime.fromtimestamp(log_event["timestamp"] / 1000, tz=UTC).isoformat(timespec="milliseconds"),
        "message": message,
        "log_group": batch["logGroup"],
        "log_stream": batch["logStream"],
        "account": batch.get("owner"),
    }
    if message.lstrip().startswith("{"):
        try:
            parsed = json.loads(message)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            doc["fields"] = parsed
    return doc


def bulk_body(batch: Mapping[str, Any], source: str) -> bytes:
    lines: list[str] = []
    for log_event in batch["logEvents"]:
        action = {"index": {"_index": index_name(source, log_event["timestamp"]), "_id": log_event["id"]}}
        lines += [json.dumps(action), json.dumps(document(batch, log_event))]
    return ("\n".join(lines) + "\n").encode()


def refused(answer: Mapping[str, Any]) -> list[str]:
    """What the bulk answer refused: one line per failed document."""
    if not answer.get("errors"):
        return []
    lines = []
    for item in answer.get("items", []):
        result = next(iter(item.values()))
        if result.get("status", 500) >= 300:
            error = result.get("error") or {}
            reason = error.get("reason", error) if isinstance(error, dict) else error
            lines.append(f"{result.get('_index')}/{result.get('_id')}: HTTP {result.get('status')}: {reason}")
    return lines


def deliver(batch: Mapping[str, Any], *, client: SearchClient, sources: Mapping[str, str]) -> dict[str, Any]:
    if batch.get("messageType") == "CONTROL_MESSAGE":
        return {"indexed": 0, "control": True}
    source = sources.get(batch["logGroup"], OTHER_SOURCE)
    if not SOURCE.match(source):
        raise ValueError(f"source {source!r} of {batch['logGroup']} is not an index name part")
    events: Iterable[Any] = batch.get("logEvents") or []
    if not events:
        return {"indexed": 0}
    answer = client.request("POST", "/_bulk", raw=bulk_body(batch, source), content_type="application/x-ndjson").json()
    failures = refused(answer)
    if failures:
        raise SearchError(
            f"{len(failures)} of {len(batch['logEvents'])} events of {batch['logGroup']} refused: " + "; ".join(failures[:5])
        )
    print(
        json.dumps({"event": "delivered", "log_group": batch["logGroup"], "source": source, "indexed": len(batch["logEvents"])})
    )
    return {"indexed": len(batch["logEvents"])}


def handler(event: Mapping[str, Any], _context: object = None, *, transport: Transport = urllib_transport) -> dict[str, Any]:
    client = SearchClient(os.environ[ENDPOINT_VARIABLE], os.environ["AWS_REGION"], transport=transport)
    sources: dict[str, str] = json.loads(os.environ.get(SOURCES_VARIABLE, "{}"))
    return deliver(decode(event), client=client, sources=sources)
