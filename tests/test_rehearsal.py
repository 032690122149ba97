"""The deploy rehearsal (ops/rehearsal): cdk deploy of the reference profile into moto on 127.0.0.1.

The rehearsal runs once per module on the session's reference assembly; the
tests read its report. The rest checks the harness itself: the emulator's
address, the template Rules, the coverage table, the deployed configuration.
"""

from __future__ import annotations

import functools
import io
import json
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import retarget

from ops.rehearsal import assembly as asm
from ops.rehearsal import moto_gaps
from ops.rehearsal.emulator import Emulator, listening_addresses
from ops.rehearsal.rules import UnsupportedRule, failed_assertions
from ops.rehearsal.run import RehearsalFailed, Report, check_stand_ins, rehearse, status_page_block
from tests.conftest import ROOT, Synthesized

pytestmark = pytest.mark.skipif(
    not (ROOT / "node_modules" / "@aws-sdk" / "client-lambda").exists(), reason="run `make install` (node_modules)"
)


@pytest.fixture(scope="module")
def report(reference: Synthesized, tmp_path_factory: pytest.TempPathFactory) -> Report:
    return rehearse(reference.outdir, tmp_path_factory.mktemp("rehearsal"))


def test_every_stack_but_eks_deploys_and_the_retarget_function_behaves(report: Report) -> None:
    steps = "\n".join(report.steps)
    for expected in (
        "played by buckets in the emulator: Iris-Eks.PublishOutputFnGetAttAccessLogs",
        "placeholder guard refuses",
        "failed with the handler's message and rolled back",
        "CREATE_COMPLETE with all their outputs",
        "custom resource pointed the HSDB VIP at Member0",
        "custom resource pointed the HSAnalytics VIP at Member0",
        "switched; listeners read back on Member1",
        "made no write (already_primary)",
        "unknown member refused",
        "refused (UnhealthyPrimary); listeners still on Member1",
        "without acknowledge_data_loss refused",
        "a direct call with verify false refused; listeners still on Member1",
        "a call for HSAnalytics refused (refused_other_set)",
        "a direct call refused (custom resources only)",
        "second cdk deploy: no changes in 15 stacks; the HSDB VIP stays on Member1",
    ):
        assert expected in steps
    assert {c.stack for c in report.coverage} == {
        "Iris-Network",
        "Iris-DrNetwork",
        "Iris-EksNetwork",
        "Iris-DrRegion",
        "Iris-DrMirror-HSDB",
        "Iris-DrMirror-HSAnalytics",
        "Iris-DrWeb",
        "Iris-DataTier",
        "Iris-Mirror-HSDB",
        "Iris-Mirror-HSAnalytics",
        "Iris-AppTier",
        "Iris-DrDns",
        "Iris-Pki",
        "Iris-Audit",
        "Iris-DrReplicas",
    }


def test_a_stack_that_cannot_join_is_listed_with_its_reason(reference: Synthesized) -> None:
    joined, left_out = asm.rehearsed(reference.outdir)
    assert set(left_out) == {"Iris-Eks", "Iris-LogSearch"}
    assert all(len(why) > 60 for why in left_out.values())
    assert {s.name for s in joined} | set(left_out) == {s.name for s in asm.stacks(reference.outdir)}


def test_the_deployed_configuration_is_what_the_function_reads(report: Report) -> None:
    """The configuration as deployed (environment and each set's SSM parameter), read by the function's own reader."""
    # Each mirror set's own function (its set only) and the DR region's; the deploy-time function is not a direct entry.
    assert len(report.configs) == 3
    assert sorted(tuple(sorted(c["mirror_sets"])) for c in report.configs.values()) == [
        ("HSAnalytics",),
        ("HSAnalytics", "HSDB"),
        ("HSDB",),
    ]
    for name, config in report.configs.items():
        parsed = retarget.load_config(json.dumps(config))
        assert set(parsed.mirror_sets) == set(config["mirror_sets"]), name
        for set_name, mirror_set in parsed.mirror_sets.items():
            assert all(arn.startswith("arn:aws:elasticloadbalancing:") for arn in mirror_set.listeners)
            for member in mirror_set.members.values():
                assert member.instance_id.startswith("i-"), (set_name, member)
                assert set(member.target_groups) == set(mirror_set.listeners)


def test_a_configuration_the_function_cannot_read_is_refused(report: Report) -> None:
    """The check above can fail: a writer that renames a key the reader needs is caught."""
    config = json.loads(json.dumps(next(iter(report.configs.values()))))
    member = next(iter(next(iter(config["mirror_sets"].values()))["members"].values()))
    member["groups"] = member.pop("target_groups")
    with pytest.raises(retarget.ConfigError, match="target_groups"):
        retarget.load_config(json.dumps(config))


