"""The AWS Control Tower proactive controls as a validation plugin, and their exemptions.

The rules and the cfn-guard binary are the ones ``cdklabs.cdk-validator-cfnguard``
ships (unpacked from the installed package; nothing is downloaded). Each template
is checked on its own against the rules that evaluate a resource type it
contains: a rule about a type the template lacks can only skip. cfn-guard's cost
grows with rules times template size, so the rules that evaluate the same types
run together on a copy of the template that keeps only the resources of those
types and whatever they reference, directly or not (a queue's key, a bucket
policy's bucket): what a rule can see of its own resources is unchanged, and
the EKS stack's template is checked in a third of the time. One cfn-guard
process runs a group over the parts of every template that has its types, each
part a data file of its own: a synthesis starts a process per group, not per
group and template (on the reference profile 30 instead of 143, and 45% less CPU).

The package's own ``CfnGuardValidator`` is not registered: for a clause that
compares two literals its parser reports a resource without a logical id, which
jsii cannot hand to a Python plugin and the CDK cannot acknowledge. This module
reads cfn-guard's structured output itself: the resources of a failed rule are
the resources its failed clauses traversed to (on the shipped profiles, the
same 80 resource findings as the package's plugin, without its 8 empty ones).

Findings go through the CDK's own acknowledgements, so an exemption is scoped
to one resource and one control like a cdk-nag one; the exemptions live in one
reviewed file, ``control-tower-exemptions.json``.
"""

from __future__ import annotations

import atexit
import json
import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii

from components.nag import acknowledge
from components.visitors import visit_each

# The plugin's name in the validation report; acknowledgement ids are "<name>::<guard rule name>".
PLUGIN_NAME = "ControlTower"
PACKAGE = "cdklabs.cdk-validator-cfnguard"
EXEMPTIONS_FILE = Path(__file__).resolve().parent / "control-tower-exemptions.json"
RULES_PREFIX = "package/rules/control-tower/"
# cfn-guard's exit codes: 0 all passed (or skipped), 19 a rule failed; anything else is an error.
GUARD_FINDINGS_EXIT_CODES = (0, 5, 19)
_RESOURCE = re.compile(r"^/Resources/([^/]+)")


@dataclass(frozen=True)
class BundledRule:
    """One Control Tower control as the package ships it."""

    control: str  # CT.S3.PR.2: how AWS documents it
    rule_name: str  # s3_bucket_logging_enabled_check: how cfn-guard reports it
    file: Path  # the unpacked .guard file
    resource_types: frozenset[str]
    display_name: str
    remediation: str


@dataclass(frozen=True)
class Bundle:
    """The package's cfn-guard binary and Control Tower rules, unpacked once per process."""

    guard: Path
    rules: dict[str, BundledRule]  # by control id


def bundle_version() -> str:
    return metadata.version(PACKAGE)


def _binary_member() -> str:
    system = {"Linux": "ubuntu", "Darwin": "macos"}[platform.system()]
    machine = {"x86_64": "x86_64", "AMD64": "x86_64", "arm64": "aarch64", "aarch64": "aarch64"}[platform.machine()]
    return f"package/bin/{system}/{machine}/cfn-guard"


