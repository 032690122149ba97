"""The retarget function against moto: real boto3 calls, faults included."""

from __future__ import annotations

import http.server
import json
import socket
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from tests.moto_vip import IPS, Vip, healthy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lambda" / "retarget"))

import handler
import poller
import retarget


@pytest.fixture(autouse=True)
def counted_client(vip: Vip, monkeypatch: pytest.MonkeyPatch) -> None:
    """Handlers build their own client: give them the VIP's, whose writes are counted."""
    monkeypatch.setattr(handler, "elbv2_client", lambda *args, **kwargs: vip.elbv2)


def call(vip: Vip, new_primary: str, **kwargs: Any) -> dict[str, Any]:
    if "status_check" not in kwargs:
        kwargs["status_check"] = healthy(new_primary)
    return retarget.retarget(vip.elbv2, vip.config, mirror_set="HSDB", new_primary=new_primary, reason="test", **kwargs)


def test_happy_path_switches_every_listener(vip: Vip, capsys: pytest.CaptureFixture[str]) -> None:
    result = call(vip, "Member1")
    assert result["previous"] == "Member0" and result["new"] == "Member1" and result["changed"] is True
    assert vip.pointing_at() == {1972: "Member1", 52773: "Member1"}
    assert sorted(vip.writes) == sorted(vip.listeners.values())
    (line,) = capsys.readouterr().out.strip().splitlines()
    record = json.loads(line)
    assert record["decision"] == "switched" and record["previous"] == "Member0" and record["reason"] == "test"


def test_instance_id_names_a_member_too(vip: Vip) -> None:
    assert call(vip, vip.instances["Member1"], status_check=healthy("Member1"))["new"] == "Member1"


def test_repeating_a_call_makes_no_write(vip: Vip) -> None:
    call(vip, "Member1")
    vip.writes.clear()
    again = call(vip, "Member1", status_check=healthy())  # not even the status page is needed
    assert again["changed"] is False and again["previous"] == "Member1"
    assert vip.writes == []


@pytest.mark.parametrize("answer", [503, None], ids=["503", "timeout"])
def test_unhealthy_new_primary_is_refused_and_nothing_changes(vip: Vip, answer: int | None) -> None:
    with pytest.raises(retarget.UnhealthyPrimary, match=r"Member1 .* gave (HTTP 503|no answer), expected 200"):
        call(vip, "Member1", status_check=lambda *_: answer)
    assert vip.writes == []
    assert vip.pointing_at() == {1972: "Member0", 52773: "Member0"}


def test_unknown_member_and_set_are_clear_errors(vip: Vip) -> None:
    with pytest.raises(
        retarget.UnknownMember, match=r"unknown member 'Member7' of mirror set 'HSDB': known members are Member0 \(i-"
    ):
        call(vip, "Member7")
    with pytest.raises(retarget.UnknownMirrorSet, match="unknown mirror set 'Nope': known mirror sets are HSDB"):
        retarget.retarget(vip.elbv2, vip.config, mirror_set="Nope", new_primary="Member1", reason="test")
    assert vip.writes == []


def test_dr_promotion_needs_a_persons_acknowledgement(vip: Vip) -> None:
    with pytest.raises(retarget.DataLossNotAcknowledged, match=r"async .*acknowledge_data_loss"):
        call(vip, "DR")
    assert vip.writes == []
    result = call(vip, "DR", acknowledge_data_loss=True)
    assert result["new"] == "DR" and vip.pointing_at() == {1972: "DR", 52773: "DR"}


def test_throttling_is_retried_by_botocore(vip: Vip) -> None:
    throttled = {"count": 0}

    def throttle(**_: Any) -> AWSResponse | None:
        if throttled["count"] < 2:
            throttled["count"] += 1
            body = (
                b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
                b"<Message>Rate exceeded</Message></Error></ErrorResponse>"
            )
            return AWSResponse("https://elasticloadbalancing.eu-west-1.amazonaws.com/", 400, {}, _Raw(body))
        return None

    vip.elbv2.meta.events.register("before-send.elastic-load-balancing-v2.ModifyListener", throttle)
    result = call(vip, "Member1")
    assert throttled["count"] == 2
    assert result["changed"] is True and vip.pointing_at() == {1972: "Member1", 52773: "Member1"}


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any):
        yield self._body


