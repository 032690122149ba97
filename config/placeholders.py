"""Account-specific values that ship as placeholders.

The shipped profiles synthesize offline with these stand-ins; ``make deploy``
refuses to start while any is left (``ops/preflight.py``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from config.ops import SEVERITIES
from config.types import DOCUMENTATION_NETS

if TYPE_CHECKING:
    from config.data import IrisSettings
    from config.eks import PipelineSettings
    from config.settings import Settings

PLACEHOLDER_ACCOUNT = "000000000000"
PLACEHOLDER_AMI = "ami-00000000000000000"
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64
PLACEHOLDER_CERTIFICATE_ID = "00000000-0000-0000-0000-000000000000"
PLACEHOLDER_EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
PLACEHOLDER_CONNECTION_ID = "00000000-0000-0000-0000-000000000000"
PLACEHOLDER_REPOSITORY_OWNER = "example-org"


IMAGE_SETTINGS = ("image", "arbiter_image", "web_gateway_image")


def image_placeholders(iris: IrisSettings) -> list[tuple[str, str, str]]:
    """(setting, digest, placeholder) of each IRIS image, for a stack's placeholder guard."""
    return [(f"data.iris.{name}.digest", getattr(iris, name).digest, PLACEHOLDER_DIGEST) for name in IMAGE_SETTINGS]


@dataclass(frozen=True)
class Placeholder:
    key: str
    value: str
    replace_with: str


def find_placeholders(s: Settings) -> list[Placeholder]:
    """Every setting that still holds a shipped stand-in, in a stable order."""
    found = []
    if s.account == PLACEHOLDER_ACCOUNT:
        found.append(Placeholder("account", s.account, "your 12-digit AWS account id (or export CDK_DEFAULT_ACCOUNT)"))
    for region, ami in sorted(s.data.ami_ids.items()):
        if ami == PLACEHOLDER_AMI:
            found.append(Placeholder(f"data.ami_ids.{region}", ami, f"the id of your IRIS golden image in {region}"))
    for name in IMAGE_SETTINGS:
        image = getattr(s.data.iris, name)
        if image.digest == PLACEHOLDER_DIGEST:
            found.append(
                Placeholder(
                    f"data.iris.{name}.digest",
                    image.digest,
                    f"the digest of the image you pushed to the ECR repository {image.repository}",
                )
            )
    for key, what in (("web_ami_ids", "web server image (Apache and the Web Gateway)"), ("ecp_ami_ids", "ECP client image")):
        for region, ami in sorted(getattr(s.app, key).items()):
            if ami == PLACEHOLDER_AMI:
                found.append(Placeholder(f"app.{key}.{region}", ami, f"the id of your {what} in {region}"))
    certificates = [("app.certificate_arn", s.app.certificate_arn, s.region)]
    if s.dr is not None:
        certificates.append(("dr.certificate_arn", s.dr.certificate_arn, s.dr.region))
    for key, arn, region in certificates:
        if arn is not None and is_placeholder_certificate(arn):
            found.append(Placeholder(key, arn, f"the ARN of the ACM certificate for your site's name in {region}"))
    ip = s.network.onprem_gateway_ip
    if ip is not None and any(ipaddress.IPv4Address(ip) in net for net in DOCUMENTATION_NETS):
        found.append(
            Placeholder(
                "network.onprem_gateway_ip",
                ip,
                "the public address of your customer gateway, or none (with network.onprem_cidr=none) for no VPN",
            )
        )
    for severity in SEVERITIES:
        for i, email in enumerate(s.ops.notifications.of(severity).emails):
            if _is_example_domain(email.rsplit("@", 1)[-1]):
                found.append(
                    Placeholder(f"ops.notifications.{severity}.emails.{i}", email, f"an address that receives {severity} alarms")
                )
    if s.dr is not None and _is_example_domain(s.dr.dns.zone_name):
        found.append(Placeholder("dr.dns.zone_name", s.dr.dns.zone_name, "your public DNS zone for the application's name"))
    if s.eks.enabled:
        found += _eks_placeholders(s)
    return found


def _eks_placeholders(s: Settings) -> list[Placeholder]:
    e = s.eks
    found = []
    if e.pipeline is not None:
        found += _pipeline_placeholders(e.pipeline)
    if is_placeholder_certificate(e.mendix_operator.certificate_arn):
        found.append(
            Placeholder(
                "eks.mendix_operator.certificate_arn",
                e.mendix_operator.certificate_arn,
                f"the ARN of the ACM certificate for your Mendix apps' name in {s.region}",
            )
        )
    if e.mendix_operator.installer_image.startswith(f"{PLACEHOLDER_ACCOUNT}."):
        found.append(
            Placeholder(
                "eks.mendix_operator.installer_image",
                e.mendix_operator.installer_image,
                "the image in your ECR that holds mxpc-cli of eks.mendix_operator.version and kubectl",
            )
        )
    for i, email in enumerate(e.budget.emails):
        if _is_example_domain(email.rsplit("@", 1)[-1]):
            found.append(Placeholder(f"eks.budget.emails.{i}", email, "an address that receives budget alerts"))
    return found


def placeholder_certificate_arn(region: str) -> str:
    """The shipped stand-in for an ACM certificate in ``region``."""
    return f"arn:aws:acm:{region}:{PLACEHOLDER_ACCOUNT}:certificate/{PLACEHOLDER_CERTIFICATE_ID}"


def is_placeholder_certificate(arn: str) -> bool:
    return arn.startswith("arn:aws:acm:") and arn.endswith(f":{PLACEHOLDER_ACCOUNT}:certificate/{PLACEHOLDER_CERTIFICATE_ID}")


def _is_example_domain(name: str) -> bool:
    """example.com/.org/.net and their subdomains (RFC 2606): reserved for documentation."""
    return any(name == d or name.endswith(f".{d}") for d in PLACEHOLDER_EMAIL_DOMAINS)


def _pipeline_placeholders(p: PipelineSettings) -> list[Placeholder]:
    found = []
    if p.connection_arn.endswith(PLACEHOLDER_CONNECTION_ID) or f":{PLACEHOLDER_ACCOUNT}:" in p.connection_arn:
        found.append(
            Placeholder(
                "eks.pipeline.connection_arn",
                p.connection_arn,
                "the ARN of your CodeConnections connection to the application's repository (authorized in the console)",
            )
        )
    if p.repository.split("/", 1)[0] == PLACEHOLDER_REPOSITORY_OWNER:
        found.append(Placeholder("eks.pipeline.repository", p.repository, "owner/name of your Mendix application's repository"))
    if p.mxbuild_image.startswith(f"{PLACEHOLDER_ACCOUNT}."):
        found.append(
            Placeholder(
                "eks.pipeline.mxbuild_image",
                p.mxbuild_image,
                "the image in your ECR that holds MxBuild of your app's Mendix version and a JDK",
            )
        )
    return found
