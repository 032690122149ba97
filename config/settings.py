"""The root settings model: one deployment, and the rules that cross its areas."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from types import MappingProxyType
from typing import Annotated

from pydantic import Field

from config import constants as c
from config.app import AppTierSettings
from config.audit import AuditSettings
from config.base import Problem, SettingsModel, rule
from config.data import DataTierSettings, ebs_capacity_problem
from config.dr import DR_AZ_COUNTS, DrSettings, HybridSettings
from config.eks import ECR_IMAGE, EksSettings
from config.network import NetworkSettings
from config.ops import OpsSettings
from config.placeholders import PLACEHOLDER_ACCOUNT
from config.tls import TlsSettings, ca_arn_problem
from config.types import (
    ACM_CERTIFICATE,
    NAME,
    SECRET_ARN,
    AccountId,
    AvailabilityZone,
    Matches,
    Region,
    StringMap,
    az_problem,
    certificate_problem,
)


class Settings(SettingsModel):
    """Everything one deployment needs; built by `config.load_settings` from a profile."""

    profile: Annotated[str, Field(description="The profile's name, set from -c profile=NAME.")]
    prefix: Annotated[
        str,
        Matches(NAME, "a letter then up to 19 letters or digits, used in stack names"),
        Field(description="Stacks are named <prefix>-Network, <prefix>-DataTier, ..."),
    ]
    account: Annotated[
        AccountId,
        Field(description=f"The AWS account; {PLACEHOLDER_ACCOUNT} is the placeholder, CDK_DEFAULT_ACCOUNT replaces it."),
    ]
    region: Annotated[Region, Field(description="The primary region, e.g. eu-west-1.")]
    availability_zones: Annotated[
        tuple[AvailabilityZone, ...],
        Field(
            description="Exactly three distinct zones of region: primary, backup and arbiter each get one.",
            json_schema_extra={"minItems": c.REQUIRED_AZ_COUNT, "maxItems": c.REQUIRED_AZ_COUNT, "uniqueItems": True},
        ),
    ]
    network: Annotated[NetworkSettings, Field(description="The VPC (docs/network.md).")]
    data: Annotated[DataTierSettings, Field(description="The IRIS data tier (docs/data-tier.md).")]
    app: Annotated[AppTierSettings, Field(description="The application tier (docs/app-tier.md).")]
    eks: Annotated[EksSettings, Field(description="The Mendix platform on EKS (docs/eks.md).")]
    tls: Annotated[
        TlsSettings, Field(description="The certificate authority and the hosts' TLS certificates (docs/certificates.md).")
    ] = TlsSettings()
    ops: Annotated[OpsSettings, Field(description="Who is told of alarms, by severity P1-P4 (docs/operations.md).")] = (
        OpsSettings()
    )
    tags: Annotated[
        StringMap,
        Field(
            default_factory=lambda: MappingProxyType({}),
            description="Tags applied to every resource; must hold the cost allocation tags "
            f"{', '.join(c.COST_ALLOCATION_TAGS)}, each with a value.",
        ),
    ]
    dr: Annotated[
        DrSettings | None, Field(description="The DR region (docs/dr-region.md); none: a single-region deployment.")
    ] = None
    audit: Annotated[
        AuditSettings,
        Field(description="The trail, session logs, Vault Lock, Recycle Bin and key administration (docs/security.md)."),
    ] = AuditSettings()

    hybrid: Annotated[
        HybridSettings | None,
        Field(
            description="The hybrid model (docs/dr-region.md): failover pairs on-premises, async DR members in AWS "
            "over the site-to-site VPN; none: the cloud model."
        ),
    ] = None

    @property
    def account_is_placeholder(self) -> bool:
        return self.account == PLACEHOLDER_ACCOUNT

    # ---------------------------------------------------------------- zones and images

    @rule
    def _zones_of_the_region(self) -> Iterator[Problem]:
        """`availability_zones`: exactly three distinct zones of `region`."""
        problem = az_problem(self.region, self.availability_zones, (c.REQUIRED_AZ_COUNT,))
        if problem:
            yield Problem("availability_zones", list(self.availability_zones), problem)

    @rule
    def _data_image_for_the_region(self) -> Iterator[Problem]:
        """`data.ami_ids` holds `region`."""
        if self.region not in self.data.ami_ids:
            yield Problem("data.ami_ids", self.data.ami_ids, f"an AMI id for region {self.region}")

    @rule
    def _snapshot_copies_elsewhere(self) -> Iterator[Problem]:
        """`data.backup.copy_region` is not `region`."""
        copy = self.data.backup.copy_region
        if copy is not None and copy == self.region:
            yield Problem("data.backup.copy_region", copy, f"another AWS region than {self.region}")

    @rule
    def _ca_in_the_region(self) -> Iterator[Problem]:
        """`tls.ca_arn`, when set, is an AWS Private CA in `region` (and so in its partition)."""
        if self.tls.ca_arn is not None:
            problem = ca_arn_problem(self.tls.ca_arn, self.region)
            if problem:
                yield Problem("tls.ca_arn", self.tls.ca_arn, problem)

    # ---------------------------------------------------------------- application tier

    @rule
    def _app_serves_a_known_set(self) -> Iterator[Problem]:
        """`app.mirror_set` is one of `data.mirror_sets`."""
        names = [m.name for m in self.data.mirror_sets]
        if self.app.mirror_set not in names:
            yield Problem("app.mirror_set", self.app.mirror_set, f"the name of one of data.mirror_sets: {', '.join(names)}")

    @rule
    def _ecp_databases_are_mirrored(self) -> Iterator[Problem]:
        """Each of `app.ecp_databases` names a mirrored database of `app.mirror_set` (`data.databases`)."""
        if self.app.mirror_set not in (m.name for m in self.data.mirror_sets):
            return  # reported by _app_serves_a_known_set
        names = [d.name for d in self.data.databases_of(self.app.mirror_set)]
        for i, db in enumerate(self.app.ecp_databases):
            if db.name.upper() not in (n.upper() for n in names):
                yield Problem(
                    f"app.ecp_databases.{i}.name",
                    db.name,
                    f"a mirrored database of mirror set {self.app.mirror_set} in data.databases: {', '.join(names) or 'none'}",
                )

    @rule
    def _app_certificate_in_the_region(self) -> Iterator[Problem]:
        """`app.certificate_arn` is set, and an ACM certificate in `region`."""
        problem = certificate_problem(self.app.certificate_arn, self.region)
        if problem:
            yield Problem("app.certificate_arn", self.app.certificate_arn, problem)

    @rule
    def _app_images_for_the_region(self) -> Iterator[Problem]:
        """`app.web_ami_ids` and `app.ecp_ami_ids` hold `region`."""
        for key in ("web_ami_ids", "ecp_ami_ids"):
            ami_ids = getattr(self.app, key)
            if self.region not in ami_ids:
                yield Problem(f"app.{key}", ami_ids, f"an AMI id for region {self.region}")

    # ---------------------------------------------------------------- audit

    def backup_retentions(self) -> dict[str, int]:
        """Every backup retention in days, by setting: what the trail that records them must outlive."""
        kept: dict[str, int] = {}
        if self.eks.enabled:
            kept["eks.backup.daily_retention_days"] = self.eks.backup.daily_retention_days
            kept["eks.backup.weekly_retention_days"] = self.eks.backup.weekly_retention_days
        if self.dr is not None:
            kept["dr.snapshot_copy_retain_days"] = self.dr.snapshot_copy_retain_days
        elif self.data.backup.copy_region is not None:
            kept["data.backup.copy_retain_days"] = self.data.backup.copy_retain_days
        return kept

    @rule
    def _trail_outlives_the_backups(self) -> Iterator[Problem]:
        """`audit.object_lock_days` is at least the longest backup retention: the record of who read or deleted a
        backup is kept as long as the backup."""
        kept = self.backup_retentions()
        if kept:
            key, days = max(kept.items(), key=lambda kv: kv[1])
            if self.audit.object_lock_days < days:
                yield Problem(
                    "audit.object_lock_days",
                    self.audit.object_lock_days,
                    f"{days} to 36500 days: the trail's Object Lock retention must cover the longest backup "
                    f"retention ({key}={days})",
                )

    @rule
    def _vault_lock_admits_the_plans(self) -> Iterator[Problem]:
        """`audit.vault_lock.min_retention_days` is at most `eks.backup.daily_retention_days`: a locked vault refuses
        recovery points kept less than its minimum."""
        if self.eks.enabled and self.audit.vault_lock.min_retention_days > self.eks.backup.daily_retention_days:
            yield Problem(
                "audit.vault_lock.min_retention_days",
                self.audit.vault_lock.min_retention_days,
                f"1 to {self.eks.backup.daily_retention_days} days: at most eks.backup.daily_retention_days, "
                "or the locked vault refuses the daily recovery points",
            )

    # ---------------------------------------------------------------- DR region

    @rule
    def _dr_in_another_region(self) -> Iterator[Problem]:
        """`dr.region` is not `region`."""
        if self.dr is not None and self.dr.region == self.region:
            yield Problem("dr.region", self.dr.region, f"an AWS region name other than the primary region {self.region}")

    @rule
    def _dr_zones(self) -> Iterator[Problem]:
        """`dr.availability_zones`: 2 or 3 distinct zones of `dr.region`."""
        if self.dr is not None:
            problem = az_problem(self.dr.region, self.dr.availability_zones, DR_AZ_COUNTS)
            if problem:
                yield Problem("dr.availability_zones", list(self.dr.availability_zones), problem)

    @rule
    def _dr_block_apart(self) -> Iterator[Problem]:
        """`dr.vpc_cidr` overlaps neither `network.vpc_cidr` nor `network.onprem_cidr`."""
        if self.dr is None:
            return
        others = {"network.vpc_cidr": self.network.vpc_cidr}
        if self.network.onprem_cidr is not None:
            others["network.onprem_cidr"] = self.network.onprem_cidr
        vpc = ipaddress.IPv4Network(self.dr.vpc_cidr)
        for other_key, other in others.items():
            if vpc.overlaps(ipaddress.IPv4Network(other)):
                yield Problem("dr.vpc_cidr", self.dr.vpc_cidr, f"a range that does not overlap {other_key} {other}")
                return

    @rule
    def _dr_nat_per_zone(self) -> Iterator[Problem]:
        """`dr.nat_gateways` is at most the number of DR zones."""
        if self.dr is not None and self.dr.nat_gateways > len(self.dr.availability_zones):
            yield Problem(
                "dr.nat_gateways",
                self.dr.nat_gateways,
                f"a count from 1 to {len(self.dr.availability_zones)} (one per AZ at most)",
            )

    @rule
    def _dr_data_image(self) -> Iterator[Problem]:
        """`data.ami_ids` holds `dr.region` too."""
        if self.dr is not None and self.dr.region not in self.data.ami_ids:
            yield Problem("data.ami_ids", self.data.ami_ids, f"an AMI id for the DR region {self.dr.region} too")

    @rule
    def _dr_sets_known(self) -> Iterator[Problem]:
        """`dr.mirror_sets` holds at least one set, each one of `data.mirror_sets`."""
        if self.dr is None:
            return
        sets = [m.name for m in self.data.mirror_sets]
        if not self.dr.mirror_sets:
            yield Problem("dr.mirror_sets", [], f"at least one of the mirror sets {', '.join(sets)}")
        for i, name in enumerate(self.dr.mirror_sets):
            if name not in sets:
                yield Problem(f"dr.mirror_sets.{i}", name, f"the name of a mirror set in data.mirror_sets: {', '.join(sets)}")

    @rule
    def _dr_types_sustain_the_volumes(self) -> Iterator[Problem]:
        """Each `dr.instance_types` entry sustains its set's volume IOPS."""
        if self.dr is None:
            return
        sets = {m.name: (i, m) for i, m in enumerate(self.data.mirror_sets)}
        for name, instance_type in self.dr.instance_types.items():
            if name in sets and name in self.dr.mirror_sets:
                index, mirror_set = sets[name]
                problem = ebs_capacity_problem(
                    instance_type, mirror_set.volumes, f"data.mirror_sets.{index}.database/journal1/journal2/wij"
                )
                if problem:
                    yield Problem(f"dr.instance_types.{name}", instance_type, problem)

    @rule
    def _dr_promoted_type_sustains_the_volumes(self) -> Iterator[Problem]:
        """`dr.promoted_instance_type` sustains the volume IOPS of every set in `dr.mirror_sets`."""
        if self.dr is None or self.dr.promoted_instance_type is None:
            return
        for index, mirror_set in enumerate(self.data.mirror_sets):
            if mirror_set.name in self.dr.mirror_sets:
                problem = ebs_capacity_problem(
                    self.dr.promoted_instance_type,
                    mirror_set.volumes,
                    f"data.mirror_sets.{index}.database/journal1/journal2/wij",
                )
                if problem:
                    yield Problem("dr.promoted_instance_type", self.dr.promoted_instance_type, problem)
                    return

    @rule
    def _dr_certificate(self) -> Iterator[Problem]:
        """`dr.certificate_arn` is set, and an ACM certificate in `dr.region`."""
        if self.dr is not None:
            problem = certificate_problem(self.dr.certificate_arn, self.dr.region)
            if problem:
                yield Problem("dr.certificate_arn", self.dr.certificate_arn, problem)

    @rule
    def _dr_web_image(self) -> Iterator[Problem]:
        """`app.web_ami_ids` holds `dr.region` too."""
        if self.dr is not None and self.dr.region not in self.app.web_ami_ids:
            yield Problem("app.web_ami_ids", self.app.web_ami_ids, f"an AMI id for the DR region {self.dr.region} too")

    @rule
    def _dr_ecp_servers_reduced(self) -> Iterator[Problem]:
        """`dr.ecp_app_servers` is at most `app.ecp.min_capacity`, and `app.ecp_ami_ids` holds `dr.region` when it is not 0."""
        if self.dr is None:
            return
        count, primary = self.dr.ecp_app_servers, self.app.ecp.min_capacity
        if count > primary:
            yield Problem(
                "dr.ecp_app_servers",
                count,
                f"a count from 0 to app.ecp.min_capacity ({primary}): the DR region runs at most the primary region's "
                "ECP servers",
            )
        if count and self.dr.region not in self.app.ecp_ami_ids:
            yield Problem("app.ecp_ami_ids", self.app.ecp_ami_ids, f"an AMI id for the DR region {self.dr.region} too")

    @rule
    def _dr_follows_the_app(self) -> Iterator[Problem]:
        """`dr.mirror_sets` holds `app.mirror_set`: the application's DNS name follows its primary."""
        if self.dr is not None and self.app.mirror_set not in self.dr.mirror_sets:
            yield Problem(
                "dr.mirror_sets",
                list(self.dr.mirror_sets),
                f"a list that holds app.mirror_set {self.app.mirror_set}: the application's DNS name follows its primary",
            )

    @rule
    def _one_snapshot_copy_target(self) -> Iterator[Problem]:
        """With `dr`, `data.backup.copy_region` is none: the snapshots are copied to the DR region with its key."""
        if self.dr is not None and self.data.backup.copy_region is not None:
            yield Problem(
                "data.backup.copy_region",
                self.data.backup.copy_region,
                f"none while dr is set: the snapshots are copied to the DR region {self.dr.region}, with its key",
            )

    # ---------------------------------------------------------------- EKS

    @property
    def eks_account(self) -> str:
        """The account of the EksNetwork and Eks stacks: `eks.account`, else `account`."""
        return self.eks.account or self.account

    @rule
    def _eks_block_apart(self) -> Iterator[Problem]:
        """`eks.vpc_cidr` is given while EKS is on, and overlaps neither `network.vpc_cidr` nor `dr.vpc_cidr`."""
        if self.eks.vpc_cidr is None:
            if self.eks.enabled:
                yield Problem("eks.vpc_cidr", None, "a VPC block for the Mendix platform while eks.enabled is true")
            return
        others = {"network.vpc_cidr": self.network.vpc_cidr}
        if self.dr is not None:
            others["dr.vpc_cidr"] = self.dr.vpc_cidr
        vpc = ipaddress.IPv4Network(self.eks.vpc_cidr)
        for other_key, other in others.items():
            if vpc.overlaps(ipaddress.IPv4Network(other)):
                yield Problem("eks.vpc_cidr", self.eks.vpc_cidr, f"a range that does not overlap {other_key} {other}")
                return

    @rule
    def _eks_account_and_dr_copies(self) -> Iterator[Problem]:
        """With `dr`, `eks.account` is unset or `account`: the Mendix backups are copied to the DR vault of this account."""
        if self.dr is not None and self.eks.account not in (None, self.account):
            yield Problem(
                "eks.account",
                self.eks.account,
                f"unset or {self.account} while dr is set: the Mendix backups are copied to the DR region's vault in "
                f"account {self.account}, which takes no copies from another account yet (or set dr to none)",
            )

    @rule
    def _operator_in_the_region(self) -> Iterator[Problem]:
        """`eks.mendix_operator.installer_image` is in this region's ECR and `eks.mendix_operator.certificate_arn` is an ACM
        certificate in `region`."""
        o = self.eks.mendix_operator
        image = re.match(ECR_IMAGE, o.installer_image)
        if image is not None and image.group("region") != self.region:
            yield Problem(
                "eks.mendix_operator.installer_image", o.installer_image, f"an image in this region's ECR ({self.region})"
            )
        certificate = re.match(ACM_CERTIFICATE, o.certificate_arn)
        if certificate is None or certificate.group("region") != self.region:
            yield Problem(
                "eks.mendix_operator.certificate_arn",
                o.certificate_arn,
                f"the ARN of an ACM certificate in {self.region} for the apps' NLB "
                f"(arn:aws:acm:{self.region}:<account>:certificate/<id>)",
            )

    @rule
    def _connected_operator_secret(self) -> Iterator[Problem]:
        """In connected mode, `eks.mendix_operator.namespace_secret_arn` is a Secrets Manager secret in `region`."""
        o = self.eks.mendix_operator
        if o.mode == "connected":
            match = re.match(SECRET_ARN, o.namespace_secret_arn or "")
            if match is None or match.group("region") != self.region:
                yield Problem(
                    "eks.mendix_operator.namespace_secret_arn",
                    o.namespace_secret_arn,
                    f"in connected mode, the ARN of a Secrets Manager secret in {self.region} "
                    "holding the namespace's id and secret",
                )

    # ---------------------------------------------------------------- tags

    @rule
    def _tags(self) -> Iterator[Problem]:
        """Tag keys of 1-128 and values of at most 256 characters; the cost allocation tags Project, Environment, Owner and
        CostCenter, each with a value."""
        for key, value in self.tags.items():
            if not 1 <= len(key) <= 128 or len(value) > 256:
                yield Problem(f"tags.{key}", value, "tag keys of 1-128 and values of at most 256 characters")
        missing = [key for key in c.COST_ALLOCATION_TAGS if not self.tags.get(key)]
        if missing:
            yield Problem(
                "tags",
                self.tags,
                f"the cost allocation tags {', '.join(c.COST_ALLOCATION_TAGS)}, each with a value; missing: {', '.join(missing)}",
            )

    # ---------------------------------------------------------------- hybrid model

    @rule
    def _hybrid_over_the_vpn(self) -> Iterator[Problem]:
        """With `hybrid`, the site-to-site VPN is set up (`network.onprem_cidr`, `network.onprem_gateway_ip`)."""
        if self.hybrid is not None and not self.network.vpn_enabled:
            yield Problem(
                "network.onprem_cidr", self.network.onprem_cidr, "set, with network.onprem_gateway_ip: the hybrid model's VPN"
            )

    @rule
    def _hybrid_has_no_failover_pair_in_aws(self) -> Iterator[Problem]:
        """With `hybrid`, every mirror set is on-premises (in `hybrid.mirrors`), and there is no DR region."""
        if self.hybrid is None:
            return
        onprem = [m.mirror_set for m in self.hybrid.mirrors]
        for i, mirror_set in enumerate(self.data.mirror_sets):
            if mirror_set.name not in onprem:
                yield Problem(
                    f"data.mirror_sets.{i}.name",
                    mirror_set.name,
                    "a set listed in hybrid.mirrors: the hybrid model keeps every failover pair on-premises, none in AWS",
                )
        for i, name in enumerate(onprem):
            if name not in (m.name for m in self.data.mirror_sets):
                yield Problem(f"hybrid.mirrors.{i}.mirror_set", name, "the name of a mirror set in data.mirror_sets")
        if self.dr is not None:
            yield Problem(
                "dr",
                self.dr.region,
                "none with hybrid: a DR region's members join a failover pair in AWS, which the hybrid model has not",
            )

    @rule
    def _onprem_members_onprem(self) -> Iterator[Problem]:
        """The on-premises members and xDBC clients are inside `network.onprem_cidr`, none inside `network.vpc_cidr`."""
        if self.hybrid is None or self.network.onprem_cidr is None:
            return
        vpc, onprem = ipaddress.IPv4Network(self.network.vpc_cidr), ipaddress.IPv4Network(self.network.onprem_cidr)
        for i, mirror in enumerate(self.hybrid.mirrors):
            addresses = {
                **{f"failover_members.{j}.address": m.address for j, m in enumerate(mirror.failover_members)},
                "arbiter_address": mirror.arbiter_address,
            }
            for key, value in addresses.items():
                address = ipaddress.IPv4Address(value)
                if address in vpc or address not in onprem:
                    yield Problem(
                        f"hybrid.mirrors.{i}.{key}",
                        value,
                        f"an address in network.onprem_cidr {onprem}, outside network.vpc_cidr {vpc}",
                    )
        for i, block in enumerate(self.hybrid.xdbc_clients):
            if not ipaddress.IPv4Network(block).subnet_of(onprem):
                yield Problem(f"hybrid.xdbc_clients.{i}", block, f"a block inside network.onprem_cidr {onprem}")
