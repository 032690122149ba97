"""The AWS FIS experiment templates (read from the session's assemblies) and ``python -m ops experiment``
(against moto's EC2 and CloudFormation and a scripted FIS client: moto has no FIS)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from components import fault_injection as fi
from config import SettingsError, load_settings
from ops import cli
from ops import experiment as ex
from tests.conftest import Synthesized, cdk_json_context

REGION = "eu-west-1"


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def set_stacks(assembly: Synthesized) -> dict[str, dict[str, Any]]:
    """Each mirror set's stack name -> its template."""
    return {ref.stack_name: assembly.template_json(role) for role, ref in assembly.stacks.items() if role.startswith("mirror_")}


def alarm_of(template: dict[str, Any], condition: dict[str, Any]) -> str:
    """The construct path of the alarm a stop condition names (a GetAtt of an alarm in the same stack)."""
    (logical_id, attribute) = condition["Value"]["Fn::GetAtt"]
    assert attribute == "Arn"
    alarm = template["Resources"][logical_id]
    assert alarm["Type"] == "AWS::CloudWatch::Alarm"
    return str(alarm["Metadata"]["aws:cdk:path"]) if "Metadata" in alarm else logical_id


def severity_of_alarm(template: dict[str, Any], condition: dict[str, Any]) -> str:
    """The severity of the alarm a stop condition names (the first word of its description)."""
    (logical_id, _) = condition["Value"]["Fn::GetAtt"]
    return str(template["Resources"][logical_id]["Properties"]["AlarmDescription"].split(" ", 1)[0])


def test_every_set_has_its_templates_with_p1_stop_conditions(assembly: Synthesized) -> None:
    zones = assembly.settings.availability_zones
    for stack, template in set_stacks(assembly).items():
        templates = resources(template, "AWS::FIS::ExperimentTemplate")
        outputs = template["Outputs"]
        expected = [fi.STOP_OUTPUT.format(member=m) for m in fi.FAILOVER_MEMBERS]
        expected += [o.format(zone=fi.zone_id(z)) for z in zones for o in (fi.AZ_POWER_OUTPUT, fi.NETWORK_OUTPUT)]
        assert set(expected) <= set(outputs), stack
        assert len(templates) == len(expected)
        for output in expected:
            logical_id = outputs[output]["Value"]["Fn::GetAtt"][0]
            props = templates[logical_id]["Properties"]
            conditions = props["StopConditions"]
            assert conditions and all(s["Source"] == "aws:cloudwatch:alarm" for s in conditions), output
            names = [alarm_of(template, s) for s in conditions]
            # The set's P1 alarms (severity table) and the status alarms of the failover members left
            # running, never the disrupted member's own.
            kinds = {severity_of_alarm(template, s) for s in conditions}
            assert kinds <= {"P1", "P2"} and "P1" in kinds, (output, kinds)
            assert any("RetargetFunctionErrors" in n.replace("/", "") for n in names), names
            status = [n for n in names if "Status" in n]
            assert all(any(m in n for m in fi.FAILOVER_MEMBERS) for n in status), names
            if output.startswith("ExperimentStop"):
                stopped = output.removeprefix("ExperimentStop")
                assert all(stopped not in n for n in names) and len(status) == 2, names
            assert props["ExperimentOptions"]["EmptyTargetResolutionMode"] == "fail"


def test_targets_are_the_sets_tagged_members_and_its_own_data_subnets(reference: Synthesized) -> None:
    for stack, template in set_stacks(reference).items():
        for template_id, t in resources(template, "AWS::FIS::ExperimentTemplate").items():
            for target in t["Properties"]["Targets"].values():
                if target["ResourceType"] == "aws:ec2:instance":
                    assert target["ResourceTags"][fi.MIRROR_SET_TAG] == stack, template_id
                    assert {"Path": "State.Name", "Values": ["running"]} in target["Filters"]
                else:
                    assert target["ResourceType"] == "aws:ec2:subnet"
                    (arn,) = target["ResourceArns"]
                    assert "subnet/" in json.dumps(arn) and "ResourceTags" not in target
        # The members and their IRIS volumes carry the tags the targets (and the restore drill) follow.
        for kind in ("AWS::EC2::Instance", "AWS::EC2::Volume"):
            for logical_id, r in resources(template, kind).items():
                if kind == "AWS::EC2::Instance" and "RestoreDrill" in logical_id:
                    continue
                tags = {t["Key"]: t["Value"] for t in r["Properties"].get("Tags", [])}
                assert tags.get(fi.MIRROR_SET_TAG) == stack and tags.get(fi.MEMBER_TAG), logical_id


