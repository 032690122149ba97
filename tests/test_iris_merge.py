"""The configuration merge files each member's user data carries, read back
with a CPF reader: what IRIS is told about its journals, WIJ, memory, mirror,
arbiter and databases, per role and profile."""

from __future__ import annotations

import re

import pytest

from components.iris_host import DOCKER_BRIDGE, host_name, system_name
from components.iris_merge import (
    COMPRESSION_TYPES,
    CSPSYSTEM_HASH_MARKER,
    PRIMARY_MARKER,
    SUPERUSER_HASH_MARKER,
    MemberConfig,
    buffer_sizes,
    member_merge,
    mirror_name,
)
from config import constants as c
from config.instance_memory import instance_memory_mib
from tests.conftest import Synthesized
from tests.cpf import parse, parse_action
from tests.member_merges import TLS_FILES, every_merge, members, merge
from tests.templates import USER_DATA_LIMIT, heredoc, instance_user_data, resources, user_data_bound


def test_each_failover_member_carries_a_primary_and_a_backup_file_and_only_those(assembly: Synthesized) -> None:
    found = members(assembly)
    assert sorted(found) == sorted((m.name, f"Member{i}") for m in assembly.settings.data.mirror_sets for i in (0, 1))
    for user_data in found.values():
        assert sorted(re.findall(r"/etc/iris-aws/merge-(\w+)\.cpf <<", user_data)) == ["backup", "primary"]


def test_dr_members_carry_a_drasync_file_only(assembly: Synthesized) -> None:
    assert assembly.settings.dr is not None
    found = members(assembly, "dr")
    dr = assembly.settings.dr
    assert sorted(found) == sorted((n, m) for n in dr.mirror_sets for m in c.DR_MEMBER_NAMES[: dr.async_members_per_set])
    for (set_name, member), user_data in found.items():
        assert re.findall(r"/etc/iris-aws/merge-(\w+)\.cpf <<", user_data) == ["drasync"]
        (mirror,) = merge(user_data, "drasync").action("ConfigMirror")
        assert mirror.params["Member"] == "drasync"
        assert mirror.params["Primary"] == PRIMARY_MARKER  # the failover member that answers
        assert mirror.params["SystemName"] == system_name(set_name, member)  # unique in the mirror


@pytest.mark.parametrize("role", ["primary", "backup"])
def test_journals_wij_and_buffers_go_where_the_volumes_and_the_memory_are(assembly: Synthesized, role: str) -> None:
    sets = {m.name: m for m in assembly.settings.data.mirror_sets}
    ratio = assembly.settings.data.iris.memory_ratio
    for (set_name, _), user_data in members(assembly).items():
        f = merge(user_data, role)
        assert f.sections["Journal"] == {
            "CurrentDirectory": f"{c.IRIS_MOUNT_POINTS['journal1']}/",
            "AlternateDirectory": f"{c.IRIS_MOUNT_POINTS['journal2']}/",
        }
        assert f.sections["config"]["wijdir"] == f"{c.IRIS_MOUNT_POINTS['wij']}/"
        globals_mib, routines_mib = buffer_sizes(sets[set_name].instance_type, ratio)
        assert f.sections["config"]["globals"] == f"0,0,{globals_mib},0,0,0"  # 8 KB buffers only
        assert f.sections["config"]["routines"] == str(routines_mib)
        memory = instance_memory_mib(sets[set_name].instance_type)
        assert globals_mib + routines_mib == int(memory * ratio)


def test_buffers_follow_the_instance_type() -> None:
    # r6i.4xlarge: 16 vCPUs, 128 GiB; half of it, routines capped at 4 GiB.
    assert buffer_sizes("r6i.4xlarge", 0.5) == (65536 - 4096, 4096)
    # t3.large: 8 GiB; 40 %, of which a tenth is routines.
    assert buffer_sizes("t3.large", 0.4) == (3276 - 327, 327)


