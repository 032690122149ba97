"""DR promotion (python -m ops promote-dr): the guards, the choice of member, fencing, resize and the DNS flip.

It runs against moto (CloudFormation, STS and EC2 of both regions)
and scripted SSM, Lambda, Route 53 and ELB clients, which moto cannot play
(it runs no SSM documents or functions, answers no DNS and reports no
health-check status). The script it runs on the members: tests/test_dr_member.py.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import types
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from moto import mock_aws

from config import SettingsError, load_settings
from ops import cli, dr
from ops.aws import CliError
from tests.conftest import cdk_json_context

SETTINGS = load_settings({**cdk_json_context(), "profile": "dev"}, {})
assert SETTINGS.dr is not None
DR_REGION, PRIMARY_REGION = SETTINGS.dr.region, SETTINGS.region
SET = SETTINGS.dr.mirror_sets[0]
PREFIX = SETTINGS.prefix
FUNCTION = f"{PREFIX}-DrRegion-retarget"
PRIMARY_FUNCTION = f"{PREFIX}-Mirror-{SET}-retarget"
DOCUMENT = f"{PREFIX}-DrRegion-DrMemberDocument-abc"
ZONE = "Z0123456789ABCDEFGHIJ"
RECORD = "iris.dev.example.org"
PRIMARY_ALB = "primary-alb-1.eu-west-1.elb.amazonaws.com"
DR_ALB = "dr-alb-1.eu-central-1.elb.amazonaws.com"
PRIMARY_GATE, DR_GATE = "hc-primary", "hc-dr"
PRIMARY_CHILDREN = ("hc-primary-member0", "hc-primary-member1")
DR_CHILDREN = ("hc-dr-dr", "hc-dr-dr1")
HEALTH_CHECK = {
    "port": 52773,
    "path": "/csp/bin/mirror_status.cxw",
    "timeout_seconds": 2,
    "interval_seconds": 5,
    "healthy_threshold": 2,
    "unhealthy_threshold": 2,
}


def status_line(member_type: str, status: str, journal: int | str, databases: int | str, primary: str) -> str:
    """What iris/dr_member.sh prints (with the prompt IRIS puts before it)."""
    return f"%SYS>IRIS_DR|{member_type}|{status}|{journal}|{databases}\n%SYS>IRIS_DR_PRIMARY|{primary}\n"


def promoted_line(name: str) -> str:
    return "IRIS_DR_PROMOTED|1\n" + status_line("Failover", "PRIMARY", 1, 1, name)


class FakeSsm:
    """SSM of one region: the retarget function's parameters, and each member's scripted answers
    to the DR member document (``answers[instance][action]``, a list: the last one repeats)."""

    def __init__(self, parameters: str, config: dict[str, Any], answers: dict[str, dict[str, list[str | None]]]) -> None:
        self.parameters, self.config, self.answers = parameters, config, answers
        self.sent: list[dict[str, Any]] = []

    def send_command(self, **kwargs: Any) -> dict[str, Any]:
        self.sent.append(kwargs)
        return {"Command": {"CommandId": f"cmd-{len(self.sent)}"}}

    def actions(self) -> list[tuple[str, str]]:
        return [(c["InstanceIds"][0], c["Parameters"]["action"][0]) for c in self.sent]

    def get_paginator(self, operation: str) -> Any:
        assert operation == "get_parameters_by_path"
        pages = [{"Parameters": [{"Name": f"{self.parameters}/{SET}", "Value": json.dumps(self.config)}]}]
        parameters = self.parameters

        class Paginator:
            def paginate(self, Path: str, Recursive: bool) -> list[dict[str, Any]]:  # boto3's names
                assert (Path, Recursive) == (parameters, False)
                return pages

        return Paginator()

    def get_command_invocation(self, CommandId: str, InstanceId: str) -> dict[str, Any]:  # boto3's names
        command = self.sent[int(CommandId.split("-")[1]) - 1]
        script = self.answers[InstanceId][command["Parameters"]["action"][0]]
        output = script.pop(0) if len(script) > 1 else script[0]
        if output is None:
            return {"Status": "Failed", "StandardErrorContent": "iris: command not found"}
        return {"Status": "Success", "StandardOutputContent": output}


class FakeLambda:
    def __init__(self, function: str, parameters: str) -> None:
        self.function, self.parameters = function, parameters
        self.payloads: list[dict[str, Any]] = []

    def get_function_configuration(self, FunctionName: str) -> dict[str, Any]:
        assert FunctionName == self.function
        variables = {"RETARGET_PARAMETERS": self.parameters, "RETARGET_HEALTH_CHECK": json.dumps(HEALTH_CHECK)}
        return {"Environment": {"Variables": variables}}

    def invoke(self, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        self.payloads.append(json.loads(Payload))
        body = {"mirror_set": SET, "previous": "DR", "new": self.payloads[-1]["new_primary"], "changed": True}
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(body).encode())}


class FakeRoute53:
    """The two DNS gates (calculated checks over their children), the children's status as Route 53's
    checkers report it, and the failover record's answer, which follows the gates."""

    def __init__(self, *, primary_healthy: bool = False, after_flip_polls: int = 1) -> None:
        self.checks = {
            PRIMARY_GATE: {"children": list(PRIMARY_CHILDREN), "threshold": 1, "version": 1},
            DR_GATE: {"children": list(DR_CHILDREN), "threshold": 1, "version": 1},
        }
        self.primary_healthy = primary_healthy
        self.after_flip_polls = after_flip_polls
        self.updates: list[dict[str, Any]] = []
        self.asked = 0

    def get_health_check(self, HealthCheckId: str) -> dict[str, Any]:
        check = self.checks[HealthCheckId]
        config = {"Type": "CALCULATED", "ChildHealthChecks": check["children"], "HealthThreshold": check["threshold"]}
        return {"HealthCheck": {"Id": HealthCheckId, "HealthCheckVersion": check["version"], "HealthCheckConfig": config}}

    def get_health_check_status(self, HealthCheckId: str) -> dict[str, Any]:
        if HealthCheckId in self.checks:
            raise AssertionError("GetHealthCheckStatus does not take a calculated health check")
        up = self.primary_healthy and HealthCheckId == PRIMARY_CHILDREN[0]
        status = "Success: the alarm is OK" if up else "Failure: the alarm is in the ALARM state"
        return {
            "HealthCheckObservations": [{"Region": r, "StatusReport": {"Status": status}} for r in ("us-east-1", "eu-west-1")]
        }

    def update_health_check(self, HealthCheckId: str, HealthCheckVersion: int, HealthThreshold: int) -> dict[str, Any]:
        check = self.checks[HealthCheckId]
        assert HealthCheckVersion == check["version"], "an update must name the version it read"
        check.update(threshold=HealthThreshold, version=check["version"] + 1)
        self.updates.append({"id": HealthCheckId, "threshold": HealthThreshold})
        return {}

    def flipped(self) -> bool:
        primary, dr_gate = self.checks.get(PRIMARY_GATE), self.checks[DR_GATE]
        return (primary is None or primary["threshold"] > len(primary["children"])) and dr_gate["threshold"] == 0

    def test_dns_answer(self, HostedZoneId: str, RecordName: str, RecordType: str) -> dict[str, Any]:
        assert (HostedZoneId, RecordName, RecordType) == (ZONE, RECORD, "CNAME")
        self.asked += 1
        if self.flipped():
            self.after_flip_polls -= 1
        return {"RecordData": [DR_ALB + "." if self.flipped() and self.after_flip_polls < 0 else PRIMARY_ALB + "."]}


