"""NetworkStack: subnets per tier and AZ, NAT, endpoints, flow logs, NACLs,
security-group rules and the optional VPN."""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk.assertions import Match

from components.address_plan import subnet_cidr, tier_block
from config import Settings
from config import constants as c
from stacks.network import NetworkStack
from tests.conftest import QUIET, Synthesized
from tests.templates import ingress_rules, resources, sg_id


def subnet_tier(subnet: dict[str, Any]) -> str:
    tags = {t["Key"]: t["Value"] for t in subnet["Properties"]["Tags"]}
    return tags["aws-cdk:subnet-name"]


def test_twelve_subnets_four_tiers_three_distinct_azs(assembly: Synthesized) -> None:
    subnets = resources(assembly.template_json("network"), "AWS::EC2::Subnet").values()
    azs = assembly.settings.availability_zones
    assert len(subnets) == 12
    assert {s["Properties"]["AvailabilityZone"] for s in subnets} == set(azs)
    per_tier_az = Counter((subnet_tier(s), s["Properties"]["AvailabilityZone"]) for s in subnets)
    assert per_tier_az == Counter({(tier, az): 1 for tier in c.TIERS for az in azs})


def test_subnets_follow_the_tier_aligned_address_plan(assembly: Synthesized) -> None:
    vpc_cidr = assembly.settings.network.vpc_cidr
    azs = list(assembly.settings.availability_zones)
    for s in resources(assembly.template_json("network"), "AWS::EC2::Subnet").values():
        tier, az = subnet_tier(s), s["Properties"]["AvailabilityZone"]
        assert s["Properties"]["CidrBlock"] == subnet_cidr(vpc_cidr, tier, azs.index(az))
        assert ipaddress.ip_network(s["Properties"]["CidrBlock"]).subnet_of(ipaddress.ip_network(tier_block(vpc_cidr, tier)))


def test_only_public_subnets_route_to_the_internet_gateway(assembly: Synthesized) -> None:
    template = assembly.template_json("network")
    subnets = resources(template, "AWS::EC2::Subnet")
    igw_routes = [r for r in resources(template, "AWS::EC2::Route").values() if "GatewayId" in r["Properties"]]
    assert igw_routes, "public subnets need their internet route"
    for route in igw_routes:
        table = template["Resources"][route["Properties"]["RouteTableId"]["Ref"]]
        assoc = [
            a
            for a in resources(template, "AWS::EC2::SubnetRouteTableAssociation").values()
            if a["Properties"]["RouteTableId"]["Ref"] == route["Properties"]["RouteTableId"]["Ref"]
        ]
        assert table["Type"] == "AWS::EC2::RouteTable"
        assert {subnet_tier(subnets[a["Properties"]["SubnetId"]["Ref"]]) for a in assoc} == {"public"}
    for subnet in subnets.values():
        assert subnet["Properties"].get("MapPublicIpOnLaunch") is False or subnet_tier(subnet) != "public"


def test_data_subnets_have_no_route_out_of_the_vpc(assembly: Synthesized) -> None:
    template = assembly.template_json("network")
    subnets = resources(template, "AWS::EC2::Subnet")
    data_tables = {
        a["Properties"]["RouteTableId"]["Ref"]
        for a in resources(template, "AWS::EC2::SubnetRouteTableAssociation").values()
        if subnet_tier(subnets[a["Properties"]["SubnetId"]["Ref"]]) == "data"
    }
    assert len(data_tables) == 3
    routes = [r for r in resources(template, "AWS::EC2::Route").values() if r["Properties"]["RouteTableId"]["Ref"] in data_tables]
    assert routes == []  # only the implicit local route (and the S3 endpoint's prefix-list route)


@pytest.mark.parametrize(("profile", "expected"), [("reference", 3), ("dev", 1)])
def test_nat_gateways_per_profile(synth, profile: str, expected: int) -> None:
    template = synth(profile).template("network")
    template.resource_count_is("AWS::EC2::NatGateway", expected)


