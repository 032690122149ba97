"""Custom::LogSearchSetup: what the domain's own REST API configures, applied at deploy time.

The function's role is the domain's fine-grained access control master user
(an IAM role; no internal user, no password). Each create or update puts:

- the ``log_writer`` role (bulk writes to ``logs-*`` only) mapped to the delivery function's role;
- the operators' roles mapped to ``readall`` and ``opensearch_dashboards_user``;
- the ISM policy ``logs-lifecycle`` over ``logs-*``: hot, then read-only and merged, then deleted;
- audit logging on (the domain publishes the audit log to CloudWatch only once the security plugin's
  audit configuration is enabled).

A delete changes nothing: the domain is retained with its configuration.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from search_http import SearchClient, Transport, urllib_transport

POLICY_ID = "logs-lifecycle"
WRITER_ROLE = "log_writer"
READER_ROLES = ("readall", "opensearch_dashboards_user")
INDEX_PATTERN = "logs-*"
SECURITY = "/_plugins/_security/api"


def writer_role() -> dict[str, Any]:
    return {
        "cluster_permissions": ["indices:data/write/bulk"],
        "index_permissions": [
            {"index_patterns": [INDEX_PATTERN], "allowed_actions": ["indices:data/write/index", "indices:data/write/bulk*",
                                                                     "indices:admin/create", "indices:admin/mapping/put"]}
        ],
    }  # fmt: skip


def lifecycle_policy(hot_days: int, delete_after_days: int) -> dict[str, Any]:
    """Hot for ``hot_days``, then read-only and merged to one segment, deleted at ``delete_after_days`` (index age)."""
    if not 1 <= hot_days < delete_after_days:
        raise ValueError(f"hot_days {hot_days} must be at least 1 and below delete_after_days {delete_after_days}")
    return {
        "policy": {
            "description": f"Log indices: hot {hot_days} d, then read-only, deleted after {delete_after_days} d",
            "default_state": "hot",
            "states": [
                {
                    "name": "hot",
                    "actions": [],
                    "transitions": [{"state_name": "read_only", "conditions": {"min_index_age": f"{hot_days}d"}}],
                },
                {
                    "name": "read_only",
                    "actions": [{"read_only": {}}, {"force_merge": {"max_num_segments": 1}}],
                    "transitions": [{"state_name": "delete", "conditions": {"min_index_age": f"{delete_after_days}d"}}],
                },
                {"name": "delete", "actions": [{"delete": {}}], "transitions": []},
            ],
            "ism_template": [{"index_patterns": [INDEX_PATTERN], "priority": 100}],
        }
    }  # fmt: skip


def put_policy(client: SearchClient, policy: Mapping[str, Any]) -> str:
    """Create the ISM policy, or replace it at its current sequence number (ISM refuses a blind overwrite)."""
    current = client.request("GET", f"/_plugins/_ism/policies/{POLICY_ID}", ok=(200, 404))
    if current.status == 404:
        client.request("PUT", f"/_plugins/_ism/policies/{POLICY_ID}", policy)
        return "created"
    seen = current.json()
    path = f"/_plugins/_ism/policies/{POLICY_ID}?if_seq_no={seen['_seq_no']}&if_primary_term={seen['_primary_term']}"
    client.request("PUT", path, policy)
    return "updated"


def configure(
    client: SearchClient, *, writer_role_arn: str, reader_role_arns: Sequence[str], hot_days: int, delete_after_days: int
) -> dict[str, str]:
    client.request("PUT", f"{SECURITY}/roles/{WRITER_ROLE}", writer_role())
    client.request("PUT", f"{SECURITY}/rolesmapping/{WRITER_ROLE}", {"backend_roles": [writer_role_arn]})
    for role in READER_ROLES:
        client.request("PUT", f"{SECURITY}/rolesmapping/{role}", {"backend_roles": list(reader_role_arns)})
    policy = put_policy(client, lifecycle_policy(hot_days, delete_after_days))
    client.request("PATCH", f"{SECURITY}/audit", [{"op": "replace", "path": "/config/enabled", "value": True}])
    return {"Policy": POLICY_ID, "PolicyChange": policy, "WriterRole": WRITER_ROLE}


def on_event(event: Mapping[str, Any], _context: object = None, *, transport: Transport = urllib_transport) -> dict[str, Any]:
    """The Provider framework's entry: returns data on success, raises on failure."""
    request = event["RequestType"]
    if request == "Delete":
        return {"PhysicalResourceId": event["PhysicalResourceId"]}
    p = event["ResourceProperties"]
    client = SearchClient(p["Endpoint"], os.environ["AWS_REGION"], transport=transport)
    data = configure(
        client,
        writer_role_arn=p["WriterRoleArn"],
        reader_role_arns=list(p.get("ReaderRoleArns") or []),
        hot_days=int(p["HotDays"]),
        delete_after_days=int(p["DeleteAfterDays"]),
    )
    return {"PhysicalResourceId": f"{p['Endpoint']}/log-search-setup", "Data": data}
