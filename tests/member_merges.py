"""The members' merge files as their user data writes them, for the tests."""

from __future__ import annotations

import re

from tests.conftest import Synthesized
from tests.cpf import MergeFile, parse
from tests.templates import heredoc, instance_user_data

MERGE = "/etc/iris-aws/merge-{}.cpf"


def members(assembly: Synthesized, role: str = "data") -> dict[tuple[str, str], str]:
    """(mirror set, member) -> user data, for the data members (arbiters apart)."""
    found = {}
    for logical_id, user_data in instance_user_data(assembly.template_json(role)).items():
        m = re.match(r"^([A-Za-z0-9]+?)(Member\d|DR\d?|Arbiter)Instance", logical_id)
        assert m is not None, logical_id
        if m[2] != "Arbiter":
            found[(m[1], m[2])] = user_data
    return found


def merge(user_data: str, role: str) -> MergeFile:
    return parse(heredoc(user_data, MERGE.format(role)))


TLS_FILES = {
    "CAFile": "/etc/iris-tls/ca.crt",
    "CertificateFile": "/etc/iris-tls/host.crt",
    "PrivateKeyFile": "/etc/iris-tls/host.key",
}


def every_merge(assembly: Synthesized) -> list[tuple[str, str, MergeFile]]:
    """(member, role, merge file) for every data and DR member's files."""
    found = []
    for tier, roles in (("data", ("primary", "backup")), ("dr", ("drasync",))):
        for (set_name, member), user_data in members(assembly, tier).items():
            found += [(f"{set_name}{member}", role, merge(user_data, role)) for role in roles]
    return found
