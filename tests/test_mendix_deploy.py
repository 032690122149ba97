"""pipeline/mendix_deploy.py against a fake platform that plays the Mendix Operator (a MendixApp
and its statuses, answering kubectl) and RDS and S3 (answering the AWS CLI)."""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "pipeline"))

import mendix_deploy as md

OLD, NEW, BAD = ("a" * 64), ("b" * 64), ("c" * 64)
BUCKET, INSTANCE, PREFIX = "packages-bucket", "iris-eks-mendix", "iris-eks-mendix-predeploy"
READY_STATUS = {**dict.fromkeys(md.READY_STATUSES, "Ready"), "appState": "Started"}


def key(sha: str) -> str:
    return f"packages/{sha}.mda"


def url(sha: str) -> str:
    return f"https://{BUCKET}.s3.eu-west-1.amazonaws.com/{key(sha)}?X-Amz-Expires=3600&X-Amz-Signature=sig"


class FakePlatform:
    """The Operator builds a package in ``build_polls`` polls; a package in ``broken`` never starts.

    Without ``observed_generation`` the status carries no generation, as Mendix's
    page documents none; with it the status names the generation it describes.
    """

    def __init__(
        self,
        *,
        app: dict[str, Any] | None = None,
        broken: Sequence[str] = (),
        build_polls: int = 2,
        observed_generation: bool = False,
        stuck: bool = False,
        snapshot_fails: bool = False,
        snapshots: Sequence[dict[str, Any]] = (),
    ) -> None:
        self.app = copy.deepcopy(app)
        self.broken, self.build_polls, self.observed = set(broken), build_polls, observed_generation
        self.stuck, self.snapshot_fails = stuck, snapshot_fails
        self.snapshots = [dict(s) for s in snapshots]
        self.calls: list[list[str]] = []
        self.created: dict[str, Any] | None = None
        self.polls_left = 0
        self.clock = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)

    # the platform's own progress
    def _package(self) -> str:
        assert self.app is not None
        return self.app["spec"]["sourceURL"].split("/packages/")[1].split(".mda")[0]

    def _changed(self) -> None:
        assert self.app is not None
        self.app["metadata"]["generation"] = self.app["metadata"].get("generation", 0) + 1
        self.polls_left = self.build_polls

    def _status(self) -> dict[str, Any]:
        assert self.app is not None
        status = copy.deepcopy(self.app.get("status") or READY_STATUS)
        if self.stuck:  # the Operator never takes the change up: the old Ready stays
            return status
        if self.polls_left > 0:
            self.polls_left -= 1
            status.update(buildStatus="Building", appState="Stopped")
        elif self._package() in self.broken:
            status.update(buildStatus="Ready", runtimeStatus="Starting", appState="Stopped")
        else:
            status = dict(READY_STATUS)
        if self.observed:
            status["observedGeneration"] = self.app["metadata"]["generation"]
        self.app["status"] = status
        return status

    def __call__(self, args: Sequence[str], stdin: str | None) -> str:
        args = list(args)
        self.calls.append(args)
        if args[0] == "kubectl":
            return self.kubectl(args[3:], stdin)
        return self.aws(args[1:])

    def kubectl(self, args: list[str], stdin: str | None) -> str:
        verb = args[0]
        if verb == "get":
            if self.app is None:
                return ""
            answer = copy.deepcopy(self.app)
            answer["status"] = self._status()
            return json.dumps(answer)
        if verb == "create":
            assert stdin is not None
            self.created = json.loads(stdin)
            self.app = copy.deepcopy(self.created)
            self.app["status"] = {}
            self._changed()
            return json.dumps(self.app)
        if verb == "patch":
            assert self.app is not None
            patch = json.loads(args[args.index("--patch") + 1])
            for name, value in patch["metadata"]["annotations"].items():
                if value is None:  # JSON merge patch: null removes
                    self.app["metadata"].setdefault("annotations", {}).pop(name, None)
                else:
                    self.app["metadata"].setdefault("annotations", {})[name] = value
            self.app["spec"].update(patch["spec"])
            self._changed()
            return json.dumps(self.app)
        raise AssertionError(f"unexpected kubectl {args}")

    def aws(self, args: list[str]) -> str:
        if args[:2] == ["s3", "presign"]:
            assert args[3:5] == ["--expires-in", "3600"]
            return url(args[2].rsplit("/", 1)[1].removesuffix(".mda")) + "\n"
        command = args[1]
        if command == "create-db-snapshot":
            if self.snapshot_fails:
                raise md.ClusterError("aws rds create-db-snapshot: SnapshotQuotaExceeded")
            self.clock += timedelta(minutes=1)
            name = args[args.index("--db-snapshot-identifier") + 1]
            self.snapshots.append({"DBSnapshotIdentifier": name, "SnapshotCreateTime": self.clock.isoformat()})
            return "{}"
        if command == "wait":
            return ""
        if command == "describe-db-snapshots":
            return json.dumps({"DBSnapshots": self.snapshots})
        if command == "delete-db-snapshot":
            name = args[args.index("--db-snapshot-identifier") + 1]
            self.snapshots = [s for s in self.snapshots if s["DBSnapshotIdentifier"] != name]
            return "{}"
        raise AssertionError(f"unexpected aws {args}")

    # what the tests read
    def verbs(self) -> list[str]:
        return [" ".join(c[3:5]) if c[0] == "kubectl" else " ".join(c[1:3]) for c in self.calls]