def test_the_emulator_listens_on_the_loopback_only(tmp_path: Path) -> None:
    emulator = Emulator(tmp_path, "000000000000")
    emulator.start()
    try:
        assert listening_addresses(emulator.port) == {"127.0.0.1"}
        assert emulator.url.startswith("http://localhost:")
    finally:
        emulator.stop()


def _function(runtime: str, source: str, *, timeout: int = 10) -> SimpleNamespace:
    """A moto LambdaFunction as run_function reads it, with ``source`` as its handler module."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("index.py" if runtime.startswith("python") else "index.js", source)
    name = f"fn-{runtime}-{len(source)}"
    return SimpleNamespace(
        code_bytes=archive.getvalue(), environment_vars={"GREETING": "hello"}, run_time=runtime, handler="index.handler",
        timeout=timeout, memory_size=128, function_name=name, region="eu-west-1",
        function_arn=f"arn:aws:lambda:eu-west-1:000000000000:function:{name}",
    )  # fmt: skip


PYTHON_HANDLER = """
import os, sys, time
calls = 0

def handler(event, context):
    global calls
    calls += 1
    print("call", calls, "for", event["name"])
    if event.get("raise"):
        raise ValueError("refused " + event["name"])
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("exit") is not None:
        sys.stdout.flush()
        os._exit(event["exit"])
    return {"pid": os.getpid(), "calls": calls, "greeting": os.environ["GREETING"], "request": context.aws_request_id}
