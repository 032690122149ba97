"""The way the host-tool stand-ins are reached (tests/stub_server.py) keeps what a process would do:
stdin read only by a tool that reads it, the exit status, stdout and stderr apart, the caller's
arguments, environment, working directory and umask, a traceback for a stand-in that raises, and a
loud failure when no server answers."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from tests import stub_server
from tests.host_stubs import Host, make_host


@pytest.fixture
def host(tmp_path: Path) -> Host:
    host = make_host(tmp_path / "host", secrets={"known": "s3cret"}, certificate=False)
    host.update(objects={"s3://bucket/key": "body\n"})
    return host


def sh(host: Host, script: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``script`` run by bash on the host's PATH and state, as the product's scripts run."""
    env = {"PATH": f"{host.root / 'bin'}:/usr/bin:/bin", "HOST_STATE": str(host.state_file)}
    return subprocess.run(["bash", "-c", script], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_stdin_is_read_only_by_a_tool_that_reads_it(host: Host) -> None:
    # docker image inspect reads no input: what follows it in the script still has it.
    kept = sh(host, "printf 'kept\\n' | { docker image inspect missing; echo \"status $?\"; cat; }")
    assert kept.stdout == "status 1\nkept\n"
    # docker login --password-stdin reads its input to the end, as the real client does.
    read = sh(
        host, "printf 'token\\nrest\\n' | { docker login --username AWS --password-stdin registry; echo \"status $?\"; cat; }"
    )
    assert read.stdout == "status 0\n"
    assert host.state()["logged_in"] is True


def test_stand_ins_waiting_on_each_other_run_at_the_same_time(host: Host) -> None:
    # Three logins wait for their input while the aws calls that write it run: six calls at once.
    login = "{ sleep 0.2; aws ecr get-login-password; } | docker login --username AWS --password-stdin registry"
    done = sh(host, f'for i in 1 2 3; do ({login}; echo "status $?") & done; wait')
    assert done.stdout == "status 0\n" * 3, done.stderr
    assert [c[0] for c in host.state()["docker_calls"]] == ["login"] * 3


def test_status_stdout_and_stderr_stay_apart(host: Host) -> None:
    found = sh(host, "aws secretsmanager get-secret-value --secret-id known --query SecretString --output text")
    assert (found.returncode, found.stdout, found.stderr) == (0, "s3cret\n", "")
    missing = sh(host, 'aws secretsmanager get-secret-value --secret-id missing 2>/dev/null; echo "status $?"')
    assert missing.stdout == "status 254\n"
    err = sh(host, "aws secretsmanager get-secret-value --secret-id missing")
    assert (err.returncode, err.stdout) == (254, "")
    assert "ResourceNotFoundException" in err.stderr


def test_arguments_cwd_and_umask_are_the_callers(host: Host, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    put = "aws ssm put-parameter --name 'a b' --value $'x\\n y' --type String"
    done = sh(host, f"{put} && (umask 077; aws s3 cp s3://bucket/key copy)", cwd=work)
    assert done.returncode == 0, done.stderr
    assert host.state()["parameters"] == {"a b": "x\n y"}
    assert (work / "copy").read_text() == "body\n"  # relative to the caller's directory
    assert (work / "copy").stat().st_mode & 0o777 == 0o600  # created under the caller's umask


def test_a_stand_in_that_raises_fails_with_its_traceback(host: Host) -> None:
    done = sh(host, "aws s3 cp s3://bucket/missing copy")
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr and "KeyError: 's3://bucket/missing'" in done.stderr


def test_a_client_without_a_server_fails_loudly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]  # nothing listens on it once closed
    monkeypatch.setattr(stub_server, "server", lambda: (port, "token", "/the/log"))
    stub_server.client(tmp_path / "docker", "tests.host_stubs:docker_main")
    done = subprocess.run([str(tmp_path / "docker"), "ps"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 127
    assert done.stderr == (
        f"docker (test stand-in): no stub server answers on 127.0.0.1:{port} (tests/stub_server.py; its log: /the/log)\n"
    )