def test_the_first_member_creates_the_mirror_with_its_arbiter_and_qos_and_the_second_joins(assembly: Synthesized) -> None:
    zone = assembly.settings.data.private_zone_name
    qos = assembly.settings.data.mirror_qos_timeout_ms
    for (set_name, member), user_data in members(assembly).items():
        name = mirror_name(set_name)
        arbiter = f"{host_name(set_name, 'Arbiter', zone)}:{c.ISCAGENT_PORT}"
        primary, backup = merge(user_data, "primary"), merge(user_data, "backup")
        (create,) = primary.action("ConfigMirror")
        compression = COMPRESSION_TYPES[assembly.settings.data.mirror_async_compression]
        assert create.params == {
            "Name": name,
            "Member": "primary",
            "Primary": "localhost",
            "SystemName": system_name(set_name, member),
            "ArbiterURL": arbiter,
            "UseSSL": "1",
            "CompressionForAsyncMembers": "2",
            "CompressionTypeForAsyncMembers": str(compression),
        }
        (join,) = backup.action("ConfigMirror")
        compressed = {k: v for k, v in create.params.items() if not k.startswith("Compression")}
        assert join.params == {**compressed, "Member": "backup", "Primary": PRIMARY_MARKER}
        # The mirror's own settings are set where it is created, and nowhere else.
        assert [a.params for a in primary.action("ModifyMirror")] == [{"Name": name, "QOSTimeout": str(qos)}]
        assert backup.action("ModifyMirror") == []
        assert len(name) <= c.IRIS_MIRROR_NAME_MAX and len(create.params["SystemName"]) <= c.IRIS_MIRROR_NAME_MAX
        # Member0 creates the mirror at the first deploy; the other waits and joins.
        assert re.search(r"^CREATES_MIRROR='(\w+)'$", user_data, re.M)[1] == ("true" if member == "Member0" else "false")  # type: ignore[index]


def test_each_set_mirrors_its_own_databases_with_a_namespace_each(assembly: Synthesized) -> None:
    for (set_name, _), user_data in members(assembly).items():
        wanted = [d for d in assembly.settings.data.databases if d.mirror_set == set_name]
        for role in ("primary", "backup"):
            f = merge(user_data, role)
            assert [a.params for a in f.action("CreateDatabase")] == [
                {
                    "Name": d.name,
                    "Directory": f"{c.IRIS_MOUNT_POINTS['database']}/data/{d.name.lower()}/",
                    "MirrorSetName": mirror_name(set_name),
                    "MirrorDBName": d.name,
                }
                for d in wanted
            ]
            assert [a.params for a in f.action("CreateNamespace")] == [
                {"Name": d.namespace, "Globals": d.name, "Routines": d.name} for d in wanted
            ]
            # Databases come after the mirror, so that they are created mirrored.
            names = [a.name for a in f.actions]
            assert names.index("ConfigMirror") < min((names.index("CreateDatabase"),) if wanted else (len(names),))


def test_passwords_are_markers_filled_on_the_host_never_values(assembly: Synthesized) -> None:
    for user_data in members(assembly).values():
        for role in ("primary", "backup"):
            f = merge(user_data, role)
            assert f.sections["Startup"] == {"PasswordHash": SUPERUSER_HASH_MARKER}
            (cspsystem,) = [a for a in f.action("ModifyUser") if a.params["Name"] == c.WEB_GATEWAY_USER]
            assert cspsystem.params == {"Name": "CSPSystem", "PasswordHash": CSPSYSTEM_HASH_MARKER}
            services = {a.params["Name"]: a.params["Enabled"] for a in f.action("ModifyService")}
            assert services == {"%Service_Mirror": "1", "%Service_ECP": "1"}


