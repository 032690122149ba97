"""PkiStack: the deployment's certificate authority, in the primary region.

Built only when ``tls.ca_arn`` names no existing CA. The hosts of both regions
get their certificates from it (components/host_certificate.py); it comes
first because every stack with hosts reads its ARN.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_acmpca as acmpca
from constructs import Construct

from config.tls import TlsSettings

DESCRIPTION = "IRIS on AWS: the private certificate authority (AWS Private CA) of the hosts' TLS certificates"
# The CA's own key and signature; host keys are RSA 2048 too (iris/host_certificate.sh).
KEY_ALGORITHM = "RSA_2048"
SIGNING_ALGORITHM = "SHA256WITHRSA"
USAGE_MODES = {"general_purpose": "GENERAL_PURPOSE", "short_lived": "SHORT_LIVED_CERTIFICATE"}


class PkiStack(Stack):
    """A root CA of AWS Private CA: created, self-signed with the root CA template, and activated.

    The CA is retained when the stack is deleted (its key cannot be exported or
    made again, and every host certificate chains to it); a retained CA is
    billed until it is deleted by hand. No revocation list: host certificates
    live ``tls.certificate_days`` and are replaced by the hosts before they
    expire. Exposes ``ca_arn``.
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: TlsSettings, **kwargs: object) -> None:
        kwargs.setdefault("description", DESCRIPTION)
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        if settings.ca_arn is not None:
            raise ValueError("tls.ca_arn names an existing CA: no Pki stack is built")
        self.authority = acmpca.CfnCertificateAuthority(
            self,
            "RootCa",
            type="ROOT",
            key_algorithm=KEY_ALGORITHM,
            signing_algorithm=SIGNING_ALGORITHM,
            subject=acmpca.CfnCertificateAuthority.SubjectProperty(
                common_name=settings.ca_common_name, organization=construct_id
            ),
            usage_mode=USAGE_MODES[settings.ca_mode],
        )
        self.authority.apply_removal_policy(RemovalPolicy.RETAIN)
        self.certificate = acmpca.CfnCertificate(
            self,
            "RootCaCertificate",
            certificate_authority_arn=self.authority.attr_arn,
            certificate_signing_request=self.authority.attr_certificate_signing_request,
            signing_algorithm=SIGNING_ALGORITHM,
            template_arn=f"arn:{self.partition}:acm-pca:::template/RootCACertificate/V1",
            validity=acmpca.CfnCertificate.ValidityProperty(type="YEARS", value=settings.ca_validity_years),
        )
        self.activation = acmpca.CfnCertificateAuthorityActivation(
            self,
            "RootCaActivation",
            certificate_authority_arn=self.authority.attr_arn,
            certificate=self.certificate.attr_certificate,
            status="ACTIVE",
        )
        self.ca_arn = self.authority.attr_arn
        CfnOutput(self, "CertificateAuthorityArn", value=self.ca_arn, description="The CA of the hosts' TLS certificates")
