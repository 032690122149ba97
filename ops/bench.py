"""Measure synthesis and the test suite; print figures from one run.

    python -m ops.bench [--runs 3]

1. Synthesis of the full app, of the app without the EKS stack
   (``-c eks.enabled=false``) and of an empty CDK app, all through the pinned
   CDK CLI, interleaved so that machine noise hits them alike; prints each
   median of ``--runs``, the ratios, and what the EKS stack adds.
   Each run also records the CPU time of its jsii kernel: the Node processes
   in which the CDK builds, checks (cdk-nag) and writes the constructs the
   app's Python asks for, while Python waits. The full app's kernel CPU over
   the empty app's whole synthesis is printed beside the ratio, as the part
   of it that is the kernel's own work on these requests (V8's helper
   threads count in it, and can run beside Python; docs/testing.md,
   "Synthesis time", has the serial part). The stand-in that records the
   kernel's CPU adds one start of Python to every synthesis, every variant
   alike.
2. Scale: the full app with ``MAX_MIRROR_SETS`` mirror sets (each with a DR
   member) against the shipped two, in the same interleaved runs; prints how
   synthesis time grew against how the resource count grew.
3. The wall time of ``make test`` with everything already installed.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CDK = ROOT / "node_modules" / ".bin" / "cdk"
ENV = {
    **os.environ,
    "CDK_DISABLE_CLI_TELEMETRY": "true",
    "CDK_DISABLE_VERSION_CHECK": "true",
    "AWS_EC2_METADATA_DISABLED": "true",
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    # As the Makefile synthesizes: without the CDK's built-in template validation (cfn-lint checks strictly).
    "CDK_VALIDATION": "false",
}


def many_sets(reference: dict[str, Any], count: int) -> dict[str, str]:
    """``-c`` overrides giving the reference profile ``count`` mirror sets (the second set's shape
    repeated), each with a mirrored database and a DR member; the ECP application servers mount the
    first set's."""
    shapes = reference["data"]["mirror_sets"]
    sets = [shapes[0], *({**shapes[1], "name": f"Set{i:02d}"} for i in range(1, count))]
    databases = [{"name": f"DB{i:02d}", "namespace": f"NS{i:02d}", "mirror_set": s["name"]} for i, s in enumerate(sets)]
    return {
        "data.mirror_sets": json.dumps(sets),
        "data.databases": json.dumps(databases),
        "dr.mirror_sets": json.dumps([s["name"] for s in sets]),
        "app.ecp_databases": json.dumps([{"name": databases[0]["name"], "namespace": databases[0]["namespace"]}]),
    }


def resource_count(outdir: str) -> int:
    return sum(len(json.loads(p.read_text())["Resources"]) for p in Path(outdir).glob("*.template.json"))


def scale_line(sets: int, medians: dict[str, float], resources: dict[str, int]) -> str:
    """How synthesis time grew from the shipped sets to ``sets``, against how the resources grew."""
    time_ratio = medians[f"{sets} sets"] / medians["full"]
    resource_ratio = resources[f"{sets} sets"] / resources["full"]
    return (
        f"{sets} sets / shipped        : time {time_ratio:5.2f}x, resources {resource_ratio:5.2f}x "
        f"({resources['full']} -> {resources[f'{sets} sets']}); time per resource {time_ratio / resource_ratio:5.2f}x"
    )


def kernel_node(folder: Path) -> Path:
    """An executable that jsii can start as ``node``: ops/kernel_node.py under this Python, which records
    the kernel's CPU time (a shell stub, so that no path has to fit a ``#!`` line)."""
    wrapper = folder / "kernel-node"
    script = ROOT / "ops" / "kernel_node.py"
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -S {shlex.quote(str(script))} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env or ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def timed_synth(cmd: list[str], wrapper: Path, record: Path) -> tuple[float, float]:
    """Wall time of one synthesis, and the CPU time its jsii kernel recorded in ``record``."""
    env = {**ENV, "JSII_NODE": str(wrapper), "BENCH_NODE": ENV.get("JSII_NODE", "node"), "BENCH_KERNEL_CPU": str(record)}
    wall = timed(cmd, env)
    if not record.exists():
        raise SystemExit(f"bench: the synthesis ran, but no jsii kernel recorded its CPU time in {record}")
    # One kernel per Python process, and the CLI starts the app once.
    return wall, sum(float(line) for line in record.read_text().split())