def test_a_setting_change_shows_in_the_right_file(dev: Synthesized, custom: Synthesized) -> None:
    """memory_ratio and the QoS timeout (changed in custom) reach the primary's file, and only what they should."""
    (before,) = [u for (s, m), u in members(dev).items() if m == "Member0"]
    (after,) = [u for (s, m), u in members(custom).items() if m == "Member0"]
    instance_type = dev.settings.data.mirror_sets[0].instance_type
    for role in ("primary", "backup"):
        old, new = merge(before, role), merge(after, role)
        globals_mib, routines_mib = buffer_sizes(instance_type, 0.6)
        assert new.sections["config"]["globals"] == f"0,0,{globals_mib},0,0,0" != old.sections["config"]["globals"]
        assert new.sections["config"]["routines"] == str(routines_mib)
        assert new.sections["Journal"] == old.sections["Journal"]
    assert [a.params["QOSTimeout"] for a in merge(after, "primary").action("ModifyMirror")] == ["12000"]
    assert merge(after, "backup").action("ModifyMirror") == []


def test_the_arbiter_runs_the_iscagent_image_and_no_iris(assembly: Synthesized) -> None:
    images = assembly.settings.data.iris
    for logical_id, user_data in instance_user_data(assembly.template_json("data")).items():
        if "Arbiter" not in logical_id:
            continue
        assert "merge-" not in user_data and images.image.digest + "'" not in user_data.split("ARBITER_IMAGE=")[0]
        assert re.search(
            rf"^ARBITER_IMAGE='.*/{images.arbiter_image.repository}@{images.arbiter_image.digest}'$", user_data, re.M
        )
        assert "ExecStart=/usr/local/sbin/iris-arbiter\n" in user_data and "Restart=always\n" in user_data
        assert "systemctl enable iris-arbiter.service" in user_data


def test_the_reader_refuses_what_iris_would_not_read() -> None:
    with pytest.raises(ValueError, match="before any section"):
        parse("globals=0,0,1,0,0,0\n")
    with pytest.raises(ValueError, match="bad parameter list"):
        parse_action('CreateUser:Name=X,PasswordHash="a,b')  # an unterminated quote
    with pytest.raises(ValueError, match="twice"):
        parse("[config]\nroutines=1\nroutines=2\n")
    assert parse_action('ModifyUser:Name=CSPSystem,PasswordHash="a,b,10000,SHA512"').params["PasswordHash"] == "a,b,10000,SHA512"


def test_the_members_web_gateway_serves_the_status_page_and_the_metrics_and_portal_to_the_host_only(
    assembly: Synthesized,
) -> None:
    path = assembly.settings.data.health_check_path
    for user_data in members(assembly).values():
        conf = heredoc(user_data, "/etc/iris-aws/CSP.conf")
        locations = dict(re.findall(r'<Location "?([^">]+)"?>\n(.*?)</Location>', conf, re.S))
        assert sorted(locations) == sorted(["/", path, "/api/monitor/metrics", "/csp/sys", "/csp/broker"])
        assert locations["/"].split() == ["Require", "all", "denied"]  # no application
        assert "Require all granted" in locations[path]
        # The metrics, and the Management Portal for an administrator's Session Manager port forward.
        for local in ("/api/monitor/metrics", "/csp/sys", "/csp/broker"):
            assert locations[local].split() == ["CSP", "On", "Require", "ip", "127.0.0.1", DOCKER_BRIDGE]
        ini = heredoc(user_data, "/etc/iris-aws/CSP.ini")
        assert "Mirror_Aware=0" in ini  # the page answers for this member, never for the primary elsewhere
        assert "[APP_PATH:/csp/sys]\nDefault_Server=LOCAL" in ini
        assert "Password={{CSPSYSTEM_PASSWORD}}" in ini


@pytest.mark.parametrize("role", ["data", "dr"])
def test_every_members_user_data_fits_ec2s_limit_with_room_for_its_references(assembly: Synthesized, role: str) -> None:
    template = assembly.template_json(role)
    for logical_id, r in resources(template, "AWS::EC2::Instance").items():
        assert user_data_bound(r["Properties"]["UserData"], template) < USER_DATA_LIMIT, logical_id


