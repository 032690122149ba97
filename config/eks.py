"""Settings of the Mendix platform on EKS and everything around it: nodes,
add-ons, the Mendix Operator, its database, pipeline, backups and budget."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated

from pydantic import AfterValidator, Field

from config import constants as c
from config.base import Allowed, Problem, SettingsModel, refuse, rule
from config.types import (
    CRON,
    AccountId,
    CertificateArn,
    Check,
    Days,
    Email,
    InstanceType,
    Matches,
    NodeDiskGib,
    OneOf,
    PublicCidr,
    RetentionDays,
    VpcCidr,
)

SEMVER = r"^v?\d+\.\d+\.\d+$"
CONNECTION_ARN = r"^arn:aws[a-z-]*:(codestar-connections|codeconnections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]{36}$"
ROLE_ARN = r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$"
REPOSITORY = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"
BRANCH = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$"
DB_INSTANCE_CLASS = r"^[a-z][a-z0-9-]*\d[a-z0-9-]*\.(micro|small|medium|large|\d*xlarge)$"
POSTGRES_VERSION = r"^(?P<major>\d{2})\.\d+$"
ADDON_VERSION = r"^v\d+\.\d+\.\d+-eksbuild\.\d+$"
AMI_ALIAS = r"^al2023@v\d{8}$"
ECR_IMAGE = (
    r"^\d{12}\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?/[a-z0-9._/-]+(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64})$"
)
MENDIX_APP_NAME = r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$"
PROJECT_FILE = r"^[A-Za-z0-9_][A-Za-z0-9_ ./-]{0,200}\.mpr$"
IMAGE = r"^[a-z0-9.-]+(:\d+)?(/[a-z0-9._-]+)+(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64})$"
INSTANCE_CATEGORIES = ("c", "m", "r", "t")

# Mendix's "Supported Providers" page (docs.mendix.com/developerportal/deploy/
# private-cloud-supported-environments/#supported-versions): Operator v2 supports
# Kubernetes 1.19 through 1.34, as of the release notes of Operator v2.24.2
# (15 December 2025). Kubernetes minors below 1.19 are absent on EKS anyway.
MENDIX_MAX_KUBERNETES_MINOR = 34
MENDIX_MIN_KUBERNETES_MINOR = 19
# Operator releases this repository's install Job and plans were written against
# (Mendix's release notes); the IRSA plans need 2.12 or later.
MENDIX_OPERATOR_VERSIONS = ("2.24.2",)
MENDIX_OPERATOR_MODES = ("standalone", "connected")
# CoreDNS minor series EKS ships per Kubernetes minor (the EKS user guide's
# "Manage CoreDNS" table); a Kubernetes version missing here has no CoreDNS pin yet.
COREDNS_SERIES = {"1.34": "1.12"}
# The system role is one group over all AZs, so the quota holds for the sum.
MAX_NODES_PER_AZ = c.EKS_MAX_NODES_PER_GROUP // c.REQUIRED_AZ_COUNT


def _kubernetes_version(version: str) -> str:
    if not re.fullmatch(r"1\.\d{2}", version):
        raise refuse("a Kubernetes minor version such as 1.34")
    if not MENDIX_MIN_KUBERNETES_MINOR <= int(version.split(".")[1]) <= MENDIX_MAX_KUBERNETES_MINOR:
        raise refuse(
            f"a Kubernetes version the Mendix Operator supports, 1.{MENDIX_MIN_KUBERNETES_MINOR} to "
            f"1.{MENDIX_MAX_KUBERNETES_MINOR} (Mendix's Supported Providers page)"
        )
    if version not in c.KUBECTL_LAYERS:
        raise refuse(
            f"a Kubernetes version whose kubectl layer is pinned in requirements.txt: {', '.join(sorted(c.KUBECTL_LAYERS))}"
        )
    return version


def _controller_version(version: str) -> str:
    if not re.fullmatch(r"v\d+\.\d+\.\d+", version):
        raise refuse("a controller release such as v2.17.1")
    if version != c.LOAD_BALANCER_CONTROLLER_POLICY_VERSION:
        raise refuse(
            f"{c.LOAD_BALANCER_CONTROLLER_POLICY_VERSION}, the release whose IAM policy the repository embeds "
            "(components/policies/); update the policy file with the version"
        )
    return version


def _pinned_chart(version: str) -> bool:
    return re.fullmatch(SEMVER, version) is not None and not version.startswith("v")


class NodeGroupSettings(SettingsModel):
    """One role of EKS managed node groups; there is one group per AZ, so the
    sizes are per AZ."""

    instance_types: Annotated[
        tuple[InstanceType, ...],
        Field(description="One or more x86_64 EC2 instance types.", json_schema_extra={"minItems": 1}),
    ]
    min_per_az: Annotated[int, Field(ge=0, description="The fewest nodes per AZ, at least 1."), Allowed("a count of nodes")]
    desired_per_az: Annotated[
        int, Field(ge=0, description="min_per_az <= desired_per_az <= max_per_az."), Allowed("a count of nodes")
    ]
    max_per_az: Annotated[
        int,
        Field(
            ge=1,
            le=MAX_NODES_PER_AZ,
            description=f"The most nodes per AZ ({c.EKS_MAX_NODES_PER_GROUP} per group over {c.REQUIRED_AZ_COUNT} AZs).",
        ),
        Allowed(
            f"1 to {MAX_NODES_PER_AZ} nodes ({c.EKS_MAX_NODES_PER_GROUP} per managed node group, over {c.REQUIRED_AZ_COUNT} AZs)"
        ),
    ]
    capacity_type: Annotated[
        str,
        OneOf(
            ("ON_DEMAND",),
            "ON_DEMAND (system add-ons and controllers must not lose their nodes to Spot interruptions)",
        ),
        Field(description="ON_DEMAND only: the system add-ons and controllers must not lose their nodes to Spot interruptions."),
    ] = "ON_DEMAND"
    disk_gib: Annotated[NodeDiskGib, Field(description="The nodes' root volume.")] = 50

    @rule
    def _at_least_one_type(self) -> Iterator[Problem]:
        """`instance_types` holds at least one type."""
        if not self.instance_types:
            yield Problem("instance_types", [], "at least one instance type")

    @rule
    def _sizes_in_order(self) -> Iterator[Problem]:
        """1 <= `min_per_az` <= `desired_per_az` <= `max_per_az`."""
        if not 1 <= self.min_per_az <= self.desired_per_az <= self.max_per_az:
            yield Problem(
                "desired_per_az",
                self.desired_per_az,
                f"sizes with 1 <= min_per_az ({self.min_per_az}) <= desired_per_az <= max_per_az ({self.max_per_az})",
            )


class MendixDatabaseSettings(SettingsModel):
    """RDS PostgreSQL for the Mendix runtime."""

    instance_class: Annotated[
        str,
        Check(
            lambda v: re.fullmatch(DB_INSTANCE_CLASS, v) is not None and not v.startswith("db."),
            "an RDS instance class without db., e.g. m6g.large",
        ),
        Field(
            description="An RDS instance class without the db. prefix, e.g. m7g.large.",
            json_schema_extra={"pattern": DB_INSTANCE_CLASS},
        ),
    ]
    engine_version: Annotated[
        str,
        Check(
            lambda v: (m := re.fullmatch(POSTGRES_VERSION, v)) is not None and int(m["major"]) in c.POSTGRES_MAJOR_VERSIONS,
            "a PostgreSQL major.minor of major " + ", ".join(str(v) for v in c.POSTGRES_MAJOR_VERSIONS),
        ),
        Field(description="A PostgreSQL major.minor, e.g. 17.7.", json_schema_extra={"pattern": r"^\d{2}\.\d+$"}),
    ]
    allocated_storage_gib: Annotated[
        int,
        Field(ge=c.RDS_MIN_STORAGE_GIB, le=c.RDS_MAX_STORAGE_GIB, description="The database's gp3 storage."),
        Allowed(f"{c.RDS_MIN_STORAGE_GIB} to {c.RDS_MAX_STORAGE_GIB} GiB (gp3)"),
    ]
    max_allocated_storage_gib: Annotated[
        int,
        Field(le=c.RDS_MAX_STORAGE_GIB, description="The ceiling of storage autoscaling: above allocated_storage_gib."),
        Allowed(f"more than allocated_storage_gib and at most {c.RDS_MAX_STORAGE_GIB} (the ceiling of storage autoscaling)"),
    ]
    backup_retention_days: Annotated[
        int,
        Field(
            ge=c.RDS_MIN_BACKUP_RETENTION_DAYS, le=c.RDS_MAX_BACKUP_RETENTION_DAYS, description="Automated backups' retention."
        ),
        Allowed(
            f"{c.RDS_MIN_BACKUP_RETENTION_DAYS} to {c.RDS_MAX_BACKUP_RETENTION_DAYS} days (0 would turn automated backups off)"
        ),
    ]
    free_storage_alarm_percent: Annotated[
        int,
        Field(ge=1, le=50, description="Alarm when free storage falls below this share of the allocated storage."),
        Allowed("1 to 50 percent"),
    ] = 10
    max_connections_alarm: Annotated[
        int, Field(ge=1, le=100000, description="Alarm above this many connections."), Allowed("1 to 100000 connections")
    ] = 400

    @rule
    def _autoscaling_above_allocation(self) -> Iterator[Problem]:
        """`max_allocated_storage_gib` is more than `allocated_storage_gib`."""
        if not self.allocated_storage_gib < self.max_allocated_storage_gib:
            yield Problem(
                "max_allocated_storage_gib",
                self.max_allocated_storage_gib,
                f"more than allocated_storage_gib ({self.allocated_storage_gib}) and at most {c.RDS_MAX_STORAGE_GIB} "
                "(the ceiling of storage autoscaling)",
            )


class MendixEnvironmentSettings(SettingsModel):
    """One environment of the app: a ``MendixApp`` resource in the Operator's namespace."""

    app: Annotated[
        str,
        Check(
            lambda v: re.fullmatch(MENDIX_APP_NAME, v) is not None and "--" not in v and not v.startswith("mendix-"),
            "a lower-case name of 2 to 40 letters, digits and single hyphens, not starting with mendix- "
            "(Mendix reserves those names)",
        ),
        Field(
            description="The MendixApp's name; mendix-* names are reserved by the Operator.",
            json_schema_extra={"pattern": MENDIX_APP_NAME},
        ),
    ]
    replicas: Annotated[
        int, Field(ge=1, le=20, description="Runtime replicas when the pipeline creates the app."), Allowed("1 to 20 replicas")
    ] = 1


