"""The DR region: its stacks' region, the peering and what crosses it, the async
members and their key, the snapshot copies, and the settings that guard them."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from components.address_plan import tier_block
from components.iris_host import system_name
from config import SettingsError, load_settings
from config import constants as c
from tests.conftest import GIVEN_ZONE, Synthesized, cdk_json_context
from tests.templates import props, render, resources


def output_of(value: Any) -> tuple[str, str]:
    """(stack, region) a cross-region reference reads from."""
    ref = value["Fn::GetStackOutput"]
    return ref["StackName"], ref["Region"]


def test_dr_stacks_live_in_the_dr_region(assembly: Synthesized) -> None:
    s = assembly.settings
    assert s.dr is not None
    for role in ("dr_network", "dr_region"):
        stack = assembly.stacks[role]
        assert (stack.region, stack.account) == (s.dr.region, s.account)
    assert assembly.stacks["data_tier"].region == s.region


def test_the_dr_network_has_the_dr_zones_and_block(assembly: Synthesized) -> None:
    dr = assembly.settings.dr
    assert dr is not None
    template = assembly.template_json("dr_network")
    (vpc,) = props(template, "AWS::EC2::VPC")
    assert vpc["CidrBlock"] == dr.vpc_cidr
    subnets = props(template, "AWS::EC2::Subnet")
    assert {s["AvailabilityZone"] for s in subnets} == set(dr.availability_zones)
    assert len(subnets) == len(c.TIERS) * len(dr.availability_zones)
    assert len(props(template, "AWS::EC2::NatGateway")) == dr.nat_gateways


def test_peering_joins_the_two_vpcs_of_this_account(assembly: Synthesized) -> None:
    s = assembly.settings
    (peering,) = props(assembly.template_json("dr_region"), "AWS::EC2::VPCPeeringConnection")
    assert peering["PeerRegion"] == s.region
    assert peering["PeerOwnerId"] == s.account
    assert output_of(peering["PeerVpcId"]) == (assembly.stacks["network"].stack_name, s.region)
    assert output_of(peering["VpcId"])[0] == assembly.stacks["dr_network"].stack_name


def _peering_routes(template: dict[str, Any]) -> list[dict[str, Any]]:
    """Routes over the peering between the data tiers; those to and from the primary region's AWS
    Private CA endpoint are tests/test_certificates.py's."""
    return [
        r["Properties"]
        for k, r in resources(template, "AWS::EC2::Route").items()
        if "VpcPeeringConnectionId" in r["Properties"] and "PrivateCa" not in k and "PrimaryCa" not in k
    ]


def _route_table_output(route: dict[str, Any]) -> tuple[str, str]:
    """(stack, output) the route's table comes from: the route tables belong to the network stacks."""
    ref = route["RouteTableId"]["Fn::GetStackOutput"]
    return ref["StackName"], ref["OutputName"]


def test_only_the_data_subnets_route_over_the_peering_and_only_to_the_other_data_tier(assembly: Synthesized) -> None:
    s = assembly.settings
    assert s.dr is not None
    sides = (
        ("dr_region", "dr_network", s.dr.availability_zones, s.network.vpc_cidr, {"Ref": "MirrorPeering"}),
        ("data_tier", "network", s.availability_zones, s.dr.vpc_cidr, None),
    )
    for role, network_role, zones, other_vpc, peering in sides:
        routes = _peering_routes(assembly.template_json(role))
        tables = sorted(_route_table_output(r) for r in routes)
        network = assembly.stacks[network_role].stack_name
        assert [t[0] for t in tables] == [network] * len(zones), role
        assert [t[1].startswith(f"PublishOutputRefVpcdataSubnet{i + 1}RouteTable") for i, t in enumerate(tables)] == [True] * len(
            zones
        )
        for route in routes:
            assert route["DestinationCidrBlock"] == tier_block(other_vpc, "data")
            if peering is not None:
                assert route["VpcPeeringConnectionId"] == peering
            else:
                assert output_of(route["VpcPeeringConnectionId"]) == (assembly.stacks["dr_region"].stack_name, s.dr.region)
    # Nothing in either network routes through the peering.
    for role in ("network", "dr_network"):
        assert _peering_routes(assembly.template_json(role)) == []


