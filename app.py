#!/usr/bin/env python3
"""Compose the IRIS-on-AWS stacks from validated settings and check them.

Usage (through the Makefile or the CDK CLI):
    npx cdk synth                       # the reference profile
    npx cdk synth -c profile=dev        # the small, cheap profile
    npx cdk synth -c network.nat_gateways=1   # override one setting
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks

from config import Settings, SettingsError, load_settings
from stacks.app_tier import AppTierStack
from stacks.data_tier import DataTierStack
from stacks.network import NetworkStack


def build(app: cdk.App, settings: Settings) -> dict[str, cdk.Stack]:
    """Create every stack of ``settings`` in ``app``; returns them by role."""
    env = cdk.Environment(account=settings.account, region=settings.region)
    # Availability zones come from settings: a construct that asks its stack
    # for AZs reads them from this context key instead of calling AWS.
    app.node.set_context(
        f"availability-zones:account={settings.account}:region={settings.region}", list(settings.availability_zones)
    )
    prefix = settings.prefix
    network = NetworkStack(
        app,
        f"{prefix}-Network",
        env=env,
        description="IRIS on AWS: VPC, subnets per tier, security groups, NACLs, endpoints, flow logs, VPN",
        settings=settings.network,
        availability_zones=settings.availability_zones,
        health_check_port=settings.data.health_check_port,
    )
    data_tier = DataTierStack(
        app,
        f"{prefix}-DataTier",
        env=env,
        description="IRIS on AWS: mirror sets (primary, backup, arbiter), io1 volumes, mirror VIP, snapshots, alarms",
        termination_protection=True,
        network=network,
        settings=settings.data,
    )
    app_tier = AppTierStack(
        app,
        f"{prefix}-AppTier",
        env=env,
        description="IRIS on AWS: public ALB with WAF, Web Gateway servers, ECP application and print servers, xDBC name",
        network=network,
        data_tier=data_tier,
        settings=settings.app,
        data_settings=settings.data,
    )
    for key, value in settings.tags.items():
        cdk.Tags.of(app).add(key, value)
    return {"network": network, "data_tier": data_tier, "app_tier": app_tier}


NAG_PACKS = ("AwsSolutions", "HIPAA.Security", "NIST.800.53.R5")


def add_compliance_checks(app: cdk.App) -> None:
    """Run the three cdk-nag packs on every synthesis; errors fail it."""
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(), HIPAASecurityChecks(), NIST80053R5Checks())


@dataclass
class Synthesis:
    """The outcome of one synthesis: stacks by role, and any nag failure."""

    settings: Settings
    stacks: dict[str, cdk.Stack]
    outdir: str
    nag_failure: str | None


def synthesize(app: cdk.App, environ: Mapping[str, str]) -> Synthesis:
    """Validate settings, build the stacks, run the nag packs and synthesize.

    Raises :class:`SettingsError` before any stack exists; a nag failure is
    returned (the templates and validation-report.json are written anyway).
    """
    settings = load_settings(app.node.get_all_context(), environ)
    stacks = build(app, settings)
    add_compliance_checks(app)
    try:
        app.synth()
    except RuntimeError as err:
        if "ValidationFailed" not in str(err):
            raise
        return Synthesis(settings, stacks, app.outdir, str(err))
    # The CDK fails synthesis on nag errors only; warnings count here too.
    warnings = unacknowledged_findings(Path(app.outdir) / "validation-report.json")
    return Synthesis(settings, stacks, app.outdir, "; ".join(warnings) if warnings else None)


def unacknowledged_findings(report_path: Path) -> list[str]:
    """``rule at path`` for every open finding of the nag packs in a report."""
    report = json.loads(report_path.read_text())
    return [
        f"{violation['ruleName']} at {construct['constructPath']}"
        for plugin in report["pluginReports"]
        if plugin["pluginName"] in NAG_PACKS
        for violation in plugin.get("violations", [])
        for construct in violation["violatingConstructs"]
    ]


def main(app: cdk.App | None = None) -> int:
    """Synthesize ``app`` (by default the CLI's); exit 2 on a bad setting, 1 on nag findings."""
    try:
        result = synthesize(app or cdk.App(), os.environ)
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if result.nag_failure:
        print(
            f"error: unacknowledged cdk-nag findings (listed above); see {result.outdir}/validation-report.json", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
