#!/usr/bin/env python3
"""The IRIS-on-AWS stacks, in the order of the architecture (README, "Layout").

Usage (through the Makefile or the CDK CLI):
    npx cdk synth                       # the reference profile
    npx cdk synth -c profile=dev        # the small, cheap profile
    npx cdk synth -c network.nat_gateways=1   # override one setting

main() checks the settings before the CDK loads, synthesis.py runs the nag gate, and composition.py
gives each stack its settings and its neighbours' values.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from config import Settings, SettingsError, load_settings
from config.loader import cli_context

if TYPE_CHECKING:
    import aws_cdk as cdk


def build(app: cdk.App, settings: Settings) -> dict[str, cdk.Stack]:
    """Every stack of ``settings`` in ``app``, by role."""
    from composition import Composer  # the CDK's constructs: loaded in main() only once the settings hold

    c = Composer(app, settings)
    c.pki()  # the hosts' CA, which every stack with hosts reads
    c.dr_replicas()  # the DR copies of buckets, which the stacks holding their sources name
    network = c.network()
    if settings.hybrid is not None:
        # The hybrid model: the failover pairs stay on-premises; AWS holds the VPN and async members.
        c.hybrid_members(network)
        c.tag_everything()
        return c.stacks
    # The one forced order: the DR region's network, shared stack and members come before the primary
    # data tier, which reads their key (snapshot copies), VPC and peering (names, routes) and addresses.
    dr = c.dr_members(network)
    data, mirrors = c.data_tier(network, dr)
    app_tier = c.app_tier(network, data, mirrors)
    c.eks(data, dr)
    c.dr_web_and_dns(dr, app_tier, mirrors)
    c.log_search(network, data, app_tier)  # after the stacks whose log groups it subscribes to
    c.audit(app_tier)  # last: the trail names the buckets of the stacks before it
    c.log_every_session()
    c.administer_keys()
    c.tag_everything()
    return c.stacks


def main() -> int:
    """The CDK CLI's entry point. The settings are checked first, on the context the CLI passes, before
    anything loads the CDK (jsii starts Node, seconds): a bad setting is told at once, nothing written."""
    try:
        load_settings(cli_context(os.environ), os.environ)
    except SettingsError as err:
        return err.report()
    import synthesis

    return synthesis.main(build)


if __name__ == "__main__":
    sys.exit(main())
