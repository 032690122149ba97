"""The boot scripts of the web and ECP servers, run for real against stubs of
the AWS CLI, curl, openssl, Apache, systemd, IRIS and the disk tools."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from components.ecp_client import TLS_DIR, EcpClientConfig, ecp_client_merge
from components.web_gateway import (
    DENIED_PATTERN,
    WebGatewayConfig,
    apache_conf,
    csp_ini,
    csp_ini_server,
    server_names,
    shipped_script,
)
from tests.conftest import ROOT
from tests.cpf import parse
from tests.host_stubs import install_iris, stub

WEB_SETUP = ROOT / "iris" / "web_gateway_setup.sh"
ECP_SETUP = ROOT / "iris" / "ecp_client_setup.sh"
MEMBERS = {"HSDB_0": "10.0.192.10", "HSDB_1": "10.0.208.10"}
SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gateway-AbCdEf"


APP_GROUP = "Iris-AppTier-EcpServersGroup-1A2B3C"


def gateway_config(*, group: str | None = APP_GROUP) -> WebGatewayConfig:
    """The primary region's gateway (serving from the ECP application servers), or with ``group=None`` the DR one."""
    return WebGatewayConfig(
        mirror_name="HSDB",
        members=[] if group else list(MEMBERS.values()),
        superserver_port=1972,
        application_paths=["/csp/healthshare", "/trakcare"],
        credentials_secret=None,  # type: ignore[arg-type]  # only the user data names it
        app_server_group=group,
    )


@pytest.fixture
def web_server(tmp_path: Path) -> Path:
    """A web server image: the gateway, mod_ssl's default ssl.conf, the host's TLS files, stubs keeping state in files."""
    write_web_config(tmp_path, gateway_config())
    (tmp_path / "webgateway" / "bin").mkdir(parents=True)
    (tmp_path / "webgateway" / "bin" / "CSPa24.so").write_text("")
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "ssl.conf").write_text("Listen 443 https\n<VirtualHost _default_:443>\n</VirtualHost>\n")
    # What host_certificate.sh leaves on the host (tls-contract).
    (tmp_path / "iris-tls").mkdir()
    for name in ("host.crt", "host.key", "ca.crt"):
        (tmp_path / "iris-tls" / name).write_text(f"-----BEGIN {name}-----\n")
    (tmp_path / "run").mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # describe-instances answers as the AWS CLI does with --output text: the addresses, tab-separated.
    stub(
        bin_dir,
        "aws",
        'echo "aws $*" >> "$LOG"\n'
        'if [ "$1 $2" = "ec2 describe-instances" ]; then printf "%s\\n" "$INSTANCES"; exit 0; fi\n'
        '[ -n "$SECRET_VALUE" ] || exit 254; echo "$SECRET_VALUE"\n',
    )
    # The members' status pages are not the web servers' to ask: any request is an error.
    stub(bin_dir, "curl", 'echo "curl $*" >> "$LOG"; exit 7\n')
    stub(
        bin_dir,
        "openssl",
        'echo "openssl" >> "$LOG"; while [ $# -gt 0 ]; do case "$1" in -keyout|-out) echo x > "$2"; shift;; esac; shift; done\n',
    )
    stub(bin_dir, "apachectl", 'echo "apachectl $*" >> "$LOG"; exit "${APACHECTL_STATUS:-0}"\n')
    stub(
        bin_dir,
        "systemctl",
        'echo "systemctl $*" >> "$LOG"; case "$1" in is-active) [ -f "$STATE.active" ];; restart) touch "$STATE.active";; esac\n',
    )
    stub(bin_dir, "chown", 'echo "chown $*" >> "$LOG"\n')
    stub(bin_dir, "logger", "exit 0\n")
    # The host certificate script (tests/test_host_certificate.py runs the real one).
    stub(bin_dir, "iris-host-certificate", 'echo "host-certificate $*" >> "$LOG"; exit "${CERT_STATUS:-0}"\n')
    return tmp_path


