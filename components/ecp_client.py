"""User data of an ECP client: an application or print server.

An ECP client is mirror-aware: its [ECPServers] entry names a failover
member as a mirror connection, and IRIS redirects it to whichever member is
primary, so it needs no VIP. The connection requires TLS (``%ECPClient``,
verifying the member against the deployment's CA); the remote databases and
their namespaces come from ``app.ecp_databases``; the superserver the Web
Gateway reaches requires TLS (``%SuperServer``). ``iris/ecp_client_setup.sh``
applies the merge file with IRIS running (``iris merge``) or at its start
(``ISC_CPF_MERGE_FILE``), at every boot, and mounts the instance store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from components.mirror_member import install_file_commands
from config.constants import ECP_CACHE_MOUNT

SETUP_SCRIPT = Path(__file__).resolve().parent.parent / "iris" / "ecp_client_setup.sh"
PASSWORD_HASH = Path(__file__).resolve().parent.parent / "iris" / "password_hash.py"
# The setup script puts the hash of the data tier's CSPSystem password here: the
# Web Gateway signs in to these servers' superservers with that account.
CSPSYSTEM_HASH_MARKER = "@@CSPSYSTEM_HASH@@"
CONF_DIR = "/etc/iris-aws"
SERVICE = "iris-ecp-client.service"
# [ECPServers] Name=Address,Port,MirrorConnection,SSLConfig (InterSystems,
# Configuration Parameter File Reference, "ECPServers"): MirrorConnection 1
# follows the mirror to its primary (-1 would stay on the member named);
# SSLConfig 1 makes the connection use TLS, with the %ECPClient configuration.
MIRROR_CONNECTION = 1
ECP_USES_TLS = 1

# The host's TLS files (tls-contract: issued at boot, renewed by a timer).
TLS_DIR = "/etc/iris-tls"
HOST_CERT = f"{TLS_DIR}/host.crt"
HOST_KEY = f"{TLS_DIR}/host.key"
CA_CERT = f"{TLS_DIR}/ca.crt"
# Security.SSLConfigs: TLSMinVersion/TLSMaxVersion bits (16 TLS 1.2, 32 TLS
# 1.3); Type 0 client, 1 server; VerifyPeer 1 (client) requires the server's
# certificate, 3 (server) requires the client's.
TLS_1_2, TLS_1_3 = 16, 32
CLIENT, SERVER = 0, 1
CLIENT_REQUIRES_PEER, SERVER_REQUIRES_PEER = 1, 3
# Security.Servers SSLSupportLevel 2: the superserver accepts TLS connections only.
SUPERSERVER_TLS_REQUIRED = 2
ECP_CLIENT_CONFIG = "%ECPClient"
SUPERSERVER_CONFIG = "%SuperServer"

UNIT = """[Unit]
Description=IRIS ECP client: instance-store cache, TLS and the mirror connection; starts IRIS
Wants=network-online.target
After=local-fs.target network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/iris-ecp-client-setup

[Install]
WantedBy=multi-user.target
"""


@dataclass(frozen=True)
class EcpClientConfig:
    """What an ECP client connects to and serves.

    ``address`` is the failover member that is primary at deployment; the
    mirror connection follows the primary from there. ``databases`` are
    (mirrored database, namespace) pairs: each a remote database of the same
    name on the ECP server ``mirror_name``, and a namespace mapped to it.
    """

    mirror_name: str
    address: str
    port: int
    databases: Sequence[tuple[str, str]]


def _ssl_config(name: str, description: str, *, kind: int, verify_peer: int) -> str:
    return (
        f'CreateSSLConfig:Name={name},Description="{description}",Enabled=1,Type={kind},VerifyPeer={verify_peer},'
        f"CAFile={CA_CERT},CertificateFile={HOST_CERT},PrivateKeyFile={HOST_KEY},"
        f"TLSMinVersion={TLS_1_2},TLSMaxVersion={TLS_1_3}"
    )


def remote_directory(mirror_name: str, database: str) -> str:
    """A mirrored database's directory as an ECP client names it: by mirror, not by a member's path."""
    return f":mirror:{mirror_name}:{database}"


def ecp_client_merge(config: EcpClientConfig) -> str:
    """The configuration merge file of an ECP client (application or print server)."""
    name = config.mirror_name
    lines = [
        "[ECPServers]",
        f"{name}={config.address},{config.port},{MIRROR_CONNECTION},{ECP_USES_TLS}",
        "",
        "[Actions]",
        _ssl_config(
            ECP_CLIENT_CONFIG,
            "ECP to the mirror members, verified against the deployment CA",
            kind=CLIENT,
            verify_peer=CLIENT_REQUIRES_PEER,
        ),
        _ssl_config(
            SUPERSERVER_CONFIG,
            "Superserver for the Web Gateway, which presents its host certificate",
            kind=SERVER,
            verify_peer=SERVER_REQUIRES_PEER,
        ),
        f"ModifyServer:Port={config.port},SSLSupportLevel={SUPERSERVER_TLS_REQUIRED},SSLConfig={SUPERSERVER_CONFIG}",
        # The filled hash holds commas, so the marker is quoted already.
        f'ModifyUser:Name=CSPSystem,PasswordHash="{CSPSYSTEM_HASH_MARKER}"',
    ]
    for database, namespace in config.databases:
        lines += [
            f"CreateDatabase:Name={database},Directory={remote_directory(name, database)},Server={name},LogicalOnly=1",
            f"CreateNamespace:Name={namespace},Globals={database},Routines={database}",
        ]
    return "\n".join(lines) + "\n"


def ecp_client_commands(
    config: EcpClientConfig, *, iris_instance: str, iris_os_user: str, cspsystem_secret_arn: str, region: str
) -> list[str]:
    """User-data commands: ship the merge file, the scripts and the unit; start it.
    ``cspsystem_secret_arn``: the data tier's CSPSystem password, which the Web Gateway presents."""
    env = (
        f"IRIS_INSTANCE={iris_instance}\nIRIS_OS_USER={iris_os_user}\nCACHE_MOUNT={ECP_CACHE_MOUNT}\n"
        f"ECP_SERVER={config.mirror_name}\nTLS_DIR={TLS_DIR}\nCSPSYSTEM_SECRET={cspsystem_secret_arn}\nAWS_REGION={region}\n"
    )
    return [
        *install_file_commands(f"{CONF_DIR}/ecp-client.env", env, "0644"),
        *install_file_commands(f"{CONF_DIR}/ecp-client.cpf", ecp_client_merge(config), "0644"),
        *install_file_commands("/usr/local/bin/iris-password-hash", PASSWORD_HASH.read_text(), "0755"),
        *install_file_commands("/usr/local/sbin/iris-ecp-client-setup", SETUP_SCRIPT.read_text(), "0755"),
        *install_file_commands(f"/etc/systemd/system/{SERVICE}", UNIT, "0644"),
        "systemctl daemon-reload",
        f"systemctl enable {SERVICE}",
        f"systemctl start {SERVICE}",
    ]
