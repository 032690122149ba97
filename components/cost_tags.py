"""Cost allocation tags on resources that ``Tags.of()`` cannot reach."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import CfnResource, TagManager
from constructs import IConstruct

# Types the CDK also writes as plain CfnResource (its custom-resource provider
# roles and functions, the EKS kubectl barrier parameter), with the shape
# CloudFormation expects for their tags.
LIST_TAGGED = ("AWS::IAM::Role", "AWS::Lambda::Function")
MAP_TAGGED = ("AWS::SSM::Parameter",)


class PlainResourceTags:
    """Adds ``tags`` to taggable resources the CDK writes without a tag manager (a visitor of
    :class:`CfnResource`, components/visitors.py).

    ``Tags.of(app)`` tags every L1 and L2 resource; a few resources the CDK
    emits as plain ``CfnResource`` have no tag manager, so this aspect writes
    their ``Tags`` property directly. Tags a resource already has win.
    """

    def __init__(self, tags: Mapping[str, str]) -> None:
        self._tags = dict(tags)

    def visit(self, node: IConstruct) -> None:
        # A resource the CDK writes through an L1 class is taggable, or of a type this does not tag; only a
        # plain CfnResource can lack a tag manager. Tested in Python first: a jsii call for each resource costs.
        if type(node) is not CfnResource or TagManager.is_taggable(node):
            return
        kind = node.cfn_resource_type
        if kind in LIST_TAGGED:
            node.add_property_override("Tags", [{"Key": k, "Value": v} for k, v in sorted(self._tags.items())])
        elif kind in MAP_TAGGED:
            node.add_property_override("Tags", dict(sorted(self._tags.items())))
