"""Settings of the deployment's certificate authority and of the hosts' TLS certificates.

One CA per deployment: AWS Private CA, created by the Pki stack, or an
existing one named by ARN (for example shared through AWS RAM). Every IRIS
host and web server makes its own key, gets a certificate from the CA at
boot and renews it from a timer (docs/certificates.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field

from config import constants as c
from config.base import Allowed, Problem, SettingsModel, rule
from config.types import Matches

# arn:<partition>:acm-pca:<region>:<account>:certificate-authority/<uuid>
PRIVATE_CA = (
    r"^arn:(?P<partition>aws[a-z-]*):acm-pca:(?P<region>[a-z0-9-]+):\d{12}:"
    r"certificate-authority/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$"
)
# A CA in short-lived certificate mode issues certificates valid for at most seven days.
SHORT_LIVED_MAX_DAYS = 7
# The renewal timer runs daily: a window of two days gives it at least two tries.
MIN_RENEWAL_WINDOW_DAYS = 2
MAX_CERTIFICATE_DAYS = 825
CaMode = Literal["general_purpose", "short_lived"]


def partition_of(region: str) -> str:
    """The AWS partition a region belongs to."""
    return next((partition for prefix, partition in c.REGION_PARTITIONS if region.startswith(prefix)), "aws")


def ca_arn_problem(arn: str, region: str) -> str | None:
    """What is wrong with ``arn`` as the deployment's CA, whose hosts live in ``region``'s partition, or None."""
    example = f"arn:{partition_of(region)}:acm-pca:{region}:<account>:certificate-authority/<id>"
    wanted = f"the ARN of an AWS Private CA in {region} ({example})"
    m = re.match(PRIVATE_CA, arn)
    if m is None:
        return wanted
    if m.group("partition") != partition_of(region):
        return f"{wanted}: {m.group('partition')} is another partition than the primary region's"
    if m.group("region") != region:
        return f"{wanted}: a CA in {m.group('region')} would leave the primary region's hosts depending on another region"
    return None


class TlsSettings(SettingsModel):
    """The CA and the hosts' certificates: validity, renewal window, and the CA's mode when it is created here."""

    ca_arn: Annotated[
        str | None,
        Field(
            description="An existing AWS Private CA in the primary region (e.g. shared through AWS RAM) that issues the "
            "hosts' certificates; none: the Pki stack creates a root CA.",
            json_schema_extra={"pattern": re.sub(r"\(\?P<\w+>", "(", PRIVATE_CA)},
        ),
    ] = None
    ca_mode: Annotated[
        CaMode,
        Field(
            description="The created CA's mode: general_purpose ($400 a month) or short_lived ($50 a month, certificates of "
            f"at most {SHORT_LIVED_MAX_DAYS} days). Ignored with ca_arn."
        ),
    ] = "general_purpose"
    ca_common_name: Annotated[
        str,
        Matches(r"^[A-Za-z0-9][A-Za-z0-9 .,_-]{0,63}$", "1 to 64 letters, digits, spaces or . , _ -"),
        Field(description="The created root CA's common name."),
    ] = "IRIS on AWS private CA"
    ca_validity_years: Annotated[
        int,
        Field(ge=1, le=30, description="How long the created root CA's own certificate is valid."),
        Allowed("1 to 30 years"),
    ] = 10
    certificate_days: Annotated[
        int,
        Field(ge=1, le=MAX_CERTIFICATE_DAYS, description="How long each host certificate is valid."),
        Allowed(f"1 to {MAX_CERTIFICATE_DAYS} days"),
    ] = 90
    renew_before_days: Annotated[
        int,
        Field(
            ge=MIN_RENEWAL_WINDOW_DAYS,
            le=MAX_CERTIFICATE_DAYS,
            description="A host renews its certificate once it expires within this many days (the renewal window); "
            "it is also how long a host keeps a valid certificate while the CA cannot be reached.",
        ),
        Allowed(f"{MIN_RENEWAL_WINDOW_DAYS} to {MAX_CERTIFICATE_DAYS} days (the renewal timer runs daily)"),
    ] = 30

    @rule
    def _renewal_inside_validity(self) -> Iterator[Problem]:
        """`renew_before_days` is less than `certificate_days`."""
        if self.renew_before_days >= self.certificate_days:
            yield Problem(
                "renew_before_days",
                self.renew_before_days,
                f"fewer days than tls.certificate_days ({self.certificate_days}): a certificate renewed at issue "
                "would be renewed again at every run of the timer",
            )

    @rule
    def _short_lived_certificates(self) -> Iterator[Problem]:
        """With a created CA in short-lived mode, `certificate_days` is at most 7."""
        if self.ca_arn is None and self.ca_mode == "short_lived" and self.certificate_days > SHORT_LIVED_MAX_DAYS:
            yield Problem(
                "certificate_days",
                self.certificate_days,
                f"1 to {SHORT_LIVED_MAX_DAYS} days: a CA in short-lived certificate mode (tls.ca_mode) "
                "issues no longer certificates",
            )

    @rule
    def _ca_outlives_certificates(self) -> Iterator[Problem]:
        """The created CA's certificate outlives a host certificate."""
        if self.ca_arn is None and self.ca_validity_years * 365 <= self.certificate_days:
            yield Problem(
                "ca_validity_years",
                self.ca_validity_years,
                f"more than tls.certificate_days ({self.certificate_days} days): the CA signs nothing beyond its own expiry",
            )