def write_web_config(tmp: Path, config: WebGatewayConfig) -> None:
    """What the user data writes to /etc/iris-aws, as web_gateway_commands renders it."""
    conf = tmp / "etc-iris-aws"
    conf.mkdir(exist_ok=True)
    profiles = " ".join(f"{name}={ip}" for name, ip in zip(server_names(config), config.members, strict=True))
    (conf / "web-gateway.env").write_text(
        f"CREDENTIALS_SECRET={SECRET}\nAWS_REGION=eu-west-1\nGATEWAY_DIR={tmp / 'webgateway'}\n"
        f"TLS_DIR={tmp / 'tls'}\nIRIS_TLS_DIR={tmp / 'iris-tls'}\nHEALTH_FILE={tmp / 'health' / 'status.txt'}\n"
        f'MEMBER_PROFILES="{profiles}"\n'
        f"APP_SERVER_GROUP={config.app_server_group or ''}\n"
    )
    (conf / "CSP.ini.template").write_text(csp_ini(config))
    (conf / "CSP.ini.server").write_text(csp_ini_server(config))
    (conf / "iris-webgateway.conf").write_text(apache_conf(config))


APP_SERVERS = "10.0.144.7\t10.0.128.20\t10.0.160.9"


def run_web(
    tmp: Path, *, secret: str = "S3cretPassw0rd", instances: str = APP_SERVERS, **extra: str
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{tmp / 'bin'}:{os.environ['PATH']}",
        "CONF_DIR": str(tmp / "etc-iris-aws"),
        "HTTPD_CONF_D": str(tmp / "conf.d"),
        "RUN_DIR": str(tmp / "run"),
        "LOG": str(tmp / "log"),
        "STATE": str(tmp / "httpd"),
        "SECRET_VALUE": secret,
        "INSTANCES": instances,
        "HOST_CERTIFICATE": str(tmp / "bin" / "iris-host-certificate"),
        **extra,
    }
    # What the user data installs: the script without its comments.
    script = tmp / "iris-web-gateway-setup"
    script.write_text(shipped_script())
    return subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=30)


def test_the_shipped_setup_script_is_the_script_without_its_comments() -> None:
    source, shipped = WEB_SETUP.read_text().splitlines(), shipped_script().splitlines()
    assert shipped[0] == source[0] == "#!/bin/bash"
    assert shipped[1:] == [line for line in source[1:] if line.strip() and not line.lstrip().startswith("#")]
    assert len(shipped_script()) < len(WEB_SETUP.read_text()) * 0.75


def calls(tmp: Path, prefix: str) -> list[str]:
    log = tmp / "log"
    return [line for line in log.read_text().splitlines() if line.startswith(prefix)] if log.exists() else []


