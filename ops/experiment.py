"""Start one of the AWS FIS experiments (components/fault_injection.py), or show what it would hit.

    python -m ops experiment stop-primary --mirror-set HSDB --dry-run
    python -m ops experiment stop-primary --mirror-set HSDB --i-understand-this-disrupts
    python -m ops experiment az-power     --mirror-set HSDB [--zone eu-west-1a] ...
    python -m ops experiment network      --mirror-set HSDB [--zone eu-west-1a] ...
    python -m ops experiment spot ...

``stop-primary`` picks the template of the member the VIP points at now;
``az-power`` and ``network`` act on one zone, by default the primary's. The
dry run reads the template from FIS, resolves its targets as FIS would (by
their tags and filters, or their ARNs), lists them with the stop conditions,
and starts nothing. Without ``--i-understand-this-disrupts`` (and without
``--dry-run``) nothing is called at all. Exit codes: 0 done, 1 failed, 2 refused.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from config import Settings
from ops.aws import CliError, stack_outputs

# components/fault_injection.py: the outputs that name the templates.
STOP_OUTPUT = "ExperimentStop{member}"
AZ_POWER_OUTPUT = "ExperimentAzPower{zone}"
NETWORK_OUTPUT = "ExperimentNetwork{zone}"
SPOT_OUTPUT = "ExperimentSpotInterruption"
MIRROR_SET_TAG = "IrisMirrorSet"
MEMBER_TAG = "IrisMirrorMember"
NAMES = ("stop-primary", "az-power", "network", "spot")
CONSENT_FLAG = "--i-understand-this-disrupts"

PrimaryFinder = Callable[[Any, Settings, str], str]


def zone_id(zone: str) -> str:
    """eu-west-1a -> EuWest1a (components/fault_injection.py zone_id)."""
    return "".join(part[:1].upper() + part[1:] for part in zone.split("-"))


@dataclass(frozen=True)
class Choice:
    stack: str
    output: str
    zone: str | None
    primary: str | None


def modelled_rto_lines(settings: Settings) -> list[str]:
    """The drill's model of the time until the VIP forwards to the new primary (ops/drill.py), without the switch."""
    d = settings.data
    qos = d.mirror_qos_timeout_ms / 1000
    interval = d.health_check_interval_seconds
    polling = max(qos + interval * d.healthy_threshold, interval * d.unhealthy_threshold)
    return [
        f"  the drill's model (ops/drill.py, failover method {d.failover_method}): takeover after the QoS timeout, {qos:g} s;",
        f"    API method: {qos:g} s + the retarget switch; polling method: {polling:g} s + the switch",
        "    (make drill measures the switch locally; compare the measured RTO below with both)",
    ]


def what_to_watch(name: str, settings: Settings, choice: Choice) -> list[str]:
    common = [
        "  python -m ops status                      where each VIP points, and target health (run it every few seconds)",
        "  aws fis get-experiment --id <id>          the experiment's state; stop it early: aws fis stop-experiment --id <id>",
        "  CloudWatch: the mirror set's dashboard and alarms; a stop condition in ALARM stops the experiment",
    ]
    if name == "spot":
        return [
            "What to watch:",
            "  kubectl get nodes -l karpenter.sh/nodepool=spot -w   the node is drained and replaced within the notice",
            "  kubectl get pods -A -o wide -w                      pods tolerating the non-critical taint move; the app stays up",
            common[1],
        ]
    lines = ["What to watch:", *common]
    lines.append(
        "  the members' messages.log (CloudWatch Logs): the backup's takeover after the QoS timeout, and the mirror's "
        "state when the stopped or cut-off member comes back"
    )
    if name in ("stop-primary", "az-power"):
        lines.append(
            "  measure the real RTO: from the experiment's start time to the first `ops status` that shows the VIP on the "
            "new primary with a healthy target"
        )
        lines += modelled_rto_lines(settings)
    else:
        lines.append(
            "  a cut between zones must not give two primaries: the arbiter decides; after the cut the isolated member "
            "rejoins as backup (or stays down until an operator acts, if it was the primary)"
        )
    return lines


def choose(session: Any, settings: Settings, args: argparse.Namespace, find_primary: PrimaryFinder) -> Choice:
    if args.name == "spot":
        return Choice(stack=f"{settings.prefix}-Eks", output=SPOT_OUTPUT, zone=None, primary=None)
    if not args.mirror_set:
        raise CliError(f"experiment {args.name} needs --mirror-set", 2)
    names = [m.name for m in settings.data.mirror_sets]
    if args.mirror_set not in names:
        raise CliError(f"no mirror set {args.mirror_set} in profile {settings.profile}: {', '.join(names)}", 2)
    stack = f"{settings.prefix}-Mirror-{args.mirror_set}"
    zones = settings.availability_zones
    primary = find_primary(session, settings, args.mirror_set) if args.name == "stop-primary" or not args.zone else None
    if args.name == "stop-primary":
        assert primary is not None
        return Choice(stack=stack, output=STOP_OUTPUT.format(member=primary), zone=None, primary=primary)
    zone = args.zone or zone_of(session.client("ec2"), stack, primary or "")
    if zone not in zones:
        raise CliError(f"--zone {zone} is not one of the profile's zones: {', '.join(zones)}", 2)
    template = AZ_POWER_OUTPUT if args.name == "az-power" else NETWORK_OUTPUT
    return Choice(stack=stack, output=template.format(zone=zone_id(zone)), zone=zone, primary=primary)