def running(sha: str, previous: str | None = None) -> dict[str, Any]:
    annotations = {md.PACKAGE: sha, md.PACKAGE_KEY: key(sha)}
    if previous:
        annotations |= {md.PREVIOUS_SHA: previous, md.PREVIOUS_KEY: key(previous)}
    return {
        "apiVersion": md.API_VERSION,
        "kind": md.KIND,
        "metadata": {"name": "shop", "namespace": "mendix", "generation": 3, "annotations": annotations},
        "spec": {"sourceURL": url(sha), "replicas": 2},
        "status": dict(READY_STATUS),
    }


def deploy(platform: FakePlatform, sha: str = NEW, *extra: str) -> int:
    return main(
        platform,
        [
            "deploy",
            "--namespace", "mendix", "--app", "shop", "--bucket", BUCKET, "--db-instance", INSTANCE,
            "--snapshot-prefix", PREFIX, "--key", key(sha), "--sha256", sha, "--storage-plan", "s3-irsa",
            "--database-plan", "postgres-iam", "--replicas", "2", "--timeout-seconds", "60", "--poll-seconds", "10",
            *extra,
        ],
    )  # fmt: skip


class Clock:
    """Time that passes only when the script sleeps."""

    def __init__(self) -> None:
        self.t = 0.0

    def sleep(self, seconds: float) -> None:
        self.t += seconds

    def __call__(self) -> float:
        return self.t


def main(platform: FakePlatform, args: list[str]) -> int:
    clock = Clock()
    return md.main(args, runner=platform, sleep=clock.sleep, clock=clock)


