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
    start = f"cat > {path} <<'IRIS_AWS_FILE_END'\n"
    if start not in user_data:
        raise AssertionError(f"the user data writes no {path}")
    return user_data.split(start, 1)[1].split("\nIRIS_AWS_FILE_END", 1)[0] + "\n"


def instance_user_data(template: dict[str, Any]) -> dict[str, str]:
    """Logical id -> rendered user data, for every EC2 instance of a template."""
    return {k: render(v["Properties"]["UserData"]) for k, v in resources(template, "AWS::EC2::Instance").items()}


# EC2 takes at most 16 KB of user data (before base64).
USER_DATA_LIMIT = 16 * 1024
# No ARN, id or name CloudFormation substitutes into user data here is longer.
LONGEST_REFERENCE = 200


def user_data_bound(value: Any) -> int:
    """An upper bound of the user data's size once CloudFormation has put in every reference."""
    text = render(value)
    references = re.findall(r"<(?:Ref|GetAtt|Output):[^>]*>", text)
    return len(re.sub(r"<(?:Ref|GetAtt|Output):[^>]*>", "", text).encode()) + LONGEST_REFERENCE * len(references)


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