class PipelineSettings(SettingsModel):
    """Source -> deployment package (MxBuild) -> staging MendixApp -> approval -> production MendixApp."""

    connection_arn: Annotated[
        str,
        Matches(
            CONNECTION_ARN, "the ARN of a CodeConnections connection, arn:aws:codeconnections:REGION:ACCOUNT:connection/UUID"
        ),
        Field(description="A CodeConnections (CodeStar Connections) connection, authorized in the console."),
    ]
    repository: Annotated[
        str,
        Matches(REPOSITORY, "owner/name of the application's source repository"),
        Field(description="owner/name of the Mendix app's repository at the provider."),
    ]
    branch: Annotated[
        str,
        Check(lambda v: re.fullmatch(BRANCH, v) is not None and ".." not in v, "a branch name"),
        Field(description="The branch the pipeline builds.", json_schema_extra={"pattern": BRANCH}),
    ] = "main"
    project_file: Annotated[
        str,
        Check(
            lambda v: re.fullmatch(PROJECT_FILE, v) is not None and ".." not in v.split("/"),
            "a relative path to the app's .mpr file inside the repository, such as App.mpr",
        ),
        Field(
            description="The Mendix project file MxBuild builds, relative to the repository root.",
            json_schema_extra={"pattern": PROJECT_FILE},
        ),
    ] = "App.mpr"
    mxbuild_image: Annotated[
        str,
        Check(
            lambda v: re.fullmatch(ECR_IMAGE, v) is not None and not v.endswith(":latest"),
            "an ECR image (ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME) with a pinned tag or digest, not latest",
        ),
        Field(
            description="An image in this region's ECR holding MxBuild of the app's Mendix version and a JDK (mxbuild on "
            "the PATH, JAVA_HOME set).",
            json_schema_extra={"pattern": re.sub(r"\(\?P<\w+>", "(", ECR_IMAGE)},
        ),
    ]
    staging: Annotated[MendixEnvironmentSettings, Field(description="The environment every package goes to first.")]
    production: Annotated[MendixEnvironmentSettings, Field(description="The environment a package reaches after approval.")]
    deploy_timeout_minutes: Annotated[
        int,
        Field(ge=10, le=180, description="How long the Operator may take to build and start a package before it is rolled back."),
        Allowed("10 to 180 minutes"),
    ] = 45
    pre_deploy_snapshots_kept: Annotated[
        int,
        Field(ge=1, le=50, description="Manual RDS snapshots taken before package changes that are kept per environment."),
        Allowed("1 to 50 snapshots per environment"),
    ] = 10

    @rule
    def _two_environments(self) -> Iterator[Problem]:
        """`production.app` differs from `staging.app`."""
        if self.production.app == self.staging.app:
            yield Problem("production.app", self.production.app, f"a name other than staging.app ({self.staging.app})")