def test_durations_come_from_settings(dev: Synthesized) -> None:
    e = dev.settings.data.experiments
    template = next(iter(set_stacks(dev).values()))
    params = {
        (k, name): a.get("Parameters", {})
        for k, t in resources(template, "AWS::FIS::ExperimentTemplate").items()
        for name, a in t["Properties"]["Actions"].items()
    }
    stop = [p for (k, name), p in params.items() if name == "StopMember"]
    assert stop and all(p == {"startInstancesAfterDuration": f"PT{e.stop_primary_minutes}M"} for p in stop)
    power = [p for (k, name), p in params.items() if name == "PauseNetworkConnectivity"]
    assert power and all(p == {"duration": f"PT{e.power_interruption_minutes}M", "scope": "all"} for p in power)
    cut = [p for (k, name), p in params.items() if name == "DisruptBetweenZones"]
    assert cut and all(p == {"duration": f"PT{e.network_minutes}M", "scope": "availability-zone"} for p in cut)


def test_the_role_is_for_fis_and_changes_only_the_sets_own_resources(dev: Synthesized) -> None:
    template = next(iter(set_stacks(dev).values()))
    templates = resources(template, "AWS::FIS::ExperimentTemplate")
    (role_id,) = {t["Properties"]["RoleArn"]["Fn::GetAtt"][0] for t in templates.values()}
    role = template["Resources"][role_id]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "fis.amazonaws.com"} and "aws:SourceAccount" in trust["Condition"]["StringEquals"]
    (policy_ref,) = role["ManagedPolicyArns"]
    policy = template["Resources"][policy_ref["Ref"]]
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    assert all(a.startswith(("ec2:Describe",)) for a in _list(statements["FindTargets"]["Action"]))
    stop = statements["StopAndStartMembers"]
    instances = {r["Ref"] if "Ref" in r else json.dumps(r) for r in _list(stop["Resource"])}
    assert len(instances) == 3 and all("Instance" in i for i in instances)  # the two members and the arbiter, by id
    for sid in ("CreateFisAcl", "ChangeFisAclOnly"):
        assert fi.FIS_MANAGED_TAG in json.dumps(statements[sid]["Condition"])
    swap = json.dumps(statements["SwapDataSubnetAcl"]["Resource"])
    assert swap.count("subnet/") == 3
    everything = [s for s in statements.values() if s["Resource"] == "*"]
    assert [s["Sid"] for s in everything] == ["FindTargets"]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_spot_interruption_targets_the_spot_pool_only(dev: Synthesized) -> None:
    template = dev.template_json("eks")
    (t,) = resources(template, "AWS::FIS::ExperimentTemplate").values()
    (target,) = t["Properties"]["Targets"].values()
    assert target["ResourceType"] == "aws:ec2:spot-instance" and target["SelectionMode"] == "COUNT(1)"
    assert target["ResourceTags"][fi.KARPENTER_POOL_TAG] == "spot"
    (action,) = t["Properties"]["Actions"].values()
    assert action == {
        "ActionId": "aws:ec2:send-spot-instance-interruptions",
        "Parameters": {"durationBeforeInterruption": fi.SPOT_NOTICE},
        "Targets": {"SpotInstances": "SpotNode"},
    }
    assert t["Properties"]["StopConditions"]
    policy = json.dumps(list(resources(template, "AWS::IAM::ManagedPolicy").values()))
    assert f"aws:ResourceTag/{fi.KARPENTER_POOL_TAG}" in policy and f"aws:ResourceTag/{fi.EKS_CLUSTER_TAG}" in policy
    assert fi.SPOT_OUTPUT in template["Outputs"]


