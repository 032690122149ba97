"""DR promotion (python -m ops promote-dr): refused without a person's consent,
a dry run that changes nothing, and the four steps against moto's CloudFormation
and scripted SSM, Lambda and Route 53 clients (moto runs no SSM documents,
functions or DNS answers)."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from config import load_settings
from config.constants import DR_MEMBER_NAME
from ops import cli, dr
from ops.aws import CliError
from tests.conftest import cdk_json_context

SETTINGS = load_settings({**cdk_json_context(), "profile": "dev"}, {})
assert SETTINGS.dr is not None
DR_REGION = SETTINGS.dr.region
SET = SETTINGS.dr.mirror_sets[0]
FUNCTION = "IrisDev-DrRegion-retarget"
DOCUMENT = "IrisDev-DrRegion-DrMemberDocument-abc"
INSTANCE = "i-0dr0000000000000a"
ZONE = "Z0123456789ABCDEFGHIJ"
RECORD = "iris.dev.example.org"
PRIMARY_ALB = "primary-alb-1.eu-west-1.elb.amazonaws.com"
DR_ALB = "dr-alb-1.eu-central-1.elb.amazonaws.com"
CONFIG = {
    "mirror_sets": {
        SET: {
            "listeners": ["arn:listener/1972"],
            "members": {
                DR_MEMBER_NAME: {
                    "instance_id": INSTANCE,
                    "private_ip": "10.21.12.10",
                    "role": "async",
                    "target_groups": {"arn:listener/1972": "arn:group/dr"},
                }
            },
        }
    },
    "health_check": {
        "port": 52773,
        "path": "/csp/bin/mirror_status.cxw",
        "timeout_seconds": 2,
        "interval_seconds": 5,
        "healthy_threshold": 2,
        "unhealthy_threshold": 2,
    },
}
PARAMETERS = "/Iris-DrRegion/retarget"
DR_STATUS = "IRIS_DR|Disaster Recovery|CONNECTED|1|1\n"
PROMOTED = "IRIS_DR_PROMOTED|1\nIRIS_DR|Failover|PRIMARY|1|1\n"


class FakeSsm:
    """Answers each send_command with the next scripted output (or failure)."""

    def __init__(self, outputs: list[str | None]) -> None:
        self.outputs = outputs
        self.sent: list[dict[str, Any]] = []

    def send_command(self, **kwargs: Any) -> dict[str, Any]:
        self.sent.append(kwargs)
        return {"Command": {"CommandId": f"cmd-{len(self.sent)}"}}

    def get_paginator(self, operation: str) -> Any:
        """The DR retarget function's configuration parameters, as get_parameters_by_path pages them."""
        assert operation == "get_parameters_by_path"
        pages = [{"Parameters": [{"Name": f"{PARAMETERS}/{SET}", "Value": json.dumps(CONFIG["mirror_sets"][SET])}]}]

        class Paginator:
            def paginate(self, Path: str, Recursive: bool) -> list[dict[str, Any]]:  # boto3's names
                assert (Path, Recursive) == (PARAMETERS, False)
                return pages

        return Paginator()

    def get_command_invocation(self, CommandId: str, InstanceId: str) -> dict[str, Any]:  # boto3's names
        output = self.outputs[int(CommandId.split("-")[1]) - 1]
        if output is None:
            return {"Status": "Failed", "StandardErrorContent": "iris: command not found"}
        return {"Status": "Success", "StandardOutputContent": output}


class FakeLambda:
    def __init__(self, error: str | None = None) -> None:
        self.payloads: list[dict[str, Any]] = []
        self.error = error

    def get_function_configuration(self, FunctionName: str) -> dict[str, Any]:
        assert FunctionName == FUNCTION
        return {
            "Environment": {
                "Variables": {"RETARGET_PARAMETERS": PARAMETERS, "RETARGET_HEALTH_CHECK": json.dumps(CONFIG["health_check"])}
            }
        }

    def invoke(self, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        self.payloads.append(json.loads(Payload))
        if self.error:
            body = {"errorMessage": self.error}
            return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": io.BytesIO(json.dumps(body).encode())}
        body = {"mirror_set": SET, "previous": DR_MEMBER_NAME, "new": DR_MEMBER_NAME, "changed": False}
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(body).encode())}