class MendixBackupSettings(SettingsModel):
    """AWS Backup plan for the Mendix database and persistent volumes."""

    daily_retention_days: Annotated[
        int, Field(ge=1, le=35, description="How long daily recovery points are kept."), Allowed("1 to 35 days")
    ]
    weekly_retention_days: Annotated[
        int,
        Field(
            le=36500,
            description=f"How long weekly recovery points are kept: at least {c.BACKUP_MIN_DAYS_IN_COLD_STORAGE} days "
            "after the move to cold storage.",
        ),
        Allowed(f"at most 36500 days, and {c.BACKUP_MIN_DAYS_IN_COLD_STORAGE} days after the move to cold storage"),
    ]
    weekly_cold_storage_after_days: Annotated[
        int, Field(ge=1, description="When weekly recovery points move to cold storage."), Allowed("at least 1 day")
    ]
    restore_test_schedule: Annotated[
        str,
        Matches(CRON, "a cron(...) expression"),
        Field(description="The monthly restore test of the database and the file bucket (AWS Backup restore testing)."),
    ] = "cron(0 6 ? * 1#1 *)"  # 06:00 UTC on the first Sunday of a month
    expected_restore_hours: Annotated[
        int,
        Field(ge=1, le=168, description="How long the longest restore (the database) takes, measured on a real restore."),
        Allowed("1 to 168 hours"),
    ] = 2
    restore_test_validation_hours: Annotated[
        int,
        Field(le=168, description="How long the restored copies are kept for checks: expected_restore_hours to 168."),
        Allowed("expected_restore_hours to 168 hours"),
    ] = 6

    @rule
    def _copies_outlive_the_restore(self) -> Iterator[Problem]:
        """`restore_test_validation_hours` is at least `expected_restore_hours`."""
        if not self.expected_restore_hours <= self.restore_test_validation_hours:
            yield Problem(
                "restore_test_validation_hours",
                self.restore_test_validation_hours,
                f"{self.expected_restore_hours} to 168 hours: the restored copies must outlive the restore "
                f"(eks.backup.expected_restore_hours={self.expected_restore_hours}) so the test can check them",
            )

    @rule
    def _cold_storage_minimum(self) -> Iterator[Problem]:
        """`weekly_retention_days` is at least 90 days after `weekly_cold_storage_after_days` (AWS Backup's minimum in cold
        storage)."""
        floor = self.weekly_cold_storage_after_days + c.BACKUP_MIN_DAYS_IN_COLD_STORAGE
        if self.weekly_retention_days < floor:
            yield Problem(
                "weekly_retention_days",
                self.weekly_retention_days,
                f"{floor} to 36500 days: AWS Backup keeps a recovery point at least {c.BACKUP_MIN_DAYS_IN_COLD_STORAGE} "
                f"days in cold storage (moved there on day {self.weekly_cold_storage_after_days})",
            )


