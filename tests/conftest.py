"""Synthesize each profile once per test session, as a real run would.

The context is read from cdk.json, exactly as the CDK CLI passes it to the
app; the cdk-nag packs run as validation plugins on the shipped profiles. A
nag failure does not stop the session: the compliance tests read the report
and name the findings. A variant (a shipped profile with overrides) is
synthesized without the packs: its tests read templates only. No app a test
builds runs CDK's built-in CloudFormation validation (``QUIET``): it reports
its errors as warnings that fail nothing, costs seconds per synthesis, and
cfn-lint checks the shipped templates strictly (tests/test_compliance.py).

Under pytest-xdist (``make test`` runs two workers) the workers share one
folder: the first to ask for an assembly synthesizes it under a lock, the
others read it from disk.
"""

from __future__ import annotations

import fcntl
import gc
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.linters import SYNTHESIZED, Linters, ShippedLinters, wait_for_started

if TYPE_CHECKING:
    from aws_cdk.assertions import Template

    from config import Settings
    from tests.moto_vip import Vip

# The CDK, the app, moto and boto3 are imported where they are used: the pytest-xdist controller
# loads this file too, and runs no test; importing them first would hold back the workers' start
# by about 2 s.

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ("reference", "dev")
# The modules whose slow tests read cfn-lint's and checkov's findings.
LINTED_MODULES = ("test_compliance.py", "test_hybrid.py")

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


# For an app built only to read its templates: CDK's built-in template validation off.
QUIET = {"builtin_cloud_formation_validation": False}


def cdk_json_context() -> dict[str, Any]:
    return json.loads((ROOT / "cdk.json").read_text())["context"]


# Views over several stacks: role -> (the shared stack's role, the prefix of its members' roles).
MERGED = {"data": ("data_tier", "mirror_"), "dr": ("dr_region", "dr_mirror_")}


@dataclass(frozen=True)
class StackRef:
    """A synthesized stack as the tests see it: its names and region."""

    stack_name: str
    artifact_id: str
    account: str
    region: str


@dataclass
class Synthesized:
    """One profile's cloud assembly on disk, with parsed templates."""

    settings: Settings
    outdir: Path
    stacks: dict[str, StackRef]
    manifest: dict[str, Any]
    report: dict[str, Any]
    error: str | None
    linters: Linters | None  # a shipped profile's findings of cfn-lint and checkov; a variant is not linted

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
        from aws_cdk.assertions import Template

        return Template.from_json(self.template_json(role))

    def template_files(self) -> list[Path]:
        return sorted(self.outdir.glob("*.template.json"))


def synthesize(outdir: Path, context: Mapping[str, Any], *, checks: bool) -> None:
    """The assembly of ``context`` into ``outdir``, with the nag packs if ``checks``, and the Control
    Tower rules too if a test of this run reads them (they cost several seconds of cfn-guard).

    A variant (no ``checks``) is read for its templates only: its assets stay where they are instead
    of being copied in (the kubectl and AWS CLI layers are 57 MB), which leaves the templates as
    they are (the CDK's ``aws:cdk:disable-asset-staging``, as SAM uses it)."""
    import aws_cdk as cdk

    import app as app_module
    import synthesis

    staging = {} if checks else {"aws:cdk:disable-asset-staging": True}
    app = cdk.App(context={**context, **staging}, outdir=str(outdir), **QUIET)
    # A nag failure does not raise: the compliance tests name the findings.
    result = synthesis.synthesize(app, {}, app_module.build, checks=checks, control_tower_rules=CONTROL_TOWER_IN_THIS_RUN)
    stacks = {
        role: {"stack_name": s.stack_name, "artifact_id": s.artifact_id, "account": s.account, "region": s.region}
        for role, s in result.stacks.items()
    }
    (outdir / SYNTHESIZED).write_text(json.dumps({"stacks": stacks, "error": result.nag_failure}))


