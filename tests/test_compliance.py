"""Compliance: cdk-nag (AwsSolutions, HIPAA Security, NIST 800-53 rev 5), the
AWS Control Tower proactive controls, cfn-lint and checkov over every
synthesized template."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest

import control_tower
from synthesis import GATED_PLUGINS
from tests.conftest import ROOT, Synthesized
from tests.linters import templates_by_region

PACKS = GATED_PLUGINS
NAG_PACKS = [p for p in PACKS if p != control_tower.PLUGIN_NAME]
# The Control Tower rules run in a synthesis of this run only beside the slow tests that read them.
GATED = [*NAG_PACKS, pytest.param(control_tower.PLUGIN_NAME, marks=pytest.mark.slow)]
# Reasons that say nothing about the resource.
VAGUE_REASONS = ("set by the construct", "not needed", "false positive", "n/a", "todo", "suppressed")


def plugin_reports(assembly: Synthesized) -> dict[str, dict[str, Any]]:
    return {r["pluginName"]: r for r in assembly.report["pluginReports"]}


def findings_by_stack(report: dict[str, Any], key: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for violation in report.get(key, []):
        for construct in violation["violatingConstructs"]:
            stack = construct["constructPath"].split("/")[0]
            found.setdefault(stack, []).append(f"{violation['ruleName']} at {construct['constructPath']}")
    return found


def test_the_nag_packs_ran(assembly: Synthesized) -> None:
    assert set(NAG_PACKS) <= set(plugin_reports(assembly))


@pytest.mark.slow
def test_the_control_tower_rules_ran(assembly: Synthesized) -> None:
    assert plugin_reports(assembly)[control_tower.PLUGIN_NAME]["pluginVersion"] == control_tower.bundle_version()


@pytest.mark.parametrize("pack", GATED)
def test_no_unacknowledged_nag_findings(assembly: Synthesized, pack: str) -> None:
    """Zero errors and zero warnings, per pack and per stack."""
    report = plugin_reports(assembly)[pack]
    assert findings_by_stack(report, "violations") == {}
    assert report["conclusion"] == "success"
    assert assembly.error is None


def acknowledgements(assembly: Synthesized) -> list[dict[str, Any]]:
    return [s for r in assembly.report["pluginReports"] for s in r.get("suppressedViolations", []) if r["pluginName"] in PACKS]


def test_every_acknowledgement_is_scoped_to_one_resource_with_a_real_reason(assembly: Synthesized) -> None:
    stack_ids = {stack.artifact_id for stack in assembly.stacks.values()}
    for ack in acknowledgements(assembly):
        where = ack["acknowledgedAt"]
        assert where not in ("", *stack_ids), f"{ack['acknowledgedId']} is acknowledged for a whole stack or the app"
        assert "/" in where
        reason = ack["reason"].strip()
        assert len(reason) >= 60, f"{ack['acknowledgedId']} at {where}: reason too short: {reason!r}"
        assert not any(v in reason.lower() for v in VAGUE_REASONS), f"{ack['acknowledgedId']}: vague reason {reason!r}"
        for construct in ack["violatingConstructs"]:
            path = construct["constructPath"]
            assert path == where or path.startswith(where + "/"), (ack["acknowledgedId"], path)


def test_wildcard_findings_are_acknowledged_one_finding_at_a_time(assembly: Synthesized) -> None:
    for ack in acknowledgements(assembly):
        if ack["ruleName"].endswith(("IAM5", "IAMPolicyNoStatementsWithFullAccess")) and "IAM5" in ack["ruleName"]:
            assert "[" in ack["acknowledgedId"], f"{ack['acknowledgedId']} acknowledges every wildcard finding at once"


@pytest.mark.slow
def test_every_control_tower_exemption_is_used_on_one_resource_of_a_shipped_profile(synth) -> None:
    """A stale exemption (its resource gone, or the control now passing there) fails here."""
    exemptions = control_tower.load_exemptions()
    for exemption in exemptions:
        assert exemption.control in control_tower.bundle().rules, exemption
        assert len(exemption.reason) >= 60 and not any(v in exemption.reason.lower() for v in VAGUE_REASONS), exemption
    used = set()
    for profile in ("reference", "dev"):
        assembly = synth(profile)
        prefix = assembly.settings.prefix + "-"
        for ack in plugin_reports(assembly)[control_tower.PLUGIN_NAME].get("suppressedViolations", []):
            # Acknowledged on the resource itself, never on a parent that would cover more.
            assert [c["constructPath"] for c in ack["violatingConstructs"]] == [ack["acknowledgedAt"]], ack
            control = control_tower.rule_names()[ack["ruleName"]]
            used.add((control, ack["acknowledgedAt"].removeprefix(prefix)))
    stale = [e for e in exemptions if not any(c == e.control and e.matches(path) for c, path in used)]
    assert stale == [], "exemptions that match no finding; remove them from control-tower-exemptions.json"
    twice = [(c, path) for c, path in used if sum(e.control == c and e.matches(path) for e in exemptions) > 1]
    assert twice == [], "one resource exempted twice from one control"
    assert len({(e.control, e.resource) for e in exemptions}) == len(exemptions)


def test_an_exemption_for_every_mirror_set_names_the_same_resource_in_each_set() -> None:
    exemption = control_tower.Exemption("CT.ELASTICLOADBALANCING.PR.6", "Mirror-{set}/{set}/Vip/Nlb/Resource", "why")
    assert exemption.matches("Mirror-Set01/Set01/Vip/Nlb/Resource")
    assert not exemption.matches("Mirror-Set01/Set02/Vip/Nlb/Resource")  # the same set in both places
    assert not exemption.matches("Mirror-Set01/Set01/Vip/Nlb/Resource/Extra")
    assert not exemption.matches("DataTier/Set01/Vip/Nlb/Resource")


def test_the_rules_find_on_their_part_of_a_template_what_they_find_on_the_whole(reference: Synthesized) -> None:
    """Each group of rules sees its own resources and what they reference: a web tier's log groups
    and bucket policies fail on their keys and buckets alone, as they do in the whole template."""
    path = reference.outdir / f"{reference.stacks['dr_web'].artifact_id}.template.json"
    template = json.loads(path.read_text())
    groups = list(control_tower.rule_groups(template))
    assert len(groups) > 5 and all(len(part["Resources"]) < len(template["Resources"]) for _, part in groups)
    every_rule = [rule for rules, _ in groups for rule in rules]
    whole = control_tower._guard(every_rule, [path])[path]
    assert {control_tower.rule_names()[name]: ids for name, ids in whole.items()} == control_tower.check_template(str(path))
    assert len(whole) >= 3  # findings the exemptions acknowledge, so the comparison has something to compare


@pytest.mark.slow
def test_cfn_lint_finds_nothing(assembly: Synthesized) -> None:
    """Per region: a DR-region template is checked against the DR region's resource specs."""
    by_region = templates_by_region(assembly.manifest, assembly.outdir)
    assert len(by_region) == 2 and sum(map(len, by_region.values())) == len(assembly.template_files())
    for region in by_region:
        assert assembly.linters is not None
        run = assembly.linters.result(f"cfn-lint {region}")
        assert run.stdout.strip() == "", f"{region}:\n{run.stdout}"
        assert run.returncode == 0, run.stderr


