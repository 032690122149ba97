"""What a region's ECP application (and print) servers share: their role and their user data.

The primary region's app tier and the DR region's web tier build their ECP
servers from these, with the same construct ids in their stacks. Guarantees:
the role holds SSM Session Manager, the CloudWatch agent, the read of one
CSPSystem secret (decrypted through Secrets Manager only) and the host's
certificate from the deployment's CA, nothing else; the user data issues the
host's certificate before IRIS is configured (components/ecp_client.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from components.ecp_client import EcpClientConfig, ecp_client_commands
from components.host_certificate import (
    ECP_CLIENT_KEY_GROUP,
    CertificateAuthority,
    certificate_commands,
    certificate_policy,
    script_asset,
)
from components.iris_credentials import read_secret_at_boot
from components.service_role import service_role
from config import constants as c
from config.data import DataTierSettings


@dataclass(frozen=True)
class EcpServerAccess:
    """The ECP servers' role and their user-data commands."""

    role: iam.Role
    commands: list[str]


def ecp_server_access(
    scope: Construct,
    *,
    ca: CertificateAuthority,
    cspsystem: secretsmanager.ISecret,
    default_key: kms.IKey,
    mirror_name: str,
    address: str,
    databases: Sequence[tuple[str, str]],
    data_settings: DataTierSettings,
    region: str,
    hosts: str = "ECP application and print servers",
) -> EcpServerAccess:
    """The role and user data of ECP servers in ``scope``'s stack that connect to ``address``.

    ``address`` is the data server their [ECPServers] entry names, as a mirror
    connection with TLS: a failover member (IRIS redirects the client to the
    primary) or a VIP. ``cspsystem`` is the password the Web Gateway signs in
    with; ``default_key`` decrypts it when the secret names no key of its own.
    """
    certificate_script = script_asset(scope, "EcpCertificateScript")
    commands = [
        # The host's certificate first: the setup script gets it before IRIS is configured.
        *certificate_commands(ca, names=[], key_group=ECP_CLIENT_KEY_GROUP, script=certificate_script, region=region),
        *ecp_client_commands(
            EcpClientConfig(mirror_name=mirror_name, address=address, port=c.IRIS_SUPERSERVER_PORT, databases=databases),
            iris_instance=data_settings.iris_instance,
            iris_os_user=data_settings.iris_os_user,
            cspsystem_secret_arn=cspsystem.secret_arn,
            region=region,
        ),
    ]
    role = _role(
        scope, ca=ca, cspsystem=cspsystem, default_key=default_key, region=region, hosts=hosts, script=certificate_script
    )
    return EcpServerAccess(role=role, commands=commands)


def _role(
    scope: Construct,
    *,
    ca: CertificateAuthority,
    cspsystem: secretsmanager.ISecret,
    default_key: kms.IKey,
    region: str,
    hosts: str,
    script: s3_assets.Asset,
) -> iam.Role:
    role = service_role(
        scope,
        "EcpServerRole",
        service="ec2.amazonaws.com",
        description=f"{hosts}: SSM Session Manager, the CloudWatch agent, the CSPSystem password and a TLS certificate",
        aws_managed_policies={
            "AmazonSSMManagedInstanceCore": "The AWS-maintained minimum for SSM Session Manager (no SSH, no key pairs); "
            "the ECP servers' role holds nothing else but the CloudWatch agent's policy, one secret's read and "
            "getting the host's certificate from the deployment's CA.",
            "CloudWatchAgentServerPolicy": "The AWS-maintained minimum for the CloudWatch agent's metrics and logs; "
            "the ECP servers' role holds nothing else but SSM Session Manager's policy, one secret's read and "
            "getting the host's certificate from the deployment's CA.",
        },
    )
    role.add_managed_policy(certificate_policy(scope, "EcpCertificatePolicy", ca=ca, hosts=hosts, script=script))
    # The Web Gateway signs in to their superservers as CSPSystem, with the data tier's password.
    role.add_managed_policy(
        iam.ManagedPolicy(
            scope,
            "ReadCspSystemPassword",
            description="ECP servers: read the CSPSystem password at boot, to give its hash to IRIS",
            statements=read_secret_at_boot(cspsystem, default_key, region),
        )
    )
    return role