class FakeElbv2:
    """The DR VIP's target health: the status page answers 503 (not primary) once the member runs."""

    def describe_target_health(self, TargetGroupArn: str) -> dict[str, Any]:
        return {"TargetHealthDescriptions": [{"TargetHealth": {"State": "unhealthy", "Reason": "Target.ResponseCodeMismatch"}}]}


class Dark:
    """A client of a region that does not answer: every call fails to connect."""

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            raise EndpointConnectionError(endpoint_url=f"https://{name}.{PRIMARY_REGION}.amazonaws.com")

        return call


@functools.cache
def client(name: str, region: str) -> Any:
    """One moto-backed client per service and region for the module: botocore builds each client anew from its
    service model (EC2's has some 600 operations), which cost this module about half its time."""
    return boto3.client(name, region_name=region)


class Region:
    def __init__(self, world: World, region: str) -> None:
        self.world, self.region = world, region

    def client(self, name: str, config: Any = None) -> Any:
        if self.region == PRIMARY_REGION and self.world.primary_dark:
            return Dark()
        fake = self.world.fakes.get((name, self.region))
        return fake if fake is not None else client(name, self.region)


class World:
    """Both regions: moto's CloudFormation, STS and EC2, and the scripted clients."""

    def __init__(self, dr_ssm: FakeSsm, route53: FakeRoute53) -> None:
        self.dr_lambda = FakeLambda(FUNCTION, f"/{PREFIX}-DrRegion/retarget")
        self.primary_lambda = FakeLambda(PRIMARY_FUNCTION, f"/{PREFIX}-Mirror-{SET}/retarget")
        self.dr_ssm, self.route53 = dr_ssm, route53
        self.primary_ssm = FakeSsm(self.primary_lambda.parameters, {}, {})
        self.fakes: dict[tuple[str, str], Any] = {
            ("ssm", DR_REGION): dr_ssm,
            ("lambda", DR_REGION): self.dr_lambda,
            ("route53", DR_REGION): route53,
            ("elbv2", DR_REGION): FakeElbv2(),
            ("ssm", PRIMARY_REGION): self.primary_ssm,
            ("lambda", PRIMARY_REGION): self.primary_lambda,
        }
        self.primary_dark = False
        self.sessions: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> Region:
        self.sessions.append(kwargs)
        return Region(self, kwargs["region_name"])


