"""Promote a mirror set's async DR member: a person's decision, then the documented sequence.

    python -m ops promote-dr --settings-profile reference --mirror-set HSDB --acknowledge-data-loss
        [--member DR1] [--resize-to r6i.4xlarge] [--yes] [--force-while-primary-healthy] [--dry-run]

The steps, in this order (docs/runbook-dr.md says why):

 1. Guards that need no AWS: ``--acknowledge-data-loss``; ``--yes`` only with it.
 2. The caller's account (STS) is the profile's account.
 3. Read the DR region's stacks: the set's async members (the DR retarget
    function's configuration: every member of role async), the SSM document,
    the DNS gates.
 4. The primary must be down: no child of the primary DNS gate (one Route 53
    check per primary VIP alarm) may be healthy, unless
    ``--force-while-primary-healthy``, which is printed and passed to the DR
    retarget function, whose log keeps it.
 5. Ask every async member its status (SSM): the distances from the primary
    and the primary it knows of. Members that disagree about the primary stop
    the promotion; the most current member (the smallest
    DistanceFromPrimary, journal files then databases) is chosen unless
    ``--member`` names one.
 6. With ``--resize-to`` or ``dr.promoted_instance_type``: the new type's EBS
    limit (config/ebs_limits.py) against the chosen member's volumes' IOPS.
 7. Typed confirmation of the mirror set and the DR region, unless ``--yes``.
 8. Fence the old primary side: stop the set's failover members in the
    primary region, where it answers. The primary region not answering, or a
    set with no failover pair in AWS (the hybrid model: the primary is on
    premises), is reported and the promotion goes on: the person fences it.
 9. Resize: stop, change the type, start, wait for IRIS and the status page.
10. Promote: SYS.Mirror PromoteWithNoPartner() (SSM), expect PRIMARY.
11. Point the DR VIP at it (the DR retarget function).
12. Flip the DNS gates: the DR gate's threshold to 0 (always healthy), then
    the primary gate's above its child count (always unhealthy).
13. Wait until Route 53 answers the application's name with the DR region.

Only steps 2 to 6 run with ``--dry-run``, read-only; every step is printed.
Nothing at all is called without ``--acknowledge-data-loss``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import retarget
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from config import Settings
from config.ebs_limits import EBS_IOPS_LIMITS
from ops.aws import CliError, invoke_retarget, stack_outputs

MEMBER_DOCUMENT_OUTPUT = "DrMemberDocumentName"
FUNCTION_OUTPUT = "RetargetFunctionName"
ZONE_OUTPUT = "HostedZoneId"
RECORD_OUTPUT = "RecordName"
DR_ENDPOINT_OUTPUT = "DrEndpoint"
PRIMARY_CHECK_OUTPUT = "PrimaryHealthCheckId"
DR_CHECK_OUTPUT = "DrHealthCheckId"
# SYS.Mirror's DistanceFromPrimary*() answer 1 when nothing is outstanding.
CAUGHT_UP = "1"
PRIMARY_STATUS = "PRIMARY"
DR_TYPE = "Disaster Recovery"
FAILOVER_TYPE = "Failover"
POLL_SECONDS = 5
SSM_TIMEOUT_SECONDS = 300
INSTANCE_TIMEOUT_SECONDS = 600
# A dark region must not hold the promotion for minutes: few, short attempts.
PRIMARY_REGION_CLIENT = BotoConfig(connect_timeout=5, read_timeout=20, retries={"max_attempts": 2, "mode": "standard"})
# Answers of a region that is not there, as far as promote-dr is concerned.
UNREACHABLE_CODES = frozenset({"ServiceUnavailable", "InternalError", "InternalFailure", "RequestTimeout", "Unavailable"})
# A page that answers, whatever it says: healthy (200), or any other HTTP code.
PAGE_ANSWERS = ("Target.ResponseCodeMismatch",)


@dataclass(frozen=True)
class MemberStatus:
    """What iris/dr_member.sh reports: member type, mirror status, the two distances from the
    primary, and the primary failover member this member knows of ("" when it knows none)."""

    member_type: str
    status: str
    journal_files: str
    databases: str
    primary: str = ""

    @property
    def caught_up(self) -> bool:
        return self.journal_files == CAUGHT_UP and self.databases == CAUGHT_UP

    @property
    def is_primary(self) -> bool:
        return self.member_type == FAILOVER_TYPE and self.status.upper() == PRIMARY_STATUS

    @property
    def distance(self) -> tuple[int, int] | None:
        """(journal files, databases) behind the primary; None when the member cannot say."""
        try:
            distance = int(self.journal_files), int(self.databases)
        except ValueError:
            return None
        return distance if min(distance) >= 0 else None

    @classmethod
    def parse(cls, output: str) -> MemberStatus:
        status: list[str] | None = None
        primary = ""
        for line in output.splitlines():
            for marker in ("IRIS_DR_PRIMARY|", "IRIS_DR|"):
                at = line.find(marker)
                if at < 0:
                    continue
                fields = [f.strip() for f in line[at:].strip().split("|")]
                if marker == "IRIS_DR|" and len(fields) == 5:
                    status = fields[1:]
                elif marker == "IRIS_DR_PRIMARY|" and len(fields) == 2:
                    primary = fields[1]
                break
        if status is None:
            raise CliError(f"the DR member gave no status line (IRIS_DR|...); it printed: {output.strip()[:300]!r}")
        member_type, mirror_status, journal_files, databases = status
        return cls(member_type, mirror_status, journal_files, databases, primary)

    def describe(self) -> str:
        return (
            f"{self.member_type} / {self.status}, journal files {self.journal_files}, databases {self.databases}"
            f", knows {self.primary or 'no primary'}"
        )


@dataclass(frozen=True)
class Candidate:
    """One async member of the set in the DR region, from the DR retarget function's configuration."""

    name: str
    instance_id: str
    target_groups: tuple[str, ...]