def test_every_member_presents_its_host_certificate_and_verifies_its_peers_against_the_ca(assembly: Synthesized) -> None:
    for who, role, f in every_merge(assembly):
        configs = {a.params["Name"]: a.params for a in f.action("CreateSSLConfig")}
        assert sorted(configs) == ["%ECPServer", "%MirrorClient", "%MirrorServer", "%SuperServer"], (who, role)
        for name, params in configs.items():
            assert {k: params[k] for k in TLS_FILES} == TLS_FILES, (who, name)
            assert params["Enabled"] == "1" and params["TLSMinVersion"] == "16", (who, name)  # TLS 1.2 at least
        # Servers (1) that require a client certificate (3); the mirror client (0) requires the server's (1).
        assert (configs["%MirrorServer"]["Type"], configs["%MirrorServer"]["VerifyPeer"]) == ("1", "3")
        assert (configs["%MirrorClient"]["Type"], configs["%MirrorClient"]["VerifyPeer"]) == ("0", "1")
        assert (configs["%ECPServer"]["Type"], configs["%ECPServer"]["VerifyPeer"]) == ("1", "3")
        # xDBC clients need no certificate of their own; one that presents one has it verified.
        assert (configs["%SuperServer"]["Type"], configs["%SuperServer"]["VerifyPeer"]) == ("1", "1")
        # The configurations exist before the mirror that uses them is created or joined.
        names = [a.name for a in f.actions]
        assert max(i for i, n in enumerate(names) if n == "CreateSSLConfig") < names.index("ConfigMirror")


def test_every_mirror_set_uses_ssl_on_every_member(assembly: Synthesized) -> None:
    seen = set()
    for who, role, f in every_merge(assembly):
        (mirror,) = f.action("ConfigMirror")
        assert mirror.params["UseSSL"] == "1", (who, role)
        seen.add(mirror.params["Name"])
    assert seen == {mirror_name(m.name) for m in assembly.settings.data.mirror_sets}


def test_the_primary_compresses_the_journal_data_it_sends_to_async_members(assembly: Synthesized) -> None:
    wanted = str(COMPRESSION_TYPES[assembly.settings.data.mirror_async_compression])
    for who, role, f in every_merge(assembly):
        (mirror,) = f.action("ConfigMirror")
        compression = {k: v for k, v in mirror.params.items() if k.startswith("Compression")}
        if role == "primary":
            assert compression == {"CompressionForAsyncMembers": "2", "CompressionTypeForAsyncMembers": wanted}, who
        else:
            assert compression == {}, (who, role)  # a mirror's settings are set where it is created


def test_ecp_requires_tls_and_the_superserver_offers_it(assembly: Synthesized) -> None:
    for who, _, f in every_merge(assembly):
        assert [a.params for a in f.action("ModifySystem")] == [{"Name": "SYSTEM", "SSLECPServer": "2"}], who  # Required
        (server,) = f.action("ModifyServer")
        assert server.params == {
            "Port": str(c.IRIS_SUPERSERVER_PORT),
            "BindAddress": "",
            "SSLSupportLevel": "1",
            "SSLConfig": "%SuperServer",
        }
        services = {a.params["Name"]: a.params for a in f.action("ModifyService")}
        assert services["%Service_ECP"]["Enabled"] == "1"


def test_an_unknown_compression_type_is_refused() -> None:
    config = MemberConfig("DEV", "DEV0", "t3.large", 0.5, "arbiter", 8000, (), async_compression="gzip")
    with pytest.raises(ValueError, match="async compression 'gzip': expected one of zlib, zstd, lz4"):
        member_merge("primary", config)
    assert "CompressionTypeForAsyncMembers=0" in member_merge(
        "primary", MemberConfig("DEV", "DEV0", "t3.large", 0.5, "a", 8000, (), "zlib")
    )
