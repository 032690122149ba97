"""Measure synthesis and the test suite; print figures from one run.

    python -m ops.bench [--runs 3]

1. Synthesis of the full app, of the app without the EKS stack
   (``-c eks.enabled=false``) and of an empty CDK app, all through the pinned
   CDK CLI, interleaved so that machine noise hits them alike; prints each
   median of ``--runs``, the ratios, and what the EKS stack adds.
2. The wall time of ``make test`` with everything already installed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CDK = ROOT / "node_modules" / ".bin" / "cdk"
ENV = {
    **os.environ,
    "CDK_DISABLE_CLI_TELEMETRY": "true",
    "CDK_DISABLE_VERSION_CHECK": "true",
    "AWS_EC2_METADATA_DISABLED": "true",
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
}


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def synth_cmd(outdir: str, app: str | None = None, context: dict[str, str] | None = None) -> list[str]:
    cmd = [str(CDK), "synth", "--no-notices", "--no-version-reporting", "--quiet", "--output", outdir]
    for key, value in (context or {}).items():
        cmd += ["-c", f"{key}={value}"]
    return [*cmd, "--app", app] if app else cmd


def report(medians: dict[str, float], runs: dict[str, list[float]]) -> list[str]:
    """The lines ``main`` prints, from the medians and every run, in seconds."""
    full, without, empty = medians["full"], medians["without EKS"], medians["empty"]
    lines = [
        f"synth, {name:<16}: median {medians[name]:6.2f} s of {len(times)} ({', '.join(f'{t:.2f}' for t in times)})"
        for name, times in runs.items()
    ]
    lines += [
        f"ratio full / empty       : {full / empty:6.2f}x",
        f"ratio without EKS / empty: {without / empty:6.2f}x",
        f"ratio full / without EKS : {full / without:6.2f}x",
        f"the EKS stack adds       : {full - without:6.2f} s ({(full - without) / without:.0%} of the app without it)",
    ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description="Benchmark synthesis and the test suite.")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-tests", action="store_true", help="only the synthesis figures")
    args = parser.parse_args()

    empty_app = f"{sys.executable} {ROOT / 'ops' / 'empty_app.py'}"
    # (app, context) per variant; the app without EKS is the same app with one setting off.
    variants: dict[str, tuple[str | None, dict[str, str] | None]] = {
        "full": (None, None),
        "without EKS": (None, {"eks.enabled": "false"}),
        "empty": (empty_app, None),
    }
    runs: dict[str, list[float]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            for j, (name, (app, context)) in enumerate(variants.items()):
                runs[name].append(timed(synth_cmd(f"{tmp}/{j}-{i}", app, context)))
    for line in report({name: statistics.median(times) for name, times in runs.items()}, runs):
        print(line)
    if not args.skip_tests:
        print(f"make test (installed): {timed(['make', 'test']):6.2f} s wall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
