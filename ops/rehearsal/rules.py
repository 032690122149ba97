"""Template ``Rules``, evaluated as CloudFormation does before it touches a resource.

moto ignores ``Rules``; the emulator calls :func:`failed_assertions` on every
CreateStack and UpdateStack and refuses the request with the assertions'
descriptions, as CloudFormation refuses a template whose rule fails.
Supported: ``RuleCondition``, ``Assertions`` with ``Fn::And``, ``Fn::Or``,
``Fn::Not``, ``Fn::Equals``, ``Fn::Contains``, ``Fn::EachMemberEquals``,
``Fn::EachMemberIn`` and ``Ref`` to a parameter. Anything else raises
:class:`UnsupportedRule`: a rule the rehearsal cannot read is never passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class UnsupportedRule(Exception):
    """A rule function this evaluator does not know."""


def _value(node: Any, parameters: Mapping[str, Any]) -> Any:
    if isinstance(node, list):
        return [_value(item, parameters) for item in node]
    if not isinstance(node, dict):
        return node
    if len(node) != 1:
        raise UnsupportedRule(f"a rule value must be a literal or one function; got {node!r}")
    ((function, argument),) = node.items()
    if function == "Ref":
        if argument not in parameters:
            raise UnsupportedRule(f"Ref to {argument!r}, which is not a parameter of the stack")
        return parameters[argument]
    return _condition(node, parameters)


def _condition(node: Any, parameters: Mapping[str, Any]) -> bool:
    if not isinstance(node, dict) or len(node) != 1:
        raise UnsupportedRule(f"a rule condition must be one function; got {node!r}")
    ((function, argument),) = node.items()
    if function == "Fn::And":
        return all(_condition(item, parameters) for item in argument)
    if function == "Fn::Or":
        return any(_condition(item, parameters) for item in argument)
    if function == "Fn::Not":
        return not _condition(argument[0], parameters)
    if function == "Fn::Equals":
        left, right = (_value(item, parameters) for item in argument)
        return bool(str(left) == str(right))
    if function == "Fn::Contains":
        members, wanted = (_value(item, parameters) for item in argument)
        return str(wanted) in [str(m) for m in members]
    if function == "Fn::EachMemberEquals":
        members, wanted = (_value(item, parameters) for item in argument)
        return all(str(m) == str(wanted) for m in members)
    if function == "Fn::EachMemberIn":
        members, allowed = (_value(item, parameters) for item in argument)
        return all(str(m) in [str(a) for a in allowed] for m in members)
    raise UnsupportedRule(f"rule function {function} is not evaluated by the rehearsal")


def failed_assertions(template: Mapping[str, Any], parameters: Mapping[str, Any]) -> list[str]:
    """``rule: description`` for every assertion of ``template`` that fails with ``parameters``.

    ``parameters`` are the stack's resolved parameter values (an SSM-typed
    parameter already read). A rule whose ``RuleCondition`` is false is skipped.
    """
    failed = []
    for name, rule in (template.get("Rules") or {}).items():
        if "RuleCondition" in rule and not _condition(rule["RuleCondition"], parameters):
            continue
        for assertion in rule.get("Assertions", []):
            if not _condition(assertion["Assert"], parameters):
                failed.append(f"{name}: {assertion.get('AssertDescription', 'assertion failed')}")
    return failed
