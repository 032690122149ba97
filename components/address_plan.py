"""A tier-aligned address plan for the VPC.

The VPC block is split in four tier blocks (public, web, app, data) and each
tier block in four AZ slots, of which the first three are used and the fourth
is kept for growth. Every tier is therefore one contiguous CIDR, so a network
ACL or a firewall rule names a whole tier in one entry, and the plan depends
only on the VPC block: the same settings always give the same subnets.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

import jsii
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from config.constants import AZ_SPLIT_BITS, TIER_SPLIT_BITS, TIERS


def routes_over_peering(
    scope: Construct, id_prefix: str, subnets: Sequence[ec2.ISubnet], destination: str, peering_id: str
) -> None:
    """A route from each of ``subnets`` to ``destination`` through the peering; ids ``<id_prefix><index>``."""
    for i, subnet in enumerate(subnets):
        ec2.CfnRoute(
            scope,
            f"{id_prefix}{i}",
            route_table_id=subnet.route_table.route_table_id,
            destination_cidr_block=destination,
            vpc_peering_connection_id=peering_id,
        )


def tier_block(vpc_cidr: str, tier: str) -> str:
    """The CIDR holding every subnet of ``tier``."""
    blocks = list(ipaddress.IPv4Network(vpc_cidr).subnets(prefixlen_diff=TIER_SPLIT_BITS))
    return str(blocks[TIERS.index(tier)])


def subnet_cidr(vpc_cidr: str, tier: str, az_index: int) -> str:
    """The CIDR of ``tier``'s subnet in the ``az_index``-th availability zone."""
    slots = list(ipaddress.IPv4Network(tier_block(vpc_cidr, tier)).subnets(prefixlen_diff=AZ_SPLIT_BITS))
    return str(slots[az_index])


@jsii.implements(ec2.IIpAddresses)
class TieredIpAddresses:
    """``ec2.IIpAddresses`` that places subnets by tier and AZ, not by order."""

    def __init__(self, vpc_cidr: str, availability_zones: Sequence[str]) -> None:
        self._vpc_cidr = vpc_cidr
        self._azs = list(availability_zones)

    def allocate_vpc_cidr(self) -> ec2.VpcIpamOptions:
        return ec2.VpcIpamOptions(cidr_block=self._vpc_cidr)

    def allocate_subnets_cidr(
        self, *, requested_subnets: Sequence[ec2.RequestedSubnet | dict[str, Any]], vpc_cidr: str
    ) -> ec2.SubnetIpamOptions:
        allocated = []
        for request in requested_subnets:
            assert isinstance(request, ec2.RequestedSubnet)  # the CDK always passes the struct
            tier = request.configuration.name
            if tier not in TIERS:
                raise ValueError(f"subnet group {tier!r} is not one of the tiers {TIERS}")
            az_index = self._azs.index(request.availability_zone)
            allocated.append(ec2.AllocatedSubnet(cidr=subnet_cidr(self._vpc_cidr, tier, az_index)))
        return ec2.SubnetIpamOptions(allocated_subnets=allocated)
