"""The retarget function (lambda/retarget) against moto: real boto3 calls, faults injected.

One moto world per module (tests/moto_vip.py: an internal NLB with listeners
on 1972 and 52773, per-member target groups with their instance registered)
keeps the file fast; each test starts from every listener on Member0 and gets
its own elbv2 client, whose ModifyListener calls are counted.
"""

from __future__ import annotations

import functools
import http.server
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import boto3
import botocore.endpoint
import entry
import handler
import poller
import pytest
import retarget
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from tests.moto_vip import EVENT_SERVICE, HEALTH, MEMBERS, PARAMETER_PATH, PORTS, REGION, ROLES, SET, STATUS_PATH, Vip

THROTTLING_BODY = (
    b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
    b"<Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>"
)


def answers(vip: Vip, asked: list[str] | None = None, **by_member: int | None) -> retarget.StatusCheck:
    """A status check: each named member answers its status (None: no answer); the others 503."""
    by_ip = {vip.world.ips[name]: status for name, status in by_member.items()}

    def check(ip: str, port: int, path: str, timeout: float) -> int | None:
        assert (port, path) == (HEALTH["port"], HEALTH["path"])
        if asked is not None:
            asked.append(ip)
        return by_ip.get(ip, 503)

    return check


def call(vip: Vip, new_primary: str, **kwargs: Any) -> dict[str, Any]:
    """retarget() for HSDB; unless told otherwise only the new primary answers 200."""
    kwargs.setdefault("status_check", answers(vip, **{new_primary: 200}) if new_primary in MEMBERS else answers(vip))
    return retarget.retarget(vip.elbv2, vip.config, mirror_set=SET, new_primary=new_primary, reason="test", **kwargs)


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """Every line written to stdout, each parsed as JSON (a line that is not JSON fails the test)."""
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


# --- retarget() ---------------------------------------------------------------------------------------------------------


def test_happy_path_switches_every_listener_and_logs_one_line(vip: Vip, capsys: pytest.CaptureFixture[str]) -> None:
    result = call(vip, "Member1")
    assert result == {
        "mirror_set": SET,
        "previous": "Member0",
        "new": "Member1",
        "changed": True,
        "dry_run": False,
        "listeners": {vip.world.listeners[p]: vip.world.groups["Member1"][p] for p in PORTS},
    }
    assert vip.pointing_at() == vip.all_on("Member1")
    assert sorted(vip.writes) == sorted(vip.world.listeners.values())
    (record,) = log_lines(capsys)
    assert record["event"] == "retarget" and record["decision"] == "switched"
    assert (record["mirror_set"], record["new_primary"], record["previous"], record["reason"]) == (
        SET,
        "Member1",
        "Member0",
        "test",
    )


def test_an_instance_id_names_a_member_too(vip: Vip) -> None:
    result = call(vip, vip.world.instances["Member1"], status_check=answers(vip, Member1=200))
    assert result["new"] == "Member1" and vip.pointing_at() == vip.all_on("Member1")


def test_repeating_a_call_makes_no_write_and_asks_no_status_page(vip: Vip, capsys: pytest.CaptureFixture[str]) -> None:
    call(vip, "Member1")
    vip.writes.clear()
    capsys.readouterr()
    asked: list[str] = []
    again = call(vip, "Member1", status_check=answers(vip, asked))  # the page would refuse: it must not be asked
    assert again["changed"] is False and again["previous"] == "Member1" and again["new"] == "Member1"
    assert vip.writes == [] and asked == []
    (record,) = log_lines(capsys)
    assert record["decision"] == "already_primary"


@pytest.mark.parametrize(("answer", "shown"), [(503, "HTTP 503"), (None, "no answer")], ids=["503", "timeout"])
def test_an_unhealthy_new_primary_is_refused_and_nothing_changes(
    vip: Vip, capsys: pytest.CaptureFixture[str], answer: int | None, shown: str
) -> None:
    with pytest.raises(
        retarget.UnhealthyPrimary, match=rf"^Member1 \(.*\) of HSDB is not primary: .* gave {shown}, expected 200"
    ):
        call(vip, "Member1", status_check=answers(vip, Member1=answer))
    assert vip.writes == [] and vip.pointing_at() == vip.all_on("Member0")
    (record,) = log_lines(capsys)
    assert record["decision"] == "refused_unhealthy" and record["status"] == answer


def test_unknown_member_and_mirror_set_are_clear_one_line_errors(vip: Vip, capsys: pytest.CaptureFixture[str]) -> None:
    i = vip.world.instances
    with pytest.raises(retarget.UnknownMember) as member_error:
        call(vip, "Member7")
    assert str(member_error.value) == (
        f"unknown member 'Member7' of mirror set 'HSDB': known members are "
        f"Member0 ({i['Member0']}), Member1 ({i['Member1']}), DR ({i['DR']})"
    )
    with pytest.raises(retarget.UnknownMirrorSet) as set_error:
        retarget.retarget(vip.elbv2, vip.config, mirror_set="Nope", new_primary="Member1", reason="test")
    assert str(set_error.value) == "unknown mirror set 'Nope': known mirror sets are HSDB"
    assert vip.writes == []
    assert [r["decision"] for r in log_lines(capsys)] == ["unknown_member", "unknown_mirror_set"]


