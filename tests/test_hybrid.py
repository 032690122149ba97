"""The hybrid profile: failover pairs on-premises, async DR members in AWS over the site-to-site
VPN. What its assembly holds and lacks, the exact rules that admit the on-premises side, how the
AWS members join the on-premises mirror, its compliance, and the settings that guard it."""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

import control_tower
from config import SettingsError, load_settings
from config import constants as c
from synthesis import GATED_PLUGINS
from tests.conftest import ROOT, Synthesized, cdk_json_context
from tests.linters import templates_by_region
from tests.member_merges import members, merge
from tests.templates import props, resources

PROFILE = "hybrid"


@pytest.fixture(scope="module")
def hybrid(synth: Callable[[str], Synthesized]) -> Synthesized:
    """The shipped hybrid profile, synthesized once with the nag packs like every shipped profile."""
    return synth(PROFILE)


def test_aws_holds_the_network_and_async_members_only(hybrid: Synthesized) -> None:
    s = hybrid.settings
    assert s.hybrid is not None and s.dr is None
    sets = [m.name for m in s.data.mirror_sets]
    # No failover pair, arbiter, app tier, DNS failover or second region in AWS; no web tier by default.
    assert sorted(hybrid.stacks) == sorted(["pki", "network", "dr_region", *(f"dr_mirror_{n}" for n in sets)])
    assert {stack.region for stack in hybrid.stacks.values()} == {s.region}
    assert resources(hybrid.template_json("dr_region"), "AWS::EC2::VPCPeeringConnection") == {}
    for name in sets:
        template = hybrid.template_json(f"dr_mirror_{name}")
        assert not [k for k in resources(template, "AWS::EC2::Instance") if "Member" in k or "Arbiter" in k]


def test_one_async_member_per_zone_each_with_its_own_volumes_under_the_dr_key(hybrid: Synthesized) -> None:
    s = hybrid.settings
    assert s.hybrid is not None
    per_set = s.hybrid.async_members_per_set
    template = hybrid.template_json("dr")
    (key_id,) = resources(template, "AWS::KMS::Key")
    instances = resources(template, "AWS::EC2::Instance")
    assert len(instances) == per_set * len(s.data.mirror_sets)
    volumes = resources(template, "AWS::EC2::Volume")
    attachments = props(template, "AWS::EC2::VolumeAttachment")
    for name in (m.name for m in s.data.mirror_sets):
        own = {k: v for k, v in instances.items() if k.startswith(name)}
        zones = set()
        for logical_id in own:
            attached = [a["VolumeId"]["Ref"] for a in attachments if a["InstanceId"] == {"Ref": logical_id}]
            assert len(attached) == len(c.IRIS_VOLUME_DEVICES)
            (zone,) = {volumes[v]["Properties"]["AvailabilityZone"] for v in attached}
            zones.add(zone)
            for v in attached:
                assert volumes[v]["Properties"]["VolumeType"] == "io1"
                assert hybrid.local(volumes[v]["Properties"]["KmsKeyId"]) == {"Fn::GetAtt": [key_id, "Arn"]}
        assert len(zones) == per_set, name


def test_the_aws_members_join_the_onprem_mirror_through_its_failover_members(hybrid: Synthesized) -> None:
    s = hybrid.settings
    assert s.hybrid is not None
    found = members(hybrid, "dr")
    names = set()
    for (set_name, member), user_data in found.items():
        onprem = s.hybrid.mirror_of(set_name)
        (mirror,) = merge(user_data, "drasync").action("ConfigMirror")
        assert mirror.params["Name"] == onprem.mirror_name
        assert mirror.params["Member"] == "drasync"
        assert mirror.params["SystemName"] == onprem.mirror_name + member
        assert mirror.params["ArbiterURL"] == f"{onprem.arbiter_address}:{c.ISCAGENT_PORT}"
        peers = re.search(r"^PEERS='(.*)'$", user_data, re.M)
        assert peers is not None and peers[1].split() == [m.address for m in onprem.failover_members]
        names.add(mirror.params["SystemName"])
    onprem_names = {m.name for mirror in s.hybrid.mirrors for m in mirror.failover_members}
    assert len(names) == len(found) and not names & onprem_names  # every member's name is its own


