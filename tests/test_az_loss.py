"""The AZ-loss analysis over the session's assemblies, and over templates mutated so that it must fail."""

from __future__ import annotations

import copy

import pytest

from ops.assembly import Assembly, props
from ops.az_loss import accepted_losses, analyse, mirror_members, render, unaccepted
from tests.conftest import Synthesized


@pytest.fixture
def mutable(reference: Synthesized) -> Assembly:
    """The reference assembly, each test's own copy to break."""
    return copy.deepcopy(Assembly.load(reference.outdir))


def lost(assembly: Assembly, *, method: str = "polling") -> set[tuple[str, str]]:
    report = analyse(assembly, failover_method=method)
    return {(zone, service.name) for zone, service, _ in report.losses()}


def test_reference_keeps_every_service_after_any_one_zone_loss(reference: Synthesized) -> None:
    assembly = Assembly.load(reference.outdir)
    report = analyse(assembly, failover_method=reference.settings.data.failover_method)
    assert report.losses() == []
    # Every zone of the serving region is judged, for every kind of service the issue names.
    assert report.regions[reference.settings.region] == list(reference.settings.availability_zones)
    kinds = {s.kind for s in report.services if s.region == reference.settings.region}
    assert kinds == {"mirror", "capacity", "egress", "database", "load balancer"}
    sets = {s.name for s in report.services if s.kind == "mirror" and s.region == reference.settings.region}
    assert sets == {f"mirror {m.name}" for m in reference.settings.data.mirror_sets}


def test_dev_loses_only_what_it_knowingly_accepts(dev: Synthesized) -> None:
    report = analyse(Assembly.load(dev.outdir), failover_method=dev.settings.data.failover_method)
    assert report.losses(), "dev has one NAT gateway and single-instance tiers: some zone loss must cut a service"
    accepted = accepted_losses("dev")
    assert unaccepted(report, accepted) == []
    # Every accepted entry still matches a loss: an acceptance outliving its reason is removed.
    assert {a["service"] for a in accepted} == {
        a["service"] for a in accepted for _, s, _ in report.losses() if s.name.startswith(a["service"])
    }
    page = render("dev", report, accepted)
    assert page.count("**Known and accepted**") == len(report.losses())


def test_all_members_in_two_zones_loses_the_set(mutable: Assembly) -> None:
    members = [m for m in mirror_members(mutable) if m.set_name == "HSDB" and m.role != "async"]
    first = next(m for m in members if m.role == "failover")
    arbiter = next(m for m in members if m.role == "arbiter")
    first_props = props(mutable.resource(first.node))
    mutable.resource(arbiter.node)["Properties"]["AvailabilityZone"] = first_props["AvailabilityZone"]
    mutable.resource(arbiter.node)["Properties"]["SubnetId"] = first_props["SubnetId"]
    assert lost(mutable) == {(first.zone, "mirror HSDB")}


def test_a_single_nat_gateway_cuts_egress_in_its_zone(mutable: Assembly) -> None:
    routes = [
        (n, r) for n, r in mutable.resources("AWS::EC2::Route") if "NatGatewayId" in props(r) and mutable.region(n) == "eu-west-1"
    ]
    only = routes[0][1]["Properties"]["NatGatewayId"]
    for _, route in routes:
        route["Properties"]["NatGatewayId"] = only
    nat = mutable.node(routes[0][0].stack, only)
    assert nat is not None
    zone = mutable.subnet_zone(nat.stack, props(mutable.resource(nat))["SubnetId"])
    assert lost(mutable) == {(zone, "egress (NAT)")}


def test_a_web_group_with_minimum_one_is_lost_with_its_zone(mutable: Assembly) -> None:
    (web,) = [
        n for n, _ in mutable.resources("AWS::AutoScaling::AutoScalingGroup") if mutable.path(n).startswith("Iris-AppTier/Web")
    ]
    mutable.resource(web)["Properties"]["MinSize"] = "1"
    losses = lost(mutable)
    assert {service for _, service in losses} == {"Auto Scaling group AppTier/Web/Servers"}
    assert {zone for zone, _ in losses} == {"eu-west-1a", "eu-west-1b", "eu-west-1c"}


def test_a_vip_without_the_backups_target_group_cannot_reach_the_new_primary(mutable: Assembly) -> None:
    members = {m.node: m for m in mirror_members(mutable) if m.set_name == "HSAnalytics" and m.role == "failover"}
    backup = sorted(members.values(), key=lambda m: m.name)[1]
    stack = mutable.stacks[backup.node.stack].resources
    for logical_id in [
        lid
        for lid, r in stack.items()
        if r["Type"] == "AWS::ElasticLoadBalancingV2::TargetGroup"
        and any(mutable.node(backup.node.stack, t["Id"]) == backup.node for t in props(r).get("Targets", []))
    ]:
        del stack[logical_id]
    primary_zone = next(m.zone for m in members.values() if m is not backup)
    assert lost(mutable) == {(primary_zone, "mirror HSAnalytics")}


def test_zones_and_subnets_resolve_through_get_azs_and_imports(mutable: Assembly) -> None:
    """A subnet whose zone is ``Fn::Select`` over ``Fn::GetAZs``, reached by ``Fn::ImportValue``,
    places a member in the same zone as the literal zone and the stack output did."""
    member = next(m for m in mirror_members(mutable) if m.role == "arbiter" and m.set_name == "HSDB")
    instance = mutable.resource(member.node)["Properties"]
    subnet = mutable.node(member.node.stack, instance["SubnetId"])
    assert subnet is not None
    zones = mutable.zones(mutable.region(subnet))
    network = mutable.stacks[subnet.stack]
    network.resources[subnet.logical_id]["Properties"]["AvailabilityZone"] = {
        "Fn::Select": [zones.index(member.zone or ""), {"Fn::GetAZs": ""}]
    }
    network.template["Outputs"]["AnArbiterSubnet"] = {"Value": {"Ref": subnet.logical_id}, "Export": {"Name": "arbiter-subnet"}}
    instance["SubnetId"] = {"Fn::ImportValue": "arbiter-subnet"}
    del instance["AvailabilityZone"]
    (moved,) = [m for m in mirror_members(mutable) if m.node == member.node]
    assert moved.zone == member.zone
    assert lost(mutable) == set()


def test_the_table_names_every_zone_and_the_failover_method(reference: Synthesized) -> None:
    report = analyse(Assembly.load(reference.outdir), failover_method="api")
    text = render("reference", report)
    for zone in reference.settings.availability_zones:
        assert f"{zone} lost" in text
    assert "api, VIP reaches it" in text
