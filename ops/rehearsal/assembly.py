"""The cloud assembly the rehearsal deploys: a copy with the placeholders swapped, and its coverage.

The shipped settings keep their placeholders (``config/placeholders.py``);
the rehearsal swaps them in a copy of the synthesized assembly, as an
operator's own values would: the images and certificates exist in the
emulator's account. In a template's ``Rules`` only the value side of a
comparison is swapped, so the placeholder guard sees what it would see
after a real substitution.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Stacks that cannot join the rehearsal, with the reason; every other stack joins.
EXCLUDED = {
    "Eks": "moto models no EKS cluster, node group or add-on, and the kubectl and Helm custom resources need a "
    "real Kubernetes API: the EKS stack is checked by synthesis, cdk-nag, cfn-lint and checkov only",
    "LogSearch": "moto models no OpenSearch Service domain in CloudFormation, the setup custom resource needs the "
    "domain's REST API, and the stack subscribes to the Eks stack's container log group: it is checked by synthesis, "
    "cdk-nag, cfn-lint, checkov and its functions against a scripted domain (tests/test_log_search.py)",
}

# Resource types moto does not model, each with what its stand-in leaves unproven. A stand-in has
# a physical id and attributes only; references to and from it are still resolved and checked.
STAND_IN_TYPES: dict[str, str] = {
    "AWS::ACMPCA::Certificate": "no CA exists: no host certificate is issued, hosts do not boot here anyway",
    "AWS::ACMPCA::CertificateAuthority": "no CA exists: no host certificate is issued, hosts do not boot here anyway",
    "AWS::ACMPCA::CertificateAuthorityActivation": "no CA exists: no host certificate is issued, hosts do not boot here anyway",
    "AWS::AutoScaling::ScalingPolicy": "target tracking and step scaling are not evaluated",
    "AWS::Backup::BackupVault": "no vault exists: the Mendix backups' copies to the DR region are not made",
    "AWS::CloudTrail::Trail": "no trail records anything: its selectors, log file validation and delivery are not checked",
    "AWS::CloudWatch::Alarm": "metric names, dimensions and thresholds are not evaluated; no alarm ever fires",
    "AWS::DLM::LifecyclePolicy": "no snapshot is taken; the pre/post scripts and their SSM documents never run",
    "AWS::EC2::CustomerGateway": "no VPN: the on-premises path is not modelled",
    "AWS::EC2::NetworkAcl": "NACL rules are not enforced (moto filters no traffic anyway)",
    "AWS::EC2::NetworkAclEntry": "NACL rules are not enforced (moto filters no traffic anyway)",
    "AWS::EC2::SecurityGroupEgress": "egress rules are not recorded on the security group",
    "AWS::EC2::SubnetNetworkAclAssociation": "NACL rules are not enforced (moto filters no traffic anyway)",
    "AWS::EC2::VPNConnection": "no VPN: the on-premises path is not modelled",
    "AWS::EC2::VPNConnectionRoute": "no VPN: the on-premises path is not modelled",
    "AWS::EC2::VPNGatewayRoutePropagation": "no VPN: the on-premises path is not modelled",
    "AWS::FIS::ExperimentTemplate": "no experiment template exists: targets, actions and stop conditions are not checked",
    "AWS::IAM::ServiceLinkedRole": "the role's existence in a real account (a second create fails there) is not checked",
    "AWS::Lambda::EventInvokeConfig": "the asynchronous retry and dead-letter settings are not applied",
    "AWS::Logs::QueryDefinition": "the saved Logs Insights queries are not parsed or run against their log groups",
    "AWS::Rbin::Rule": "no Recycle Bin: deleted snapshots are neither kept nor locked",
    "AWS::S3::BucketPolicy": "bucket policies (TLS only, log delivery) are not evaluated",
    "AWS::SNS::Subscription": "no e-mail subscription is made",
    "AWS::SNS::TopicPolicy": "topic policies are not evaluated",
    "AWS::SQS::QueuePolicy": "queue policies are not evaluated",
    "AWS::SecretsManager::Secret": "no secret value is generated",
    "AWS::WAFv2::LoggingConfiguration": "WAF is not modelled: no rule, rate limit or log",
    "AWS::WAFv2::WebACL": "WAF is not modelled: no rule, rate limit or log",
    "AWS::WAFv2::WebACLAssociation": "WAF is not modelled: no rule, rate limit or log",
}

_NETWORK = frozenset(
    {
        "AWS::EC2::NetworkAcl",
        "AWS::EC2::NetworkAclEntry",
        "AWS::EC2::SecurityGroupEgress",
        "AWS::EC2::SubnetNetworkAclAssociation",
    }
)
_VPN = frozenset(
    {
        "AWS::EC2::CustomerGateway",
        "AWS::EC2::VPNConnection",
        "AWS::EC2::VPNConnectionRoute",
        "AWS::EC2::VPNGatewayRoutePropagation",
    }
)
_WEB = frozenset(
    {
        "AWS::AutoScaling::ScalingPolicy",
        "AWS::CloudWatch::Alarm",
        "AWS::IAM::ServiceLinkedRole",
        "AWS::Logs::QueryDefinition",
        "AWS::S3::BucketPolicy",
        "AWS::SecretsManager::Secret",
        "AWS::WAFv2::LoggingConfiguration",
        "AWS::WAFv2::WebACL",
        "AWS::WAFv2::WebACLAssociation",
    }
)
_MEMBERS = frozenset(
    {
        "AWS::CloudWatch::Alarm",
        "AWS::Lambda::EventInvokeConfig",
        "AWS::Logs::QueryDefinition",
        "AWS::SNS::Subscription",
        "AWS::SNS::TopicPolicy",
        "AWS::SQS::QueuePolicy",
    }
)
# The stand-in types each stack may have, by stack role, reviewed one by one. A stand-in type
# missing here fails the rehearsal: a new stack, or a new type in a stack, is reported, never passed.
REVIEWED_STAND_INS: dict[str, frozenset[str]] = {
    # The region's session logs and Recycle Bin rule besides the network.
    "Network": _NETWORK | _VPN | {"AWS::S3::BucketPolicy", "AWS::Rbin::Rule"},
    "DrNetwork": _NETWORK | {"AWS::S3::BucketPolicy", "AWS::Rbin::Rule"},
    # The Mendix platform's own VPC; the Eks stack in it is not rehearsed.
    "EksNetwork": _NETWORK,
    "DataTier": _MEMBERS | {"AWS::DLM::LifecyclePolicy"},
    # The IRIS passwords: only the member hosts read them, at boot, which the rehearsal does not run.
    # The fault-injection experiments: FIS acts only when an operator starts one (ops experiment).
    "Mirror": _MEMBERS | {"AWS::SecretsManager::Secret", "AWS::FIS::ExperimentTemplate"},
    # The vault the Mendix backups are copied to; the backup plan lives in the Eks stack, not rehearsed.
    "DrRegion": _MEMBERS | {"AWS::Backup::BackupVault"},
    "DrMirror": _MEMBERS | {"AWS::SecretsManager::Secret"},
    "DrWeb": _WEB,
    # The DR copies of the replicated buckets: their TLS-only policies (S3 itself is modelled).
    "DrReplicas": frozenset({"AWS::S3::BucketPolicy"}),
    "AppTier": _WEB,
    "DrDns": frozenset(),
    # The deployment's trail (moto's CloudTrail has no CloudFormation model) and its bucket's policies.
    "Audit": frozenset({"AWS::CloudTrail::Trail", "AWS::S3::BucketPolicy"}),
    # The deployment's CA: only booting hosts ask it for certificates.
    "Pki": frozenset(
        {"AWS::ACMPCA::Certificate", "AWS::ACMPCA::CertificateAuthority", "AWS::ACMPCA::CertificateAuthorityActivation"}
    ),
}
# Stacks of one kind per mirror set: ``Mirror-<Set>`` and ``DrMirror-<Set>``.
PER_SET_KINDS = ("Mirror", "DrMirror")

NULL_TYPES = frozenset({"AWS::CDK::Metadata"})


def stack_role(stack_name: str) -> str:
    """``Iris-DataTier`` -> ``DataTier``, ``Iris-Mirror-HSDB`` -> ``Mirror``: a stack's kind, whatever the prefix and set."""
    role = stack_name.split("-", 1)[1] if "-" in stack_name else stack_name
    kind = role.split("-", 1)[0]
    return kind if kind in PER_SET_KINDS and "-" in role else role


