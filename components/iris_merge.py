"""The configuration merge files (partial CPFs) that turn a member's IRIS into a mirror member.

Plain functions of settings, rendered at synthesis into the member's user
data. Facts from InterSystems' "Automating Configuration of InterSystems IRIS
with Configuration Merge" (GCMF) and the CPF reference (RACS):

- ``[Actions]`` lines are ``Action:Key=Value,...``; a value holding a comma
  or ``=`` is quoted. Create actions skip objects that exist, and
  ``ConfigMirror`` exits when the mirror exists (only ``ArbiterURL`` may be
  added later), so a merge applied twice changes nothing.
- ``ConfigMirror:Name=...,Member=primary|backup|drasync,Primary=<host>`` with
  ``SystemName`` and ``ArbiterURL=<host>:<port>``; mirrored databases are
  ``CreateDatabase`` with ``MirrorSetName`` and ``MirrorDBName`` on every
  member (GCMF 9.6.1).
- ``[Startup] PasswordHash=hash,salt,workfactor,algorithm`` sets the
  predefined accounts' password at first start, CSPSystem excepted, which
  gets its own ``ModifyUser`` (RACS_PASSWORDHASH).
- ``[config] globals=0,0,<8 KB MB>,0,0,0``, ``routines=<MB>``, ``wijdir``;
  ``[Journal] CurrentDirectory`` and ``AlternateDirectory``.

TLS (InterSystems TLS Guide, GTLS; CPF reference RACS_createsslconfig,
RACS_modifyserver, RACS_modifysystem; GCMF 9.6.3):

- ``CreateSSLConfig:Name=...`` runs ``Security.SSLConfigs.Create()`` with the
  given properties. Every configuration presents the host's certificate and
  key and verifies its peer against the deployment's CA, TLS 1.2 at least.
- The mirror uses the configurations named ``%MirrorServer`` and
  ``%MirrorClient``; ``ConfigMirror`` takes ``UseSSL=1`` (any property of
  ``SYS.Mirror.CreateNewMirrorSet()``'s MirrorInfo), and on the primary the
  compression of the journal data sent to async members
  (``CompressionForAsyncMembers``, ``CompressionTypeForAsyncMembers``). A
  mirror's TLS is decided when it is created, so these are on the line that
  creates it; the configurations come before it in the file.
- ECP: ``%ECPServer`` and the system's ``SSLECPServer`` = 2 (Required), so an
  application server connects only with TLS (``ModifySystem``).
- The superserver (1972) presents ``%SuperServer``; its TLS support level is
  Enabled: a client that asks for TLS gets it, one that does not is still
  served (``ModifyServer``; docs/data-tier.md says why not Required).

Password hashes are not known at synthesis: the files hold the markers
below, which the boot script fills from Secrets Manager in a file on tmpfs
that it empties once IRIS has read it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from components.member_monitoring import structured_logging_merge
from config.constants import IRIS_MOUNT_POINTS, IRIS_SUPERSERVER_PORT, ISCAGENT_PORT
from config.data import MirroredDatabaseSettings
from config.instance_memory import instance_memory_mib

SUPERUSER_HASH_MARKER = "{{SUPERUSER_PASSWORD_HASH}}"
CSPSYSTEM_HASH_MARKER = "{{CSPSYSTEM_PASSWORD_HASH}}"
# The boot script puts the address of the member it joins here.
PRIMARY_MARKER = "{{PRIMARY_HOST}}"
MEMBER_ROLES = ("primary", "backup", "drasync")
# Of the buffers' share of memory, routines get this much; globals the rest.
ROUTINES_SHARE = 0.1
ROUTINES_MAX_MIB = 4096
DATABASE_DIRECTORY = f"{IRIS_MOUNT_POINTS['database']}/data"

# The host's TLS files (issued at boot, renewed by a timer), mounted read-only
# into the IRIS container at the same path.
TLS_DIR = "/etc/iris-tls"
TLS_FILES = {"CAFile": f"{TLS_DIR}/ca.crt", "CertificateFile": f"{TLS_DIR}/host.crt", "PrivateKeyFile": f"{TLS_DIR}/host.key"}
# Security.SSLConfigs: Type 0 client, 1 server. VerifyPeer: a client 1 =
# require the server's certificate; a server 1 = verify one if presented,
# 3 = require one. TLSMinVersion/TLSMaxVersion bits: 16 TLS 1.2, 32 TLS 1.3.
SSL_CLIENT, SSL_SERVER = 0, 1
VERIFY_SERVER, VERIFY_IF_PRESENTED, VERIFY_REQUIRED = 1, 1, 3
TLS_1_2, TLS_1_3 = 16, 32
# (name, type, VerifyPeer): mirror members and ECP clients must present a
# certificate from the CA; xDBC clients and the Web Gateway may.
SSL_CONFIGS = (
    ("%MirrorServer", SSL_SERVER, VERIFY_REQUIRED),
    ("%MirrorClient", SSL_CLIENT, VERIFY_SERVER),
    ("%ECPServer", SSL_SERVER, VERIFY_REQUIRED),
    ("%SuperServer", SSL_SERVER, VERIFY_IF_PRESENTED),
)
# Security.System SSLECPServer and Security.Servers SSLSupportLevel: 0 Disabled, 1 Enabled, 2 Required.
TLS_ENABLED, TLS_REQUIRED = 1, 2
# Config.Mirrors: CompressionFor*Members 2 = Compressed; CompressionType* 0 zlib, 1 zstd, 2 lz4.
COMPRESSED = 2
COMPRESSION_TYPES = {"zlib": 0, "zstd": 1, "lz4": 2}


@dataclass(frozen=True)
class MemberConfig:
    """What one data member's merge file depends on."""

    mirror_name: str  # upper-case letters and digits, at most 15
    system_name: str  # this member's name in the mirror
    instance_type: str
    memory_ratio: float
    arbiter_host: str
    qos_timeout_ms: int
    databases: Sequence[MirroredDatabaseSettings]
    async_compression: str = "zstd"  # zlib, zstd or lz4: the journal data the primary sends to async members