def test_dr_promotion_needs_a_persons_acknowledgement(vip: Vip, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(retarget.DataLossNotAcknowledged, match=r"^DR of HSDB is an async \(DR\) member: .*acknowledge_data_loss"):
        call(vip, "DR")
    assert vip.writes == [] and vip.pointing_at() == vip.all_on("Member0")
    result = call(vip, "DR", acknowledge_data_loss=True)
    assert result["new"] == "DR" and result["changed"] is True and vip.pointing_at() == vip.all_on("DR")
    assert [r["decision"] for r in log_lines(capsys)] == ["refused_async", "switched"]


def test_dry_run_reports_and_writes_nothing(vip: Vip, capsys: pytest.CaptureFixture[str]) -> None:
    result = call(vip, "Member1", dry_run=True)
    assert result["dry_run"] is True and result["changed"] is False and result["previous"] == "Member0"
    assert result["listeners"] == {vip.world.listeners[p]: vip.world.groups["Member1"][p] for p in PORTS}
    assert vip.writes == [] and vip.pointing_at() == vip.all_on("Member0")
    (record,) = log_lines(capsys)
    assert record["decision"] == "dry_run" and sorted(record["would_switch"]) == sorted(vip.world.listeners.values())


def test_dry_run_still_checks_the_new_primary(vip: Vip) -> None:
    with pytest.raises(retarget.UnhealthyPrimary):
        call(vip, "Member1", dry_run=True, status_check=answers(vip))


class _Raw:
    """The raw body of an injected HTTP response."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class _RecordingTime:
    """botocore.endpoint's ``time``, with sleep recorded instead of slept: the test stays fast."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def test_throttling_is_retried_by_botocore_standard_mode(vip: Vip, monkeypatch: pytest.MonkeyPatch) -> None:
    throttles = 2
    sends: list[str] = []

    # At the HTTP level, so that botocore's own retry handler sees a 400 Throttling.
    def throttle(request: Any, **_: Any) -> AWSResponse | None:
        sends.append(request.url)
        if len(sends) <= throttles:
            return AWSResponse(request.url, 400, {}, _Raw(THROTTLING_BODY))
        return None

    clock = _RecordingTime()
    monkeypatch.setattr(botocore.endpoint, "time", clock)
    vip.elbv2.meta.events.register(f"before-send.{EVENT_SERVICE}.ModifyListener", throttle)
    result = call(vip, "Member1")
    assert result["changed"] is True and vip.pointing_at() == vip.all_on("Member1")
    # The first listener's call was sent N + 1 times with a back-off before each retry; the second once.
    assert len(sends) == throttles + 1 + 1
    assert len(clock.slept) == throttles
    assert len(vip.writes) == len(PORTS)  # two API calls, however many sends


def test_a_client_is_configured_for_standard_retries_and_short_timeouts() -> None:
    client = retarget.elbv2_client(REGION)
    config = client.meta.config
    # botocore reads max_attempts 8 as 8 retries: 9 attempts in all.
    assert config.retries == {"mode": "standard", "total_max_attempts": 9}
    assert (config.connect_timeout, config.read_timeout) == (3, 10)
    assert client.meta.region_name == REGION


def test_a_failure_midway_names_what_was_switched_and_what_was_not(vip: Vip, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = (vip.world.listeners[p] for p in PORTS)
    calls: list[str] = []

    def refuse_second(params: dict[str, Any], **_: Any) -> None:
        calls.append(params["body"]["ListenerArn"])
        if len(calls) == 2:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "ModifyListener")

    vip.elbv2.meta.events.register(f"before-call.{EVENT_SERVICE}.ModifyListener", refuse_second)
    with pytest.raises(retarget.RetargetError) as error:
        call(vip, "Member1")
    message = str(error.value)
    assert "\n" not in message
    assert f"failed at listener {second}" in message
    assert f"switched: ['{first}']; not switched: ['{second}']" in message
    # Every listener still has a concrete target: one moved, one stayed.
    assert vip.pointing_at() == {PORTS[0]: "Member1", PORTS[1]: "Member0"}
    assert retarget.current_primary(vip.elbv2, vip.mirror_set) is None
    (record,) = log_lines(capsys)
    assert record["decision"] == "failed" and record["switched"] == [first] and record["not_switched"] == [second]

    # Calling again completes the switch, writing only what is missing.
    vip.elbv2.meta.events.unregister(f"before-call.{EVENT_SERVICE}.ModifyListener", refuse_second)
    vip.writes.clear()
    result = call(vip, "Member1")
    assert result["previous"] is None and vip.writes == [second] and vip.pointing_at() == vip.all_on("Member1")


def test_concurrent_calls_never_interleave_and_end_on_one_member(vip: Vip) -> None:
    # Both threads meet at the status check, between their read and their
    # writes, if and only if nothing serialises them: the barrier then
    # releases both. Serialised, the first waits out the timeout alone.
    meeting = threading.Barrier(2, timeout=0.3)
    met: list[str] = []
    write_order: list[str] = []
    errors: list[BaseException] = []

    def status(ip: str, port: int, path: str, timeout: float) -> int:
        try:
            meeting.wait()
            met.append(ip)
        except threading.BrokenBarrierError:
            pass
        return 200

    vip.elbv2.meta.events.register(
        f"before-call.{EVENT_SERVICE}.ModifyListener", lambda **_: write_order.append(threading.current_thread().name)
    )

    def run(target: str) -> None:
        try:
            retarget.retarget(
                vip.elbv2,
                vip.config,
                mirror_set=SET,
                new_primary=target,
                reason="race",
                acknowledge_data_loss=True,
                status_check=status,
            )
        except BaseException as err:  # reported below
            errors.append(err)

    # Two targets that both differ from Member0, so both callers have something to write.
    threads = [threading.Thread(target=run, args=(t,), name=t) for t in ("Member1", "DR")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert met == [], "two retargets were between read and write at the same time"
    assert len(set(vip.pointing_at().values())) == 1  # all listeners on one member
    # Each caller's writes form one block: no listener write of one between two of the other.
    blocks = [name for i, name in enumerate(write_order) if i == 0 or write_order[i - 1] != name]
    assert len(blocks) == len(set(blocks))


def test_current_targets_and_primary_read_the_listeners(vip: Vip) -> None:
    expected = {vip.world.listeners[p]: vip.world.groups["Member0"][p] for p in PORTS}
    assert retarget.current_targets(vip.elbv2, vip.mirror_set) == expected
    assert retarget.current_primary(vip.elbv2, vip.mirror_set) == "Member0"
    vip.point(p52773="Member1")
    assert retarget.current_primary(vip.elbv2, vip.mirror_set) is None


def test_a_weighted_forward_over_two_members_has_no_single_target(vip: Vip) -> None:
    port = PORTS[0]
    vip.world.admin.modify_listener(
        ListenerArn=vip.world.listeners[port],
        DefaultActions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": vip.world.groups["Member0"][port], "Weight": 1},
                        {"TargetGroupArn": vip.world.groups["Member1"][port], "Weight": 1},
                    ]
                },
            }
        ],
    )
    assert retarget.current_targets(vip.elbv2, vip.mirror_set)[vip.world.listeners[port]] is None
    assert retarget.current_primary(vip.elbv2, vip.mirror_set) is None
    # The switch writes that listener too: one concrete group, never a weighted pair.
    call(vip, "Member0")
    assert vip.writes == [vip.world.listeners[port]] and vip.pointing_at() == vip.all_on("Member0")