def test_dr_members_have_the_primary_volume_layout_on_io1_with_the_dr_key(assembly: Synthesized) -> None:
    s = assembly.settings
    assert s.dr is not None
    template = assembly.template_json("dr")
    (key_id,) = resources(template, "AWS::KMS::Key")
    assert template["Resources"][key_id]["DeletionPolicy"] == "Retain"
    assert template["Resources"][key_id]["Properties"]["EnableKeyRotation"] is True
    volumes = resources(template, "AWS::EC2::Volume")
    sets = {m.name: m for m in s.data.mirror_sets}
    per_set = s.dr.async_members_per_set
    expected = sorted(
        (spec.size_gib, spec.iops) for name in s.dr.mirror_sets for spec in sets[name].volumes.values() for _ in range(per_set)
    )
    assert sorted((v["Properties"]["Size"], v["Properties"]["Iops"]) for v in volumes.values()) == expected
    for volume in volumes.values():
        assert volume["Properties"]["VolumeType"] == "io1"
        assert volume["Properties"]["Encrypted"] is True
        assert assembly.local(volume["Properties"]["KmsKeyId"]) == {"Fn::GetAtt": [key_id, "Arn"]}
        assert volume["DeletionPolicy"] == "Retain"


def test_dr_members_use_the_dr_instance_type_and_no_zmirror_hook(assembly: Synthesized) -> None:
    s = assembly.settings
    assert s.dr is not None
    instances = props(assembly.template_json("dr"), "AWS::EC2::Instance")
    sets = {m.name: m for m in s.data.mirror_sets}
    assert sorted(i["InstanceType"] for i in instances) == sorted(
        s.dr.instance_type(sets[n]) for n in s.dr.mirror_sets for _ in range(s.dr.async_members_per_set)
    )
    for instance in instances:
        assert instance["DisableApiTermination"] is True
        assert "KeyName" not in instance
        user_data = str(instance["UserData"])
        assert "iris-mount-volumes" in user_data
        assert "ZMIRROR" not in user_data  # promotion is a person's decision, never the member's own
        assert "iris-notify-primary" not in user_data
        assert "ROLE='async'" in user_data


def test_the_dr_retarget_function_knows_its_members_as_async_and_sets_nothing_at_deploy(assembly: Synthesized) -> None:
    s = assembly.settings
    assert s.dr is not None
    template = assembly.template_json("dr")
    functions = {k: p for k, p in ((k, v["Properties"]) for k, v in resources(template, "AWS::Lambda::Function").items())}
    (retarget,) = [p for p in functions.values() if p.get("Handler") == "entry.handler"]
    path = f"/{assembly.stacks['dr_region'].stack_name}/retarget"
    assert retarget["Environment"]["Variables"]["RETARGET_PARAMETERS"] == path
    assert retarget["ReservedConcurrentExecutions"] == 1
    parameters = {p["Name"]: json.loads(render(p["Value"])) for p in props(template, "AWS::SSM::Parameter")}
    assert sorted(parameters) == sorted(f"{path}/{name}" for name in s.dr.mirror_sets)
    for document in parameters.values():
        assert {name: m["role"] for name, m in document["members"].items()} == {
            name: "async" for name in c.DR_MEMBER_NAMES[: s.dr.async_members_per_set]
        }
    assert resources(template, "AWS::CloudFormation::CustomResource") == {}
    assert [k for k, v in template["Resources"].items() if v["Type"] == "Custom::IrisMirrorPrimary"] == []
    assert not [p for p in functions.values() if p.get("Handler") == "poller.handler"]