@dataclass(frozen=True)
class DrTarget:
    """Where promotion acts, read from the DR region's stacks."""

    function_name: str
    document: str
    members: tuple[Candidate, ...]
    # The application's name; None: no DNS stack (the hybrid model without one).
    zone_id: str | None
    record_name: str | None
    dr_endpoint: str | None
    # The DNS gates (stacks/dr_dns.py); no primary gate: no primary region in AWS to follow.
    primary_check: str | None
    dr_check: str | None

    def member(self, name: str) -> Candidate:
        for candidate in self.members:
            if name in (candidate.name, candidate.instance_id):
                return candidate
        known = ", ".join(c.name for c in self.members)
        raise CliError(f"no async member {name!r} in the DR region; the set's async members: {known}", 2)


@dataclass(frozen=True)
class Side:
    """Where the async members are, and what the model has of the primary side in AWS."""

    region: str
    # The hybrid model: the failover pair is on premises; nothing of the primary side is in AWS.
    hybrid: bool
    dns_seconds: int | None
    promoted_instance_type: str | None


def dr_side(settings: Settings) -> Side:
    """The cloud model's DR region (``dr``), or the hybrid model's AWS region (``hybrid``: the async
    members are in ``region``, their failover pair on premises)."""
    if settings.dr is not None:
        return Side(settings.dr.region, False, modelled_dns_seconds(settings), settings.dr.promoted_instance_type)
    hybrid = getattr(settings, "hybrid", None)
    if hybrid is not None:
        return Side(settings.region, True, None, getattr(hybrid, "promoted_instance_type", None))
    raise CliError(f"profile {settings.profile} has no async DR members (neither dr nor hybrid is set)", 2)


