"""Sixteen mirror sets: every stack stays within CloudFormation's limits.

A HealthShare deployment runs a mirror set per product. Each set is a stack
of its own, so the stacks that grow with the number of sets are only the
sets' own, in both regions; this synthesizes the reference profile with
MAX_MIRROR_SETS sets, each with a DR member (without the nag packs, which the
compliance tests run on the shipped profiles, and without EKS), and counts.
"""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest

import app as app_module
from config import constants as c
from config import load_settings
from ops.bench import many_sets
from tests.conftest import QUIET, cdk_json_context

pytestmark = pytest.mark.slow

MAX_RESOURCES = 500
MAX_TEMPLATE_BYTES = 1_000_000


@pytest.fixture(scope="module")
def sixteen(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    outdir = tmp_path_factory.mktemp("cdk.out.sixteen")
    context = cdk_json_context()
    # Without EKS, whose stack does not change with the number of sets (the shipped profiles' tests check it).
    overrides = {"profile": "reference", "eks.enabled": "false", **many_sets(context["profiles"]["reference"], c.MAX_MIRROR_SETS)}
    app = cdk.App(context={**context, **overrides}, outdir=str(outdir), **QUIET)
    stacks = app_module.build(app, load_settings(app.node.get_all_context(), {}))
    app.synth()
    return {stack.stack_name: outdir / stack.template_file for stack in stacks.values()}


def test_sixteen_sets_give_sixteen_set_stacks_in_each_region(sixteen: dict[str, Path]) -> None:
    assert len([name for name in sixteen if name.startswith("Iris-Mirror-")]) == c.MAX_MIRROR_SETS
    assert len([name for name in sixteen if name.startswith("Iris-DrMirror-")]) == c.MAX_MIRROR_SETS


def test_every_stack_stays_under_500_resources_and_1_mb(sixteen: dict[str, Path]) -> None:
    sizes = {name: (len(json.loads(path.read_text())["Resources"]), path.stat().st_size) for name, path in sixteen.items()}
    too_big = {name: size for name, size in sizes.items() if size[0] >= MAX_RESOURCES or size[1] >= MAX_TEMPLATE_BYTES}
    assert too_big == {}
    # The shared stacks do not grow with the number of sets (the data tier holds 60 with two sets as with
    # sixteen, the DR region's stack 43 with sixteen: their topics, saved queries and alarms are the region's;
    # the routes between the DR hosts and the CA, a few more, are per DR tier and zone, not per set).
    assert sizes["Iris-DataTier"][0] < 70 and sizes["Iris-DrRegion"][0] < 50