@pytest.fixture(autouse=True)
def distinct_snapshot_times(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each snapshot of a run is named a minute after the one before."""
    stamps = iter(datetime(2026, 12, 1, 16, 0, tzinfo=UTC) + timedelta(minutes=i) for i in range(1000))
    monkeypatch.setattr(md, "datetime", type("Stamps", (), {"now": staticmethod(lambda tz=None: next(stamps))}))


def test_the_first_deployment_creates_the_mendix_app_without_a_snapshot(capsys) -> None:
    # There is no database of this app yet, so nothing to protect.
    platform = FakePlatform()
    assert deploy(platform) == 0
    assert platform.created == {
        "apiVersion": "privatecloud.mendix.com/v1alpha1",
        "kind": "MendixApp",
        "metadata": {"name": "shop", "namespace": "mendix", "annotations": {md.PACKAGE: NEW, md.PACKAGE_KEY: key(NEW)}},
        "spec": {
            "database": {"servicePlan": "postgres-iam"},
            "storage": {"servicePlan": "s3-irsa"},
            "sourceURL": url(NEW),
            "replicas": 2,
            "runtime": {"dtapMode": "P", "logAutosubscribeLevel": "INFO"},
        },
    }
    assert not any(c[:3] == ["aws", "rds", "create-db-snapshot"] for c in platform.calls)
    assert '"event": "deployed"' in capsys.readouterr().out


def test_a_new_package_is_snapshotted_first_then_set_on_the_mendix_app() -> None:
    platform = FakePlatform(app=running(OLD))
    assert deploy(platform) == 0
    verbs = platform.verbs()
    # The snapshot is available before the package changes.
    assert verbs.index("rds create-db-snapshot") < verbs.index("rds wait") < verbs.index("patch mendixapp")
    (create,) = [c for c in platform.calls if c[:3] == ["aws", "rds", "create-db-snapshot"]]
    name = create[create.index("--db-snapshot-identifier") + 1]
    assert create[create.index("--db-instance-identifier") + 1] == INSTANCE
    assert name.startswith(f"{PREFIX}-shop-") and name.endswith(f"-{NEW[:12]}")
    assert platform.app is not None
    assert platform.app["spec"]["sourceURL"] == url(NEW)
    assert platform.app["spec"]["replicas"] == 2  # only the package changes
    assert platform.app["metadata"]["annotations"] == {
        md.PACKAGE: NEW,
        md.PACKAGE_KEY: key(NEW),
        md.PREVIOUS_SHA: OLD,
        md.PREVIOUS_KEY: key(OLD),
        md.SNAPSHOT: name,
    }


def test_the_package_already_running_is_left_alone() -> None:
    platform = FakePlatform(app=running(NEW, previous=OLD))
    assert deploy(platform) == 0
    assert platform.verbs() == ["get mendixapp"]


def test_without_a_snapshot_the_package_does_not_change() -> None:
    platform = FakePlatform(app=running(OLD), snapshot_fails=True)
    assert deploy(platform) == 2
    assert "patch mendixapp" not in platform.verbs()
    assert platform.app is not None and platform.app["spec"]["sourceURL"] == url(OLD)


def test_a_package_that_never_starts_is_rolled_back_to_the_previous_one(capsys) -> None:
    platform = FakePlatform(app=running(OLD), broken=[BAD])
    assert deploy(platform, BAD) == 1
    assert platform.app is not None
    # The previous package is back, through a fresh URL, after a second snapshot.
    assert platform.app["spec"]["sourceURL"] == url(OLD)
    assert platform.app["metadata"]["annotations"][md.PACKAGE] == OLD
    assert platform.app["metadata"]["annotations"][md.PREVIOUS_SHA] == BAD
    verbs = platform.verbs()
    patches = [i for i, v in enumerate(verbs) if v == "patch mendixapp"]
    snapshots = [i for i, v in enumerate(verbs) if v == "rds create-db-snapshot"]
    assert len(patches) == len(snapshots) == 2
    assert snapshots[0] < patches[0] < snapshots[1] < patches[1]
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (rolled,) = [e for e in events if e["event"] == "rolled-back"]
    # The snapshot taken before the rejected package: the data rollback if its migration ran.
    (first,) = [e for e in events if e["event"] == "deploy"]
    assert rolled["restore_snapshot"] == first["snapshot"]
    assert rolled["package"] == OLD


def test_an_old_ready_status_does_not_count_as_the_new_package_ready() -> None:
    # The Operator never takes the change up; the statuses still say Ready for the old package.
    platform = FakePlatform(app=running(OLD), stuck=True)
    assert deploy(platform) == 2  # rolled back, and the rollback cannot be confirmed either
    assert platform.verbs().count("patch mendixapp") == 2


def test_with_observed_generation_the_new_generation_must_be_ready() -> None:
    platform = FakePlatform(app=running(OLD), observed_generation=True, build_polls=0)
    assert deploy(platform) == 0
    assert platform.app is not None and platform.app["status"]["observedGeneration"] == platform.app["metadata"]["generation"]


def test_a_person_can_roll_back_a_promoted_package() -> None:
    platform = FakePlatform(app=running(NEW, previous=OLD))
    code = main(
        platform,
        ["rollback", "--namespace", "mendix", "--app", "shop", "--bucket", BUCKET, "--db-instance", INSTANCE,
         "--snapshot-prefix", PREFIX, "--timeout-seconds", "60"],
    )  # fmt: skip
    assert code == 0
    assert platform.app is not None and platform.app["spec"]["sourceURL"] == url(OLD)
    assert platform.verbs().index("rds create-db-snapshot") < platform.verbs().index("patch mendixapp")


def test_a_rollback_without_a_recorded_previous_package_refuses() -> None:
    platform = FakePlatform(app=running(NEW))
    code = main(
        platform,
        ["rollback", "--namespace", "mendix", "--app", "shop", "--bucket", BUCKET, "--db-instance", INSTANCE,
         "--snapshot-prefix", PREFIX],
    )  # fmt: skip
    assert code == 2
    assert "patch mendixapp" not in platform.verbs() and "rds create-db-snapshot" not in platform.verbs()


def test_only_the_newest_snapshots_of_the_app_are_kept() -> None:
    older = [
        {"DBSnapshotIdentifier": f"{PREFIX}-shop-2026110{i}000000-{OLD[:12]}", "SnapshotCreateTime": f"2026-11-0{i}T00:00:00"}
        for i in range(1, 5)
    ]
    other_app = {"DBSnapshotIdentifier": f"{PREFIX}-shop-staging-20261101000000-{OLD[:12]}", "SnapshotCreateTime": "2026-10-01"}
    platform = FakePlatform(app=running(OLD), snapshots=[*older, other_app])
    assert deploy(platform, NEW, "--keep-snapshots", "2") == 0
    kept = {s["DBSnapshotIdentifier"] for s in platform.snapshots}
    assert older[3]["DBSnapshotIdentifier"] in kept  # the newest older one
    assert not {s["DBSnapshotIdentifier"] for s in older[:3]} & kept
    assert other_app["DBSnapshotIdentifier"] in kept  # another environment's snapshots are not this app's to prune
    assert len([k for k in kept if k.startswith(f"{PREFIX}-shop-2")]) == 2


@pytest.mark.parametrize(
    "bad",
    [["--sha256", "not-a-digest"], ["--app", "Shop"], ["--replicas", "0"]],
    ids=["digest", "app-name", "replicas"],
)
def test_bad_arguments_are_refused_before_anything_runs(bad: list[str]) -> None:
    platform = FakePlatform(app=running(OLD))
    args = ["deploy", "--namespace", "mendix", "--app", "shop", "--bucket", BUCKET, "--db-instance", INSTANCE,
            "--snapshot-prefix", PREFIX, "--key", key(NEW), "--sha256", NEW, "--storage-plan", "s",
            "--database-plan", "d"]  # fmt: skip
    flag = bad[0]
    i = args.index(flag) if flag in args else len(args)
    args[i : i + 2] = bad
    with pytest.raises(SystemExit) as exit_:
        main(platform, args)
    assert exit_.value.code == 2
    assert platform.calls == []
