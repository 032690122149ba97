"""A local failover rehearsal that measures how fast the mirror VIP follows.

    python -m ops drill [--settings-profile reference]

Everything runs on this machine: a moto server on 127.0.0.1 plays AWS (a VPC,
an internal NLB with listeners on 1972 and the health-check port, one target
group per member and port), and three HTTP servers on 127.0.0.2-4 play the
mirror status pages of the primary, the backup and the arbiter.

1. API method: the primary is lost; the backup's page turns to 200 and it
   calls its mirror set's own retarget function (its entry, status page
   checked) as NotifyBecomePrimary^ZMIRROR would. Measured:
   from the loss to every listener forwarding to the backup.
2. Polling method: the poller runs with the real clock and the interval and
   thresholds of the synthesized settings; the primary is lost and the
   backup's page turns to 200. Measured the same way. (``run_drill(speed=N)``
   runs this part's clock N times faster than the wall, waits and
   measurement alike; the suite uses it. Every AWS call then lasts N times
   longer in the drill's clock, so the bounds only get harder to meet.)

Modelled end-to-end recovery, from the settings: the backup answers 200 only
after it has taken over, which the mirror does once the QoS timeout has passed.
  API:     QoS timeout + the measured switch.
  Polling: max(QoS timeout + interval x healthy threshold,
               interval x unhealthy threshold) + the measured API switch.
The drill fails if a listener is not switched in time, or points anywhere but
the new primary.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import logging
import math
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from config import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lambda" / "retarget"))

import handler as retarget_handler  # noqa: E402
import poller  # noqa: E402
import retarget  # noqa: E402

from ops.dr import modelled_dns_seconds  # noqa: E402

MIRROR_SET = "DRILL"
MEMBER_IPS = {"Member0": "127.0.0.2", "Member1": "127.0.0.3", "Arbiter": "127.0.0.4"}
SUPERSERVER_PORT = 1972
SWITCH_BOUND_SECONDS = 10.0
POLL_STEP_SECONDS = 0.01


@dataclass
class DrillResult:
    """Measured and modelled times, in seconds, and what went wrong if anything."""

    api_seconds: float | None = None
    polling_seconds: float | None = None
    modelled_api_seconds: float | None = None
    modelled_polling_seconds: float | None = None
    interval_seconds: int = 0
    healthy_threshold: int = 0
    unhealthy_threshold: int = 0
    qos_timeout_seconds: float = 0.0
    speed: float = 1.0  # the polling method's clock against the wall's
    # The DR region's DNS failover, modelled from settings (None: no DR region).
    modelled_dns_seconds: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.api_seconds is not None and self.polling_seconds is not None


class StatusPage(http.server.ThreadingHTTPServer):
    """A member's mirror status page; ``status`` may change, ``lost`` drops every request."""

    daemon_threads = True

    def __init__(self, ip: str, port: int, path: str, status: int) -> None:
        self.path_served = path
        self.status = status
        self.lost = False
        super().__init__((ip, port), _PageHandler)
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _PageHandler(http.server.BaseHTTPRequestHandler):
    server: StatusPage

    def do_GET(self) -> None:
        if self.server.lost:
            self.close_connection = True  # a lost host: no answer at all
            return
        status = self.server.status if self.path == self.server.path_served else 404
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"Success" if status == 200 else b"Failed")

    def log_message(self, *args: Any) -> None:
        pass