def csp_ini_file(tmp: Path) -> dict[str, dict[str, str]]:
    """CSP.ini as the gateway reads it: [section] headers and Key=Value lines, each once; anything else fails."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in (tmp / "webgateway" / "bin" / "CSP.ini").read_text().splitlines():
        if not line.strip():
            continue
        if line.startswith("[") and line.endswith("]"):
            assert line[1:-1] not in sections, f"section {line} twice"
            current = sections[line[1:-1]] = {}
            continue
        key, sep, value = line.partition("=")
        assert current is not None and sep and key and key not in current, f"not a Key=Value line of one section: {line!r}"
        current[key] = value
    return sections


TLS_KEYS = {
    "Connection_Security_Level": "10",
    "SSLCC_Protocol_Min": "16",
    "SSLCC_Protocol_Max": "32",
    "SSLCC_Key_Type": "2",
    "SSLCC_Certificate_File": "/etc/iris-tls/host.crt",
    "SSLCC_Certificate_Key_File": "/etc/iris-tls/host.key",
    "SSLCC_CA_Certificate_File": "/etc/iris-tls/ca.crt",
}


def test_web_setup_serves_every_path_from_the_ecp_application_servers_over_tls(web_server: Path) -> None:
    run = run_web(web_server)
    assert run.returncode == 0, run.stderr
    ini = csp_ini_file(web_server)
    names = ["APP_10_0_128_20", "APP_10_0_144_7", "APP_10_0_160_9"]
    assert ini["SYSTEM_INDEX"] == dict.fromkeys(names, "Enabled")
    for name in names:
        server = ini[name]
        assert server["Ip_Address"] == name.removeprefix("APP_").replace("_", ".")
        assert server["TCP_Port"] == "1972"
        assert server["Password"] == "S3cretPassw0rd"
        assert "Mirror_Aware" not in server  # the application servers are not mirror members
        assert {k: server[k] for k in TLS_KEYS} == TLS_KEYS
    assert not any(s.get("Ip_Address") in MEMBERS.values() for s in ini.values())  # no data member
    # Application access: the two application paths; the root and IRIS's system applications disabled.
    assert ini["APP_PATH_INDEX"] == {
        **dict.fromkeys(("/", "/csp", "/api", "/csp/sys", "/csp/docbook", "/csp/documatic", "/api/mgmnt"), "Disabled"),
        "/csp/healthshare": "Enabled",
        "/trakcare": "Enabled",
    }
    assert not any(section in ini for section in ("APP_PATH:/", "APP_PATH:/csp", "APP_PATH:/csp/sys"))
    for path in ("/csp/healthshare", "/trakcare"):
        assert ini[f"APP_PATH:{path}"] == {
            "Default_Server": "APP_10_0_128_20",
            "Alternative_Servers": "LoadBalancing",
            **{f"Alternative_Server_{i}": f"1~~~~~~{name}" for i, name in enumerate(names)},
        }
    assert calls(web_server, "aws ec2") == [
        "aws ec2 describe-instances --region eu-west-1 --filters "
        f"Name=tag:aws:autoscaling:groupName,Values={APP_GROUP} Name=instance-state-name,Values=running "
        "--query Reservations[].Instances[].PrivateIpAddress --output text"
    ]
    assert calls(web_server, "curl") == []
    assert calls(web_server, "systemctl restart") == ["systemctl restart httpd"]
    assert "S3cretPassw0rd" not in run.stdout + run.stderr


def test_web_setup_follows_the_group_without_restarting_apache(web_server: Path) -> None:
    assert run_web(web_server).returncode == 0
    (web_server / "log").unlink()
    run = run_web(web_server, instances="10.0.144.7\t10.0.176.3")  # one server gone, one new: the timer's run
    assert run.returncode == 0, run.stderr
    ini = csp_ini_file(web_server)
    assert set(ini["SYSTEM_INDEX"]) == {"APP_10_0_144_7", "APP_10_0_176_3"}
    assert ini["SYSTEM"]["RELOAD"] == "1"  # the gateway reloads its configuration itself
    assert calls(web_server, "systemctl restart") == []
    assert "reloaded" in run.stdout


def test_web_setup_keeps_its_servers_when_the_group_has_none_running(web_server: Path) -> None:
    assert run_web(web_server).returncode == 0
    before = (web_server / "webgateway" / "bin" / "CSP.ini").read_text()
    (web_server / "log").unlink()
    run = run_web(web_server, instances="")
    assert run.returncode == 0, run.stderr
    assert "no application server" in run.stdout
    assert (web_server / "webgateway" / "bin" / "CSP.ini").read_text() == before
    assert calls(web_server, "systemctl") == []


def test_web_setup_reports_healthy_only_once_it_serves_from_a_server(web_server: Path) -> None:
    health = web_server / "health" / "status.txt"
    run = run_web(web_server, instances="")  # first boot, no application server running yet
    assert run.returncode == 0, run.stderr
    assert not health.exists()  # the ALB's health check fails: no user is sent here yet
    run = run_web(web_server)
    assert run.returncode == 0, run.stderr
    assert health.read_text() == "OK: the Web Gateway serves from 3 server(s)\n"
    assert stat.S_IMODE(health.stat().st_mode) == 0o644
    assert calls(web_server, "systemctl restart") == ["systemctl restart httpd"]


def test_web_setup_reports_no_health_when_apache_refuses_the_configuration(web_server: Path) -> None:
    run = run_web(web_server, APACHECTL_STATUS="1")
    assert run.returncode == 1
    assert not (web_server / "health" / "status.txt").exists()


def test_apache_denies_the_system_applications_and_the_status_page_to_everyone_in_any_case() -> None:
    conf = apache_conf(gateway_config())
    # Apache merges <Location> and <LocationMatch> in the order they appear: the deny comes before the application paths.
    deny = conf.index(f'<LocationMatch "{DENIED_PATTERN}">\n        Require all denied\n    </LocationMatch>')
    assert deny < conf.index('<Location "/csp/healthshare">\n        CSP On') < conf.index('<Location "/trakcare">')
    assert conf.count("CSP On") == 2  # the application paths and nothing else go to the gateway
    assert '<Location "/csp">' not in conf and '<Location "/">' not in conf
    denied = re.compile(DENIED_PATTERN)
    for path in ("/csp/sys/UtilHome.csp", "/CSP/SYS/", "//csp//sys/%25CSP.Portal.Home.zen", "/csp/documatic/x.cls",
                 "/csp/docbook/DocBook.UI.Page.cls", "/api/mgmnt/v2/", "/Api/Mgmnt", "/csp/bin/mirror_status.cxw"):  # fmt: skip
        assert denied.search(path), path
    for path in ("/csp/healthshare/x.csp", "/trakcare/", "/iris-web-health", "/csp/bin/Systems/Module.cxw"):
        assert not denied.search(path), path
    # The health page is Apache's file, not the gateway's.
    assert 'Alias "/iris-web-health" "/var/www/iris-web-health/status.txt"' in conf


def test_the_dr_gateway_follows_its_mirror_members_over_tls(web_server: Path) -> None:
    write_web_config(web_server, gateway_config(group=None))
    run = run_web(web_server)
    assert run.returncode == 0, run.stderr
    ini = csp_ini_file(web_server)
    for name, address in MEMBERS.items():
        assert ini[name]["Ip_Address"] == address and ini[name]["Mirror_Aware"] == "1"
        assert {k: ini[name][k] for k in TLS_KEYS} == TLS_KEYS
    assert ini["APP_PATH:/csp/healthshare"] == {"Default_Server": "HSDB_0", "Alternative_Server_0": "1~~~~~~HSDB_0",
                                    "Alternative_Server_1": "1~~~~~~HSDB_1"}  # fmt: skip
    assert calls(web_server, "aws ec2") == []


def test_web_setup_waits_for_the_host_certificate(web_server: Path) -> None:
    (web_server / "iris-tls" / "ca.crt").unlink()
    run = run_web(web_server)
    assert run.returncode == 1
    assert "ca.crt is missing" in run.stderr
    assert not (web_server / "webgateway" / "bin" / "CSP.ini").exists()


def test_web_setup_writes_the_password_for_the_gateway_only(web_server: Path) -> None:
    run = run_web(web_server)
    assert run.returncode == 0, run.stderr
    ini_path = web_server / "webgateway" / "bin" / "CSP.ini"
    assert "@@" not in ini_path.read_text()
    assert stat.S_IMODE(ini_path.stat().st_mode) == 0o600  # the password is in it until the gateway encrypts it
    assert calls(web_server, "chown") == [f"chown apache {ini_path}.new"]
    assert (web_server / "conf.d" / "iris-webgateway.conf").read_text() == apache_conf(gateway_config())
    assert not (web_server / "conf.d" / "ssl.conf").exists()  # mod_ssl's test host no longer answers 443
    assert (web_server / "tls" / "server.key").exists()
    assert calls(web_server, "aws secretsmanager") == [
        f"aws secretsmanager get-secret-value --region eu-west-1 --secret-id {SECRET} --query SecretString --output text"
    ]
    assert calls(web_server, "apachectl") == ["apachectl configtest"]


def test_web_setup_run_again_changes_nothing(web_server: Path) -> None:
    assert run_web(web_server).returncode == 0
    ini_path = web_server / "webgateway" / "bin" / "CSP.ini"
    # The gateway encrypts the password when it reads the file.
    ini_path.write_text(ini_path.read_text().replace("Password=S3cretPassw0rd", "Password=]]]UzNjcmV0"))
    (web_server / "log").unlink()
    run = run_web(web_server)
    assert run.returncode == 0, run.stderr
    assert "Password=]]]UzNjcmV0" in ini_path.read_text()
    assert calls(web_server, "openssl") == []  # the key pair is kept
    assert calls(web_server, "systemctl restart") == []
    assert "unchanged" in run.stdout


def test_web_setup_rewrites_the_config_when_the_password_changes(web_server: Path) -> None:
    assert run_web(web_server).returncode == 0
    (web_server / "log").unlink()
    run = run_web(web_server, secret="N3wPassw0rd")
    assert run.returncode == 0, run.stderr
    assert "Password=N3wPassw0rd" in (web_server / "webgateway" / "bin" / "CSP.ini").read_text()
    assert "RELOAD=1" in (web_server / "webgateway" / "bin" / "CSP.ini").read_text()


def test_web_setup_refuses_an_image_without_the_web_gateway(web_server: Path) -> None:
    (web_server / "webgateway" / "bin" / "CSPa24.so").unlink()
    run = run_web(web_server)
    assert run.returncode == 1
    assert "the Web Gateway is not installed" in run.stderr
    assert calls(web_server, "systemctl") == []


def test_web_setup_fails_loudly_without_the_password(web_server: Path) -> None:
    run = run_web(web_server, secret="")
    assert run.returncode == 1
    assert "cannot read the gateway's password" in run.stderr
    assert not (web_server / "webgateway" / "bin" / "CSP.ini").exists()


def test_web_setup_never_restarts_apache_on_a_configuration_it_refuses(web_server: Path) -> None:
    run = run_web(web_server, APACHECTL_STATUS="1")
    assert run.returncode == 1
    assert "Apache refuses the configuration" in run.stderr
    assert calls(web_server, "systemctl restart") == []


# --------------------------------------------------------------------------
# ECP clients
# --------------------------------------------------------------------------


CSPSYSTEM_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:cspsystem-AbCdEf"
ECP = EcpClientConfig(
    mirror_name="HSDB", address="10.0.192.10", port=1972, databases=[("HSDATA", "HSDATA"), ("HSAUDIT", "AUDIT")]
)


@pytest.fixture
def ecp_server(tmp_path: Path) -> Path:
    """An ECP client image with one NVMe instance-store device, IRIS installed and down, the host's TLS files issued."""
    conf = tmp_path / "etc-iris-aws"
    conf.mkdir()
    tls = tmp_path / TLS_DIR.lstrip("/")
    (conf / "ecp-client.env").write_text(
        f"IRIS_INSTANCE=IRIS\nIRIS_OS_USER=irisowner\nCACHE_MOUNT={tmp_path / 'cache'}\nECP_SERVER=HSDB\nTLS_DIR={tls}\n"
        f"CSPSYSTEM_SECRET={CSPSYSTEM_SECRET}\nAWS_REGION=eu-west-1\n"
    )
    (conf / "ecp-client.cpf").write_text(ecp_client_merge(ECP))
    # What host_certificate.sh leaves on the host (tls-contract).
    tls.mkdir(parents=True)
    for name in ("host.crt", "host.key", "ca.crt"):
        (tls / name).write_text(f"-----BEGIN {name}-----\n")
    dev = tmp_path / "dev"
    (dev / "disk" / "by-id").mkdir(parents=True)
    (dev / "nvme1n1").write_text("")
    (dev / "disk" / "by-id" / "nvme-Amazon_EC2_NVMe_Instance_Storage_AWS1234").symlink_to(dev / "nvme1n1")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    install_iris(bin_dir, tmp_path / "state.json", secrets={CSPSYSTEM_SECRET: "CspPassw0rd"})
    stub(bin_dir, "id", '[ "$2" = irisowner ]\n')
    stub(bin_dir, "chown", 'echo "chown $*" >> "$LOG"\n')
    stub(bin_dir, "logger", "exit 0\n")
    # The host certificate script (tests/test_host_certificate.py runs the real one).
    stub(bin_dir, "iris-host-certificate", 'echo "host-certificate $*" >> "$LOG"; exit "${CERT_STATUS:-0}"\n')
    stub(bin_dir, "blkid", 'dev="${@: -1}"; [ -f "$dev.fs" ] || exit 2; echo xfs\n')
    stub(bin_dir, "mkfs.xfs", 'dev="${@: -1}"; touch "$dev.fs"; echo "mkfs $dev" >> "$LOG"\n')
    stub(bin_dir, "mountpoint", '[ -f "$STATE.mounted" ]\n')
    stub(bin_dir, "mount", 'touch "$STATE.mounted"; echo "mount $*" >> "$LOG"\n')
    return tmp_path


