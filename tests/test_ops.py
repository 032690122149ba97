"""Operator tools: the deploy preflight and the compliance summary."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ops import bench, compliance_report, preflight
from tests.conftest import ROOT

IRIS_VALUES = [
    "-c", "account=123456789012",
    "-c", "data.ami_ids.eu-west-1=ami-0123456789abcdef0",
    "-c", "network.onprem_gateway_ip=81.2.69.160",
    *(arg for sev in ("P1", "P2", "P3", "P4") for arg in ("-c", f"ops.notifications.{sev}.emails=dba@hospital.example.nl")),
    "-c", "data.ami_ids.eu-central-1=ami-0fedcba9876543210",
    "-c", "dr.dns.zone_name=hospital.example.nl",
    "-c", "app.web_ami_ids.eu-central-1=ami-0fedcba9876543212",
    "-c", "dr.certificate_arn=arn:aws:acm:eu-central-1:123456789012:certificate/12345678-1234-1234-1234-123456789012",
    "-c", "app.web_ami_ids.eu-west-1=ami-0fedcba9876543210",
    "-c", "app.ecp_ami_ids.eu-west-1=ami-0fedcba9876543211",
    "-c", "app.ecp_ami_ids.eu-central-1=ami-0fedcba9876543213",
    "-c", "app.certificate_arn=arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012",
    "-c", "data.iris.image.digest=sha256:" + "1" * 64,
    "-c", "data.iris.arbiter_image.digest=sha256:" + "2" * 64,
    "-c", "data.iris.web_gateway_image.digest=sha256:" + "3" * 64,
]  # fmt: skip
EKS_VALUES = [
    "-c", "eks.pipeline.connection_arn=arn:aws:codeconnections:eu-west-1:123456789012:connection/"
    "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
    "-c", "eks.pipeline.repository=hospital/mendix-portal",
    "-c", "eks.mendix_operator.installer_image=123456789012.dkr.ecr.eu-west-1.amazonaws.com/mendix/mxpc-cli:2.24.2",
    "-c", "eks.pipeline.mxbuild_image=123456789012.dkr.ecr.eu-west-1.amazonaws.com/mendix/mxbuild:10.24.0",
    "-c", "eks.mendix_operator.certificate_arn=arn:aws:acm:eu-west-1:123456789012:certificate/"
    "12345678-1234-1234-1234-123456789013",
    "-c", "eks.budget.emails=finance@hospital.example.nl",
]  # fmt: skip
REAL_VALUES = IRIS_VALUES + EKS_VALUES


def test_preflight_names_every_placeholder_and_refuses(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.delenv("CDK_DEFAULT_ACCOUNT", raising=False)
    assert preflight.main(["--profile", "reference"]) == 1
    err = capsys.readouterr().err
    for key in (
        "account=000000000000",
        "data.ami_ids.eu-west-1=ami-00000000000000000",
        "network.onprem_gateway_ip=203.0.113.10",
        "ops.notifications.P1.emails.0=iris-oncall@example.com",
        "ops.notifications.P4.emails.1=mendix-alerts@example.com",
        "data.ami_ids.eu-central-1=ami-00000000000000000",
        "dr.dns.zone_name=example.org",
        "app.web_ami_ids.eu-central-1=ami-00000000000000000",
        "dr.certificate_arn=arn:aws:acm:eu-central-1:000000000000:certificate/",
        "app.web_ami_ids.eu-west-1=ami-00000000000000000",
        "app.ecp_ami_ids.eu-west-1=ami-00000000000000000",
        "app.certificate_arn=arn:aws:acm:eu-west-1:000000000000:certificate/00000000-0000-0000-0000-000000000000",
        "data.iris.image.digest=sha256:0000",
        "data.iris.arbiter_image.digest=sha256:0000",
        "data.iris.web_gateway_image.digest=sha256:0000",
        "eks.pipeline.connection_arn=",
        "eks.pipeline.repository=example-org/mendix-app",
        "eks.mendix_operator.installer_image=000000000000.dkr.ecr",
        "eks.pipeline.mxbuild_image=000000000000.dkr.ecr",
        "eks.mendix_operator.certificate_arn=arn:aws:acm:eu-west-1:000000000000:certificate/",
        "eks.budget.emails.0=finops@example.com",
    ):
        assert key in err
    assert "nothing was deployed" in err


def test_preflight_passes_once_every_placeholder_is_replaced(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.delenv("CDK_DEFAULT_ACCOUNT", raising=False)
    assert preflight.main(["--profile", "reference", *REAL_VALUES]) == 0
    assert "no placeholders left" in capsys.readouterr().out


def test_preflight_ignores_eks_placeholders_when_eks_is_off(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.delenv("CDK_DEFAULT_ACCOUNT", raising=False)
    assert preflight.main(["--profile", "reference", *IRIS_VALUES, "-c", "eks.enabled=false"]) == 0


def test_preflight_reports_a_bad_setting_as_such(capsys: pytest.CaptureFixture[str]) -> None:
    assert preflight.main(["--profile", "dev", "-c", "network.nat_gateways=9"]) == 2
    assert "invalid setting network.nat_gateways=9:" in capsys.readouterr().err


@pytest.mark.slow
def test_compliance_summary_is_current(reference, dev) -> None:
    """docs/compliance.md is what `make report` writes for today's templates."""
    reports = {"reference": reference.report, "dev": dev.report}
    stacks = {name: sorted(s.artifact_id for s in a.stacks.values()) for name, a in (("reference", reference), ("dev", dev))}
    expected = compliance_report.render(reports, stacks)
    assert "HIPAA.Security" in expected and "VPCNoUnrestrictedRouteToIGW" in expected
    assert (ROOT / "docs" / "compliance.md").read_text() == expected, "run `make report` and commit docs/compliance.md"