@dataclass(frozen=True)
class StackArtifact:
    name: str
    region: str
    account: str
    template_file: str
    dependencies: tuple[str, ...]


def stacks(assembly: Path) -> list[StackArtifact]:
    """The assembly's stacks in manifest order (dependencies first)."""
    manifest = json.loads((assembly / "manifest.json").read_text())
    found = []
    for name, artifact in manifest["artifacts"].items():
        if artifact["type"] != "aws:cloudformation:stack":
            continue
        account, region = artifact["environment"].removeprefix("aws://").split("/")
        deps = tuple(
            d for d in artifact.get("dependencies", []) if manifest["artifacts"][d]["type"] == "aws:cloudformation:stack"
        )
        found.append(StackArtifact(name, region, account, artifact["properties"]["templateFile"], deps))
    return found


def rehearsed(assembly: Path) -> tuple[list[StackArtifact], dict[str, str]]:
    """The stacks the rehearsal deploys, and those it leaves out with the reason."""
    joined, left_out = [], {}
    for stack in stacks(assembly):
        role = stack_role(stack.name)
        if role in EXCLUDED:
            left_out[stack.name] = EXCLUDED[role]
        else:
            joined.append(stack)
    return joined, left_out


def template(assembly: Path, stack: StackArtifact) -> dict[str, Any]:
    return json.loads((assembly / stack.template_file).read_text())