"""


def test_a_function_keeps_a_warm_environment_between_invocations_as_lambda_does(tmp_path: Path) -> None:
    fn = _function("python3.12", PYTHON_HANDLER)
    call = functools.partial(moto_gaps.run_function, fn, workdir=tmp_path, port=1)
    try:
        first, second = (call({"name": name}) for name in ("a", "b"))
        (one, one_failed, one_log), (two, two_failed, two_log) = first, second
        one, two = json.loads(one), json.loads(two)
        assert not one_failed and not two_failed
        assert one["pid"] == two["pid"] and (one["calls"], two["calls"]) == (1, 2)  # the module state lives on
        assert one["greeting"] == "hello" and one["request"] != two["request"]
        assert one_log.strip() == "call 1 for a" and two_log.strip() == "call 2 for b"  # each its own log only

        payload, failed, log = call({"name": "c", "raise": True})
        assert failed and json.loads(payload) == {"errorMessage": "refused c", "errorType": "ValueError"}
        assert "Traceback" in log and "call 3 for c" in log
        assert json.loads(call({"name": "d"})[0])["calls"] == 4  # an error in the handler keeps the environment

        payload, failed, log = call({"name": "e", "exit": 3})
        assert failed and json.loads(payload)["errorMessage"] == "the function exited 3 without a result"
        assert "call 5 for e" in log
        fresh = json.loads(call({"name": "f"})[0])
        assert fresh["pid"] != one["pid"] and fresh["calls"] == 1  # a process that died is replaced
    finally:
        moto_gaps.stop_environments()


def test_a_function_over_its_timeout_is_stopped_and_the_next_call_starts_afresh(tmp_path: Path) -> None:
    fn = _function("python3.12", PYTHON_HANDLER, timeout=1)
    try:
        before = json.loads(moto_gaps.run_function(fn, {"name": "a"}, workdir=tmp_path, port=1)[0])
        payload, failed, log = moto_gaps.run_function(fn, {"name": "b", "sleep": 5}, workdir=tmp_path, port=1)
        assert failed and json.loads(payload) == {
            "errorMessage": "Task timed out after 1 seconds",
            "errorType": "Sandbox.Timedout",
        }
        assert "call 2 for b" in log
        after = json.loads(moto_gaps.run_function(fn, {"name": "c"}, workdir=tmp_path, port=1)[0])
        assert after["pid"] != before["pid"] and after["calls"] == 1
    finally:
        moto_gaps.stop_environments()


def test_a_node_function_serves_one_invocation_after_another(tmp_path: Path) -> None:
    source = (
        "let calls = 0;\n"
        "exports.handler = async (event) => {\n"
        "  calls += 1; console.log('call', calls);\n"
        "  return { pid: process.pid, calls, name: event.name };\n"
        "};\n"
    )
    fn = _function("nodejs20.x", source)
    try:
        results = [moto_gaps.run_function(fn, {"name": name}, workdir=tmp_path, port=1) for name in ("a", "b")]
        (one, _, one_log), (two, _, two_log) = results
        assert [json.loads(p)["calls"] for p in (one, two)] == [1, 2]
        assert json.loads(one)["pid"] == json.loads(two)["pid"] and json.loads(two)["name"] == "b"
        assert (one_log.strip(), two_log.strip()) == ("call 1", "call 2")
    finally:
        moto_gaps.stop_environments()


def test_two_rehearsals_on_one_machine_play_their_status_pages_on_loopback_blocks_apart() -> None:
    """Two test workers or checkouts rehearsing at once bound the same addresses (EADDRINUSE) when the block was fixed."""
    blocks = {status_page_block(pid) for pid in range(1, 65024)}
    assert len(blocks) == 65023
    assert all(b.startswith("127.") and not b.startswith("127.0.") and b.count(".") == 3 for b in blocks)


def test_a_stand_in_type_in_a_new_stack_is_reported_not_passed() -> None:
    document = {
        "Resources": {
            "Vpc": {"Type": "AWS::EC2::VPC"},
            "Acl": {"Type": "AWS::EC2::NetworkAcl"},
            "Glue": {"Type": "AWS::Glue::Job"},
        }
    }
    row = asm.coverage("Iris-Analytics", document, {"Acl": "AWS::EC2::NetworkAcl", "Glue": "AWS::Glue::Job"})
    assert row.modelled == {"AWS::EC2::VPC": 1}
    assert row.unreviewed == ["AWS::EC2::NetworkAcl", "AWS::Glue::Job"]
    assert "NOT REVIEWED: AWS::EC2::NetworkAcl, AWS::Glue::Job" in asm.coverage_table([row])
    with pytest.raises(RehearsalFailed, match="Iris-Analytics"):
        check_stand_ins([row])


def test_the_rehearsed_stacks_have_only_reviewed_stand_ins(report: Report) -> None:
    assert all(row.unreviewed == [] for row in report.coverage)
    assert any(row.stand_ins for row in report.coverage)  # the table counts them, it does not hide them
    reviewed = {kind for kinds in asm.REVIEWED_STAND_INS.values() for kind in kinds}
    assert reviewed <= set(asm.STAND_IN_TYPES), "every reviewed stand-in type says what it leaves unproven"


def test_the_placeholder_guard_refuses_the_shipped_placeholders(reference: Synthesized) -> None:
    refused = {}
    for stack in asm.stacks(reference.outdir):
        failed = failed_assertions(asm.template(reference.outdir, stack), {"BootstrapVersion": "30"})
        if failed:
            refused[asm.stack_role(stack.name)] = failed
    # A set's stack deploys only after its region's shared stack, whose guard names the AMI and images.
    assert set(refused) == {"DataTier", "AppTier", "DrRegion", "DrWeb"}
    assert any("data.ami_ids.eu-west-1 is the placeholder" in f for f in refused["DataTier"])
    assert any("app.certificate_arn is the placeholder" in f for f in refused["AppTier"])
    assert any("dr.certificate_arn is the placeholder" in f for f in refused["DrWeb"])


def test_the_bootstrap_rule_refuses_an_old_bootstrap() -> None:
    rule = {
        "Rules": {
            "CheckBootstrapVersion": {
                "Assertions": [
                    {
                        "Assert": {"Fn::Not": [{"Fn::Contains": [["1", "2", "3", "4", "5"], {"Ref": "BootstrapVersion"}]}]},
                        "AssertDescription": "too old",
                    }
                ]
            }
        }
    }
    assert failed_assertions(rule, {"BootstrapVersion": "5"}) == ["CheckBootstrapVersion: too old"]
    assert failed_assertions(rule, {"BootstrapVersion": "30"}) == []


def test_a_rule_the_harness_cannot_read_is_never_passed() -> None:
    with pytest.raises(UnsupportedRule, match="Fn::ValueOf"):
        failed_assertions({"Rules": {"R": {"Assertions": [{"Assert": {"Fn::ValueOf": ["P", "VpcId"]}}]}}}, {})


def test_swapping_placeholders_keeps_the_placeholder_side_of_a_rule() -> None:
    document = {
        "Resources": {"I": {"Properties": {"ImageId": "ami-0"}}},
        "Rules": {"R": {"Assertions": [{"Assert": {"Fn::Not": [{"Fn::Equals": ["ami-0", "ami-0"]}]}}]}},
    }
    swapped = asm.swap_placeholders(document, {"ami-0": "ami-real"})
    assert swapped["Resources"]["I"]["Properties"]["ImageId"] == "ami-real"
    assert swapped["Rules"]["R"]["Assertions"][0]["Assert"] == {"Fn::Not": [{"Fn::Equals": ["ami-real", "ami-0"]}]}
    assert failed_assertions(document, {}) and not failed_assertions(swapped, {})


def test_a_stack_per_set_is_reviewed_by_its_kind() -> None:
    assert asm.stack_role("Iris-Mirror-HSDB") == "Mirror"
    assert asm.stack_role("IrisDev-DrMirror-Dev") == "DrMirror"
    assert asm.stack_role("Iris-DataTier") == "DataTier"
    assert asm.stack_role("Iris-DrWeb") == "DrWeb"