def run_ecp(tmp: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{tmp / 'bin'}:{os.environ['PATH']}",
        "CONF_DIR": str(tmp / "etc-iris-aws"),
        "DEV_ROOT": str(tmp / "dev"),
        "LOG": str(tmp / "log"),
        "STATE": str(tmp / "cache"),
        "HOST_STATE": str(tmp / "state.json"),
        "HOST_ROOT": str(tmp),
        "RUN_DIR": str(tmp / "run"),
        "HOST_CERTIFICATE": str(tmp / "bin" / "iris-host-certificate"),
        **extra,
    }
    return subprocess.run(["bash", str(ECP_SETUP)], env=env, capture_output=True, text=True, timeout=30)


def iris_state(tmp: Path) -> dict[str, Any]:
    return json.loads((tmp / "state.json").read_text())


def iris_calls(tmp: Path) -> list[tuple[str, str | None]]:
    """(command, ISC_CPF_MERGE_FILE) of each call of the iris command."""
    return [(c["argv"][0], c["merge_file"]) for c in iris_state(tmp)["iris_calls"]]


def test_the_ecp_server_entry_is_a_mirror_connection_that_requires_tls() -> None:
    merge = parse(ecp_client_merge(ECP))
    address, port, mirror_connection, ssl = merge.sections["ECPServers"]["HSDB"].split(",")
    assert (address, port) == ("10.0.192.10", "1972")
    assert mirror_connection == "1"  # follows the mirror to its primary
    assert ssl == "1"  # TLS, with %ECPClient