def load(outdir: Path, context: Mapping[str, Any], linters: Linters | None) -> Synthesized:
    from config import load_settings

    synthesized = json.loads((outdir / SYNTHESIZED).read_text())
    manifest = json.loads((outdir / "manifest.json").read_text())
    report = outdir / "validation-report.json"
    return Synthesized(
        settings=load_settings(context, {}),
        outdir=outdir,
        stacks={role: StackRef(**ref) for role, ref in synthesized["stacks"].items()},
        manifest=manifest,
        report=json.loads(report.read_text()) if report.exists() else {"pluginReports": []},
        error=synthesized["error"],
        linters=linters,
    )


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """``path`` held exclusively by this process (another worker waits)."""
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def shared_folder(factory: pytest.TempPathFactory) -> Path:
    """A folder every worker of this run sees: the run's own under pytest-xdist, else the session's."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


# Whether this run holds slow tests (``make check``): the linters then start as each shipped profile is
# synthesized, and the shipped profiles' syntheses run the Control Tower rules, which those tests read.
LINTED_IN_THIS_RUN = False
CONTROL_TOWER_IN_THIS_RUN = False


# The modules that take longest, first, in this order (the Makefile's pytest-xdist keeps it, with
# --no-loadscope-reorder): one worker synthesizes the reference profile and deploys it while the other
# synthesizes dev for the boot scripts, and the run does not end with one worker still busy on a long module.
FIRST = (
    "test_rehearsal.py",
    "test_member_boot.py",
    "test_eks.py",
    "test_app_tier.py",
    "test_restore_drill.py",
    "test_retarget.py",
    "test_drill.py",
    "test_host_certificate.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(FIRST)))  # stable: the others keep their order


def pytest_collection_finish(session: pytest.Session) -> None:
    """Decided on the tests selected, after ``-m`` and ``-k`` have left some out."""
    global LINTED_IN_THIS_RUN, CONTROL_TOWER_IN_THIS_RUN
    slow = [item for item in session.items if item.get_closest_marker("slow")]
    LINTED_IN_THIS_RUN = any(item.path.name in LINTED_MODULES for item in slow)
    CONTROL_TOWER_IN_THIS_RUN = bool(slow)


def pytest_sessionfinish() -> None:
    wait_for_started()  # the linters this process started, which another worker may still be reading


def pytest_unconfigure() -> None:
    """The objects the syntheses and the CDK's modules leave are nobody's garbage: they are left out of
    the interpreter's last collection at exit, which took a worker about 1.5 s after its last test."""
    gc.freeze()


def assembly_folder(shared: Path, profile: str, overrides: Mapping[str, Any]) -> Path:
    key = (profile, tuple(sorted(overrides.items())))
    return shared / f"cdk.out.{profile}-{hashlib.sha256(json.dumps(key).encode()).hexdigest()[:12]}"


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Synthesized]:
    """``synth(profile, **overrides)``: that assembly, built on first use in the whole run only."""
    cache: dict[tuple[str, tuple[tuple[str, Any], ...]], Synthesized] = {}
    shared = shared_folder(tmp_path_factory)

    def get(profile: str, **overrides: Any) -> Synthesized:
        key = (profile, tuple(sorted(overrides.items())))
        if key not in cache:
            context = {**cdk_json_context(), "profile": profile, **overrides}
            outdir = assembly_folder(shared, profile, overrides)
            with locked(shared / f"{outdir.name}.lock"):
                if not (outdir / SYNTHESIZED).exists():
                    outdir.mkdir(exist_ok=True)
                    synthesize(outdir, context, checks=not overrides)
            cache[key] = load(outdir, context, None if overrides else linters.view(profile))
            if not overrides and LINTED_IN_THIS_RUN:
                # The linters read every shipped profile at once: build the others now, so that the
                # linters start early, beside the tests that follow, not after the last profile's first test.
                linters.synthesize_all()
                linters.start()
        return cache[key]

    shipped = list(cdk_json_context()["profiles"])  # every profile cdk.json ships, hybrid too
    linters = ShippedLinters(
        {profile: assembly_folder(shared, profile, {}) for profile in shipped},
        shared / "linters",
        lambda: [get(profile) for profile in shipped],
    )
    return get