def test_the_dr_vip_asks_the_status_page_whatever_the_primary_method(alternatives: Synthesized) -> None:
    api = alternatives
    assert api.settings.data.failover_method == "api"
    s = api.settings
    groups = [g for g in props(api.template_json("dr"), "AWS::ElasticLoadBalancingV2::TargetGroup") if g["Protocol"] == "TCP"]
    assert s.dr is not None
    assert len(groups) == 2 * s.dr.async_members_per_set  # the DR VIP's: superserver and web port, per member
    for group in groups:
        assert group["HealthCheckProtocol"] == "HTTP"
        assert group["HealthCheckPath"] == s.data.health_check_path
        assert group["Matcher"] == {"HttpCode": "200"}
    primary = props(api.template_json("data"), "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert {g["HealthCheckProtocol"] for g in primary} == {"TCP"}


def test_snapshots_are_copied_to_the_dr_region_with_the_dr_key(assembly: Synthesized) -> None:
    s = assembly.settings
    assert s.dr is not None
    (policy,) = props(assembly.template_json("data"), "AWS::DLM::LifecyclePolicy")
    (rule,) = policy["PolicyDetails"]["Schedules"][0]["CrossRegionCopyRules"]
    assert rule["Target"] == s.dr.region
    assert rule["Encrypted"] is True
    assert rule["RetainRule"] == {"Interval": s.dr.snapshot_copy_retain_days, "IntervalUnit": "DAYS"}
    stack, region = output_of(rule["CmkArn"])
    assert (stack, region) == (assembly.stacks["dr_region"].stack_name, s.dr.region)
    assert "DrKey" in rule["CmkArn"]["Fn::GetStackOutput"]["OutputName"]


def test_vip_health_alarms_cover_every_member_group_with_the_dns_settings(assembly: Synthesized) -> None:
    s = assembly.settings
    assert s.dr is not None
    for role, per_set in (("data", 2), ("dr", s.dr.async_members_per_set)):
        alarms = [
            a for a in props(assembly.template_json(role), "AWS::CloudWatch::Alarm") if a.get("MetricName") == "HealthyHostCount"
        ]
        assert len(alarms) == per_set * len(s.dr.mirror_sets), role
        for alarm in alarms:
            assert alarm["Namespace"] == "AWS/NetworkELB"
            assert alarm["Statistic"] == "Minimum"
            assert alarm["Period"] == s.dr.dns.health_check_period_seconds
            assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == s.dr.dns.failure_threshold
            assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("LessThanThreshold", 1)
            assert alarm["TreatMissingData"] == "breaching"
            assert "AlarmActions" not in alarm


def load(**overrides: object):
    return load_settings({**cdk_json_context(), **overrides}, {})


BAD_DR_INPUTS = [
    pytest.param(
        {"dr.vpc_cidr": "10.0.64.0/18"}, "dr.vpc_cidr", "does not overlap network.vpc_cidr 10.0.0.0/16", id="overlap-primary"
    ),
    pytest.param(
        {"dr.vpc_cidr": "192.168.16.0/20"},
        "dr.vpc_cidr",
        "does not overlap network.onprem_cidr 192.168.0.0/16",
        id="overlap-onprem",
    ),
    pytest.param({"dr.region": "eu-west-1"}, "dr.region", "other than the primary region eu-west-1", id="same-region"),
    pytest.param(
        {"dr.availability_zones": "eu-central-1a"}, "dr.availability_zones", "exactly 2 or 3 availability zones", id="one-dr-az"
    ),
    pytest.param(
        {"dr.availability_zones": "eu-central-1a,eu-west-1b"},
        "dr.availability_zones",
        "eu-west-1b is in eu-west-1",
        id="dr-az-in-primary-region",
    ),
    pytest.param({"dr.mirror_sets": "HSDB,Nope"}, "dr.mirror_sets.1", "a mirror set in data.mirror_sets", id="unknown-set"),
    pytest.param({"dr.mirror_sets": "HSDB,HSDB"}, "dr.mirror_sets.1", "listed once", id="set-twice"),
    pytest.param(
        {"dr.instance_types.HSDB": "r6i.xlarge"},
        "dr.instance_types.HSDB",
        "r6i.xlarge sustains at most 6000 EBS IOPS",
        id="dr-type-too-small-for-the-volumes",
    ),
    pytest.param(
        {"dr.instance_types": '{"Other": "r6i.4xlarge"}'},
        "dr.instance_types.Other",
        "listed in dr.mirror_sets",
        id="type-for-unlisted-set",
    ),
    pytest.param(
        {"dr.dns.health_check_period_seconds": "30"},
        "dr.dns.health_check_period_seconds",
        "standard-resolution",
        id="high-resolution-period",
    ),
    pytest.param({"dr.dns.ttl_seconds": "-1"}, "dr.dns.ttl_seconds", "0 to 86400", id="negative-ttl"),
    pytest.param({"dr.dns.zone_name": "Example..org"}, "dr.dns.zone_name", "DNS domain name", id="bad-zone-name"),
    pytest.param({"dr.dns.hosted_zone_id": "zone-1"}, "dr.dns.hosted_zone_id", "hosted zone id", id="bad-zone-id"),
    pytest.param({"dr.web_servers": "0"}, "dr.web_servers", "from 1 to 20", id="no-dr-web-servers"),
    pytest.param(
        {"dr.availability_zones": "eu-central-1a,eu-central-1b", "dr.async_members_per_set": "3"},
        "dr.async_members_per_set",
        "from 1 to 2, the number of dr.availability_zones (one async member per zone)",
        id="more-async-members-than-dr-zones",
    ),
    pytest.param({"dr.async_members_per_set": "0"}, "dr.async_members_per_set", "from 1 to 3", id="no-async-member"),
    pytest.param(
        {"data.ami_ids": '{"eu-west-1": "ami-0123456789abcdef0"}'}, "data.ami_ids", "DR region eu-central-1", id="no-dr-ami"
    ),
    pytest.param(
        {
            "data.backup.copy_region": "eu-central-1",
            "data.backup.copy_kms_key_arn": "arn:aws:kms:eu-central-1:000000000000:key/1",
        },
        "data.backup.copy_region",
        "none while dr is set",
        id="two-copy-targets",
    ),
]


@pytest.mark.parametrize(("overrides", "key", "allowed"), BAD_DR_INPUTS)
def test_bad_dr_input_is_refused_with_a_clear_message(overrides: dict[str, str], key: str, allowed: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load(**overrides)
    assert caught.value.key == key
    assert str(caught.value).startswith(f"invalid setting {key}=")
    assert allowed in str(caught.value)
    assert "\n" not in str(caught.value)


def test_dr_settings_load_for_both_profiles() -> None:
    ref, dev = load(), load(profile="dev")
    assert ref.dr is not None and dev.dr is not None
    assert len(ref.dr.availability_zones) == 3 and len(dev.dr.availability_zones) == 2
    assert load(dr="none").dr is None


def test_the_dr_stack_outputs_what_promote_dr_reads(assembly: Synthesized) -> None:
    from ops import dr as promotion

    template = assembly.template_json("dr_region")
    assert {promotion.FUNCTION_OUTPUT, promotion.MEMBER_DOCUMENT_OUTPUT} <= set(template["Outputs"])
    (document,) = props(template, "AWS::SSM::Document")
    assert template["Outputs"][promotion.MEMBER_DOCUMENT_OUTPUT]["Value"] == {
        "Ref": next(iter(resources(template, "AWS::SSM::Document")))
    }
    assert document["DocumentType"] == "Command"
    assert document["Content"]["parameters"]["action"]["allowedValues"] == ["status", "promote"]
    commands = document["Content"]["mainSteps"][0]["inputs"]["runCommand"]
    assert "set -- '{{ action }}'" in commands and any("PromoteWithNoPartner" in line for line in commands)


def dns(assembly: Synthesized) -> dict[str, Any]:
    return assembly.template_json("dr_dns")


def test_the_dns_stack_lives_in_the_dr_region(assembly: Synthesized) -> None:
    assert assembly.settings.dr is not None
    assert assembly.stacks["dr_dns"].region == assembly.settings.dr.region


def test_failover_records_send_users_to_the_primary_alb_else_the_dr_alb(assembly: Synthesized) -> None:
    s = assembly.settings
    assert s.dr is not None
    d = s.dr.dns
    records = {r["Failover"]: r for r in props(dns(assembly), "AWS::Route53::RecordSet")}
    assert set(records) == {"PRIMARY", "SECONDARY"}
    for failover, role, region in (("PRIMARY", "app_tier", s.region), ("SECONDARY", "dr_web", s.dr.region)):
        record = records[failover]
        assert record["Name"] == f"{d.record_name}.{d.zone_name}."
        assert (record["Type"], record["TTL"]) == ("CNAME", str(d.ttl_seconds))
        (target,) = record["ResourceRecords"]
        stack, output = output_of(target), target["Fn::GetStackOutput"]["OutputName"]
        assert stack == (assembly.stacks[role].stack_name, region)
        assert "WebAlb" in output and "DNSName" in output
        assert "HealthCheckId" in record


def _checks(assembly: Synthesized) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"]["HealthCheckConfig"] for k, v in resources(dns(assembly), "AWS::Route53::HealthCheck").items()}


def test_health_checks_follow_the_vip_alarms_of_the_applications_mirror_set(assembly: Synthesized) -> None:
    s = assembly.settings
    assert s.dr is not None
    checks = _checks(assembly)
    records = {r["Failover"]: r for r in props(dns(assembly), "AWS::Route53::RecordSet")}
    primary = checks[records["PRIMARY"]["HealthCheckId"]["Fn::GetAtt"][0]]
    assert (primary["Type"], primary["HealthThreshold"]) == ("CALCULATED", 1)
    children = [checks[c["Fn::GetAtt"][0]] for c in primary["ChildHealthChecks"]]
    secondary = checks[records["SECONDARY"]["HealthCheckId"]["Fn::GetAtt"][0]]
    assert (secondary["Type"], secondary["HealthThreshold"]) == ("CALCULATED", 1)
    dr_children = [checks[c["Fn::GetAtt"][0]] for c in secondary["ChildHealthChecks"]]
    app = s.app.mirror_set
    for check, role, region, count in (
        (children, f"mirror_{app}", s.region, 2),
        (dr_children, f"dr_mirror_{app}", s.dr.region, s.dr.async_members_per_set),
    ):
        assert len(check) == count  # one alarm check per member
        for alarm_check in check:
            assert alarm_check["Type"] == "CLOUDWATCH_METRIC"
            assert alarm_check["InsufficientDataHealthStatus"] == "Unhealthy"  # a silent region is a failed region
            alarm = alarm_check["AlarmIdentifier"]
            assert alarm["Region"] == region
            assert output_of(alarm["Name"])[0] == assembly.stacks[role].stack_name
            output = alarm["Name"]["Fn::GetStackOutput"]["OutputName"]
            assert f"{s.app.mirror_set}VipHealth" in output


def test_the_dns_stack_outputs_what_promote_dr_reads(assembly: Synthesized) -> None:
    from ops import dr as promotion

    outputs = dns(assembly)["Outputs"]
    assert {promotion.ZONE_OUTPUT, promotion.RECORD_OUTPUT, promotion.DR_ENDPOINT_OUTPUT} <= set(outputs)
    # The two gates promote-dr flips are the checks the records follow.
    records = {r["Failover"]: r for r in props(dns(assembly), "AWS::Route53::RecordSet")}
    for output, failover in ((promotion.PRIMARY_CHECK_OUTPUT, "PRIMARY"), (promotion.DR_CHECK_OUTPUT, "SECONDARY")):
        assert outputs[output]["Value"] == records[failover]["HealthCheckId"]
    d = assembly.settings.dr
    assert d is not None
    assert outputs[promotion.RECORD_OUTPUT]["Value"] == f"{d.dns.record_name}.{d.dns.zone_name}"


def test_a_created_zone_is_retained_and_a_given_zone_is_used_as_it_is(dev: Synthesized, alternatives: Synthesized) -> None:
    (zone,) = resources(dns(dev), "AWS::Route53::HostedZone").values()
    assert zone["DeletionPolicy"] == "Retain"
    given = alternatives
    assert resources(dns(given), "AWS::Route53::HostedZone") == {}
    assert {r["HostedZoneId"] for r in props(dns(given), "AWS::Route53::RecordSet")} == {GIVEN_ZONE}


def test_the_dr_region_runs_a_reduced_web_tier_of_the_app_tier_components(assembly: Synthesized) -> None:
    s = assembly.settings
    assert s.dr is not None
    template = assembly.template_json("dr_web")
    (alb,) = [p for p in props(template, "AWS::ElasticLoadBalancingV2::LoadBalancer") if p.get("Scheme") == "internet-facing"]
    assert alb["Type"] == "application"
    https = [p for p in props(template, "AWS::ElasticLoadBalancingV2::Listener") if p.get("Protocol") == "HTTPS"]
    assert [listener["Certificates"] for listener in https] == [[{"CertificateArn": s.dr.certificate_arn}]]
    (group,) = [g for k, g in resources(template, "AWS::AutoScaling::AutoScalingGroup").items() if k.startswith("WebServers")]
    group = group["Properties"]
    assert int(group["MinSize"]) == s.dr.web_servers
    assert int(group["MaxSize"]) == max(s.dr.web_servers, s.app.web.max_capacity)
    (template_data,) = [t for t in props(template, "AWS::EC2::LaunchTemplate") if "CSP.ini" in str(t)]
    assert template_data["LaunchTemplateData"]["ImageId"] == s.app.web_ami_ids[s.dr.region]
    assert resources(template, "AWS::WAFv2::WebACLAssociation")
    # The Web Gateway serves from the DR ECP application servers (tests/test_dr_app_servers.py), not the members.
    user_data = render(template_data["LaunchTemplateData"]["UserData"])
    assert "APP_SERVER_GROUP=<Ref:EcpServersGroupASG" in user_data
    assert 'MEMBER_PROFILES=""' in user_data and "Mirror_Aware=1" not in user_data


def test_dr_members_are_watched_like_the_failover_members(assembly: Synthesized) -> None:
    s = assembly.settings
    assert s.dr is not None
    template = assembly.template_json("dr")
    alarms = props(template, "AWS::CloudWatch::Alarm")
    instances = resources(template, "AWS::EC2::Instance")
    for instance_id in instances:
        watched = [a for a in alarms if {"Name": "InstanceId", "Value": {"Ref": instance_id}} in a.get("Dimensions", [])]
        disk_alarms = [a for a in watched if a["MetricName"] == "disk_used_percent"]
        disk = sorted(next(d["Value"] for d in a["Dimensions"] if d["Name"] == "path") for a in disk_alarms)
        assert disk == ["/iris/db", "/iris/jrn1", "/iris/jrn2", "/iris/wij"]
        assert {a["Threshold"] for a in disk_alarms} == {s.data.disk_used_alarm_percent}
        assert "StatusCheckFailed_System" in {a["MetricName"] for a in watched}
        for a in watched:
            assert a["AlarmActions"], a["MetricName"]  # every one notifies the DR alarm topic


def test_each_mirror_set_has_an_async_member_in_each_of_its_own_zones_behind_the_dr_vip(assembly: Synthesized) -> None:
    s = assembly.settings
    assert s.dr is not None
    per_set = s.dr.async_members_per_set
    network = assembly.template_json("dr_network")
    zone_of = {k: v["Properties"]["AvailabilityZone"] for k, v in resources(network, "AWS::EC2::Subnet").items()}
    for name in s.dr.mirror_sets:
        template = assembly.template_json(f"dr_mirror_{name}")
        instances = resources(template, "AWS::EC2::Instance")
        expected = [f"{name}{member}Instance" for member in c.DR_MEMBER_NAMES[:per_set]]
        assert sorted(re.sub(r"[0-9A-F]{8}$", "", k) for k in instances) == sorted(expected), name
        zones = {}
        for logical_id, instance in instances.items():
            subnet_id = assembly.local(instance["Properties"]["SubnetId"])["Ref"]
            assert subnet_id.startswith("VpcdataSubnet"), subnet_id
            zones[logical_id] = zone_of[subnet_id]
        assert len(set(zones.values())) == per_set, f"{name}: one member per zone"
        # Each member's own four volumes, in its zone, attached to it alone.
        attachments = props(template, "AWS::EC2::VolumeAttachment")
        volumes = resources(template, "AWS::EC2::Volume")
        for logical_id, zone in zones.items():
            own = [a["VolumeId"]["Ref"] for a in attachments if a["InstanceId"] == {"Ref": logical_id}]
            assert len(own) == len(c.IRIS_VOLUME_DEVICES)
            assert {volumes[v]["Properties"]["AvailabilityZone"] for v in own} == {zone}
        # The VIP: a target group per member on each port, each holding its member alone.
        groups = props(template, "AWS::ElasticLoadBalancingV2::TargetGroup")
        for port in {c.IRIS_SUPERSERVER_PORT, s.data.health_check_port}:
            targets = sorted(g["Targets"][0]["Id"]["Ref"] for g in groups if g["Port"] == port)
            assert targets == sorted(instances), (name, port)
        (nlb,) = props(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
        assert nlb["Scheme"] == "internal"


def test_async_members_have_unique_names_in_their_mirror_within_irises_limit(assembly: Synthesized) -> None:
    s = assembly.settings
    assert s.dr is not None
    for name in s.dr.mirror_sets:
        members = [system_name(name, m) for m in c.DR_MEMBER_NAMES] + [system_name(name, f"Member{i}") for i in (0, 1)]
        assert len(set(members)) == len(members)
        assert all(re.fullmatch(rf"[A-Z0-9]{{1,{c.IRIS_MIRROR_NAME_MAX}}}", m) for m in members), members


# The first async member's stateful resources keep the logical ids of the single member of before.
PINNED_DR_IDS = {
    "HSDB": [
        "HSDBDRInstance9B6B67C6",
        "HSDBVolumesDatabase67D648EE",
        "HSDBVolumesJournal12E562B07",
        "HSDBVolumesJournal271A37637",
        "HSDBVolumesWij7AB388F7",
    ],
    "HSAnalytics": [
        "HSAnalyticsDRInstance1D34FCA1",
        "HSAnalyticsVolumesDatabaseCE7AF0DD",
        "HSAnalyticsVolumesJournal10766E605",
        "HSAnalyticsVolumesJournal2D563A289",
        "HSAnalyticsVolumesWij89348415",
    ],
}


def test_logical_ids_of_the_first_async_members_stateful_resources_are_pinned(reference: Synthesized) -> None:
    for name, pinned in PINNED_DR_IDS.items():
        template = reference.template_json(f"dr_mirror_{name}")
        stateful = sorted(k for t in ("AWS::EC2::Instance", "AWS::EC2::Volume") for k in resources(template, t))
        assert set(pinned) <= set(stateful), name
