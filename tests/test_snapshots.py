"""One JSON snapshot per stack and profile: a backstop that shows every
template change in review. Refresh deliberately with `make update-snapshots`."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from tests.conftest import Synthesized

# Asset hashes change with the bytes of an asset (or the CDK version), not
# with the infrastructure; they are replaced before comparing.
_HASH = re.compile(r"[0-9a-f]{64}")


def normalized(template: dict[str, Any]) -> Any:
    return json.loads(_HASH.sub("<asset-hash>", json.dumps(template, sort_keys=True)))


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


STACK_ROLES = ["network", "data_tier", "app_tier", "dr_network", "dr_region", "dr_dns", "eks"]


@pytest.mark.parametrize("role", STACK_ROLES)
def test_template_snapshot(assembly: Synthesized, role: str, snapshot_json) -> None:
    assert normalized(assembly.template_json(role)) == snapshot_json


def test_every_stack_has_a_snapshot(assembly: Synthesized) -> None:
    assert sorted(assembly.stacks) == sorted(STACK_ROLES)


def test_normalization_replaces_asset_hashes_only() -> None:
    template = {"S3Key": "0" * 63 + "a.zip", "Other": "vpc-12345"}
    assert normalized(template) == {"S3Key": "<asset-hash>.zip", "Other": "vpc-12345"}
