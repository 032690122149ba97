"""components/visitors.py: jobs run as the aspects they replace would run, by kind and scope."""

from __future__ import annotations

import aws_cdk as cdk
import jsii
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import IConstruct

from components.visitors import visit_each

ROLE_PRINCIPAL = iam.ServicePrincipal("ec2.amazonaws.com")


@jsii.implements(cdk.IAspect)
class AddsARoleWhileSynthesizing:
    """An aspect of the CDK's kind: it adds a construct during synthesis (as the IMDSv2 aspect adds launch templates)."""

    def __init__(self) -> None:
        self.added = False

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, cdk.Stack) and not self.added:
            self.added = True
            iam.Role(node, "AddedLate", assumed_by=ROLE_PRINCIPAL)


def test_each_job_sees_the_constructs_of_its_kind_in_its_scope_and_those_added_while_synthesizing() -> None:
    app = cdk.App()
    first, second = cdk.Stack(app, "First"), cdk.Stack(app, "Second")
    iam.Role(first, "Role", assumed_by=ROLE_PRINCIPAL)
    iam.Role(second, "Role", assumed_by=ROLE_PRINCIPAL)
    sns.Topic(first, "Topic")
    nested = cdk.NestedStack(first, "Nested")
    iam.Role(nested, "Role", assumed_by=ROLE_PRINCIPAL)
    cdk.Aspects.of(first).add(AddsARoleWhileSynthesizing(), priority=cdk.AspectPriority.MUTATING)

    seen: dict[str, list[str]] = {"app roles": [], "first's roles": [], "topics": []}
    visit_each(app, iam.Role, lambda node: seen["app roles"].append(node.node.path))
    visit_each(first, iam.Role, lambda node: seen["first's roles"].append(node.node.path))
    visit_each(second, sns.Topic, lambda node: seen["topics"].append(node.node.path))
    app.synth()

    assert sorted(seen["first's roles"]) == ["First/AddedLate", "First/Nested/Role", "First/Role"]
    assert sorted(seen["app roles"]) == ["First/AddedLate", "First/Nested/Role", "First/Role", "Second/Role"]
    assert seen["topics"] == []  # the topic is in the other stack
    # One aspect at the root serves every job.
    assert len([a for a in cdk.Aspects.of(app).all if type(a).__name__ == "_Visitors"]) == 1
