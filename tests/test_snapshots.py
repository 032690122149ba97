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


# A stack per mirror set: the application's set stands for every set of its region (the others differ in names and sizes).
STACK_ROLES = [
    "pki",
    "audit",
    "network",
    "data_tier",
    "mirror",
    "app_tier",
    "dr_network",
    "dr_region",
    "dr_mirror",
    "dr_web",
    "dr_dns",
    "eks_network",
    "eks",
]
PER_SET = ("mirror", "dr_mirror")
# Stacks a setting switches on (the reference profile has them): ops.log_search.enabled, dr.replicate_buckets.
OPTIONAL = ("log_search", "dr_replicas")


def stack_role(assembly: Synthesized, role: str) -> str:
    return f"{role}_{assembly.settings.app.mirror_set}" if role in PER_SET else role


@pytest.mark.parametrize("role", STACK_ROLES)
def test_template_snapshot(assembly: Synthesized, role: str, snapshot_json) -> None:
    assert normalized(assembly.template_json(stack_role(assembly, role))) == snapshot_json


@pytest.mark.parametrize("role", OPTIONAL)
def test_optional_stack_snapshot(reference: Synthesized, role: str, snapshot_json) -> None:
    assert normalized(reference.template_json(role)) == snapshot_json


def test_every_stack_has_a_snapshot(assembly: Synthesized) -> None:
    kinds = {next((kind for kind in PER_SET if role.startswith(f"{kind}_")), role) for role in assembly.stacks} - set(OPTIONAL)
    assert sorted(kinds) == sorted(STACK_ROLES)
    per_set = [role for role in assembly.stacks if role.startswith(PER_SET)]
    s = assembly.settings
    assert len(per_set) == len(s.data.mirror_sets) + (len(s.dr.mirror_sets) if s.dr else 0)


def test_normalization_replaces_asset_hashes_only() -> None:
    template = {"S3Key": "0" * 63 + "a.zip", "Other": "vpc-12345"}
    assert normalized(template) == {"S3Key": "<asset-hash>.zip", "Other": "vpc-12345"}