class FakeRoute53:
    """Answers the primary region until ``switch_after`` questions were asked."""

    def __init__(self, switch_after: int) -> None:
        self.switch_after = switch_after
        self.asked = 0

    def test_dns_answer(self, HostedZoneId: str, RecordName: str, RecordType: str) -> dict[str, Any]:
        assert (HostedZoneId, RecordName, RecordType) == (ZONE, RECORD, "CNAME")
        self.asked += 1
        return {"RecordData": [DR_ALB + "." if self.asked > self.switch_after else PRIMARY_ALB + "."]}


class World:
    """A session factory: moto's CloudFormation in the DR region, the fakes for the rest."""

    def __init__(self, ssm: FakeSsm, lambda_: FakeLambda, route53: FakeRoute53) -> None:
        self.clients = {"ssm": ssm, "lambda": lambda_, "route53": route53}
        self.sessions: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> World:
        self.sessions.append(kwargs)
        return self

    def client(self, name: str) -> Any:
        return self.clients.get(name) or boto3.client(name, region_name=DR_REGION)


@pytest.fixture
def dr_stacks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": DR_REGION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        cloudformation = boto3.client("cloudformation", region_name=DR_REGION)
        for stack, outputs in (
            ("IrisDev-DrRegion", {dr.FUNCTION_OUTPUT: FUNCTION, dr.MEMBER_DOCUMENT_OUTPUT: DOCUMENT}),
            ("IrisDev-DrDns", {dr.ZONE_OUTPUT: ZONE, dr.RECORD_OUTPUT: RECORD, dr.DR_ENDPOINT_OUTPUT: DR_ALB}),
        ):
            template = {
                "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
                "Outputs": {k: {"Value": v} for k, v in outputs.items()},
            }
            cloudformation.create_stack(StackName=stack, TemplateBody=json.dumps(template))
        yield


def args(**overrides: Any) -> argparse.Namespace:
    values = {
        "mirror_set": SET,
        "acknowledge_data_loss": True,
        "dry_run": False,
        "aws_profile": None,
        "reason": None,
        "dns_timeout": 60,
    }
    return argparse.Namespace(**{**values, **overrides})


def promote(world: World, lines: list[str], **overrides: Any) -> int:
    return dr.promote(args(**overrides), SETTINGS, world, sleep=lambda _: None, out=lines.append)


def test_without_the_acknowledgement_nothing_is_called_and_the_reason_is_given(capsys: pytest.CaptureFixture[str]) -> None:
    world = World(FakeSsm([]), FakeLambda(), FakeRoute53(0))
    code = cli.main(["promote-dr", "--settings-profile", "dev", "--mirror-set", SET], session_factory=world)
    assert code == 2
    err = capsys.readouterr().err
    assert "can lose the transactions it has not received" in err and "--acknowledge-data-loss" in err
    assert "nothing was changed" in err
    assert world.sessions == []  # not even a session was opened


def test_dry_run_reads_the_stacks_prints_four_steps_and_changes_nothing(dr_stacks: None) -> None:
    ssm, lambda_, route53 = FakeSsm([]), FakeLambda(), FakeRoute53(0)
    lines: list[str] = []
    assert promote(World(ssm, lambda_, route53), lines, dry_run=True) == 0
    assert [line.strip()[:2] for line in lines[1:]] == ["1.", "2.", "3.", "4."]
    assert INSTANCE in lines[0] and DOCUMENT in lines[1] and FUNCTION in lines[3] and RECORD in lines[4]
    assert ssm.sent == [] and lambda_.payloads == [] and route53.asked == 0


def test_the_four_steps_promote_retarget_and_wait_for_dns(dr_stacks: None) -> None:
    ssm, lambda_, route53 = FakeSsm([DR_STATUS, PROMOTED]), FakeLambda(), FakeRoute53(switch_after=2)
    world = World(ssm, lambda_, route53)
    lines: list[str] = []
    assert promote(world, lines) == 0
    assert world.sessions == [{"profile_name": None, "region_name": DR_REGION}]  # the DR region only
    assert [c["Parameters"] for c in ssm.sent] == [{"action": ["status"]}, {"action": ["promote"]}]
    assert {c["DocumentName"] for c in ssm.sent} == {DOCUMENT} and {tuple(c["InstanceIds"]) for c in ssm.sent} == {(INSTANCE,)}
    (payload,) = lambda_.payloads
    assert payload["mirror_set"] == SET and payload["new_primary"] == DR_MEMBER_NAME
    assert payload["acknowledge_data_loss"] is True
    assert route53.asked == 3
    assert [line[:2] for line in lines if line[:1].isdigit()] == ["1.", "2.", "3.", "4."]
    assert "caught up" in " ".join(lines) and lines[-1].endswith("done")


