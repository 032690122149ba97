"""The emulator: ``ops.rehearsal.moto_gaps`` as a server process on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ops.rehearsal.moto_gaps import HOST

START_TIMEOUT_SECONDS = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def listening_addresses(port: int) -> set[str]:
    """Every local address with a TCP socket listening on ``port``, from /proc/net/tcp and tcp6."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if int(hex_port, 16) != port or fields[3] != "0A":  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            if width == 8:
                found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
            else:
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


@dataclass
class Emulator:
    """One moto server for one rehearsal; ``url`` names localhost, as the CDK CLI needs."""

    workdir: Path
    account: str
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def client_environment(self) -> dict[str, str]:
        """What the CDK CLI and boto3 need to talk to this emulator and nothing else."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "rehearsal",
            "AWS_SECRET_ACCESS_KEY": "rehearsal",
            "AWS_SESSION_TOKEN": "rehearsal",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
            "MOTO_ACCOUNT_ID": self.account,
            # moto reads CloudFormation templates from its own S3; the template URLs name this endpoint.
            "AWS_ENDPOINT_URL_S3_FOR_CLOUDFORMATION": self.url,
            # moto's catalogue of public AMIs costs seconds to load; the rehearsal registers the one image it uses.
            "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
        }
        log = (self.workdir / "emulator.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ops.rehearsal.moto_gaps", "--port", str(self.port), "--workdir", str(self.workdir)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[2],
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the emulator exited {self.process.returncode}; see {self.workdir / 'emulator.log'}")
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the emulator did not listen on {HOST}:{self.port} within {START_TIMEOUT_SECONDS} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
