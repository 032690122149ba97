"""`make synth` must fail on any unacknowledged cdk-nag finding or unexempted
Control Tower finding.

The gate is synthesis.main with the dev settings; the app holds the dev
network stack only (the shipped profiles' own findings are the compliance
tests'), plus one resource that breaks a rule.
"""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_sqs as sqs

import control_tower
import synthesis
from composition import Composer
from tests.conftest import QUIET, cdk_json_context


def run_main_with_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, add) -> int:
    def build_with_extra(app: cdk.App, settings):
        composer = Composer(app, settings)
        add(composer.network())
        return composer.stacks

    monkeypatch.delenv("CDK_DEFAULT_ACCOUNT", raising=False)
    app = cdk.App(context={**cdk_json_context(), "profile": "dev"}, outdir=str(tmp_path), **QUIET)
    return synthesis.main(build_with_extra, app)


def test_an_unacknowledged_error_fails_synthesis(monkeypatch, tmp_path, capsys) -> None:
    code = run_main_with_extra(monkeypatch, tmp_path, lambda stack: sqs.Queue(stack, "PlaintextQueue"))
    assert code == 1
    assert "unacknowledged cdk-nag or Control Tower findings" in capsys.readouterr().err
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for r in report["pluginReports"] for v in r["violations"]}
    assert "AwsSolutions-SQS4" in rules  # the queue does not require TLS


def test_an_unacknowledged_warning_fails_synthesis_too(monkeypatch, tmp_path, capsys) -> None:
    def add_nacl(stack) -> None:
        ec2.NetworkAcl(stack, "ExtraNacl", vpc=stack.vpc)  # AwsSolutions-VPC3 is a warning

    code = run_main_with_extra(monkeypatch, tmp_path, add_nacl)
    report = json.loads((tmp_path / "validation-report.json").read_text())
    warnings = [v for r in report["pluginReports"] for v in r["violations"] if v["severity"] == "warning"]
    assert [v["ruleName"] for v in warnings] == ["AwsSolutions-VPC3"]
    assert code == 1


def tiny_app_main(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, exemptions: list[control_tower.Exemption]) -> int:
    """The gate over one small stack whose launch template turns detailed monitoring off (CT.EC2.PR.10)."""

    def build(app: cdk.App, settings) -> dict[str, cdk.Stack]:
        stack = cdk.Stack(app, f"{settings.prefix}-Tiny", env=cdk.Environment(account=settings.account, region=settings.region))
        ec2.CfnLaunchTemplate(
            stack,
            "Bare",
            launch_template_data=ec2.CfnLaunchTemplate.LaunchTemplateDataProperty(
                metadata_options=ec2.CfnLaunchTemplate.MetadataOptionsProperty(http_tokens="required"),
                monitoring=ec2.CfnLaunchTemplate.MonitoringProperty(enabled=False),
            ),
        )
        return {"tiny": stack}

    monkeypatch.setattr(control_tower, "load_exemptions", lambda: exemptions)
    monkeypatch.delenv("CDK_DEFAULT_ACCOUNT", raising=False)
    return synthesis.main(build, cdk.App(context={**cdk_json_context(), "profile": "dev"}, outdir=str(tmp_path), **QUIET))


def control_tower_report(tmp_path: Path) -> dict:
    report = json.loads((tmp_path / "validation-report.json").read_text())
    (found,) = [r for r in report["pluginReports"] if r["pluginName"] == control_tower.PLUGIN_NAME]
    assert all(not r.get("violations") for r in report["pluginReports"] if r["pluginName"] in synthesis.NAG_PACKS)
    return found


def test_a_control_tower_finding_fails_synthesis(monkeypatch, tmp_path, capsys) -> None:
    assert tiny_app_main(monkeypatch, tmp_path, []) == 1
    assert "unacknowledged cdk-nag or Control Tower findings" in capsys.readouterr().err
    found = control_tower_report(tmp_path)
    assert [(v["ruleName"], [c["constructPath"] for c in v["violatingConstructs"]]) for v in found["violations"]] == [
        ("ec2_launch_template_monitoring_enabled_check", ["IrisDev-Tiny/Bare"])
    ]
    assert found["violations"][0]["description"].startswith("[CT.EC2.PR.10]")


def test_an_exemption_acknowledges_that_one_finding(monkeypatch, tmp_path) -> None:
    reason = "A launch template of this test that turns detailed monitoring off on purpose, to see the exemption work."
    exemption = control_tower.Exemption("CT.EC2.PR.10", "Tiny/Bare", reason)
    assert tiny_app_main(monkeypatch, tmp_path, [exemption]) == 0
    found = control_tower_report(tmp_path)
    assert found["violations"] == []
    (ack,) = found["suppressedViolations"]
    assert (ack["acknowledgedAt"], ack["reason"]) == ("IrisDev-Tiny/Bare", reason)