def test_a_member_not_known_to_be_caught_up_is_promoted_with_a_warning(dr_stacks: None) -> None:
    ssm = FakeSsm(["IRIS_DR|Disaster Recovery|Waiting|0|0\n", PROMOTED])
    lines: list[str] = []
    assert promote(World(ssm, FakeLambda(), FakeRoute53(0)), lines) == 0
    assert any("NOT known to be caught up" in line for line in lines)


def test_an_already_promoted_member_is_not_promoted_again(dr_stacks: None) -> None:
    ssm, lambda_ = FakeSsm(["IRIS_DR|Failover|PRIMARY|1|1\n"]), FakeLambda()
    lines: list[str] = []
    assert promote(World(ssm, lambda_, FakeRoute53(0)), lines) == 0
    assert [c["Parameters"]["action"] for c in ssm.sent] == [["status"]]
    assert len(lambda_.payloads) == 1


def test_a_failed_promotion_stops_before_the_vip_and_dns(dr_stacks: None) -> None:
    ssm, lambda_, route53 = FakeSsm([DR_STATUS, "IRIS_DR_PROMOTED|0\n" + DR_STATUS]), FakeLambda(), FakeRoute53(0)
    with pytest.raises(CliError, match=r"reports Disaster Recovery / CONNECTED, not Failover / PRIMARY"):
        promote(World(ssm, lambda_, route53), [])
    assert lambda_.payloads == [] and route53.asked == 0


def test_a_failed_ssm_command_is_reported_with_its_error(dr_stacks: None) -> None:
    with pytest.raises(CliError, match=r"status on i-0dr0000000000000a ended Failed: iris: command not found"):
        promote(World(FakeSsm([None]), FakeLambda(), FakeRoute53(0)), [])


def test_a_refusal_by_the_dr_function_fails_the_promotion(dr_stacks: None) -> None:
    lambda_ = FakeLambda(error="DR (10.21.12.10) of Dev is not primary: gave HTTP 503")
    with pytest.raises(CliError, match=r"refused: DR .* is not primary"):
        promote(World(FakeSsm([DR_STATUS, PROMOTED]), lambda_, FakeRoute53(0)), [])


def test_dns_that_does_not_follow_is_a_failure_naming_the_record(dr_stacks: None) -> None:
    with pytest.raises(CliError, match=rf"Route 53 still answers {RECORD} with {PRIMARY_ALB} after 0 s"):
        promote(World(FakeSsm([DR_STATUS, PROMOTED]), FakeLambda(), FakeRoute53(switch_after=99)), [], dns_timeout=0)


def test_an_unknown_mirror_set_is_refused_before_anything_runs(dr_stacks: None) -> None:
    ssm = FakeSsm([])
    with pytest.raises(CliError, match=r"unknown mirror set 'Nope'") as caught:
        promote(World(ssm, FakeLambda(), FakeRoute53(0)), [], mirror_set="Nope")
    assert caught.value.code == 2 and ssm.sent == []


def test_a_missing_dns_stack_output_names_the_stack(dr_stacks: None) -> None:
    boto3.client("cloudformation", region_name=DR_REGION).delete_stack(StackName="IrisDev-DrDns")
    with pytest.raises(Exception, match=r"IrisDev-DrDns"):
        promote(World(FakeSsm([]), FakeLambda(), FakeRoute53(0)), [])


def test_the_status_line_is_parsed_among_the_session_banner() -> None:
    status = dr.MemberStatus.parse("Node: dr1, Instance: IRIS\n\n%SYS>\nIRIS_DR|Disaster Recovery|CONNECTED|1|1\n%SYS>\n")
    assert (status.member_type, status.status, status.caught_up, status.is_primary) == (
        "Disaster Recovery",
        "CONNECTED",
        True,
        False,
    )
    with pytest.raises(CliError, match="no status line"):
        dr.MemberStatus.parse("%SYS>\n<UNDEFINED>\n")
