"""Read a synthesized cloud assembly as plain data, for the offline reports (AZ loss, cost, diagram).

Nothing here knows a logical id: resources are found by type, tag and construct path, and
references between stacks (``Fn::GetStackOutput``, ``Fn::ImportValue``) and zone intrinsics
(``Fn::Select`` over ``Fn::GetAZs``) are resolved the way CloudFormation would at deploy time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STACK_ARTIFACT = "aws:cloudformation:stack"


@dataclass(frozen=True)
class Node:
    """One resource of one stack: the canonical identity a reference resolves to."""

    stack: str
    logical_id: str


@dataclass
class Stack:
    name: str
    region: str
    account: str
    template: dict[str, Any]
    # Construct paths by logical id, from the assembly's metadata (templates carry them only when
    # path metadata is on, as the CDK CLI sets it).
    paths: dict[str, str] = field(default_factory=dict)

    @property
    def resources(self) -> dict[str, Any]:
        return self.template.get("Resources", {})


@dataclass
class Assembly:
    """The stacks of one cloud assembly by stack name."""

    stacks: dict[str, Stack]
    # Zones of a region for ``Fn::GetAZs``, when the templates name them nowhere else.
    region_zones: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, outdir: Path) -> Assembly:
        manifest = json.loads((outdir / "manifest.json").read_text())
        stacks = {}
        for artifact in manifest["artifacts"].values():
            if artifact.get("type") != STACK_ARTIFACT:
                continue
            props = artifact["properties"]
            _, account, region = artifact["environment"].rsplit("/", 2)
            template = json.loads((outdir / props["templateFile"]).read_text())
            name = props.get("stackName") or artifact.get("displayName") or props["templateFile"].removesuffix(".template.json")
            metadata = dict(artifact.get("metadata") or {})
            if artifact.get("additionalMetadataFile"):
                metadata.update(json.loads((outdir / artifact["additionalMetadataFile"]).read_text()))
            paths = {
                entry["data"]: path.lstrip("/")
                for path, entries in metadata.items()
                for entry in entries
                if entry.get("type") == "aws:cdk:logicalId" and isinstance(entry.get("data"), str)
            }
            stacks[name] = Stack(name=name, region=region, account=account.removeprefix("aws:"), template=template, paths=paths)
        return cls(stacks=stacks)

    # --- walking -------------------------------------------------------------------------------

    def resources(self, *types: str) -> Iterator[tuple[Node, dict[str, Any]]]:
        for stack in self.stacks.values():
            for logical_id, resource in stack.resources.items():
                if not types or resource.get("Type") in types:
                    yield Node(stack.name, logical_id), resource

    def resource(self, node: Node) -> dict[str, Any]:
        return self.stacks[node.stack].resources[node.logical_id]

    def region(self, node: Node) -> str:
        return self.stacks[node.stack].region

    def path(self, node: Node) -> str:
        """The construct path (``aws:cdk:path``) without the trailing ``/Resource``."""
        fallback = self.stacks[node.stack].paths.get(node.logical_id, f"{node.stack}/{node.logical_id}")
        path = self.resource(node).get("Metadata", {}).get("aws:cdk:path", fallback)
        return str(path).removesuffix("/Resource")

    # --- resolving -----------------------------------------------------------------------------

    def resolve(self, stack: str, value: Any) -> Any:
        """``value`` as written in ``stack``, with references followed: a resource comes back as its
        :class:`Node`, ``Fn::GetAtt`` as ``(Node, attribute)``, a zone intrinsic as the zone's name,
        another stack's output or an export as what it resolves to in its own stack. Anything else
        (a literal, a parameter, an intrinsic this reader does not evaluate) comes back as given."""
        if isinstance(value, dict) and len(value) == 1:
            ((fn, arg),) = value.items()
            if fn == "Ref" and isinstance(arg, str):
                return Node(stack, arg) if arg in self.stacks[stack].resources else value
            if fn == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
                if logical_id in self.stacks[stack].resources:
                    return (Node(stack, logical_id), attribute)
                return value
            if fn == "Fn::GetStackOutput" and arg.get("StackName") in self.stacks:
                other = arg["StackName"]
                output = self.stacks[other].template.get("Outputs", {}).get(arg["OutputName"])
                return self.resolve(other, output["Value"]) if output else value
            if fn == "Fn::ImportValue":
                name = self.resolve(stack, arg)
                for other, output in self._exports().get(name, []):
                    return self.resolve(other, output["Value"])
                return value
            if fn == "Fn::Select":
                index, items = arg
                index = self.resolve(stack, index)
                items = self.resolve(stack, items)
                if isinstance(index, (int, str)) and str(index).isdigit() and isinstance(items, list):
                    return self.resolve(stack, items[int(index)])
                return value
            if fn == "Fn::GetAZs":
                region = arg if isinstance(arg, str) and arg else self.stacks[stack].region
                if isinstance(region, dict):  # {"Ref": "AWS::Region"}
                    region = self.stacks[stack].region
                return self.zones(region)
        return value

    def _exports(self) -> Mapping[Any, list[tuple[str, dict[str, Any]]]]:
        exports: dict[Any, list[tuple[str, dict[str, Any]]]] = {}
        for stack in self.stacks.values():
            for output in stack.template.get("Outputs", {}).values():
                name = output.get("Export", {}).get("Name")
                if name is not None:
                    exports.setdefault(self.resolve(stack.name, name) if isinstance(name, dict) else name, []).append(
                        (stack.name, output)
                    )
        return exports

    def zones(self, region: str) -> list[str]:
        """The zones of ``region``: as given, else every literal zone a subnet of that region names, sorted."""
        if region in self.region_zones:
            return list(self.region_zones[region])
        found = {
            r["Properties"]["AvailabilityZone"]
            for node, r in self.resources("AWS::EC2::Subnet")
            if self.region(node) == region and isinstance(r.get("Properties", {}).get("AvailabilityZone"), str)
        }
        return sorted(found)

    def node(self, stack: str, value: Any) -> Node | None:
        """The resource ``value`` refers to (by Ref, GetAtt or across stacks), or None."""
        resolved = self.resolve(stack, value)
        if isinstance(resolved, tuple):
            resolved = resolved[0]
        return resolved if isinstance(resolved, Node) else None

    def subnet_zone(self, stack: str, value: Any) -> str | None:
        """The zone of the subnet ``value`` refers to, or None when the templates cannot tell."""
        subnet = self.node(stack, value)
        if subnet is None or self.resource(subnet).get("Type") != "AWS::EC2::Subnet":
            return None
        zone = self.resolve(subnet.stack, self.resource(subnet).get("Properties", {}).get("AvailabilityZone"))
        return zone if isinstance(zone, str) else None

    def subnet_list(self, stack: str, value: Any) -> list[Any]:
        """A list property of subnets (perhaps itself a reference to a list), one item per subnet."""
        resolved = self.resolve(stack, value)
        return resolved if isinstance(resolved, list) else []


def props(resource: Mapping[str, Any]) -> dict[str, Any]:
    return dict(resource.get("Properties", {}))


def tag(resource: Mapping[str, Any], key: str) -> str | None:
    tags = props(resource).get("Tags", [])
    if isinstance(tags, dict):
        return tags.get(key)
    for item in tags if isinstance(tags, list) else []:
        if isinstance(item, dict) and item.get("Key") == key:
            value = item.get("Value")
            return value if isinstance(value, str) else None
    return None


def number(value: Any, default: int = 0) -> int:
    """A count property as CloudFormation reads it (CDK writes MinSize as a string)."""
    try:
        return int(str(value))
    except ValueError:
        return default