STACKS = (
    (DR_REGION, f"{PREFIX}-DrRegion", {dr.FUNCTION_OUTPUT: FUNCTION, dr.MEMBER_DOCUMENT_OUTPUT: DOCUMENT}),
    (
        DR_REGION,
        f"{PREFIX}-DrDns",
        {
            dr.ZONE_OUTPUT: ZONE,
            dr.RECORD_OUTPUT: RECORD,
            dr.DR_ENDPOINT_OUTPUT: DR_ALB,
            dr.PRIMARY_CHECK_OUTPUT: PRIMARY_GATE,
            dr.DR_CHECK_OUTPUT: DR_GATE,
        },
    ),
    (PRIMARY_REGION, f"{PREFIX}-Mirror-{SET}", {dr.FUNCTION_OUTPUT: PRIMARY_FUNCTION}),
)


class Deployment:
    """The instances of both regions (moto; the stacks are the module's), and what the members answer."""

    def __init__(self) -> None:
        dr_ec2, primary_ec2 = client("ec2", DR_REGION), client("ec2", PRIMARY_REGION)
        self.dr_instances = {
            name: self._instance(dr_ec2, f"{DR_REGION}{zone}", iops=(1000, 1000)) for name, zone in (("DR", "a"), ("DR1", "b"))
        }
        self.primary_instances = {name: self._instance(primary_ec2, f"{PRIMARY_REGION}a") for name in ("Member0", "Member1")}
        # The members as the member document answers: DR1 is the most current, both know DEV0 as primary.
        self.answers: dict[str, dict[str, list[str | None]]] = {
            self.dr_instances["DR"]: {"status": [status_line("Disaster Recovery", "CONNECTED", 3, 2, "DEV0")]},
            self.dr_instances["DR1"]: {"status": [status_line("Disaster Recovery", "CONNECTED", 1, 1, "DEV0")]},
        }
        for name, instance in self.dr_instances.items():
            self.answers[instance]["promote"] = [promoted_line(f"DEV{name}")]

    @staticmethod
    def _instance(ec2: Any, zone: str, iops: tuple[int, ...] = ()) -> str:
        instance = ec2.run_instances(
            ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.large", Placement={"AvailabilityZone": zone}
        )["Instances"][0]["InstanceId"]
        for device, volume_iops in zip(("/dev/sdf", "/dev/sdg"), iops, strict=False):
            volume = ec2.create_volume(AvailabilityZone=zone, Size=100, VolumeType="io1", Iops=volume_iops)["VolumeId"]
            ec2.attach_volume(VolumeId=volume, InstanceId=instance, Device=device)
        return str(instance)

    @staticmethod
    def stack(region: str, name: str, outputs: dict[str, str]) -> None:
        template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}, "Outputs": {k: {"Value": v} for k, v in outputs.items()}}
        client("cloudformation", region).create_stack(StackName=name, TemplateBody=json.dumps(template))

    def world(self, *, route53: FakeRoute53 | None = None) -> World:
        dr_config = {
            "listeners": ["arn:listener/1972"],
            "members": {
                name: {
                    "instance_id": instance,
                    "private_ip": f"10.21.12.{10 + i}",
                    "role": "async",
                    "target_groups": {"arn:listener/1972": f"arn:group/{name}"},
                }
                for i, (name, instance) in enumerate(sorted(self.dr_instances.items()))
            },
        }
        primary_config = {
            "listeners": ["arn:listener/1972"],
            "members": {
                name: {
                    "instance_id": instance,
                    "private_ip": f"10.20.12.{10 + i}",
                    "role": "failover",
                    "target_groups": {"arn:listener/1972": f"arn:group/{name}"},
                }
                for i, (name, instance) in enumerate(sorted(self.primary_instances.items()))
            },
        }
        world = World(FakeSsm(f"/{PREFIX}-DrRegion/retarget", dr_config, self.answers), route53 or FakeRoute53())
        world.primary_ssm.config = primary_config
        return world

    def state(self, region: str, instance: str) -> str:
        ec2 = client("ec2", region)
        return str(ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["State"]["Name"])

    def instance_type(self, instance: str) -> str:
        ec2 = client("ec2", DR_REGION)
        return str(ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["InstanceType"])


