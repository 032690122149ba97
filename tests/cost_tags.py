"""Which CloudFormation resource types are taggable, and which resources of a
template lack a cost allocation tag.

Taggability comes from the resource schemas that cfn-lint ships (each
schema's ``tagging`` section names whether the type is taggable and which
property holds the tags), so the list follows the pinned cfn-lint, not a
hand-kept list.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

SCHEMA_REGION = "eu-west-1"


@cache
def _schemas() -> dict[str, str]:
    data = resources.files("cfnlint") / "data" / "schemas"
    return json.loads((data / "providers" / f"{SCHEMA_REGION}.json").read_text())  # type: ignore[no-any-return]


@cache
def tag_property(resource_type: str) -> str | None:
    """The property that holds a type's tags, or None when the type is not taggable."""
    schema_id = _schemas().get(resource_type)
    if schema_id is None:
        return None  # custom resources and types the region does not offer
    data = resources.files("cfnlint") / "data" / "schemas" / "resources" / f"{schema_id}.json"
    tagging = json.loads(data.read_text()).get("tagging", {})
    if not tagging.get("taggable"):
        return None
    prop = tagging.get("tagProperty", "/properties/Tags")
    return prop.removeprefix("/properties/")  # type: ignore[no-any-return]


def tags_of(value: Any) -> dict[str, Any]:
    """Tags as a dict, from a list of {Key, Value} (any key case) or a map."""
    if isinstance(value, dict):
        return dict(value)
    result = {}
    for tag in value or []:
        lowered = {k.lower(): v for k, v in tag.items()}
        result[lowered["key"]] = lowered.get("value")
    return result


def untagged(template: dict[str, Any], required: dict[str, str]) -> list[str]:
    """``logical id (type): missing keys`` for each taggable resource that lacks one of ``required``."""
    problems = []
    for logical_id, resource in template.get("Resources", {}).items():
        prop = tag_property(resource["Type"])
        if prop is None:
            continue
        tags = tags_of(resource.get("Properties", {}).get(prop))
        missing = sorted(k for k, v in required.items() if tags.get(k) != v)
        if missing:
            problems.append(f"{logical_id} ({resource['Type']}): {', '.join(missing)}")
    return problems