def test_endpoints_let_the_data_tier_reach_aws_without_internet(assembly: Synthesized) -> None:
    template = assembly.template_json("network")
    endpoints = resources(template, "AWS::EC2::VPCEndpoint").values()
    gateway = [e for e in endpoints if e["Properties"].get("VpcEndpointType", "Gateway") == "Gateway"]
    interface = [e for e in endpoints if e["Properties"].get("VpcEndpointType") == "Interface"]
    assert len(gateway) == 1
    assert "s3" in str(gateway[0]["Properties"]["ServiceName"])
    assert len(gateway[0]["Properties"]["RouteTableIds"]) == 9  # web, app and data in three AZs
    # com.amazonaws.<region>.<service>, where a service may have a dot (ecr.api)
    services = sorted(e["Properties"]["ServiceName"].split(".", 3)[-1] for e in interface)
    # And AWS Private CA, for the hosts' certificates (tests/test_certificates.py).
    assert services == sorted([*c.INTERFACE_ENDPOINT_SERVICES, "acm-pca"])
    for e in interface:
        assert e["Properties"]["PrivateDnsEnabled"] is True
        assert len(e["Properties"]["SubnetIds"]) == 3


def test_flow_logs_go_to_an_encrypted_log_group_with_retention(assembly: Synthesized) -> None:
    template = assembly.template("network")
    template.has_resource_properties(
        "AWS::EC2::FlowLog", {"ResourceType": "VPC", "TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs"}
    )
    template.has_resource(
        "AWS::Logs::LogGroup",
        {
            "Properties": {
                "KmsKeyId": {"Fn::GetAtt": [Match.string_like_regexp("^LogKey"), "Arn"]},
                "RetentionInDays": assembly.settings.network.flow_log_retention_days,
            },
            "DeletionPolicy": "Retain",
        },
    )
    template.has_resource("AWS::KMS::Key", {"Properties": {"EnableKeyRotation": True}, "DeletionPolicy": "Retain"})


def test_flow_log_role_may_only_write_its_own_log_group(assembly: Synthesized) -> None:
    template = assembly.template_json("network")
    # Beside it, the instances' session logging policy (tests/test_audit.py).
    policies = {k: v for k, v in resources(template, "AWS::IAM::ManagedPolicy").items() if k.startswith("FlowLogPolicy")}
    assert len(policies) == 1
    (statement,) = next(iter(policies.values()))["Properties"]["PolicyDocument"]["Statement"]
    (group,) = [k for k in resources(template, "AWS::Logs::LogGroup") if k.startswith("FlowLogs")]
    assert statement["Resource"] == {"Fn::GetAtt": [group, "Arn"]}
    # No inline policy but the S3 prefix list lookup's own (tests/test_audit.py).
    assert [k for k in resources(template, "AWS::IAM::Policy") if not k.startswith("S3PrefixList")] == []


def test_only_the_public_alb_accepts_internet_traffic_on_443_and_80(assembly: Synthesized) -> None:
    template = assembly.template_json("network")
    open_rules = [r for r in ingress_rules(template) if r.get("CidrIp") == "0.0.0.0/0" or r.get("CidrIpv6") == "::/0"]
    alb = {"Fn::GetAtt": [sg_id(template, "PublicAlbSg"), "GroupId"]}
    assert sorted((r["FromPort"], r["ToPort"]) for r in open_rules) == [(80, 80), (443, 443)]
    assert all(r["GroupId"] == alb for r in open_rules)


def _tier_matrix(template: dict[str, Any]) -> set[tuple[str, str, int]]:
    """(source tier, destination tier, port) for every group-to-group rule."""
    names = {k: k.removesuffix(k[-8:]) for k in resources(template, "AWS::EC2::SecurityGroup")}
    matrix = set()
    for rule in ingress_rules(template):
        source = rule.get("SourceSecurityGroupId")
        if source:
            assert rule["FromPort"] == rule["ToPort"]
            matrix.add((names[source["Fn::GetAtt"][0]], names[rule["GroupId"]["Fn::GetAtt"][0]], rule["FromPort"]))
    return matrix


# The hops every network has: the web tier reaches the ECP application servers only.
def _base_matrix(health_check_port: int) -> set[tuple[str, str, int]]:
    # A member's status page: its VIP's health checks and the retarget function only.
    port = health_check_port
    return {
        ("PublicAlbSg", "WebSg", 443),
        ("WebSg", "AppSg", c.IRIS_SUPERSERVER_PORT),
        ("XdbcClientSg", "DataLbSg", c.IRIS_SUPERSERVER_PORT),
        ("AppSg", "DataSg", c.IRIS_SUPERSERVER_PORT),
        ("AppSg", "DataLbSg", c.IRIS_SUPERSERVER_PORT),
        ("DataLbSg", "DataSg", c.IRIS_SUPERSERVER_PORT),
        ("DataLbSg", "DataSg", port),
        ("FailoverSg", "DataSg", port),
        ("FailoverSg", "EndpointsSg", 443),
        ("DataSg", "DataSg", c.IRIS_SUPERSERVER_PORT),
        ("DataSg", "DataSg", c.ISCAGENT_PORT),
    }