def _free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class LocalAws:
    """The VIP of one mirror set, built in a moto server."""

    def __init__(self, endpoint: str, region: str, health_port: int) -> None:
        self.ec2 = boto3.client("ec2", region_name=region, endpoint_url=endpoint)
        self.elbv2 = retarget.elbv2_client(region, endpoint)
        self.ssm = retarget.ssm_client(region, endpoint)
        vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            self.ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i * 16}.0/20", AvailabilityZone=f"{region}{az}")["Subnet"][
                "SubnetId"
            ]
            for i, az in enumerate("abc")
        ]
        # moto keeps its state per process: names unique to this run.
        run = uuid.uuid4().hex[:6]
        lb = self.elbv2.create_load_balancer(Name=f"drill-{run}", Subnets=subnets, Scheme="internal", Type="network")
        lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
        self.instances = {
            name: self.ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, SubnetId=subnets[i])["Instances"][0][
                "InstanceId"
            ]
            for i, name in enumerate(MEMBER_IPS)
        }
        self.ports = (SUPERSERVER_PORT, health_port)
        self.groups: dict[str, dict[int, str]] = {}
        for name in ("Member0", "Member1"):  # the arbiter is never a target
            self.groups[name] = {}
            for port in self.ports:
                group = self.elbv2.create_target_group(Name=f"d{run}-{name}-{port}", Protocol="TCP", Port=port, VpcId=vpc)
                arn = group["TargetGroups"][0]["TargetGroupArn"]
                self.elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": self.instances[name], "Port": port}])
                self.groups[name][port] = arn
        self.listeners = {
            port: self.elbv2.create_listener(
                LoadBalancerArn=lb_arn,
                Protocol="TCP",
                Port=port,
                DefaultActions=[{"Type": "forward", "TargetGroupArn": self.groups["Member0"][port]}],
            )["Listeners"][0]["ListenerArn"]
            for port in self.ports
        }

    def publish(self, health: retarget.HealthCheck) -> dict[str, str]:
        """The set's configuration parameter, as its stack writes it; returns the function's environment."""
        mirror_set = retarget.MirrorSet(
            MIRROR_SET,
            listeners=tuple(self.listeners.values()),
            members={
                name: retarget.Member(
                    name,
                    self.instances[name],
                    MEMBER_IPS[name],
                    "failover",
                    {self.listeners[p]: self.groups[name][p] for p in self.ports},
                )
                for name in self.groups
            },
        )
        path = f"/drill-{uuid.uuid4().hex[:6]}/retarget"
        self.ssm.put_parameter(Name=f"{path}/{MIRROR_SET}", Value=json.dumps(mirror_set.to_document()), Type="String")
        # As the set's own function is deployed: it serves this set only.
        return {
            retarget.PARAMETERS_VARIABLE: path,
            retarget.HEALTH_CHECK_VARIABLE: json.dumps(health.to_document()),
            retarget.MIRROR_SET_VARIABLE: MIRROR_SET,
        }

    def pointing_at(self) -> set[str]:
        """The members the listeners forward to (one, once a switch is complete)."""
        by_group = {arn: name for name, groups in self.groups.items() for arn in groups.values()}
        found = set()
        for listener in self.elbv2.describe_listeners(ListenerArns=list(self.listeners.values()))["Listeners"]:
            group = listener["DefaultActions"][0].get("TargetGroupArn")
            found.add(by_group.get(group, f"unknown group {group}"))
        return found

    def reset(self) -> None:
        for port, arn in self.listeners.items():
            self.elbv2.modify_listener(
                ListenerArn=arn, DefaultActions=[{"Type": "forward", "TargetGroupArn": self.groups["Member0"][port]}]
            )


def _wait_for(aws: LocalAws, member: str, started: float, bound: float) -> float | None:
    """Seconds from ``started`` until every listener forwards to ``member``."""
    while time.perf_counter() - started < bound:
        if aws.pointing_at() == {member}:
            return time.perf_counter() - started
        time.sleep(POLL_STEP_SECONDS)
    return None


def run_drill(
    settings_profile: str = "reference",
    *,
    interval_override: int | None = None,
    backup_takes_over: bool = True,
    speed: float = 1.0,
) -> DrillResult:
    """Rehearse a primary loss with both methods; never raises for a failed drill. ``speed`` > 1 runs the
    polling method's clock that many times faster than the wall (its figures stay in its own seconds)."""
    if speed < 1:
        raise ValueError(f"speed {speed}: the drill's clock runs at the wall's pace (1) or faster")
    settings = _settings(settings_profile)
    d = settings.data
    interval = interval_override or d.health_check_interval_seconds
    result = DrillResult(
        interval_seconds=interval,
        healthy_threshold=d.healthy_threshold,
        unhealthy_threshold=d.unhealthy_threshold,
        qos_timeout_seconds=d.mirror_qos_timeout_ms / 1000,
        speed=speed,
        modelled_dns_seconds=modelled_dns_seconds(settings) if settings.dr is not None else None,
    )
    from moto.server import ThreadedMotoServer

    moto_port = _free_port("127.0.0.1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    pages: dict[str, StatusPage] = {}
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
        "AWS_ACCESS_KEY_ID": "drill",
        "AWS_SECRET_ACCESS_KEY": "drill",
        "AWS_DEFAULT_REGION": settings.region,
        "AWS_REGION": settings.region,
        "AWS_EC2_METADATA_DISABLED": "true",
        # moto's public image catalogue (about 1300 images, half a second to load): the drill names its own.
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    }
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the moto server's request log
    server.start()
    try:
        with _environment(env):
            health_port = _free_port(MEMBER_IPS["Member0"])
            for name, ip in MEMBER_IPS.items():
                pages[name] = StatusPage(ip, health_port, d.health_check_path, 200 if name == "Member0" else 503)
            aws = LocalAws(env["AWS_ENDPOINT_URL"], settings.region, health_port)
            health = retarget.HealthCheck(
                port=health_port,
                path=d.health_check_path,
                timeout_seconds=1,
                interval_seconds=interval,
                healthy_threshold=d.healthy_threshold,
                unhealthy_threshold=d.unhealthy_threshold,
            )
            with _environment(aws.publish(health)):
                result.api_seconds = _api_run(aws, pages, result, backup_takes_over)
                _restore(aws, pages)
                result.polling_seconds = _polling_run(aws, pages, result)
    except Exception as err:  # a drill reports, it does not crash
        result.problems.append(f"{type(err).__name__}: {err}")
    finally:
        for page in pages.values():
            page.close()
        server.stop()
    if result.api_seconds is not None:
        result.modelled_api_seconds = result.qos_timeout_seconds + result.api_seconds
        result.modelled_polling_seconds = (
            max(result.qos_timeout_seconds + interval * d.healthy_threshold, interval * d.unhealthy_threshold)
            + result.api_seconds
        )
    return result


