"""`make synth` must fail on any unacknowledged cdk-nag finding.

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
    assert "unacknowledged cdk-nag findings" in capsys.readouterr().err
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