def test_concurrent_calls_end_consistent(vip: Vip) -> None:
    """B asks for Member0 while A is half-way through switching to Member1.

    A pauses after its first listener write until B is done (or 1 s passed).
    Unguarded, B would see one listener on Member1, move it back, and A would
    then move the other one: a split VIP. Guarded, B waits for A and both
    listeners end on the same member."""
    both = healthy("Member0", "Member1")
    first_write, b_done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def pause_a(**_: Any) -> None:
        if threading.current_thread().name == "A" and not first_write.is_set():
            first_write.set()
            b_done.wait(timeout=1.0)

    vip.elbv2.meta.events.register("after-call.elastic-load-balancing-v2.ModifyListener", pause_a)

    def run(target: str, wait_for: threading.Event | None, done: threading.Event | None) -> None:
        try:
            if wait_for is not None:
                wait_for.wait(timeout=5)
            retarget.retarget(vip.elbv2, vip.config, mirror_set="HSDB", new_primary=target, reason="race", status_check=both)
        except BaseException as err:  # reported below
            errors.append(err)
        finally:
            if done is not None:
                done.set()

    threads = [
        threading.Thread(target=run, args=("Member1", None, None), name="A"),
        threading.Thread(target=run, args=("Member0", first_write, b_done), name="B"),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert first_write.is_set()
    assert len(set(vip.pointing_at().values())) == 1, vip.pointing_at()


def test_dry_run_writes_nothing(vip: Vip) -> None:
    result = call(vip, "Member1", dry_run=True)
    assert result["dry_run"] is True and result["changed"] is False
    assert vip.writes == [] and vip.pointing_at() == {1972: "Member0", 52773: "Member0"}


def test_a_failure_midway_names_what_was_switched(vip: Vip) -> None:
    calls = {"n": 0}

    def fail_second(**_: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise retarget.ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "ModifyListener")

    vip.elbv2.meta.events.register("before-parameter-build.elastic-load-balancing-v2.ModifyListener", fail_second)
    with pytest.raises(retarget.RetargetError, match=r"switched: \['arn:.*'\]; not switched: \['arn:.*'\]"):
        call(vip, "Member1")
    # Every listener still has a concrete target: one moved, one stayed.
    assert sorted(vip.pointing_at().values()) == ["Member0", "Member1"]


def test_handler_validates_its_event(vip: Vip) -> None:
    with pytest.raises(retarget.RetargetError, match="lacks 'new_primary'"):
        handler.handler({"mirror_set": "HSDB", "reason": "x"})
    with pytest.raises(retarget.RetargetError, match="unknown event key"):
        handler.handler({"mirror_set": "HSDB", "new_primary": "Member1", "reason": "x", "force": True})
    with pytest.raises(retarget.RetargetError, match="'acknowledge_data_loss' must be a non-empty bool"):
        handler.handler({"mirror_set": "HSDB", "new_primary": "DR", "reason": "x", "acknowledge_data_loss": "yes"})


def test_handler_dry_run_reads_the_environment(vip: Vip, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retarget, "check_status", healthy("Member1"))
    monkeypatch.setattr(handler, "retarget", _with_status(healthy("Member1")))
    result = handler.handler({"mirror_set": "HSDB", "new_primary": "Member1", "reason": "x", "dry_run": True})
    assert result["dry_run"] is True and vip.writes == []


def _with_status(check):
    def call_retarget(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return retarget.retarget(*args, status_check=check, **kwargs)

    return call_retarget


def cr_event(request: str, desired: str, old: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "RequestType": request,
        "ResourceProperties": {"ServiceToken": "arn:aws:lambda:x", "MirrorSet": "HSDB", "DesiredPrimary": desired},
    }
    if request != "Create":
        event["PhysicalResourceId"] = "HSDB-vip-primary"
    if old is not None:
        event["OldResourceProperties"] = {"ServiceToken": "arn:aws:lambda:x", "MirrorSet": "HSDB", "DesiredPrimary": old}
    return event


def test_custom_resource_create_points_at_the_desired_primary_without_a_status_check(vip: Vip, monkeypatch) -> None:
    monkeypatch.setattr(retarget, "check_status", lambda *_: None)  # IRIS is not installed yet
    result = handler.on_event(cr_event("Create", "Member1"))
    assert result == {"PhysicalResourceId": "HSDB-vip-primary", "Data": {"Primary": "Member1"}}
    assert vip.pointing_at() == {1972: "Member1", 52773: "Member1"}


def test_custom_resource_update_with_the_same_primary_never_moves_traffic(vip: Vip) -> None:
    # A run-time failover moved the VIP to Member1; then a deploy with new code
    # or other properties sends an Update whose DesiredPrimary is unchanged.
    call(vip, "Member1")
    vip.writes.clear()
    result = handler.on_event(cr_event("Update", "Member0", old="Member0"))
    assert vip.writes == []
    assert vip.pointing_at() == {1972: "Member1", 52773: "Member1"}
    assert result["PhysicalResourceId"] == "HSDB-vip-primary"


def test_custom_resource_update_with_a_new_primary_is_a_checked_planned_failover(vip: Vip, monkeypatch) -> None:
    monkeypatch.setattr(handler, "retarget", _with_status(healthy()))
    with pytest.raises(retarget.UnhealthyPrimary):
        handler.on_event(cr_event("Update", "Member1", old="Member0"))
    assert vip.writes == []
    monkeypatch.setattr(handler, "retarget", _with_status(healthy("Member1")))
    result = handler.on_event(cr_event("Update", "Member1", old="Member0"))
    assert result["Data"] == {"Primary": "Member1"} and vip.pointing_at() == {1972: "Member1", 52773: "Member1"}


def test_custom_resource_delete_changes_nothing(vip: Vip) -> None:
    assert handler.on_event(cr_event("Delete", "Member1")) == {"PhysicalResourceId": "HSDB-vip-primary"}
    assert vip.writes == [] and vip.pointing_at() == {1972: "Member0", 52773: "Member0"}


def test_entry_dispatches_custom_resource_events_and_direct_calls(vip: Vip, monkeypatch) -> None:
    import entry

    seen = []
    monkeypatch.setattr(entry, "on_event", lambda e, c: seen.append("cr") or {})
    monkeypatch.setattr(entry, "direct_call", lambda e, c: seen.append("direct") or {})
    entry.handler(cr_event("Create", "Member0"), None)
    entry.handler({"mirror_set": "HSDB", "new_primary": "Member1", "reason": "x"}, None)
    assert seen == ["cr", "direct"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def scripted(script: dict[str, list[int | None]]):
    """Each member answers its list in order, one answer per health check."""
    queues = {IPS[name]: list(answers) for name, answers in script.items()}
    return lambda ip, port, path, timeout: queues[ip].pop(0) if len(queues[ip]) > 1 else queues[ip][0]


def test_poller_switches_after_the_configured_thresholds(vip: Vip) -> None:
    clock = FakeClock()
    # Member0 fails from the 2nd check on; Member1 answers 200 from the 2nd.
    # retarget checks Member1 once more before switching.
    check = scripted({"Member0": [200, 503, 503, 503, 503], "Member1": [503, 200, 200, 200, 200], "DR": [200]})
    results = poller.poll(
        vip.elbv2, vip.config, ["HSDB"], duration_seconds=30, clock=clock, sleep=clock.sleep, status_check=check
    )
    assert [r["new"] for r in results] == ["Member1"]
    assert vip.pointing_at() == {1972: "Member1", 52773: "Member1"}
    # down after 2 failures (checks 2 and 3), up after 2 successes: switch in round 3, at t = 2 intervals
    assert vip.writes and clock.now >= 25


def test_poller_never_switches_when_no_member_is_up(vip: Vip) -> None:
    clock = FakeClock()
    check = scripted({"Member0": [503], "Member1": [503], "DR": [200]})
    assert (
        poller.poll(vip.elbv2, vip.config, ["HSDB"], duration_seconds=60, clock=clock, sleep=clock.sleep, status_check=check)
        == []
    )
    assert vip.writes == [] and vip.pointing_at() == {1972: "Member0", 52773: "Member0"}


def test_poller_leaves_a_healthy_primary_alone(vip: Vip) -> None:
    clock = FakeClock()
    check = scripted({"Member0": [200], "Member1": [200], "DR": [200]})
    assert (
        poller.poll(vip.elbv2, vip.config, ["HSDB"], duration_seconds=60, clock=clock, sleep=clock.sleep, status_check=check)
        == []
    )
    assert vip.writes == []


def test_load_config_names_what_is_wrong(vip: Vip) -> None:
    raw = json.loads(vip.config_text)
    raw["mirror_sets"]["HSDB"]["members"]["Member1"]["role"] = "primary"
    with pytest.raises(retarget.ConfigError, match="role 'primary'; allowed: failover, async"):
        retarget.load_config(json.dumps(raw))
    with pytest.raises(retarget.ConfigError, match="not a valid configuration"):
        retarget.load_config("{}")


class _Status(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"status")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize("status", [200, 503])
def test_check_status_reads_a_real_page(status: int) -> None:
    handler_class = type("Page", (_Status,), {"status": status})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler_class)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert retarget.check_status("127.0.0.1", server.server_port, "/csp/bin/mirror_status.cxw", 2) == status
    finally:
        server.shutdown()
        server.server_close()


def test_check_status_gives_up_on_a_silent_member() -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts, never answers
    try:
        assert retarget.check_status("127.0.0.1", silent.getsockname()[1], "/csp/bin/mirror_status.cxw", 0.2) is None
    finally:
        silent.close()
