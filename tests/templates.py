"""Reading synthesized templates in tests."""

from __future__ import annotations

import re
from typing import Any


def render(value: Any) -> str:
    """The text CloudFormation would build (user data, say), references shown by name."""
    if isinstance(value, str):
        return value
    if "Fn::Base64" in value:
        return render(value["Fn::Base64"])
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(render(part) for part in parts)
    if "Ref" in value:
        return f"<Ref:{value['Ref']}>"
    if "Fn::GetAtt" in value:
        return f"<GetAtt:{'.'.join(value['Fn::GetAtt'])}>"
    if "Fn::GetStackOutput" in value:
        return f"<Output:{value['Fn::GetStackOutput']['OutputName']}>"
    raise AssertionError(f"unexpected intrinsic {value}")


def resources(template: dict[str, Any], type_name: str) -> dict[str, dict[str, Any]]:
    """Logical id -> resource, for the resources of ``type_name``."""
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_name}


def props(template: dict[str, Any], type_name: str) -> list[dict[str, Any]]:
    """The properties of each resource of ``type_name``."""
    return [v["Properties"] for v in resources(template, type_name).values()]


def heredoc(user_data: str, path: str) -> str:
    """The text user data writes to ``path`` (components/mirror_member.install_file_commands)."""
    start = f"cat > {path} <<'IRIS_EOF'\n"
    if start not in user_data:
        raise AssertionError(f"the user data writes no {path}")
    return user_data.split(start, 1)[1].split("\nIRIS_EOF", 1)[0] + "\n"


def instance_user_data(template: dict[str, Any]) -> dict[str, str]:
    """Logical id -> rendered user data, for every EC2 instance of a template."""
    return {k: render(v["Properties"]["UserData"]) for k, v in resources(template, "AWS::EC2::Instance").items()}


# EC2 takes at most 16 KB of user data (before base64).
USER_DATA_LIMIT = 16 * 1024
# No ARN, id or name CloudFormation substitutes into user data here is longer.
LONGEST_REFERENCE = 200


# Pseudo parameters have values of a known longest form: amazonaws.com.cn, aws-us-gov, 12 digits,
# and region names (the longest today have 14 characters; 20 leaves room).
PSEUDO_PARAMETER_LONGEST = {"AWS::URLSuffix": 16, "AWS::Partition": 10, "AWS::AccountId": 12, "AWS::Region": 20}
# A Ref to a resource of these types in the same template is an id of a fixed form: vol- and 17 hex digits.
REF_LONGEST_BY_TYPE = {"AWS::EC2::Volume": 21}


def user_data_bound(value: Any, template: dict[str, Any] | None = None) -> int:
    """An upper bound of the user data's size once CloudFormation has put in every reference.

    With ``template``, a Ref to one of its resources whose id has a fixed form counts that form's length.
    """
    text = render(value)
    types = {k: r["Type"] for k, r in (template or {}).get("Resources", {}).items()}
    references = re.findall(r"<(?:Ref|GetAtt|Output):[^>]*>", text)
    longest = []
    for reference in references:
        name = reference.removeprefix("<Ref:").removesuffix(">")
        longest.append(PSEUDO_PARAMETER_LONGEST.get(name) or REF_LONGEST_BY_TYPE.get(types.get(name, ""), LONGEST_REFERENCE))
    return len(re.sub(r"<(?:Ref|GetAtt|Output):[^>]*>", "", text).encode()) + sum(longest)


def ingress_rules(template: dict[str, Any]) -> list[dict[str, Any]]:
    """Every ingress rule of the template, inline or standalone, with the group it belongs to."""
    rules = []
    for logical_id, sg in resources(template, "AWS::EC2::SecurityGroup").items():
        for rule in sg["Properties"].get("SecurityGroupIngress", []):
            rules.append({**rule, "GroupId": {"Fn::GetAtt": [logical_id, "GroupId"]}})
    for rule in resources(template, "AWS::EC2::SecurityGroupIngress").values():
        rules.append(rule["Properties"])
    return rules


def sg_id(template: dict[str, Any], prefix: str) -> str:
    """The one security group whose logical id starts with ``prefix``."""
    (logical_id,) = [k for k in resources(template, "AWS::EC2::SecurityGroup") if k.startswith(prefix)]
    return logical_id


def severity_of(alarm: dict[str, Any]) -> str:
    """The severity tag (P1-P4) of an alarm's properties (components/severity.py)."""
    (severity,) = [t["Value"] for t in alarm.get("Tags", []) if t["Key"] == "Severity"]
    return str(severity)


def severity_topic(template: dict[str, Any], severity: str) -> dict[str, str]:
    """A Ref to the region's alarm topic of ``severity`` in the stack that holds the topics (data tier, DR region)."""
    (topic_id,) = [k for k in resources(template, "AWS::SNS::Topic") if re.fullmatch(f"AlarmTopics{severity}[0-9A-F]{{8}}", k)]
    return {"Ref": topic_id}