def _rules(template: dict[str, Any], prefix: str) -> list[tuple[str, str, int, int]]:
    (group,) = [v["Properties"] for k, v in resources(template, "AWS::EC2::SecurityGroup").items() if k.startswith(prefix)]
    return sorted(
        (direction, r["CidrIp"], r["FromPort"], r["ToPort"])
        for direction, key in (("in", "SecurityGroupIngress"), ("out", "SecurityGroupEgress"))
        for r in group.get(key, [])
        if "CidrIp" in r
    )


def test_security_groups_admit_exactly_the_onprem_members_and_the_vip_its_xdbc_clients(hybrid: Synthesized) -> None:
    s = hybrid.settings
    assert s.hybrid is not None
    template = hybrid.template_json("network")
    onprem = [f"{m.address}/32" for mirror in s.hybrid.mirrors for m in mirror.failover_members]
    member_ports = (c.IRIS_SUPERSERVER_PORT, c.ISCAGENT_PORT)
    # By address, only the on-premises members; the HTTPS out goes to the endpoints' group and S3's
    # prefix list, no address (tests/test_network.py).
    assert _rules(template, "DataSg") == sorted([(d, cidr, p, p) for cidr in onprem for p in member_ports for d in ("in", "out")])
    # The VIP: the on-premises xDBC clients on the superserver port only.
    port = c.IRIS_SUPERSERVER_PORT
    assert _rules(template, "DataLbSg") == sorted(("in", cidr, port, port) for cidr in s.hybrid.xdbc_clients)


def test_the_data_nacl_admits_exactly_the_onprem_members_and_the_xdbc_clients_from_onprem(hybrid: Synthesized) -> None:
    s = hybrid.settings
    assert s.hybrid is not None and s.network.onprem_cidr is not None
    entries = props(hybrid.template_json("network"), "AWS::EC2::NetworkAclEntry")
    onprem = ipaddress.IPv4Network(s.network.onprem_cidr)
    from_onprem = sorted(
        (e.get("Egress", False), e["CidrBlock"], e["PortRange"]["From"], e["PortRange"]["To"])
        for e in entries
        if ipaddress.IPv4Network(e["CidrBlock"]).subnet_of(onprem)
    )
    members = [f"{m.address}/32" for mirror in s.hybrid.mirrors for m in mirror.failover_members]
    replies = c.CLIENT_EPHEMERAL_PORTS
    assert from_onprem == sorted(
        [(False, cidr, p, p) for cidr in members for p in (c.IRIS_SUPERSERVER_PORT, c.ISCAGENT_PORT)]
        + [(True, cidr, *replies) for cidr in members]
        + [(False, cidr, c.IRIS_SUPERSERVER_PORT, c.IRIS_SUPERSERVER_PORT) for cidr in s.hybrid.xdbc_clients]
        + [(True, cidr, *replies) for cidr in s.hybrid.xdbc_clients]
    )
    assert all(e["RuleAction"] == "allow" for e in entries)


def test_the_vpn_reaches_the_onprem_block_through_the_customer_gateway(hybrid: Synthesized) -> None:
    n = hybrid.settings.network
    template = hybrid.template_json("network")
    (gateway,) = props(template, "AWS::EC2::CustomerGateway")
    assert (gateway["IpAddress"], gateway["BgpAsn"], gateway["Type"]) == (n.onprem_gateway_ip, n.onprem_gateway_asn, "ipsec.1")
    (connection,) = props(template, "AWS::EC2::VPNConnection")
    assert connection["StaticRoutesOnly"] is True
    (route,) = props(template, "AWS::EC2::VPNConnectionRoute")
    assert route["DestinationCidrBlock"] == n.onprem_cidr


# ---------------------------------------------------------------- compliance of the shipped profile


# The Control Tower rules run only in a run with the slow tests (cfn-guard costs seconds); a
# finding of theirs fails synthesis there.
NAG_PACKS = [p for p in GATED_PLUGINS if p != control_tower.PLUGIN_NAME]


@pytest.mark.parametrize("pack", NAG_PACKS)
def test_no_unacknowledged_nag_findings(hybrid: Synthesized, pack: str) -> None:
    (report,) = [r for r in hybrid.report["pluginReports"] if r["pluginName"] == pack]
    assert report.get("violations", []) == []
    assert report["conclusion"] == "success"
    assert hybrid.error is None