def test_security_groups_open_only_the_ports_a_tier_needs(assembly: Synthesized) -> None:
    """Web to app servers, app servers to data; web to data only with app.web_to_data (off in the profiles)."""
    assert not assembly.settings.app.web_to_data
    assert _tier_matrix(assembly.template_json("network")) == _base_matrix(assembly.settings.data.health_check_port)


def test_the_dr_tiers_open_the_primary_region_s_ports(assembly: Synthesized) -> None:
    """The DR region's Web Gateway serves from its ECP servers, which alone reach the DR members and VIP on 1972 (the
    same matrix as the primary region's); web to data only where a DR region has no ECP servers."""
    s = assembly.settings
    assert s.dr is not None and s.dr.ecp_app_servers > 0
    matrix = _tier_matrix(assembly.template_json("dr_network"))
    assert matrix == _base_matrix(s.data.health_check_port)
    assert {
        (source, port)
        for source, target, port in matrix
        if target in ("DataSg", "DataLbSg") and source not in ("DataSg", "DataLbSg", "FailoverSg", "XdbcClientSg")
    } == {("AppSg", c.IRIS_SUPERSERVER_PORT)}


def remote_members(s: Settings, role: str = "network") -> list[str]:
    """The blocks whose mirror members reach this network's members: on-premises, the other region's data tier."""
    assert s.dr is not None
    if role == "dr_network":
        return [tier_block(s.network.vpc_cidr, "data")]
    return [*([s.network.onprem_cidr] if s.network.onprem_cidr else []), tier_block(s.dr.vpc_cidr, "data")]


def data_group_cidr_rules(template: dict[str, Any]) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(cidr, port) of the data group's CIDR ingress rules, and of its CIDR egress rules other than HTTPS."""
    data_id = sg_id(template, "DataSg")
    data = {"Fn::GetAtt": [data_id, "GroupId"]}
    ingress = sorted((r["CidrIp"], r["FromPort"]) for r in ingress_rules(template) if r["GroupId"] == data and "CidrIp" in r)
    egress = sorted(
        (r["CidrIp"], r["FromPort"])
        for r in template["Resources"][data_id]["Properties"].get("SecurityGroupEgress", [])
        if "CidrIp" in r and r["FromPort"] != c.HTTPS_PORT
    )
    return ingress, egress


@pytest.mark.parametrize("role", ["network", "dr_network"])
def test_data_security_group_admits_cidrs_only_for_remote_mirror_members(assembly: Synthesized, role: str) -> None:
    """On-premises members (VPN) and the other region's data tier (peering): 1972 and 2188, both ways, nothing else."""
    expected = sorted((cidr, port) for cidr in remote_members(assembly.settings, role) for port in (1972, 2188))
    assert data_group_cidr_rules(assembly.template_json(role)) == (expected, expected)


def _nacl_entries(template: dict[str, Any]) -> set[tuple[bool, str, int, int, int]]:
    entries = set()
    for e in resources(template, "AWS::EC2::NetworkAclEntry").values():
        p = e["Properties"]
        assert p["RuleAction"] == "allow" and p["Protocol"] == 6
        entries.add((p.get("Egress", False), p["CidrBlock"], p["PortRange"]["From"], p["PortRange"]["To"], p["RuleNumber"]))
    return entries


def _iris_nacl(s: Settings, role: str) -> set[tuple[bool, str, int, int, int]]:
    """The data NACL's IRIS entries (egress?, cidr, from, to, number); the web block only where the web tier reaches data."""
    vpc_cidr = s.network.vpc_cidr if role == "network" else s.dr.vpc_cidr  # type: ignore[union-attr]
    block = {tier: tier_block(vpc_cidr, tier) for tier in c.TIERS}
    hc = s.data.health_check_port
    inbound = {
        (block["app"], 1972, 1972, 20),
        (block["data"], 1972, 1972, 30),
        (block["data"], 2188, 2188, 40),
        (block["data"], hc, hc, 60),
        ("0.0.0.0/0", 32768, 65535, 70),
    }
    if (role == "dr_network" and s.dr and not s.dr.ecp_app_servers) or s.app.web_to_data:
        inbound.add((block["web"], 1972, 1972, 10))
    outbound = {(vpc_cidr, 1024, 65535, 10), ("0.0.0.0/0", 443, 443, 20)}
    for i, remote in enumerate(remote_members(s, role)):
        inbound |= {(remote, 1972, 1972, 80 + 20 * i), (remote, 2188, 2188, 90 + 20 * i)}
        outbound.add((remote, 1024, 65535, 30 + 10 * i))
    return {(False, *e) for e in inbound} | {(True, *e) for e in outbound}


