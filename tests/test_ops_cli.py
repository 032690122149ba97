"""The operator CLI against moto (load balancers, CloudFormation) and a fake
Lambda client (moto cannot run functions without Docker)."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest

from ops import cli
from tests.moto_vip import Vip

STACK = "Iris-DataTier"
FUNCTION = "Iris-DataTier-retarget"
SET_STACK = "Iris-Mirror-HSDB"
SET_FUNCTION = "Iris-Mirror-HSDB-retarget"


class FakeLambda:
    """Records invocations; answers like the retarget function would."""

    def __init__(self, environment: dict[str, str], answer: dict[str, Any], error: bool = False) -> None:
        self.environment = environment
        self.answer = answer
        self.error = error
        self.payloads: list[dict[str, Any]] = []
        self.invoked: list[str] = []

    def get_function_configuration(self, FunctionName: str) -> dict[str, Any]:  # boto3's parameter name
        assert FunctionName in (FUNCTION, SET_FUNCTION)
        return {"Environment": {"Variables": self.environment}}

    def invoke(self, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        assert FunctionName in (FUNCTION, SET_FUNCTION) and InvocationType == "RequestResponse"
        self.invoked.append(FunctionName)
        self.payloads.append(json.loads(Payload))
        response: dict[str, Any] = {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(self.answer).encode())}
        if self.error:
            response["FunctionError"] = "Unhandled"
        return response


class Session:
    def __init__(self, fake: FakeLambda) -> None:
        self.fake = fake

    def client(self, name: str) -> Any:
        return self.fake if name == "lambda" else boto3.client(name, region_name="eu-west-1")


def stack_with_output(output: bool = True, stack: str = STACK, function: str = FUNCTION) -> None:
    template: dict[str, Any] = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    if output:
        template["Outputs"] = {cli.OUTPUT_NAME: {"Value": function}}
    boto3.client("cloudformation", region_name="eu-west-1").create_stack(StackName=stack, TemplateBody=json.dumps(template))


def run(vip: Vip, argv: list[str], answer: dict[str, Any] | None = None, error: bool = False) -> tuple[int, FakeLambda]:
    fake = FakeLambda(vip.world.environment, answer or {}, error)
    code = cli.main(argv, session_factory=lambda **_: Session(fake))
    return code, fake


def test_status_shows_where_each_vip_points(vip: Vip, capsys) -> None:
    stack_with_output()
    code, fake = run(vip, ["status"])
    out = capsys.readouterr().out
    assert code == 0
    assert "HSDB: VIP points at Member0" in out
    assert out.count("-> Member0") == 2
    assert "Member1 (failover," in out and "DR (async," in out
    assert fake.payloads == []


def test_failover_invokes_the_sets_own_function_and_prints_the_switch(vip: Vip, capsys) -> None:
    stack_with_output()
    stack_with_output(stack=SET_STACK, function=SET_FUNCTION)
    answer = {"mirror_set": "HSDB", "previous": "Member0", "new": "Member1", "changed": True, "dry_run": False}
    code, fake = run(vip, ["failover", "--mirror-set", "HSDB", "--to", "Member1", "--reason", "patching Member0"], answer)
    assert code == 0
    assert fake.invoked == [SET_FUNCTION]  # never the deploy-time function, which refuses direct calls
    assert fake.payloads == [{"mirror_set": "HSDB", "new_primary": "Member1", "reason": "patching Member0", "dry_run": False}]
    assert "HSDB: Member0 -> Member1" in capsys.readouterr().out


def test_dry_run_asks_the_function_to_change_nothing(vip: Vip, capsys) -> None:
    answer = {"previous": "Member0", "new": "Member1", "changed": False, "dry_run": True}
    code, fake = run(
        vip, ["failover", "--function-name", FUNCTION, "--mirror-set", "HSDB", "--to", "Member1", "--dry-run"], answer
    )
    assert code == 0 and fake.payloads[0]["dry_run"] is True
    assert "would point at Member1" in capsys.readouterr().out


def test_a_refusal_by_the_function_exits_1_with_its_message(vip: Vip, capsys) -> None:
    answer = {"errorMessage": "Member1 (10.0.208.10) of HSDB is not primary: gave HTTP 503", "errorType": "UnhealthyPrimary"}
    code, _ = run(vip, ["failover", "--function-name", FUNCTION, "--mirror-set", "HSDB", "--to", "Member1"], answer, error=True)
    assert code == 1
    assert (
        f"error: the retarget function {FUNCTION} refused: Member1 (10.0.208.10) of HSDB is not primary"
        in capsys.readouterr().err
    )


def test_failover_to_a_dr_member_is_refused(vip: Vip, capsys) -> None:
    code, fake = run(vip, ["failover", "--function-name", FUNCTION, "--mirror-set", "HSDB", "--to", "DR"])
    assert code == 2 and fake.payloads == []
    assert "async DR member: use promote-dr" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("mirror_set", "member", "message"),
    [("HSDB", "Member9", "unknown member 'Member9'"), ("Nope", "Member1", "unknown mirror set 'Nope'")],
)
def test_unknown_names_are_refused_before_any_call(vip: Vip, capsys, mirror_set: str, member: str, message: str) -> None:
    code, fake = run(vip, ["failover", "--function-name", FUNCTION, "--mirror-set", mirror_set, "--to", member])
    assert code == 2 and fake.payloads == []
    assert message in capsys.readouterr().err


def test_a_stack_without_the_output_is_a_clear_error(vip: Vip, capsys) -> None:
    stack_with_output(output=False)
    code, _ = run(vip, ["status"])
    assert code == 1
    assert f"stack {STACK} has no output {cli.OUTPUT_NAME}" in capsys.readouterr().err


def test_a_missing_stack_is_an_aws_error_not_a_traceback(vip: Vip, capsys) -> None:
    code, _ = run(vip, ["status", "--stack", "NoSuchStack"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: AWS:") and "Traceback" not in err
