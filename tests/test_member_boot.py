"""iris/member_boot.sh run for real, on the files the dev profile's user data
writes, against stubs of docker (IRIS in its container), the AWS CLI and the
host tools (tests/host_stubs.py): first boot, reboot, a backup that waits and
joins, one that gives up, a replaced member, a mirror already running, and an
async member."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, Synthesized
from tests.host_stubs import Host, make_host
from tests.templates import instance_user_data

BOOT = ROOT / "iris" / "member_boot.sh"
SUPERUSER_PASSWORD = "Su7perUserPassw0rdFromSecretsMgr"
CSPSYSTEM_PASSWORD = "Csp5ystemPassw0rdFromSecretsMgr9"
HEREDOC = re.compile(r"cat > (/etc/iris-aws/\S+) <<'IRIS_EOF'\n(.*?)\nIRIS_EOF", re.S)


def member_files(assembly: Synthesized, role: str, member: str) -> dict[str, str]:
    """The /etc/iris-aws files the user data of ``member`` (Member0, Member1, DR) writes."""
    (user_data,) = [u for k, u in instance_user_data(assembly.template_json(role)).items() if f"{member}Instance" in k]
    return {path.rsplit("/", 1)[1]: text + "\n" for path, text in HEREDOC.findall(user_data)}


def env_value(env: str, key: str) -> str:
    return re.search(rf"^{key}='(.*)'$", env, re.M)[1]  # type: ignore[index]


class Agent:
    """A TCP listener on the loopback that stands for a primary's ISCAgent."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.thread: threading.Thread | None = None

    def start(self, after: float = 0.0, once_logged: tuple[Path, str] | None = None) -> None:
        """Listen after ``after`` seconds, or once the file of ``once_logged`` holds its text (the
        script said it waits: a loaded machine cannot reach the check after the agent is up)."""

        def serve() -> None:
            if once_logged is not None:
                path, text = once_logged
                deadline = time.monotonic() + 60
                while not (path.exists() and text in path.read_text()) and time.monotonic() < deadline:
                    if self.stopped:
                        return
                    time.sleep(0.05)
            self.socket.listen(8)
            self.socket.settimeout(0.2)
            while not self.stopped:
                try:
                    self.socket.accept()[0].close()
                except OSError:
                    continue

        self.stopped = False
        self.thread = threading.Timer(after, serve)
        self.thread.start()

    def stop(self) -> None:
        self.stopped = True
        if self.thread is not None:
            self.thread.cancel()
            self.thread.join()
        self.socket.close()


@pytest.fixture
def agent() -> Iterator[Agent]:
    a = Agent()
    yield a
    a.stop()


def install(host: Host, files: dict[str, str], **env: str) -> dict[str, str]:
    """Write the member's files to the host, with ``env`` replacing member.env values."""
    for name, text in files.items():
        if name == "member.env":
            for key, value in env.items():
                text = re.sub(rf"^{key}='.*'$", f"{key}='{value}'", text, flags=re.M)
        (host.conf / name).write_text(text)
    (host.conf / "ZMIRROR.mac").write_text((ROOT / "iris" / "ZMIRROR.mac").read_text())
    return files


def new_host(tmp_path: Path, dev: Synthesized, member: str, agent: Agent, *, parameters=None, role="data", **env: str) -> Host:
    files = member_files(dev, role, member)
    secrets = {
        env_value(files["member.env"], "SUPERUSER_SECRET"): SUPERUSER_PASSWORD,
        env_value(files["member.env"], "CSPSYSTEM_SECRET"): CSPSYSTEM_PASSWORD,
    }
    host = make_host(tmp_path, secrets=secrets, parameters=parameters)
    install(host, files, PEERS="127.0.0.1", JOIN_TIMEOUT=env.pop("JOIN_TIMEOUT", "20"), **env)
    return host


def boot(host: Host, agent: Agent) -> tuple[int, str]:
    run = host.run(BOOT, "start", env={"AGENT_PORT": str(agent.port)})
    return run.returncode, run.stdout + run.stderr


def iris_runs(host: Host) -> list[dict]:
    return [c for c in host.state()["docker_calls"] if c[:4] == ["run", "-d", "--name", "iris"]]


def merge_env(call: list[str]) -> list[str]:
    return [a for a in call if a.startswith("ISC_CPF_MERGE_FILE=")]


