"""The synthesis gate: settings first, then the stacks, then the validation plugins.

``app.py`` composes the stacks; this module decides whether a synthesis
passed. A bad setting stops it before any construct exists (exit 2, one line
per problem); an unacknowledged cdk-nag error or warning, or an unexempted
AWS Control Tower finding (control_tower.py), fails it after the templates
are written (exit 1).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks

import control_tower
from config import Settings, SettingsError, load_settings

NAG_PACKS = ("AwsSolutions", "HIPAA.Security", "NIST.800.53.R5")
# Every plugin whose open findings fail a synthesis, in the order of the compliance report.
GATED_PLUGINS = (*NAG_PACKS, control_tower.PLUGIN_NAME)

Build = Callable[[cdk.App, Settings], dict[str, cdk.Stack]]


def add_compliance_checks(app: cdk.App, settings: Settings, *, control_tower_rules: bool = True) -> None:
    """Run the three cdk-nag packs and the Control Tower rules (with their exemptions) on a synthesis."""
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(), HIPAASecurityChecks(), NIST80053R5Checks())
    if control_tower_rules:
        control_tower.apply_exemptions(app, settings.prefix, control_tower.load_exemptions())
        cdk.Validations.of(app).add_plugins(control_tower.ControlTowerRules())


@dataclass
class Synthesis:
    """The outcome of one synthesis: stacks by role, and any nag failure."""

    settings: Settings
    stacks: dict[str, cdk.Stack]
    outdir: str
    nag_failure: str | None


def synthesize(
    app: cdk.App, environ: Mapping[str, str], build: Build, *, checks: bool = True, control_tower_rules: bool = True
) -> Synthesis:
    """Validate settings, build the stacks, run the validation plugins and synthesize.

    Raises :class:`SettingsError` before any stack exists; a validation failure
    is returned (the templates and validation-report.json are written anyway).
    ``checks=False`` leaves every plugin out, for a synthesis whose templates
    alone are wanted (the tests' variants of a shipped profile);
    ``control_tower_rules=False`` leaves out only the Control Tower rules
    (several seconds of cfn-guard per synthesis), for a test run that does not
    read them.
    """
    settings = load_settings(app.node.get_all_context(), environ)
    stacks = build(app, settings)
    if checks:
        add_compliance_checks(app, settings, control_tower_rules=control_tower_rules)
    try:
        app.synth()
    except RuntimeError as err:
        if "ValidationFailed" not in str(err):
            raise
        return Synthesis(settings, stacks, app.outdir, str(err))
    if not checks:
        return Synthesis(settings, stacks, app.outdir, None)
    # The CDK fails synthesis on nag errors only; warnings count here too.
    warnings = unacknowledged_findings(Path(app.outdir) / "validation-report.json")
    return Synthesis(settings, stacks, app.outdir, "; ".join(warnings) if warnings else None)


def unacknowledged_findings(report_path: Path) -> list[str]:
    """``rule at path`` for every open finding of the gated plugins in a report."""
    report = json.loads(report_path.read_text())
    return [
        f"{violation['ruleName']} at {construct['constructPath']}"
        for plugin in report["pluginReports"]
        if plugin["pluginName"] in GATED_PLUGINS
        for violation in plugin.get("violations", [])
        for construct in violation["violatingConstructs"]
    ]


def main(build: Build, app: cdk.App | None = None) -> int:
    """Synthesize ``app`` (by default the CLI's); exit 2 on bad settings, 1 on open findings."""
    try:
        result = synthesize(app or cdk.App(), os.environ, build)
    except SettingsError as err:
        return err.report()
    if result.nag_failure:
        print(
            f"error: unacknowledged cdk-nag or Control Tower findings (listed above); see {result.outdir}/validation-report.json",
            file=sys.stderr,
        )
        return 1
    return 0
