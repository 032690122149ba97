"""The diagrams' source graphs name every stack, mirror member and load balancer of the assembly.

These tests read the DOT source, not the image, so they run where Graphviz's ``dot`` is missing;
only the rendering test needs it, and says so when it skips.
"""

from __future__ import annotations

import copy
import shutil

import pytest

from ops.assembly import Assembly
from ops.az_loss import mirror_members
from ops.diagram import _id, detail, mirror_sets, overview
from tests.conftest import Synthesized


def test_the_overview_names_every_stack_member_and_load_balancer(assembly: Synthesized) -> None:
    parsed = Assembly.load(assembly.outdir)
    source = overview(parsed, "profile").source
    for stack in parsed.stacks:
        assert stack in source, stack
    members = mirror_members(parsed)
    assert members
    for member in members:
        assert f'"{_id(member.node)}"' in source, member
        assert f"{member.set_name} {member.name}" in source
        assert str(member.zone) in source
    for node, _ in parsed.resources("AWS::ElasticLoadBalancingV2::LoadBalancer"):
        assert f'"{_id(node)}"' in source, node


def test_each_mirror_set_has_a_detail_view_with_its_members_and_vip(reference: Synthesized) -> None:
    parsed = Assembly.load(reference.outdir)
    assert mirror_sets(parsed) == sorted(m.name for m in reference.settings.data.mirror_sets)
    for name in mirror_sets(parsed):
        source = detail(parsed, name).source
        for member in (m for m in mirror_members(parsed) if m.set_name == name):
            assert f'"{_id(member.node)}"' in source
        assert "listener now" in source and "pre-registered" in source


def test_a_member_the_graph_leaves_out_fails_the_check(reference: Synthesized) -> None:
    """The check above is real: a member drawn nowhere is caught (here by dropping its role tag,
    so the overview no longer sees it as a member, while the assembly still holds it)."""
    parsed = copy.deepcopy(Assembly.load(reference.outdir))
    member = mirror_members(parsed)[0]
    tags = parsed.resource(member.node)["Properties"]["Tags"]
    parsed.resource(member.node)["Properties"]["Tags"] = [t for t in tags if t["Key"] != "IrisMirrorRole"]
    assert f'"{_id(member.node)}"' not in overview(parsed, "reference").source


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` not installed (apt-get install -y graphviz)")
def test_the_overview_renders_to_png_and_svg(dev: Synthesized) -> None:
    graph = overview(Assembly.load(dev.outdir), "dev")
    assert graph.pipe(format="png")[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in graph.pipe(format="svg")