# --- configuration ------------------------------------------------------------------------------------------------------


def test_the_configuration_is_read_as_written(vip: Vip) -> None:
    s = vip.mirror_set
    assert s.listeners == tuple(vip.world.listeners.values())
    assert {name: m.role for name, m in s.members.items()} == ROLES
    assert s.members["Member1"].target_groups == {vip.world.listeners[p]: vip.world.groups["Member1"][p] for p in PORTS}
    assert vip.config.health_check == retarget.HealthCheck(52773, STATUS_PATH, 2.0, 5, 2, 2)


def _broken(change: Callable[[dict[str, Any]], None]) -> Callable[[str], str]:
    def apply(text: str) -> str:
        raw = json.loads(text)
        change(raw)
        return json.dumps(raw)

    return apply


def _members(raw: dict[str, Any]) -> dict[str, Any]:
    return raw["mirror_sets"][SET]["members"]


def _first_listener(raw: dict[str, Any]) -> str:
    return raw["mirror_sets"][SET]["listeners"][0]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda _: "{not json", "not JSON"),
        (lambda _: "{}", "the document lacks 'mirror_sets'"),
        (_broken(lambda r: r.update(mirror_sets={})), "mirror_sets is empty"),
        (
            _broken(lambda r: _members(r)["Member1"].update(role="primary")),
            "Member1 has role 'primary'; allowed: failover, async",
        ),
        (
            _broken(lambda r: _members(r)["Member1"]["target_groups"].pop(_first_listener(r))),
            "members.Member1.target_groups has no target group for listener(s) arn:",
        ),
        (
            _broken(lambda r: _members(r)["Member1"]["target_groups"].update({"arn:other": "tg"})),
            "names listener(s) arn:other, which are not listeners of HSDB",
        ),
        (
            _broken(lambda r: _members(r)["Member1"]["target_groups"].update(_members(r)["Member0"]["target_groups"])),
            "Member0 and Member1 share target group",
        ),
        (_broken(lambda r: _members(r)["Member1"].update(private_ip="ip-10-0-0-1")), "private_ip must be an IP address"),
        (_broken(lambda r: _members(r)["Member1"].pop("instance_id")), "members.Member1 lacks 'instance_id'"),
        (_broken(lambda r: _members(r).clear()), "members must name at least one member"),
        (_broken(lambda r: r["mirror_sets"][SET].update(listeners=[])), "listeners must be a non-empty list"),
        (_broken(lambda r: r["health_check"].update(port=True)), "health_check.port must be an integer from 1 to 65535"),
        (_broken(lambda r: r["health_check"].update(timeout_seconds=0)), "health_check.timeout_seconds must be a number above 0"),
        (
            _broken(lambda r: r["health_check"].update(unhealthy_threshold=0)),
            "unhealthy_threshold must be an integer of at least 1",
        ),
        (_broken(lambda r: r["health_check"].update(path="csp")), "health_check.path must start with '/'"),
    ],
)
def test_load_config_names_what_is_wrong(vip: Vip, mutate: Callable[[str], str], message: str) -> None:
    with pytest.raises(retarget.ConfigError) as error:
        retarget.load_config(mutate(vip.config_text))
    assert str(error.value).startswith("the retarget configuration is not valid: ")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_missing_configuration_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(retarget.PARAMETERS_VARIABLE, raising=False)
    with pytest.raises(retarget.ConfigError, match="RETARGET_PARAMETERS and RETARGET_HEALTH_CHECK must both be set"):
        retarget.config_from_environment()


def test_the_deployed_configuration_is_each_sets_parameter_and_the_health_check(vip: Vip) -> None:
    # What the function reads in its account is what the whole document says.
    assert retarget.config_from_environment() == vip.config