def find_target(session: Any, settings: Settings, mirror_set: str, *, hybrid: bool = False) -> DrTarget:
    """The DR region's stacks; the hybrid model may have no DNS stack (no AWS name fails over to it)."""
    cloudformation = session.client("cloudformation")
    hint = "deploy the DR region's stacks first"
    region = stack_outputs(cloudformation, f"{settings.prefix}-DrRegion", (FUNCTION_OUTPUT, MEMBER_DOCUMENT_OUTPUT), hint)
    dns_names = (ZONE_OUTPUT, RECORD_OUTPUT, DR_ENDPOINT_OUTPUT)
    dns: dict[str, str | None] = dict.fromkeys(dns_names)
    gates: dict[str, str] = {}
    try:
        dns.update(stack_outputs(cloudformation, f"{settings.prefix}-DrDns", dns_names, hint))
        gates = _optional_outputs(cloudformation, f"{settings.prefix}-DrDns", (PRIMARY_CHECK_OUTPUT, DR_CHECK_OUTPUT))
    except ClientError as err:
        if not (hybrid and "does not exist" in str(err)):
            raise
    try:
        config = retarget.deployed_config(session.client("lambda"), session.client("ssm"), region[FUNCTION_OUTPUT])
        members = retarget.resolve_set(config, mirror_set).members.values()
    except retarget.RetargetError as err:
        raise CliError(f"the DR retarget function: {err}", 2) from None
    candidates = tuple(
        Candidate(m.name, m.instance_id, tuple(sorted(m.target_groups.values())))
        for m in sorted(members, key=lambda m: m.name)
        if m.role == retarget.ASYNC
    )
    if not candidates:
        raise CliError(f"the DR retarget function knows no async member of {mirror_set}", 2)
    return DrTarget(
        function_name=region[FUNCTION_OUTPUT],
        document=region[MEMBER_DOCUMENT_OUTPUT],
        members=candidates,
        zone_id=dns[ZONE_OUTPUT],
        record_name=dns[RECORD_OUTPUT],
        dr_endpoint=dns[DR_ENDPOINT_OUTPUT],
        primary_check=gates.get(PRIMARY_CHECK_OUTPUT),
        dr_check=gates.get(DR_CHECK_OUTPUT),
    )


def _optional_outputs(cloudformation: Any, stack: str, names: tuple[str, ...]) -> dict[str, str]:
    outputs = cloudformation.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    return {o["OutputKey"]: o["OutputValue"] for o in outputs if o["OutputKey"] in names}