def assert_no_secret_leaked(host: Host, output: str) -> None:
    """No password in any command's arguments, in the script's output or syslog, or left in the merge file."""
    state = host.state()
    calls = repr(state["docker_calls"]) + repr(state["aws_calls"])
    syslog = (host.root / "syslog").read_text() if (host.root / "syslog").exists() else ""
    merge = host.run_dir / "merge.cpf"
    for password in (SUPERUSER_PASSWORD, CSPSYSTEM_PASSWORD):
        assert password not in calls and password not in output and password not in syslog
    assert not merge.exists() or merge.read_text() == ""  # emptied once IRIS read it
    for merged in state["iris"]["merges"]:
        assert SUPERUSER_PASSWORD not in merged and CSPSYSTEM_PASSWORD not in merged  # hashes only


def test_first_boot_of_member0_creates_the_mirror_and_leaves_the_marker(tmp_path: Path, dev: Synthesized, agent: Agent) -> None:
    host = new_host(tmp_path, dev, "Member0", agent)
    code, output = boot(host, agent)
    assert code == 0, output
    state = host.state()
    assert state["iris"]["errors"] == []
    assert state["iris"]["status"] == "Primary"
    (merged,) = state["iris"]["merges"]
    assert "Member=primary,Primary=localhost" in merged
    assert "mirror DEV: DEV0 is primary" in output
    (marker, value), = state["parameters"].items()  # fmt: skip
    assert marker == "/IrisDev-DataTier/Dev/mirror-created" and value.startswith("DEV0 ")
    assert state["iris"]["zmirror_loaded"] is True
    assert state["iris"]["logdmn"] is True and "structured logging: started" in output
    assert "[Logging]\nEnabled=1\n" in merged
    assert (host.iris_root / "db" / "iris-aws" / "configured").read_text().startswith("primary ")
    assert (host.root / "hostname").read_text().strip() == "member0.dev.data.iris.internal"
    # Durable %SYS on the database volume; journals and WIJ mounted into the container.
    (run,) = iris_runs(host)
    assert f"ISC_DATA_DIRECTORY={host.iris_root}/db/durable" in run
    for d in ("db", "jrn1", "jrn2", "wij"):
        assert f"{host.iris_root}/{d}:{host.iris_root}/{d}" in run
    gateway = state["containers"]["webgateway"]
    assert gateway["options"]["-p"] == ["52773:80"]
    csp_ini = (host.iris_root / "db" / "iris-aws" / "webgateway" / "CSP.ini").read_text()
    assert f"Password={CSPSYSTEM_PASSWORD}\n" in csp_ini and "Mirror_Aware=0" in csp_ini
    assert oct((host.iris_root / "db" / "iris-aws" / "webgateway" / "CSP.ini").stat().st_mode & 0o777) == "0o600"
    assert_no_secret_leaked(host, output)


def test_a_reboot_neither_creates_nor_joins_again(tmp_path: Path, dev: Synthesized, agent: Agent) -> None:
    host = new_host(tmp_path, dev, "Member0", agent)
    assert boot(host, agent)[0] == 0
    host.reboot()
    code, output = boot(host, agent)
    assert code == 0, output
    first, second = iris_runs(host)
    assert merge_env(first) and not merge_env(second)  # no merge at all on the second start
    assert len(host.state()["iris"]["merges"]) == 1
    assert len([c for c in host.state()["aws_calls"] if c[:2] == ["ssm", "put-parameter"]]) == 1
    assert "starting DEV0 on its durable configuration (primary at first start)" in output
    assert host.state()["iris"]["zmirror_loaded"] is True  # ^ZMIRROR is loaded at every start
    assert "structured logging: started" in output  # its daemon went with the old boot


def test_the_backup_waits_for_the_primarys_agent_then_joins(tmp_path: Path, dev: Synthesized, agent: Agent) -> None:
    host = new_host(tmp_path, dev, "Member1", agent)
    host.update(primary_accepts_after=2)  # the primary's mirror is not up at the first two tries
    agent.start(once_logged=(host.root / "syslog", "waiting for the primary's ISCAgent"))
    code, output = boot(host, agent)
    assert code == 0, output
    assert "waiting for the primary's ISCAgent at 127.0.0.1" in output
    assert "waiting for mirror DEV to accept DEV1 as backup" in output
    state = host.state()
    assert state["iris"]["status"] == "Backup" and state["iris"]["joined_via"] == "127.0.0.1"
    assert len(state["iris"]["merges"]) == 3  # the start, then two retries of the join
    assert state["parameters"] == {}  # only a primary leaves the marker
    assert_no_secret_leaked(host, output)


