"""Reading synthesized templates in tests."""

from __future__ import annotations

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
