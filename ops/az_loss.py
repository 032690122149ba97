"""What survives the loss of one availability zone: a static analysis of a synthesized assembly.

For each zone of each region in turn, every zonal resource in it is taken away (instances, subnets,
NAT gateways, the Auto Scaling and EKS node capacity placed there, a single-AZ database) and each
service is judged on what is left:

- a mirror set: a primary and quorum left (two of its failover members and arbiter), and a VIP
  node in a live zone with a member target group whose member is alive;
- an Auto Scaling group or EKS node group: its minimum spread evenly over its zones (as the group
  balances it), less the share of the lost zone, must leave at least one instance;
- egress: every private subnet in a live zone whose default route goes to a NAT gateway must
  still reach it (a NAT gateway lives in one zone);
- an RDS instance: Multi-AZ with a subnet group over two zones or more;
- a load balancer: a node (a subnet) left in a live zone.

A region with no failover mirror member is a standby region (the DR region): its rows are shown,
but a loss there does not take the service down, so it does not count toward the exit code.

    python -m ops.az_loss --assembly cdk.out [--markdown docs/az-loss.md]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops.assembly import Assembly, Node, number, props, tag

MEMBER_ROLE_TAG = "IrisMirrorRole"
FAILOVER, ARBITER, ASYNC = "failover", "arbiter", "async"
DEFAULT_ROUTE = "0.0.0.0/0"


@dataclass(frozen=True)
class Verdict:
    ok: bool
    text: str


@dataclass
class Service:
    """One service the analysis judges, in one region."""

    kind: str  # mirror, capacity, egress, database, load balancer
    name: str
    region: str
    judge: Any  # Callable[[str], Verdict]: the verdict when that zone is lost
    verdicts: dict[str, Verdict] = field(default_factory=dict)


@dataclass(frozen=True)
class Member:
    node: Node
    set_name: str
    name: str
    role: str
    zone: str | None


@dataclass
class Report:
    regions: dict[str, list[str]]
    standby: set[str]
    services: list[Service]
    seconds: float = 0.0

    def losses(self, *, include_standby: bool = False) -> list[tuple[str, Service, Verdict]]:
        return [
            (zone, s, v)
            for s in self.services
            for zone, v in s.verdicts.items()
            if not v.ok and (include_standby or s.region not in self.standby)
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "regions": self.regions,
            "standby_regions": sorted(self.standby),
            "services": [
                {
                    "kind": s.kind,
                    "name": s.name,
                    "region": s.region,
                    "zones": {z: {"ok": v.ok, "detail": v.text} for z, v in s.verdicts.items()},
                }
                for s in self.services
            ],
            "available": not self.losses(),
        }


# --- zonal facts -----------------------------------------------------------------------------------


def instance_zone(assembly: Assembly, node: Node) -> str | None:
    p = props(assembly.resource(node))
    zone = assembly.resolve(node.stack, p.get("AvailabilityZone"))
    if isinstance(zone, str):
        return zone
    subnet = p.get("SubnetId")
    if subnet is None:
        interfaces = p.get("NetworkInterfaces") or [{}]
        subnet = interfaces[0].get("SubnetId")
    return assembly.subnet_zone(node.stack, subnet)


def subnet_zones(assembly: Assembly, stack: str, value: Any) -> list[str | None]:
    return [assembly.subnet_zone(stack, s) for s in assembly.subnet_list(stack, value)]


def mirror_members(assembly: Assembly) -> list[Member]:
    """Instances tagged with a mirror role; the set is the member construct's parent."""
    members = []
    for node, resource in assembly.resources("AWS::EC2::Instance"):
        role = tag(resource, MEMBER_ROLE_TAG)
        if role is None:
            continue
        parts = assembly.path(node).split("/")
        # <stack>/<set>/<member>/Instance: the instance construct sits inside its member construct.
        member, set_name = (parts[-2], parts[-3]) if len(parts) >= 4 else (parts[-1], node.stack)
        members.append(Member(node, set_name, member, role, instance_zone(assembly, node)))
    return members


def _short(assembly: Assembly, node: Node) -> str:
    """A resource's construct path without the stack's prefix and the generic tail CDK adds."""
    parts = assembly.path(node).split("/")
    stack = parts[0]
    parts = [p for p in parts[1:] if p not in ("Group", "ASG", "Resource", "Default")]
    return "/".join([stack.split("-", 1)[-1], *parts[:3]])


# --- the judges ------------------------------------------------------------------------------------


