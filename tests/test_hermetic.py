"""Synthesis needs no credentials, no network and no cdk.context.json."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from tests.conftest import ROOT, Synthesized


def test_the_cloud_assembly_reports_no_missing_context(assembly: Synthesized) -> None:
    # A context lookup that could not be answered offline shows up here, and
    # the CLI would then call AWS to resolve it.
    assert assembly.manifest.get("missing", []) == []


def test_every_stack_has_an_explicit_environment(assembly: Synthesized) -> None:
    """The primary region's stacks, and the DR region's (their names start with <prefix>-Dr)."""
    s = assembly.settings
    assert s.dr is not None
    stacks = {name: a for name, a in assembly.manifest["artifacts"].items() if a["type"] == "aws:cloudformation:stack"}
    assert stacks
    for name, artifact in stacks.items():
        region = s.dr.region if name.startswith(f"{s.prefix}-Dr") else s.region
        assert artifact["environment"] == f"aws://{s.account}/{region}", name
    assert {a["environment"] for a in stacks.values()} == {f"aws://{s.account}/{s.region}", f"aws://{s.account}/{s.dr.region}"}


def test_no_stack_carries_a_lookup_error(assembly: Synthesized) -> None:
    for artifact in assembly.manifest["artifacts"].values():
        for entries in artifact.get("metadata", {}).values():
            for entry in entries:
                assert entry["type"] != "aws:cdk:error", entry["data"]


def test_no_lookup_was_cached_in_cdk_context_json() -> None:
    # The CLI may leave an empty file behind; a cached lookup would be a key.
    path = ROOT / "cdk.context.json"
    assert not path.exists() or json.loads(path.read_text()) == {}


def _python_sources() -> list[Path]:
    return [p for d in ("stacks", "components", "config") for p in (ROOT / d).rglob("*.py")]


def test_nothing_below_app_py_looks_anything_up() -> None:
    """No from_lookup, context reads or environment reads below app.py."""
    forbidden_calls = {"from_lookup", "try_get_context", "get_context", "get_all_context", "lookup"}
    for path in _python_sources():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Attribute):
                assert node.attr not in forbidden_calls, f"{path.relative_to(ROOT)}:{node.lineno} uses {node.attr}"
                assert not (node.attr == "environ" and isinstance(node.value, ast.Name) and node.value.id == "os"), (
                    f"{path.relative_to(ROOT)}:{node.lineno} reads the environment"
                )


def test_helm_charts_and_the_kubectl_layer_resolve_at_deploy_time(assembly: Synthesized) -> None:
    """Charts are named by repository and version for the kubectl provider to
    fetch when it deploys; synthesis packages no chart. The kubectl layer is a
    file asset copied from its pinned package, uploaded at deploy time."""
    eks = assembly.template_json("eks")
    charts = [r["Properties"] for r in eks["Resources"].values() if r["Type"] == "Custom::AWSCDK-EKS-HelmChart"]
    assert charts
    for chart in charts:
        assert chart["Repository"].startswith(("https://", "oci://")) and chart["Version"]
        assert "ChartAssetURL" not in chart
    assets = json.loads((assembly.outdir / f"{assembly.stacks['eks'].artifact_id}.assets.json").read_text())
    sources = [f["source"]["path"] for f in assets.get("files", {}).values()]
    assert not any(path.endswith((".tgz", ".tar.gz")) for path in sources)
    assert assets.get("dockerImages", {}) == {}
    layers = [r for r in eks["Resources"].values() if r["Type"] == "AWS::Lambda::LayerVersion"]
    assert any("kubectl" in r["Properties"].get("Description", "").lower() for r in layers)
