"""cfn-lint and checkov over a synthesized assembly, started beside the other tests.

Both are separate programs that only read the templates, so the suite starts
them as soon as a shipped profile is synthesized (tests/conftest.py) and the
compliance tests collect their results later, in whichever pytest-xdist
worker runs them; meanwhile the tests go on. Run alone, a compliance test
starts what it needs itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
TIMEOUT_SECONDS = 600


# Runs a command with its output and, last, its exit status in files of ``$0``, a job's folder.
RUNNER = '"$@" >"$0/stdout" 2>"$0/stderr"; echo $? >"$0/status.tmp"; mv "$0/status.tmp" "$0/status"'
POLL_SECONDS = 0.2


@dataclass
class Job:
    """One program running in the background, its output in a folder of its own.

    The folder is the job: whichever test process creates it starts the
    program, and any process of the run (pytest-xdist's workers are separate
    processes) reads the result from it once the status file appears.
    """

    folder: Path

    def start(self, command: list[str]) -> None:
        try:
            self.folder.mkdir(parents=True)
        except FileExistsError:
            return  # started by another worker
        # cwd: cfn-lint reads .cfnlintrc.yaml there, where every skipped rule has its reason.
        STARTED.append(subprocess.Popen(["/bin/sh", "-c", RUNNER, str(self.folder), *command], cwd=ROOT))

    def result(self) -> subprocess.CompletedProcess[str]:
        status = self.folder / "status"
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while not status.exists():
            assert time.monotonic() < deadline, f"{self.folder.name} ran for more than {TIMEOUT_SECONDS} s"
            time.sleep(POLL_SECONDS)
        out, err = ((self.folder / name).read_text() for name in ("stdout", "stderr"))
        return subprocess.CompletedProcess(str(self.folder), int(status.read_text()), out, err)


# The programs this process started; the session waits for them before it ends (tests/conftest.py).
STARTED: list[subprocess.Popen[bytes]] = []


def wait_for_started() -> None:
    for process in STARTED:
        process.wait(timeout=TIMEOUT_SECONDS)


def templates_by_region(manifest: dict[str, Any], outdir: Path) -> dict[str, list[str]]:
    """Each template under its own stack's region, from the assembly's manifest."""
    found: dict[str, list[str]] = {}
    for artifact in manifest["artifacts"].values():
        if artifact["type"] == "aws:cloudformation:stack":
            region = artifact["environment"].rsplit("/", 1)[1]
            found.setdefault(region, []).append(str(outdir / artifact["properties"]["templateFile"]))
    return found


def commands(manifest: dict[str, Any], outdir: Path) -> dict[str, list[str]]:
    """Job name -> command: cfn-lint per region (a DR-region template against the DR region's
    resource specs), and checkov over the whole assembly."""
    jobs = {
        f"cfn-lint {region}": [str(BIN / "cfn-lint"), "--format", "parseable", "--regions", region, "--", *templates]
        for region, templates in templates_by_region(manifest, outdir).items()
    }
    jobs["checkov"] = [
        str(CHECKOV),
        *("-d", str(outdir), "--framework", "cloudformation", "--skip-download", "--quiet", "--compact", "-o", "json"),
    ]
    return jobs


class Linters:
    """The jobs of one assembly, started at most once each."""

    def __init__(self, manifest: dict[str, Any], outdir: Path) -> None:
        self.commands = commands(manifest, outdir)
        self.jobs = {name: Job(outdir.with_name(f"{outdir.name}.jobs") / name.replace(" ", "-")) for name in self.commands}

    def start(self) -> None:
        for name, command in self.commands.items():
            if name != "checkov" or CHECKOV.exists():
                self.jobs[name].start(command)

    def result(self, name: str) -> subprocess.CompletedProcess[str]:
        self.jobs[name].start(self.commands[name])  # unless it was started already
        return self.jobs[name].result()

    def checkov_results(self) -> list[dict[str, Any]]:
        assert CHECKOV.exists(), "checkov is not installed: run `make install` (it lives in .venv-checkov)"
        run = self.result("checkov")
        assert run.returncode in (0, 1), run.stderr
        results = json.loads(run.stdout)
        return results if isinstance(results, list) else [results]
