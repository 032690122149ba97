"""A reader of CPF merge files, for the tests.

A merge file is ``[Section]`` headers and ``Key=Value`` lines; ``[Actions]``
lines are ``Action:Param=Value,...`` where a value holding a comma or ``=``
is double-quoted (InterSystems, "Automating Configuration with Configuration
Merge"). The reader refuses what IRIS would not read, so a malformed file
fails the test that reads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SECTION = re.compile(r"^\[(?P<name>[A-Za-z][A-Za-z0-9 ]*)\]$")
_ACTION = re.compile(r"^(?P<name>[A-Za-z]+):(?P<params>.+)$")
_PARAM = re.compile(r'(?P<key>[A-Za-z][A-Za-z0-9]*)=(?P<value>"[^"]*"|[^,"]*)(,|$)')


@dataclass(frozen=True)
class Action:
    name: str
    params: dict[str, str]


@dataclass(frozen=True)
class MergeFile:
    sections: dict[str, dict[str, str]]
    actions: list[Action]

    def action(self, name: str) -> list[Action]:
        return [a for a in self.actions if a.name == name]


def parse_action(line: str) -> Action:
    m = _ACTION.match(line)
    if m is None:
        raise ValueError(f"not an action: {line!r}")
    params: dict[str, str] = {}
    rest = m["params"]
    while rest:
        p = _PARAM.match(rest)
        if p is None:
            raise ValueError(f"bad parameter list in {line!r} at {rest!r}")
        key, value = p["key"], p["value"]
        if key in params:
            raise ValueError(f"{key} twice in {line!r}")
        params[key] = value[1:-1] if value.startswith('"') else value
        rest = rest[p.end() :]
    return Action(m["name"], params)


def parse(text: str) -> MergeFile:
    sections: dict[str, dict[str, str]] = {}
    actions: list[Action] = []
    current: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        header = _SECTION.match(line)
        if header:
            current = header["name"]
            if current in sections:
                raise ValueError(f"line {number}: section [{current}] twice")
            sections[current] = {}
            continue
        if current is None:
            raise ValueError(f"line {number}: {line!r} before any section")
        if current == "Actions":
            actions.append(parse_action(line))
            continue
        key, sep, value = line.partition("=")
        if not sep or not key or key != key.strip():
            raise ValueError(f"line {number}: {line!r} is not Key=Value")
        if key in sections[current]:
            raise ValueError(f"line {number}: {key} twice in [{current}]")
        sections[current][key] = value
    return MergeFile(sections, actions)