def _checkov_skips() -> list[dict[str, str]]:
    return json.loads((ROOT / "checkov-skips.json").read_text())["skips"]


def _checkov_failures(assembly: Synthesized) -> list[tuple[str, str, str]]:
    assert assembly.linters is not None
    results = assembly.linters.checkov_results()
    assert sum(r["summary"]["parsing_errors"] for r in results) == 0
    assert sum(r["summary"]["passed"] for r in results) > 0  # checkov really read the templates
    return [(f["check_id"], f["resource"], f["check_name"]) for r in results for f in r["results"]["failed_checks"]]


@pytest.mark.slow
def test_checkov_fails_nothing_beyond_the_documented_skips(synth) -> None:
    skips = _checkov_skips()
    for skip in skips:
        assert len(skip["reason"]) >= 60, skip
    used: set[int] = set()
    unexpected = []
    for profile in ("reference", "dev"):
        for check, resource, name in _checkov_failures(synth(profile)):
            matches = [i for i, s in enumerate(skips) if s["check"] == check and fnmatch.fnmatch(resource, s["resource"])]
            used.update(matches)
            if not matches:
                unexpected.append(f"{profile}: {check} {name} on {resource}")
    assert unexpected == []
    stale = [s for i, s in enumerate(skips) if i not in used]
    assert stale == [], "skips that no longer match a failure; remove them from checkov-skips.json"