def test_the_dr_data_nacl_admits_the_tiers_of_its_security_groups(assembly: Synthesized) -> None:
    """The same matrix in the DR region: its ECP servers' block on 1972, not its web servers' (the NACL follows
    the security groups)."""
    entries = _nacl_entries(assembly.template_json("dr_network"))
    assert {e for e in entries if e[2] != c.POSTGRES_PORT} == _iris_nacl(assembly.settings, "dr_network")


def test_data_nacl_allows_only_iris_ports_from_the_tiers_that_use_them(assembly: Synthesized) -> None:
    s = assembly.settings
    template = assembly.template_json("network")
    block = {tier: tier_block(s.network.vpc_cidr, tier) for tier in c.TIERS}
    expected = _iris_nacl(s, "network")
    # The security groups no longer admit the web tier to the members: neither does the NACL.
    assert not any(e[1] == block["web"] for e in expected)
    expected_in = [e for e in expected if not e[0]]
    # Nothing for the Mendix platform: its database is in its own VPC (eks_network).
    assert _nacl_entries(template) == expected
    assert len(expected_in) <= 20  # the default AWS quota of entries per direction

    (nacl_id,) = resources(template, "AWS::EC2::NetworkAcl")
    subnets = resources(template, "AWS::EC2::Subnet")
    associated = [
        a["Properties"]["SubnetId"]["Ref"]
        for a in resources(template, "AWS::EC2::SubnetNetworkAclAssociation").values()
        if a["Properties"]["NetworkAclId"]["Ref"] == nacl_id
    ]
    assert sorted(subnet_tier(subnets[s]) for s in associated) == ["data"] * 3


def test_postgres_entry_has_a_fixed_number_apart_from_the_iris_entries(assembly: Synthesized) -> None:
    """In the Mendix VPC, whose data subnets hold the platform's database. Neither list renumbers the
    other: a renumbered entry is replaced, briefly dropping its traffic."""
    entries = [e for e in _nacl_entries(assembly.template_json("eks_network")) if not e[0]]
    (postgres,) = [e for e in entries if e[2] == c.POSTGRES_PORT]
    assert postgres[1] == tier_block(assembly.settings.eks.vpc_cidr, "app")
    assert postgres[4] == c.DATA_NACL_POSTGRES_RULE
    # Room for the IRIS entries to grow to the default quota of 20 per direction first.
    assert c.DATA_NACL_POSTGRES_RULE > 20 * 10 - 10


# ------------------------------------------------------------ the Mendix platform's own VPC


ANYWHERE = "0.0.0.0/0"