@pytest.mark.slow
def test_cfn_lint_finds_nothing(hybrid: Synthesized) -> None:
    by_region = templates_by_region(hybrid.manifest, hybrid.outdir)
    assert list(by_region) == [hybrid.settings.region]
    run = hybrid.linters.result(f"cfn-lint {hybrid.settings.region}")
    assert run.stdout.strip() == "", run.stdout
    assert run.returncode == 0, run.stderr


@pytest.mark.slow
def test_checkov_fails_nothing_beyond_the_documented_skips(hybrid: Synthesized) -> None:
    skips = json.loads((ROOT / "checkov-skips.json").read_text())["skips"]
    results = hybrid.linters.checkov_results()
    assert sum(r["summary"]["parsing_errors"] for r in results) == 0
    assert sum(r["summary"]["passed"] for r in results) > 0
    failed = [(f["check_id"], f["resource"]) for r in results for f in r["results"]["failed_checks"]]
    assert [f for f in failed if not any(s["check"] == f[0] and fnmatch.fnmatch(f[1], s["resource"]) for s in skips)] == []


# ---------------------------------------------------------------- settings


def load(**overrides: object):
    return load_settings({**cdk_json_context(), "profile": PROFILE, **overrides}, {})


REFERENCE_SETS = json.dumps(cdk_json_context()["profiles"]["reference"]["data"]["mirror_sets"])
# The reference profile's DR region, for this profile's one set.
DR_IMAGES = {f"{images}.eu-central-1": "ami-00000000000000000" for images in ("data.ami_ids", "app.web_ami_ids")}
# The reference profile's DR region, cut to what a hybrid profile could carry but for being a DR region at all.
DR_REGION = json.dumps(
    {**cdk_json_context()["profiles"]["reference"]["dr"], "mirror_sets": ["HSDB"], "instance_types": {}, "ecp_app_servers": 0}
)

BAD_HYBRID_INPUTS = [
    pytest.param(
        {"data.mirror_sets": REFERENCE_SETS},
        "data.mirror_sets.1.name",
        "the hybrid model keeps every failover pair on-premises, none in AWS",
        id="failover-pair-in-aws",
    ),
    pytest.param(
        {"dr": DR_REGION, **DR_IMAGES},
        "dr",
        "none with hybrid",
        id="dr-region-beside-hybrid",
    ),
    pytest.param(
        {"hybrid.mirrors.0.failover_members.1.address": "10.30.12.5"},
        "hybrid.mirrors.0.failover_members.1.address",
        "an address in network.onprem_cidr 192.168.0.0/16, outside network.vpc_cidr 10.30.0.0/20",
        id="onprem-member-inside-the-vpc",
    ),
    pytest.param(
        {"hybrid.mirrors.0.arbiter_address": "10.30.0.9"},
        "hybrid.mirrors.0.arbiter_address",
        "outside network.vpc_cidr",
        id="onprem-arbiter-inside-the-vpc",
    ),
    pytest.param(
        {"hybrid.xdbc_clients": "10.30.0.0/24"},
        "hybrid.xdbc_clients.0",
        "inside network.onprem_cidr",
        id="xdbc-clients-not-onprem",
    ),
    pytest.param(
        {"hybrid.mirrors.0.failover_members.0.name": "HSDBDR1"},
        "hybrid.mirrors.0.failover_members.0.name",
        "other than those of the AWS async members",
        id="onprem-member-named-like-an-aws-member",
    ),
    pytest.param(
        {"hybrid.async_members_per_set": "4"}, "hybrid.async_members_per_set", "from 1 to 3", id="more-members-than-zones"
    ),
    pytest.param({"network.onprem_gateway_ip": "none"}, "network.onprem_gateway_ip", "set both", id="no-vpn"),
    pytest.param(
        {"network.onprem_gateway_asn": "0"}, "network.onprem_gateway_asn", "a BGP ASN from 1 to 4294967294", id="bad-asn"
    ),
]


@pytest.mark.parametrize(("overrides", "key", "allowed"), BAD_HYBRID_INPUTS)
def test_bad_hybrid_input_is_refused_with_a_clear_message(overrides: dict[str, str], key: str, allowed: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load(**overrides)
    assert caught.value.key == key, str(caught.value)
    assert allowed in str(caught.value)