def test_the_backup_gives_up_with_a_clear_error_when_no_primary_answers(tmp_path: Path, dev: Synthesized, agent: Agent) -> None:
    host = new_host(tmp_path, dev, "Member1", agent, JOIN_TIMEOUT="2")
    code, output = boot(host, agent)
    assert code == 1
    assert "FAILED: no primary's ISCAgent answered on" in output and "within 2s: mirror DEV was not joined" in output
    assert iris_runs(host) == []  # IRIS never started half-configured
    assert not (host.run_dir / "merge.cpf").exists()
    assert not (host.iris_root / "db" / "iris-aws" / "configured").exists()


def test_a_replaced_member_with_its_volumes_comes_back_on_its_durable_configuration(
    tmp_path: Path, dev: Synthesized, agent: Agent
) -> None:
    host = new_host(tmp_path, dev, "Member1", agent)
    state_dir = host.iris_root / "db" / "iris-aws"
    state_dir.mkdir(parents=True)
    (state_dir / "configured").write_text("backup 2026-11-30T10:00:00Z\n")  # what the old instance left
    code, output = boot(host, agent)  # no agent listening: a replaced member does not need one to start
    assert code == 0, output
    (run,) = iris_runs(host)
    assert not merge_env(run)
    assert host.state()["iris"]["merges"] == []
    assert "starting DEV1 on its durable configuration (backup at first start)" in output


def test_member0_finding_the_mirror_already_created_joins_as_backup_never_as_a_second_primary(
    tmp_path: Path, dev: Synthesized, agent: Agent
) -> None:
    marker = "/IrisDev-DataTier/Dev/mirror-created"
    host = new_host(tmp_path, dev, "Member0", agent, parameters={marker: "DEV0 2026-11-01T09:00:00Z"})
    agent.start()
    code, output = boot(host, agent)
    assert code == 0, output
    assert "exists already" in output and "never as a second primary" in output
    state = host.state()
    (merged,) = state["iris"]["merges"]
    assert "Member=backup,Primary=127.0.0.1" in merged and "Member=primary" not in merged
    assert state["iris"]["status"] == "Backup"
    assert state["parameters"] == {marker: "DEV0 2026-11-01T09:00:00Z"}  # untouched


def test_member0_that_cannot_read_the_marker_stops_rather_than_create_a_second_mirror(
    tmp_path: Path, dev: Synthesized, agent: Agent
) -> None:
    host = new_host(tmp_path, dev, "Member0", agent)
    host.update(ssm_error='Could not connect to the endpoint URL: "https://ssm.eu-west-1.amazonaws.com/"')
    code, output = boot(host, agent)
    assert code == 1
    assert "FAILED: cannot tell whether mirror DEV exists (SSM parameter /IrisDev-DataTier/Dev/mirror-created)" in output
    assert iris_runs(host) == [] and host.state()["iris"]["merges"] == []


def test_a_dr_member_joins_as_an_async_member_without_zmirror(tmp_path: Path, dev: Synthesized, agent: Agent) -> None:
    host = new_host(tmp_path, dev, "DR", agent, role="dr")
    (host.conf / "ZMIRROR.mac").unlink()  # the DR user data ships none
    agent.start()
    code, output = boot(host, agent)
    assert code == 0, output
    state = host.state()
    (merged,) = state["iris"]["merges"]
    assert "Member=drasync,Primary=127.0.0.1" in merged
    assert state["iris"]["status"] == "Connected"
    assert "zmirror_loaded" not in state["iris"]
    assert_no_secret_leaked(host, output)


def test_a_merge_iris_would_reject_fails_the_boot_and_says_so(tmp_path: Path, dev: Synthesized, agent: Agent) -> None:
    host = new_host(tmp_path, dev, "Member0", agent, JOIN_TIMEOUT="3")
    host.update(secrets={})  # the secrets are unreadable: no hash can be made
    code, output = boot(host, agent)
    assert code == 1
    assert "FAILED: cannot read" in output
    assert iris_runs(host) == []