def test_a_duration_above_the_ceiling_is_one_clear_line() -> None:
    context = {**cdk_json_context(), "profile": "dev", "data.experiments.power_interruption_minutes": "90"}
    with pytest.raises(SettingsError) as caught:
        load_settings(context, {})
    assert caught.value.lines == [
        "invalid setting data.experiments.power_interruption_minutes=90: "
        "at most data.experiments.max_duration_minutes (60 minutes)"
    ]


# --- python -m ops experiment ------------------------------------------------


class ScriptedFis:
    """get_experiment_template and start_experiment as FIS answers them."""

    def __init__(self, templates: dict[str, dict[str, Any]]) -> None:
        self.templates = templates
        self.started: list[dict[str, Any]] = []

    def get_experiment_template(self, id: str) -> dict[str, Any]:
        return {"experimentTemplate": {"id": id, **self.templates[id]}}

    def start_experiment(self, **kwargs: Any) -> dict[str, Any]:
        self.started.append(kwargs)
        return {"experiment": {"id": "EXP123", "startTime": "now", "state": {"status": "initiating"}}}


class Session:
    def __init__(self, fis: ScriptedFis) -> None:
        self.fis = fis

    def __call__(self, **_: Any) -> Session:
        return self

    def client(self, name: str) -> Any:
        return self.fis if name == "fis" else boto3.client(name, region_name=REGION)


STACK = "Iris-Mirror-HSDB"


def _stop_template(member: str) -> dict[str, Any]:
    return {
        "description": f"{STACK}: stop {member}",
        "targets": {
            "Member": {
                "resourceType": "aws:ec2:instance",
                "resourceTags": {fi.MIRROR_SET_TAG: STACK, fi.MEMBER_TAG: member},
                "filters": [{"path": "State.Name", "values": ["running"]}],
                "selectionMode": "ALL",
            }
        },
        "actions": {"StopMember": {"actionId": "aws:ec2:stop-instances", "parameters": {"startInstancesAfterDuration": "PT10M"}}},
        "stopConditions": [
            {"source": "aws:cloudwatch:alarm", "value": "arn:aws:cloudwatch:eu-west-1:0:alarm:Member1SystemStatus"}
        ],
    }


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    # moto's own images (and their snapshots) cost seconds to load and nothing here needs them.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        image = "ami-0123456789abcdef0"
        ids = {}
        for member, zone in (("Member0", "eu-west-1a"), ("Member1", "eu-west-1b"), ("Arbiter", "eu-west-1c")):
            ids[member] = ec2.run_instances(
                ImageId=image, MinCount=1, MaxCount=1, Placement={"AvailabilityZone": zone},
                TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": fi.MIRROR_SET_TAG, "Value": STACK},
                                                                          {"Key": fi.MEMBER_TAG, "Value": member}]}],
            )["Instances"][0]["InstanceId"]  # fmt: skip
        outputs = {fi.STOP_OUTPUT.format(member=m): {"Value": f"EXT{m}"} for m in fi.FAILOVER_MEMBERS}
        outputs[fi.AZ_POWER_OUTPUT.format(zone=fi.zone_id("eu-west-1b"))] = {"Value": "EXTAZB"}
        body = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}, "Outputs": outputs}
        boto3.client("cloudformation", region_name=REGION).create_stack(StackName=STACK, TemplateBody=json.dumps(body))
        power = {
            "description": "power",
            "targets": {
                "MembersInZone": {
                    "resourceType": "aws:ec2:instance",
                    "resourceTags": {fi.MIRROR_SET_TAG: STACK},
                    "filters": [
                        {"path": "State.Name", "values": ["running"]},
                        {"path": "Placement.AvailabilityZone", "values": ["eu-west-1b"]},
                    ],
                    "selectionMode": "ALL",
                },
                "DataSubnet": {"resourceType": "aws:ec2:subnet", "resourceArns": ["arn:aws:ec2:eu-west-1:0:subnet/subnet-0b"]},
            },
            "actions": {},
            "stopConditions": [
                {"source": "aws:cloudwatch:alarm", "value": "arn:aws:cloudwatch:eu-west-1:0:alarm:Member0SystemStatus"}
            ],
        }
        fis = ScriptedFis({"EXTMember0": _stop_template("Member0"), "EXTMember1": _stop_template("Member1"), "EXTAZB": power})
        yield {"ids": ids, "fis": fis, "session": Session(fis)}