def test_a_path_without_parameters_is_an_empty_configuration(vip: Vip, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(retarget.PARAMETERS_VARIABLE, "/Iris-DataTier/nothing-here")
    with pytest.raises(retarget.ConfigError, match="no mirror set has an SSM parameter under /Iris-DataTier/nothing-here"):
        retarget.config_from_environment()


def test_a_broken_parameter_is_named(vip: Vip, monkeypatch: pytest.MonkeyPatch) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    ssm.put_parameter(Name="/Iris-DataTier/broken/HSDB", Value="{not json", Type="String")
    monkeypatch.setenv(retarget.PARAMETERS_VARIABLE, "/Iris-DataTier/broken")
    with pytest.raises(retarget.ConfigError, match=r"mirror_sets\.HSDB is not JSON"):
        retarget.config_from_environment()


def test_the_writer_and_the_reader_agree(vip: Vip) -> None:
    assert retarget.load_config(vip.config.to_json()) == vip.config


# --- handler(): direct calls --------------------------------------------------------------------------------------------


def _uses(vip: Vip, monkeypatch: pytest.MonkeyPatch, module: Any, status_check: retarget.StatusCheck | None = None) -> None:
    """Make ``module`` reach the test's counting client and, if given, a fake status page."""
    monkeypatch.setattr(module, "elbv2_client", lambda *_, **__: vip.elbv2)
    if status_check is not None:
        monkeypatch.setattr(module, "retarget", functools.partial(retarget.retarget, status_check=status_check))


BASE_EVENT = {"mirror_set": SET, "new_primary": "Member1", "reason": "operator"}


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (None, "the event must be an object with mirror_set, new_primary, reason"),
        ({"mirror_set": SET, "reason": "x"}, "the event lacks 'new_primary' (str)"),
        ({**BASE_EVENT, "force": True}, "unknown event key(s) force; allowed: mirror_set, new_primary, reason"),
        ({**BASE_EVENT, "acknowledge_data_loss": "yes"}, "event key 'acknowledge_data_loss' must be a non-empty bool; got 'yes'"),
        ({**BASE_EVENT, "verify": 0}, "event key 'verify' must be a non-empty bool; got 0"),
        ({**BASE_EVENT, "reason": " "}, "event key 'reason' must be a non-empty str"),
        ({**BASE_EVENT, "new_primary": True}, "event key 'new_primary' must be a non-empty str; got True"),
        (
            {**BASE_EVENT, "reason": "x" * (handler.MAX_REASON_CHARS + 1)},
            f"event key 'reason' must be at most {handler.MAX_REASON_CHARS} characters; got {handler.MAX_REASON_CHARS + 1}",
        ),
        ({**BASE_EVENT, "verify": False}, "verify false is refused on a direct call"),
    ],
)
def test_handler_validates_its_event_and_logs_each_refusal(
    vip: Vip, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], event: Any, message: str
) -> None:
    _uses(vip, monkeypatch, handler, answers(vip, Member1=200))
    with pytest.raises(retarget.RequestRefused) as error:
        handler.handler(event, Context())
    assert message in str(error.value) and "\n" not in str(error.value)
    assert vip.writes == [] and vip.pointing_at() == vip.all_on("Member0")
    (record,) = log_lines(capsys)
    assert record["decision"] == "refused_invalid_event" and record["error"] == str(error.value)
    assert (record["entry"], record["request_id"]) == (Context.invoked_function_arn, Context.aws_request_id)


class Context:
    """What Lambda tells the function about an invocation."""

    invoked_function_arn = "arn:aws:lambda:eu-west-1:000000000000:function:Iris-Mirror-HSDB-retarget"
    aws_request_id = "11111111-2222-3333-4444-555555555555"