def synth_cmd(outdir: str, app: str | None = None, context: dict[str, str] | None = None) -> list[str]:
    cmd = [str(CDK), "synth", "--no-notices", "--no-version-reporting", "--quiet", "--output", outdir]
    for key, value in (context or {}).items():
        cmd += ["-c", f"{key}={value}"]
    return [*cmd, "--app", app] if app else cmd


def report(medians: dict[str, float], runs: dict[str, list[float]], kernel: dict[str, float]) -> list[str]:
    """The lines ``main`` prints, from the medians and every run, in seconds; ``kernel``: the median CPU
    time of each variant's jsii kernel."""
    full, without, empty = medians["full"], medians["without EKS"], medians["empty"]
    lines = [
        f"synth, {name:<18}: median {medians[name]:6.2f} s of {len(times)} ({', '.join(f'{t:.2f}' for t in times)})"
        for name, times in runs.items()
    ]
    lines += [f"jsii kernel, {name:<12}: median {cpu:6.2f} s CPU" for name, cpu in kernel.items()]
    lines += [
        f"ratio full / empty       : {full / empty:6.2f}x (the full app's kernel CPU alone: {kernel['full'] / empty:.2f}x "
        "the empty app's whole synthesis)",
        f"ratio without EKS / empty: {without / empty:6.2f}x (kernel CPU alone: {kernel['without EKS'] / empty:.2f}x)",
        f"ratio full / without EKS : {full / without:6.2f}x",
        f"the EKS stack adds       : {full - without:6.2f} s ({(full - without) / without:.0%} of the app without it)",
    ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description="Benchmark synthesis and the test suite.")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-tests", action="store_true", help="only the synthesis figures")
    args = parser.parse_args()

    from config.constants import MAX_MIRROR_SETS

    empty_app = f"{sys.executable} {ROOT / 'ops' / 'empty_app.py'}"
    reference = json.loads((ROOT / "cdk.json").read_text())["context"]["profiles"]["reference"]
    # (app, context) per variant; the app without EKS is the same app with one setting off.
    variants: dict[str, tuple[str | None, dict[str, str] | None]] = {
        "full": (None, None),
        "without EKS": (None, {"eks.enabled": "false"}),
        "empty": (empty_app, None),
        f"{MAX_MIRROR_SETS} sets": (None, many_sets(reference, MAX_MIRROR_SETS)),
    }
    runs: dict[str, list[float]] = {name: [] for name in variants}
    kernel_runs: dict[str, list[float]] = {name: [] for name in variants}
    resources: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        wrapper = kernel_node(Path(tmp))
        for i in range(args.runs):
            for j, (name, (app, context)) in enumerate(variants.items()):
                wall, cpu = timed_synth(synth_cmd(f"{tmp}/{j}-{i}", app, context), wrapper, Path(tmp) / f"kernel-{j}-{i}")
                runs[name].append(wall)
                kernel_runs[name].append(cpu)
                resources[name] = resource_count(f"{tmp}/{j}-{i}")
    medians = {name: statistics.median(times) for name, times in runs.items()}
    kernel = {name: statistics.median(times) for name, times in kernel_runs.items()}
    for line in report(medians, runs, kernel):
        print(line)
    print(scale_line(MAX_MIRROR_SETS, medians, resources))
    if not args.skip_tests:
        print(f"make test (installed): {timed(['make', 'test']):6.2f} s wall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