def mirror_services(assembly: Assembly, failover_method: str) -> list[Service]:
    members = mirror_members(assembly)
    target_groups = list(assembly.resources("AWS::ElasticLoadBalancingV2::TargetGroup"))
    listeners = list(assembly.resources("AWS::ElasticLoadBalancingV2::Listener"))
    services = []
    for (region, set_name), group in _group(members, lambda m: (assembly.region(m.node), m.set_name)).items():
        quorum = [m for m in group if m.role in (FAILOVER, ARBITER)]
        if not any(m.role == FAILOVER for m in quorum):
            # A region holding only async members (the DR region): each is one instance in one zone.
            for m in group:

                def judge_async(zone: str, m: Member = m) -> Verdict:
                    if m.zone == zone:
                        return Verdict(False, f"LOST: {m.name} is in this zone (rebuilt from its retained volumes or snapshots)")
                    return Verdict(True, f"ok: {m.name} in {m.zone}")

                services.append(Service("mirror", f"async member {set_name} {m.name}", region, judge_async))
            continue
        by_node = {m.node: m for m in group}
        # The VIP: the load balancers whose listeners forward to a target group of one of these members,
        # and, per listener port, the members a pre-registered target group of that port holds.
        member_tgs: dict[int, set[Member]] = {}
        for tg_node, tg in target_groups:
            for target in props(tg).get("Targets", []):
                target_node = assembly.node(tg_node.stack, target.get("Id"))
                member = by_node.get(target_node) if target_node else None
                if member is not None:
                    member_tgs.setdefault(number(props(tg).get("Port")), set()).add(member)
        vips: dict[Node, set[int]] = {}
        for l_node, listener in listeners:
            for action in props(listener).get("DefaultActions", []):
                forwarded = assembly.node(l_node.stack, action.get("TargetGroupArn"))
                if forwarded is not None and number(props(assembly.resource(forwarded)).get("Port")) in member_tgs:
                    lb = assembly.node(l_node.stack, props(listener).get("LoadBalancerArn"))
                    if lb is not None:
                        vips.setdefault(lb, set()).add(number(props(listener).get("Port")))

        def judge(
            zone: str,
            quorum: list[Member] = quorum,
            vips: dict[Node, set[int]] = vips,
            member_tgs: dict[int, set[Member]] = member_tgs,
        ) -> Verdict:
            alive = [m for m in quorum if m.zone != zone]
            failover = [m for m in alive if m.role == FAILOVER]
            if not failover or len(alive) < 2:
                lost = ", ".join(f"{m.name}" for m in quorum if m.zone == zone)
                return Verdict(False, f"LOST: {len(alive)}/{len(quorum)} left ({lost} in this zone), no primary with quorum")
            primary = failover[0].name
            if not vips:
                return Verdict(False, f"LOST: {primary} primary, but no VIP forwards to a member")
            for lb, ports in vips.items():
                lb_zones = subnet_zones(assembly, lb.stack, _lb_subnets(assembly.resource(lb)))
                if not any(z != zone for z in lb_zones):
                    return Verdict(False, f"LOST: {primary} primary, VIP has no node in a live zone")
                for port in ports:
                    if not any(m.zone != zone and m.role == FAILOVER for m in member_tgs.get(port, ())):
                        return Verdict(False, f"LOST: {primary} primary, VIP port {port} has no target group of a live member")
            return Verdict(True, f"ok: primary {primary}, quorum {len(alive)}/{len(quorum)}, {failover_method}, VIP reaches it")

        services.append(Service("mirror", f"mirror {set_name}", region, judge))
    return services


def _lb_subnets(resource: dict[str, Any]) -> Any:
    p = props(resource)
    if "SubnetMappings" in p:
        return [m.get("SubnetId") for m in p["SubnetMappings"]]
    return p.get("Subnets", [])


