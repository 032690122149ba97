"""iris/host_certificate.sh run for real against the acm-pca stub (tests/host_stubs.py) and the
machine's own openssl: first boot, a reboot that keeps its certificate, a renewal inside the
window (hooks run), the CA waiting before it issues, and a CA error that leaves the files alone.
Whatever the script sends to the CLI is checked to hold a real CSR and never the private key."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from components.host_certificate import CertificateAuthority, certificate_env, renewal_units
from tests.conftest import ROOT
from tests.host_stubs import Host, make_host, make_private_ca, stub

SCRIPT = ROOT / "iris" / "host_certificate.sh"
REGION = "eu-west-1"
CA_ARN = f"arn:aws:acm-pca:{REGION}:123456789012:certificate-authority/12345678-1234-1234-1234-123456789012"
CA = CertificateAuthority(arn=CA_ARN, region=REGION, certificate_days=7, renew_before_days=3, vip_zone_name="iris.internal")
NAMES = ["member0.hsdb.data.iris.internal", CA.vip_name("HSDB")]
EC2_NAME, ADDRESS = "ip-10-0-3-7.eu-west-1.compute.internal", "10.0.3.7"


class TlsHost:
    """A host with the acm-pca stub, a hostname stub and /etc/iris-tls in a temporary directory."""

    def __init__(self, root: Path) -> None:
        self.host: Host = make_host(root, secrets={})
        state = self.host.state()
        state["pca"] = make_private_ca(root / "pca", arn=CA_ARN, region=REGION, template_arn=CA.template_arn)
        self.host.update(**state)
        stub(root / "bin", "hostname", f'case "$1" in -f) echo {EC2_NAME} ;; -I) echo "{ADDRESS} fd00::7 " ;; esac\n')
        self.tls = root / "etc-iris-tls"
        self.tls.mkdir()
        (self.tls / "certificate.env").write_text(certificate_env(CA, names=NAMES, key_group=os.getgid()))

    def run(self, action: str, timeout: int = 5) -> subprocess.CompletedProcess[str]:
        env = {"IRIS_TLS_DIR": str(self.tls), "POLL_SECONDS": "0", "ISSUE_TIMEOUT": str(timeout)}
        return self.host.run(SCRIPT, action, env=env)

    def pca(self) -> dict:
        return self.host.state()["pca"]

    def pca_calls(self) -> list[list[str]]:
        return [c for c in self.host.state()["aws_calls"] if c[0] == "acm-pca"]

    def files(self) -> dict[str, str]:
        return {name: (self.tls / name).read_text() for name in ("host.key", "host.crt", "ca.crt")}

    def certificate(self, *options: str) -> str:
        return subprocess.run(
            ["openssl", "x509", "-in", str(self.tls / "host.crt"), "-noout", *options], capture_output=True, text=True, check=True
        ).stdout

    def hook(self, name: str) -> Path:
        marker = self.tls.parent / f"{name}.ran"
        hook = self.tls / "renewed.d" / name
        hook.parent.mkdir(exist_ok=True)
        hook.write_text(f'#!/bin/bash\necho "$(openssl x509 -in {self.tls}/host.crt -noout -serial)" >> {marker}\n')
        hook.chmod(0o755)
        return marker


@pytest.fixture
def host(tmp_path: Path) -> TlsHost:
    return TlsHost(tmp_path)


def assert_key_never_sent(host: TlsHost) -> None:
    key = host.files()["host.key"]
    body = "".join(key.splitlines()[1:-1])
    sent = [" ".join(call) for call in host.host.state()["aws_calls"]] + host.pca()["sent"]
    assert all("PRIVATE KEY" not in text and body[:64] not in text.replace("\n", "") for text in sent)


def test_first_boot_issues_a_certificate_for_the_hosts_names(host: TlsHost) -> None:
    result = host.run("issue")
    assert result.returncode == 0, result.stderr
    calls = [c[1] for c in host.pca_calls()]
    # get-certificate answered RequestInProgressException twice before the certificate was issued.
    assert calls == [
        "issue-certificate",
        "get-certificate",
        "get-certificate",
        "get-certificate",
        "get-certificate-authority-certificate",
        "get-certificate-authority-certificate",
    ]
    (issue,) = [c for c in host.pca_calls() if c[1] == "issue-certificate"]
    assert issue[issue.index("--template-arn") + 1] == "arn:aws:acm-pca:::template/EndEntityCertificate/V1"
    assert issue[issue.index("--validity") + 1] == "Value=7,Type=DAYS"
    assert issue[issue.index("--region") + 1] == REGION
    # The CSR the CA received is a real one, for the host's names.
    (csr,) = host.pca()["sent"]
    assert csr.startswith("-----BEGIN CERTIFICATE REQUEST-----")
    assert f"subject=CN = {NAMES[0]}" in host.certificate("-subject")
    san = host.certificate("-ext", "subjectAltName")
    assert all(f"DNS:{n}" in san for n in (*NAMES, EC2_NAME)) and f"IP Address:{ADDRESS}" in san
    assert "TLS Web Server Authentication" not in csr  # the template, not the CSR, decides the usage
    # Leaf verifies against the CA chain; modes as the contract says.
    subprocess.run(["openssl", "verify", "-CAfile", str(host.tls / "ca.crt"), str(host.tls / "host.crt")], check=True)
    assert (host.tls / "host.key").stat().st_mode & 0o777 == 0o640
    assert (host.tls / "host.key").stat().st_gid == os.getgid()
    assert (host.tls / "host.crt").stat().st_mode & 0o777 == 0o644
    assert not list(host.tls.glob(".new.*"))
    assert_key_never_sent(host)


def test_reboot_with_a_valid_certificate_calls_nobody(host: TlsHost) -> None:
    assert host.run("issue").returncode == 0
    before, calls = host.files(), len(host.pca_calls())
    result = host.run("issue")
    assert result.returncode == 0, result.stderr
    assert len(host.pca_calls()) == calls
    assert host.files() == before
    assert "kept" in result.stderr


def test_renewal_inside_the_window_replaces_the_files_and_runs_the_hooks(host: TlsHost) -> None:
    assert host.run("issue").returncode == 0
    before = host.files()
    marker = host.hook("10-reload-iris")
    # A certificate valid for 7 days with a renewal window of 3 days: make the window 8 days.
    env = host.tls / "certificate.env"
    env.write_text(env.read_text().replace("RENEW_BEFORE_DAYS='3'", "RENEW_BEFORE_DAYS='8'"))
    result = host.run("renew")
    assert result.returncode == 0, result.stderr
    after = host.files()
    assert after["host.key"] != before["host.key"] and after["host.crt"] != before["host.crt"]
    assert marker.read_text().strip() == host.certificate("-serial").strip()
    assert len(host.pca()["sent"]) == 2
    assert_key_never_sent(host)


def test_renew_outside_the_window_runs_no_hook(host: TlsHost) -> None:
    assert host.run("issue").returncode == 0
    marker = host.hook("10-reload-iris")
    assert host.run("renew").returncode == 0
    assert not marker.exists()


def test_a_ca_error_is_reported_and_leaves_the_files_intact(host: TlsHost) -> None:
    assert host.run("issue").returncode == 0
    before = host.files()
    marker = host.hook("10-reload-iris")
    pca = host.pca()
    pca["error"] = ["InvalidStateException", "The certificate authority is not in a valid state for issuing certificates."]
    host.host.update(pca=pca)
    env = host.tls / "certificate.env"
    env.write_text(env.read_text().replace("RENEW_BEFORE_DAYS='3'", "RENEW_BEFORE_DAYS='8'"))
    result = host.run("renew")
    assert result.returncode == 1
    assert f"the CA {CA_ARN} refused the request" in result.stderr
    assert "InvalidStateException" in result.stderr
    assert host.files() == before
    assert not marker.exists()
    assert not list(host.tls.glob(".new.*"))


def test_a_certificate_that_never_issues_fails_after_the_timeout(host: TlsHost) -> None:
    pca = host.pca()
    pca["pending_polls"] = 1000
    host.host.update(pca=pca)
    result = host.run("issue", timeout=1)
    assert result.returncode == 1
    assert "did not issue" in result.stderr
    assert not (host.tls / "host.key").exists()


def test_a_name_change_gets_a_new_certificate(host: TlsHost) -> None:
    assert host.run("issue").returncode == 0
    env = host.tls / "certificate.env"
    env.write_text(env.read_text().replace(NAMES[0], "member1.hsdb.data.iris.internal"))
    assert host.run("issue").returncode == 0
    assert "DNS:member1.hsdb.data.iris.internal" in host.certificate("-ext", "subjectAltName")


def test_the_stub_refuses_what_is_not_a_csr(host: TlsHost, tmp_path: Path) -> None:
    # The stub must be able to fail: a PEM that is not a CSR is refused as the CA would.
    bogus = tmp_path / "bogus.csr"
    bogus.write_text("-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgY3Ny\n-----END CERTIFICATE REQUEST-----\n")
    result = subprocess.run(
        ["aws", "acm-pca", "issue-certificate", "--certificate-authority-arn", CA_ARN, "--csr", f"fileb://{bogus}",
         "--signing-algorithm", "SHA256WITHRSA", "--template-arn", CA.template_arn, "--validity", "Value=7,Type=DAYS",
         "--region", REGION],
        env={**os.environ, "PATH": f"{host.host.root / 'bin'}:{os.environ['PATH']}", "HOST_STATE": str(host.host.state_file)},
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 254
    assert "MalformedCSRException" in result.stderr


def test_renewal_runs_daily_from_a_timer() -> None:
    units = renewal_units()
    assert "ExecStart=/usr/local/sbin/iris-host-certificate renew" in units["iris-host-certificate.service"]
    assert "OnCalendar=daily" in units["iris-host-certificate.timer"]
    assert "Persistent=true" in units["iris-host-certificate.timer"]