def mirror_name(set_name: str) -> str:
    """A mirror set's IRIS mirror name: its settings name, upper-cased."""
    return set_name.upper()


def buffer_sizes(instance_type: str, memory_ratio: float) -> tuple[int, int]:
    """(globals MiB of 8 KB buffers, routines MiB) for ``memory_ratio`` of the type's memory."""
    buffers = int(instance_memory_mib(instance_type) * memory_ratio)
    routines = min(int(buffers * ROUTINES_SHARE), ROUTINES_MAX_MIB)
    return buffers - routines, routines


def _quote(value: str) -> str:
    return f'"{value}"' if ("," in value or "=" in value) else value


def action(name: str, **params: str | int) -> str:
    """One ``[Actions]`` line, parameters in the given order."""
    return f"{name}:" + ",".join(f"{key}={_quote(str(value))}" for key, value in params.items())


def ssl_config_actions() -> list[str]:
    """The member's SSL/TLS configurations: the host's certificate and key, peers verified against the CA."""
    return [
        action(
            "CreateSSLConfig",
            Name=name,
            Enabled=1,
            Type=kind,
            VerifyPeer=verify,
            TLSMinVersion=TLS_1_2,
            TLSMaxVersion=TLS_1_3,
            **TLS_FILES,
        )
        for name, kind, verify in SSL_CONFIGS
    ]


def member_merge(role: str, config: MemberConfig) -> str:
    """The merge file of a data member in ``role`` (primary, backup or drasync)."""
    if role not in MEMBER_ROLES:
        raise ValueError(f"role {role!r}: expected one of {', '.join(MEMBER_ROLES)}")
    globals_mib, routines_mib = buffer_sizes(config.instance_type, config.memory_ratio)
    arbiter = f"{config.arbiter_host}:{ISCAGENT_PORT}"
    primary = "localhost" if role == "primary" else PRIMARY_MARKER
    # The mirror's own settings are the primary's: it creates the mirror with them.
    created_with: dict[str, str | int] = {}
    if role == "primary":
        if config.async_compression not in COMPRESSION_TYPES:
            raise ValueError(f"async compression {config.async_compression!r}: expected one of {', '.join(COMPRESSION_TYPES)}")
        created_with = {
            "CompressionForAsyncMembers": COMPRESSED,
            "CompressionTypeForAsyncMembers": COMPRESSION_TYPES[config.async_compression],
        }
    actions = [
        *ssl_config_actions(),
        action("ModifyService", Name="%Service_Mirror", Enabled=1),
        action("ModifyService", Name="%Service_ECP", Enabled=1),
        # ECP application servers connect with TLS or not at all.
        action("ModifySystem", Name="SYSTEM", SSLECPServer=TLS_REQUIRED),
        # The system default superserver offers TLS on 1972 (ECP over TLS needs it enabled).
        action(
            "ModifyServer",
            Port=IRIS_SUPERSERVER_PORT,
            BindAddress='""',
            SSLSupportLevel=TLS_ENABLED,
            SSLConfig="%SuperServer",
        ),
        # The filled hash holds commas, so the marker is quoted already.
        action("ModifyUser", Name="CSPSystem", PasswordHash=f'"{CSPSYSTEM_HASH_MARKER}"'),
        action(
            "ConfigMirror",
            Name=config.mirror_name,
            Member=role,
            Primary=primary,
            SystemName=config.system_name,
            ArbiterURL=arbiter,
            UseSSL=1,
            **created_with,
        ),
    ]
    if role == "primary":
        # ConfigMirror takes no QoS timeout; the mirror's own settings are the primary's to change.
        actions.append(action("ModifyMirror", Name=config.mirror_name, QOSTimeout=config.qos_timeout_ms))
    for db in config.databases:
        actions.append(
            action(
                "CreateDatabase",
                Name=db.name,
                Directory=f"{DATABASE_DIRECTORY}/{db.name.lower()}/",
                MirrorSetName=config.mirror_name,
                MirrorDBName=db.name,
            )
        )
        actions.append(action("CreateNamespace", Name=db.namespace, Globals=db.name, Routines=db.name))
    sections = {
        "config": [
            f"globals=0,0,{globals_mib},0,0,0",
            f"routines={routines_mib}",
            f"wijdir={IRIS_MOUNT_POINTS['wij']}/",
        ],
        "Journal": [
            f"CurrentDirectory={IRIS_MOUNT_POINTS['journal1']}/",
            f"AlternateDirectory={IRIS_MOUNT_POINTS['journal2']}/",
        ],
        "Startup": [f"PasswordHash={SUPERUSER_HASH_MARKER}"],
        # messages.log and the audit events as JSON lines, for the CloudWatch agent.
        **{name: [f"{k}={v}" for k, v in values.items()] for name, values in structured_logging_merge().items()},
        "Actions": actions,
    }
    return "".join(f"[{name}]\n" + "".join(f"{line}\n" for line in lines) for name, lines in sections.items())
