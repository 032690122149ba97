"""User data of an ECP client: an application or print server.

An ECP client is mirror-aware: its [ECPServers] entry names a failover
member as a mirror connection, and IRIS redirects it to whichever member is
primary, so it needs no VIP. ``iris/ecp_client_setup.sh`` applies the entry
with ``iris merge`` and mounts the instance store, at every boot.
"""

from __future__ import annotations

from pathlib import Path

from components.mirror_member import install_file_commands
from config.constants import ECP_CACHE_MOUNT

SETUP_SCRIPT = Path(__file__).resolve().parent.parent / "iris" / "ecp_client_setup.sh"
CONF_DIR = "/etc/iris-aws"
SERVICE = "iris-ecp-client.service"
# [ECPServers] Name=Address,Port,MirrorConnection: 1 follows the mirror to
# its primary (-1 would stay on the member named).
MIRROR_CONNECTION = 1

UNIT = """[Unit]
Description=IRIS ECP client: instance-store cache and the mirror connection
Wants=network-online.target
After=local-fs.target network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/iris-ecp-client-setup

[Install]
WantedBy=multi-user.target
"""


def ecp_servers_merge(*, mirror_name: str, address: str, port: int) -> str:
    """A configuration merge file with the mirror as this client's ECP data server."""
    return f"[ECPServers]\n{mirror_name}={address},{port},{MIRROR_CONNECTION}\n"


def ecp_client_commands(*, mirror_name: str, address: str, port: int, iris_instance: str, iris_os_user: str) -> list[str]:
    """User-data commands: ship the merge file, the script and its unit; start it."""
    env = f"IRIS_INSTANCE={iris_instance}\nIRIS_OS_USER={iris_os_user}\nCACHE_MOUNT={ECP_CACHE_MOUNT}\n"
    return [
        *install_file_commands(f"{CONF_DIR}/ecp-client.env", env, "0644"),
        *install_file_commands(
            f"{CONF_DIR}/ecp-servers.cpf", ecp_servers_merge(mirror_name=mirror_name, address=address, port=port), "0644"
        ),
        *install_file_commands("/usr/local/sbin/iris-ecp-client-setup", SETUP_SCRIPT.read_text(), "0755"),
        *install_file_commands(f"/etc/systemd/system/{SERVICE}", UNIT, "0644"),
        "systemctl daemon-reload",
        f"systemctl enable {SERVICE}",
        f"systemctl start {SERVICE}",
    ]
