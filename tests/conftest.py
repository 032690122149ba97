"""Synthesize each profile once per test session, as a real run would.

The context is read from cdk.json, exactly as the CDK CLI passes it to the
app; the cdk-nag packs run as validation plugins. A nag failure does not stop
the session: the compliance tests read the report and name the findings.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk.assertions import Template
from moto import mock_aws

import app as app_module
import synthesis
from config import Settings
from tests.linters import Linters
from tests.moto_vip import REGION, Vip

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ("reference", "dev")

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def cdk_json_context() -> dict[str, Any]:
    return json.loads((ROOT / "cdk.json").read_text())["context"]


# Views over several stacks: role -> (the shared stack's role, the prefix of its members' roles).
MERGED = {"data": ("data_tier", "mirror_"), "dr": ("dr_region", "dr_mirror_")}


@dataclass
class Synthesized:
    """One profile's cloud assembly on disk, with parsed templates."""

    settings: Settings
    outdir: Path
    stacks: dict[str, cdk.Stack]
    manifest: dict[str, Any]
    report: dict[str, Any]
    error: str | None
    linters: Linters

    def template_json(self, role: str) -> dict[str, Any]:
        """One stack's template; ``data`` is the data tier as a whole (the shared stack and every mirror
        set's), ``dr`` the DR region's members as a whole (the shared stack and every DR member's)."""
        if role in MERGED:
            shared, prefix = MERGED[role]
            parts = [self.template_json(r) for r in (shared, *sorted(r for r in self.stacks if r.startswith(prefix)))]
            merged = {key: {k: v for p in parts for k, v in p.get(key, {}).items()} for key in ("Resources", "Outputs", "Rules")}
            # Logical ids are unique across these stacks (each set's carry its name), so nothing is lost here.
            assert len(merged["Resources"]) == sum(len(p["Resources"]) for p in parts), "a logical id repeats across stacks"
            return merged
        name = self.stacks[role].artifact_id
        return json.loads((self.outdir / f"{name}.template.json").read_text())

    def local(self, value: Any) -> Any:
        """``value`` as its own stack writes it: a reference to another stack's output becomes that output's value."""
        if isinstance(value, dict) and "Fn::GetStackOutput" in value:
            ref = value["Fn::GetStackOutput"]
            (role,) = [r for r, stack in self.stacks.items() if stack.stack_name == ref["StackName"]]
            return self.template_json(role)["Outputs"][ref["OutputName"]]["Value"]
        return value

    def template(self, role: str) -> Template:
        return Template.from_json(self.template_json(role))

    def template_files(self) -> list[Path]:
        return sorted(self.outdir.glob("*.template.json"))


def synthesize(outdir: Path, overrides: Mapping[str, Any]) -> Synthesized:
    app = cdk.App(context={**cdk_json_context(), **overrides}, outdir=str(outdir))
    # A nag failure does not raise: the compliance tests name the findings.
    result = synthesis.synthesize(app, {}, app_module.build)
    manifest = json.loads((outdir / "manifest.json").read_text())
    return Synthesized(
        settings=result.settings,
        outdir=outdir,
        stacks=result.stacks,
        manifest=manifest,
        report=json.loads((outdir / "validation-report.json").read_text()),
        error=result.nag_failure,
        linters=Linters(manifest, outdir),
    )


# Whether this run holds the compliance tests, whose linters then start as each shipped profile is synthesized.
LINTED_IN_THIS_RUN = False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    global LINTED_IN_THIS_RUN
    LINTED_IN_THIS_RUN = any(item.path.name == "test_compliance.py" for item in items)


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Synthesized]:
    """``synth(profile, **overrides)``: that assembly, built on first use only."""
    cache: dict[tuple[str, tuple[tuple[str, Any], ...]], Synthesized] = {}

    def get(profile: str, **overrides: Any) -> Synthesized:
        key = (profile, tuple(sorted(overrides.items())))
        if key not in cache:
            outdir = tmp_path_factory.mktemp(f"cdk.out.{profile}")
            cache[key] = synthesize(outdir, {"profile": profile, **overrides})
            if not overrides and LINTED_IN_THIS_RUN:
                cache[key].linters.start()  # beside the tests that follow
        return cache[key]

    return get


REAL_AMI = "ami-0123456789abcdef0"
COPY_KEY = "arn:aws:kms:eu-central-1:000000000000:key/11111111-2222-3333-4444-555555555555"
# One extra dev synthesis with the other branches of the data tier's settings.
DATA_CUSTOM = {
    "data.health_check_path": "/csp/user/mirror_status.cxw",
    "data.health_check_port": "57772",
    "data.ami_ids.eu-west-1": REAL_AMI,
    "data.backup.copy_region": "eu-central-1",
    "data.backup.copy_kms_key_arn": COPY_KEY,
    "dr": "none",  # a copy target of the settings' own choosing: no DR region
    "data.iris.image.digest": "sha256:" + "a" * 64,
    "data.iris.arbiter_image.digest": "sha256:" + "b" * 64,
    "data.iris.web_gateway_image.digest": "sha256:" + "c" * 64,
    "data.iris.memory_ratio": "0.6",
    "data.mirror_qos_timeout_ms": "12000",
}


@pytest.fixture(scope="session")
def custom_data(synth: Callable[..., Synthesized]) -> Synthesized:
    return synth("dev", **DATA_CUSTOM)


@pytest.fixture(scope="session")
def reference(synth: Callable[[str], Synthesized]) -> Synthesized:
    return synth("reference")


@pytest.fixture(scope="session")
def dev(synth: Callable[[str], Synthesized]) -> Synthesized:
    return synth("dev")


@pytest.fixture(scope="session", params=PROFILES)
def assembly(request: pytest.FixtureRequest, synth: Callable[[str], Synthesized]) -> Synthesized:
    """Each profile in turn."""
    return synth(request.param)


@pytest.fixture(scope="module")
def moto_vip() -> Iterator[Vip]:
    """A moto mirror VIP built once per test module; the mock ends with the module."""
    env = pytest.MonkeyPatch()
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        env.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2"):
        env.delenv(key, raising=False)
    try:
        with mock_aws():
            yield Vip()
    finally:
        env.undo()


@pytest.fixture
def vip(moto_vip: Vip, monkeypatch: pytest.MonkeyPatch) -> Iterator[Vip]:
    """The module's VIP, listeners back on Member0, the function's environment set, no CloudFormation stacks."""
    moto_vip.reset()
    for key, value in moto_vip.world.environment.items():
        monkeypatch.setenv(key, value)
    yield moto_vip
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    for stack in cloudformation.list_stacks(StackStatusFilter=["CREATE_COMPLETE"])["StackSummaries"]:
        cloudformation.delete_stack(StackName=stack["StackName"])