REAL_AMI = "ami-0123456789abcdef0"
REAL_CERTIFICATE = "arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
COPY_KEY = "arn:aws:kms:eu-central-1:000000000000:key/11111111-2222-3333-4444-555555555555"
PUBLIC_CIDR = "81.2.69.0/24"
ADMIN_ROLE = "arn:aws:iam::000000000000:role/platform-admins"
PORTAL_SECRET = "arn:aws:secretsmanager:eu-west-1:000000000000:secret:mendix/portal-namespace-AbCdEf"
GIVEN_ZONE = "Z0123456789ABCDEFGHIJ"

# Two variants of dev hold the other branch of nearly every setting between them; each area's
# overrides stay apart from the others', so a test reads only its own area's stacks.
CUSTOM = {
    # The data tier's: a status page of its own, real images, a snapshot copy target of the
    # settings' own choosing (so no DR region), other memory and QoS settings.
    "data.health_check_path": "/csp/user/mirror_status.cxw",
    "data.health_check_port": "57772",
    "data.ami_ids.eu-west-1": REAL_AMI,
    "data.backup.copy_region": "eu-central-1",
    "data.backup.copy_kms_key_arn": COPY_KEY,
    "dr": "none",
    "data.iris.image.digest": "sha256:" + "a" * 64,
    "data.iris.arbiter_image.digest": "sha256:" + "b" * 64,
    "data.iris.web_gateway_image.digest": "sha256:" + "c" * 64,
    "data.iris.memory_ratio": "0.6",
    "data.mirror_qos_timeout_ms": "12000",
    "data.mirror_async_compression": "lz4",
    # The app tier's.
    "app.sticky_duration_seconds": "600",
    "app.print_servers.count": "1",
    "app.web_ami_ids.eu-west-1": REAL_AMI,
    "app.ecp_ami_ids.eu-west-1": REAL_AMI,
    "app.certificate_arn": REAL_CERTIFICATE,
    "app.private_zone_name": "iris.hospital.example",
    "app.scaling.cpu_target_percent": "45",
    "app.application_paths": "/csp/healthshare,/trakcare",
    # The Mendix platform's: a public endpoint for named CIDRs, an administrator role, no account
    # trail, the Operator connected to the Mendix Portal with its namespace secret, no pipeline.
    "eks.public_endpoint_cidrs": PUBLIC_CIDR,
    "eks.admin_role_arns": ADMIN_ROLE,
    "audit.trail": "false",
    # A key administrator named: every key's destruction reserved to that role.
    "audit.key_admin_role": "IrisKeyAdministrator",
    "eks.mendix_operator.mode": "connected",
    "eks.mendix_operator.namespace_secret_arn": PORTAL_SECRET,
    # Connected, the Portal deploys the apps, so no pipeline (and, with no DR region, no backup copies).
    "eks.pipeline": "none",
    # An existing CA (shared through AWS RAM, say) instead of the Pki stack's.
    "tls.ca_arn": "arn:aws:acm-pca:eu-west-1:111111111111:certificate-authority/12345678-1234-1234-1234-123456789012",
}
# The branches CUSTOM cannot hold beside its own: the API failover method, a given DR hosted
# zone, and no EKS (in the data tier, the DR DNS and the network stacks respectively).
ALTERNATIVES = {"data.failover_method": "api", "dr.dns.hosted_zone_id": GIVEN_ZONE, "eks.enabled": "false"}


@pytest.fixture(scope="session")
def custom(synth: Callable[..., Synthesized]) -> Synthesized:
    return synth("dev", **CUSTOM)


@pytest.fixture(scope="session")
def alternatives(synth: Callable[..., Synthesized]) -> Synthesized:
    return synth("dev", **ALTERNATIVES)


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
    from moto import mock_aws

    from tests.moto_vip import REGION, Vip

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
    import boto3

    from tests.moto_vip import REGION

    cloudformation = boto3.client("cloudformation", region_name=REGION)
    for stack in cloudformation.list_stacks(StackStatusFilter=["CREATE_COMPLETE"])["StackSummaries"]:
        cloudformation.delete_stack(StackName=stack["StackName"])
