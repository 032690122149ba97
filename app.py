#!/usr/bin/env python3
"""Compose the IRIS-on-AWS stacks from validated settings (synthesis.py checks them).

Usage (through the Makefile or the CDK CLI):
    npx cdk synth                       # the reference profile
    npx cdk synth -c profile=dev        # the small, cheap profile
    npx cdk synth -c network.nat_gateways=1   # override one setting
"""

from __future__ import annotations

import sys

import aws_cdk as cdk

import synthesis
from components.address_plan import tier_block
from components.cost_tags import PlainResourceTags
from config import NetworkSettings, Settings
from stacks.app_tier import AppTierStack
from stacks.data_tier import DataTierStack
from stacks.dr_dns import DrDnsStack
from stacks.dr_mirror_set import DrMirrorSetStack
from stacks.dr_region import DrRegionStack
from stacks.dr_web import DrWebStack
from stacks.eks import EksStack
from stacks.mirror_set import MirrorSetStack
from stacks.network import NetworkStack

DR_NETWORK = "IRIS on AWS, DR region: VPC, subnets per tier, security groups, NACLs, endpoints, flow logs"


def build(app: cdk.App, settings: Settings) -> dict[str, cdk.Stack]:
    """Every stack of ``settings`` in ``app``, by role; descriptions and wiring in stacks/ (README, "Stacks")."""
    s, p, dr = settings, settings.prefix, settings.dr
    primary = cdk.Environment(account=s.account, region=s.region)
    for region, zones in ((s.region, s.availability_zones), *(((dr.region, dr.availability_zones),) if dr else ())):
        # AZs from settings: a construct that asks for them reads this key instead of calling AWS.
        app.node.set_context(f"availability-zones:account={s.account}:region={region}", list(zones))
    both = {"cross_region_references": dr is not None}
    stacks: dict[str, cdk.Stack] = {}
    network = stacks["network"] = NetworkStack(
        app,
        f"{p}-Network",
        env=primary,
        settings=s.network,
        availability_zones=s.availability_zones,
        health_check_port=s.data.health_check_port,
        mirror_peer_cidrs=[tier_block(dr.vpc_cidr, "data")] if dr else (),
        postgres_clients="app" if s.eks.enabled else None,
        **both,
    )
    # The DR region's shared stack and members come before the primary data tier, which reads
    # their key (snapshot copies), VPC and peering (names and routes) and their members' addresses.
    dr_link = dr_region = None
    if dr is not None:
        dr_env = cdk.Environment(account=s.account, region=dr.region)
        in_dr = {"env": dr_env, "cross_region_references": True}
        dr_network = stacks["dr_network"] = NetworkStack(
            app,
            f"{p}-DrNetwork",
            env=dr_env,
            availability_zones=dr.availability_zones,
            description=DR_NETWORK,
            settings=NetworkSettings(
                vpc_cidr=dr.vpc_cidr, nat_gateways=dr.nat_gateways, flow_log_retention_days=dr.flow_log_retention_days
            ),
            health_check_port=s.data.health_check_port,
            mirror_peer_cidrs=[tier_block(s.network.vpc_cidr, "data")],
        )
        dr_region = stacks["dr_region"] = DrRegionStack(
            app,
            f"{p}-DrRegion",
            termination_protection=True,
            network=dr_network.refs,
            primary_vpc=network.vpc,
            primary_region=s.region,
            primary_vpc_cidr=s.network.vpc_cidr,
            data=s.data,
            **in_dr,
        )
        dr_members = {}
        for m in (m for m in s.data.mirror_sets if m.name in dr.mirror_sets):
            member = stacks[f"dr_mirror_{m.name}"] = DrMirrorSetStack(
                app,
                f"{p}-DrMirror-{m.name}",
                termination_protection=True,
                network=dr_network.refs,
                base=dr_region.base,
                settings=m,
                data_settings=s.data,
                dr=dr,
                dns=dr.dns,
                **in_dr,
            )
            dr_members[m.name] = member.link
        dr_link = dr_region.link(dr_members)
        dr_web = stacks["dr_web"] = DrWebStack(
            app,
            f"{p}-DrWeb",
            network=dr_network.refs,
            mirror=dr_members[s.app.mirror_set].link,
            alarm_topic=dr_region.alarm_topic,
            app=s.app,
            dr=dr,
            **in_dr,
        )
    data = stacks["data_tier"] = DataTierStack(
        app,
        f"{p}-DataTier",
        env=primary,
        termination_protection=True,
        network=network.refs,
        settings=s.data,
        dr=dr_link,
        dr_settings=dr,
        **both,
    )
    for m in s.data.mirror_sets:
        dr_member = dr_link.members.get(m.name) if dr_link else None
        stacks[f"mirror_{m.name}"] = MirrorSetStack(
            app,
            f"{p}-Mirror-{m.name}",
            env=primary,
            termination_protection=True,
            network=network.refs,
            data=data.link,
            settings=m,
            data_settings=s.data,
            dr_member=dr_member,
            dns=dr.dns if dr_member and dr else None,
            **both,
        )
    app_mirror = stacks[f"mirror_{s.app.mirror_set}"]
    app_tier = stacks["app_tier"] = AppTierStack(
        app,
        f"{p}-AppTier",
        env=primary,
        network=network.refs,
        mirror=app_mirror.link,  # type: ignore[attr-defined]
        alarm_topic=data.alarm_topic,
        settings=s.app,
        data_settings=s.data,
        **both,
    )
    if s.eks.enabled:
        stacks["eks"] = EksStack(app, f"{p}-Eks", env=primary, network=network.refs, settings=s.eks, resource_tags=s.tags)
    if dr is not None and dr_link is not None:
        stacks["dr_dns"] = DrDnsStack(
            app,
            f"{p}-DrDns",
            env=cdk.Environment(account=s.account, region=dr.region),
            cross_region_references=True,
            dns=dr.dns,
            primary_load_balancer=app_tier.web.load_balancer,
            primary_alarms=app_mirror.link.health_alarms,  # type: ignore[attr-defined]
            dr_load_balancer=dr_web.web.load_balancer,
            dr_alarms=dr_link.members[s.app.mirror_set].link.health_alarms,
        )
    # The cost allocation tags (validated to be present) on every resource of every stack.
    for key, value in s.tags.items():
        cdk.Tags.of(app).add(key, value)
    cdk.Aspects.of(app).add(PlainResourceTags(s.tags), priority=cdk.AspectPriority.MUTATING)
    return stacks


if __name__ == "__main__":
    sys.exit(synthesis.main(build))