def test_stop_stops_the_gateway_then_iris_gracefully(tmp_path: Path, dev: Synthesized, agent: Agent) -> None:
    host = new_host(tmp_path, dev, "Member0", agent)
    code, output = boot(host, agent)
    assert code == 0, output
    run = host.run(BOOT, "stop")
    assert run.returncode == 0
    stops = [c for c in host.state()["docker_calls"] if c[0] == "stop"]
    assert stops == [["stop", "webgateway"], ["stop", "--time", "300", "iris"]]


def test_after_a_rotation_the_gateway_reads_the_new_password_and_iris_keeps_running(
    tmp_path: Path, dev: Synthesized, agent: Agent
) -> None:
    host = new_host(tmp_path, dev, "Member0", agent)
    assert boot(host, agent)[0] == 0
    rotated = "R0tatedCspSystemPassw0rd12345678"
    secrets = host.state()["secrets"]
    secret_id = env_value((host.conf / "member.env").read_text(), "CSPSYSTEM_SECRET")
    host.update(secrets={**secrets, secret_id: rotated})
    run = host.run(BOOT, "refresh-web-gateway")
    assert run.returncode == 0, run.stderr
    csp_ini = (host.iris_root / "db" / "iris-aws" / "webgateway" / "CSP.ini").read_text()
    assert f"Password={rotated}\n" in csp_ini
    state = host.state()
    assert state["containers"]["iris"]["running"] and len(iris_runs(host)) == 1  # IRIS was not restarted
    assert [c for c in state["docker_calls"] if c[0] == "stop"] == []


def test_iris_sees_the_host_certificate_read_only_and_the_mirror_is_created_with_tls(
    tmp_path: Path, dev: Synthesized, agent: Agent
) -> None:
    host = new_host(tmp_path, dev, "Member0", agent)
    code, output = boot(host, agent)
    assert code == 0, output
    state = host.state()
    assert state["iris"]["errors"] == []
    (run,) = iris_runs(host)
    assert f"{host.tls_dir}:/etc/iris-tls:ro" in run  # the key never leaves the host's /etc/iris-tls
    configs = state["iris"]["ssl_configs"]
    assert sorted(configs) == ["%ECPServer", "%MirrorClient", "%MirrorServer", "%SuperServer"]
    assert configs["%MirrorServer"]["VerifyPeer"] == "3" and configs["%MirrorClient"]["VerifyPeer"] == "1"
    assert state["iris"]["mirror_config"]["UseSSL"] == "1"
    assert state["iris"]["system"] == {"SSLECPServer": "2"}  # ECP: TLS required
    assert state["iris"]["superservers"]["1972"]["SSLConfig"] == "%SuperServer"


def test_a_member_without_its_certificate_stops_before_iris_starts(tmp_path: Path, dev: Synthesized, agent: Agent) -> None:
    host = new_host(tmp_path, dev, "Member0", agent)
    (host.tls_dir / "host.crt").unlink()
    code, output = boot(host, agent)
    assert code == 1
    assert f"FAILED: {host.tls_dir}/host.crt is missing: the host certificate must be issued before IRIS starts" in output
    assert iris_runs(host) == [] and host.state()["parameters"] == {}  # no mirror created without TLS


def test_iris_refuses_a_tls_mirror_whose_configurations_it_cannot_read(tmp_path: Path, dev: Synthesized, agent: Agent) -> None:
    """The stub stands for IRIS: a configuration whose file the container cannot see fails, and UseSSL without it too."""
    host = new_host(tmp_path, dev, "Member0", agent, JOIN_TIMEOUT="2")
    boot_script = BOOT.read_text().replace('-v "$TLS_DIR:$CONTAINER_TLS_DIR:ro" ', "")  # IRIS without the mount
    (tmp_path / "no_mount.sh").write_text(boot_script)
    run = host.run(tmp_path / "no_mount.sh", "start", env={"AGENT_PORT": str(agent.port)})
    assert run.returncode == 1
    errors = host.state()["iris"]["errors"]
    missing = "no file /etc/iris-tls/ca.crt, /etc/iris-tls/host.crt, /etc/iris-tls/host.key"
    assert errors[0] == f"SSL/TLS configuration %MirrorServer: {missing}"
    assert "ConfigMirror: UseSSL needs the %MirrorServer and %MirrorClient SSL/TLS configurations" in errors
    assert host.state()["iris"]["status"] != "Primary"


