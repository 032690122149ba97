"""Settings of the primary region's VPC and its link to an on-premises network."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Annotated

from pydantic import Field

from config import constants as c
from config.base import Allowed, Problem, SettingsModel, rule
from config.types import Cidr, GatewayAddress, RetentionDays, VpcCidr


class NetworkSettings(SettingsModel):
    """The VPC and its connection to an on-premises network."""

    vpc_cidr: Annotated[
        VpcCidr,
        Field(
            description="Private IPv4 block of the VPC, /16 to /24, no host bits; split by the address plan (docs/network.md)."
        ),
    ]
    nat_gateways: Annotated[
        int,
        Field(ge=1, le=c.REQUIRED_AZ_COUNT, description="NAT gateways: one per AZ for resilience, one to save cost."),
        Allowed(f"a count from 1 to {c.REQUIRED_AZ_COUNT} (one per AZ at most)"),
    ]
    flow_log_retention_days: Annotated[RetentionDays, Field(description="How long the VPC flow logs are kept.")]
    onprem_cidr: Annotated[
        Cidr | None,
        Field(
            description="Hybrid model: the on-premises block the site-to-site VPN routes to; must not overlap vpc_cidr. "
            "The VPN is built when both onprem_cidr and onprem_gateway_ip are set."
        ),
    ] = None
    onprem_gateway_ip: Annotated[
        GatewayAddress | None,
        Field(description="The public IPv4 address of the customer gateway (203.0.113.10 is the placeholder)."),
    ] = None

    onprem_gateway_asn: Annotated[
        int,
        Field(
            ge=1,
            le=c.MAX_BGP_ASN,
            description="The BGP ASN of the customer gateway (the VPN's routes to onprem_cidr are static; AWS asks "
            "for an ASN all the same).",
        ),
        Allowed(f"a BGP ASN from 1 to {c.MAX_BGP_ASN}"),
    ] = c.DEFAULT_CUSTOMER_GATEWAY_ASN

    @property
    def vpn_enabled(self) -> bool:
        return self.onprem_cidr is not None and self.onprem_gateway_ip is not None

    @rule
    def _vpn_needs_both_ends(self) -> Iterator[Problem]:
        """`onprem_cidr` and `onprem_gateway_ip` are set together or not at all."""
        if (self.onprem_cidr is None) != (self.onprem_gateway_ip is None):
            missing = "onprem_gateway_ip" if self.onprem_gateway_ip is None else "onprem_cidr"
            yield Problem(missing, None, "set both network.onprem_cidr and network.onprem_gateway_ip for the VPN, or neither")

    @rule
    def _onprem_apart_from_vpc(self) -> Iterator[Problem]:
        """`onprem_cidr` does not overlap `vpc_cidr`."""
        if self.onprem_cidr is not None and ipaddress.IPv4Network(self.onprem_cidr).overlaps(
            ipaddress.IPv4Network(self.vpc_cidr)
        ):
            yield Problem("onprem_cidr", self.onprem_cidr, f"a range that does not overlap network.vpc_cidr {self.vpc_cidr}")
