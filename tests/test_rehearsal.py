"""The deploy rehearsal (ops/rehearsal): cdk deploy of the reference profile into moto on 127.0.0.1.

The rehearsal runs once per module on the session's reference assembly; the
tests read its report. The rest checks the harness itself: the emulator's
address, the template Rules, the coverage table, the deployed configuration.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import retarget

from ops.rehearsal import assembly as asm
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