Threshold = Annotated[int, Field(ge=1, le=1000), Allowed("1 to 1000 percent of the limit")]


class BudgetSettings(SettingsModel):
    """A monthly cost budget with e-mail alerts."""

    monthly_limit_usd: Annotated[
        int, Field(ge=1, le=10_000_000, description="The monthly limit."), Allowed("1 to 10000000 US dollars")
    ]
    thresholds_percent: Annotated[
        tuple[Threshold, ...],
        Field(
            description=f"1 to {c.BUDGET_MAX_NOTIFICATIONS - 1} distinct percentages of the limit; "
            "one more alert warns on the month's forecast.",
            json_schema_extra={"minItems": 1, "maxItems": c.BUDGET_MAX_NOTIFICATIONS - 1, "uniqueItems": True},
        ),
    ]
    emails: Annotated[
        tuple[Email, ...],
        Field(
            description=f"1 to {c.BUDGET_MAX_EMAIL_SUBSCRIBERS} addresses the alerts go to.",
            json_schema_extra={"minItems": 1, "maxItems": c.BUDGET_MAX_EMAIL_SUBSCRIBERS},
        ),
    ]

    @rule
    def _thresholds(self) -> Iterator[Problem]:
        """`thresholds_percent`: distinct, at most 4 (the fifth notification warns on the forecast)."""
        t = self.thresholds_percent
        if not t or len(set(t)) != len(t):
            yield Problem("thresholds_percent", list(t), "one or more distinct percentages")
        elif len(t) > c.BUDGET_MAX_NOTIFICATIONS - 1:
            yield Problem(
                "thresholds_percent",
                list(t),
                f"at most {c.BUDGET_MAX_NOTIFICATIONS - 1} thresholds: a budget has at most {c.BUDGET_MAX_NOTIFICATIONS} "
                "notifications and one warns on the month's forecast",
            )

    @rule
    def _subscribers(self) -> Iterator[Problem]:
        """`emails`: 1 to 10 addresses (AWS Budgets' limit per alert)."""
        if not 1 <= len(self.emails) <= c.BUDGET_MAX_EMAIL_SUBSCRIBERS:
            yield Problem(
                "emails", list(self.emails), f"1 to {c.BUDGET_MAX_EMAIL_SUBSCRIBERS} addresses (AWS Budgets' limit per alert)"
            )


