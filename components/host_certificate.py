"""Each IRIS host's and web server's TLS certificate from the deployment's CA.

A host makes its own private key (iris/host_certificate.sh, with openssl),
sends the CA only a certificate signing request, and keeps the key in
/etc/iris-tls. Nothing here holds a key: the user data writes the CA's ARN,
the validity and the names, a systemd timer renews the certificate before it
expires, and each host role may issue from this one CA with the end-entity
template only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from components.mirror_member import install_file_commands
from config import constants as c
from config.tls import TlsSettings

SCRIPT = Path(__file__).resolve().parent.parent / "iris" / "host_certificate.sh"
COMMAND = "/usr/local/sbin/iris-host-certificate"
TLS_DIR = "/etc/iris-tls"
ENV_FILE = f"{TLS_DIR}/certificate.env"
# TLS web server and client authentication: a mirror member is both a server and a client of its peers.
END_ENTITY_TEMPLATE = "EndEntityCertificate/V1"
# Who may read the key: the Web Gateway's Apache on a web server (iris/web_gateway_setup.sh's
# HTTPD_USER), the instance's group of a native IRIS install on an ECP client (its default
# effective group irisusr); a member's container runs as irisowner (config.constants.IRIS_OWNER_UID).
WEB_SERVER_KEY_GROUP = "apache"
ECP_CLIENT_KEY_GROUP = "irisusr"
TIMER = "iris-host-certificate.timer"
SERVICE = "iris-host-certificate.service"


@dataclass(frozen=True)
class CertificateAuthority:
    """The deployment's CA as the hosts see it: where it is, and how long its certificates live.

    ``vip_zone_name``: the private zone of the mirror VIPs' names (``<set>.<zone>``),
    which a mirror member's certificate carries besides its own name.
    """

    arn: str
    region: str
    certificate_days: int
    renew_before_days: int
    vip_zone_name: str

    @property
    def partition(self) -> str:
        return next((partition for prefix, partition in c.REGION_PARTITIONS if self.region.startswith(prefix)), "aws")

    @property
    def template_arn(self) -> str:
        return f"arn:{self.partition}:acm-pca:::template/{END_ENTITY_TEMPLATE}"

    def vip_name(self, set_name: str) -> str:
        return f"{set_name.lower()}.{self.vip_zone_name}"


def certificate_authority(
    settings: TlsSettings, *, region: str, vip_zone_name: str, created_arn: str | None
) -> CertificateAuthority:
    """The CA of ``settings``: the one named by ``tls.ca_arn``, else ``created_arn`` (the Pki stack's)."""
    arn = settings.ca_arn or created_arn
    if arn is None:
        raise ValueError("tls.ca_arn is none: the Pki stack's CA ARN is needed")
    return CertificateAuthority(
        arn=arn,
        region=region,
        certificate_days=settings.certificate_days,
        renew_before_days=settings.renew_before_days,
        vip_zone_name=vip_zone_name,
    )


def certificate_env(ca: CertificateAuthority, *, names: Sequence[str], key_group: str | int) -> str:
    """$TLS_DIR/certificate.env: what iris/host_certificate.sh reads. No secret."""
    values = {
        "CA_ARN": ca.arn,
        "CA_REGION": ca.region,
        "TEMPLATE_ARN": ca.template_arn,
        "CERTIFICATE_DAYS": ca.certificate_days,
        "RENEW_BEFORE_DAYS": ca.renew_before_days,
        "KEY_GROUP": key_group,
        "DNS_NAMES": " ".join(names),
    }
    return "".join(f"{key}='{value}'\n" for key, value in values.items())


def renewal_units() -> dict[str, str]:
    """The daily renewal: a oneshot service and its timer (a missed run is made up at the next boot)."""
    return {
        SERVICE: "[Unit]\nDescription=Renew the host certificate if due, then run its hooks\n"
        "Wants=network-online.target\nAfter=network-online.target\n\n"
        f"[Service]\nType=oneshot\nExecStart={COMMAND} renew\nTimeoutStartSec=600\n",
        TIMER: "[Unit]\nDescription=Daily check of this host's TLS certificate\n\n"
        "[Timer]\nOnCalendar=daily\nRandomizedDelaySec=1h\nPersistent=true\n\n[Install]\nWantedBy=timers.target\n",
    }


def script_asset(scope: Construct, construct_id: str) -> s3_assets.Asset:
    """The script as an S3 asset, for hosts without the members' asset of ``iris/``: user data is
    limited to 16 KB, and a web server's holds its Web Gateway configuration too."""
    return s3_assets.Asset(scope, construct_id, path=str(SCRIPT))


def certificate_commands(
    ca: CertificateAuthority,
    *,
    names: Sequence[str],
    key_group: str | int,
    script: s3_assets.Asset | None = None,
    region: str | None = None,
) -> list[str]:
    """User-data commands: the CA's settings, the renewal timer and (with ``script``, from ``region``'s
    asset bucket) the script itself.

    The boot script of each host type runs ``iris-host-certificate issue`` before
    IRIS or the Web Gateway starts. Member hosts get the script from their own S3
    asset (components/iris_host.py), so ``script`` is none for them.
    """
    commands = [f"install -d -m 0755 {TLS_DIR} {TLS_DIR}/renewed.d"]
    if script is not None:
        commands += [
            f"aws s3 cp --quiet --region {region} s3://{script.s3_bucket_name}/{script.s3_object_key} {COMMAND}",
            f"chmod 0755 {COMMAND}",
        ]
    commands += install_file_commands(ENV_FILE, certificate_env(ca, names=names, key_group=key_group), "0644")
    for name, text in renewal_units().items():
        commands += install_file_commands(f"/etc/systemd/system/{name}", text, "0644")
    return [*commands, "systemctl daemon-reload", f"systemctl enable {TIMER}", f"systemctl start --no-block {TIMER}"]


def certificate_statements(ca: CertificateAuthority) -> list[iam.PolicyStatement]:
    """Issue from this CA with the end-entity template only; read what it issued and its own certificate."""
    return [
        iam.PolicyStatement(
            actions=["acm-pca:IssueCertificate"],
            resources=[ca.arn],
            conditions={"ArnEquals": {"acm-pca:TemplateArn": ca.template_arn}},
        ),
        iam.PolicyStatement(actions=["acm-pca:GetCertificate", "acm-pca:GetCertificateAuthorityCertificate"], resources=[ca.arn]),
    ]


def certificate_policy(
    scope: Construct, construct_id: str, *, ca: CertificateAuthority, hosts: str, script: s3_assets.Asset | None = None
) -> iam.ManagedPolicy:
    """A managed policy with :func:`certificate_statements` (and the read of ``script``), for the roles of ``hosts``."""
    statements = certificate_statements(ca)
    if script is not None:
        statements.append(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[script.bucket.arn_for_objects(script.s3_object_key)])
        )
    return iam.ManagedPolicy(
        scope,
        construct_id,
        description=f"{hosts}: a TLS certificate for the host from the deployment's CA",
        statements=statements,
    )
