"""Promote a mirror set's async DR member: a person's decision, then the documented sequence.

    python -m ops promote-dr --mirror-set HSDB --acknowledge-data-loss [--dry-run]

1. Ask the DR member how far it is behind, as far as it can know (SSM).
2. Promote it: SYS.Mirror's PromoteWithNoPartner() makes it primary (SSM).
3. Point the DR region's mirror VIP at it (the DR retarget function).
4. Wait until Route 53 answers the application's name with the DR region.

Everything runs against the DR region's API endpoints and Route 53: nothing
is asked of the failed region. Without --acknowledge-data-loss nothing is
called at all. With --dry-run the stacks are read and each step is printed,
and nothing runs on the member, the VIP or DNS.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import retarget
from botocore.exceptions import ClientError

from config import Settings
from config.constants import DR_MEMBER_NAME
from ops.aws import CliError, invoke_retarget, stack_outputs

MEMBER_DOCUMENT_OUTPUT = "DrMemberDocumentName"
FUNCTION_OUTPUT = "RetargetFunctionName"
ZONE_OUTPUT = "HostedZoneId"
RECORD_OUTPUT = "RecordName"
DR_ENDPOINT_OUTPUT = "DrEndpoint"
# SYS.Mirror's DistanceFromPrimary*() answer 1 when nothing is outstanding.
CAUGHT_UP = "1"
PRIMARY_STATUS = "PRIMARY"
DR_TYPE = "Disaster Recovery"
FAILOVER_TYPE = "Failover"
POLL_SECONDS = 5
SSM_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class MemberStatus:
    """What iris/dr_member.sh reports: member type, mirror status, and the two distances from the primary."""

    member_type: str
    status: str
    journal_files: str
    databases: str

    @property
    def caught_up(self) -> bool:
        return self.journal_files == CAUGHT_UP and self.databases == CAUGHT_UP

    @property
    def is_primary(self) -> bool:
        return self.member_type == FAILOVER_TYPE and self.status.upper() == PRIMARY_STATUS

    @classmethod
    def parse(cls, output: str) -> MemberStatus:
        for line in output.splitlines():
            fields = line.strip().split("|")
            if fields[0] == "IRIS_DR" and len(fields) == 5:
                return cls(*(f.strip() for f in fields[1:]))
        raise CliError(f"the DR member gave no status line (IRIS_DR|...); it printed: {output.strip()[:300]!r}")


@dataclass(frozen=True)
class DrTarget:
    """Where promotion acts, read from the DR region's stacks."""

    function_name: str
    document: str
    instance_id: str
    zone_id: str
    record_name: str
    dr_endpoint: str


def find_target(session: Any, settings: Settings, mirror_set: str) -> DrTarget:
    cloudformation = session.client("cloudformation")
    hint = "deploy the DR region's stacks first"
    region = stack_outputs(cloudformation, f"{settings.prefix}-DrRegion", (FUNCTION_OUTPUT, MEMBER_DOCUMENT_OUTPUT), hint)
    dns = stack_outputs(cloudformation, f"{settings.prefix}-DrDns", (ZONE_OUTPUT, RECORD_OUTPUT, DR_ENDPOINT_OUTPUT), hint)
    try:
        config = retarget.deployed_config(session.client("lambda"), session.client("ssm"), region[FUNCTION_OUTPUT])
        member = retarget.resolve_member(retarget.resolve_set(config, mirror_set), DR_MEMBER_NAME)
    except retarget.RetargetError as err:
        raise CliError(f"the DR retarget function: {err}", 2) from None
    return DrTarget(
        function_name=region[FUNCTION_OUTPUT],
        document=region[MEMBER_DOCUMENT_OUTPUT],
        instance_id=member.instance_id,
        zone_id=dns[ZONE_OUTPUT],
        record_name=dns[RECORD_OUTPUT],
        dr_endpoint=dns[DR_ENDPOINT_OUTPUT],
    )


