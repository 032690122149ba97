#!/usr/bin/env python3
"""Canary deployment of a new image to the Mendix app on EKS, with automatic rollback.

    canary_deploy.py --namespace mendix --deployment mendix-app --image URI:TAG
                     [--container app] [--canary-replicas 1] [--canary-seconds 300]
                     [--max-restarts 0] [--poll-seconds 10]

1. A canary Deployment (``<deployment>-canary``) runs the new image beside the
   stable one with the same pod labels, so the Service (and its NLB) sends it
   a share of the traffic proportional to its replicas.
2. The canary must become ready and stay healthy (every pod ready, no more
   than ``--max-restarts`` container restarts) for ``--canary-seconds``.
3. Healthy: the stable Deployment rolls to the new image and must finish its
   rollout; if that rollout fails, it is undone. The canary is removed.
   Unhealthy: the canary is removed and the stable Deployment is untouched.
Exit 0 on promotion, 1 on rollback, 2 on a usage or cluster error.

Runs in CodeBuild with kubectl on the PATH and a kubeconfig for the cluster;
uses only the standard library. Every decision is printed as one line.
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

CANARY_SUFFIX = "-canary"
TRACK_LABEL = "track"


class ClusterError(RuntimeError):
    """kubectl failed for a reason other than the canary's health."""


@dataclass(frozen=True)
class Health:
    ready: int
    wanted: int
    restarts: int

    def healthy(self, max_restarts: int) -> bool:
        return self.wanted > 0 and self.ready >= self.wanted and self.restarts <= max_restarts


Kubectl = Callable[[Sequence[str], str | None], str]


def kubectl(args: Sequence[str], stdin: str | None = None) -> str:
    run = subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise ClusterError(f"kubectl {' '.join(args)}: {run.stderr.strip() or run.stdout.strip()}")
    return run.stdout


def log(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}, sort_keys=True), flush=True)


def canary_manifest(stable: dict[str, Any], *, image: str, container: str, replicas: int) -> dict[str, Any]:
    """The canary Deployment: the stable one's pod template with the new image.

    Its selector and pod labels add ``track: canary``; the Service selects on
    the app labels only, so canary pods receive traffic like stable pods.
    """
    name = stable["metadata"]["name"] + CANARY_SUFFIX
    spec = copy.deepcopy(stable["spec"])
    template = spec["template"]
    containers = template["spec"]["containers"]
    if not any(c["name"] == container for c in containers):
        raise ClusterError(f"deployment {stable['metadata']['name']} has no container {container!r}")
    for c in containers:
        if c["name"] == container:
            c["image"] = image
    labels = {**template["metadata"].get("labels", {}), TRACK_LABEL: "canary"}
    template["metadata"]["labels"] = labels
    spec["selector"] = {"matchLabels": {**spec["selector"].get("matchLabels", {}), TRACK_LABEL: "canary"}}
    spec["replicas"] = replicas
    for key in ("strategy", "progressDeadlineSeconds"):
        spec.pop(key, None)
    spec["progressDeadlineSeconds"] = 600
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": stable["metadata"]["namespace"],
            "labels": {**stable["metadata"].get("labels", {}), TRACK_LABEL: "canary"},
        },
        "spec": spec,
    }


def pod_health(pods: dict[str, Any], wanted: int) -> Health:
    """Readiness and restarts of the pods in a ``kubectl get pods -o json`` answer."""
    ready = restarts = 0
    for pod in pods.get("items", []):
        if pod.get("metadata", {}).get("deletionTimestamp"):
            continue
        statuses = pod.get("status", {}).get("containerStatuses", [])
        restarts += sum(s.get("restartCount", 0) for s in statuses)
        conditions = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions", [])}
        if conditions.get("Ready") == "True":
            ready += 1
    return Health(ready=ready, wanted=wanted, restarts=restarts)