def zone_of(ec2: Any, stack: str, member: str) -> str:
    """The zone of a member of the set, found by the tags the experiments use."""
    filters = [{"Name": f"tag:{MIRROR_SET_TAG}", "Values": [stack]}, {"Name": f"tag:{MEMBER_TAG}", "Values": [member]}]
    instances = [i for r in ec2.describe_instances(Filters=filters)["Reservations"] for i in r["Instances"]]
    if not instances:
        raise CliError(f"no instance tagged {MIRROR_SET_TAG}={stack} {MEMBER_TAG}={member}: pass --zone")
    return str(instances[0]["Placement"]["AvailabilityZone"])


def resolve_targets(ec2: Any, template: dict[str, Any]) -> dict[str, list[str]]:
    """Each target of the template as FIS would resolve it now: target name -> resource lines."""
    found: dict[str, list[str]] = {}
    for name, target in template.get("targets", {}).items():
        kind = target["resourceType"]
        if target.get("resourceArns"):
            found[name] = [f"{kind} {arn.rsplit('/', 1)[-1]}" for arn in target["resourceArns"]]
            continue
        filters = [{"Name": f"tag:{k}", "Values": [v]} for k, v in target.get("resourceTags", {}).items()]
        paths = {"State.Name": "instance-state-name", "Placement.AvailabilityZone": "availability-zone"}
        filters += [{"Name": paths[f["path"]], "Values": f["values"]} for f in target.get("filters", []) if f["path"] in paths]
        if kind == "aws:ec2:spot-instance":
            filters.append({"Name": "instance-lifecycle", "Values": ["spot"]})
        reservations = ec2.describe_instances(Filters=filters)["Reservations"]
        lines = []
        for instance in (i for r in reservations for i in r["Instances"]):
            tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
            lines.append(
                f"{kind} {instance['InstanceId']} {tags.get(MEMBER_TAG, '-')} in {instance['Placement']['AvailabilityZone']}"
            )
        mode = target.get("selectionMode", "ALL")
        found[name] = lines if mode == "ALL" else [f"{mode} of:", *lines]
    return found


def run(
    args: argparse.Namespace,
    settings: Settings,
    session_factory: Callable[..., Any],
    *,
    find_primary: PrimaryFinder,
    out: Callable[[str], None] = print,
) -> int:
    if args.name not in NAMES:
        raise CliError(f"no experiment {args.name}: {', '.join(NAMES)}", 2)
    if not args.dry_run and not args.i_understand_this_disrupts:
        raise CliError(
            f"experiment {args.name} disrupts the running system on purpose; look first with --dry-run, "
            f"then add {CONSENT_FLAG} (nothing was started)",
            2,
        )
    if not settings.data.experiments.enabled and args.name != "spot":
        raise CliError(f"profile {settings.profile} builds no experiments (data.experiments.enabled is false)", 2)
    session = session_factory(profile_name=args.aws_profile, region_name=settings.region)
    choice = choose(session, settings, args, find_primary)
    template_id = stack_outputs(
        session.client("cloudformation"), choice.stack, (choice.output,), "deploy it with experiments enabled"
    )[choice.output]
    fis = session.client("fis")
    template = fis.get_experiment_template(id=template_id)["experimentTemplate"]
    where = f" (primary now: {choice.primary})" if choice.primary else ""
    out(f"experiment {args.name}{' in ' + choice.zone if choice.zone else ''}{where}: template {template_id}")
    out(f"  {template.get('description', '')}")
    for action_name, action in template.get("actions", {}).items():
        params = ", ".join(f"{k}={v}" for k, v in sorted(action.get("parameters", {}).items()))
        out(f"  action {action_name}: {action['actionId']}{' (' + params + ')' if params else ''}")
    targets = resolve_targets(session.client("ec2"), template)
    for name, lines in targets.items():
        out(f"  target {name}: {'; '.join(lines) if lines else 'NOTHING FOUND (FIS would fail the experiment)'}")
    for condition in template.get("stopConditions", []):
        out(f"  stops when alarm {condition.get('value', '').rsplit(':', 1)[-1]} is in ALARM")
    if args.dry_run:
        out("dry run: nothing was started")
        for line in what_to_watch(args.name, settings, choice):
            out(line)
        return 0
    if any(not lines for lines in targets.values()):
        raise CliError("a target resolves to nothing now: the experiment would fail; nothing was started")
    started = fis.start_experiment(
        experimentTemplateId=template_id,
        clientToken=uuid.uuid4().hex,
        tags={"StartedBy": "python -m ops experiment", "Reason": args.reason or args.name},
    )["experiment"]
    out(
        f"started experiment {started['id']} at {started.get('startTime', 'now')} "
        f"(state {started.get('state', {}).get('status', '?')})"
    )
    for line in what_to_watch(args.name, settings, choice):
        out(line.replace("<id>", started["id"]))
    return 0