def _api_run(aws: LocalAws, pages: dict[str, StatusPage], result: DrillResult, backup_takes_over: bool) -> float | None:
    started = time.perf_counter()
    pages["Member0"].lost = True
    if backup_takes_over:
        pages["Member1"].status = 200
    try:
        retarget_handler.handler({"mirror_set": MIRROR_SET, "new_primary": "Member1", "reason": "NotifyBecomePrimary (drill)"})
    except retarget.RetargetError as err:
        result.problems.append(f"API method: the function refused: {err}")
        return None
    elapsed = _wait_for(aws, "Member1", started, SWITCH_BOUND_SECONDS)
    if elapsed is None:
        result.problems.append(f"API method: the listeners point at {sorted(aws.pointing_at())}, not Member1")
    return elapsed


def _restore(aws: LocalAws, pages: dict[str, StatusPage]) -> None:
    aws.reset()
    pages["Member0"].lost, pages["Member0"].status = False, 200
    pages["Member1"].status = 503


def _polling_run(aws: LocalAws, pages: dict[str, StatusPage], result: DrillResult) -> float | None:
    """Seconds, by the drill's clock (``result.speed`` times the wall's), from the loss to the switch."""
    interval, speed = result.interval_seconds, result.speed
    config = retarget.config_from_environment()
    stop = threading.Event()

    # The poller's own clock ends its loop as soon as the drill has its answer.
    def clock() -> float:
        return math.inf if stop.is_set() else time.monotonic() * speed

    bound = interval * (result.unhealthy_threshold + result.healthy_threshold + 4)
    errors: list[BaseException] = []

    def sleep(seconds: float) -> None:
        stop.wait(seconds / speed)

    def run() -> None:
        try:
            poller.poll(aws.elbv2, config, [MIRROR_SET], duration_seconds=bound * 2, clock=clock, sleep=sleep, log=lambda _: None)
        except BaseException as err:  # reported below
            errors.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    # Let the poller see a healthy primary first, as it would in production,
    # then lose it half-way between two checks: the average case, not the best.
    time.sleep((interval * result.healthy_threshold + interval / 2) / speed)
    started = time.perf_counter()
    pages["Member0"].lost = True
    pages["Member1"].status = 200
    wall = _wait_for(aws, "Member1", started, bound / speed)
    elapsed = None if wall is None else wall * speed
    stop.set()
    thread.join(timeout=interval + 5)
    if errors:
        result.problems.append(f"polling method: the poller failed: {errors[0]}")
    if elapsed is None:
        result.problems.append(f"polling method: after {bound} s the listeners point at {sorted(aws.pointing_at())}, not Member1")
    if "Arbiter" in aws.pointing_at():
        result.problems.append("the arbiter was made a target")
    return elapsed


def _settings(profile: str) -> Settings:
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    return load_settings({**context, "profile": profile}, {})


def report(result: DrillResult) -> str:
    def s(value: float | None) -> str:
        return "not measured" if value is None else f"{value:7.3f} s"

    lines = [
        f"failover drill (interval {result.interval_seconds} s, healthy/unhealthy thresholds "
        f"{result.healthy_threshold}/{result.unhealthy_threshold}, QoS timeout {result.qos_timeout_seconds:g} s"
        + (f", polling clock {result.speed:g}x the wall's" if result.speed != 1 else "")
        + ")",
        f"  measured, API method     (loss -> listeners on the new primary): {s(result.api_seconds)}",
        f"  measured, polling method (loss -> listeners on the new primary): {s(result.polling_seconds)}",
        f"  modelled end to end, API method:     {s(result.modelled_api_seconds)}   (QoS timeout + switch)",
        f"  modelled end to end, polling method: {s(result.modelled_polling_seconds)}   "
        "(max(QoS timeout + interval x healthy threshold, interval x unhealthy threshold) + switch)",
    ]
    if result.modelled_dns_seconds is not None:
        lines.append(
            f"  modelled DR DNS after the decision (promote-dr flips the DNS gates): {s(result.modelled_dns_seconds)}   "
            "(one health-check period + record TTL)"
        )
    lines += [f"  FAILED: {p}" for p in result.problems] or ["  ok: every listener ended on the new primary"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ops drill", description="Rehearse a primary loss locally and time both methods."
    )
    parser.add_argument("--settings-profile", default="reference")
    parser.add_argument("--interval", type=int, default=None, help="override the health-check interval (seconds)")
    parser.add_argument("--dry-run", action="store_true", help="print what the drill would do and stop")
    args = parser.parse_args(argv)
    if args.dry_run:
        print(__doc__)
        return 0
    result = run_drill(args.settings_profile, interval_override=args.interval)
    print(report(result))
    return 0 if result.ok else 1
