"""The diagrams' source graphs name every stack, mirror member and load balancer of the assembly.

These tests read the DOT source, not the image, so they run where Graphviz's ``dot`` is missing;
only the rendering test needs it, and says so when it skips.
"""

from __future__ import annotations

import copy
import shutil

import pytest

from ops.assembly import Assembly, tag
from ops.az_loss import mirror_members
from ops.diagram import _id, detail, mirror_sets, overview
from tests.conftest import Synthesized


def missing_from(source: str, parsed: Assembly) -> list[str]:
    """What of the assembly a graph's source leaves out: stacks by name; mirror members (every instance
    tagged with a mirror role, read here from the templates, not through the diagram's own reader) and
    load balancers by their node id."""
    members = [n for n, r in parsed.resources("AWS::EC2::Instance") if tag(r, "IrisMirrorRole")]
    lbs = [n for n, _ in parsed.resources("AWS::ElasticLoadBalancingV2::LoadBalancer")]
    missing = [stack for stack in parsed.stacks if stack not in source]
    return missing + [_id(node) for node in [*members, *lbs] if f'"{_id(node)}"' not in source]


def test_the_overview_names_every_stack_member_and_load_balancer(assembly: Synthesized) -> None:
    parsed = Assembly.load(assembly.outdir)
    settings = assembly.settings
    members = [n for n, r in parsed.resources("AWS::EC2::Instance") if tag(r, "IrisMirrorRole")]
    # Three members a set, and the DR region's async members for each set it holds.
    dr = settings.dr
    assert len(members) == 3 * len(settings.data.mirror_sets) + (len(dr.mirror_sets) * dr.async_members_per_set if dr else 0)
    source = overview(parsed, "profile").source
    assert missing_from(source, parsed) == []
    for member in mirror_members(parsed):
        assert f"{member.set_name} {member.name}" in source and str(member.zone) in source


def test_each_mirror_set_has_a_detail_view_with_its_members_and_vip(reference: Synthesized) -> None:
    parsed = Assembly.load(reference.outdir)
    assert mirror_sets(parsed) == sorted(m.name for m in reference.settings.data.mirror_sets)
    for name in mirror_sets(parsed):
        source = detail(parsed, name).source
        for member in (m for m in mirror_members(parsed) if m.set_name == name):
            assert f'"{_id(member.node)}"' in source
        assert "listener now" in source and "pre-registered" in source


def test_a_member_the_graph_leaves_out_fails_the_check(reference: Synthesized) -> None:
    """The check is real: a diagram drawn from templates where one member lost its role tag (so the
    drawing no longer sees it) is caught against the real assembly."""
    parsed = Assembly.load(reference.outdir)
    broken = copy.deepcopy(parsed)
    member = mirror_members(broken)[0]
    properties = broken.resource(member.node)["Properties"]
    properties["Tags"] = [t for t in properties["Tags"] if t["Key"] != "IrisMirrorRole"]
    assert missing_from(overview(broken, "reference").source, parsed) == [_id(member.node)]


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` not installed (apt-get install -y graphviz)")
def test_the_overview_renders_to_png_and_svg(dev: Synthesized) -> None:
    graph = overview(Assembly.load(dev.outdir), "dev")
    assert graph.pipe(format="png")[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in graph.pipe(format="svg")