@cache
def bundle() -> Bundle:
    """Unpack the binary and the rules from the installed package into a directory removed at exit."""
    version = metadata.version(PACKAGE)
    archive = resources.files("cdklabs.cdk_validator_cfnguard._jsii") / f"cdk-validator-cfnguard@{version}.jsii.tgz"
    root = Path(tempfile.mkdtemp(prefix="control-tower-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    binary = _binary_member()
    found: dict[str, dict[str, Any]] = {}
    with resources.as_file(archive) as path, tarfile.open(path) as tar:
        for member in tar:
            if not member.isfile() or not (member.name == binary or member.name.startswith(RULES_PREFIX)):
                continue
            stream = tar.extractfile(member)
            assert stream is not None
            content = stream.read()
            target = root / member.name.removeprefix("package/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            stem = target.name.split(".", 1)[0]
            if member.name == binary:
                target.chmod(0o755)
            elif target.name.endswith(".metadata.json"):
                found.setdefault(stem, {})["metadata"] = json.loads(content)
            elif target.name.endswith(".guard"):
                (name,) = set(re.findall(r"^rule (\w+) when", content.decode(), re.MULTILINE))
                found.setdefault(stem, {}).update(file=target, rule_name=name)
    rules = {}
    for entry in found.values():
        meta = entry["metadata"]
        rules[meta["Id"]] = BundledRule(
            control=meta["Id"],
            rule_name=entry["rule_name"],
            file=entry["file"],
            resource_types=frozenset(meta["EvaluatedResourceTypes"]),
            display_name=meta["DisplayName"],
            remediation=meta.get("RemediationMessage", ""),
        )
    return Bundle(guard=root / binary.removeprefix("package/"), rules=rules)


def rule_names() -> dict[str, str]:
    """cfn-guard rule name -> control id."""
    return {rule.rule_name: rule.control for rule in bundle().rules.values()}


def failed_resources(data_file: dict[str, Any]) -> dict[str, set[str]]:
    """Rule name -> logical ids of the resources whose clauses failed it, from cfn-guard's structured
    output for one data file."""
    failed: dict[str, set[str]] = {}
    for entry in data_file.get("not_compliant", []):
        rule = entry["Rule"]
        ids = {m.group(1) for path in _checked_paths(rule) if (m := _RESOURCE.match(path))}
        failed.setdefault(rule["name"], set()).update(ids)
    return failed


def _checked_paths(node: Any) -> Iterator[str]:
    """The template paths a failed clause looked at (the left side of a comparison, or where a query stopped)."""
    if isinstance(node, dict):
        if isinstance(node.get("traversed_to"), dict):
            yield node["traversed_to"]["path"]
        for key, value in node.items():
            if key in ("Resolved", "InResolved") and isinstance(value, dict):
                side = value.get("from") or value.get("value")
                if isinstance(side, dict) and isinstance(side.get("path"), str):
                    yield side["path"]
            yield from _checked_paths(value)
    elif isinstance(node, list):
        for value in node:
            yield from _checked_paths(value)


def check_template(template_path: str) -> dict[str, set[str]]:
    """Control id -> failing logical ids of one template, under the rules for its resource types."""
    return check_templates([template_path])[template_path]


def check_templates(template_paths: Iterable[str]) -> dict[str, dict[str, set[str]]]:
    """Per template: control id -> failing logical ids, under the rules for its resource types.

    Each template is still checked on its own (its parts are separate data files), but a group of rules
    runs once over the parts of every template that has its types: one cfn-guard process per group,
    not per group and template.
    """
    paths = list(template_paths)
    failed: dict[str, dict[str, set[str]]] = {path: {} for path in paths}
    with tempfile.TemporaryDirectory(prefix="control-tower-") as scratch:
        runs: dict[tuple[str, ...], tuple[list[BundledRule], dict[Path, str]]] = {}
        for t, path in enumerate(paths):
            for g, (rules, part) in enumerate(rule_groups(json.loads(Path(path).read_text()))):
                key = tuple(sorted(rule.rule_name for rule in rules))
                runs.setdefault(key, (rules, {}))[1][_write(Path(scratch) / f"{t}-{g}.json", part)] = path
        # The longest runs first, by rules times bytes of data, so that no core is left with a long one at the end.
        ordered = sorted(runs.values(), key=lambda run: -len(run[0]) * sum(data.stat().st_size for data in run[1]))
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            for parts, found in pool.map(lambda run: (run[1], _guard(run[0], list(run[1]))), ordered):
                for data, by_rule in found.items():
                    for name, ids in by_rule.items():
                        failed[parts[data]].setdefault(name, set()).update(ids)
    by_name = rule_names()
    for path, by_rule in failed.items():
        unnamed = sorted(name for name, ids in by_rule.items() if not ids)
        if unnamed:
            raise RuntimeError(f"cfn-guard failed {unnamed} on {path} without naming a resource")
    return {path: {by_name[name]: ids for name, ids in by_rule.items()} for path, by_rule in failed.items()}


def rule_groups(template: dict[str, Any]) -> Iterator[tuple[list[BundledRule], dict[str, Any]]]:
    """The rules that evaluate the same resource types, each group with the template cut down to those
    types' resources and everything they reference (by ``Ref`` or ``Fn::GetAtt``, transitively)."""
    resources = template.get("Resources", {})
    groups: dict[frozenset[str], list[BundledRule]] = {}
    present = {resource["Type"] for resource in resources.values()}
    for rule in bundle().rules.values():
        if rule.resource_types & present:
            groups.setdefault(rule.resource_types, []).append(rule)
    for types, rules in groups.items():
        kept = _with_references(resources, [name for name, resource in resources.items() if resource["Type"] in types])
        yield rules, {**template, "Resources": {name: resources[name] for name in resources if name in kept}}


def _with_references(resources: dict[str, Any], names: Iterable[str]) -> set[str]:
    kept: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in kept or name not in resources:
            continue  # a parameter or pseudo parameter, or seen
        kept.add(name)
        pending.extend(_references(resources[name]))
    return kept


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("Ref"), str):
            yield node["Ref"]
        target = node.get("Fn::GetAtt")
        if isinstance(target, list) and target:
            yield target[0]
        elif isinstance(target, str):
            yield target.split(".", 1)[0]
        for value in node.values():
            yield from _references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _references(value)


def _write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document))
    return path