AddonVersion = Annotated[str, Matches(ADDON_VERSION, "an EKS add-on version such as v1.2.3-eksbuild.1, never latest")]


class EksAddonSettings(SettingsModel):
    """EKS-managed add-ons, each pinned to a version EKS publishes for the
    cluster's Kubernetes version (``aws eks describe-addon-versions``)."""

    vpc_cni: AddonVersion
    coredns: Annotated[AddonVersion, Field(description="Of the CoreDNS series EKS ships for the Kubernetes version.")]
    kube_proxy: Annotated[AddonVersion, Field(description="Of the cluster's Kubernetes minor version.")]
    pod_identity_agent: AddonVersion
    metrics_server: AddonVersion
    ebs_csi_driver: AddonVersion
    cloudwatch_observability: AddonVersion


class NodePoolSettings(SettingsModel):
    """A Karpenter NodePool: which instances it may launch and how much in all."""

    cpu_limit: Annotated[
        int,
        Field(ge=1, le=100000, description="vCPUs of all the pool's nodes together."),
        Allowed("1 to 100000 vCPUs for the whole pool"),
    ]
    memory_limit_gib: Annotated[
        int,
        Field(ge=1, le=1000000, description="Memory of all the pool's nodes together."),
        Allowed("1 to 1000000 GiB for the whole pool"),
    ]
    instance_categories: Annotated[
        tuple[
            Annotated[
                str,
                OneOf(INSTANCE_CATEGORIES, f"one of {', '.join(INSTANCE_CATEGORIES)} (x86-64 families; Mendix needs x86-64)"),
            ],
            ...,
        ],
        Field(description="Instance families (x86-64; at least two for Spot).", json_schema_extra={"minItems": 1}),
    ] = ("c", "m", "r")
    min_generation: Annotated[
        int,
        Field(ge=3, le=9, description="The oldest instance generation allowed (6: m6i, c6i, r6i and later)."),
        Allowed("an instance generation from 3 to 9"),
    ] = 6
    disk_gib: Annotated[NodeDiskGib, Field(description="The nodes' root volume.")] = 100

    @rule
    def _some_category(self) -> Iterator[Problem]:
        """`instance_categories` holds at least one family."""
        if not self.instance_categories:
            yield Problem("instance_categories", [], f"one or more of {', '.join(INSTANCE_CATEGORIES)}")