@dataclass
class Canary:
    namespace: str
    deployment: str
    container: str
    image: str
    replicas: int
    seconds: int
    max_restarts: int
    poll_seconds: int
    run: Kubectl = kubectl
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    @property
    def canary_name(self) -> str:
        return self.deployment + CANARY_SUFFIX

    def k(self, *args: str, stdin: str | None = None) -> str:
        return self.run(["--namespace", self.namespace, *args], stdin)

    def deploy(self) -> int:
        stable = json.loads(self.k("get", "deployment", self.deployment, "--output", "json"))
        current = next(c["image"] for c in stable["spec"]["template"]["spec"]["containers"] if c["name"] == self.container)
        if current == self.image:
            log("already-deployed", deployment=self.deployment, image=self.image)
            return 0
        log("canary-start", deployment=self.deployment, image=self.image, replicas=self.replicas, previous=current)
        manifest = canary_manifest(stable, image=self.image, container=self.container, replicas=self.replicas)
        self.k("apply", "--filename", "-", stdin=json.dumps(manifest))
        try:
            healthy = self.watch()
        except ClusterError as err:
            log("canary-error", error=str(err))
            healthy = False
        if not healthy:
            self.remove_canary()
            log("rolled-back", deployment=self.deployment, kept=current, rejected=self.image)
            return 1
        return self.promote(current)

    def watch(self) -> bool:
        """True when the canary became ready and stayed healthy for the whole window."""
        self.k("rollout", "status", f"deployment/{self.canary_name}", f"--timeout={self.seconds}s")
        deadline = self.clock() + self.seconds
        selector = f"{TRACK_LABEL}=canary"
        while True:
            pods = json.loads(self.k("get", "pods", "--selector", selector, "--output", "json"))
            health = pod_health(pods, self.replicas)
            if not health.healthy(self.max_restarts):
                log("canary-unhealthy", ready=health.ready, wanted=health.wanted, restarts=health.restarts)
                return False
            if self.clock() >= deadline:
                log("canary-healthy", ready=health.ready, restarts=health.restarts, seconds=self.seconds)
                return True
            self.sleep(self.poll_seconds)

    def promote(self, previous: str) -> int:
        self.k("set", "image", f"deployment/{self.deployment}", f"{self.container}={self.image}")
        try:
            self.k("rollout", "status", f"deployment/{self.deployment}", f"--timeout={self.seconds}s")
        except ClusterError as err:
            log("promotion-failed", error=str(err))
            self.k("rollout", "undo", f"deployment/{self.deployment}")
            self.remove_canary()
            log("rolled-back", deployment=self.deployment, kept=previous, rejected=self.image)
            return 1
        self.remove_canary()
        log("promoted", deployment=self.deployment, image=self.image, previous=previous)
        return 0

    def remove_canary(self) -> None:
        self.k("delete", "deployment", self.canary_name, "--ignore-not-found=true", "--wait=true")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--deployment", required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--container", default="app")
    parser.add_argument("--canary-replicas", type=int, default=1)
    parser.add_argument("--canary-seconds", type=int, default=300)
    parser.add_argument("--max-restarts", type=int, default=0)
    parser.add_argument("--poll-seconds", type=int, default=10)
    args = parser.parse_args(argv)
    if ":" not in args.image.rsplit("/", 1)[-1] and "@" not in args.image:
        parser.error("--image needs a tag or a digest")
    if args.canary_replicas < 1 or args.canary_seconds < 1 or args.poll_seconds < 1 or args.max_restarts < 0:
        parser.error("replicas, seconds and poll interval must be positive, restarts not negative")
    return args


def main(argv: Sequence[str] | None = None, run: Kubectl = kubectl) -> int:
    args = parse_args(argv)
    canary = Canary(
        namespace=args.namespace,
        deployment=args.deployment,
        container=args.container,
        image=args.image,
        replicas=args.canary_replicas,
        seconds=args.canary_seconds,
        max_restarts=args.max_restarts,
        poll_seconds=args.poll_seconds,
        run=run,
    )
    try:
        return canary.deploy()
    except ClusterError as err:
        log("error", error=str(err))
        return 2


if __name__ == "__main__":
    sys.exit(main())
