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

from components.address_plan import tier_block
from components.cost_tags import PlainResourceTags
from config import NetworkSettings, Settings, SettingsError, load_settings
from stacks.app_tier import AppTierStack
from stacks.data_tier import DataTierStack
from stacks.dr_dns import DrDnsStack
from stacks.dr_region import DrRegionStack
from stacks.eks import EksStack
from stacks.network import NetworkStack


def build(app: cdk.App, settings: Settings) -> dict[str, cdk.Stack]:
    """Create every stack of ``settings`` in ``app``; returns them by role."""
    env = cdk.Environment(account=settings.account, region=settings.region)
    # Availability zones come from settings: a construct that asks its stack
    # for AZs reads them from this context key instead of calling AWS.
    zones = {settings.region: settings.availability_zones}
    if settings.dr is not None:
        zones[settings.dr.region] = settings.dr.availability_zones
    for region, azs in zones.items():
        app.node.set_context(f"availability-zones:account={settings.account}:region={region}", list(azs))
    prefix = settings.prefix
    dr = settings.dr
    # Stacks in two regions exchange values through CDK cross-region
    # references (SSM parameters written in one region and read in the other).
    cross_region = dr is not None
    network = NetworkStack(
        app,
        f"{prefix}-Network",
        env=env,
        description="IRIS on AWS: VPC, subnets per tier, security groups, NACLs, endpoints, flow logs, VPN",
        settings=settings.network,
        availability_zones=settings.availability_zones,
        health_check_port=settings.data.health_check_port,
        mirror_peer_cidrs=[tier_block(dr.vpc_cidr, "data")] if dr else (),
        postgres_clients="app" if settings.eks.enabled else None,
        cross_region_references=cross_region,
    )
    stacks: dict[str, cdk.Stack] = {"network": network}
    dr_region = None
    if dr is not None:
        dr_env = cdk.Environment(account=settings.account, region=dr.region)
        # The DR region's network comes from the same stack class as the primary's.
        dr_network = NetworkStack(
            app,
            f"{prefix}-DrNetwork",
            env=dr_env,
            description="IRIS on AWS, DR region: VPC, subnets per tier, security groups, NACLs, endpoints, flow logs",
            settings=NetworkSettings(
                vpc_cidr=dr.vpc_cidr, nat_gateways=dr.nat_gateways, flow_log_retention_days=dr.flow_log_retention_days
            ),
            availability_zones=dr.availability_zones,
            health_check_port=settings.data.health_check_port,
            mirror_peer_cidrs=[tier_block(settings.network.vpc_cidr, "data")],
        )
        dr_region = DrRegionStack(
            app,
            f"{prefix}-DrRegion",
            env=dr_env,
            description="IRIS on AWS, DR region: async DR members, their VIPs and key, peering with the primary region",
            termination_protection=True,
            cross_region_references=True,
            network=dr_network,
            primary_network=network,
            primary_vpc_cidr=settings.network.vpc_cidr,
            data=settings.data,
            app=settings.app,
            dr=dr,
        )
        stacks |= {"dr_network": dr_network, "dr_region": dr_region}
    data_tier = DataTierStack(
        app,
        f"{prefix}-DataTier",
        env=env,
        description="IRIS on AWS: mirror sets (primary, backup, arbiter), io1 volumes, mirror VIP, snapshots, alarms",
        termination_protection=True,
        cross_region_references=cross_region,
        network=network,
        settings=settings.data,
        dr=dr,
        dr_region=dr_region,
    )
    stacks["data_tier"] = data_tier
    app_tier = AppTierStack(
        app,
        f"{prefix}-AppTier",
        env=env,
        description="IRIS on AWS: public ALB with WAF, Web Gateway servers, ECP application and print servers, xDBC name",
        cross_region_references=cross_region,
        network=network,
        data_tier=data_tier,
        settings=settings.app,
        data_settings=settings.data,
    )
    stacks["app_tier"] = app_tier
    if dr is not None and dr_region is not None:
        stacks["dr_dns"] = DrDnsStack(
            app,
            f"{prefix}-DrDns",
            env=cdk.Environment(account=settings.account, region=dr.region),
            description="IRIS on AWS: Route 53 failover of the application's name between the primary and DR regions",
            cross_region_references=True,
            dns=dr.dns,
            primary_load_balancer=app_tier.web.load_balancer,
            primary_alarms=data_tier.health[settings.app.mirror_set].alarms,
            dr_load_balancer=dr_region.web.load_balancer,
            dr_alarms=dr_region.health[settings.app.mirror_set].alarms,
        )
    if settings.eks.enabled:
        stacks["eks"] = EksStack(
            app,
            f"{prefix}-Eks",
            env=env,
            description="Mendix on EKS: cluster, node groups, controllers, RDS PostgreSQL, S3, ECR, pipeline, "
            "observability, CloudTrail, backups, budget",
            network=network,
            settings=settings.eks,
            resource_tags=settings.tags,
        )
    # The cost allocation tags (validated to be present) on every resource of every stack.
    for key, value in settings.tags.items():
        cdk.Tags.of(app).add(key, value)
    cdk.Aspects.of(app).add(PlainResourceTags(settings.tags), priority=cdk.AspectPriority.MUTATING)
    return stacks


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
        print("\n".join(f"error: {line}" for line in err.lines), file=sys.stderr)
        return 2
    if result.nag_failure:
        print(
            f"error: unacknowledged cdk-nag findings (listed above); see {result.outdir}/validation-report.json", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
