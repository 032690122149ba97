#!/usr/bin/env python3
"""Compose the IRIS-on-AWS stacks from validated settings (synthesis.py checks them).

Usage (through the Makefile or the CDK CLI):
    npx cdk synth                       # the reference profile
    npx cdk synth -c profile=dev        # the small, cheap profile
    npx cdk synth -c network.nat_gateways=1   # override one setting
"""

from __future__ import annotations

import sys
from typing import Any, TypeVar

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
StackT = TypeVar("StackT", bound=cdk.Stack)


class Composer:
    """Adds stacks to an app: ``<prefix>-<name>`` in the primary or the DR region, recorded by role."""

    def __init__(self, app: cdk.App, settings: Settings) -> None:
        self.app, self.settings, self.stacks = app, settings, dict[str, cdk.Stack]()
        s, dr = settings, settings.dr
        for region, zones in ((s.region, s.availability_zones), *(((dr.region, dr.availability_zones),) if dr else ())):
            # AZs from settings: a construct that asks for them reads this key instead of calling AWS.
            app.node.set_context(f"availability-zones:account={s.account}:region={region}", list(zones))

    def add(self, role: str, kind: type[StackT], name: str, *, in_dr: bool = False, **kwargs: Any) -> StackT:
        s = self.settings
        region = s.dr.region if in_dr and s.dr else s.region
        # Stacks of two regions exchange values through CDK cross-region references.
        stack = kind(
            self.app,
            f"{s.prefix}-{name}",
            env=cdk.Environment(account=s.account, region=region),
            cross_region_references=s.dr is not None,
            **kwargs,
        )
        self.stacks[role] = stack
        return stack


def build(app: cdk.App, settings: Settings) -> dict[str, cdk.Stack]:
    """Every stack of ``settings`` in ``app``, by role (README, "Layout"; the stacks' own docstrings)."""
    c, s, dr = Composer(app, settings), settings, settings.dr
    peer_cidrs = [tier_block(dr.vpc_cidr, "data")] if dr else []
    network = c.add(
        "network", NetworkStack, "Network", settings=s.network, availability_zones=s.availability_zones,
        health_check_port=s.data.health_check_port, mirror_peer_cidrs=peer_cidrs,
        postgres_clients="app" if s.eks.enabled else None,
    )  # fmt: skip
    # The one forced order: the DR region's shared stack and members come before the primary data
    # tier, which reads their key (snapshot copies), VPC and peering (names, routes) and addresses.
    dr_link, dr_members = None, {}
    if dr is not None:
        dr_network = c.add(
            "dr_network", NetworkStack, "DrNetwork", in_dr=True, description=DR_NETWORK,
            settings=NetworkSettings(vpc_cidr=dr.vpc_cidr, nat_gateways=dr.nat_gateways,
                                     flow_log_retention_days=dr.flow_log_retention_days),
            availability_zones=dr.availability_zones, health_check_port=s.data.health_check_port,
            mirror_peer_cidrs=[tier_block(s.network.vpc_cidr, "data")],
        )  # fmt: skip
        dr_region = c.add(
            "dr_region", DrRegionStack, "DrRegion", in_dr=True, termination_protection=True, network=dr_network.refs,
            primary_vpc=network.vpc, primary_region=s.region, primary_vpc_cidr=s.network.vpc_cidr, data=s.data,
        )  # fmt: skip
        for m in (m for m in s.data.mirror_sets if m.name in dr.mirror_sets):
            dr_members[m.name] = c.add(
                f"dr_mirror_{m.name}", DrMirrorSetStack, f"DrMirror-{m.name}", in_dr=True, termination_protection=True,
                network=dr_network.refs, base=dr_region.base, settings=m, data_settings=s.data, dr=dr, dns=dr.dns,
            ).link  # fmt: skip
        dr_link = dr_region.link(dr_members)

    # The primary region: data tier (shared, then a stack per mirror set), app tier, Mendix on EKS.
    data = c.add(
        "data_tier", DataTierStack, "DataTier", termination_protection=True, network=network.refs, settings=s.data,
        dr=dr_link, dr_settings=dr,
    )  # fmt: skip
    mirrors = {
        m.name: c.add(
            f"mirror_{m.name}", MirrorSetStack, f"Mirror-{m.name}", termination_protection=True, network=network.refs,
            data=data.link, settings=m, data_settings=s.data, dr_member=dr_members.get(m.name),
            dns=dr.dns if dr and m.name in dr_members else None,
        ).link
        for m in s.data.mirror_sets
    }  # fmt: skip
    app_tier = c.add(
        "app_tier", AppTierStack, "AppTier", network=network.refs, mirror=mirrors[s.app.mirror_set],
        alarm_topic=data.alarm_topic, settings=s.app, data_settings=s.data,
    )  # fmt: skip
    if s.eks.enabled:
        c.add("eks", EksStack, "Eks", network=network.refs, settings=s.eks, resource_tags=s.tags)

    # The DR region's web tier and the application's name, failing over between the regions.
    if dr is not None and dr_link is not None:
        dr_app = dr_members[s.app.mirror_set].link
        dr_web = c.add(
            "dr_web", DrWebStack, "DrWeb", in_dr=True, network=dr_network.refs, mirror=dr_app,
            alarm_topic=dr_region.alarm_topic, app=s.app, dr=dr,
        )  # fmt: skip
        c.add(
            "dr_dns", DrDnsStack, "DrDns", in_dr=True, dns=dr.dns, primary_load_balancer=app_tier.web.load_balancer,
            primary_alarms=mirrors[s.app.mirror_set].health_alarms, dr_load_balancer=dr_web.web.load_balancer,
            dr_alarms=dr_app.health_alarms,
        )  # fmt: skip

    # The cost allocation tags (validated to be present) on every resource of every stack.
    for key, value in s.tags.items():
        cdk.Tags.of(app).add(key, value)
    cdk.Aspects.of(app).add(PlainResourceTags(s.tags), priority=cdk.AspectPriority.MUTATING)
    return c.stacks


if __name__ == "__main__":
    sys.exit(synthesis.main(build))
