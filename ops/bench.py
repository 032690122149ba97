"""Measure synthesis and the test suite; print figures from one run.

    python -m ops.bench [--runs 3]

1. The full app's synthesis and an empty CDK app's synthesis, both through the
   pinned CDK CLI, interleaved so that machine noise hits both alike; prints
   each median of ``--runs`` and their ratio.
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


def synth_cmd(outdir: str, app: str | None = None) -> list[str]:
    cmd = [str(CDK), "synth", "--no-notices", "--no-version-reporting", "--quiet", "--output", outdir]
    return [*cmd, "--app", app] if app else cmd


def main() -> int:
    parser = argparse.ArgumentParser(description="Benchmark synthesis and the test suite.")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-tests", action="store_true", help="only the synthesis figures")
    args = parser.parse_args()

    empty_app = f"{sys.executable} {ROOT / 'ops' / 'empty_app.py'}"
    full, empty = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            full.append(timed(synth_cmd(f"{tmp}/full{i}")))
            empty.append(timed(synth_cmd(f"{tmp}/empty{i}", empty_app)))
    full_median, empty_median = statistics.median(full), statistics.median(empty)
    print(f"synth, full app   : median {full_median:6.2f} s of {args.runs} ({', '.join(f'{t:.2f}' for t in full)})")
    print(f"synth, empty app  : median {empty_median:6.2f} s of {args.runs} ({', '.join(f'{t:.2f}' for t in empty)})")
    print(f"ratio full / empty: {full_median / empty_median:6.2f}x")
    if not args.skip_tests:
        print(f"make test (installed): {timed(['make', 'test']):6.2f} s wall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
