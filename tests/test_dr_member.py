"""iris/dr_member.sh, run for real against tests/host_stubs.py's `iris session`, which reads
statements from stdin until the first `halt` and runs nothing after it, as IRIS does."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ops import dr
from tests.conftest import ROOT
from tests.host_stubs import DR_PROMOTE_STATEMENT, DR_STATUS_STATEMENT, install_iris, stub

DR_MEMBER = ROOT / "iris" / "dr_member.sh"


@pytest.fixture
def dr_host(tmp_path: Path) -> Path:
    """A DR member host: the kit's `iris` command (tests/host_stubs.py) with IRIS up, an async DR
    member that knows HSDB0 as primary, and `sudo -i -u USER` that runs the command."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    install_iris(bin_dir, tmp_path / "state.json", secrets={}, up=True)
    stub(
        bin_dir, "sudo", '[ "$1 $2 $3" = "-i -u irisowner" ] || { echo "sudo: unexpected $*" >&2; exit 1; }\nshift 3; exec "$@"\n'
    )
    state = json.loads((tmp_path / "state.json").read_text())
    state["iris"]["dr"] = {
        "name": "HSDBDR",
        "type": "Disaster Recovery",
        "status": "CONNECTED",
        "journal": "1",
        "databases": "1",
        "primary": "HSDB0",
    }
    (tmp_path / "state.json").write_text(json.dumps(state))
    return tmp_path


def run_dr_member(host: Path, action: str, script: Path = DR_MEMBER) -> subprocess.CompletedProcess[str]:
    environment = {
        "PATH": f"{host / 'bin'}:{os.environ['PATH']}",
        "HOST_STATE": str(host / "state.json"),
        "IRIS_INSTANCE": "IRIS",
        "IRIS_OS_USER": "irisowner",
    }
    return subprocess.run(["bash", str(script), action], env=environment, capture_output=True, text=True, timeout=30)


def host_state(host: Path) -> dict[str, Any]:
    return dict(json.loads((host / "state.json").read_text()))


def test_the_stub_session_runs_nothing_after_the_first_halt(dr_host: Path) -> None:
    """As IRIS: a halt ends the session, so a statement after it is never run."""
    session = subprocess.run(
        ["iris", "session", "IRIS", "-U", "%SYS"],
        input=f"{DR_STATUS_STATEMENT}\nhalt\n{DR_PROMOTE_STATEMENT}\nhalt\n",
        env={"PATH": f"{dr_host / 'bin'}:{os.environ['PATH']}", "HOST_STATE": str(dr_host / "state.json")},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert session.returncode == 0, session.stderr
    assert session.stdout == "%SYS>IRIS_DR|Disaster Recovery|CONNECTED|1|1\n"
    assert "promotions" not in host_state(dr_host)["iris"]["dr"]


def test_dr_status_prints_the_status_and_the_primary_it_knows(dr_host: Path) -> None:
    run = run_dr_member(dr_host, "status")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["IRIS_DR|Disaster Recovery|CONNECTED|1|1", "IRIS_DR_PRIMARY|HSDB0"]
    state = host_state(dr_host)
    assert state["sessions"] == 1 and "promotions" not in state["iris"]["dr"]


def test_dr_promote_promotes_then_prints_the_status_after_the_promotion(dr_host: Path) -> None:
    """One session: the promotion, then the status as it is afterwards (not a halt in between)."""
    run = run_dr_member(dr_host, "promote")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["IRIS_DR_PROMOTED|1", "IRIS_DR|Failover|PRIMARY|1|1", "IRIS_DR_PRIMARY|HSDBDR"]
    state = host_state(dr_host)
    assert state["sessions"] == 1 and state["iris"]["dr"]["promotions"] == 1
    # What ops promote-dr makes of it: a primary.
    assert dr.MemberStatus.parse(run.stdout).is_primary


def test_dr_member_fails_when_iris_is_down(dr_host: Path) -> None:
    state = host_state(dr_host)
    state["iris"]["up"] = False
    (dr_host / "state.json").write_text(json.dumps(state))
    run = run_dr_member(dr_host, "status")
    assert run.returncode == 1
    assert run.stdout == ""


def test_dr_member_refuses_an_unknown_action_without_touching_iris(dr_host: Path) -> None:
    run = run_dr_member(dr_host, "demote")
    assert run.returncode == 2
    assert "usage:" in run.stderr and "'demote'" in run.stderr
    assert host_state(dr_host)["iris_calls"] == []