def test_bench_reports_what_the_eks_stack_adds() -> None:
    lines = bench.report(
        {"full": 30.0, "without EKS": 20.0, "empty": 5.0},
        {"full": [30.0, 31.0, 29.0], "without EKS": [20.0, 20.0, 21.0], "empty": [5.0, 5.0, 5.0]},
        {"full": 17.5, "without EKS": 12.0, "empty": 1.0},
    )
    text = "\n".join(lines)
    assert "ratio full / empty       :   6.00x (the full app's kernel CPU alone: 3.50x the empty app's" in text
    assert "jsii kernel, full        : median  17.50 s CPU" in text
    assert "ratio without EKS / empty:   4.00x (kernel CPU alone: 2.40x)" in text
    assert "ratio full / without EKS :   1.50x" in text
    assert "the EKS stack adds       :  10.00 s (50% of the app without it)" in text
    assert bench.synth_cmd("out", context={"eks.enabled": "false"})[-2:] == ["-c", "eks.enabled=false"]


# A shell command that uses 0.3 s of CPU in a process of its own.
BURN = shlex.join([sys.executable, "-c", "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass"])


def test_bench_records_the_cpu_time_of_the_process_it_stands_in_for(tmp_path: Path) -> None:
    """The wrapper jsii starts as ``node`` passes its arguments and exit status through, and records the CPU
    time of what it ran, children included: here a shell that burns CPU in a child of its own."""
    wrapper = bench.kernel_node(tmp_path)
    record = tmp_path / "cpu"
    env = {**os.environ, "BENCH_NODE": "/bin/sh", "BENCH_KERNEL_CPU": str(record)}
    run = subprocess.run([str(wrapper), "-c", f"{BURN}; exit 7"], env=env, check=False)
    assert run.returncode == 7
    assert 0.3 <= float(record.read_text()) < 5


def test_bench_kernel_stand_in_keeps_the_streams_jsii_talks_over(tmp_path: Path) -> None:
    """jsii writes requests to the kernel's stdin and reads its answers from stdout, through the stand-in."""
    env = {**os.environ, "BENCH_NODE": "/bin/cat", "BENCH_KERNEL_CPU": str(tmp_path / "cpu")}
    run = subprocess.run([str(bench.kernel_node(tmp_path))], input=b'{"hello":1}\n{"exit":0}\n', env=env, capture_output=True)
    assert (run.returncode, run.stdout) == (0, b'{"hello":1}\n{"exit":0}\n')
    assert float((tmp_path / "cpu").read_text()) >= 0


def test_bench_kernel_stand_in_passes_a_stop_signal_on(tmp_path: Path) -> None:
    """Stopped with SIGTERM (as jsii stops a kernel that does not exit), the stand-in stops node too, still
    records, and exits as a shell reports a process killed by that signal."""
    env = {**os.environ, "BENCH_NODE": "/bin/sleep", "BENCH_KERNEL_CPU": str(tmp_path / "cpu")}
    stand_in = subprocess.Popen([str(bench.kernel_node(tmp_path)), "30"], env=env)
    deadline = time.monotonic() + 10
    while not any(_children_named(stand_in.pid, "sleep")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.1)  # the child shows in /proc a moment before the stand-in holds its handle
    stand_in.send_signal(signal.SIGTERM)
    assert stand_in.wait(timeout=10) == 128 + signal.SIGTERM
    assert (tmp_path / "cpu").exists()


def _children_named(pid: int, name: str) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in children.read_text().split() if Path(f"/proc/{c}/comm").read_text().strip() == name]


def test_bench_synthesis_runs_its_kernel_through_the_stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``timed_synth`` hands the command the stand-in as ``JSII_NODE`` and the real node (here a shell that
    burns 0.3 s of CPU) behind it, and reads back what the stand-in recorded."""
    monkeypatch.setitem(bench.ENV, "JSII_NODE", "/bin/sh")
    monkeypatch.setitem(bench.ENV, "BURN", BURN)
    _, cpu = bench.timed_synth(["/bin/sh", "-c", '"$JSII_NODE" -c "$BURN"'], bench.kernel_node(tmp_path), tmp_path / "cpu")
    assert 0.3 <= cpu < 5
    with pytest.raises(SystemExit, match="no jsii kernel recorded its CPU time"):
        bench.timed_synth(["/bin/true"], bench.kernel_node(tmp_path), tmp_path / "none")


def test_bench_compares_the_growth_of_time_with_the_growth_of_resources() -> None:
    line = bench.scale_line(16, {"full": 30.0, "16 sets": 60.0}, {"full": 800, "16 sets": 2400})
    assert line == "16 sets / shipped        : time  2.00x, resources  3.00x (800 -> 2400); time per resource  0.67x"
    overrides = bench.many_sets({"data": {"mirror_sets": [{"name": "A"}, {"name": "B", "x": 1}]}}, 3)
    assert [s["name"] for s in json.loads(overrides["data.mirror_sets"])] == ["A", "Set01", "Set02"]
    assert json.loads(overrides["dr.mirror_sets"]) == ["A", "Set01", "Set02"]