def test_a_direct_call_never_skips_the_status_check(
    vip: Vip, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Member1 is not primary: a call that could turn verification off would move the VIP to it.
    asked: list[str] = []
    _uses(vip, monkeypatch, handler, answers(vip, asked, Member1=503))
    with pytest.raises(retarget.RequestRefused, match="verify false is refused on a direct call"):
        handler.handler({**BASE_EVENT, "verify": False}, Context())
    with pytest.raises(retarget.RequestRefused, match="verify false is refused"):
        entry.handler({**BASE_EVENT, "verify": False, "dry_run": True}, Context())
    assert asked == [] and vip.writes == [] and vip.pointing_at() == vip.all_on("Member0")
    # verify true is the default, said out loud: the page is asked, and refuses.
    with pytest.raises(retarget.UnhealthyPrimary):
        handler.handler({**BASE_EVENT, "verify": True}, Context())
    assert asked == [vip.world.ips["Member1"]] and vip.writes == []
    decisions = [(r["decision"], r["mirror_set"], r["entry"]) for r in log_lines(capsys)]
    assert decisions == [
        ("refused_invalid_event", SET, Context.invoked_function_arn),
        ("refused_invalid_event", SET, Context.invoked_function_arn),
        ("refused_unhealthy", SET, Context.invoked_function_arn),
    ]


def test_a_forged_custom_resource_create_is_refused_on_a_direct_entry(
    vip: Vip, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Create skips the status check: only the deploy-time function, behind the Provider framework, serves one."""
    asked: list[str] = []
    _uses(vip, monkeypatch, handler, answers(vip, asked))
    for entry_point in (entry.handler, handler.handler):
        with pytest.raises(retarget.RequestRefused, match="custom-resource events go to the deploy-time function only"):
            entry_point(cr_event("Create", "Member1"), Context())
    assert asked == [] and vip.writes == [] and vip.pointing_at() == vip.all_on("Member0")
    assert [r["decision"] for r in log_lines(capsys)] == ["refused_custom_resource_event"] * 2


def test_the_deploy_entry_serves_custom_resource_events_only(
    vip: Vip, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _uses(vip, monkeypatch, handler, answers(vip, Member1=200))
    for event in (BASE_EVENT, {**cr_event("Create", "Member1"), "ResourceType": "Custom::Other"}, ["Create"]):
        with pytest.raises(retarget.RequestRefused, match="serves Custom::IrisMirrorPrimary events from the Provider"):
            entry.deploy(event, Context())
    assert vip.writes == []
    assert [r["decision"] for r in log_lines(capsys)] == ["refused_not_custom_resource"] * 3
    result = entry.deploy(cr_event("Create", "Member1"), Context())
    assert result["Data"] == {"Primary": "Member1"} and vip.pointing_at() == vip.all_on("Member1")


OTHER_SET = "HSAnalytics"


@pytest.fixture
def other_set(vip: Vip) -> Iterator[str]:
    """A second mirror set's parameter beside HSDB's, with members of its own; gone after the test."""
    ssm = boto3.client("ssm", region_name=REGION)
    document = vip.mirror_set.to_document()
    for name, member in document["members"].items():
        member["instance_id"] = f"i-0other{name.lower()}"
    name = f"{PARAMETER_PATH}/{OTHER_SET}"
    ssm.put_parameter(Name=name, Value=json.dumps(document), Type="String")
    try:
        yield "i-0othermember1"
    finally:
        ssm.delete_parameter(Name=name)


def test_a_sets_own_function_refuses_another_sets_request_and_members(
    vip: Vip, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], other_set: str
) -> None:
    # The unbound view (every set under the path) knows both sets; HSDB's own function only HSDB.
    assert set(retarget.config_from_environment().mirror_sets) == {SET, OTHER_SET}
    monkeypatch.setenv(retarget.MIRROR_SET_VARIABLE, SET)
    assert set(retarget.config_from_environment().mirror_sets) == {SET}
    asked: list[str] = []
    _uses(vip, monkeypatch, handler, answers(vip, asked, Member1=200))
    only = rf"^this function serves mirror set '{SET}' only; '{OTHER_SET}' has its own"
    with pytest.raises(retarget.RequestRefused, match=only):
        handler.handler({**BASE_EVENT, "mirror_set": OTHER_SET}, Context())
    # Another set's member, named in a call for this set, is not a member here.
    with pytest.raises(retarget.UnknownMember, match=f"unknown member '{other_set}' of mirror set '{SET}'"):
        handler.handler({**BASE_EVENT, "new_primary": other_set}, Context())
    assert asked == [] and vip.writes == [] and vip.pointing_at() == vip.all_on("Member0")
    refused, unknown = log_lines(capsys)
    assert {k: refused[k] for k in ("event", "decision", "mirror_set", "served_set", "entry", "request_id")} == {
        "event": "retarget",
        "decision": "refused_other_set",
        "mirror_set": OTHER_SET,
        "served_set": SET,
        "entry": Context.invoked_function_arn,
        "request_id": Context.aws_request_id,
    }
    assert unknown["decision"] == "unknown_member" and unknown["entry"] == Context.invoked_function_arn
    # Its own set's members it serves as before.
    assert handler.handler(BASE_EVENT, Context())["new"] == "Member1" and vip.pointing_at() == vip.all_on("Member1")


def test_a_refusal_logs_bounded_values_only(vip: Vip, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(retarget.RequestRefused):
        handler.handler({**BASE_EVENT, "mirror_set": "A" * 10_000, "reason": "r" * 10_000}, Context())
    (line,) = capsys.readouterr().out.splitlines()
    assert len(line) < 1_000


def test_handler_switches_with_its_own_client_and_the_environment(vip: Vip, monkeypatch: pytest.MonkeyPatch) -> None:
    # Only the status page is played: the region comes from the environment, the config from SSM and the environment.
    monkeypatch.setattr(handler, "retarget", functools.partial(retarget.retarget, status_check=answers(vip, Member1=200)))
    dry = handler.handler({**BASE_EVENT, "dry_run": True}, None)
    assert dry["dry_run"] is True and dry["changed"] is False and vip.pointing_at() == vip.all_on("Member0")
    result = handler.handler(BASE_EVENT, None)
    assert result["previous"] == "Member0" and result["new"] == "Member1" and vip.pointing_at() == vip.all_on("Member1")


def test_handler_verifies_by_default_and_lets_refusals_raise(vip: Vip, monkeypatch: pytest.MonkeyPatch) -> None:
    _uses(vip, monkeypatch, handler, answers(vip, Member1=503))
    with pytest.raises(retarget.UnhealthyPrimary):
        handler.handler(BASE_EVENT, None)
    with pytest.raises(retarget.DataLossNotAcknowledged):
        handler.handler({**BASE_EVENT, "new_primary": "DR"}, None)
    assert vip.writes == []


def test_each_entry_sends_its_own_kind_of_event_on(vip: Vip, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    monkeypatch.setattr(entry, "on_event", lambda e, c: seen.append("custom resource") or {})
    monkeypatch.setattr(entry, "direct_call", lambda e, c: seen.append("direct") or {})
    entry.deploy(cr_event("Create", "Member0"), None)
    entry.handler(BASE_EVENT, None)
    assert seen == ["custom resource", "direct"]


# --- on_event(): the custom resource ------------------------------------------------------------------------------------


def cr_event(request: str, desired: str, old: str | None = None) -> dict[str, Any]:
    """A Provider framework event for Custom::IrisMirrorPrimary of HSDB."""
    event: dict[str, Any] = {
        "RequestType": request,
        "ResourceType": "Custom::IrisMirrorPrimary",
        "ResourceProperties": {
            "ServiceToken": "arn:aws:lambda:eu-west-1:000000000000:function:x",
            "MirrorSet": SET,
            "DesiredPrimary": desired,
        },
    }
    if request != "Create":
        event["PhysicalResourceId"] = f"{SET}-vip-primary"
    if old is not None:
        event["OldResourceProperties"] = {**event["ResourceProperties"], "DesiredPrimary": old}
    return event


def test_create_points_at_the_desired_primary_without_asking_its_page(vip: Vip, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    _uses(vip, monkeypatch, handler, answers(vip, asked))  # IRIS is not installed yet: every page would fail
    result = handler.on_event(cr_event("Create", "Member1"), None)
    assert result == {"PhysicalResourceId": "HSDB-vip-primary", "Data": {"Primary": "Member1"}}
    assert vip.pointing_at() == vip.all_on("Member1") and asked == []


def _denied_first(vip: Vip, times: int) -> list[str]:
    """Make the counted client's first ``times`` ModifyListener calls fail as IAM does before a new grant applies."""
    refused: list[str] = []

    def deny(params: dict[str, Any], **_: Any) -> None:
        if len(refused) < times:
            refused.append(params["ListenerArn"])
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, "ModifyListener")

    vip.elbv2.meta.events.register(f"before-parameter-build.{EVENT_SERVICE}.ModifyListener", deny)
    return refused


def test_create_waits_out_a_grant_that_is_not_applied_yet(vip: Vip, monkeypatch: pytest.MonkeyPatch) -> None:
    _uses(vip, monkeypatch, handler)
    slept: list[float] = []
    monkeypatch.setattr(handler, "_sleep", slept.append)
    refused = _denied_first(vip, handler.CREATE_ATTEMPTS - 1)
    result = handler.on_event(cr_event("Create", "Member1"), None)
    assert result["Data"] == {"Primary": "Member1"} and vip.pointing_at() == vip.all_on("Member1")
    assert len(refused) == len(slept) == handler.CREATE_ATTEMPTS - 1
    assert slept == [handler.CREATE_RETRY_SECONDS] * (handler.CREATE_ATTEMPTS - 1)


def test_create_gives_up_on_a_grant_that_never_applies_and_other_errors_are_not_retried(
    vip: Vip, monkeypatch: pytest.MonkeyPatch
) -> None:
    _uses(vip, monkeypatch, handler)
    slept: list[float] = []
    monkeypatch.setattr(handler, "_sleep", slept.append)
    _denied_first(vip, handler.CREATE_ATTEMPTS)
    with pytest.raises(retarget.NotPermitted, match="AccessDenied"):
        handler.on_event(cr_event("Create", "Member1"), None)
    assert len(slept) == handler.CREATE_ATTEMPTS - 1 and vip.pointing_at() == vip.all_on("Member0")
    # An unknown member is refused at once, without a wait.
    slept.clear()
    with pytest.raises(retarget.UnknownMember):
        handler.on_event(cr_event("Create", "Member7"), None)
    assert slept == []


def test_update_with_the_same_desired_primary_never_moves_traffic(
    vip: Vip, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A run-time failover moved the VIP to Member1; then a deployment with new
    # code or other properties sends an Update whose DesiredPrimary is unchanged.
    vip.point(p1972="Member1", p52773="Member1")
    _uses(vip, monkeypatch, handler, answers(vip, Member0=200))
    result = handler.on_event(cr_event("Update", "Member0", old="Member0"), None)
    assert result["PhysicalResourceId"] == "HSDB-vip-primary"
    assert vip.writes == [] and vip.pointing_at() == vip.all_on("Member1")
    (record,) = log_lines(capsys)
    assert record["decision"] == "unchanged_desired_primary_no_write"


def test_update_with_a_new_desired_primary_is_a_checked_planned_failover(vip: Vip, monkeypatch: pytest.MonkeyPatch) -> None:
    _uses(vip, monkeypatch, handler, answers(vip, Member1=503))
    with pytest.raises(retarget.UnhealthyPrimary):
        handler.on_event(cr_event("Update", "Member1", old="Member0"), None)
    assert vip.writes == [] and vip.pointing_at() == vip.all_on("Member0")

    _uses(vip, monkeypatch, handler, answers(vip, Member1=200))
    result = handler.on_event(cr_event("Update", "Member1", old="Member0"), None)
    assert result == {"PhysicalResourceId": "HSDB-vip-primary", "Data": {"Primary": "Member1"}}
    assert vip.pointing_at() == vip.all_on("Member1")


def test_delete_changes_nothing_and_never_fails(vip: Vip, monkeypatch: pytest.MonkeyPatch) -> None:
    _uses(vip, monkeypatch, handler, answers(vip, Member1=200))
    assert handler.on_event(cr_event("Delete", "Member1"), None) == {"PhysicalResourceId": "HSDB-vip-primary"}
    broken = {**cr_event("Delete", "Member1"), "ResourceProperties": {"ServiceToken": "x"}}
    monkeypatch.delenv(retarget.PARAMETERS_VARIABLE)
    assert handler.on_event(broken, None) == {"PhysicalResourceId": "HSDB-vip-primary"}
    assert vip.writes == [] and vip.pointing_at() == vip.all_on("Member0")


def test_custom_resource_events_without_their_properties_are_refused_with_a_decision_line(
    vip: Vip, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _uses(vip, monkeypatch, handler, answers(vip, Member1=200))
    refused = [
        ({**cr_event("Create", "Member1"), "ResourceProperties": {"ServiceToken": "x", "MirrorSet": SET}},
         "Custom::IrisMirrorPrimary lacks DesiredPrimary", "refused_invalid_properties"),
        ({**cr_event("Update", "Member1"), "ResourceProperties": "HSDB"},
         "Custom::IrisMirrorPrimary has no ResourceProperties object", "refused_invalid_properties"),
        ({**cr_event("Create", "Member1"), "RequestType": "Replace"}, "unknown RequestType 'Replace'", "refused_unknown_request"),
        ({**cr_event("Create", "Member1"), "RequestType": "R" * 1000}, "unknown RequestType 'RRRR", "refused_unknown_request"),
    ]  # fmt: skip
    for event, message, decision in refused:
        with pytest.raises(retarget.RetargetError, match=message) as error:
            handler.on_event(event, None)
        (record,) = log_lines(capsys)
        assert (record["event"], record["decision"], record["error"]) == ("custom_resource", decision, str(error.value))
        assert len(json.dumps(record)) < 600  # a forged value is cut, not repeated whole
    assert vip.writes == []


def test_the_reason_is_cut_in_the_log_line_of_any_caller(vip: Vip, capsys: pytest.CaptureFixture[str]) -> None:
    # Direct calls refuse a longer reason (below); the core bounds what any other caller logs.
    result = retarget.retarget(
        vip.elbv2, vip.config, mirror_set=SET, new_primary="Member1", reason="r" * 10_000, status_check=answers(vip, Member1=200)
    )
    assert result["changed"] is True
    (record,) = log_lines(capsys)
    assert record["decision"] == "switched" and record["reason"] == "r" * retarget.MAX_REASON_CHARS


# --- the poller ---------------------------------------------------------------------------------------------------------


class FakeClock:
    """time.monotonic and time.sleep for the poller: sleeping advances the clock, instantly."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


def scripted(vip: Vip, clock: FakeClock, asked: list[str] | None = None, **script: list[int | None]) -> retarget.StatusCheck:
    """Each member answers ``script[member][round]`` (its last entry from then on); unnamed members 503.

    By round rather than by call, so that retarget's own check in a round gets the same answer.
    """
    by_ip = {vip.world.ips[name]: answers for name, answers in script.items()}
    interval = HEALTH["interval_seconds"]

    def check(ip: str, port: int, path: str, timeout: float) -> int | None:
        if asked is not None:
            asked.append(ip)
        sequence = by_ip.get(ip, [503])
        return sequence[min(int(clock.now // interval), len(sequence) - 1)]

    return check


def run_poll(
    vip: Vip, clock: FakeClock, check: retarget.StatusCheck, *, seconds: float = 40, **kwargs: Any
) -> list[dict[str, Any]]:
    return poller.poll(
        vip.elbv2,
        kwargs.pop("config", vip.config),
        SET,
        duration_seconds=seconds,
        clock=clock,
        sleep=clock.sleep,
        status_check=check,
        **kwargs,
    )


def switch_times(vip: Vip, clock: FakeClock) -> list[float]:
    """Clock readings at every ModifyListener call."""
    times: list[float] = []
    vip.elbv2.meta.events.register(f"before-call.{EVENT_SERVICE}.ModifyListener", lambda **_: times.append(clock.now))
    return times


def test_poller_switches_after_exactly_the_thresholds(vip: Vip, capsys: pytest.CaptureFixture[str]) -> None:
    clock = FakeClock()
    times = switch_times(vip, clock)
    # Rounds at t = 0, 5, 10, ...: Member0 fails from round 1, Member1 answers 200 from round 1.
    # Round 2 is the second failure and the second success (thresholds 2 and 2).
    check = scripted(vip, clock, Member0=[200, 503], Member1=[503, 200], DR=[200])
    results = run_poll(vip, clock, check)
    assert [(r["previous"], r["new"], r["changed"]) for r in results] == [("Member0", "Member1", True)]
    assert times == [10.0, 10.0]  # both listeners, in round 2
    assert vip.pointing_at() == vip.all_on("Member1")
    assert clock.now == 40.0  # rounds until the duration is used up
    records = log_lines(capsys)
    assert [r["decision"] for r in records] == ["switched"]
    assert records[0]["reason"].startswith("polling: Member0 failed 2 checks in a row, Member1 answered 200 2 times in a row")


@pytest.mark.parametrize(
    ("healthy", "unhealthy", "member0", "member1", "switch_round"),
    [
        # Member0 is down in round 1 (2 failures); Member1 is up in round 4 (200 in rounds 2, 3, 4).
        (3, 2, [503], [503, 503, 200], 4),
        # Member1 is up in round 1 (2 answers); Member0 is down in round 3 (failures in rounds 1, 2, 3).
        (2, 3, [200, 503], [200], 3),
    ],
    ids=["waits-for-the-new-member", "waits-for-the-old-member"],
)
def test_poller_counts_each_threshold_on_its_own(
    vip: Vip, healthy: int, unhealthy: int, member0: list[int | None], member1: list[int | None], switch_round: int
) -> None:
    clock = FakeClock()
    times = switch_times(vip, clock)
    config = replace(
        vip.config, health_check=replace(vip.config.health_check, healthy_threshold=healthy, unhealthy_threshold=unhealthy)
    )
    check = scripted(vip, clock, Member0=member0, Member1=member1)
    assert [r["new"] for r in run_poll(vip, clock, check, config=config)] == ["Member1"]
    assert set(times) == {switch_round * HEALTH["interval_seconds"]}


def test_poller_needs_failures_in_a_row(vip: Vip) -> None:
    clock = FakeClock()
    check = scripted(vip, clock, Member0=[503, 200] * 10, Member1=[200])
    assert run_poll(vip, clock, check, seconds=60) == []
    assert vip.writes == [] and vip.pointing_at() == vip.all_on("Member0")


def test_poller_leaves_a_healthy_primary_alone(vip: Vip, capsys: pytest.CaptureFixture[str]) -> None:
    clock = FakeClock()
    check = scripted(vip, clock, Member0=[200], Member1=[503])
    assert run_poll(vip, clock, check, seconds=60) == []
    assert vip.writes == [] and log_lines(capsys) == []


def test_poller_never_switches_when_every_failover_member_is_down_and_never_promotes_dr(
    vip: Vip, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = FakeClock()
    asked: list[str] = []
    check = scripted(vip, clock, asked, Member0=[503], Member1=[None], DR=[200])
    assert run_poll(vip, clock, check, seconds=60) == []
    assert vip.writes == [] and vip.pointing_at() == vip.all_on("Member0")
    assert vip.world.ips["DR"] not in asked and set(asked) == {vip.world.ips["Member0"], vip.world.ips["Member1"]}
    # A lasting condition is one decision: logged once, not every round.
    assert [(r["event"], r["decision"], r["current"]) for r in log_lines(capsys)] == [("poll", "no_healthy_member", "Member0")]


def test_poller_leaves_a_dr_member_a_person_promoted_while_it_answers(vip: Vip) -> None:
    vip.point(p1972="DR", p52773="DR")
    clock = FakeClock()
    asked: list[str] = []
    check = scripted(vip, clock, asked, DR=[200], Member0=[503], Member1=[503])
    assert run_poll(vip, clock, check) == []
    assert vip.writes == [] and vip.world.ips["DR"] in asked


def test_poller_repairs_a_split_vip_but_not_when_two_members_claim_primary(vip: Vip, capsys: pytest.CaptureFixture[str]) -> None:
    vip.point(p52773="Member1")  # a switch that failed half-way
    clock = FakeClock()
    check = scripted(vip, clock, Member0=[200], Member1=[200])
    assert run_poll(vip, clock, check) == []
    assert vip.writes == []
    assert [r["decision"] for r in log_lines(capsys)] == ["several_claim_primary"]

    clock = FakeClock()
    check = scripted(vip, clock, Member0=[503], Member1=[200])
    assert [r["new"] for r in run_poll(vip, clock, check)] == ["Member1"]
    assert vip.writes == [vip.world.listeners[1972]] and vip.pointing_at() == vip.all_on("Member1")


def test_poller_keeps_watching_after_a_failed_switch_and_then_fails_loudly(vip: Vip, capsys: pytest.CaptureFixture[str]) -> None:
    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "ModifyListener")

    vip.elbv2.meta.events.register(f"before-call.{EVENT_SERVICE}.ModifyListener", refuse)
    clock = FakeClock()
    check = scripted(vip, clock, Member0=[503], Member1=[200])
    with pytest.raises(
        retarget.RetargetError, match=r"^polling failed \d+ time\(s\); first: HSDB: switching HSDB to Member1 failed"
    ):
        run_poll(vip, clock, check, seconds=20)
    assert clock.now == 20.0  # every round ran
    assert {r["decision"] for r in log_lines(capsys)} == {"failed"}


def test_poller_handler_polls_every_set_in_one_loop_within_the_timeout(
    vip: Vip, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[dict[str, Any]] = []
    clock = FakeClock()

    def fake_poll(elbv2: Any, config: retarget.Config, mirror_set: Any, *, duration_seconds: float) -> list[dict[str, Any]]:
        seen.append({"sets": mirror_set, "duration": duration_seconds})
        check = scripted(vip, clock, Member0=[503], Member1=[200])
        return real_poll(
            elbv2, config, mirror_set, duration_seconds=duration_seconds, clock=clock, sleep=clock.sleep, status_check=check
        )

    real_poll = poller.poll
    monkeypatch.setattr(poller, "poll", fake_poll)
    monkeypatch.setattr(poller, "elbv2_client", lambda *_, **__: vip.elbv2)

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 20_000

    result = poller.handler({"duration_seconds": 50}, Context())
    assert seen == [{"sets": [SET], "duration": 15.0}]  # 20 s left, less the margin
    assert [r["new"] for r in result["retargets"]] == ["Member1"]

    assert poller.handler({"mirror_set": SET, "duration_seconds": 0}, None) == {"retargets": []}
    capsys.readouterr()
    with pytest.raises(retarget.UnknownMirrorSet, match="unknown mirror set 'Nope'") as error:
        poller.handler({"mirror_set": "Nope"}, None)
    (record,) = log_lines(capsys)
    assert (record["event"], record["decision"], record["error"]) == ("poll", "unknown_mirror_set", str(error.value))
    with pytest.raises(retarget.RetargetError, match="'duration_seconds' must be a number"):
        poller.handler({"duration_seconds": "50"}, None)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ("poll", "the poller's event must be an object with mirror_set, duration_seconds; got str"),
        ([SET], "the poller's event must be an object with mirror_set, duration_seconds; got list"),
        ({"duration_seconds": 50, "verify": False}, "unknown event key(s) verify; allowed: mirror_set, duration_seconds"),
        ({"mirror_set": ["HSDB"]}, "event key 'mirror_set' must be a non-empty string; got \"['HSDB']\""),
        ({"mirror_set": " "}, "event key 'mirror_set' must be a non-empty string"),
        ({"duration_seconds": True}, "event key 'duration_seconds' must be a number of at least 0; got 'True'"),
        ({"duration_seconds": -1}, "event key 'duration_seconds' must be a number of at least 0; got '-1'"),
    ],
)
def test_poller_type_checks_its_event_and_logs_the_refusal(
    vip: Vip, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], event: Any, message: str
) -> None:
    monkeypatch.setattr(poller, "poll", lambda *_, **__: pytest.fail("polled on a refused event"))
    with pytest.raises(retarget.RetargetError) as error:
        poller.handler(event, None)
    assert message in str(error.value)
    (record,) = log_lines(capsys)
    assert (record["event"], record["decision"], record["error"]) == ("poll", "refused_invalid_event", str(error.value))


# --- check_status(): a real HTTP page -----------------------------------------------------------------------------------


class _Page(http.server.BaseHTTPRequestHandler):
    status = 200
    location = ""

    def do_GET(self) -> None:
        self.send_response(self.status)
        if self.location:
            self.send_header("Location", self.location)
        self.send_header("Content-Length", "6")
        self.end_headers()
        self.wfile.write(b"status")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def page() -> Iterator[Callable[..., int]]:
    """``page(status, location="")`` serves a status page on 127.0.0.1 and returns its port."""
    servers: list[http.server.HTTPServer] = []

    def serve(status: int, location: str = "") -> int:
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), type("Page", (_Page,), {"status": status, "location": location})
        )
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server.server_port

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("status", [200, 503])
def test_check_status_reads_a_real_page(page: Callable[..., int], status: int) -> None:
    assert retarget.check_status("127.0.0.1", page(status), STATUS_PATH, 2) == status


def test_check_status_does_not_follow_a_redirect(page: Callable[..., int]) -> None:
    target = page(200)
    assert retarget.check_status("127.0.0.1", page(302, f"http://127.0.0.1:{target}/"), STATUS_PATH, 2) == 302


def test_check_status_ignores_any_proxy(page: Callable[..., int], monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(key, "http://127.0.0.1:9")  # the discard port: nothing answers there
    for key in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(key, raising=False)
    assert retarget.check_status("127.0.0.1", page(200), STATUS_PATH, 2) == 200


def test_check_status_gives_up_on_a_silent_member() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts the connection, never answers
        started = time.monotonic()
        assert retarget.check_status("127.0.0.1", silent.getsockname()[1], STATUS_PATH, 0.2) is None
        assert time.monotonic() - started < 1.5


def test_check_status_reports_a_refused_connection_as_no_answer() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: the connection is refused
        assert retarget.check_status("127.0.0.1", port, STATUS_PATH, 1) is None