def test_the_ecp_client_and_superserver_tls_configurations_verify_the_peer() -> None:
    configs = {a.params["Name"]: a.params for a in parse(ecp_client_merge(ECP)).action("CreateSSLConfig")}
    assert set(configs) == {"%ECPClient", "%SuperServer"}
    for config in configs.values():
        assert (config["CAFile"], config["CertificateFile"], config["PrivateKeyFile"]) == (
            "/etc/iris-tls/ca.crt",
            "/etc/iris-tls/host.crt",
            "/etc/iris-tls/host.key",
        )
        assert (config["Enabled"], config["TLSMinVersion"]) == ("1", "16")  # TLS 1.2 at least
    assert (configs["%ECPClient"]["Type"], configs["%ECPClient"]["VerifyPeer"]) == ("0", "1")  # client, server verified
    assert (configs["%SuperServer"]["Type"], configs["%SuperServer"]["VerifyPeer"]) == ("1", "3")  # server, client required
    (server,) = parse(ecp_client_merge(ECP)).action("ModifyServer")
    assert server.params == {"Port": "1972", "SSLSupportLevel": "2", "SSLConfig": "%SuperServer"}


def test_remote_databases_and_namespaces_come_from_the_settings() -> None:
    merge = parse(ecp_client_merge(ECP))
    assert [a.params for a in merge.action("CreateDatabase")] == [
        {"Name": "HSDATA", "Directory": ":mirror:HSDB:HSDATA", "Server": "HSDB", "LogicalOnly": "1"},
        {"Name": "HSAUDIT", "Directory": ":mirror:HSDB:HSAUDIT", "Server": "HSDB", "LogicalOnly": "1"},
    ]
    assert [a.params for a in merge.action("CreateNamespace")] == [
        {"Name": "HSDATA", "Globals": "HSDATA", "Routines": "HSDATA"},
        {"Name": "AUDIT", "Globals": "HSAUDIT", "Routines": "HSAUDIT"},
    ]