def capacity_services(assembly: Assembly) -> list[Service]:
    """Auto Scaling groups and EKS managed node groups: the minimum left right after the loss."""
    found: list[tuple[Node, int, list[str | None], str]] = []
    for node, resource in assembly.resources("AWS::AutoScaling::AutoScalingGroup"):
        p = props(resource)
        zones = subnet_zones(assembly, node.stack, p.get("VPCZoneIdentifier", []))
        if not zones:
            zones = [z if isinstance(z, str) else None for z in assembly.subnet_list(node.stack, p.get("AvailabilityZones", []))]
        found.append((node, number(p.get("MinSize")), zones, "Auto Scaling group"))
    for node, resource in assembly.resources("AWS::EKS::Nodegroup"):
        p = props(resource)
        found.append(
            (
                node,
                number(p.get("ScalingConfig", {}).get("MinSize")),
                subnet_zones(assembly, node.stack, p.get("Subnets")),
                "node group",
            )
        )
    services = []
    for node, minimum, zones, what in found:
        if minimum == 0:
            continue  # nothing is promised, nothing is lost

        def judge(zone: str, minimum: int = minimum, zones: list[str | None] = zones) -> Verdict:
            distinct = sorted({z or "?" for z in zones})
            if zone not in distinct and "?" not in distinct:
                return Verdict(True, f"ok: {minimum}/{minimum} (min {minimum}, not in this zone)")
            # The group balances its minimum over its zones: the lost zone held at most the rounded-up share.
            share = math.ceil(minimum / len(distinct)) if distinct else minimum
            left = minimum - share
            live = [z for z in distinct if z != zone]
            if left < 1:
                return Verdict(False, f"LOST: 0/{minimum} left (min {minimum} over {len(distinct)} zone(s))")
            relaunch = "refills in " + ", ".join(live) if live else "cannot refill"
            return Verdict(True, f"ok: {left}/{minimum} left (min {minimum}), {relaunch}")

        services.append(Service("capacity", f"{what} {_short(assembly, node)}", assembly.region(node), judge))
    return services


def egress_services(assembly: Assembly) -> list[Service]:
    """Per region: the private subnets whose default route goes to a NAT gateway, and that NAT's zone."""
    associations: dict[Node, list[Node]] = {}
    for node, resource in assembly.resources("AWS::EC2::SubnetRouteTableAssociation"):
        table = assembly.node(node.stack, props(resource).get("RouteTableId"))
        subnet = assembly.node(node.stack, props(resource).get("SubnetId"))
        if table and subnet:
            associations.setdefault(table, []).append(subnet)
    needs: dict[str, list[tuple[Node, str | None, str | None]]] = {}  # region -> (subnet, its zone, NAT zone)
    for node, resource in assembly.resources("AWS::EC2::Route"):
        p = props(resource)
        if p.get("DestinationCidrBlock") != DEFAULT_ROUTE or "NatGatewayId" not in p:
            continue
        nat = assembly.node(node.stack, p["NatGatewayId"])
        table = assembly.node(node.stack, p.get("RouteTableId"))
        nat_zone = assembly.subnet_zone(nat.stack, props(assembly.resource(nat)).get("SubnetId")) if nat else None
        for subnet in associations.get(table, []) if table else []:
            zone = assembly.subnet_zone(subnet.stack, {"Ref": subnet.logical_id})
            needs.setdefault(assembly.region(node), []).append((subnet, zone, nat_zone))
    services = []
    for region, subnets in needs.items():

        def judge(zone: str, subnets: list[tuple[Node, str | None, str | None]] = subnets) -> Verdict:
            live = [(s, z, n) for s, z, n in subnets if z != zone]
            cut = [(s, z, n) for s, z, n in live if n == zone or n is None]
            if cut:
                return Verdict(False, f"LOST: {len(cut)}/{len(live)} live private subnets route to a NAT in {zone}")
            nats = sorted({n for _, _, n in live if n})
            return Verdict(True, f"ok: {len(live)}/{len(live)} live private subnets reach a NAT ({', '.join(nats)})")

        services.append(Service("egress", "egress (NAT)", region, judge))
    return services


def database_services(assembly: Assembly) -> list[Service]:
    services = []
    for node, resource in assembly.resources("AWS::RDS::DBInstance"):
        p = props(resource)
        if "SourceDBInstanceIdentifier" in p or "DBClusterIdentifier" in p:
            continue  # replicas and cluster members are judged with their source or cluster
        multi_az = str(p.get("MultiAZ", "false")).lower() == "true"
        group = assembly.node(node.stack, p.get("DBSubnetGroupName"))
        zones = set()
        if group is not None:
            zones = {z for z in subnet_zones(assembly, group.stack, props(assembly.resource(group)).get("SubnetIds")) if z}
        home = assembly.resolve(node.stack, p.get("AvailabilityZone"))

        def judge(zone: str, multi_az: bool = multi_az, zones: set[str] = zones, home: Any = home) -> Verdict:
            if multi_az and len(zones) >= 2:
                return Verdict(True, "ok: Multi-AZ, the standby is in another zone and takes over")
            if multi_az:
                return Verdict(False, "LOST: Multi-AZ but its subnet group spans one zone")
            if isinstance(home, str) and home != zone:
                return Verdict(True, f"ok: single-AZ in {home}")
            return Verdict(
                False, "LOST: single-AZ instance (no standby)" + ("" if isinstance(home, str) else ", zone chosen at deploy")
            )

        services.append(Service("database", f"RDS {_short(assembly, node)}", assembly.region(node), judge))
    return services