def run_on_member(ssm: Any, target: DrTarget, action: str, *, sleep: Callable[[float], None] = time.sleep) -> str:
    """Run the DR member document with ``action``; its standard output, or CliError."""
    command = ssm.send_command(
        InstanceIds=[target.instance_id],
        DocumentName=target.document,
        Parameters={"action": [action]},
        TimeoutSeconds=SSM_TIMEOUT_SECONDS,
        Comment=f"promote-dr: {action}",
    )["Command"]["CommandId"]
    for _ in range(SSM_TIMEOUT_SECONDS // POLL_SECONDS):
        sleep(POLL_SECONDS)
        try:
            result = ssm.get_command_invocation(CommandId=command, InstanceId=target.instance_id)
        except ClientError as err:
            if err.response["Error"]["Code"] == "InvocationDoesNotExist":
                continue  # not registered yet
            raise
        if result["Status"] == "Success":
            return str(result.get("StandardOutputContent", ""))
        if result["Status"] in ("Failed", "Cancelled", "TimedOut", "Undeliverable", "Terminated"):
            error = str(result.get("StandardErrorContent", "")).strip()[:300]
            raise CliError(f"{action} on {target.instance_id} ended {result['Status']}: {error}")
    raise CliError(f"{action} on {target.instance_id} did not finish within {SSM_TIMEOUT_SECONDS} s")


def dns_answers(route53: Any, target: DrTarget) -> list[str]:
    answer = route53.test_dns_answer(HostedZoneId=target.zone_id, RecordName=target.record_name, RecordType="CNAME")
    return [data.rstrip(".").lower() for data in answer.get("RecordData", [])]


def modelled_dns_seconds(settings: Settings) -> int:
    """Alarm periods until the primary counts as down, plus resolvers' caching of the old answer."""
    assert settings.dr is not None
    d = settings.dr.dns
    return d.health_check_period_seconds * d.failure_threshold + d.ttl_seconds


def promote(
    args: argparse.Namespace,
    settings: Settings,
    session_factory: Callable[..., Any],
    *,
    sleep: Callable[[float], None] = time.sleep,
    out: Callable[[str], None] = print,
) -> int:
    """The promotion sequence; raises CliError when a step fails or is refused."""
    if settings.dr is None:
        raise CliError(f"profile {settings.profile} has no DR region (dr is not set)", 2)
    if not args.acknowledge_data_loss:
        raise CliError(
            "promoting an async DR member can lose the transactions it has not received; "
            "a person must decide: add --acknowledge-data-loss (nothing was changed)",
            2,
        )
    session = session_factory(profile_name=args.aws_profile, region_name=settings.dr.region)
    target = find_target(session, settings, args.mirror_set)
    dns_wait = args.dns_timeout if args.dns_timeout is not None else 2 * modelled_dns_seconds(settings)
    where = f"{args.mirror_set}'s DR member {target.instance_id} in {settings.dr.region}"
    if args.dry_run:
        for line in (
            f"dry run: nothing runs on the member, the VIP or DNS. The sequence for {where}:",
            f"  1. run {target.document} action=status: the member's type, status and distance from the primary",
            f"  2. run {target.document} action=promote: SYS.Mirror PromoteWithNoPartner(), then expect status PRIMARY",
            f"  3. invoke {target.function_name}: point the DR VIP of {args.mirror_set} at DR (data loss acknowledged)",
            f"  4. wait up to {dns_wait} s for Route 53 to answer {target.record_name} with {target.dr_endpoint} "
            f"(modelled: {modelled_dns_seconds(settings)} s)",
        ):
            out(line)
        return 0

    ssm = session.client("ssm")
    out(f"1. asking {where} for its mirror status")
    status = MemberStatus.parse(run_on_member(ssm, target, "status", sleep=sleep))
    out(
        f"   type {status.member_type}, status {status.status}, "
        f"journal files {status.journal_files}, databases {status.databases} (1: nothing outstanding)"
    )
    if status.is_primary:
        out("2. already primary: nothing to promote")
    elif status.member_type != DR_TYPE:
        raise CliError(f"{target.instance_id} is a {status.member_type!r} member, not {DR_TYPE!r}: not promoted", 2)
    else:
        if status.caught_up:
            out("   caught up with everything it has heard of from the primary")
        else:
            out("   NOT known to be caught up: the transactions it has not received are lost (acknowledged)")
        out("2. promoting it: SYS.Mirror PromoteWithNoPartner()")
        promoted = MemberStatus.parse(run_on_member(ssm, target, "promote", sleep=sleep))
        if not promoted.is_primary:
            raise CliError(
                f"after PromoteWithNoPartner() the member reports {promoted.member_type} / {promoted.status}, "
                "not Failover / PRIMARY: see messages.log on the member"
            )
        out("   it is primary")

    out(f"3. pointing the DR VIP of {args.mirror_set} at it")
    payload = {
        "mirror_set": args.mirror_set,
        "new_primary": DR_MEMBER_NAME,
        "reason": args.reason or "operator promote-dr",
        "acknowledge_data_loss": True,
    }
    result = invoke_retarget(session.client("lambda"), target.function_name, payload)
    out(f"   {'switched from ' + str(result.get('previous')) if result.get('changed') else 'already pointing there'}")

    out(f"4. waiting up to {dns_wait} s for Route 53 to answer {target.record_name} with {target.dr_endpoint}")
    route53 = session.client("route53")
    deadline = time.monotonic() + dns_wait
    while True:
        answers = dns_answers(route53, target)
        if target.dr_endpoint.rstrip(".").lower() in answers:
            out("   Route 53 answers with the DR region: done")
            return 0
        if time.monotonic() >= deadline:
            raise CliError(
                f"Route 53 still answers {target.record_name} with {', '.join(answers) or 'nothing'} after {dns_wait} s; "
                "check the DR health check in the Route 53 console (the DR VIP must report a healthy target)"
            )
        sleep(POLL_SECONDS)
