"""Settings: profiles load, overrides apply, and every bad value is refused
with a one-line message naming the key, the value and what is allowed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from config import SettingsError, load_settings
from config import constants as c
from config.loader import cli_context
from config.placeholders import PLACEHOLDER_ACCOUNT
from tests.conftest import ROOT, cdk_json_context


def load(**overrides: object):
    return load_settings({**cdk_json_context(), **overrides}, {})


def test_reference_is_the_default_profile() -> None:
    settings = load()
    assert settings.profile == "reference"
    assert settings.network.nat_gateways == 3
    assert len(settings.data.mirror_sets) == 2
    assert settings.network.vpn_enabled
    assert settings.eks.enabled
    assert settings.eks.karpenter.spot is not None


def test_dev_profile_is_small() -> None:
    settings = load(profile="dev")
    assert settings.network.nat_gateways == 1
    assert not settings.network.vpn_enabled
    assert [m.name for m in settings.data.mirror_sets] == ["Dev"]
    assert settings.eks.karpenter.on_demand.cpu_limit < load().eks.karpenter.on_demand.cpu_limit


def test_cli_strings_are_coerced_to_the_setting_types() -> None:
    settings = load(
        **{
            "network.nat_gateways": "2",
            "availability_zones": "eu-west-1c, eu-west-1b, eu-west-1a",
            "data.mirror_sets.1.database.iops": "5000",
            "data.ami_ids.eu-west-1": "ami-0123456789abcdef0",
            "network.onprem_cidr": "none",
            "network.onprem_gateway_ip": "none",
        }
    )
    assert settings.network.nat_gateways == 2
    assert settings.availability_zones == ("eu-west-1c", "eu-west-1b", "eu-west-1a")
    assert settings.data.mirror_sets[1].database.iops == 5000
    assert settings.data.ami_ids["eu-west-1"] == "ami-0123456789abcdef0"
    assert not settings.network.vpn_enabled


def test_settings_are_frozen() -> None:
    settings = load()
    with pytest.raises(AttributeError):
        settings.network.nat_gateways = 1  # type: ignore[misc]


def test_account_is_a_placeholder_unless_the_environment_gives_one() -> None:
    assert load().account == PLACEHOLDER_ACCOUNT
    real = load_settings(cdk_json_context(), {"CDK_DEFAULT_ACCOUNT": "123456789012"})
    assert real.account == "123456789012"
    assert not real.account_is_placeholder


# Each bad input, the key the message must name and a phrase of what is allowed.
BAD_INPUTS = [
    pytest.param({"network.vpc_cidr": "10.0.0.0/33"}, "network.vpc_cidr", "IPv4 CIDR block", id="malformed-cidr"),
    pytest.param({"network.vpc_cidr": "10.0.0.5/16"}, "network.vpc_cidr", "host bits set", id="cidr-with-host-bits"),
    pytest.param({"network.vpc_cidr": "10.0.0.0/12"}, "network.vpc_cidr", "from /16 to /24", id="vpc-too-large"),
    pytest.param({"network.onprem_cidr": "10.0.128.0/20"}, "network.onprem_cidr", "does not overlap", id="overlapping-cidrs"),
    pytest.param({"availability_zones": "eu-west-1a,eu-west-1b"}, "availability_zones", "exactly 3", id="fewer-than-three-azs"),
    pytest.param(
        {"availability_zones": "eu-west-1a,eu-west-1a,eu-west-1b"},
        "availability_zones",
        "repeated: eu-west-1a",
        id="duplicate-azs",
    ),
    pytest.param(
        {"availability_zones": "eu-west-1a,eu-west-1b,us-east-1a"},
        "availability_zones",
        "us-east-1a is in us-east-1",
        id="az-in-another-region",
    ),
    pytest.param({"profile": "prod"}, "profile", "one of dev, hybrid, reference", id="unknown-profile"),
    pytest.param({"network.vpc_cdir": "10.0.0.0/16"}, "network.vpc_cdir", "did you mean network.vpc_cidr", id="unknown-key"),
    pytest.param({"netwrk.vpc_cidr": "10.0.0.0/16"}, "netwrk.vpc_cidr", "did you mean network", id="unknown-section"),
    pytest.param(
        {"data.mirror_sets.0.instance_type": "r6i-4xlarge"},
        "data.mirror_sets.0.instance_type",
        "family.size",
        id="malformed-instance-type",
    ),
    pytest.param({"network.nat_gateways": "0"}, "network.nat_gateways", "from 1 to 3", id="zero-count"),
    pytest.param({"network.nat_gateways": "-1"}, "network.nat_gateways", "from 1 to 3", id="negative-count"),
    pytest.param({"data.backup.retain_count": "0"}, "data.backup.retain_count", "from 1 to 1000", id="zero-retain-count"),
    pytest.param(
        {"network.flow_log_retention_days": "4000"},
        "network.flow_log_retention_days",
        "retention periods",
        id="retention-out-of-range",
    ),
    pytest.param(
        {"network.flow_log_retention_days": "ten"}, "network.flow_log_retention_days", "whole number", id="retention-not-a-number"
    ),
    pytest.param({"network.onprem_gateway_ip": "10.1.2.3"}, "network.onprem_gateway_ip", "public IPv4", id="private-vpn-gateway"),
    pytest.param({"network.onprem_gateway_ip": "none"}, "network.onprem_gateway_ip", "or neither", id="half-a-vpn"),
    pytest.param({"region": "eu-west"}, "region", "region name", id="malformed-region"),
    pytest.param({"account": "12345"}, "account", "12-digit", id="malformed-account"),
    pytest.param({"data.health_check_path": "/status"}, "data.health_check_path", "under /csp/", id="health-path-outside-csp"),
    pytest.param(
        {"data.mirror_sets.0.wij.size_gib": "3"}, "data.mirror_sets.0.wij.size_gib", "from 4 to 16384 GiB", id="io1-too-small"
    ),
    pytest.param(
        {"data.mirror_sets.0.database.size_gib": "16385"},
        "data.mirror_sets.0.database.size_gib",
        "from 4 to 16384 GiB",
        id="io1-too-large",
    ),
    pytest.param(
        {"data.mirror_sets.1.journal1.iops": "6401"}, "data.mirror_sets.1.journal1.iops", "50 per GiB", id="iops-over-50-per-gib"
    ),
    pytest.param(
        {"data.mirror_sets.0.database.iops": "64001"},
        "data.mirror_sets.0.database.iops",
        "64000 per volume",
        id="iops-over-volume-max",
    ),
    pytest.param(
        {"data.mirror_sets.0.database.iops": "20000"},
        "data.mirror_sets.0.instance_type",
        "r6i.4xlarge sustains at most 20000 EBS IOPS (bursts to 40000",
        id="iops-over-instance-limit",
    ),
    pytest.param(
        {"data.mirror_sets.0.instance_type": "x2iedn.32xlarge"},
        "data.mirror_sets.0.instance_type",
        "known EBS IOPS limit",
        id="instance-without-ebs-figures",
    ),
    pytest.param({"data.failover_method": "dns"}, "data.failover_method", "polling or api", id="unknown-failover-method"),
    pytest.param(
        {"data.mirror_async_compression": "gzip"},
        "data.mirror_async_compression",
        "zlib, zstd or lz4",
        id="unknown-compression-type",
    ),
    pytest.param(
        {"data.health_check_port": "2188"}, "data.health_check_port", "other than 1972 and 2188", id="health-port-is-iscagent"
    ),
    pytest.param(
        {"data.ami_ids": '{"us-east-1": "ami-0123456789abcdef0"}'}, "data.ami_ids", "region eu-west-1", id="no-ami-for-region"
    ),
    pytest.param(
        {"app.certificate_arn": "none"}, "app.certificate_arn", "required: the ALB serves HTTPS only", id="missing-certificate"
    ),
    pytest.param(
        {"app.certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"},
        "app.certificate_arn",
        "certificates of its own region only",
        id="certificate-in-another-region",
    ),
    pytest.param(
        {"app.certificate_arn": "arn:aws:iam::123456789012:server-certificate/site"},
        "app.certificate_arn",
        "ACM certificate in eu-west-1",
        id="certificate-not-from-acm",
    ),
    pytest.param({"app.sticky_duration_seconds": "0"}, "app.sticky_duration_seconds", "1 to 604800", id="stickiness-zero"),
    pytest.param(
        {"app.sticky_duration_seconds": "604801"}, "app.sticky_duration_seconds", "at most 7 days", id="stickiness-over-7-days"
    ),
    pytest.param(
        {"app.mirror_set": "HSDb"}, "app.mirror_set", "one of data.mirror_sets: HSDB, HSAnalytics", id="unknown-mirror-set"
    ),
    pytest.param(
        {"app.web.min_capacity": "7"}, "app.web.max_capacity", "app.web.min_capacity (7) to 100", id="web-min-above-max"
    ),
    pytest.param({"app.ecp.min_capacity": "0"}, "app.ecp.min_capacity", "1 to 100 servers", id="no-ecp-servers"),
    pytest.param({"app.print_servers.count": "101"}, "app.print_servers.count", "0 (no print servers) to 100", id="print-count"),
    pytest.param(
        {"app.application_paths": "/csp/"}, "app.application_paths.0", "without a trailing slash", id="app-path-trailing-slash"
    ),
    # Only the application is public: never the root, a system path, one under it or one holding it, in any case.
    pytest.param({"app.application_paths": "/"}, "app.application_paths.0", "a URL path below /", id="app-path-root"),
    pytest.param(
        {"app.application_paths": "/csp/sys"},
        "app.application_paths.0",
        "neither holding nor under /csp/sys (never public: /csp/sys, /csp/docbook, /csp/documatic, /api/mgmnt, /csp/bin)",
        id="app-path-management-portal",
    ),
    pytest.param(
        {"app.application_paths": "/CSP/Sys/exp"}, "app.application_paths.0", "nor under /csp/sys", id="app-path-under-portal"
    ),
    pytest.param({"app.application_paths": "/csp"}, "app.application_paths.0", "holding nor under /csp/sys", id="app-path-csp"),
    pytest.param(
        {"app.application_paths": "/csp/documatic"}, "app.application_paths.0", "under /csp/documatic", id="app-path-class-ref"
    ),
    pytest.param({"app.application_paths": "/api"}, "app.application_paths.0", "under /api/mgmnt", id="app-path-api-root"),
    pytest.param(
        {"app.application_paths": "/csp/bin/mirror_status.cxw"}, "app.application_paths.0", "under /csp/bin", id="app-path-status"
    ),
    pytest.param(
        {"app.application_paths": "/csp/user,/CSP/USER"},
        "app.application_paths.1",
        "listed once (IRIS ignores case",
        id="app-path-twice-in-two-cases",
    ),
    pytest.param(
        # A listener rule's path pattern holds 128 characters, "/*" included.
        {"app.application_paths": "/csp/user,/" + "a" * 126},
        "app.application_paths.1",
        "at most 126 characters",
        id="app-path-too-long",
    ),
    pytest.param(
        {"app.application_paths": ",".join(f"/app{i}" for i in range(101))},
        "app.application_paths",
        "at most 100 paths: one listener rule each, and an ALB holds at most 100 rules",
        id="app-paths-over-the-rule-quota",
    ),
    pytest.param({"app.waf_rate_limit": "9"}, "app.waf_rate_limit", "10 to 2000000000", id="waf-rate-too-low"),
    pytest.param({"app.log_retention_days": "100"}, "app.log_retention_days", "retention periods", id="app-log-retention"),
    pytest.param(
        {"app.scaling.cpu_target_percent": "95"}, "app.scaling.cpu_target_percent", "10 to 90 percent", id="cpu-target-too-high"
    ),
    pytest.param(
        {"app.private_zone_name": "Iris_Internal"}, "app.private_zone_name", "lower-case DNS domain", id="bad-private-zone"
    ),
    pytest.param(
        {"app.web_ami_ids": '{"us-east-1": "ami-0123456789abcdef0"}'}, "app.web_ami_ids", "region eu-west-1", id="no-web-ami"
    ),
    pytest.param(
        {"app.ecp_databases.0.name": "HSAADATA"},
        "app.ecp_databases.0.name",
        "a mirrored database of mirror set HSDB in data.databases: HSDATA",
        id="ecp-database-not-mirrored-in-the-set",
    ),
    pytest.param({"app.ecp_databases": "[]"}, "app.ecp_databases", "at least one mirrored database", id="no-ecp-database"),
    pytest.param({"tags": '{"Project": "x", "Environment": "y"}'}, "tags", "missing: Owner, CostCenter", id="cost-tags-missing"),
    pytest.param({"eks.kubernetes_version": "1.30"}, "eks.kubernetes_version", "kubectl layer is pinned", id="k8s-without-layer"),
    pytest.param(
        {"eks.karpenter.ami_alias": "al2023@latest"},
        "eks.karpenter.ami_alias",
        "never @latest",
        id="node-ami-latest",
    ),
    pytest.param({"eks.karpenter.chart_version": "^1.8.0"}, "eks.karpenter.chart_version", "pinned", id="chart-range"),
    pytest.param(
        {"eks.load_balancer_controller_version": "2.17.1"},
        "eks.load_balancer_controller_version",
        "a controller release such as",
        id="lbc-version-malformed",
    ),
    pytest.param(
        {"eks.load_balancer_controller_version": "v2.16.0"},
        "eks.load_balancer_controller_version",
        "whose IAM policy the repository embeds",
        id="lbc-version-without-policy",
    ),
    pytest.param({"eks.sample_app_image": "nginx:latest"}, "eks.sample_app_image", "pinned tag", id="image-latest"),
    pytest.param(
        {"eks.public_endpoint_cidrs": "0.0.0.0/0"}, "eks.public_endpoint_cidrs.0", "narrower than 0.0.0.0/0", id="endpoint-open"
    ),
    pytest.param(
        {"eks.public_endpoint_cidrs": "10.0.0.0/8"}, "eks.public_endpoint_cidrs.0", "a public CIDR", id="endpoint-private-cidr"
    ),
    pytest.param(
        {"eks.admin_role_arns": "arn:aws:iam::000000000000:user/alice"},
        "eks.admin_role_arns.0",
        "the ARN of an IAM role",
        id="admin-not-a-role",
    ),
    pytest.param(
        {"eks.system_nodes.capacity_type": "SPOT"},
        "eks.system_nodes.capacity_type",
        "must not lose their nodes to Spot",
        id="spot-system-nodes",
    ),
    pytest.param(
        {"eks.karpenter.spot.instance_categories": "m"},
        "eks.karpenter.spot.instance_categories",
        "at least 2 families",
        id="spot-one-instance-type",
    ),
    pytest.param(
        {"eks.system_nodes.min_per_az": "3"}, "eks.system_nodes.desired_per_az", "min_per_az (3)", id="min-above-desired"
    ),
    pytest.param(
        {"eks.system_nodes.min_per_az": "0"}, "eks.system_nodes.desired_per_az", "1 <= min_per_az (0)", id="no-system-node"
    ),
    pytest.param(
        {"eks.system_nodes.max_per_az": "500"}, "eks.system_nodes.max_per_az", "1 to 150 nodes", id="node-group-too-large"
    ),
    pytest.param({"eks.system_nodes.disk_gib": "10"}, "eks.system_nodes.disk_gib", "20 to 16384 GiB", id="node-disk-too-small"),
    pytest.param(
        {"eks.karpenter.on_demand.cpu_limit": "0"}, "eks.karpenter.on_demand.cpu_limit", "1 to 100000 vCPUs", id="pool-no-cpu"
    ),
    pytest.param({"eks.log_retention_days": "13"}, "eks.log_retention_days", "retention periods", id="eks-retention"),
    pytest.param(
        {"eks.file_storage_infrequent_access_days": "10"},
        "eks.file_storage_infrequent_access_days",
        "at least 30 days",
        id="ia-too-early",
    ),
    pytest.param(
        {"eks.file_storage_glacier_days": "40"}, "eks.file_storage_glacier_days", "at least 60 days", id="glacier-too-early"
    ),
    pytest.param({"eks.image_untagged_expiry_days": "0"}, "eks.image_untagged_expiry_days", "1 to 3650 days", id="ecr-expiry"),
    pytest.param(
        {"eks.database.instance_class": "db.m7g.large"}, "eks.database.instance_class", "without db.", id="db-class-prefixed"
    ),
    pytest.param({"eks.database.engine_version": "14.10"}, "eks.database.engine_version", "major 15, 16, 17, 18", id="db-engine"),
    pytest.param(
        {"eks.database.allocated_storage_gib": "10"}, "eks.database.allocated_storage_gib", "20 to 65536", id="db-storage-small"
    ),
    pytest.param(
        {"eks.database.max_allocated_storage_gib": "50"},
        "eks.database.max_allocated_storage_gib",
        "more than allocated_storage_gib (100)",
        id="db-autoscaling-ceiling",
    ),
    pytest.param(
        {"eks.database.backup_retention_days": "0"},
        "eks.database.backup_retention_days",
        "0 would turn automated backups off",
        id="db-no-backups",
    ),
    pytest.param(
        {"eks.pipeline.connection_arn": "arn:aws:s3:::bucket"},
        "eks.pipeline.connection_arn",
        "CodeConnections connection",
        id="pipeline-connection",
    ),
    pytest.param({"eks.pipeline.repository": "mendix-app"}, "eks.pipeline.repository", "owner/name", id="pipeline-repository"),
    pytest.param(
        {"eks.backup.daily_retention_days": "36"}, "eks.backup.daily_retention_days", "1 to 35 days", id="daily-retention"
    ),
    pytest.param(
        {"eks.backup.weekly_retention_days": "100"},
        "eks.backup.weekly_retention_days",
        "120 to 36500 days",
        id="weekly-shorter-than-cold-storage-minimum",
    ),
    pytest.param(
        {"eks.budget.thresholds_percent": "50,80,90,100,120"},
        "eks.budget.thresholds_percent",
        "at most 4 thresholds",
        id="too-many-budget-thresholds",
    ),
    pytest.param(
        {"eks.budget.thresholds_percent": "80,80"}, "eks.budget.thresholds_percent", "distinct", id="repeated-threshold"
    ),
    pytest.param({"eks.budget.emails": "not-an-email"}, "eks.budget.emails.0", "an e-mail address", id="budget-email"),
    pytest.param({"eks.budget.monthly_limit_usd": "0"}, "eks.budget.monthly_limit_usd", "1 to 10000000", id="budget-zero"),
    # IRIS on the members.
    pytest.param({"data.iris.source": "kit"}, "data.iris.source", "one of container", id="unknown-iris-source"),
    pytest.param(
        {"data.iris.license_key": "none"}, "data.iris.license_key", "the licensed edition needs one", id="licence-missing"
    ),
    pytest.param(
        {"data.iris.license_key": "/tmp/iris.key"}, "data.iris.license_key", "secretsmanager:<secret name>", id="licence-path"
    ),
    pytest.param({"data.iris.edition": "enterprise"}, "data.iris.edition", "licensed, community", id="unknown-edition"),
    pytest.param({"data.iris.memory_ratio": "0.95"}, "data.iris.memory_ratio", "0.1 to 0.9", id="memory-ratio-above-0.9"),
    pytest.param({"data.iris.memory_ratio": "half"}, "data.iris.memory_ratio", "a number", id="memory-ratio-not-a-number"),
    pytest.param({"data.iris.image.digest": "latest"}, "data.iris.image.digest", "never a tag", id="image-by-tag"),
    pytest.param(
        {"data.iris.arbiter_image.repository": "Arbiter Image"},
        "data.iris.arbiter_image.repository",
        "an ECR repository name",
        id="image-repository",
    ),
    pytest.param({"data.iris.join_timeout_seconds": "5"}, "data.iris.join_timeout_seconds", "60 to 7200", id="join-timeout"),
    pytest.param(
        {"data.databases.0.mirror_set": "Billing"},
        "data.databases.0.mirror_set",
        "the name of a mirror set in data.mirror_sets",
        id="database-without-mirror-set",
    ),
    pytest.param(
        {"data.databases.0.namespace": "9LIVES"}, "data.databases.0.namespace", "an IRIS namespace name", id="namespace-digit"
    ),
    pytest.param(
        {"data.databases.0.namespace": "%SYS"}, "data.databases.0.namespace", "not a system namespace", id="namespace-system"
    ),
    pytest.param({"data.databases.0.name": "IRISSYS"}, "data.databases.0.name", "not a system database", id="database-system"),
    pytest.param(
        {"data.databases.1.mirror_set": "HSDB", "data.databases.1.namespace": "hsdata"},
        "data.databases.1.namespace",
        "used once in mirror set HSDB",
        id="namespace-twice-in-a-set",
    ),
    pytest.param(
        {"dr": "none", "data.databases": "[]", "data.mirror_sets.1.name": "HSAnalyticsDW"},
        "data.mirror_sets.1.name",
        "IRIS's 15 characters",
        id="mirror-name-too-long-for-iris",
    ),
    pytest.param({"data.private_zone_name": "Data_Zone"}, "data.private_zone_name", "a lower-case DNS name", id="member-zone"),
    pytest.param(
        {"data.health_check_port": "1972"}, "data.health_check_port", "other than 1972 and 2188", id="health-port-is-superserver"
    ),
    pytest.param(
        {"tls.ca_arn": "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/12345678-1234-1234-1234-123456789012"},
        "tls.ca_arn",
        "would leave the primary region's hosts depending on another region",
        id="ca-in-another-region",
    ),
    pytest.param(
        {"tls.ca_arn": "arn:aws-cn:acm-pca:eu-west-1:123456789012:certificate-authority/12345678-1234-1234-1234-123456789012"},
        "tls.ca_arn",
        "aws-cn is another partition",
        id="ca-in-another-partition",
    ),
    pytest.param(
        {"tls.ca_arn": "arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"},
        "tls.ca_arn",
        "the ARN of an AWS Private CA in eu-west-1",
        id="ca-not-a-private-ca",
    ),
    pytest.param(
        {"tls.certificate_days": "30", "tls.renew_before_days": "30"},
        "tls.renew_before_days",
        "fewer days than tls.certificate_days (30)",
        id="renewal-window-as-long-as-validity",
    ),
    pytest.param({"tls.renew_before_days": "1"}, "tls.renew_before_days", "2 to 825 days", id="renewal-window-under-two-days"),
    pytest.param(
        {"profile": "dev", "tls.certificate_days": "14"},
        "tls.certificate_days",
        "short-lived certificate mode",
        id="short-lived-ca-long-certificates",
    ),
    pytest.param(
        {"tls.certificate_days": "400", "tls.ca_validity_years": "1"},
        "tls.ca_validity_years",
        "the CA signs nothing beyond its own expiry",
        id="ca-expires-before-its-certificates",
    ),
    pytest.param({"tls.ca_mode": "cheap"}, "tls.ca_mode", "general_purpose", id="unknown-ca-mode"),
    pytest.param(
        {"ops.log_search.data_nodes": "2"},
        "ops.log_search.data_nodes",
        "3 or more data nodes: the domain spans the profile's three availability zones",
        id="log-search-two-data-nodes",
    ),
    pytest.param(
        {"ops.log_search.data_nodes": "4"},
        "ops.log_search.data_nodes",
        "a multiple of 3 with multi_az_with_standby",
        id="log-search-standby-uneven",
    ),
    pytest.param(
        {"ops.log_search.dedicated_masters": "0"},
        "ops.log_search.dedicated_masters",
        "3 or 5 with multi_az_with_standby",
        id="log-search-standby-without-masters",
    ),
    pytest.param(
        {"ops.log_search.dedicated_masters": "4"},
        "ops.log_search.dedicated_masters",
        "0 (none), 3 or 5 dedicated master nodes",
        id="log-search-four-masters",
    ),
    pytest.param(
        {"ops.log_search.instance_type": "t3.medium.search"},
        "ops.log_search.instance_type",
        "a type other than T2/T3 with multi_az_with_standby",
        id="log-search-standby-burstable",
    ),
    pytest.param(
        {"ops.log_search.instance_type": "r6g.large"},
        "ops.log_search.instance_type",
        "an OpenSearch Service instance type such as r6g.large.search",
        id="log-search-ec2-type",
    ),
    pytest.param(
        {"ops.log_search.lifecycle.delete_after_days": "7"},
        "ops.log_search.lifecycle.delete_after_days",
        "more days than hot_days (7)",
        id="log-search-deleted-while-hot",
    ),
    pytest.param(
        {"ops.log_search.reader_role_arns": "arn:aws:iam::000000000000:user/alice"},
        "ops.log_search.reader_role_arns.0",
        "the ARN of an IAM role",
        id="log-search-reader-not-a-role",
    ),
]


# A bad input that breaks a second, independent rule: the keys of the further lines.
FURTHER_PROBLEMS = {
    # The DR member of HSDB (m6i.4xlarge) carries the same volumes as the primary's type.
    "iops-over-instance-limit": ["dr.instance_types.HSDB"],
    # With no mirrored database left, the ECP servers' remote database names none.
    "mirror-name-too-long-for-iris": ["app.ecp_databases.0.name"],
}


@pytest.mark.parametrize(("overrides", "key", "allowed"), BAD_INPUTS)
def test_bad_input_is_refused_with_a_clear_message(
    overrides: dict[str, str], key: str, allowed: str, request: pytest.FixtureRequest
) -> None:
    with pytest.raises(SettingsError) as caught:
        load(**overrides)
    message = caught.value.lines[0]
    assert caught.value.key == key
    assert message.startswith(f"invalid setting {key}=")
    assert allowed in message
    assert all("\n" not in line for line in caught.value.lines)
    case = request.node.callspec.id
    assert [p.key for p in caught.value.problems[1:]] == FURTHER_PROBLEMS.get(case, [])
    given = list(overrides.values())[-1]
    if given not in ("none",):
        assert repr(given) in message or given.split(",")[0] in message


def test_every_bad_input_has_its_own_message() -> None:
    messages = set()
    for case in BAD_INPUTS:
        with pytest.raises(SettingsError) as caught:
            load(**case.values[0])
        messages.add(str(caught.value))
    assert len(messages) == len(BAD_INPUTS)


def test_a_typo_in_a_profile_is_refused_too() -> None:
    context = cdk_json_context()
    context["profiles"]["dev"]["network"]["nat_gatways"] = 1
    with pytest.raises(SettingsError, match=r"network\.nat_gatways.*did you mean network\.nat_gateways"):
        load_settings({**context, "profile": "dev"}, {})


def test_bad_setting_stops_the_cli_run_without_a_traceback(tmp_path: Path) -> None:
    """The real entry point: exit non-zero, one line on stderr, nothing written."""
    context = {**cdk_json_context(), "network.vpc_cidr": "10.0.0.0/33"}
    outdir = tmp_path / "out"
    outdir.mkdir()
    previous = outdir / "Iris-Network.template.json"
    previous.write_text('{"Resources": {}}')
    # The node jsii would start for the CDK: it records being started, and the settings are refused before.
    started = tmp_path / "node-started"
    node = tmp_path / "node"
    node.write_text(f"#!/bin/bash\ntouch {started}\nexit 1\n")
    node.chmod(0o755)
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(outdir), "JSII_NODE": str(node)}
    run = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert not started.exists()
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert lines == [
        "error: invalid setting network.vpc_cidr='10.0.0.0/33': "
        "an IPv4 CIDR block such as 10.0.0.0/16 ('33' is not a valid netmask)"
    ]
    assert "Traceback" not in run.stdout + run.stderr
    assert [p.name for p in outdir.iterdir()] == [previous.name]  # the last good synthesis is untouched
    assert previous.read_text() == '{"Resources": {}}'


# Several bad values at once: field checks, a typo, a rule inside a model whose
# other field is bad, and a rule across areas while another area has a bad field.
MANY_BAD = {
    "network.vpc_cidr": "10.0.0.0/33",
    "network.nat_gatways": "1",
    "data.backup.retain_count": "0",
    "app.waf_rate_limit": "9",
    "app.mirror_set": "Nope",
    "dr.dns.ttl_seconds": "-1",
    "eks.budget.emails": "not-an-email",
    "eks.backup.daily_retention_days": "36",
    "eks.backup.expected_restore_hours": "8",
    "eks.backup.restore_test_validation_hours": "4",
}
MANY_BAD_KEYS = {
    "network.vpc_cidr",
    "network.nat_gatways",
    "data.backup.retain_count",
    "app.waf_rate_limit",
    "app.mirror_set",
    "dr.dns.ttl_seconds",
    "eks.budget.emails.0",
    "eks.backup.daily_retention_days",
    "eks.backup.restore_test_validation_hours",
}


def test_every_bad_input_is_reported_in_one_run() -> None:
    with pytest.raises(SettingsError) as caught:
        load(**MANY_BAD)
    problems = caught.value.problems
    assert sorted(p.key for p in problems) == sorted(MANY_BAD_KEYS)  # each once, nothing derived from another
    assert str(caught.value) == "\n".join(str(p) for p in problems)
    for p in problems:
        assert str(p).startswith(f"invalid setting {p.key}=")
        assert "Input should" not in str(p) and "http" not in str(p)
    by_key = {p.key: str(p) for p in problems}
    assert "did you mean network.nat_gateways" in by_key["network.nat_gatways"]
    assert "one of data.mirror_sets: HSDB, HSAnalytics" in by_key["app.mirror_set"]
    assert "must outlive the restore" in by_key["eks.backup.restore_test_validation_hours"]


def test_the_cli_context_is_read_as_the_cdk_app_reads_it(tmp_path: Path) -> None:
    """CDK_CONTEXT_JSON, and the file the CLI writes instead when the context is too long, whose keys win."""
    overflow = tmp_path / "context.json"
    overflow.write_text(json.dumps({"profile": "dev", "network.nat_gateways": 1}))
    environ = {"CDK_CONTEXT_JSON": json.dumps({"profile": "reference", "eks.enabled": False})}
    assert cli_context(environ) == {"profile": "reference", "eks.enabled": False}
    assert cli_context({**environ, "CONTEXT_OVERFLOW_LOCATION_ENV": str(overflow)}) == {
        "profile": "dev", "eks.enabled": False, "network.nat_gateways": 1
    }  # fmt: skip
    assert cli_context({}) == {}


def test_every_bad_input_stops_the_cli_run_with_one_line_each(tmp_path: Path) -> None:
    context = {**cdk_json_context(), **MANY_BAD}
    outdir = tmp_path / "out"
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(outdir)}
    run = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == len(MANY_BAD_KEYS)
    assert all(line.startswith("error: invalid setting ") for line in lines)
    assert {line.split("=", 1)[0].removeprefix("error: invalid setting ") for line in lines} == MANY_BAD_KEYS
    assert "Traceback" not in run.stdout + run.stderr


def test_a_profile_typo_is_reported_once_with_the_key_it_missed() -> None:
    context = cdk_json_context()
    network = context["profiles"]["dev"]["network"]
    network["nat_gatways"] = network.pop("nat_gateways")
    with pytest.raises(SettingsError) as caught:
        load_settings({**context, "profile": "dev"}, {})
    assert [p.key for p in caught.value.problems] == ["network.nat_gatways"]
    assert "did you mean network.nat_gateways?" in str(caught.value)


def mirror_sets(count: int) -> list[dict[str, object]]:
    shipped = cdk_json_context()["profiles"]["reference"]["data"]["mirror_sets"]
    extra = [{**shipped[1], "name": f"Set{i}"} for i in range(count - len(shipped))]
    return [*shipped, *extra]


def test_as_many_mirror_sets_as_the_ceiling_load() -> None:
    settings = load(**{"data.mirror_sets": json.dumps(mirror_sets(c.MAX_MIRROR_SETS))})
    assert len(settings.data.mirror_sets) == c.MAX_MIRROR_SETS


def test_more_mirror_sets_than_the_ceiling_are_refused_in_one_line() -> None:
    count = c.MAX_MIRROR_SETS + 1
    with pytest.raises(SettingsError) as caught:
        load(**{"data.mirror_sets": json.dumps(mirror_sets(count))})
    (problem,) = caught.value.problems
    assert problem.key == "data.mirror_sets"
    assert f"at most {c.MAX_MIRROR_SETS} mirror sets" in str(problem)
    assert f"{count} given" in str(problem)


def schema_validator():
    import jsonschema

    from config import schema

    committed = json.loads(schema.SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(committed)
    return jsonschema.Draft202012Validator(committed)


def test_cdk_json_names_the_committed_schema() -> None:
    from config import schema

    cdk_json = json.loads((ROOT / "cdk.json").read_text())
    assert cdk_json["$schema"] == schema.SCHEMA_URI
    assert (ROOT / schema.SCHEMA_URI).resolve() == schema.SCHEMA_PATH


def test_the_schema_accepts_the_shipped_profiles() -> None:
    cdk_json = json.loads((ROOT / "cdk.json").read_text())
    assert set(cdk_json["context"]["profiles"]) == {"reference", "dev", "hybrid"}
    errors = [e.message for e in schema_validator().iter_errors(cdk_json)]
    assert errors == []


@pytest.mark.parametrize(
    ("path", "typo"),
    [
        pytest.param(("network",), "nat_gatways", id="network"),
        pytest.param(("data", "mirror_sets", 0, "database"), "iosp", id="volume"),
        pytest.param((), "availabilty_zones", id="top-level"),
    ],
)
def test_the_schema_rejects_a_typo_in_a_profile(path: tuple[object, ...], typo: str) -> None:
    cdk_json = json.loads((ROOT / "cdk.json").read_text())
    section = cdk_json["context"]["profiles"]["dev"]
    for part in path:
        section = section[part]
    section[typo] = 1
    errors = list(schema_validator().iter_errors(cdk_json))
    assert len(errors) == 1
    assert typo in errors[0].message
    assert list(errors[0].absolute_path) == ["context", "profiles", "dev", *path]


def test_the_schema_checks_single_values_as_the_models_do() -> None:
    cdk_json = json.loads((ROOT / "cdk.json").read_text())
    dev = cdk_json["context"]["profiles"]["dev"]
    dev["network"]["nat_gateways"] = 0
    dev["data"]["mirror_sets"][0]["instance_type"] = "r6i-4xlarge"
    dev["data"]["ami_ids"]["eu-west-1"] = "ami-latest"
    failed = {tuple(e.absolute_path)[3:] for e in schema_validator().iter_errors(cdk_json)}
    assert failed == {("network", "nat_gateways"), ("data", "mirror_sets", 0, "instance_type"), ("data", "ami_ids", "eu-west-1")}


def test_the_schema_and_the_settings_reference_are_generated_from_the_models() -> None:
    from config import schema

    for path, text in schema.rendered().items():
        assert path.read_text() == text, f"{path.relative_to(ROOT)} is out of date: run python -m config.schema"