def test_ecp_setup_starts_iris_with_the_merge_and_connects_to_the_mirror(ecp_server: Path) -> None:
    run = run_ecp(ecp_server)
    assert run.returncode == 0, run.stderr
    cache = ecp_server / "cache"
    dev = ecp_server / "dev" / "nvme1n1"
    assert calls(ecp_server, "mkfs") == [f"mkfs {dev}"]
    assert calls(ecp_server, "mount") == [f"mount -o noatime {dev} {cache}"]
    assert calls(ecp_server, "chown") == [f"chown irisowner {cache}"]
    merge_file = str(ecp_server / "run" / "ecp-client.cpf")
    # IRIS is down at boot: the merge is applied at its start, not by `iris merge` against a stopped instance.
    assert iris_calls(ecp_server) == [("qlist", None), ("start", merge_file), ("session", None)]
    iris = iris_state(ecp_server)["iris"]
    assert iris["up"] and iris["errors"] == []
    # The merge IRIS read held CSPSystem's hash, never the password; the filled file is gone.
    (merged,) = iris["merges"]
    (user,) = parse(merged).action("ModifyUser")
    assert user.params["Name"] == "CSPSystem" and user.params["PasswordHash"].endswith(",10000,SHA512")
    assert "CspPassw0rd" not in merged + run.stdout + run.stderr
    assert not Path(merge_file).exists()
    assert iris["ecp_servers"] == {"HSDB": {"address": "10.0.192.10", "port": "1972", "mirror_connection": "1", "ssl": "1"}}
    assert set(iris["ssl_configs"]) == {"%ECPClient", "%SuperServer"}
    assert set(iris["namespaces"]) == {"HSDATA", "AUDIT"}


