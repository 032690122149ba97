"""Every taggable resource of every stack carries the four cost allocation tags."""

from __future__ import annotations

import json

import pytest

from config.constants import COST_ALLOCATION_TAGS
from tests.conftest import Synthesized
from tests.cost_tags import tag_property, tags_of, untagged


def test_every_taggable_resource_of_every_template_carries_the_cost_tags(assembly: Synthesized) -> None:
    required = {key: assembly.settings.tags[key] for key in COST_ALLOCATION_TAGS}
    checked = 0
    problems = []
    for path in assembly.template_files():
        template = json.loads(path.read_text())
        checked += sum(1 for r in template["Resources"].values() if tag_property(r["Type"]))
        problems += [f"{path.name}: {p}" for p in untagged(template, required)]
    assert problems == []
    assert checked > 100  # the walk really saw the stacks' resources


def test_the_taggable_types_come_from_the_resource_schemas() -> None:
    assert tag_property("AWS::EC2::Subnet") == "Tags"
    assert tag_property("AWS::Budgets::Budget") == "ResourceTags"
    assert tag_property("AWS::EC2::LaunchTemplate") is None  # tags its instances and volumes instead
    assert tag_property("AWS::CDK::Metadata") is None
    assert tag_property("Custom::AWSCDK-EKS-HelmChart") is None


TAGS = {"Project": "p", "Environment": "e", "Owner": "o", "CostCenter": "c"}


@pytest.mark.parametrize(
    ("resource", "missing"),
    [
        ({"Type": "AWS::SNS::Topic", "Properties": {}}, "CostCenter, Environment, Owner, Project"),
        (
            {
                "Type": "AWS::SNS::Topic",
                "Properties": {"Tags": [{"Key": k, "Value": v} for k, v in TAGS.items() if k != "Owner"]},
            },
            "Owner",
        ),
        ({"Type": "AWS::EKS::Nodegroup", "Properties": {"Tags": {**TAGS, "CostCenter": "other"}}}, "CostCenter"),
        ({"Type": "AWS::Budgets::Budget", "Properties": {"Tags": [{"Key": k, "Value": v} for k, v in TAGS.items()]}}, "Cost"),
    ],
    ids=["no-tags", "one-missing", "wrong-value-in-a-map", "tags-in-the-wrong-property"],
)
def test_the_check_fails_on_a_missing_or_wrong_tag(resource: dict, missing: str) -> None:
    problems = untagged({"Resources": {"Thing": resource}}, TAGS)
    assert len(problems) == 1 and problems[0].startswith("Thing (") and missing in problems[0]


def test_untaggable_and_fully_tagged_resources_pass() -> None:
    template = {
        "Resources": {
            "Tagged": {"Type": "AWS::SNS::Topic", "Properties": {"Tags": [{"Key": k, "Value": v} for k, v in TAGS.items()]}},
            "Budget": {
                "Type": "AWS::Budgets::Budget",
                "Properties": {"ResourceTags": [{"Key": k, "Value": v} for k, v in TAGS.items()]},
            },
            "Chart": {"Type": "Custom::AWSCDK-EKS-HelmChart", "Properties": {}},
        }
    }
    assert untagged(template, TAGS) == []
    assert tags_of([{"key": "A", "value": "1"}]) == {"A": "1"}
