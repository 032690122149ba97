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