def _guard(rules: list[BundledRule], data: list[Path]) -> dict[Path, dict[str, set[str]]]:
    """Per data file (a template or a part of one): rule name -> failing logical ids, from one cfn-guard
    run of ``rules`` over every file of ``data``."""
    run = subprocess.run(
        [
            str(bundle().guard),
            "validate",
            *(arg for rule in rules for arg in ("--rules", str(rule.file))),
            *(arg for path in data for arg in ("--data", str(path))),
            *("--output-format", "json", "--show-summary", "none", "--structured"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode not in GUARD_FINDINGS_EXIT_CODES:
        names = ", ".join(path.name for path in data)
        raise RuntimeError(f"cfn-guard failed on {names} (exit {run.returncode}): {run.stderr.strip()}")
    by_data = {str(path): path for path in data}
    found: dict[Path, dict[str, set[str]]] = {path: {} for path in data}
    for data_file in json.loads(run.stdout) if run.stdout.strip() else []:
        found[by_data[data_file["name"]]] = failed_resources(data_file)
    return found


@jsii.implements(cdk.IPolicyValidationPlugin)
class ControlTowerRules:
    """The bundled Control Tower rules over each template of the app."""

    def __init__(self) -> None:
        self._version = metadata.version(PACKAGE)

    @property
    def name(self) -> str:
        return PLUGIN_NAME

    @property
    def version(self) -> str:
        return self._version

    @property
    def rule_ids(self) -> list[str]:
        return sorted(bundle().rules)

    def validate(self, context: cdk.IPolicyValidationContext) -> cdk.PolicyValidationPluginReport:
        violations = []
        for template_path, found in check_templates(context.template_paths).items():
            for control, ids in sorted(found.items()):
                rule = bundle().rules[control]
                violations.append(
                    cdk.PolicyViolation(
                        rule_name=rule.rule_name,
                        description=f"[{control}]: {rule.display_name}",
                        fix=rule.remediation,
                        rule_metadata={"Control": control},
                        violating_resources=[
                            cdk.PolicyViolatingResource(locations=[], resource_logical_id=i, template_path=template_path)
                            for i in sorted(ids)
                        ],
                    )
                )
        return cdk.PolicyValidationPluginReport(success=not violations, violations=violations, plugin_version=self._version)


# In an exemption's resource path, the name of any mirror set: the same resource in every set's stack.
MIRROR_SET = "{set}"


@dataclass(frozen=True)
class Exemption:
    """One control exempted on one resource: ``resource`` is the construct path after the profile's prefix.

    A path with ``{set}`` names that resource in every mirror set (``Mirror-{set}/{set}/Vip/Nlb/Resource``):
    a set added to the settings needs no new exemption, and each is still acknowledged on its own resource.
    """

    control: str
    resource: str
    reason: str

    def acknowledgement_id(self) -> str:
        return f"{PLUGIN_NAME}::{bundle().rules[self.control].rule_name}"

    def matches(self, path: str) -> bool:
        """Whether ``path`` (after the profile's prefix) is this exemption's resource."""
        return _pattern(self.resource).fullmatch(path) is not None


@cache
def _pattern(resource: str) -> re.Pattern[str]:
    first, *rest = resource.split(MIRROR_SET)
    if not rest:
        return re.compile(re.escape(resource))
    # The first {set} captures the name; every later one must be the same name.
    return re.compile(re.escape(first) + "(?P<set>[A-Za-z0-9]+)" + "(?P=set)".join(re.escape(part) for part in rest))


def load_exemptions(path: Path = EXEMPTIONS_FILE) -> list[Exemption]:
    """Each entry names a control, the resources it does not apply to and why; one exemption per resource."""
    return [
        Exemption(entry["control"], resource, entry["reason"])
        for entry in json.loads(path.read_text())["exemptions"]
        for resource in entry["resources"]
    ]


def apply_exemptions(app: cdk.App, prefix: str, exemptions: Iterable[Exemption]) -> None:
    """Acknowledge each exemption on its resource, where this profile has that resource.

    At synthesis, as an aspect would, so that resources the CDK's own aspects add
    (the launch template that carries an instance's IMDSv2 requirement) are found
    too; a job of the app's one visiting aspect (components/visitors.py), which
    hands it CloudFormation resources only, so the path of no other construct
    is read. A profile without the resource (the dev profile has no print
    servers) skips it; tests/test_compliance.py fails on an exemption no shipped
    profile uses.
    """
    visit_each(app, cdk.CfnResource, _Exempt(prefix, list(exemptions)).visit)


class _Exempt:
    def __init__(self, prefix: str, exemptions: list[Exemption]) -> None:
        self._prefix = f"{prefix}-"
        self._exemptions = exemptions
        # The resource types the exempted controls check: the path (two crossings to Node) is read only for these.
        self._types = frozenset().union(*(bundle().rules[e.control].resource_types for e in exemptions))

    def visit(self, node: cdk.CfnResource) -> None:
        if _resource_type(node) not in self._types:
            return
        path = node.node.path
        if not path.startswith(self._prefix):
            return
        name = path.removeprefix(self._prefix)
        acknowledge(node, {e.acknowledgement_id(): e.reason for e in self._exemptions if e.matches(name)})


def _resource_type(node: cdk.CfnResource) -> str:
    """``node``'s CloudFormation type: a generated resource class's own, read once per class; a plain
    ``CfnResource`` (a custom resource, a provider's handler) names its own."""
    kind = type(node)
    if kind is cdk.CfnResource:
        return node.cfn_resource_type
    return _type_of_class(kind)


@cache
def _type_of_class(kind: Any) -> str:
    return str(kind.CFN_RESOURCE_TYPE_NAME)  # each generated resource class's constant