def test_the_primary_authorizes_pending_members_and_no_one_else_does(tmp_path: Path, dev: Synthesized, agent: Agent) -> None:
    host = new_host(tmp_path, dev, "Member0", agent)
    assert boot(host, agent)[0] == 0
    run = host.run(BOOT, "authorize-pending")
    assert run.returncode == 0, run.stderr
    assert "mirror DEV: pending members authorized" in run.stderr
    assert host.state()["iris"]["authorizations"] == 1
    backup = new_host(tmp_path / "backup", dev, "Member1", agent)
    agent.start()
    assert boot(backup, agent)[0] == 0
    run = backup.run(BOOT, "authorize-pending")
    assert run.returncode == 0 and "not the primary (Backup), nothing to authorize" in run.stderr
    assert "authorizations" not in backup.state()["iris"]


def test_a_renewed_certificate_reaches_every_ssl_configuration_through_the_hook(
    tmp_path: Path, dev: Synthesized, agent: Agent
) -> None:
    host = new_host(tmp_path, dev, "Member0", agent)
    assert boot(host, agent)[0] == 0
    hook = host.tls_dir / "renewed.d" / "50-iris-member"
    assert hook.stat().st_mode & 0o111, "the hook must be executable: the renewal runs it"
    assert f"exec {BOOT.resolve()} tls-renewed" in hook.read_text()
    run = host.run(hook)  # as the renewal runs it, with the host's environment
    assert run.returncode == 0, run.stderr
    assert host.state()["iris"]["ssl_saves"] == ["%MirrorServer", "%MirrorClient", "%ECPServer", "%SuperServer"]
    assert "SSL/TLS configuration %SuperServer saved with the renewed certificate" in run.stderr
    host.update(iris={**host.state()["iris"], "ssl_configs": {}})  # an instance that lost them: the hook says so
    run = host.run(hook)
    assert run.returncode == 1 and "not every SSL/TLS configuration took the renewed certificate" in run.stderr


def test_a_dr_member_joins_over_tls_too(tmp_path: Path, dev: Synthesized, agent: Agent) -> None:
    host = new_host(tmp_path, dev, "DR", agent, role="dr")
    (host.conf / "ZMIRROR.mac").unlink()
    agent.start()
    code, output = boot(host, agent)
    assert code == 0, output
    mirror = host.state()["iris"]["mirror_config"]
    assert mirror["Member"] == "drasync" and mirror["UseSSL"] == "1"
    assert not any(k.startswith("Compression") for k in mirror)  # the primary compresses what it sends


def test_the_member_gets_its_certificate_before_iris_starts(tmp_path: Path, dev: Synthesized, agent: Agent) -> None:
    host = new_host(tmp_path, dev, "Member0", agent)
    assert boot(host, agent)[0] == 0
    assert (host.root / "certificate-calls").read_text() == "issue\n"
    # A host that gets no certificate starts no IRIS.
    other = new_host(tmp_path / "other", dev, "Member0", agent)
    (other.root / "bin" / "iris-host-certificate").write_text("#!/bin/bash\nexit 1\n")
    code, output = boot(other, agent)
    assert code == 1
    assert "no TLS certificate in /etc/iris-tls" in output
    assert iris_runs(other) == []


@pytest.mark.parametrize(("role", "member", "name"), [("data", "Member1", "member1"), ("dr", "DR", "dr")])
def test_the_members_certificate_names_it_and_its_vip(dev: Synthesized, role: str, member: str, name: str) -> None:
    (user_data,) = [u for k, u in instance_user_data(dev.template_json(role)).items() if f"{member}Instance" in k]
    env = user_data.split("cat > /etc/iris-tls/certificate.env <<'IRIS_EOF'\n")[1].split("\nIRIS_EOF")[0]
    assert f"DNS_NAMES='{name}.dev.data.iris.internal dev.iris.internal'" in env
    assert "KEY_GROUP='51773'" in env
    assert "CA_REGION='eu-west-1'" in env  # the DR member's CA is the primary region's
    assert "TEMPLATE_ARN='arn:aws:acm-pca:::template/EndEntityCertificate/V1'" in env
    assert "systemctl enable iris-host-certificate.timer" in user_data
