"""cfn-lint and checkov over the shipped profiles' assemblies, started beside the other tests.

Both are separate programs that only read the templates, so the suite starts
them as soon as every shipped profile is synthesized (tests/conftest.py) and
the compliance tests collect their results later, in whichever pytest-xdist
worker runs them; meanwhile the tests go on. Run alone, a compliance test
synthesizes and starts what it needs itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
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
# Written last into an assembly's folder (tests/conftest.py): the roles of its stacks and the nag outcome.
SYNTHESIZED = "synthesized.json"


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


def _manifest(outdir: Path) -> dict[str, Any]:
    return json.loads((outdir / "manifest.json").read_text())


class ShippedLinters:
    """cfn-lint and checkov over every shipped profile's assembly at once, each started once per run.

    Each program costs seconds before it reads a template (checkov about 6 s of CPU, cfn-lint about
    2 s), so each runs once over all the shipped profiles: cfn-lint once per region, over every
    template of that region (a DR-region template against the DR region's resource specs), and
    checkov over one folder holding a copy of every template, a folder per profile. ``view``
    reads one profile's findings from them.
    """

    def __init__(self, outdirs: dict[str, Path], folder: Path, synthesize_all: Callable[[], object]) -> None:
        self.outdirs = outdirs  # profile -> its assembly's folder
        self.folder = folder
        self.synthesize_all = synthesize_all
        self.checkov_input = folder / "checkov-input"

    def ready(self) -> bool:
        return all((outdir / SYNTHESIZED).exists() for outdir in self.outdirs.values())

    def commands(self) -> dict[str, list[str]]:
        by_region: dict[str, list[str]] = {}
        for outdir in self.outdirs.values():
            for region, templates in templates_by_region(_manifest(outdir), outdir).items():
                by_region.setdefault(region, []).extend(templates)
        jobs = {
            f"cfn-lint {region}": [str(BIN / "cfn-lint"), "--format", "parseable", "--regions", region, "--", *templates]
            for region, templates in sorted(by_region.items())
        }
        jobs["checkov"] = [
            str(CHECKOV),
            *("-d", str(self.checkov_input), "--framework", "cloudformation", "--skip-download", "--compact", "-o", "json"),
        ]
        return jobs

    def job(self, name: str) -> Job:
        return Job(self.folder / name.replace(" ", "-"))

    def start(self) -> None:
        """Start every linter, once all the shipped profiles are synthesized (else the last one's synthesis will)."""
        if not self.ready():
            return
        for name, command in self.commands().items():
            if name == "checkov":
                if not CHECKOV.exists():
                    continue
                self._copy_for_checkov()
            self.job(name).start(command)

    def _copy_for_checkov(self) -> None:
        for profile, outdir in self.outdirs.items():
            target = self.checkov_input / profile
            if target.exists():
                continue  # copied by another worker, which starts checkov itself
            staging = self.checkov_input / f".{profile}.{os.getpid()}"
            staging.mkdir(parents=True)
            for template in outdir.glob("*.template.json"):
                shutil.copyfile(template, staging / template.name)
            try:
                staging.rename(target)
            except OSError:
                shutil.rmtree(staging)  # another worker's copy landed first; it is the same

    def result(self, name: str) -> subprocess.CompletedProcess[str]:
        if not self.ready():
            self.synthesize_all()
        self.start()
        return self.job(name).result()

    def view(self, profile: str) -> Linters:
        return Linters(self, profile)


class Linters:
    """One shipped profile's findings, read from the run's linters (:class:`ShippedLinters`)."""

    def __init__(self, shipped: ShippedLinters, profile: str) -> None:
        self.shipped = shipped
        self.profile = profile

    def result(self, name: str) -> subprocess.CompletedProcess[str]:
        """cfn-lint's run, its output cut to this profile's templates; a failure that is not a finding stays."""
        run = self.shipped.result(name)
        own = str(self.shipped.outdirs[self.profile]) + "/"
        lines = [line for line in run.stdout.splitlines() if line.startswith(own)]
        # cfn-lint's exit status is a bit mask of the levels it found (2 error, 4 warning, 8 informational);
        # anything else (1, or above 15) is the program failing, which every profile's test must see.
        findings_only = run.returncode & 1 == 0 and run.returncode <= 15
        returncode = (run.returncode if lines else 0) if findings_only else run.returncode
        return subprocess.CompletedProcess(run.args, returncode, "".join(f"{line}\n" for line in lines), run.stderr)

    def checkov_results(self) -> list[dict[str, Any]]:
        """checkov's reports with only this profile's results, and its counts of them."""
        assert CHECKOV.exists(), "checkov is not installed: run `make install` (it lives in .venv-checkov)"
        run = self.shipped.result("checkov")
        assert run.returncode in (0, 1), run.stderr
        reports = json.loads(run.stdout)
        own = str(self.shipped.checkov_input / self.profile) + "/"
        views = []
        for report in reports if isinstance(reports, list) else [reports]:
            results = {
                key: [r for r in report["results"].get(key, []) if r["file_abs_path"].startswith(own)]
                for key in ("passed_checks", "failed_checks", "skipped_checks")
            }
            summary = {
                **report["summary"],
                **{key.removesuffix("_checks"): len(found) for key, found in results.items()},
            }
            views.append({**report, "results": {**report["results"], **results}, "summary": summary})
        return views