def primary_is(member: str) -> Any:
    def find(session: Any, settings: Any, mirror_set: str) -> str:
        assert mirror_set == "HSDB"
        return member

    return find


def test_without_consent_nothing_is_called(capsys: pytest.CaptureFixture[str]) -> None:
    def never(**_: Any) -> Any:
        raise AssertionError("no AWS call may happen without consent")

    assert cli.main(["experiment", "stop-primary", "--mirror-set", "HSDB"], session_factory=never) == 2
    assert ex.CONSENT_FLAG in capsys.readouterr().err


def test_dry_run_lists_the_primary_and_starts_nothing(
    deployed: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "current_primary", primary_is("Member1"))
    argv = ["experiment", "stop-primary", "--mirror-set", "HSDB", "--dry-run"]
    assert cli.main(argv, session_factory=deployed["session"]) == 0
    out = capsys.readouterr().out
    assert "template EXTMember1" in out and deployed["ids"]["Member1"] in out
    assert deployed["ids"]["Member0"] not in out and deployed["ids"]["Arbiter"] not in out
    assert "stops when alarm Member1SystemStatus is in ALARM" in out
    assert "dry run: nothing was started" in out and "What to watch" in out and "QoS timeout" in out
    assert deployed["fis"].started == []


def test_consent_starts_the_template_of_the_current_primary(
    deployed: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "current_primary", primary_is("Member0"))
    argv = ["experiment", "stop-primary", "--mirror-set", "HSDB", ex.CONSENT_FLAG, "--reason", "quarterly RTO test"]
    assert cli.main(argv, session_factory=deployed["session"]) == 0
    (started,) = deployed["fis"].started
    assert started["experimentTemplateId"] == "EXTMember0" and started["tags"]["Reason"] == "quarterly RTO test"
    out = capsys.readouterr().out
    assert "started experiment EXP123" in out and "aws fis stop-experiment --id EXP123" in out


def test_az_power_defaults_to_the_primarys_zone(
    deployed: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "current_primary", primary_is("Member1"))
    assert cli.main(["experiment", "az-power", "--mirror-set", "HSDB", "--dry-run"], session_factory=deployed["session"]) == 0
    out = capsys.readouterr().out
    assert "in eu-west-1b" in out and deployed["ids"]["Member1"] in out and "subnet-0b" in out
    assert deployed["ids"]["Member0"] not in out


def test_a_target_that_resolves_to_nothing_is_not_started(
    deployed: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("ec2", region_name=REGION).stop_instances(InstanceIds=[deployed["ids"]["Member0"]])
    monkeypatch.setattr(cli, "current_primary", primary_is("Member0"))
    argv = ["experiment", "stop-primary", "--mirror-set", "HSDB", ex.CONSENT_FLAG]
    assert cli.main(argv, session_factory=deployed["session"]) == 1
    assert "resolves to nothing" in capsys.readouterr().err and deployed["fis"].started == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["experiment", "reboot-everything", "--dry-run"], "no experiment reboot-everything"),
        (["experiment", "network", "--dry-run"], "needs --mirror-set"),
        (["experiment", "network", "--mirror-set", "NOPE", "--dry-run"], "no mirror set NOPE"),
        (
            ["experiment", "network", "--mirror-set", "HSDB", "--zone", "us-east-1a", "--dry-run"],
            "not one of the profile's zones",
        ),
    ],
)
def test_misuse_is_refused(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    fis = ScriptedFis({})  # refused before any AWS client is made: no moto needed
    assert cli.main(argv, session_factory=Session(fis)) == 2
    assert message in capsys.readouterr().err and fis.started == []
