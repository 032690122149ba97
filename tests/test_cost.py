"""The monthly cost estimate: a line recomputed by hand, a missing price fails, counts match the templates."""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path

import pytest

from ops.assembly import Assembly, number, props
from ops.cost import HOURS_PER_MONTH, Assumptions, MissingPrice, estimate, load_prices, render
from tests.conftest import Synthesized

PRICES = Path(__file__).resolve().parent.parent / "ops" / "prices"


def test_an_io1_volume_and_a_member_recomputed_by_hand(reference: Synthesized) -> None:
    assembly = Assembly.load(reference.outdir)
    est = estimate(assembly, "reference")
    table = json.loads((PRICES / "eu-west-1.json").read_text())
    (volume, spec) = next(
        (n, r)
        for n, r in assembly.resources("AWS::EC2::Volume")
        if props(r)["VolumeType"] == "io1" and assembly.region(n) == "eu-west-1"
    )
    size, iops = number(props(spec)["Size"]), number(props(spec)["Iops"])
    lines = {
        (line.unit, line.quantity): line
        for line in est.lines
        if line.stack == volume.stack and line.service == "EBS" and volume.logical_id[:-8] in line.item
    }
    assert lines[("GiB-month", size)].monthly == round(size * table["ebs"]["io1_gib_month"], 2)
    assert lines[("IOPS-month", iops)].monthly == round(iops * table["ebs"]["io1_iops_month"], 2)
    member_type = reference.settings.data.mirror_sets[0].instance_type
    member_lines = [line for line in est.lines if line.item.startswith(f"{member_type} ") and line.region == "eu-west-1"]
    assert member_lines
    assert {line.monthly for line in member_lines} == {round(table["ec2_instance_hour"][member_type] * HOURS_PER_MONTH, 2)}


def test_a_new_hourly_resource_without_a_price_rule_fails(reference: Synthesized) -> None:
    assembly = copy.deepcopy(Assembly.load(reference.outdir))
    stack = next(iter(assembly.stacks.values()))
    stack.resources["Cache"] = {"Type": "AWS::ElastiCache::CacheCluster", "Properties": {"CacheNodeType": "cache.r7g.large"}}
    with pytest.raises(MissingPrice, match="AWS::ElastiCache::CacheCluster"):
        estimate(assembly, "reference")


def test_an_instance_type_without_a_price_row_fails(reference: Synthesized) -> None:
    assembly = Assembly.load(reference.outdir)
    tables = {r: load_prices(r) for r in {s.region for s in assembly.stacks.values()}}
    member_type = reference.settings.data.mirror_sets[0].instance_type
    del tables["eu-west-1"]["ec2_instance_hour"][member_type]
    with pytest.raises(MissingPrice, match=f"ec2_instance_hour\\[{member_type}\\]"):
        estimate(assembly, "reference", prices=tables)


def template_instance_counts(assembly: Assembly) -> Counter[str]:
    """Instances by type, read straight from the templates: instances, group minimums, node group sizes."""
    templates = {
        (n.stack, n.logical_id): props(r)["LaunchTemplateData"] for n, r in assembly.resources("AWS::EC2::LaunchTemplate")
    }
    counts: Counter[str] = Counter()
    for _, r in assembly.resources("AWS::EC2::Instance"):
        counts[props(r)["InstanceType"]] += 1
    for node, r in assembly.resources("AWS::AutoScaling::AutoScalingGroup"):
        template = templates[(node.stack, props(r)["LaunchTemplate"]["LaunchTemplateId"]["Ref"])]
        counts[template["InstanceType"]] += int(props(r)["MinSize"])
    for _, r in assembly.resources("AWS::EKS::Nodegroup"):
        counts[props(r)["InstanceTypes"][0]] += props(r)["ScalingConfig"]["DesiredSize"]
    return +counts


def test_instance_counts_equal_the_templates(assembly: Synthesized) -> None:
    parsed = Assembly.load(assembly.outdir)
    est = estimate(parsed, "profile")
    assert est.instance_counts() == dict(template_instance_counts(parsed))


def test_it_says_it_is_an_estimate_with_its_date_and_total(dev: Synthesized) -> None:
    est = estimate(Assembly.load(dev.outdir), "dev", Assumptions(nat_gb_per_gateway=0))
    text = render(est)
    assert "estimate" in text.lower() and "2026-12-01" in text
    assert f"${est.total:,.2f}" in text
    assert est.total == pytest.approx(sum(est.by_stack().values()), abs=0.05)
    assert all(line.monthly == 0 for line in est.lines if line.item.startswith("NAT data"))


def test_the_log_search_domain_is_priced_by_node_hours_and_volume(reference: Synthesized) -> None:
    s, table = reference.settings.ops.log_search, load_prices("eu-west-1")
    lines = [line for line in estimate(Assembly.load(reference.outdir), "reference").lines if line.service == "OpenSearch"]
    hours, instance = HOURS_PER_MONTH, table["opensearch_instance_hour"]
    expected = (
        s.data_nodes * instance[s.instance_type] * hours
        + s.dedicated_masters * instance[s.master_instance_type] * hours
        + s.data_nodes * s.volume_gib * table["opensearch_gp3_gib_month"]
    )
    assert len(lines) == 3 and sum(line.monthly for line in lines) == pytest.approx(expected, abs=0.02)
