"""The canary deployment script, against a fake kubectl that plays the cluster."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "pipeline"))

import canary_deploy as cd

OLD = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:aaa"
NEW = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:bbb"
LABELS = {"app.kubernetes.io/name": "mendix-app"}

STABLE: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "mendix-app", "namespace": "mendix", "labels": LABELS},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": LABELS},
        "strategy": {"type": "RollingUpdate"},
        "template": {
            "metadata": {"labels": {**LABELS, "track": "stable"}},
            "spec": {"containers": [{"name": "app", "image": OLD}, {"name": "sidecar", "image": "sidecar:1"}]},
        },
    },
}


def pod(ready: bool, restarts: int = 0) -> dict[str, Any]:
    return {
        "metadata": {"name": "p"},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"restartCount": restarts}],
        },
    }


class FakeCluster:
    """Answers kubectl calls from a script of canary pod states, and records them."""

    def __init__(self, pods: Sequence[list[dict[str, Any]]], fail: Sequence[str] = ()) -> None:
        self.pods = list(pods)
        self.fail = list(fail)
        self.calls: list[list[str]] = []
        self.applied: list[dict[str, Any]] = []
        self.stable = copy.deepcopy(STABLE)

    def __call__(self, args: Sequence[str], stdin: str | None) -> str:
        args = list(args)
        self.calls.append(args)
        verb = " ".join(args[2:4])
        for pattern in self.fail:
            if pattern in " ".join(args):
                raise cd.ClusterError(f"kubectl {' '.join(args)}: failed")
        if verb == "get deployment":
            return json.dumps(self.stable)
        if verb == "apply --filename":
            assert stdin is not None
            self.applied.append(json.loads(stdin))
            return "applied"
        if verb == "get pods":
            items = self.pods.pop(0) if len(self.pods) > 1 else self.pods[0]
            return json.dumps({"items": items})
        return ""

    def verbs(self) -> list[str]:
        return [" ".join(a[2:4]) for a in self.calls]


def canary(cluster: FakeCluster, seconds: int = 30, max_restarts: int = 0) -> cd.Canary:
    clock = iter(range(0, 10_000, 10))
    return cd.Canary(
        namespace="mendix",
        deployment="mendix-app",
        container="app",
        image=NEW,
        replicas=1,
        seconds=seconds,
        max_restarts=max_restarts,
        poll_seconds=10,
        run=cluster,
        sleep=lambda _: None,
        clock=lambda: float(next(clock)),
    )


def test_the_canary_is_the_stable_pod_template_with_the_new_image() -> None:
    manifest = cd.canary_manifest(STABLE, image=NEW, container="app", replicas=1)
    assert manifest["metadata"]["name"] == "mendix-app-canary"
    assert manifest["spec"]["replicas"] == 1
    containers = manifest["spec"]["template"]["spec"]["containers"]
    assert [c["image"] for c in containers] == [NEW, "sidecar:1"]
    # The Service selects on the app label, so the canary's pods get traffic too.
    assert manifest["spec"]["template"]["metadata"]["labels"] == {**LABELS, "track": "canary"}
    assert manifest["spec"]["selector"]["matchLabels"] == {**LABELS, "track": "canary"}
    assert "strategy" not in manifest["spec"]
    assert STABLE["spec"]["template"]["spec"]["containers"][0]["image"] == OLD  # untouched


def test_a_missing_container_is_an_error() -> None:
    with pytest.raises(cd.ClusterError, match="no container 'web'"):
        cd.canary_manifest(STABLE, image=NEW, container="web", replicas=1)


@pytest.mark.parametrize(
    ("pods", "wanted", "max_restarts", "healthy"),
    [
        ([pod(True)], 1, 0, True),
        ([pod(False)], 1, 0, False),
        ([pod(True, restarts=1)], 1, 0, False),
        ([pod(True, restarts=1)], 1, 1, True),
        ([], 1, 0, False),
        ([pod(True), pod(True)], 2, 0, True),
        ([pod(True), {**pod(True), "metadata": {"deletionTimestamp": "x"}}], 2, 0, False),
    ],
    ids=["ready", "not-ready", "restarted", "restart-allowed", "no-pods", "two-ready", "terminating-pod-does-not-count"],
)
def test_pod_health(pods: list[dict[str, Any]], wanted: int, max_restarts: int, healthy: bool) -> None:
    assert cd.pod_health({"items": pods}, wanted).healthy(max_restarts) is healthy


def test_a_healthy_canary_is_promoted_and_removed(capsys: pytest.CaptureFixture[str]) -> None:
    cluster = FakeCluster([[pod(True)]])
    assert canary(cluster).deploy() == 0
    assert cluster.applied[0]["metadata"]["name"] == "mendix-app-canary"
    assert ["--namespace", "mendix", "set", "image", "deployment/mendix-app", f"app={NEW}"] in cluster.calls
    assert cluster.verbs()[-1] == "delete deployment"
    events = [json.loads(line)["event"] for line in capsys.readouterr().out.splitlines()]
    assert events == ["canary-start", "canary-healthy", "promoted"]


def test_a_canary_that_turns_unhealthy_is_removed_and_stable_is_untouched() -> None:
    cluster = FakeCluster([[pod(True)], [pod(True)], [pod(True, restarts=2)]])
    assert canary(cluster, seconds=60).deploy() == 1
    assert not any(a[2:4] == ["set", "image"] for a in cluster.calls)
    assert cluster.verbs()[-1] == "delete deployment"


def test_a_canary_that_never_gets_ready_is_rolled_back() -> None:
    cluster = FakeCluster([[pod(True)]], fail=["rollout status deployment/mendix-app-canary"])
    assert canary(cluster).deploy() == 1
    assert "set image" not in cluster.verbs()
    assert cluster.verbs()[-1] == "delete deployment"


def test_a_failed_promotion_is_undone() -> None:
    cluster = FakeCluster([[pod(True)]], fail=["rollout status deployment/mendix-app --timeout"])
    assert canary(cluster).deploy() == 1
    assert ["--namespace", "mendix", "rollout", "undo", "deployment/mendix-app"] in cluster.calls
    assert cluster.verbs()[-1] == "delete deployment"


def test_the_same_image_again_changes_nothing() -> None:
    cluster = FakeCluster([[pod(True)]])
    run = canary(cluster)
    run.image = OLD
    assert run.deploy() == 0
    assert cluster.verbs() == ["get deployment"]


def test_a_cluster_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    cluster = FakeCluster([[pod(True)]], fail=["get deployment"])
    assert cd.main(["--namespace", "mendix", "--deployment", "mendix-app", "--image", NEW], run=cluster) == 2
    assert json.loads(capsys.readouterr().out)["event"] == "error"


def test_an_image_without_a_tag_is_refused() -> None:
    with pytest.raises(SystemExit) as caught:
        cd.main(["--namespace", "mendix", "--deployment", "mendix-app", "--image", "repo/app"])
    assert caught.value.code == 2


ARGS = ["--namespace", "mendix", "--deployment", "mendix-app", "--image", NEW]


def test_the_script_runs_as_a_program_with_kubectl_on_the_path(tmp_path) -> None:
    """End to end through a real process and a stub kubectl: a healthy canary is promoted."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    state = tmp_path / "calls"
    deployment = tmp_path / "deployment.json"
    deployment.write_text(json.dumps(STABLE))
    ready = {"items": [pod(True)]}
    stub = bin_dir / "kubectl"
    stub.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys\n"
        f"open({str(state)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
        "args = sys.argv[3:]\n"
        f"if args[:2] == ['get', 'deployment']: print(open({str(deployment)!r}).read())\n"
        f"elif args[:2] == ['get', 'pods']: print({json.dumps(json.dumps(ready))})\n"
        "elif args[:1] == ['apply']: sys.stdin.read()\n"
    )
    stub.chmod(0o755)
    run = subprocess.run(
        [sys.executable, str(ROOT / "pipeline" / "canary_deploy.py"), *ARGS, "--canary-seconds", "1", "--poll-seconds", "1"],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(run.stdout.splitlines()[-1])["event"] == "promoted"
    assert f"set image deployment/mendix-app app={NEW}" in state.read_text()