@pytest.fixture(scope="module")
def stacks() -> Iterator[None]:
    """One moto account for the module (starting moto costs seconds): the stacks of both regions."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": DR_REGION,
            "MOTO_ACCOUNT_ID": SETTINGS.account,
        }.items():
            patch.setenv(key, value)
        patch.delenv("AWS_PROFILE", raising=False)
        with mock_aws():
            for region, stack, outputs in STACKS:
                Deployment.stack(region, stack, outputs)
            yield
            client.cache_clear()  # this module's moto account ends here


@pytest.fixture
def deployment(stacks: None) -> Deployment:
    """Fresh instances for each test; the stacks stay as STACKS has them (a test that changes one puts it back)."""
    return Deployment()


def args(**overrides: Any) -> argparse.Namespace:
    values = {
        "mirror_set": SET,
        "acknowledge_data_loss": True,
        "dry_run": False,
        "aws_profile": None,
        "reason": None,
        "dns_timeout": 60,
        "member": None,
        "resize_to": None,
        "yes": True,
        "force_while_primary_healthy": False,
    }
    return argparse.Namespace(**{**values, **overrides})


class Run:
    """One promote-dr run: its printed lines, its log records and what it asked the person."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.logged: list[dict[str, Any]] = []
        self.asked: list[str] = []

    def __call__(self, world: World, *, answer: str | None = None, settings: Any = SETTINGS, **overrides: Any) -> int:
        def ask(prompt: str) -> str:
            self.asked.append(prompt)
            if answer is None:
                raise EOFError
            return answer

        return dr.promote(
            args(**overrides), settings, world, sleep=lambda _: None, out=self.lines.append, ask=ask, log=self.logged.append
        )

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def nothing_changed(deployment: Deployment, world: World) -> None:
    assert [a for _, a in world.dr_ssm.actions() if a != "status"] == []
    assert world.dr_lambda.payloads == [] and world.route53.updates == []
    assert {deployment.state(PRIMARY_REGION, i) for i in deployment.primary_instances.values()} == {"running"}
    assert {deployment.state(DR_REGION, i) for i in deployment.dr_instances.values()} == {"running"}


# --------------------------------------------------------------------------
# Refusals before anything is asked of AWS
# --------------------------------------------------------------------------


def test_without_the_acknowledgement_nothing_is_called_and_the_reason_is_given(capsys: pytest.CaptureFixture[str]) -> None:
    world = World(FakeSsm("", {}, {}), FakeRoute53())
    code = cli.main(["promote-dr", "--settings-profile", "dev", "--mirror-set", SET], session_factory=world)
    assert code == 2
    err = capsys.readouterr().err
    assert "can lose the transactions it has not received" in err and "--acknowledge-data-loss" in err
    assert "nothing was changed" in err
    assert world.sessions == []  # not even a session was opened


def test_the_deployment_must_be_named_there_is_no_default_profile(capsys: pytest.CaptureFixture[str]) -> None:
    world = World(FakeSsm("", {}, {}), FakeRoute53())
    with pytest.raises(SystemExit) as caught:
        cli.main(["promote-dr", "--mirror-set", SET, "--acknowledge-data-loss", "--yes"], session_factory=world)
    assert caught.value.code == 2
    assert "--settings-profile" in capsys.readouterr().err and world.sessions == []