def _routes(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [r["Properties"] for r in resources(template, "AWS::EC2::Route").values()]


def test_the_mendix_vpc_has_no_route_to_the_iris_vpcs(assembly: Synthesized) -> None:
    """Its own block, apart from the IRIS VPCs; no peering, transit gateway or VPN; every route is the
    internet's (public subnets) or the NAT gateways' (private ones), and no IRIS route table or group names it."""
    s = assembly.settings
    eks = assembly.template_json("eks_network")
    (vpc,) = resources(eks, "AWS::EC2::VPC").values()
    assert vpc["Properties"]["CidrBlock"] == s.eks.vpc_cidr
    block = ipaddress.IPv4Network(s.eks.vpc_cidr)
    iris = [ipaddress.IPv4Network(s.network.vpc_cidr), *([ipaddress.IPv4Network(s.dr.vpc_cidr)] if s.dr else [])]
    assert not any(block.overlaps(other) for other in iris)
    for type_name in ("AWS::EC2::VPCPeeringConnection", "AWS::EC2::TransitGatewayAttachment", "AWS::EC2::VPNGateway"):
        assert not resources(eks, type_name)
    for route in _routes(eks):
        assert route["DestinationCidrBlock"] == ANYWHERE
        assert set(route) & {"GatewayId", "NatGatewayId"} and not set(route) & {"VpcPeeringConnectionId", "TransitGatewayId"}
    data_tables = {
        json.dumps(a["Properties"]["RouteTableId"])
        for k, a in resources(eks, "AWS::EC2::SubnetRouteTableAssociation").items()
        if k.startswith("Vpcdata")
    }
    assert len(data_tables) == 3 and not [r for r in _routes(eks) if json.dumps(r["RouteTableId"]) in data_tables]
    # No IRIS host lives there: no internet-facing ALB group rule, no IRIS port in the data NACL.
    (alb_sg,) = [k for k in resources(eks, "AWS::EC2::SecurityGroup") if k.startswith("PublicAlbSg")]
    assert not [r for r in ingress_rules(eks) if r["GroupId"] == {"Fn::GetAtt": [alb_sg, "GroupId"]}]
    assert _nacl_entries(eks) == {
        (False, tier_block(s.eks.vpc_cidr, "app"), c.POSTGRES_PORT, c.POSTGRES_PORT, c.DATA_NACL_POSTGRES_RULE),
        (False, ANYWHERE, *c.LINUX_EPHEMERAL_PORTS, 70),
        (True, s.eks.vpc_cidr, *c.CLIENT_EPHEMERAL_PORTS, 10),
        (True, ANYWHERE, c.HTTPS_PORT, c.HTTPS_PORT, 20),
    }
    eks_stack = assembly.stacks["eks_network"].stack_name
    for role in (r for r in assembly.stacks if r not in ("eks_network", "eks")):
        text = json.dumps(assembly.template_json(role))
        assert eks_stack not in text  # no IRIS stack reads the Mendix VPC (a peering would)
        for route in _routes(assembly.template_json(role)):
            destination = route.get("DestinationCidrBlock")
            # Default routes (internet gateway, NAT) aside, nothing points into the Mendix block.
            if isinstance(destination, str) and destination != ANYWHERE:
                assert not ipaddress.IPv4Network(destination).overlaps(block)
        for rule in ingress_rules(assembly.template_json(role)):
            if isinstance(rule.get("CidrIp"), str) and rule["CidrIp"] != ANYWHERE:
                assert not ipaddress.IPv4Network(rule["CidrIp"]).overlaps(block)


def test_vpn_is_on_in_reference_and_off_in_dev(reference: Synthesized, dev: Synthesized) -> None:
    ref = reference.template("network")
    ref.resource_count_is("AWS::EC2::VPNGateway", 1)
    ref.has_resource_properties(
        "AWS::EC2::CustomerGateway", {"IpAddress": reference.settings.network.onprem_gateway_ip, "Type": "ipsec.1"}
    )
    ref.has_resource_properties("AWS::EC2::VPNConnection", {"StaticRoutesOnly": True})
    ref.has_resource_properties("AWS::EC2::VPNConnectionRoute", {"DestinationCidrBlock": reference.settings.network.onprem_cidr})
    ref.has_resource_properties("AWS::EC2::VPNGatewayRoutePropagation", {"RouteTableIds": Match.any_value()})
    propagation = next(iter(resources(reference.template_json("network"), "AWS::EC2::VPNGatewayRoutePropagation").values()))
    assert len(propagation["Properties"]["RouteTableIds"]) == 9  # web, app and data route tables

    for type_name in ("AWS::EC2::VPNGateway", "AWS::EC2::CustomerGateway", "AWS::EC2::VPNConnection"):
        dev.template("network").resource_count_is(type_name, 0)


def test_other_stacks_get_the_vpc_and_tier_groups_as_attributes(reference: Synthesized) -> None:
    s = reference.settings
    app = cdk.App(context={f"availability-zones:account={s.account}:region={s.region}": list(s.availability_zones)}, **QUIET)
    network = NetworkStack(
        app, "Network", env=cdk.Environment(account=s.account, region=s.region), settings=s.network,
        availability_zones=s.availability_zones, health_check_port=s.data.health_check_port,
    )  # fmt: skip
    refs = network.refs
    assert refs.vpc is network.vpc
    for tier in ("public_alb", "web", "app", "data", "data_lb", "xdbc_clients", "failover", "endpoints"):
        assert isinstance(getattr(refs.security_groups, tier), ec2.SecurityGroup)
    assert [len(refs.tier(t)) for t in c.TIERS] == [3, 3, 3, 3]
