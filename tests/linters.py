"""cfn-lint and checkov over a synthesized assembly, started beside the other tests.

Both are separate programs that only read the templates, so the suite starts
them as soon as a shipped profile is synthesized (tests/conftest.py) and the
compliance tests collect their results later; meanwhile the in-process tests
use the other core. Run alone, a compliance test starts what it needs itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
TIMEOUT_SECONDS = 600


@dataclass
class Job:
    """One program running in the background; ``result()`` waits for it."""

    process: subprocess.Popen[bytes]
    stdout: Any
    stderr: Any
    completed: subprocess.CompletedProcess[str] | None = None

    @classmethod
    def start(cls, command: list[str]) -> Job:
        # Open until result() reads and closes them: the program writes there while the tests go on.
        stdout, stderr = tempfile.TemporaryFile(), tempfile.TemporaryFile()  # noqa: SIM115
        # cwd: cfn-lint reads .cfnlintrc.yaml there, where every skipped rule has its reason.
        return cls(subprocess.Popen(command, cwd=ROOT, stdout=stdout, stderr=stderr), stdout, stderr)

    def result(self) -> subprocess.CompletedProcess[str]:
        if self.completed is None:
            code = self.process.wait(timeout=TIMEOUT_SECONDS)
            outputs = []
            for stream in (self.stdout, self.stderr):
                stream.seek(0)
                outputs.append(stream.read().decode())
                stream.close()
            self.completed = subprocess.CompletedProcess(self.process.args, code, *outputs)
        return self.completed


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
        self.jobs: dict[str, Job] = {}

    def start(self) -> None:
        for name, command in self.commands.items():
            if name not in self.jobs and (name != "checkov" or CHECKOV.exists()):
                self.jobs[name] = Job.start(command)

    def result(self, name: str) -> subprocess.CompletedProcess[str]:
        if name not in self.jobs:
            self.jobs[name] = Job.start(self.commands[name])
        return self.jobs[name].result()

    def checkov_results(self) -> list[dict[str, Any]]:
        assert CHECKOV.exists(), "checkov is not installed: run `make install` (it lives in .venv-checkov)"
        run = self.result("checkov")
        assert run.returncode in (0, 1), run.stderr
        results = json.loads(run.stdout)
        return results if isinstance(results, list) else [results]