def test_credentials_of_another_account_are_refused_before_any_stack_is_read(deployment: Deployment) -> None:
    world = deployment.world()
    other = SETTINGS.model_copy(update={"account": "111111111111"})
    with pytest.raises(CliError, match=r"account 000000000000, profile dev deploys to 111111111111") as caught:
        Run()(world, settings=other)
    assert caught.value.code == 2
    assert world.dr_ssm.sent == [] and world.route53.asked == 0
    nothing_changed(deployment, world)


# --------------------------------------------------------------------------
# The promotion
# --------------------------------------------------------------------------


def test_the_most_current_member_is_promoted_after_the_old_side_is_fenced(deployment: Deployment) -> None:
    world, run = deployment.world(), Run()
    assert run(world) == 0
    dr1 = deployment.dr_instances["DR1"]
    # Every member was asked; DR1 (1|1) is closer to the primary than DR (3|2).
    assert sorted(world.dr_ssm.actions()) == sorted(
        [(deployment.dr_instances["DR"], "status"), (dr1, "status"), (dr1, "promote")]
    )
    assert world.dr_ssm.actions()[-1] == (dr1, "promote")
    assert "chosen: DR1" in run.text and "the most current" in run.text
    # The old primary side is stopped before the promotion.
    assert {deployment.state(PRIMARY_REGION, i) for i in deployment.primary_instances.values()} == {"stopped"}
    assert run.text.index("stopped i-") < run.text.index("4. promoting DR1")
    (payload,) = world.dr_lambda.payloads
    assert (payload["new_primary"], payload["acknowledge_data_loss"]) == ("DR1", True)
    # The DNS gates: the DR gate opened first, then the primary gate closed above its child count.
    assert world.route53.updates == [
        {"id": DR_GATE, "threshold": 0},
        {"id": PRIMARY_GATE, "threshold": len(PRIMARY_CHILDREN) + 1},
    ]
    assert run.lines[-1].endswith("done")
    # Both regions were used, the DR region first: nothing else is asked of the primary one.
    assert [s["region_name"] for s in world.sessions] == [DR_REGION, PRIMARY_REGION]
    assert {"fence": "members", "instance_ids": sorted(deployment.primary_instances.values())} in run.logged


def test_member_names_the_member_to_promote_instead(deployment: Deployment) -> None:
    world, run = deployment.world(), Run()
    assert run(world, member="DR") == 0
    assert world.dr_ssm.actions()[-1] == (deployment.dr_instances["DR"], "promote")
    assert world.dr_lambda.payloads[0]["new_primary"] == "DR"
    with pytest.raises(CliError, match=r"no async member 'DR7' in the DR region; the set's async members: DR, DR1"):
        Run()(deployment.world(), member="DR7")


def test_members_that_disagree_about_the_primary_stop_the_promotion(deployment: Deployment) -> None:
    deployment.answers[deployment.dr_instances["DR"]]["status"] = [status_line("Disaster Recovery", "CONNECTED", 1, 1, "DEV1")]
    world = deployment.world()
    with pytest.raises(CliError, match=r"disagree about who is primary \(DR knows DEV1; DR1 knows DEV0\)") as caught:
        Run()(world)
    assert caught.value.code == 2
    nothing_changed(deployment, world)


def test_the_confirmation_must_name_the_mirror_set_and_the_region(deployment: Deployment) -> None:
    for answer in (None, SET, f"{SET} {PRIMARY_REGION}"):
        world, run = deployment.world(), Run()
        with pytest.raises(CliError, match=rf"the confirmation was not '{SET} {DR_REGION}': nothing was changed"):
            run(world, yes=False, answer=answer)
        assert len(run.asked) == 1 and "DR1" in run.asked[0]
        nothing_changed(deployment, world)
    run = Run()
    assert run(deployment.world(), yes=False, answer=f"{SET} {DR_REGION}") == 0


def test_a_healthy_primary_region_is_refused_unless_forced_and_the_force_is_logged(deployment: Deployment) -> None:
    world = deployment.world(route53=FakeRoute53(primary_healthy=True))
    with pytest.raises(
        CliError, match=rf"still looks healthy to Route 53 \(checks {PRIMARY_CHILDREN[0]} .*--force-while"
    ) as caught:
        Run()(world)
    assert caught.value.code == 2 and world.dr_ssm.sent == []
    nothing_changed(deployment, world)
    world, run = deployment.world(route53=FakeRoute53(primary_healthy=True)), Run()
    assert run(world, force_while_primary_healthy=True) == 0
    assert run.logged[0]["force_while_primary_healthy"] is True and run.logged[0]["healthy_checks"] == [PRIMARY_CHILDREN[0]]
    # The DR retarget function's log keeps it too.
    assert "--force-while-primary-healthy" in world.dr_lambda.payloads[0]["reason"]


