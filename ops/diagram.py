"""Architecture diagrams drawn from a synthesized assembly with Graphviz: an overview per profile
and a detail view per mirror set, as DOT source, PNG and SVG.

Nothing is drawn from a hand-kept list: regions and stacks come from the manifest, VPCs, tiers
(the subnet groups), load balancers, Auto Scaling and node groups, mirror members (instances
tagged with a mirror role), databases, NAT gateways and the links between them (target groups,
listeners, peering, failover records) from the templates.

    python -m ops.diagram --out docs/diagrams reference=cdk.out dev=cdk.out.dev
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import graphviz

from ops.assembly import Assembly, Node, number, props
from ops.az_loss import ASYNC, FAILOVER, Member, mirror_members

FONT = "Helvetica"
COLOURS = {
    "lb": "#f6d8ae",
    "compute": "#cfe3f7",
    "member": "#d9f2d0",
    "arbiter": "#eeeeee",
    "async": "#fde2e4",
    "database": "#e4d9f7",
    "network": "#fff7c2",
    "dns": "#d7f0ef",
    "volume": "#f2f2f2",
}


def _id(node: Node) -> str:
    return f"{node.stack}/{node.logical_id}"


def _short_stack(stack: str) -> str:
    return stack.split("-", 1)[-1]


@dataclass
class Model:
    """What the diagrams show, read once from the assembly."""

    assembly: Assembly
    members: list[Member]
    tier_of_subnet: dict[Node, str] = field(default_factory=dict)
    vpc_of_subnet: dict[Node, Node] = field(default_factory=dict)

    @classmethod
    def read(cls, assembly: Assembly) -> Model:
        model = cls(assembly, mirror_members(assembly))
        for node, r in assembly.resources("AWS::EC2::Subnet"):
            segments = assembly.path(node).split("/")
            name = next((s for s in reversed(segments) if re.search(r"Subnet\d*$", s) and s != "Subnet"), segments[-1])
            model.tier_of_subnet[node] = re.sub(r"Subnet\d*$", "", name) or "subnet"
            vpc = assembly.node(node.stack, props(r).get("VpcId"))
            if vpc:
                model.vpc_of_subnet[node] = vpc
        return model

    def subnets(self, stack: str, value: object) -> list[Node]:
        found = [self.assembly.node(stack, s) for s in self.assembly.subnet_list(stack, value)]
        return [s for s in found if s is not None and s in self.tier_of_subnet]

    def placement(self, stack: str, subnets: object) -> tuple[Node | None, str]:
        """The VPC and tier a resource with these subnets sits in."""
        nodes = self.subnets(stack, subnets)
        if not nodes:
            return None, "other"
        return self.vpc_of_subnet.get(nodes[0]), self.tier_of_subnet[nodes[0]]

    def member_subnet(self, member: Member) -> object:
        p = props(self.assembly.resource(member.node))
        return [p.get("SubnetId") or (p.get("NetworkInterfaces") or [{}])[0].get("SubnetId")]

    def target_groups_of(self, lb: Node) -> list[Node]:
        groups = []
        for node, r in self.assembly.resources("AWS::ElasticLoadBalancingV2::Listener"):
            if self.assembly.node(node.stack, props(r).get("LoadBalancerArn")) == lb:
                for action in props(r).get("DefaultActions", []):
                    tg = self.assembly.node(node.stack, action.get("TargetGroupArn"))
                    if tg:
                        groups.append(tg)
                    for item in action.get("ForwardConfig", {}).get("TargetGroups", []):
                        tg = self.assembly.node(node.stack, item.get("TargetGroupArn"))
                        if tg:
                            groups.append(tg)
        return groups


def _label(title: str, *lines: str) -> str:
    return "\n".join([title, *[line for line in lines if line]])


def _lb_label(assembly: Assembly, node: Node) -> str:
    p = props(assembly.resource(node))
    kind = "NLB" if p.get("Type") == "network" else "ALB"
    name = assembly.path(node).split("/")
    return _label(f"{kind} {'/'.join(name[1:-1]) or name[-1]}", p.get("Scheme", ""), _short_stack(node.stack))


def _instance_type(assembly: Assembly, node: Node) -> str:
    p = props(assembly.resource(node))
    if isinstance(p.get("InstanceType"), str):
        return str(p["InstanceType"])
    spec = p.get("LaunchTemplate") or {}
    lt = assembly.node(node.stack, spec.get("LaunchTemplateId"))
    if lt:
        return str(props(assembly.resource(lt)).get("LaunchTemplateData", {}).get("InstanceType", "?"))
    return "?"


def overview(assembly: Assembly, profile: str) -> graphviz.Digraph:
    model = Model.read(assembly)
    graph = graphviz.Digraph(f"{profile}-overview", engine="dot")
    graph.attr(
        rankdir="LR",
        fontname=FONT,
        fontsize="20",
        label=f"Profile {profile}: generated from the synthesized templates",
        labelloc="t",
        compound="true",
        nodesep="0.25",
        ranksep="0.6",
    )
    graph.attr("node", fontname=FONT, fontsize="11", shape="box", style="rounded,filled")
    graph.attr("edge", fontname=FONT, fontsize="9", color="#555555")

    placed: dict[tuple[str, Node | None, str], list[tuple[str, str, str]]] = {}

    def place(region: str, vpc: Node | None, tier: str, node_id: str, label: str, colour: str) -> None:
        placed.setdefault((region, vpc, tier), []).append((node_id, label, colour))

    edges: list[tuple[str, str, str]] = []
    # Links across regions, drawn without moving either region's nodes to a later rank.
    links: list[tuple[str, str, str]] = []
    # Load balancers and what they forward to.
    lbs = list(assembly.resources("AWS::ElasticLoadBalancingV2::LoadBalancer"))
    asg_of_tg: dict[Node, list[Node]] = {}
    for node, r in assembly.resources("AWS::AutoScaling::AutoScalingGroup"):
        for tg in props(r).get("TargetGroupARNs", []):
            tg_node = assembly.node(node.stack, tg)
            if tg_node:
                asg_of_tg.setdefault(tg_node, []).append(node)
        vpc, tier = model.placement(node.stack, props(r).get("VPCZoneIdentifier"))
        p = props(r)
        zones = len(model.subnets(node.stack, p.get("VPCZoneIdentifier")))
        name = "/".join(x for x in assembly.path(node).split("/")[1:] if x not in ("Group", "ASG"))
        label = _label(
            f"Auto Scaling {name}",
            f"{_instance_type(assembly, node)}, min {number(p.get('MinSize'))} max {number(p.get('MaxSize'))}",
            f"{zones} zones, {_short_stack(node.stack)}",
        )
        place(assembly.region(node), vpc, tier, _id(node), label, COLOURS["compute"])
    member_nodes = {m.node: m for m in model.members}
    for node, r in lbs:
        vpc, tier = model.placement(
            node.stack, r.get("Properties", {}).get("Subnets") or [m.get("SubnetId") for m in props(r).get("SubnetMappings", [])]
        )
        place(assembly.region(node), vpc, tier, _id(node), _lb_label(assembly, node), COLOURS["lb"])
        seen = set()
        for tg in model.target_groups_of(node):
            for asg in asg_of_tg.get(tg, []):
                if asg not in seen:
                    edges.append((_id(node), _id(asg), ""))
                    seen.add(asg)
            for target in props(assembly.resource(tg)).get("Targets", []):
                member = assembly.node(tg.stack, target.get("Id"))
                if member in member_nodes and member not in seen:
                    edges.append((_id(node), _id(member), f"{number(props(assembly.resource(tg)).get('Port'))}"))
                    seen.add(member)
    # Mirror members, one cluster per set and region, each member labelled with its zone.
    sets: dict[tuple[str, str], list[Member]] = {}
    for m in model.members:
        sets.setdefault((assembly.region(m.node), m.set_name), []).append(m)
    set_anchor: dict[tuple[str, str], Member] = {}
    for (region, set_name), group in sets.items():
        vpc, tier = model.placement(group[0].node.stack, model.member_subnet(group[0]))
        for m in sorted(group, key=lambda m: m.name):
            label = _label(
                f"{set_name} {m.name}", f"{m.role}, {_instance_type(assembly, m.node)}", f"{m.zone}, {_short_stack(m.node.stack)}"
            )
            colour = COLOURS["member"] if m.role == FAILOVER else COLOURS["async"] if m.role == ASYNC else COLOURS["arbiter"]
            place(region, vpc, f"{tier}|mirror {set_name}", _id(m.node), label, colour)
        set_anchor[(region, set_name)] = sorted(group, key=lambda m: (m.role != FAILOVER, m.name))[0]
    for (_, set_name), anchor in set_anchor.items():
        if anchor.role == ASYNC:
            source = next((a for (r, s), a in set_anchor.items() if s == set_name and a.role == FAILOVER), None)
            if source:
                links.append((_id(source.node), _id(anchor.node), "async mirror"))
    # EKS, node groups, databases, NAT gateways.
    for node, r in assembly.resources("AWS::EKS::Cluster"):
        vpc, tier = model.placement(node.stack, props(r).get("ResourcesVpcConfig", {}).get("SubnetIds"))
        place(
            assembly.region(node),
            vpc,
            tier,
            _id(node),
            _label(
                f"EKS {props(r).get('Name', node.logical_id)}",
                f"Kubernetes {props(r).get('Version', '')}",
                _short_stack(node.stack),
            ),
            COLOURS["compute"],
        )
    for node, r in assembly.resources("AWS::EKS::Nodegroup"):
        p = props(r)
        vpc, tier = model.placement(node.stack, p.get("Subnets"))
        s = p.get("ScalingConfig", {})
        label = _label(
            f"node group {p.get('Labels', {}).get('mendix.io/node-role', node.logical_id[:20])}",
            f"{', '.join(p.get('InstanceTypes', []))} {p.get('CapacityType', '')}",
            f"min {s.get('MinSize')} max {s.get('MaxSize')}",
        )
        place(assembly.region(node), vpc, tier, _id(node), label, COLOURS["compute"])
        cluster = assembly.node(node.stack, p.get("ClusterName"))
        if cluster:
            edges.append((_id(cluster), _id(node), ""))
    for node, r in assembly.resources("AWS::RDS::DBInstance"):
        p = props(r)
        subnet_group = assembly.node(node.stack, p.get("DBSubnetGroupName"))
        vpc, tier = (
            model.placement(subnet_group.stack, props(assembly.resource(subnet_group)).get("SubnetIds"))
            if subnet_group
            else (None, "other")
        )
        multi = "Multi-AZ" if str(p.get("MultiAZ", "false")).lower() == "true" else "single-AZ"
        place(
            assembly.region(node),
            vpc,
            tier,
            _id(node),
            _label(f"RDS {p.get('Engine', '')} {p.get('DBInstanceClass', '')}", multi, _short_stack(node.stack)),
            COLOURS["database"],
        )
    for node, r in assembly.resources("AWS::EC2::NatGateway"):
        subnet = assembly.node(node.stack, props(r).get("SubnetId"))
        zone = assembly.subnet_zone(node.stack, props(r).get("SubnetId"))
        tier = model.tier_of_subnet.get(subnet, "other") if subnet else "other"
        place(
            assembly.region(node),
            model.vpc_of_subnet.get(subnet) if subnet else None,
            tier,
            _id(node),
            _label("NAT gateway", zone or ""),
            COLOURS["network"],
        )
    # DR links: peering and DNS failover records.
    peerings = []
    for node, r in assembly.resources("AWS::EC2::VPCPeeringConnection"):
        peerings.append(
            (
                node,
                assembly.node(node.stack, props(r).get("VpcId")),
                assembly.node(node.stack, props(r).get("PeerVpcId")),
                props(r).get("PeerRegion"),
            )
        )
    failover_records: list[tuple[Node, str, Node]] = []
    for node, r in assembly.resources("AWS::Route53::RecordSet"):
        p = props(r)
        if "Failover" in p:
            value = p["AliasTarget"].get("DNSName") if "AliasTarget" in p else (p.get("ResourceRecords") or [None])[0]
            target = assembly.resolve(node.stack, value)
            if isinstance(target, tuple) and target[0] in {n for n, _ in lbs}:
                failover_records.append((node, str(p["Failover"]), target[0]))

    # Draw: region -> VPC -> tier -> (mirror set) -> nodes.
    regions = sorted({s.region for s in assembly.stacks.values()}, key=lambda r: (r != _primary(assembly, model), r))
    vpcs = {n: r for n, r in assembly.resources("AWS::EC2::VPC")}
    for region in regions:
        role = "primary" if region == _primary(assembly, model) else "DR"
        with graph.subgraph(name=f"cluster_{region}") as rg:
            rg.attr(label=f"{region} ({role})", style="rounded", color="#888888", fontsize="16", fontname=FONT)
            stacks = [s.name for s in assembly.stacks.values() if s.region == region]
            rg.node(
                f"stacks#{region}",
                _label("Stacks", *_wrap(stacks, 3)),
                shape="note",
                style="filled",
                fillcolor="white",
                fontsize="10",
            )
            for vpc in [v for v in vpcs if assembly.region(v) == region] + [None]:
                keys = sorted(k for k in placed if k[0] == region and k[1] == vpc)
                if not keys:
                    continue
                container = rg.subgraph(name=f"cluster_{_id(vpc)}" if vpc else f"cluster_{region}_regional")
                with container as vg:
                    cidr = props(vpcs[vpc]).get("CidrBlock", "") if vpc else ""
                    vg.attr(
                        label=f"VPC {cidr} ({_short_stack(vpc.stack)})" if vpc else "regional services",
                        style="rounded,dashed",
                        color="#4a7bb7",
                        fontsize="13",
                    )
                    tiers = sorted({k[2].split("|")[0] for k in keys}, key=_tier_order)
                    for tier in tiers:
                        with vg.subgraph(name=f"cluster_{region}_{_id(vpc) if vpc else 'x'}_{tier}") as tg:
                            tg.attr(
                                label=f"{tier} subnets",
                                style="rounded,filled",
                                fillcolor="#fafafa",
                                color="#cccccc",
                                fontsize="12",
                            )
                            for key in [k for k in keys if k[2] == tier]:
                                for node_id, label, colour in placed[key]:
                                    tg.node(node_id, label, fillcolor=colour)
                            for key in [k for k in keys if k[2].startswith(tier + "|")]:
                                with tg.subgraph(name=f"cluster_{region}_{key[2]}") as ms:
                                    ms.attr(
                                        label=key[2].split("|")[1], style="rounded,filled", fillcolor="#f0f8ec", color="#7fb069"
                                    )
                                    for node_id, label, colour in placed[key]:
                                        ms.node(node_id, label, fillcolor=colour)
    for _, vpc, peer, peer_region in peerings:
        a = _first_in(placed, vpc)
        b = _first_in(placed, peer)
        if a and b and vpc and peer:
            graph.edge(
                a,
                b,
                label=f"VPC peering to {peer_region or 'the same region'}",
                style="dashed",
                color="#4a7bb7",
                dir="both",
                ltail=f"cluster_{_id(vpc)}",
                lhead=f"cluster_{_id(peer)}",
                constraint="false",
            )
    if failover_records:
        name = assembly.resolve(failover_records[0][0].stack, props(assembly.resource(failover_records[0][0])).get("Name"))
        graph.node(
            "dns#failover",
            _label("Route 53 failover record", str(name) if isinstance(name, str) else ""),
            fillcolor=COLOURS["dns"],
            shape="box",
            style="rounded,filled",
        )
        for _, kind, target in failover_records:
            graph.edge("dns#failover", _id(target), label=kind.lower())
    for a, b, label in edges:
        graph.edge(a, b, label=label)
    for a, b, label in links:
        graph.edge(a, b, label=label, constraint="false", color="#c0392b", fontcolor="#c0392b")
    return graph


def _primary(assembly: Assembly, model: Model) -> str:
    serving = sorted({assembly.region(m.node) for m in model.members if m.role == FAILOVER})
    return serving[0] if serving else sorted({s.region for s in assembly.stacks.values()})[0]


def _tier_order(tier: str) -> tuple[int, str]:
    order = ["public", "web", "app", "data", "isolated", "other"]
    return (order.index(tier) if tier in order else len(order) - 1, tier)


def _wrap(items: Sequence[str], per_line: int) -> list[str]:
    return [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]


def _first_in(placed: dict[tuple[str, Node | None, str], list[tuple[str, str, str]]], vpc: Node | None) -> str | None:
    for key in sorted(placed, key=lambda k: -_tier_order(k[2].split("|")[0])[0]):
        if key[1] == vpc and vpc is not None:
            return placed[key][0][0]
    return None


def detail(assembly: Assembly, set_name: str) -> graphviz.Digraph:
    """One mirror set: its members per zone with their volumes, its VIPs, listeners and target groups."""
    model = Model.read(assembly)
    members = [m for m in model.members if m.set_name == set_name]
    graph = graphviz.Digraph(f"mirror-{set_name}", engine="dot")
    graph.attr(
        rankdir="LR",
        fontname=FONT,
        fontsize="18",
        label=f"Mirror set {set_name}: members per zone, volumes and VIP",
        labelloc="t",
        nodesep="0.2",
    )
    graph.attr("node", fontname=FONT, fontsize="11", shape="box", style="rounded,filled")
    graph.attr("edge", fontname=FONT, fontsize="9", color="#555555")
    volumes: dict[Node, list[Node]] = {}
    for node, r in assembly.resources("AWS::EC2::VolumeAttachment"):
        instance = assembly.node(node.stack, props(r).get("InstanceId"))
        volume = assembly.node(node.stack, props(r).get("VolumeId"))
        if instance and volume:
            volumes.setdefault(instance, []).append(volume)
    by_zone: dict[tuple[str, str], list[Member]] = {}
    for m in members:
        by_zone.setdefault((assembly.region(m.node), m.zone or "zone unknown"), []).append(m)
    for (region, zone), group in sorted(by_zone.items()):
        with graph.subgraph(name=f"cluster_{zone}") as zg:
            zg.attr(label=f"{zone} ({region})", style="rounded,filled", fillcolor="#fafafa", color="#aaaaaa")
            for m in group:
                colour = COLOURS["member"] if m.role == FAILOVER else COLOURS["async"] if m.role == ASYNC else COLOURS["arbiter"]
                zg.node(
                    _id(m.node),
                    _label(f"{m.name} ({m.role})", _instance_type(assembly, m.node), _short_stack(m.node.stack)),
                    fillcolor=colour,
                )
                vols = sorted(volumes.get(m.node, []), key=lambda v: v.logical_id)
                if vols:
                    rows = []
                    for v in vols:
                        p = props(assembly.resource(v))
                        name = assembly.path(v).split("/")[-1]
                        rows.append(
                            f"{name}: {p.get('VolumeType')} {p.get('Size')} GiB"
                            + (f", {p.get('Iops')} IOPS" if p.get("Iops") else "")
                        )
                    zg.node(
                        f"{_id(m.node)}#volumes",
                        _label("EBS volumes", *rows),
                        fillcolor=COLOURS["volume"],
                        shape="box",
                        fontsize="9",
                    )
                    graph.edge(_id(m.node), f"{_id(m.node)}#volumes", arrowhead="none")
    member_ids = {m.node for m in members}
    for lb, _ in assembly.resources("AWS::ElasticLoadBalancingV2::LoadBalancer"):
        tgs_by_port: dict[int, list[Node]] = {}
        for tg, t in assembly.resources("AWS::ElasticLoadBalancingV2::TargetGroup"):
            if tg.stack != lb.stack:
                continue
            if any(assembly.node(tg.stack, x.get("Id")) in member_ids for x in props(t).get("Targets", [])):
                tgs_by_port.setdefault(number(props(t).get("Port")), []).append(tg)
        current = set(model.target_groups_of(lb))
        if not tgs_by_port or not current & {t for ts in tgs_by_port.values() for t in ts}:
            continue
        graph.node(_id(lb), _lb_label(assembly, lb), fillcolor=COLOURS["lb"])
        for port, tgs in sorted(tgs_by_port.items()):
            for tg in tgs:
                for x in props(assembly.resource(tg)).get("Targets", []):
                    member = assembly.node(tg.stack, x.get("Id"))
                    if member in member_ids:
                        live = tg in current
                        graph.edge(
                            _id(lb),
                            _id(member),
                            label=f"{port}{' (listener now)' if live else ' (pre-registered)'}",
                            style="solid" if live else "dashed",
                        )
    for node, r in assembly.resources():
        p = props(r)
        if p.get("MirrorSet") == set_name and "DesiredPrimary" in p:
            graph.node(
                _id(node),
                _label("deploy-time primary", f"{p['DesiredPrimary']} ({r['Type']})"),
                fillcolor=COLOURS["dns"],
                shape="note",
            )
    return graph


def mirror_sets(assembly: Assembly) -> list[str]:
    return sorted({m.set_name for m in mirror_members(assembly)})


def write(graph: graphviz.Digraph, out: Path, stem: str, formats: Iterable[str]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    source = out / f"{stem}.dot"
    source.write_text(graph.source)
    written.append(source)
    for fmt in formats:
        target = out / f"{stem}.{fmt}"
        target.write_bytes(graph.pipe(format=fmt, engine="dot"))
        written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Draw the architecture of synthesized assemblies.")
    parser.add_argument("--out", type=Path, default=Path("docs/diagrams"))
    parser.add_argument("pairs", nargs="+", metavar="PROFILE=FOLDER", help="e.g. reference=cdk.out dev=cdk.out.dev")
    args = parser.parse_args(argv)
    from ops.az_loss import profile_folders

    formats = ("png", "svg") if shutil.which("dot") else ()
    if not formats:
        print(
            "diagram: Graphviz `dot` is not installed (Debian: apt-get install -y graphviz); writing DOT sources only",
            file=sys.stderr,
        )
    for profile, folder in profile_folders(args.pairs):
        started = time.perf_counter()
        assembly = Assembly.load(folder)
        graphs = [(f"{profile}-overview", overview(assembly, profile))]
        graphs += [(f"{profile}-mirror-{name}", detail(assembly, name)) for name in mirror_sets(assembly)]
        built = time.perf_counter() - started
        for stem, graph in graphs:
            for path in write(graph, args.out, stem, formats):
                print(f"wrote {path}")
        print(f"{profile}: graphs built in {built * 1000:.0f} ms, rendered in {(time.perf_counter() - started - built):.1f} s")
    return 0 if formats else 1


if __name__ == "__main__":
    sys.exit(main())
