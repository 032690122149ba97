"""Operator CLI for mirror failover.

    python -m ops status     [--settings-profile reference] [--aws-profile P] [--region R]
    python -m ops failover   --mirror-set HSDB --to Member1 [--reason TEXT] [--dry-run]
    python -m ops promote-dr --settings-profile P --mirror-set HSDB --acknowledge-data-loss [--member M]
                             [--resize-to TYPE] [--yes] [--force-while-primary-healthy] [--dry-run]
    python -m ops drill      [--settings-profile reference]
    python -m ops experiment NAME --mirror-set HSDB (--dry-run | --i-understand-this-disrupts)
    python -m ops restore-drill --mirror-set HSDB [--dry-run]

``status`` reads the load balancers, finding every mirror set from the
DataTier stack's ``RetargetFunctionName`` output (the deploy-time function,
whose configuration names them all). ``failover`` invokes the mirror set's own
retarget function (the ``RetargetFunctionName`` output of
``<prefix>-Mirror-<set>``), which checks the new primary's status page and
switches the listeners; its reserved concurrency of 1 keeps two retargets of
the set from interleaving. ``promote-dr`` invokes the DR region's function.
``--function-name`` names the function instead. ``experiment`` starts an AWS FIS
experiment (ops/experiment.py); ``restore-drill`` restores the newest snapshot set on a
scratch instance and checks it with ^Integrity (ops/restore_drill.py). Exit codes: 0 done, 1
failed, 2 refused or misused.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from config import Settings, SettingsError, load_settings
from ops.aws import CliError, invoke_retarget, stack_outputs

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lambda" / "retarget"))

import retarget  # noqa: E402

from ops import (  # noqa: E402
    dr,
    experiment,
    restore_drill,
)

OUTPUT_NAME = "RetargetFunctionName"
SessionFactory = Callable[..., Any]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ops", description="Mirror failover operations.")
    sub = p.add_subparsers(dest="command", required=True)

    def common(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("--settings-profile", default="reference", help="the cdk.json profile (default: reference)")
        cmd.add_argument("--aws-profile", default=None, help="an AWS named profile")
        cmd.add_argument("--region", default=None, help="AWS region (default: the profile's)")
        cmd.add_argument("--stack", default=None, help="the DataTier stack (default: <prefix>-DataTier)")
        cmd.add_argument(
            "--function-name", default=None, help="the retarget function, instead of the stack output (failover: the set's own)"
        )
        cmd.add_argument("--dry-run", action="store_true", help="report what would change, change nothing")

    common(sub.add_parser("status", help="where each VIP points, and target health"))
    failover = sub.add_parser("failover", help="point a mirror VIP at another failover member")
    common(failover)
    failover.add_argument("--mirror-set", required=True)
    failover.add_argument("--to", required=True, metavar="MEMBER", help="member name or instance id")
    failover.add_argument("--reason", default=None)
    promote = sub.add_parser(
        "promote-dr", help="make a mirror set's DR member primary, move the DR VIP, wait for DNS (can lose data)"
    )
    # No default profile: a promotion names the deployment it acts on (docs/runbook-dr.md).
    promote.add_argument("--settings-profile", required=True, help="the cdk.json profile of the deployment (required)")
    promote.add_argument("--aws-profile", default=None, help="an AWS named profile")
    promote.add_argument("--mirror-set", required=True)
    promote.add_argument("--acknowledge-data-loss", action="store_true", help="required: a person accepts possible data loss")
    promote.add_argument("--member", default=None, help="the async member to promote (default: the most current)")
    promote.add_argument(
        "--resize-to",
        default=None,
        metavar="TYPE",
        help="give the member this instance type first (default: dr.promoted_instance_type)",
    )
    promote.add_argument(
        "--yes",
        action="store_true",
        help="skip the typed confirmation of mirror set and region (only with --acknowledge-data-loss)",
    )
    promote.add_argument(
        "--force-while-primary-healthy",
        action="store_true",
        help="promote although Route 53 still sees the primary region healthy (logged)",
    )
    promote.add_argument("--reason", default=None)
    promote.add_argument("--dns-timeout", type=int, default=None, help="seconds to wait for Route 53 (default: twice the model)")
    promote.add_argument("--dry-run", action="store_true", help="read the stacks and print each step; change nothing")
    experiment = sub.add_parser("experiment", help="start an AWS FIS experiment on purpose, or list what it would hit")
    experiment.add_argument("name", metavar="NAME", help="stop-primary, az-power, network or spot")
    experiment.add_argument("--settings-profile", default="reference", help="the cdk.json profile (default: reference)")
    experiment.add_argument("--aws-profile", default=None, help="an AWS named profile")
    experiment.add_argument("--mirror-set", default=None, help="the mirror set (every experiment but spot)")
    experiment.add_argument("--zone", default=None, help="az-power, network: the zone (default: the primary's)")
    experiment.add_argument("--reason", default=None)
    experiment.add_argument("--i-understand-this-disrupts", action="store_true", help="required to start it")
    experiment.add_argument("--dry-run", action="store_true", help="list the targets and stop conditions; start nothing")
    restore = sub.add_parser("restore-drill", help="restore the newest snapshot set on a scratch instance and run ^Integrity")
    restore.add_argument("--settings-profile", default="reference", help="the cdk.json profile (default: reference)")
    restore.add_argument("--aws-profile", default=None, help="an AWS named profile")
    restore.add_argument("--mirror-set", required=True)
    restore.add_argument("--timeout-minutes", type=int, default=None, help="for the check (default: data.restore_drill)")
    restore.add_argument("--dry-run", action="store_true", help="show the snapshot set and where it would go; create nothing")
    drill = sub.add_parser("drill", help="rehearse a primary loss locally and time both methods")
    drill.add_argument("--settings-profile", default="reference")
    drill.add_argument("--interval", type=int, default=None)
    drill.add_argument("--dry-run", action="store_true")
    return p


def main(argv: Sequence[str] | None = None, *, session_factory: SessionFactory = boto3.Session) -> int:
    args = parser().parse_args(argv)
    if args.command == "drill":
        from ops import drill

        forwarded = ["--settings-profile", args.settings_profile, *(["--interval", str(args.interval)] if args.interval else [])]
        return drill.main([*forwarded, *(["--dry-run"] if args.dry_run else [])])
    try:
        return COMMANDS[args.command](args, session_factory)
    except CliError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.code
    except (ClientError, BotoCoreError) as err:
        print(f"error: AWS: {err}", file=sys.stderr)
        return 1


class Target:
    """The deployed retarget function and its configuration."""

    def __init__(self, args: argparse.Namespace, session_factory: SessionFactory, *, mirror_set: str | None = None) -> None:
        """``mirror_set``: that set's own function (a run-time retarget); otherwise the data tier's (every set)."""
        try:
            settings = load_settings({**_cdk_context(), "profile": args.settings_profile}, {})
        except SettingsError as err:
            raise CliError("\nerror: ".join(err.lines), 2) from None
        self.session = session_factory(profile_name=args.aws_profile, region_name=args.region or settings.region)
        stack = f"{settings.prefix}-Mirror-{mirror_set}" if mirror_set else args.stack or f"{settings.prefix}-DataTier"
        self.function_name = args.function_name or self._function_from_stack(stack)
        try:
            self.config = retarget.deployed_config(self.session.client("lambda"), self.session.client("ssm"), self.function_name)
        except retarget.ConfigError as err:
            raise CliError(str(err)) from None

    def _function_from_stack(self, stack: str) -> str:
        outputs = stack_outputs(
            self.session.client("cloudformation"), stack, (OUTPUT_NAME,), "deploy that stack, or pass --function-name"
        )
        return outputs[OUTPUT_NAME]

    def member(self, mirror_set: str, name: str) -> retarget.Member:
        try:
            return retarget.resolve_member(retarget.resolve_set(self.config, mirror_set), name)
        except retarget.RetargetError as err:
            raise CliError(str(err), 2) from None

    def invoke(self, payload: dict[str, Any]) -> dict[str, Any]:
        return invoke_retarget(self.session.client("lambda"), self.function_name, payload)


def status(args: argparse.Namespace, session_factory: SessionFactory) -> int:
    target = Target(args, session_factory)
    elbv2 = target.session.client("elbv2")
    for name, mirror_set in sorted(target.config.mirror_sets.items()):
        current = retarget.current_targets(elbv2, mirror_set)
        primary = retarget.primary_of(mirror_set, current)
        print(f"{name}: VIP points at {primary or 'no single member (listeners disagree)'}")
        by_group = {arn: m.name for m in mirror_set.members.values() for arn in m.target_groups.values()}
        for listener in mirror_set.listeners:
            group = current.get(listener)
            print(f"  listener {listener.rsplit('/', 1)[-1]}: -> {by_group.get(group or '', group)}")
        for member in mirror_set.members.values():
            states = []
            for group in member.target_groups.values():
                health = elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
                states += [h["TargetHealth"]["State"] for h in health]
            print(
                f"  {member.name} ({member.role}, {member.instance_id}, {member.private_ip}): {', '.join(states) or 'no targets'}"
            )
    return 0


def failover(args: argparse.Namespace, session_factory: SessionFactory) -> int:
    target = Target(args, session_factory, mirror_set=args.mirror_set)
    member = target.member(args.mirror_set, args.to)
    if member.role == "async":
        raise CliError(f"{member.name} is an async DR member: use promote-dr --acknowledge-data-loss", 2)
    payload = {
        "mirror_set": args.mirror_set,
        "new_primary": member.name,
        "reason": args.reason or f"operator {args.command}",
        "dry_run": args.dry_run,
    }
    result = target.invoke(payload)
    if result.get("dry_run"):
        print(f"{args.mirror_set}: would point at {result.get('new')} (now {result.get('previous')}); nothing changed")
    elif result.get("changed"):
        print(f"{args.mirror_set}: {result.get('previous')} -> {result.get('new')}")
    else:
        print(f"{args.mirror_set}: already on {result.get('new')}; nothing changed")
    return 0


def promote_dr(args: argparse.Namespace, session_factory: SessionFactory) -> int:
    """The documented DR promotion (ops/dr.py, docs/runbook-dr.md)."""
    try:
        settings = load_settings({**_cdk_context(), "profile": args.settings_profile}, {})
    except SettingsError as err:
        raise CliError("\nerror: ".join(err.lines), 2) from None
    return dr.promote(args, settings, session_factory)


def _settings(args: argparse.Namespace) -> Settings:
    try:
        return load_settings({**_cdk_context(), "profile": args.settings_profile}, {})
    except SettingsError as err:
        raise CliError("\nerror: ".join(err.lines), 2) from None


def current_primary(session: Any, settings: Settings, mirror_set: str) -> str:
    """The member the set's VIP forwards to now, as its retarget function's configuration names it."""
    stack = f"{settings.prefix}-Mirror-{mirror_set}"
    function = stack_outputs(session.client("cloudformation"), stack, (OUTPUT_NAME,), "deploy that stack")[OUTPUT_NAME]
    try:
        config = retarget.deployed_config(session.client("lambda"), session.client("ssm"), function)
        primary = retarget.current_primary(session.client("elbv2"), retarget.resolve_set(config, mirror_set))
    except retarget.RetargetError as err:
        raise CliError(str(err), 2) from None
    if primary is None:
        raise CliError(f"{mirror_set}'s listeners disagree on the primary: fix that first (python -m ops status)")
    return primary


def experiment_command(args: argparse.Namespace, session_factory: SessionFactory) -> int:
    """An AWS FIS experiment (ops/experiment.py, docs/runbook-failover.md)."""
    if not args.dry_run and not args.i_understand_this_disrupts:
        raise CliError(
            f"experiment {args.name} disrupts the running system on purpose; look first with --dry-run, "
            f"then add {experiment.CONSENT_FLAG} (nothing was started)",
            2,
        )
    return experiment.run(args, _settings(args), session_factory, find_primary=current_primary)


def restore_drill_command(args: argparse.Namespace, session_factory: SessionFactory) -> int:
    """The restore drill (ops/restore_drill.py, docs/operations.md, "Restore drill")."""
    return restore_drill.from_cli(args, _settings(args), session_factory)


def _cdk_context() -> dict[str, Any]:
    return dict(json.loads((ROOT / "cdk.json").read_text())["context"])


COMMANDS: dict[str, Callable[[argparse.Namespace, SessionFactory], int]] = {
    "status": status,
    "failover": failover,
    "promote-dr": promote_dr,
    "experiment": experiment_command,
    "restore-drill": restore_drill_command,
}
