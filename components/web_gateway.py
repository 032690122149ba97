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
TLS_DIR = "/etc/pki/iris-web"


@dataclass(frozen=True)
class WebGatewayConfig:
    """Where the Web Gateway sends requests, and with which credentials.

    ``members`` are the addresses of the mirror's failover members. The
    gateway is mirror-aware: it connects to a member and follows the mirror
    to whichever member is primary, so it needs no VIP. It starts with the
    first member, which redirects it when it is not primary.
    """

    mirror_name: str
    members: Sequence[str]
    superserver_port: int
    application_paths: Sequence[str]
    credentials_secret: secretsmanager.ISecret


def server_names(config: WebGatewayConfig) -> list[str]:
    """One server access profile per failover member."""
    return [f"{config.mirror_name.upper()}_{i}" for i in range(len(config.members))]


def csp_ini(config: WebGatewayConfig) -> str:
    """CSP.ini: a mirror-aware server access profile per failover member; every
    application path starts with the profile the setup script chooses (the
    primary at boot). The management pages answer this host only."""
    names = server_names(config)
    lines = [
        "[SYSTEM]",
        "System_Manager=127.0.0.1",
        "Server_Response_Timeout=60",
        "Queued_Request_Timeout=60",
        "No_Activity_Timeout=86400",
        "",
        "[SYSTEM_INDEX]",
        *(f"{name}=Enabled" for name in names),
    ]
    for name, address in zip(names, config.members, strict=True):
        lines += [
            "",
            f"[{name}]",
            f"Ip_Address={address}",
            f"TCP_Port={config.superserver_port}",
            f"Username={WEB_GATEWAY_USER}",
            f"Password={PASSWORD_MARKER}",
            "Mirror_Aware=1",
            "Minimum_Server_Connections=3",
            "Maximum_Session_Connections=6",
        ]
    lines += ["", "[APP_PATH_INDEX]", *(f"{path}=Enabled" for path in config.application_paths)]
    for path in config.application_paths:
        lines += [
            "",
            f"[APP_PATH:{path}]",
            f"Default_Server={DEFAULT_SERVER_MARKER}",
            f"Alternative_Server_0=1~~~~~~{DEFAULT_SERVER_MARKER}",
        ]
    return "\n".join(lines) + "\n"


def apache_conf(config: WebGatewayConfig) -> str:
    """Apache: HTTPS only, with a key pair made on the server (the ALB does not
    verify its targets' certificates; the hop is encrypted all the same), the
    application paths handed to the Web Gateway, its management pages local."""
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

{locations}
    <Location "/csp/bin/Systems/">
        SetHandler csp-handler-sa
        Require local
    </Location>
    <Location "/csp/bin/RunTime/">
        SetHandler csp-handler-sa
    </Location>
</VirtualHost>

<Directory "{WEB_GATEWAY_DIR}/bin/">
    AllowOverride None
    Options None
    Require all granted
    <FilesMatch "\\.(log|ini|pid|exe)$">
        Require all denied
    </FilesMatch>
</Directory>
"""


def web_gateway_commands(config: WebGatewayConfig, *, region: str) -> list[str]:
    """User-data commands: ship the rendered files and the setup script, run it."""
    profiles = " ".join(f"{name}={address}" for name, address in zip(server_names(config), config.members, strict=True))
    env = (
        f"CREDENTIALS_SECRET={config.credentials_secret.secret_arn}\n"
        f"AWS_REGION={region}\n"
        f"GATEWAY_DIR={WEB_GATEWAY_DIR}\n"
        f"TLS_DIR={TLS_DIR}\n"
        f'MEMBER_PROFILES="{profiles}"\n'
    )
    return [
        *install_file_commands(f"{CONF_DIR}/web-gateway.env", env, "0644"),
        *install_file_commands(f"{CONF_DIR}/CSP.ini.template", csp_ini(config), "0600"),
        *install_file_commands(f"{CONF_DIR}/iris-webgateway.conf", apache_conf(config), "0644"),
        *install_file_commands("/usr/local/sbin/iris-web-gateway-setup", SETUP_SCRIPT.read_text(), "0755"),
        "/usr/local/sbin/iris-web-gateway-setup",
    ]
