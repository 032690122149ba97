"""Configuration of Apache and the InterSystems Web Gateway on a web server.

The files are rendered here, at synthesis, and installed at boot by
``iris/web_gateway_setup.sh``, which adds the gateway's password from Secrets
Manager. The Web Gateway itself comes with the customer's golden image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import aws_secretsmanager as secretsmanager

from components.mirror_member import install_file_commands
from config.constants import HTTPS_PORT, WEB_GATEWAY_DIR, WEB_GATEWAY_USER

SETUP_SCRIPT = Path(__file__).resolve().parent.parent / "iris" / "web_gateway_setup.sh"
CONF_DIR = "/etc/iris-aws"
# The setup script puts the password, and the profile of the member that is
# primary when the server boots, where these markers stand.
PASSWORD_MARKER = "@@WEB_GATEWAY_PASSWORD@@"
DEFAULT_SERVER_MARKER = "@@DEFAULT_SERVER@@"
SERVER_INDEX_MARKER = "@@SERVER_INDEX@@"
SERVERS_MARKER = "@@SERVERS@@"
ALTERNATIVES_MARKER = "@@ALTERNATIVE_SERVERS@@"
NAME_MARKER = "@@NAME@@"
ADDRESS_MARKER = "@@ADDRESS@@"
# Apache's own key pair for the ALB's HTTPS (the ALB verifies no target certificate).
TLS_DIR = "/etc/pki/iris-web"
# The host's certificate from the deployment's CA (tls-contract), for the superserver connections.
IRIS_TLS_DIR = "/etc/iris-tls"
HOST_CERT = f"{IRIS_TLS_DIR}/host.crt"
HOST_KEY = f"{IRIS_TLS_DIR}/host.key"
CA_CERT = f"{IRIS_TLS_DIR}/ca.crt"
# Connection_Security_Level 10 is SSL/TLS; SSLCC_Protocol_Min/Max 16 and 32 are
# TLS 1.2 and 1.3; SSLCC_Key_Type 2 is RSA (as in InterSystems' webgateway-examples).
CONNECTION_SECURITY_TLS = 10
TLS_1_2, TLS_1_3 = 16, 32
KEY_TYPE_RSA = 2
# The web server's own health page, which the ALB's health check asks: Apache serves the file
# that the setup script writes once Apache and the gateway are configured with at least one
# server. It is no application path, so the public listener never forwards it.
HEALTH_PATH = "/iris-web-health"
HEALTH_DIR = "/var/www/iris-web-health"
HEALTH_FILE = f"{HEALTH_DIR}/status.txt"
# Application access the gateway refuses: the root and the parents of the system
# applications (otherwise a path no profile names inherits the root's server, Web Gateway
# Configuration Guide, "Configuring Application Access"), and IRIS's system applications.
DISABLED_APP_PATHS = ("/", "/csp", "/api", "/csp/sys", "/csp/docbook", "/csp/documatic", "/api/mgmnt")
# Apache refuses these to everyone, in any case and however many slashes: IRIS's system
# applications and the gateway's mirror status page (only a member's own gateway answers it).
DENIED_PATTERN = "(?i)^/+(csp/+(sys|docbook|documatic)|api/+mgmnt|csp/+bin/+mirror_status)"
# How often a web server looks for application servers that came or went.
REFRESH_TIMER = "iris-web-gateway-refresh.timer"
REFRESH_SECONDS = 60


@dataclass(frozen=True)
class WebGatewayConfig:
    """Where the Web Gateway sends requests, and with which credentials.

    With ``app_server_group`` (an Auto Scaling group's name), the gateway
    serves from the ECP application servers: the setup script finds the
    group's running instances and gives each a server access profile,
    balancing every application path over them; its timer follows the group.
    Without it, ``members`` are the addresses of mirror members (the DR
    region's web tier): the gateway is mirror-aware, connects to the first and
    follows the mirror to whichever member is primary. Every connection is
    TLS to the superserver, verified against the deployment's CA.
    """

    mirror_name: str
    members: Sequence[str]
    superserver_port: int
    application_paths: Sequence[str]
    credentials_secret: secretsmanager.ISecret
    app_server_group: str | None = None


def server_names(config: WebGatewayConfig) -> list[str]:
    """One server access profile per mirror member (without an application server group)."""
    return [f"{config.mirror_name.upper()}_{i}" for i in range(len(config.members))]


def csp_ini(config: WebGatewayConfig) -> str:
    """CSP.ini with markers the setup script fills: the server index, the
    server access profiles (``csp_ini_server`` each), the default server and
    the alternatives of every application path. The management pages answer
    this host only; the root, /csp, /api and IRIS's system applications are
    disabled, so only the application paths are served."""
    lines = [
        "[SYSTEM]",
        "System_Manager=127.0.0.1",
        "Server_Response_Timeout=60",
        "Queued_Request_Timeout=60",
        "No_Activity_Timeout=86400",
        "",
        "[SYSTEM_INDEX]",
        SERVER_INDEX_MARKER,
        "",
        SERVERS_MARKER,
        "[APP_PATH_INDEX]",
        *(f"{path}=Disabled" for path in DISABLED_APP_PATHS),
        *(f"{path}=Enabled" for path in config.application_paths),
    ]
    for path in config.application_paths:
        lines += ["", f"[APP_PATH:{path}]", f"Default_Server={DEFAULT_SERVER_MARKER}"]
        if config.app_server_group is not None:
            # Every application server takes requests; a session stays where it started.
            lines.append("Alternative_Servers=LoadBalancing")
        lines.append(ALTERNATIVES_MARKER)
    return "\n".join(lines) + "\n"


def csp_ini_server(config: WebGatewayConfig) -> str:
    """One server access profile: the superserver over TLS, verified against the CA
    (CSP.ini keys: InterSystems, Web Gateway Configuration Guide, "[<server>]")."""
    lines = [
        f"[{NAME_MARKER}]",
        f"Ip_Address={ADDRESS_MARKER}",
        f"TCP_Port={config.superserver_port}",
        f"Username={WEB_GATEWAY_USER}",
        f"Password={PASSWORD_MARKER}",
    ]
    if config.app_server_group is None:
        lines.append("Mirror_Aware=1")
    lines += [
        "Minimum_Server_Connections=3",
        "Maximum_Session_Connections=6",
        f"Connection_Security_Level={CONNECTION_SECURITY_TLS}",
        f"SSLCC_Protocol_Min={TLS_1_2}",
        f"SSLCC_Protocol_Max={TLS_1_3}",
        f"SSLCC_Key_Type={KEY_TYPE_RSA}",
        f"SSLCC_Certificate_File={HOST_CERT}",
        f"SSLCC_Certificate_Key_File={HOST_KEY}",
        f"SSLCC_CA_Certificate_File={CA_CERT}",
    ]
    return "\n".join(lines) + "\n"


def apache_conf(config: WebGatewayConfig) -> str:
    """Apache: HTTPS only, with a key pair made on the server (the ALB does not
    verify its targets' certificates; the hop is encrypted all the same), the
    application paths handed to the Web Gateway, its management pages local,
    IRIS's system applications and the mirror status page denied to everyone,
    and the server's own health page."""
    locations = "\n".join(f'    <Location "{path}">\n        CSP On\n    </Location>' for path in config.application_paths)
    return f"""# Written at boot by iris-web-gateway-setup; edits are overwritten.
Listen {HTTPS_PORT} https
SSLProtocol -all +TLSv1.2 +TLSv1.3
SSLHonorCipherOrder on
SSLCipherSuite HIGH:!aNULL:!MD5:!3DES:!CAMELLIA:!ARIA
SSLSessionTickets off

<IfModule !csp_module_sa>
    LoadModule csp_module_sa "{WEB_GATEWAY_DIR}/bin/CSPa24.so"
</IfModule>
CSPModulePath "{WEB_GATEWAY_DIR}/bin/"
CSPConfigPath "{WEB_GATEWAY_DIR}/bin/"

<VirtualHost *:{HTTPS_PORT}>
    SSLEngine on
    SSLCertificateFile {TLS_DIR}/server.crt
    SSLCertificateKeyFile {TLS_DIR}/server.key
    ServerSignature Off

    <LocationMatch "{DENIED_PATTERN}">
        Require all denied
    </LocationMatch>
{locations}
    Alias "{HEALTH_PATH}" "{HEALTH_FILE}"
    <Location "{HEALTH_PATH}">
        Require all granted
    </Location>
    <Location "/csp/bin/Systems/">
        SetHandler csp-handler-sa
        Require local
    </Location>
    <Location "/csp/bin/RunTime/">
        SetHandler csp-handler-sa
    </Location>
</VirtualHost>

<Directory "{HEALTH_DIR}">
    AllowOverride None
    Options None
    Require all granted
</Directory>

<Directory "{WEB_GATEWAY_DIR}/bin/">
    AllowOverride None
    Options None
    Require all granted
    <FilesMatch "\\.(log|ini|pid|exe)$">
        Require all denied
    </FilesMatch>
</Directory>
"""


REFRESH_SERVICE = """[Unit]
Description=Web Gateway: follow the ECP application servers of the Auto Scaling group
After=network-online.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/iris-web-gateway-setup
"""

REFRESH_TIMER_UNIT = f"""[Unit]
Description=Web Gateway: look for ECP application servers every {REFRESH_SECONDS} s

[Timer]
OnBootSec={REFRESH_SECONDS}
OnUnitActiveSec={REFRESH_SECONDS}

[Install]
WantedBy=timers.target
"""


def shipped_script() -> str:
    """The setup script as the user data ships it: without its comment and blank lines (the
    shebang kept), since a launch template's user data holds at most 16 KB. The script has no
    heredoc or multi-line string, so no line of code starts with a #."""
    first, *rest = SETUP_SCRIPT.read_text().splitlines()
    return "\n".join([first, *(line for line in rest if line.strip() and not line.lstrip().startswith("#"))]) + "\n"


def web_gateway_commands(config: WebGatewayConfig, *, region: str) -> list[str]:
    """User-data commands: ship the rendered files and the setup script, run it
    (and, serving from application servers, its timer)."""
    profiles = " ".join(f"{name}={address}" for name, address in zip(server_names(config), config.members, strict=True))
    env = (
        f"CREDENTIALS_SECRET={config.credentials_secret.secret_arn}\n"
        f"AWS_REGION={region}\n"
        f"GATEWAY_DIR={WEB_GATEWAY_DIR}\n"
        f"TLS_DIR={TLS_DIR}\n"
        f"IRIS_TLS_DIR={IRIS_TLS_DIR}\n"
        f"HEALTH_FILE={HEALTH_FILE}\n"
        f'MEMBER_PROFILES="{profiles}"\n'
        f"APP_SERVER_GROUP={config.app_server_group or ''}\n"
    )
    commands = [
        *install_file_commands(f"{CONF_DIR}/web-gateway.env", env, "0644"),
        *install_file_commands(f"{CONF_DIR}/CSP.ini.template", csp_ini(config), "0600"),
        *install_file_commands(f"{CONF_DIR}/CSP.ini.server", csp_ini_server(config), "0600"),
        *install_file_commands(f"{CONF_DIR}/iris-webgateway.conf", apache_conf(config), "0644"),
        *install_file_commands("/usr/local/sbin/iris-web-gateway-setup", shipped_script(), "0755"),
    ]
    if config.app_server_group is not None:
        # The timer first: the servers the first run finds (perhaps none yet) are not the last word.
        commands += [
            *install_file_commands("/etc/systemd/system/iris-web-gateway-refresh.service", REFRESH_SERVICE, "0644"),
            *install_file_commands(f"/etc/systemd/system/{REFRESH_TIMER}", REFRESH_TIMER_UNIT, "0644"),
            "systemctl daemon-reload",
            f"systemctl enable --now {REFRESH_TIMER}",
        ]
    return [*commands, "/usr/local/sbin/iris-web-gateway-setup"]