def test_a_primary_region_that_does_not_answer_is_not_fenced_and_the_promotion_goes_on(deployment: Deployment) -> None:
    world, run = deployment.world(), Run()
    world.primary_dark = True
    assert run(world) == 0
    assert "the primary region does not answer" in run.text and "NOT FENCED" in run.text
    assert {"fence": "unreachable", "instance_ids": []} in run.logged
    assert world.dr_lambda.payloads and run.lines[-1].endswith("done")


def test_the_hybrid_model_has_nothing_in_aws_to_fence_or_ask_about_the_primary(deployment: Deployment) -> None:
    """The hybrid profile's shape (settings.hybrid, no dr): the async members are in the profile's
    region, the failover pair on premises; here without a DNS stack either."""
    hybrid = types.SimpleNamespace(
        profile="hybrid", account=SETTINGS.account, prefix=PREFIX, region=DR_REGION, dr=None, hybrid=types.SimpleNamespace()
    )
    cloudformation = client("cloudformation", DR_REGION)
    cloudformation.delete_stack(StackName=f"{PREFIX}-DrDns")
    try:
        world, run = deployment.world(), Run()
        assert run(world, settings=hybrid) == 0
        assert "no primary region in AWS to ask" in run.text
        assert "no failover pair in AWS (the hybrid model" in run.text and "fence the primary where it runs" in run.text
        assert world.dr_ssm.actions()[-1] == (deployment.dr_instances["DR1"], "promote")
        assert world.dr_lambda.payloads[0]["new_primary"] == "DR1"
        assert world.route53.updates == [] and "no DNS stack" in run.lines[-1]
        # Nothing was asked of another region.
        assert {s["region_name"] for s in world.sessions} <= {DR_REGION}
        assert {deployment.state(PRIMARY_REGION, i) for i in deployment.primary_instances.values()} == {"running"}
    finally:
        deployment.stack(*STACKS[1])


def test_the_cloud_model_needs_its_dns_stack(deployment: Deployment) -> None:
    cloudformation = client("cloudformation", DR_REGION)
    cloudformation.delete_stack(StackName=f"{PREFIX}-DrDns")
    try:
        with pytest.raises(Exception, match=rf"{PREFIX}-DrDns"):
            Run()(deployment.world())
    finally:
        deployment.stack(*STACKS[1])


def test_a_failed_promotion_stops_before_the_vip_and_dns(deployment: Deployment) -> None:
    dr1 = deployment.dr_instances["DR1"]
    deployment.answers[dr1]["promote"] = ["IRIS_DR_PROMOTED|0\n" + status_line("Disaster Recovery", "CONNECTED", 1, 1, "DEV0")]
    world = deployment.world()
    with pytest.raises(CliError, match=r"DR1 reports Disaster Recovery / CONNECTED, not Failover / PRIMARY"):
        Run()(world)
    assert world.dr_lambda.payloads == [] and world.route53.updates == []


def test_a_member_that_does_not_answer_is_passed_over(deployment: Deployment) -> None:
    deployment.answers[deployment.dr_instances["DR1"]]["status"] = [None]
    world, run = deployment.world(), Run()
    assert run(world) == 0
    assert "DR1 (" in run.text and "no answer" in run.text and "chosen: DR (" in run.text


def test_dns_that_does_not_follow_is_a_failure_naming_the_record(deployment: Deployment) -> None:
    world = deployment.world(route53=FakeRoute53(after_flip_polls=99))
    with pytest.raises(CliError, match=rf"Route 53 still answers {RECORD} with {PRIMARY_ALB} after 0 s"):
        Run()(world, dns_timeout=0)


# --------------------------------------------------------------------------
# Resize on promotion
# --------------------------------------------------------------------------


def test_resize_stops_changes_the_type_and_starts_before_the_promotion(deployment: Deployment) -> None:
    world, run = deployment.world(), Run()
    dr1 = deployment.dr_instances["DR1"]
    assert run(world, resize_to="r6i.large") == 0
    assert deployment.instance_type(dr1) == "r6i.large" and deployment.state(DR_REGION, dr1) == "running"
    assert "resize t3.large -> r6i.large: 2000 provisioned IOPS, the type sustains 3600" in run.text
    # IRIS was asked again after the start, and the promotion came after the resize.
    assert world.dr_ssm.actions()[-2:] == [(dr1, "status"), (dr1, "promote")]
    assert run.text.index("3. resizing") < run.text.index("status page answers the DR VIP") < run.text.index("4. promoting")