def load_balancer_services(assembly: Assembly) -> list[Service]:
    services = []
    for node, resource in assembly.resources("AWS::ElasticLoadBalancingV2::LoadBalancer"):
        zones = subnet_zones(assembly, node.stack, _lb_subnets(resource))
        kind = props(resource).get("Type", "application")

        def judge(zone: str, zones: list[str | None] = zones) -> Verdict:
            live = [z for z in zones if z != zone]
            if not live:
                return Verdict(False, "LOST: no node in a live zone")
            return Verdict(True, f"ok: nodes in {len(live)}/{len(zones)} zones")

        services.append(
            Service(
                "load balancer", f"{'NLB' if kind == 'network' else 'ALB'} {_short(assembly, node)}", assembly.region(node), judge
            )
        )
    return services


def _group(items: Iterable[Member], key: Any) -> dict[Any, list[Member]]:
    groups: dict[Any, list[Member]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


def analyse(assembly: Assembly, *, failover_method: str = "polling") -> Report:
    """Every zone of every region the assembly deploys to, lost in turn."""
    started = time.perf_counter()
    regions = {region: assembly.zones(region) for region in sorted({s.region for s in assembly.stacks.values()})}
    regions = {r: z for r, z in regions.items() if z}
    members = mirror_members(assembly)
    serving = {assembly.region(m.node) for m in members if m.role == FAILOVER}
    standby = set(regions) - serving if serving else set()
    services = [
        *mirror_services(assembly, failover_method),
        *capacity_services(assembly),
        *egress_services(assembly),
        *database_services(assembly),
        *load_balancer_services(assembly),
    ]
    for service in services:
        for zone in regions.get(service.region, []):
            service.verdicts[zone] = service.judge(zone)
    return Report(regions=regions, standby=standby, services=services, seconds=time.perf_counter() - started)


# --- output ----------------------------------------------------------------------------------------


def _cell(verdict: Verdict) -> str:
    return verdict.text.replace("|", "\\|")


ACCEPTED = Path(__file__).resolve().parent / "az_loss_accepted.json"


def accepted_losses(profile: str, path: Path = ACCEPTED) -> list[dict[str, str]]:
    """The losses ``profile`` knowingly accepts, each a service name prefix and a reason."""
    return list(json.loads(path.read_text()).get(profile, []))


def reason_for(service: Service, accepted: Sequence[dict[str, str]]) -> str | None:
    return next((a["reason"] for a in accepted if service.name.startswith(a["service"])), None)


def unaccepted(report: Report, accepted: Sequence[dict[str, str]]) -> list[tuple[str, Service, Verdict]]:
    return [(z, s, v) for z, s, v in report.losses() if reason_for(s, accepted) is None]


def render(profile: str, report: Report, accepted: Sequence[dict[str, str]] = ()) -> str:
    """A markdown table per region, zone by service, and the losses (known and accepted ones with their reason)."""
    lines = [f"## Profile `{profile}`", ""]
    for region, zones in report.regions.items():
        role = "standby (DR) region: a loss here leaves the service up" if region in report.standby else "serving region"
        lines += [f"### {region}, {role}", "", "| Service | " + " | ".join(f"{z} lost" for z in zones) + " |"]
        lines.append("|---|" + "---|" * len(zones))
        for s in report.services:
            if s.region == region:
                lines.append(f"| {s.name} | " + " | ".join(_cell(s.verdicts[z]) for z in zones) + " |")
        lines.append("")
    losses = report.losses()
    if losses:
        lines += ["Services that lose availability (exit status 1):", ""]
        for zone, s, v in losses:
            reason = reason_for(s, accepted)
            lines.append(
                f"- {zone} lost: {s.name}: {v.text}"
                + (f". **Known and accepted**: {reason}" if reason else ". **Not accepted.**")
            )
        lines.append("")
    verdict = "**available** after the loss of any one zone." if not losses else "**not available** after every zone loss"
    if losses and not unaccepted(report, accepted):
        verdict += ", every loss known and accepted (ops/az_loss_accepted.json)."
    lines += [f"Verdict: {verdict}", ""]
    return "\n".join(lines) + "\n"


def render_text(profile: str, report: Report) -> str:
    out = [f"AZ loss, profile {profile} ({report.seconds * 1000:.0f} ms)"]
    for region, zones in report.regions.items():
        out.append(f"\n{region}{' (standby region)' if region in report.standby else ''}")
        width = max([len(s.name) for s in report.services if s.region == region] + [7])
        out.append(f"{'service'.ljust(width)}  " + "  ".join(z.ljust(10) for z in zones))
        for s in report.services:
            if s.region == region:
                out.append(
                    s.name.ljust(width) + "  " + "  ".join(("ok" if s.verdicts[z].ok else "LOST").ljust(10) for z in zones)
                )
    losses = report.losses()
    for zone, s, v in losses:
        out.append(f"{zone}: {s.name}: {v.text}")
    out.append("available after any one zone loss" if not losses else f"{len(losses)} service/zone pairs lose availability")
    return "\n".join(out)


INTRO = """# Availability-zone loss

Generated by `make report` (`python -m ops.az_loss`) from the synthesized templates of each
profile; do not edit by hand. For each zone in turn, every zonal resource in it is taken away
(instances, subnets, NAT gateways, the Auto Scaling and EKS node capacity placed there, a
single-AZ database) and each service is judged on what is left:

- **mirror set**: a primary and quorum left (two of the two failover members and the arbiter,
  one of them a failover member), the failover method, and whether the VIP still has a node in a
  live zone and a pre-registered target group of a live failover member for every listener port;
- **Auto Scaling groups** (web, ECP, print servers) and **EKS node groups**: the minimum left right
  after the loss, taking the group's minimum as spread evenly over its zones (the lost zone held at
  most the rounded-up share), against the minimum the settings give; the group then refills in the
  live zones;
- **egress**: whether every private subnet in a live zone whose default route goes to a NAT
  gateway still reaches one (a NAT gateway lives in one zone);
- **RDS**: Multi-AZ with a subnet group over two zones or more, so the standby is elsewhere;
- **load balancers**: a node left in a live zone;
- in the DR region, each **async member**.

A region with no failover member is a standby region (the DR region): its rows show what DR keeps
after a zone loss there, but the service runs in the primary region, so they do not count toward
the verdict or the exit status. Not analysed: Karpenter's nodes (launched on demand into any zone
the node class allows), and zonal capacity shortages (the analysis assumes the live zones can
launch replacements).
"""


def write_docs(output: Path, assemblies: Sequence[tuple[str, Path]]) -> int:
    """docs/az-loss.md for each ``(profile, assembly folder)``; non-zero if a loss is not accepted."""
    parts, status = [INTRO], 0
    for profile, folder in assemblies:
        report = analyse(Assembly.load(folder), failover_method=failover_method(profile))
        accepted = accepted_losses(profile)
        parts.append(render(profile, report, accepted))
        for zone, s, v in unaccepted(report, accepted):
            print(f"az-loss: {profile}: {zone} lost: {s.name}: {v.text} (not in ops/az_loss_accepted.json)", file=sys.stderr)
            status = 1
    output.write_text("\n".join(parts))
    print(f"wrote {output}")
    return status


def profile_folders(pairs: Sequence[str]) -> list[tuple[str, Path]]:
    """``PROFILE=FOLDER`` arguments."""
    result = []
    for pair in pairs:
        profile, sep, folder = pair.partition("=")
        if not sep:
            raise SystemExit(f"expected PROFILE=ASSEMBLY_FOLDER, got {pair!r}")
        result.append((profile, Path(folder)))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Which services survive the loss of one availability zone.")
    parser.add_argument("--assembly", type=Path, default=Path("cdk.out"))
    parser.add_argument("--profile", default="reference", help="the profile the assembly was synthesized from (for its settings)")
    parser.add_argument("--json", type=Path, help="also write the analysis as JSON here")
    parser.add_argument("--docs", type=Path, help="write this markdown page for the PROFILE=FOLDER pairs instead")
    parser.add_argument("pairs", nargs="*", metavar="PROFILE=FOLDER")
    args = parser.parse_args(argv)
    if args.docs:
        return write_docs(args.docs, profile_folders(args.pairs))
    report = analyse(Assembly.load(args.assembly), failover_method=failover_method(args.profile))
    print(render_text(args.profile, report))
    if args.json:
        args.json.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    return 1 if report.losses() else 0


def failover_method(profile: str) -> str:
    """The profile's mirror failover method, from the settings in cdk.json."""
    from config import load_settings

    context = json.loads((Path(__file__).resolve().parent.parent / "cdk.json").read_text())["context"]
    return str(load_settings({**context, "profile": profile}, {}).data.failover_method)


if __name__ == "__main__":
    sys.exit(main())