def test_ecp_setup_merges_into_a_running_instance(ecp_server: Path) -> None:
    assert run_ecp(ecp_server).returncode == 0
    (ecp_server / "log").unlink()
    run = run_ecp(ecp_server)  # the service run again, IRIS up
    assert run.returncode == 0, run.stderr
    merge_file = str(ecp_server / "run" / "ecp-client.cpf")
    assert iris_calls(ecp_server)[3:] == [("qlist", None), ("merge", None), ("session", None)]
    assert iris_state(ecp_server)["iris_calls"][4]["argv"] == ["merge", "IRIS", merge_file]
    assert calls(ecp_server, "mkfs") == [] and calls(ecp_server, "mount") == []


def test_ecp_setup_formats_a_blank_instance_store_again_after_a_stop_and_start(ecp_server: Path) -> None:
    assert run_ecp(ecp_server).returncode == 0
    # A stop and start hands the instance a blank instance store, and IRIS is down again.
    (ecp_server / "dev" / "nvme1n1.fs").unlink()
    (ecp_server / "cache.mounted").unlink()
    (ecp_server / "log").unlink()
    state = iris_state(ecp_server)
    state["iris"]["up"] = False
    (ecp_server / "state.json").write_text(json.dumps(state))
    assert run_ecp(ecp_server).returncode == 0
    assert len(calls(ecp_server, "mkfs")) == 1 and len(calls(ecp_server, "mount")) == 1
    assert [c for c, _ in iris_calls(ecp_server)].count("start") == 2