def run_on_member(
    ssm: Any, document: str, instance_id: str, action: str, *, comment: str = "", sleep: Callable[[float], None] = time.sleep
) -> str:
    """Run the DR member document with ``action``; its standard output, or CliError."""
    command = ssm.send_command(
        InstanceIds=[instance_id],
        DocumentName=document,
        Parameters={"action": [action]},
        TimeoutSeconds=SSM_TIMEOUT_SECONDS,
        Comment=f"promote-dr: {action}{comment}"[:100],
    )["Command"]["CommandId"]
    for _ in range(SSM_TIMEOUT_SECONDS // POLL_SECONDS):
        sleep(POLL_SECONDS)
        try:
            result = ssm.get_command_invocation(CommandId=command, InstanceId=instance_id)
        except ClientError as err:
            if err.response["Error"]["Code"] == "InvocationDoesNotExist":
                continue  # not registered yet
            raise
        if result["Status"] == "Success":
            return str(result.get("StandardOutputContent", ""))
        if result["Status"] in ("Failed", "Cancelled", "TimedOut", "Undeliverable", "Terminated"):
            error = str(result.get("StandardErrorContent", "")).strip()[:300]
            raise CliError(f"{action} on {instance_id} ended {result['Status']}: {error}")
    raise CliError(f"{action} on {instance_id} did not finish within {SSM_TIMEOUT_SECONDS} s")


def modelled_dns_seconds(settings: Settings) -> int:
    """From the DNS gates' flip to resolvers answering the DR region: one health-check period for
    Route 53 to act on the gates, then one TTL for resolvers' cached answers to expire."""
    assert settings.dr is not None
    d = settings.dr.dns
    return d.health_check_period_seconds + d.ttl_seconds


# --------------------------------------------------------------------------
# Choosing the member
# --------------------------------------------------------------------------


def choose_member(
    statuses: Mapping[str, MemberStatus | CliError], requested: str | None, target: DrTarget
) -> tuple[Candidate, MemberStatus]:
    """The member to promote: ``requested``, else the most current; CliError (2) when the members
    disagree about the primary, none answered, or the requested one cannot be promoted."""
    answered = {name: s for name, s in statuses.items() if isinstance(s, MemberStatus)}
    primaries = {s.primary for s in answered.values() if s.primary and not s.is_primary}
    if len(primaries) > 1:
        views = "; ".join(f"{name} knows {s.primary or 'none'}" for name, s in sorted(answered.items()))
        raise CliError(
            f"the async members disagree about who is primary ({views}): nothing was changed; "
            "find out which primary the data came from before promoting (docs/runbook-dr.md)",
            2,
        )
    promoted = [name for name, s in answered.items() if s.is_primary]
    if requested is not None:
        chosen = target.member(requested)
        status = statuses.get(chosen.name)
        if not isinstance(status, MemberStatus):
            raise CliError(f"{chosen.name} did not answer its status: {status}; nothing was changed", 2)
        if promoted and promoted != [chosen.name]:
            raise CliError(f"{', '.join(promoted)} is primary already: promote no other member; nothing was changed", 2)
        if not status.is_primary and status.member_type != DR_TYPE:
            raise CliError(f"{chosen.name} is a {status.member_type!r} member, not {DR_TYPE!r}: not promoted", 2)
        return chosen, status
    if promoted:  # a promotion that stopped half way: go on with that member
        (name,) = promoted[:1]
        return target.member(name), answered[name]
    eligible = {name: s for name, s in answered.items() if s.member_type == DR_TYPE}
    if not eligible:
        reasons = "; ".join(f"{name}: {s if isinstance(s, CliError) else s.describe()}" for name, s in sorted(statuses.items()))
        raise CliError(f"no async member can be promoted ({reasons}); nothing was changed", 2)
    far = (1 << 62, 1 << 62)
    name = min(eligible, key=lambda n: (eligible[n].distance or far, n))
    return target.member(name), eligible[name]


# --------------------------------------------------------------------------
# Resize
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Resize:
    instance_id: str
    current: str
    new: str
    iops: int
    limit: int


def resize_check(ec2: Any, instance_id: str, new_type: str) -> Resize:
    """The resize of ``instance_id`` to ``new_type``, refused (CliError 2) when the type's sustained
    EBS IOPS (config/ebs_limits.py) are below what its data volumes provision."""
    (reservation,) = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    (instance,) = reservation["Instances"]
    root = instance.get("RootDeviceName")
    volume_ids = [m["Ebs"]["VolumeId"] for m in instance.get("BlockDeviceMappings", []) if m["DeviceName"] != root]
    volumes = ec2.describe_volumes(VolumeIds=volume_ids)["Volumes"] if volume_ids else []
    iops = sum(int(v.get("Iops") or 0) for v in volumes)
    limit = EBS_IOPS_LIMITS.get(new_type)
    if limit is None:
        raise CliError(f"--resize-to {new_type}: no known EBS IOPS limit for it (config/ebs_limits.py): nothing was changed", 2)
    if iops > limit:
        raise CliError(
            f"--resize-to {new_type}: it sustains at most {limit} EBS IOPS but {instance_id}'s "
            f"{len(volumes)} data volumes provision {iops}: choose a larger type; nothing was changed",
            2,
        )
    return Resize(instance_id, instance["InstanceType"], new_type, iops, limit)


def _wait_instance(ec2: Any, instance_id: str, state: str, sleep: Callable[[float], None]) -> None:
    for _ in range(INSTANCE_TIMEOUT_SECONDS // POLL_SECONDS):
        (reservation,) = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        if reservation["Instances"][0]["State"]["Name"] == state:
            return
        sleep(POLL_SECONDS)
    raise CliError(f"{instance_id} is not {state} after {INSTANCE_TIMEOUT_SECONDS} s")


def _until(what: str, probe: Callable[[], bool], sleep: Callable[[float], None], seconds: int = SSM_TIMEOUT_SECONDS) -> None:
    for _ in range(max(1, seconds // POLL_SECONDS)):
        if probe():
            return
        sleep(POLL_SECONDS)
    raise CliError(f"{what} after {seconds} s")


def do_resize(
    session: Any, target: DrTarget, member: Candidate, resize: Resize, out: Callable[[str], None], sleep: Callable[[float], None]
) -> None:
    """Stop, change the type, start; then wait until IRIS answers its status and the status page answers the VIP."""
    ec2 = session.client("ec2")
    ec2.stop_instances(InstanceIds=[member.instance_id])
    _wait_instance(ec2, member.instance_id, "stopped", sleep)
    ec2.modify_instance_attribute(InstanceId=member.instance_id, InstanceType={"Value": resize.new})
    ec2.start_instances(InstanceIds=[member.instance_id])
    _wait_instance(ec2, member.instance_id, "running", sleep)
    out(f"   {member.instance_id} runs as {resize.new}; waiting for IRIS")
    ssm = session.client("ssm")

    def iris_answers() -> bool:
        try:
            run_on_member(ssm, target.document, member.instance_id, "status", sleep=sleep)
        except CliError:
            return False
        return True

    _until(f"IRIS on {member.instance_id} does not answer", iris_answers, sleep, INSTANCE_TIMEOUT_SECONDS)
    elbv2 = session.client("elbv2")

    def page_answers() -> bool:
        for group in member.target_groups:
            for health in elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]:
                state = health["TargetHealth"]
                if state["State"] == "healthy" or state.get("Reason") in PAGE_ANSWERS:
                    return True
        return False

    _until(f"the status page of {member.instance_id} does not answer the DR VIP", page_answers, sleep)
    out("   IRIS answers, and its status page answers the DR VIP")


# --------------------------------------------------------------------------
# The primary side: is it down, and fencing it
# --------------------------------------------------------------------------


def primary_health(route53: Any, check_id: str) -> dict[str, bool | None]:
    """Each child of the primary gate: healthy (most Route 53 checkers report success), unhealthy,
    or None when Route 53 reports nothing. GetHealthCheckStatus does not take calculated checks."""
    gate = route53.get_health_check(HealthCheckId=check_id)["HealthCheck"]
    states: dict[str, bool | None] = {}
    for child in gate["HealthCheckConfig"].get("ChildHealthChecks", []):
        observations = route53.get_health_check_status(HealthCheckId=child)["HealthCheckObservations"]
        good = sum(str(o.get("StatusReport", {}).get("Status", "")).startswith("Success") for o in observations)
        states[child] = None if not observations else 2 * good > len(observations)
    return states


@dataclass(frozen=True)
class Fence:
    """The old primary side of the set: its failover members in the primary region."""

    outcome: str  # "members": instance_ids to stop; "absent": no failover pair in AWS; "unreachable"
    instance_ids: tuple[str, ...] = ()
    detail: str = ""


ON_PREMISES = Fence("absent", detail="the hybrid model: the failover pair is on premises")


def find_fence(session: Any, settings: Settings, mirror_set: str) -> Fence:
    """The failover members of ``mirror_set`` in the primary region, from its mirror set stack's
    retarget function; "absent" when the stack does not exist, "unreachable" when the region does not answer."""
    stack = f"{settings.prefix}-Mirror-{mirror_set}"
    try:
        cloudformation = session.client("cloudformation", config=PRIMARY_REGION_CLIENT)
        try:
            outputs = stack_outputs(cloudformation, stack, (FUNCTION_OUTPUT,), "redeploy the mirror set's stack")
        except ClientError as err:
            if err.response["Error"]["Code"] == "ValidationError" and "does not exist" in str(err):
                return Fence("absent", detail=f"no stack {stack} in {settings.region}")
            raise
        config = retarget.deployed_config(
            session.client("lambda", config=PRIMARY_REGION_CLIENT),
            session.client("ssm", config=PRIMARY_REGION_CLIENT),
            outputs[FUNCTION_OUTPUT],
        )
        members = retarget.resolve_set(config, mirror_set).members.values()
    except (BotoCoreError, retarget.ConfigError) as err:
        return Fence("unreachable", detail=str(err)[:200])
    except ClientError as err:
        if err.response["Error"]["Code"] in UNREACHABLE_CODES:
            return Fence("unreachable", detail=str(err)[:200])
        raise
    failover = tuple(sorted(m.instance_id for m in members if m.role == retarget.FAILOVER))
    return Fence("members", failover) if failover else Fence("absent", detail=f"{stack} names no failover member")


def do_fence(session: Any, fence: Fence, out: Callable[[str], None], sleep: Callable[[float], None]) -> bool:
    """Stop the old primary side's members and wait until they are stopped; False when the region
    stopped answering on the way (reported; the person finishes it by the runbook)."""
    try:
        ec2 = session.client("ec2", config=PRIMARY_REGION_CLIENT)
        ec2.stop_instances(InstanceIds=list(fence.instance_ids))
        for instance_id in fence.instance_ids:
            _wait_instance(ec2, instance_id, "stopped", sleep)
    except BotoCoreError as err:
        out(f"   the primary region stopped answering while fencing: {str(err)[:200]}")
        return False
    except ClientError as err:
        if err.response["Error"]["Code"] in UNREACHABLE_CODES:
            out(f"   the primary region stopped answering while fencing: {str(err)[:200]}")
            return False
        raise
    return True


# --------------------------------------------------------------------------
# DNS
# --------------------------------------------------------------------------


def gate_thresholds(route53: Any, target: DrTarget) -> list[tuple[str, str, int, int]]:
    """(name, check id, current threshold, threshold after promotion) of each DNS gate, DR gate first:
    DR 0 (Route 53 always considers it healthy), primary above its child count (always unhealthy)."""
    gates = []
    for name, check_id in (("DR", target.dr_check), ("primary", target.primary_check)):
        if check_id is None:
            continue
        config = route53.get_health_check(HealthCheckId=check_id)["HealthCheck"]["HealthCheckConfig"]
        children = len(config.get("ChildHealthChecks", []))
        gates.append((name, check_id, int(config.get("HealthThreshold", 1)), 0 if name == "DR" else children + 1))
    return gates


def flip_gates(route53: Any, target: DrTarget) -> list[str]:
    done = []
    for name, check_id, current, wanted in gate_thresholds(route53, target):
        if current != wanted:
            version = route53.get_health_check(HealthCheckId=check_id)["HealthCheck"]["HealthCheckVersion"]
            route53.update_health_check(HealthCheckId=check_id, HealthCheckVersion=version, HealthThreshold=wanted)
        done.append(f"{name} gate {check_id}: health threshold {current} -> {wanted}")
    return done


def dns_answers(route53: Any, target: DrTarget) -> list[str]:
    answer = route53.test_dns_answer(HostedZoneId=target.zone_id, RecordName=target.record_name, RecordType="CNAME")
    return [data.rstrip(".").lower() for data in answer.get("RecordData", [])]


# --------------------------------------------------------------------------
# The sequence
# --------------------------------------------------------------------------


def log_event(record: dict[str, Any]) -> None:
    """One JSON line on standard error: what an operator's terminal log or a wrapper keeps."""
    print(json.dumps({"event": "promote-dr", **record}, sort_keys=True), file=sys.stderr)


def promote(
    args: argparse.Namespace,
    settings: Settings,
    session_factory: Callable[..., Any],
    *,
    sleep: Callable[[float], None] = time.sleep,
    out: Callable[[str], None] = print,
    ask: Callable[[str], str] = input,
    log: Callable[[dict[str, Any]], None] = log_event,
) -> int:
    """The promotion sequence; raises CliError when a step fails or is refused."""
    side = dr_side(settings)
    if not args.acknowledge_data_loss:
        raise CliError(
            "promoting an async DR member can lose the transactions it has not received; "
            "a person must decide: add --acknowledge-data-loss (nothing was changed)",
            2,
        )
    dr_region, mirror_set = side.region, args.mirror_set
    session = session_factory(profile_name=args.aws_profile, region_name=dr_region)

    identity = session.client("sts").get_caller_identity()
    if identity["Account"] != settings.account:
        raise CliError(
            f"these credentials are of account {identity['Account']}, profile {settings.profile} deploys to "
            f"{settings.account}: nothing was changed (choose --aws-profile or --settings-profile)",
            2,
        )
    target = find_target(session, settings, mirror_set, hybrid=side.hybrid)
    dns_wait = args.dns_timeout if args.dns_timeout is not None else 2 * (side.dns_seconds or 0)
    route53 = session.client("route53")
    forced = bool(args.force_while_primary_healthy)

    # 4. The primary must be down.
    if target.primary_check is None:
        out(
            "primary health: no primary region in AWS to ask (no primary DNS gate): the person's "
            "confirmation is the only evidence that the primary is down"
        )
    else:
        states = primary_health(route53, target.primary_check)
        healthy = sorted(check for check, up in states.items() if up is not False)
        if healthy and not forced:
            raise CliError(
                f"the primary region still looks healthy to Route 53 (checks {', '.join(healthy)} are healthy or "
                "report nothing): promote only when the primary is down, or add --force-while-primary-healthy "
                "(a split brain is then yours to prevent); nothing was changed",
                2,
            )
        if healthy:
            out(f"primary health: checks {', '.join(healthy)} still healthy: going on as --force-while-primary-healthy asks")
            log({"force_while_primary_healthy": True, "healthy_checks": healthy, "caller": identity.get("Arn")})
        else:
            out(f"primary health: all {len(states)} checks of the primary gate are unhealthy")

    resize_to = args.resize_to or side.promoted_instance_type
    where = f"{mirror_set} in {dr_region}"
    if args.dry_run:
        return _dry_run(session, session_factory, args, settings, side, target, resize_to, dns_wait, out)

    # 5. Every member's status, then the choice.
    ssm = session.client("ssm")
    statuses: dict[str, MemberStatus | CliError] = {}
    out(f"1. asking the {len(target.members)} async members of {where} for their mirror status")
    for candidate in target.members:
        try:
            reported = MemberStatus.parse(run_on_member(ssm, target.document, candidate.instance_id, "status", sleep=sleep))
            statuses[candidate.name] = reported
            out(f"   {candidate.name} ({candidate.instance_id}): {reported.describe()}")
        except CliError as err:
            statuses[candidate.name] = err
            out(f"   {candidate.name} ({candidate.instance_id}): no answer: {err}")
    chosen, status = choose_member(statuses, args.member, target)
    why = "as --member asks" if args.member else "the most current"
    out(f"   chosen: {chosen.name} ({chosen.instance_id}), {why}")

    # 6. The resize is checked before anything changes.
    resize = None
    if resize_to and not status.is_primary:
        resize = resize_check(session.client("ec2"), chosen.instance_id, resize_to)
        if resize.current == resize.new:
            out(f"   it runs as {resize.new} already: no resize")
            resize = None
        else:
            out(f"   resize {resize.current} -> {resize.new}: {resize.iops} provisioned IOPS, the type sustains {resize.limit}")

    # 7. The person's confirmation.
    if not args.yes:
        expected = f"{mirror_set} {dr_region}"
        try:
            answer = ask(f"Promote {chosen.name} of {where}; type the mirror set and the DR region ({expected!r}): ")
        except EOFError:
            answer = ""
        if answer.strip() != expected:
            raise CliError(f"the confirmation was not {expected!r}: nothing was changed", 2)
    log({"mirror_set": mirror_set, "member": chosen.name, "instance_id": chosen.instance_id, "caller": identity.get("Arn")})

    # 8. Fence the old primary side.
    out(f"2. fencing the old primary side of {mirror_set}")
    primary_session = None if side.hybrid else session_factory(profile_name=args.aws_profile, region_name=settings.region)
    fence = ON_PREMISES if primary_session is None else find_fence(primary_session, settings, mirror_set)
    if fence.outcome == "members" and primary_session is not None:
        if do_fence(primary_session, fence, out, sleep):
            out(f"   stopped {', '.join(fence.instance_ids)}: a returning primary cannot take writes")
        else:
            out("   NOT FENCED: stop them as soon as the region answers, before anything else (docs/runbook-dr.md)")
    elif fence.outcome == "absent":
        out(f"   no failover pair in AWS ({fence.detail}): fence the primary where it runs (docs/runbook-dr.md)")
    else:
        out(f"   the primary region does not answer ({fence.detail}): NOT FENCED; stop its members as soon as it answers")
    log({"fence": fence.outcome, "instance_ids": list(fence.instance_ids)})

    # 9. Resize before the promotion.
    if resize is not None:
        out(f"3. resizing {chosen.instance_id}: stop, {resize.current} -> {resize.new}, start")
        do_resize(session, target, chosen, resize, out, sleep)
    else:
        out("3. no resize")

    # 10. Promote.
    if status.is_primary:
        out(f"4. {chosen.name} is primary already: nothing to promote")
    else:
        if status.caught_up:
            out(f"4. promoting {chosen.name}: caught up with everything it has heard of from the primary")
        else:
            out(f"4. promoting {chosen.name}: NOT known to be caught up: what it has not received is lost (acknowledged)")
        promoted = MemberStatus.parse(run_on_member(ssm, target.document, chosen.instance_id, "promote", sleep=sleep))
        if not promoted.is_primary:
            raise CliError(
                f"after PromoteWithNoPartner() {chosen.name} reports {promoted.member_type} / {promoted.status}, "
                "not Failover / PRIMARY: see messages.log on the member"
            )
        out("   it is primary")

    # 11. The DR VIP.
    out(f"5. pointing the DR VIP of {mirror_set} at {chosen.name}")
    reason = args.reason or "operator promote-dr"
    if forced:
        reason += " (--force-while-primary-healthy)"
    payload = {"mirror_set": mirror_set, "new_primary": chosen.name, "reason": reason, "acknowledge_data_loss": True}
    result = invoke_retarget(session.client("lambda"), target.function_name, payload)
    out(f"   {'switched from ' + str(result.get('previous')) if result.get('changed') else 'already pointing there'}")

    # 12. The DNS gates.
    if target.record_name is None or target.dr_endpoint is None:
        out("6. no DNS stack: point the application's name at the DR VIP or the AWS web tier (docs/runbook-dr.md): done")
        return 0
    out("6. flipping the DNS gates")
    for line in flip_gates(route53, target):
        out(f"   {line}")
    if side.dns_seconds is not None:
        out(f"   modelled: Route 53 answers the DR region within {side.dns_seconds} s (TTL + one period)")

    # 13. Wait for DNS.
    out(f"7. waiting up to {dns_wait} s for Route 53 to answer {target.record_name} with {target.dr_endpoint}")
    for poll in range(max(1, dns_wait // POLL_SECONDS) + 1):
        answers = dns_answers(route53, target)
        if target.dr_endpoint.rstrip(".").lower() in answers:
            out("   Route 53 answers with the DR region: done")
            return 0
        if poll < dns_wait // POLL_SECONDS:
            sleep(POLL_SECONDS)
    raise CliError(
        f"Route 53 still answers {target.record_name} with {', '.join(answers) or 'nothing'} after {dns_wait} s; "
        "check the DNS gates in the Route 53 console (docs/runbook-dr.md)"
    )


def _dry_run(
    session: Any,
    session_factory: Callable[..., Any],
    args: argparse.Namespace,
    settings: Settings,
    side: Side,
    target: DrTarget,
    resize_to: str | None,
    dns_wait: int,
    out: Callable[[str], None],
) -> int:
    """Every step, with what it would act on; read-only calls only."""
    mirror_set, dr_region = args.mirror_set, side.region
    members = ", ".join(f"{c.name} ({c.instance_id})" for c in target.members)
    if args.member:
        target.member(args.member)
    choice = f"--member {args.member}" if args.member else "the smallest DistanceFromPrimary (journal files, then databases)"
    primary_session = None if side.hybrid else session_factory(profile_name=args.aws_profile, region_name=settings.region)
    fence = ON_PREMISES if primary_session is None else find_fence(primary_session, settings, mirror_set)
    fencing = {
        "members": f"stop {', '.join(fence.instance_ids)} in {settings.region} and wait until they are stopped",
        "absent": f"nothing in AWS ({fence.detail}): the person fences the primary where it runs",
        "unreachable": f"the primary region does not answer now ({fence.detail}): it would be reported NOT FENCED",
    }[fence.outcome]
    gates = gate_thresholds(session.client("route53"), target)
    flips = "; ".join(f"{name} gate {check}: threshold {now} -> {then}" for name, check, now, then in gates) or "no gates"
    if resize_to:
        ids = [c.instance_id for c in target.members] if not args.member else [target.member(args.member).instance_id]
        checks = [resize_check(session.client("ec2"), instance_id, resize_to) for instance_id in ids]
        sizing = "; ".join(f"{r.instance_id} {r.current} -> {r.new} ({r.iops} IOPS, sustains {r.limit})" for r in checks)
        resize_line = f"stop, change the type, start, wait for IRIS and the status page: {sizing}"
    else:
        resize_line = "none (no --resize-to, no dr.promoted_instance_type)"
    for line in (
        f"dry run: nothing runs on the members, the primary side, the VIP or DNS. The sequence for {mirror_set} in {dr_region}:",
        f"  1. run {target.document} action=status on each async member: {members}; choose {choice}; "
        "refuse if they disagree about the primary",
        f"  2. confirm: type '{mirror_set} {dr_region}' (or --yes with --acknowledge-data-loss)",
        f"  3. fence the old primary side: {fencing}",
        f"  4. resize: {resize_line}",
        f"  5. run {target.document} action=promote: SYS.Mirror PromoteWithNoPartner(), then expect status PRIMARY",
        f"  6. invoke {target.function_name}: point the DR VIP of {mirror_set} at the member (data loss acknowledged)",
        f"  7. flip the DNS gates: {flips}",
        f"  8. wait up to {dns_wait} s for Route 53 to answer {target.record_name} with {target.dr_endpoint} "
        f"(modelled: {side.dns_seconds} s after the flip)"
        if target.record_name
        else "  8. no DNS stack: the application's name is pointed at the DR VIP or web tier by hand",
    ):
        out(line)
    return 0