def test_the_settings_type_is_used_when_no_type_is_given(deployment: Deployment) -> None:
    settings = SETTINGS.model_copy(update={"dr": SETTINGS.dr.model_copy(update={"promoted_instance_type": "m6i.large"})})
    assert Run()(deployment.world(), settings=settings) == 0
    assert deployment.instance_type(deployment.dr_instances["DR1"]) == "m6i.large"


def test_a_type_that_cannot_carry_the_volumes_iops_is_refused_before_anything_changes(deployment: Deployment) -> None:
    world = deployment.world()
    with pytest.raises(
        CliError, match=r"t3.micro: it sustains at most 500 EBS IOPS but i-\w+'s 2 data volumes provision 2000"
    ) as e:
        Run()(world, resize_to="t3.micro")
    assert e.value.code == 2
    nothing_changed(deployment, world)
    assert deployment.instance_type(deployment.dr_instances["DR1"]) == "t3.large"
    with pytest.raises(CliError, match=r"no known EBS IOPS limit for it"):
        Run()(deployment.world(), resize_to="x9.huge")


def test_a_promoted_type_that_cannot_carry_the_volumes_is_a_settings_error() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({**cdk_json_context(), "profile": "dev", "dr.promoted_instance_type": "t3.micro"}, {})
    (line,) = [line for line in caught.value.lines if "dr.promoted_instance_type" in line]
    assert line.startswith("invalid setting dr.promoted_instance_type='t3.micro'") or line.startswith(
        "invalid setting dr.promoted_instance_type=t3.micro"
    )
    assert "t3.micro sustains at most 500 EBS IOPS" in line and "\n" not in line


# --------------------------------------------------------------------------
# Dry run, DNS model
# --------------------------------------------------------------------------


def test_the_dry_run_lists_every_step_and_changes_nothing(deployment: Deployment) -> None:
    world, run = deployment.world(), Run()
    assert run(world, dry_run=True, resize_to="r6i.large", yes=False) == 0
    steps = [line.strip()[:2] for line in run.lines if line.startswith("  ")]
    assert steps == ["1.", "2.", "3.", "4.", "5.", "6.", "7.", "8."]
    text = run.text
    for expected in (
        DOCUMENT,
        "DR (i-",
        "DR1 (i-",
        f"type '{SET} {DR_REGION}'",
        *(f"stop {', '.join(sorted(deployment.primary_instances.values()))}",),
        "t3.large -> r6i.large (2000 IOPS, sustains 3600)",
        FUNCTION,
        f"DR gate {DR_GATE}: threshold 1 -> 0",
        f"primary gate {PRIMARY_GATE}: threshold 1 -> 3",
        RECORD,
    ):
        assert expected in text, expected
    assert run.asked == [] and world.dr_ssm.sent == []
    nothing_changed(deployment, world)


def test_dns_follows_within_90_s_of_the_decision_with_the_shipped_settings() -> None:
    for profile in ("reference", "dev"):
        settings = load_settings({**cdk_json_context(), "profile": profile}, {})
        assert settings.dr is not None
        d = settings.dr.dns
        assert dr.modelled_dns_seconds(settings) == d.ttl_seconds + d.health_check_period_seconds <= 90


def test_the_status_line_is_parsed_among_the_session_banner() -> None:
    status = dr.MemberStatus.parse("Node: dr1, Instance: IRIS\n\n%SYS>IRIS_DR|Disaster Recovery|CONNECTED|1|1\n%SYS>\n")
    assert (status.member_type, status.status, status.caught_up, status.is_primary, status.primary) == (
        "Disaster Recovery",
        "CONNECTED",
        True,
        False,
        "",
    )
    assert dr.MemberStatus.parse(status_line("Disaster Recovery", "CONNECTED", 4, 2, "DEV0")).distance == (4, 2)
    assert dr.MemberStatus.parse(status_line("Disaster Recovery", "Waiting", "", -1, "")).distance is None
    with pytest.raises(CliError, match="no status line"):
        dr.MemberStatus.parse("%SYS>\n<UNDEFINED>\n")
