#!/usr/bin/env python3
"""Promote a Mendix deployment package to one environment by updating its ``MendixApp``.

    mendix_deploy.py deploy   --namespace mendix --app shop-staging --bucket B --key packages/SHA.mda
                              --sha256 SHA --db-instance ID --storage-plan P --database-plan P
                              [--replicas 1] [--timeout-seconds 2700] [--keep-snapshots 10]
    mendix_deploy.py rollback --namespace mendix --app shop --bucket B --db-instance ID [--timeout-seconds ...]

The Mendix Operator owns the Deployments of an app and reverts edits to them, so
a package reaches an environment only through the ``MendixApp`` resource's
``sourceURL`` (Mendix's "Using Command Line to Deploy" page): an HTTPS URL the
cluster can fetch without credentials, here a presigned, expiring URL of the
package in the pipeline's bucket. A package changes the app model, and the
runtime migrates the database schema when the new model starts; old and new
models cannot share one database, and the way back is a database restore. So:

1. Before any change of the package (a deployment or a rollback) of an app that
   exists, a manual RDS snapshot of the database instance is taken and must
   become available; without it nothing changes. Older snapshots of the app
   beyond ``--keep-snapshots`` are deleted.
2. The ``MendixApp`` is created (first deployment) or its ``sourceURL`` patched;
   annotations record the package, the one before it and the snapshot.
3. The app must report every status Ready and ``appState`` Started for the new
   generation within ``--timeout-seconds``.
4. If not, the previous package is put back the same way (snapshot first), and
   the run fails naming the snapshot taken before the failed change: if the new
   model's schema migration ran, restoring that snapshot is the data rollback
   (docs/eks.md, "Delivery and rollback").
``rollback`` does step 4 on its own, for a package that was promoted but must go.
Exit 0 on success, 1 when the package was refused or rolled back, 2 on a usage
or cluster error. Runs in CodeBuild with kubectl and the AWS CLI on the PATH;
standard library only. Every decision is printed as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

API_VERSION = "privatecloud.mendix.com/v1alpha1"
KIND = "MendixApp"
# The statuses Mendix's page lists for a MendixApp; each reads Ready when done.
READY_STATUSES = ("buildStatus", "databaseStatus", "mendixAppState", "networkStatus", "runtimeStatus", "storageStatus")
READY = "Ready"
STARTED = "Started"
ANNOTATION = "mendix.io/"
PACKAGE = ANNOTATION + "package-sha256"
PACKAGE_KEY = ANNOTATION + "package-key"
PREVIOUS_SHA = ANNOTATION + "previous-package-sha256"
PREVIOUS_KEY = ANNOTATION + "previous-package-key"
SNAPSHOT = ANNOTATION + "pre-deploy-snapshot"
# Long enough for the Operator to fetch the package when it builds the image.
URL_SECONDS = 3600
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ClusterError(RuntimeError):
    """kubectl or the AWS CLI failed."""


Run = Callable[[Sequence[str], str | None], str]


def run(args: Sequence[str], stdin: str | None = None) -> str:
    done = subprocess.run(list(args), input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ClusterError(f"{' '.join(args[:3])}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def log(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}, sort_keys=True), flush=True)


def mendix_app_manifest(
    *, name: str, namespace: str, source_url: str, storage_plan: str, database_plan: str, replicas: int
) -> dict[str, Any]:
    """A new MendixApp with the fields of Mendix's example CR this platform sets.

    Both environments run in production mode (``dtapMode: P``), so staging
    rehearses what production runs; Mendix requires the app's security on for it.
    """
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "database": {"servicePlan": database_plan},
            "storage": {"servicePlan": storage_plan},
            "sourceURL": source_url,
            "replicas": replicas,
            "runtime": {"dtapMode": "P", "logAutosubscribeLevel": "INFO"},
        },
    }


def ready(app: dict[str, Any]) -> bool:
    status = app.get("status") or {}
    return all(status.get(s) == READY for s in READY_STATUSES) and status.get("appState") == STARTED


def snapshot_name(prefix: str, app: str, now: datetime, sha: str) -> str:
    """An RDS snapshot identifier: letters, digits and single hyphens, starting with a letter."""
    return f"{prefix}-{app}-{now.strftime('%Y%m%d%H%M%S')}-{sha[:12]}"


@dataclass
class Deployer:
    namespace: str
    app: str
    bucket: str
    db_instance: str
    snapshot_prefix: str
    timeout_seconds: int
    poll_seconds: int = 15
    keep_snapshots: int = 10
    run: Run = run
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    # ------------------------------------------------------------- tools
    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        return self.run(["kubectl", "--namespace", self.namespace, *args], stdin)

    def aws(self, *args: str) -> str:
        return self.run(["aws", *args, "--output", "json"], None)

    def get(self) -> dict[str, Any] | None:
        text = self.kubectl("get", "mendixapp", self.app, "--ignore-not-found", "--output", "json")
        return json.loads(text) if text.strip() else None

    def presign(self, key: str) -> str:
        url = self.run(["aws", "s3", "presign", f"s3://{self.bucket}/{key}", "--expires-in", str(URL_SECONDS)], None)
        return url.strip()

    # ------------------------------------------------------- snapshots
    def snapshot(self, sha: str) -> str:
        """A manual snapshot of the database instance, waited for; older ones of this app pruned."""
        name = snapshot_name(self.snapshot_prefix, self.app, self.now(), sha)
        log("snapshot-start", app=self.app, snapshot=name, instance=self.db_instance)
        self.aws("rds", "create-db-snapshot", "--db-instance-identifier", self.db_instance, "--db-snapshot-identifier", name)
        self.aws("rds", "wait", "db-snapshot-available", "--db-snapshot-identifier", name)
        log("snapshot-available", app=self.app, snapshot=name)
        self.prune()
        return name

    def prune(self) -> None:
        answer = json.loads(
            self.aws(
                "rds",
                "describe-db-snapshots",
                "--db-instance-identifier",
                self.db_instance,
                "--snapshot-type",
                "manual",
            )
            or "{}"
        )
        # prefix-app-TIMESTAMP-sha: the timestamp keeps "shop" from matching "shop-staging".
        mine = re.compile(rf"{re.escape(self.snapshot_prefix)}-{re.escape(self.app)}-\d{{14}}-[0-9a-f]{{12}}")
        ours = sorted(
            (s for s in answer.get("DBSnapshots", []) if mine.fullmatch(s["DBSnapshotIdentifier"])),
            key=lambda s: s.get("SnapshotCreateTime", ""),
            reverse=True,
        )
        for old in ours[self.keep_snapshots :]:
            self.aws("rds", "delete-db-snapshot", "--db-snapshot-identifier", old["DBSnapshotIdentifier"])
            log("snapshot-pruned", app=self.app, snapshot=old["DBSnapshotIdentifier"])

    # ------------------------------------------------------------ steps
    def wait(self, generation: int) -> bool:
        """True once the app reports Ready for ``generation``, False at the deadline.

        With ``status.observedGeneration`` the answer belongs to the new spec;
        without it, a status must first leave Ready (the Operator took the change
        up), so the old version's Ready does not count.
        """
        deadline = self.clock() + self.timeout_seconds
        saw_progress = False
        while True:
            app = self.get()
            status = (app or {}).get("status") or {}
            observed = status.get("observedGeneration")
            if not ready(app or {}):
                saw_progress = True
            current = observed >= generation if isinstance(observed, int) else saw_progress
            if current and ready(app or {}):
                return True
            if self.clock() >= deadline:
                log("not-ready", app=self.app, status={k: status.get(k) for k in (*READY_STATUSES, "appState")})
                return False
            self.sleep(self.poll_seconds)

    def change_package(self, app: dict[str, Any], *, sha: str, key: str, snapshot: str) -> int:
        """Patch ``sourceURL`` and the annotations; the new generation."""
        annotations = app["metadata"].get("annotations") or {}
        patch = {
            "metadata": {
                "annotations": {
                    PACKAGE: sha,
                    PACKAGE_KEY: key,
                    PREVIOUS_SHA: annotations.get(PACKAGE),
                    PREVIOUS_KEY: annotations.get(PACKAGE_KEY),
                    SNAPSHOT: snapshot,
                }
            },
            "spec": {"sourceURL": self.presign(key)},
        }
        out = self.kubectl("patch", "mendixapp", self.app, "--type", "merge", "--patch", json.dumps(patch), "--output", "json")
        return int(json.loads(out)["metadata"]["generation"])

    def deploy(self, *, sha: str, key: str, storage_plan: str, database_plan: str, replicas: int) -> int:
        current = self.get()
        if current is None:
            manifest = mendix_app_manifest(
                name=self.app,
                namespace=self.namespace,
                source_url=self.presign(key),
                storage_plan=storage_plan,
                database_plan=database_plan,
                replicas=replicas,
            )
            manifest["metadata"]["annotations"] = {PACKAGE: sha, PACKAGE_KEY: key}
            log("create", app=self.app, package=sha)
            out = self.kubectl("create", "--filename", "-", "--output", "json", stdin=json.dumps(manifest))
            if self.wait(int(json.loads(out)["metadata"]["generation"])):
                log("deployed", app=self.app, package=sha, first=True)
                return 0
            log("refused", app=self.app, package=sha, reason="the first deployment did not become ready; nothing to roll back to")
            return 1
        annotations = current["metadata"].get("annotations") or {}
        if annotations.get(PACKAGE) == sha:
            log("already-deployed", app=self.app, package=sha)
            return 0
        snapshot = self.snapshot(sha)
        log("deploy", app=self.app, package=sha, previous=annotations.get(PACKAGE), snapshot=snapshot)
        generation = self.change_package(current, sha=sha, key=key, snapshot=snapshot)
        if self.wait(generation):
            log("deployed", app=self.app, package=sha, snapshot=snapshot)
            return 0
        self.rollback(reason=f"package {sha} did not become ready")
        return 1

    def rollback(self, *, reason: str) -> int:
        """Put the previous package back (a model change too, so snapshot first)."""
        current = self.get()
        annotations = (current or {}).get("metadata", {}).get("annotations") or {}
        previous_sha, previous_key = annotations.get(PREVIOUS_SHA), annotations.get(PREVIOUS_KEY)
        if current is None or not previous_sha or not previous_key:
            raise ClusterError(f"{self.app} records no previous package to roll back to")
        failed_snapshot = annotations.get(SNAPSHOT)
        snapshot = self.snapshot(previous_sha)
        log("rollback", app=self.app, reason=reason, to=previous_sha, rejected=annotations.get(PACKAGE), snapshot=snapshot)
        generation = self.change_package(current, sha=previous_sha, key=previous_key, snapshot=snapshot)
        restored = self.wait(generation)
        log(
            "rolled-back" if restored else "rollback-not-ready",
            app=self.app,
            package=previous_sha,
            # Taken before the rejected package started: the data rollback if its migration ran.
            restore_snapshot=failed_snapshot,
        )
        if not restored:
            raise ClusterError(f"{self.app} did not become ready on the previous package {previous_sha}")
        return 0


def _name(text: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,38}[a-z0-9]", text) or "--" in text:
        raise argparse.ArgumentTypeError(f"not a MendixApp or instance name: {text!r}")
    return text


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for command in ("deploy", "rollback"):
        sub = commands.add_parser(command)
        sub.add_argument("--namespace", required=True)
        sub.add_argument("--app", required=True, type=_name)
        sub.add_argument("--bucket", required=True)
        sub.add_argument("--db-instance", required=True, type=_name)
        sub.add_argument("--snapshot-prefix", required=True, type=_name)
        sub.add_argument("--timeout-seconds", type=int, default=2700)
        sub.add_argument("--poll-seconds", type=int, default=15)
        sub.add_argument("--keep-snapshots", type=int, default=10)
        if command == "deploy":
            sub.add_argument("--key", required=True)
            sub.add_argument("--sha256", required=True)
            sub.add_argument("--storage-plan", required=True)
            sub.add_argument("--database-plan", required=True)
            sub.add_argument("--replicas", type=int, default=1)
    args = parser.parse_args(argv)
    if args.timeout_seconds < 1 or args.poll_seconds < 1 or args.keep_snapshots < 1:
        parser.error("timeout, poll interval and snapshots kept must be positive")
    if args.command == "deploy":
        if not SHA256.fullmatch(args.sha256):
            parser.error("--sha256 must be the package's SHA-256 in hex")
        if args.replicas < 1:
            parser.error("--replicas must be positive")
    return args


def main(
    argv: Sequence[str] | None = None,
    runner: Run = run,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    args = parse_args(argv)
    deployer = Deployer(
        namespace=args.namespace,
        app=args.app,
        bucket=args.bucket,
        db_instance=args.db_instance,
        snapshot_prefix=args.snapshot_prefix,
        timeout_seconds=args.timeout_seconds,
        poll_seconds=args.poll_seconds,
        keep_snapshots=args.keep_snapshots,
        run=runner,
        sleep=sleep,
        clock=clock,
    )
    try:
        if args.command == "deploy":
            return deployer.deploy(
                sha=args.sha256,
                key=args.key,
                storage_plan=args.storage_plan,
                database_plan=args.database_plan,
                replicas=args.replicas,
            )
        return deployer.rollback(reason="requested")
    except ClusterError as err:
        log("error", app=args.app, error=str(err))
        return 2


if __name__ == "__main__":
    sys.exit(main())