class KarpenterSettings(SettingsModel):
    """Karpenter: the app nodes, launched on demand from an on-demand and an optional Spot pool."""

    chart_version: Annotated[
        str,
        Check(_pinned_chart, "a pinned chart version such as 1.8.1, never a range"),
        Field(description="The Karpenter chart, pinned.", json_schema_extra={"pattern": r"^\d+\.\d+\.\d+$"}),
    ]
    ami_alias: Annotated[
        str,
        Matches(AMI_ALIAS, "an EKS AL2023 AMI release pinned as al2023@vYYYYMMDD, never @latest"),
        Field(description="The EKS-optimized AL2023 AMI release, pinned (al2023@vYYYYMMDD), never @latest."),
    ]
    on_demand: Annotated[NodePoolSettings, Field(description="The on-demand pool.")]
    spot: Annotated[
        NodePoolSettings | None, Field(description="Spot for workloads that tolerate the non-critical taint; none: no Spot pool.")
    ] = None
    consolidate_after_seconds: Annotated[
        int,
        Field(ge=0, le=86400, description="How long a node must be empty or underused before consolidation replaces it."),
        Allowed("0 to 86400 seconds"),
    ] = 60
    expire_after_hours: Annotated[
        int,
        Field(ge=24, le=8760, description="Nodes are replaced after this age, so they pick up new AMIs (expireAfter)."),
        Allowed("24 to 8760 hours"),
    ] = 720

    @rule
    def _spot_spreads_over_families(self) -> Iterator[Problem]:
        """The Spot pool spans at least two instance families."""
        if self.spot is not None and len(self.spot.instance_categories) < c.SPOT_MIN_INSTANCE_TYPES:
            yield Problem(
                "spot.instance_categories",
                list(self.spot.instance_categories),
                f"at least {c.SPOT_MIN_INSTANCE_TYPES} families for Spot, so one interrupted pool does not empty it",
            )