def _swap(node: Any, swaps: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return swaps.get(node, node)
    if isinstance(node, list):
        return [_swap(item, swaps) for item in node]
    if isinstance(node, dict):
        return {key: _swap(value, swaps) for key, value in node.items()}
    return node


def _swap_rule_values(node: Any, swaps: Mapping[str, str]) -> Any:
    """In Rules, ``Fn::Equals [value, placeholder]``: swap the value, keep the placeholder it is compared with."""
    if isinstance(node, list):
        return [_swap_rule_values(item, swaps) for item in node]
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "Fn::Equals" and isinstance(value, list) and len(value) == 2:
                out[key] = [_swap(value[0], swaps), value[1]]
            else:
                out[key] = _swap_rule_values(value, swaps)
        return out
    return node


def swap_placeholders(document: dict[str, Any], swaps: Mapping[str, str]) -> dict[str, Any]:
    """The template with each placeholder value replaced, as after an operator set real values."""
    out = {key: _swap(value, swaps) for key, value in document.items() if key != "Rules"}
    if "Rules" in document:
        out["Rules"] = _swap_rule_values(document["Rules"], swaps)
    return out


def write_template(assembly: Path, stack: StackArtifact, document: Mapping[str, Any]) -> None:
    """Replace a stack's template, and give it a new asset key.

    The CLI publishes a template under the key synthesis gave it and skips
    the upload when that key exists: a changed template under the old key
    would deploy the old one.
    """
    manifest = assembly / "manifest.json"
    artifact = json.loads(manifest.read_text())["artifacts"][stack.name]
    old = artifact["properties"]["stackTemplateAssetObjectUrl"].rsplit("/", 1)[1].removesuffix(".json")
    text = json.dumps(document, indent=1)
    new = hashlib.sha256(text.encode()).hexdigest()
    (assembly / stack.template_file).write_text(text)
    assets = [assembly / f"{d}.json" for d in artifact.get("dependencies", []) if (assembly / f"{d}.json").exists()]
    for path in (manifest, *assets):
        path.write_text(path.read_text().replace(old, new))


def copy_assembly(source: Path, target: Path, swaps_by_region: Mapping[str, Mapping[str, str]]) -> None:
    """``source`` copied to ``target`` (assets linked, not copied), each template with its region's swaps."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for entry in source.iterdir():
        if entry.name.startswith("asset."):
            (target / entry.name).symlink_to(entry.resolve())
        elif entry.is_dir():
            shutil.copytree(entry, target / entry.name)
        else:
            shutil.copy2(entry, target / entry.name)
    for stack in stacks(source):
        write_template(target, stack, swap_placeholders(template(source, stack), swaps_by_region.get(stack.region, {})))


def reads_of(node: Any, stack_names: frozenset[str]) -> list[dict[str, str]]:
    """The ``Fn::GetStackOutput`` references in ``node`` to a stack of ``stack_names``."""
    if isinstance(node, list):
        return [ref for item in node for ref in reads_of(item, stack_names)]
    if isinstance(node, dict):
        ref = node.get("Fn::GetStackOutput")
        if isinstance(ref, dict) and ref.get("StackName") in stack_names:
            return [ref]
        return [found for value in node.values() for found in reads_of(value, stack_names)]
    return []


def replace_reads(node: Any, values: Mapping[tuple[str, str], str]) -> Any:
    """``node`` with each read of an output in ``values`` ((stack, output) -> value) replaced by that value."""
    if isinstance(node, list):
        return [replace_reads(item, values) for item in node]
    if isinstance(node, dict):
        ref = node.get("Fn::GetStackOutput")
        if isinstance(ref, dict) and (ref.get("StackName"), ref.get("OutputName")) in values:
            return values[(ref["StackName"], ref["OutputName"])]
        return {key: replace_reads(value, values) for key, value in node.items()}
    return node


@dataclass
class Coverage:
    """What the emulator did with one stack's resources, by type."""

    stack: str
    modelled: Counter[str] = field(default_factory=Counter)
    stand_ins: Counter[str] = field(default_factory=Counter)
    custom: Counter[str] = field(default_factory=Counter)
    unreviewed: list[str] = field(default_factory=list)


def coverage(stack: str, document: Mapping[str, Any], stand_ins: Mapping[str, str]) -> Coverage:
    """``stand_ins``: logical id -> type for the stack's stand-ins, as the emulator recorded them."""
    result = Coverage(stack)
    for logical_id, resource in document.get("Resources", {}).items():
        kind = resource["Type"]
        if kind in NULL_TYPES:
            continue
        if kind.startswith("Custom::") or kind == "AWS::CloudFormation::CustomResource":
            result.custom[kind] += 1
        elif logical_id in stand_ins:
            result.stand_ins[kind] += 1
        else:
            result.modelled[kind] += 1
    reviewed = REVIEWED_STAND_INS.get(stack_role(stack), frozenset())
    result.unreviewed = sorted(set(result.stand_ins) - reviewed)
    return result


def coverage_table(rows: list[Coverage]) -> str:
    lines = [f"{'stack':<16} {'modelled':>8} {'custom':>6} {'stand-in':>8}  stand-in types"]
    for row in rows:
        kinds = ", ".join(f"{k.split('::', 1)[1]} x{n}" for k, n in sorted(row.stand_ins.items())) or "-"
        counts = f"{sum(row.modelled.values()):>8} {sum(row.custom.values()):>6} {sum(row.stand_ins.values()):>8}"
        lines.append(f"{row.stack:<16} {counts}  {kinds}")
        if row.unreviewed:
            lines.append(f"{'':<16} NOT REVIEWED: {', '.join(row.unreviewed)}")
    return "\n".join(lines)