def test_ecp_setup_without_instance_store_keeps_the_cache_on_the_root_volume(ecp_server: Path) -> None:
    for link in (ecp_server / "dev" / "disk" / "by-id").iterdir():
        link.unlink()
    run = run_ecp(ecp_server)
    assert run.returncode == 0, run.stderr
    assert "no instance store" in run.stdout
    assert calls(ecp_server, "mkfs") == [] and calls(ecp_server, "mount") == []
    assert (ecp_server / "cache").is_dir()
    assert iris_state(ecp_server)["iris"]["up"]


def test_ecp_setup_refuses_an_image_without_iris(ecp_server: Path) -> None:
    (ecp_server / "bin" / "iris").unlink()
    # Keep the system's PATH out so that no real `iris` is found.
    run = run_ecp(ecp_server, PATH=f"{ecp_server / 'bin'}:/usr/bin:/bin")
    assert run.returncode == 1
    assert "IRIS is not installed" in run.stderr


def test_ecp_setup_waits_for_the_host_certificate_before_iris_starts(ecp_server: Path) -> None:
    (ecp_server / "etc" / "iris-tls" / "host.key").unlink()
    run = run_ecp(ecp_server)
    assert run.returncode == 1
    assert "host.key is missing" in run.stderr
    assert iris_calls(ecp_server) == []  # IRIS never started without its TLS files


def test_ecp_setup_fails_when_iris_did_not_take_the_tls_configuration(ecp_server: Path) -> None:
    # The merge names the contract's paths; a CA file that is not where it names makes IRIS refuse %ECPClient.
    run = run_ecp(ecp_server, HOST_ROOT=str(ecp_server / "nowhere"))
    assert run.returncode == 1
    assert "no ECP server HSDB with %ECPClient" in run.stderr
    assert any("%ECPClient" in e for e in iris_state(ecp_server)["iris"]["errors"])


def test_ecp_setup_fails_without_the_cspsystem_password(ecp_server: Path) -> None:
    state = iris_state(ecp_server)
    state["secrets"] = {}
    (ecp_server / "state.json").write_text(json.dumps(state))
    run = run_ecp(ecp_server)
    assert run.returncode == 1
    assert "cannot read the CSPSystem password" in run.stderr
    assert iris_calls(ecp_server) == []


def test_ecp_setup_fails_when_the_merge_into_a_running_instance_fails(ecp_server: Path) -> None:
    assert run_ecp(ecp_server).returncode == 0
    (ecp_server / "etc-iris-aws" / "ecp-client.cpf").write_text("[ECPServers]\nHSDB\n")  # not Key=Value
    run = run_ecp(ecp_server)
    assert run.returncode == 1
    assert "iris merge" in run.stderr


def test_web_setup_gets_the_host_certificate_before_apache_starts(web_server: Path) -> None:
    assert run_web(web_server).returncode == 0
    log = (web_server / "log").read_text().splitlines()
    assert log.index("host-certificate issue") < min(i for i, line in enumerate(log) if line.startswith("systemctl restart"))
    restarts = len(calls(web_server, "systemctl restart"))
    (web_server / "httpd.active").unlink()
    result = run_web(web_server, CERT_STATUS="1")
    assert result.returncode == 1
    assert "no TLS certificate in /etc/iris-tls" in result.stderr
    assert len(calls(web_server, "systemctl restart")) == restarts


def test_ecp_setup_gets_the_host_certificate_before_iris_starts(ecp_server: Path) -> None:
    assert run_ecp(ecp_server).returncode == 0
    log = (ecp_server / "log").read_text().splitlines()
    assert log[0] == "host-certificate issue"
    calls_before = len(iris_calls(ecp_server))
    result = run_ecp(ecp_server, CERT_STATUS="1")
    assert result.returncode == 1
    assert "no TLS certificate in /etc/iris-tls" in result.stderr
    assert len(iris_calls(ecp_server)) == calls_before  # IRIS is neither started nor merged into