class MendixOperatorSettings(SettingsModel):
    """The Mendix Operator, installed by a Job running ``mxpc-cli``."""

    version: Annotated[
        str,
        OneOf(
            MENDIX_OPERATOR_VERSIONS,
            f"a Mendix Operator release this stack supports: {', '.join(MENDIX_OPERATOR_VERSIONS)}",
        ),
        Field(description="A supported Operator release."),
    ]
    installer_image: Annotated[
        str,
        Check(
            lambda v: re.fullmatch(ECR_IMAGE, v) is not None and not v.endswith(":latest"),
            "an ECR image (ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME) with a pinned tag or digest, not latest",
        ),
        Field(
            description="An image in this region's ECR holding mxpc-cli of version, kubectl, the AWS CLI, jq and psql.",
            json_schema_extra={"pattern": re.sub(r"\(\?P<\w+>", "(", ECR_IMAGE)},
        ),
    ]
    certificate_arn: Annotated[
        CertificateArn, Field(description="The ACM certificate in the region the apps' NLB serves TLS with.")
    ]
    mode: Annotated[
        str,
        OneOf(MENDIX_OPERATOR_MODES, " or ".join(MENDIX_OPERATOR_MODES)),
        Field(
            description="standalone: no link to the Mendix Portal. connected: the Gateway Agent registers with the Portal "
            "using the namespace id and secret in namespace_secret_arn."
        ),
    ] = "standalone"
    namespace_secret_arn: Annotated[
        str | None,
        Field(description="Connected only: a Secrets Manager secret in the region with namespace_id and namespace_secret."),
    ] = None

    @rule
    def _no_secret_when_standalone(self) -> Iterator[Problem]:
        """`namespace_secret_arn` is unset in standalone mode."""
        if self.mode == "standalone" and self.namespace_secret_arn is not None:
            yield Problem("namespace_secret_arn", self.namespace_secret_arn, "unset in standalone mode (no Portal link)")


class EksSettings(SettingsModel):
    """The Mendix platform on EKS and everything it needs around it."""

    kubernetes_version: Annotated[
        str,
        AfterValidator(_kubernetes_version),
        Field(
            description=f"1.{MENDIX_MIN_KUBERNETES_MINOR} to 1.{MENDIX_MAX_KUBERNETES_MINOR} (what Mendix's Supported "
            "Providers page lists) with a pinned kubectl layer.",
            json_schema_extra={"enum": sorted(c.KUBECTL_LAYERS)},
        ),
    ]
    system_nodes: Annotated[NodeGroupSettings, Field(description="The system node group, one over the three AZs.")]
    karpenter: Annotated[KarpenterSettings, Field(description="Karpenter and its node pools: the app nodes.")]
    load_balancer_controller_version: Annotated[
        str,
        AfterValidator(_controller_version),
        Field(
            description="The release whose IAM policy components/policies/ embeds.",
            json_schema_extra={"enum": [c.LOAD_BALANCER_CONTROLLER_POLICY_VERSION]},
        ),
    ]
    load_balancer_controller_chart_version: Annotated[
        str,
        Check(_pinned_chart, "a pinned chart version such as 1.2.3, never a range or latest"),
        Field(description="The controller's chart, pinned.", json_schema_extra={"pattern": r"^\d+\.\d+\.\d+$"}),
    ]
    addons: Annotated[EksAddonSettings, Field(description="EKS add-on versions.")]
    mendix_operator: Annotated[MendixOperatorSettings, Field(description="The Operator's install.")]
    database: Annotated[MendixDatabaseSettings, Field(description="RDS PostgreSQL for the Mendix runtime.")]
    pipeline: Annotated[
        PipelineSettings | None,
        Field(description="Delivery of the app's deployment packages (standalone mode only); none: no pipeline."),
    ] = None
    backup: Annotated[MendixBackupSettings, Field(description="The AWS Backup plan.")]
    budget: Annotated[BudgetSettings, Field(description="The monthly cost budget.")]
    enabled: Annotated[bool, Field(description="false: leave the EksNetwork and Eks stacks out.")] = True
    vpc_cidr: Annotated[
        VpcCidr | None,
        Field(
            description="The Mendix platform's own VPC (the EksNetwork stack), split by the same address plan as the IRIS "
            "VPC; must overlap neither network.vpc_cidr nor dr.vpc_cidr. It has no route to the IRIS VPCs. Required "
            "while enabled."
        ),
    ] = None
    account: Annotated[
        AccountId | None,
        Field(
            description="An AWS account of its own for the EksNetwork and Eks stacks, bootstrapped to trust the deploying "
            'account (README, "A separate account for Mendix"); none: the deployment\'s account.'
        ),
    ] = None
    public_endpoint_cidrs: Annotated[
        tuple[PublicCidr, ...],
        Field(description="Empty: the API endpoint is private only. Otherwise also public, for these CIDRs (not 0.0.0.0/0)."),
    ] = ()
    admin_role_arns: Annotated[
        tuple[Annotated[str, Matches(ROLE_ARN, "the ARN of an IAM role, arn:aws:iam::ACCOUNT:role/NAME")], ...],
        Field(description="IAM roles that administer the cluster (kubectl, console), each by an access entry."),
    ] = ()
    sample_app_image: Annotated[
        str,
        Check(
            lambda v: re.fullmatch(IMAGE, v) is not None and not v.endswith(":latest"),
            "an image with a registry and a pinned tag or digest, not latest",
        ),
        Field(
            description="What the sample app Service runs until the pipeline deploys the first build.",
            json_schema_extra={"pattern": IMAGE},
        ),
    ] = "public.ecr.aws/nginx/nginx-unprivileged:1.28"
    log_retention_days: Annotated[RetentionDays, Field(description="How long the platform's logs are kept.")] = 365
    file_storage_infrequent_access_days: Annotated[
        int,
        Field(ge=c.S3_MIN_DAYS_BEFORE_IA, description="When file storage objects move to Standard-IA."),
        Allowed(f"at least {c.S3_MIN_DAYS_BEFORE_IA} days (S3's minimum for Standard-IA)"),
    ] = 30
    file_storage_glacier_days: Annotated[
        int,
        Field(description=f"When they move to Glacier: at least {c.S3_MIN_DAYS_IN_IA} days after the move to Standard-IA."),
        Allowed(f"at least {c.S3_MIN_DAYS_IN_IA} days after file_storage_infrequent_access_days"),
    ] = 180
    file_storage_noncurrent_expiry_days: Annotated[Days, Field(description="When noncurrent versions expire.")] = 365
    image_untagged_expiry_days: Annotated[Days, Field(description="When untagged images expire from ECR.")] = 14

    @rule
    def _pipeline_needs_standalone(self) -> Iterator[Problem]:
        """`pipeline` is set only in standalone mode: connected, the Mendix Portal owns the MendixApp resources."""
        if self.pipeline is not None and self.mendix_operator.mode != "standalone":
            yield Problem(
                "pipeline",
                "set",
                "none when mendix_operator.mode is connected: the Mendix Portal deploys and owns the MendixApp resources; "
                "the pipeline edits them only in standalone mode",
            )

    @rule
    def _kube_proxy_of_the_cluster_version(self) -> Iterator[Problem]:
        """`addons.kube_proxy` is of the Kubernetes minor version."""
        v = self.kubernetes_version
        if not self.addons.kube_proxy.startswith(f"v{v}."):
            yield Problem(
                "addons.kube_proxy",
                self.addons.kube_proxy,
                f"a kube-proxy of the cluster's minor version, v{v}.N-eksbuild.N (it must match Kubernetes)",
            )

    @rule
    def _coredns_of_the_cluster_version(self) -> Iterator[Problem]:
        """`addons.coredns` is of the CoreDNS series EKS ships for the Kubernetes version."""
        v = self.kubernetes_version
        series = COREDNS_SERIES.get(v)
        if series is None or not self.addons.coredns.startswith(f"v{series}."):
            allowed = f"v{series}.N-eksbuild.N" if series else "a Kubernetes version with a known CoreDNS series"
            yield Problem("addons.coredns", self.addons.coredns, f"the CoreDNS series EKS ships for Kubernetes {v}: {allowed}")

    @rule
    def _glacier_after_infrequent_access(self) -> Iterator[Problem]:
        """`file_storage_glacier_days` is at least 30 days after `file_storage_infrequent_access_days`."""
        ia = self.file_storage_infrequent_access_days
        if self.file_storage_glacier_days < ia + c.S3_MIN_DAYS_IN_IA:
            yield Problem(
                "file_storage_glacier_days",
                self.file_storage_glacier_days,
                f"at least {ia + c.S3_MIN_DAYS_IN_IA} days: {c.S3_MIN_DAYS_IN_IA} days after the move to Standard-IA on day {ia}",
            )
