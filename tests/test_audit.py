"""Audit, backups, no way out for data, keys (docs/security.md, sections 4 to 7).

Each test reads the session's assemblies; one variant puts the Mendix platform in an account of its own.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable
from typing import Any

import pytest

from components.address_plan import tier_block
from components.endpoint_policies import aws_owned_buckets, custom_resource_response_bucket
from components.session_logging import PREFERENCES_DOCUMENT
from components.vault_lock import vault_lock_configuration
from config import SettingsError, load_settings
from config.audit import VaultLockSettings
from config.constants import INTERFACE_ENDPOINT_SERVICES
from tests.conftest import Synthesized, cdk_json_context
from tests.templates import render, resources, sg_id

REGIONS = ("network", "dr_network")


def one(template: dict[str, Any], type_name: str) -> tuple[str, dict[str, Any]]:
    ((logical_id, resource),) = resources(template, type_name).items()
    return logical_id, resource["Properties"]


def arn_of(synthesized: Synthesized, role: str, prefix: str) -> Any:
    """The ``Fn::GetAtt [<bucket>, Arn]`` of the one bucket of ``role`` whose logical id starts with ``prefix``."""
    (bucket_id,) = [k for k in resources(synthesized.template_json(role), "AWS::S3::Bucket") if k.startswith(prefix)]
    return {"Fn::GetAtt": [bucket_id, "Arn"]}


# ---------------------------------------------------------------- 5. audit


def test_the_trail_is_the_audit_stacks_and_records_data_events_on_the_deployments_data(reference: Synthesized) -> None:
    template = reference.template_json("audit")
    _, trail = one(template, "AWS::CloudTrail::Trail")
    assert trail["IsMultiRegionTrail"] is True and trail["EnableLogFileValidation"] is True
    assert trail["IncludeGlobalServiceEvents"] is True
    assert "KMSKeyId" in trail and "CloudWatchLogsLogGroupArn" in trail
    assert "EventSelectors" not in trail  # a trail takes basic or advanced selectors, never both
    selectors = {s["Name"]: s["FieldSelectors"] for s in trail["AdvancedEventSelectors"]}
    assert selectors["Management events"] == [{"Field": "eventCategory", "Equals": ["Management"]}]
    assert selectors["EBS direct APIs on snapshots"] == [
        {"Field": "eventCategory", "Equals": ["Data"]},
        {"Field": "resources.type", "Equals": ["AWS::EC2::Snapshot"]},
    ]
    objects = selectors["Objects in the buckets that hold patient data, backups or logs"]
    assert objects[:2] == [
        {"Field": "eventCategory", "Equals": ["Data"]},
        {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
    ]
    assert objects[2]["Field"] == "resources.ARN" and set(objects[2]) == {"Field", "StartsWith"}
    # Each bucket by its ARN and a slash: its objects, no bucket whose name merely begins the same.
    wanted = [
        arn_of(reference, "app_tier", "WebAccessLogs"),
        arn_of(reference, "dr_web", "WebAccessLogs"),
        arn_of(reference, "eks", "FileStorage"),
        arn_of(reference, "eks", "AccessLogs"),
    ]
    starts = objects[2]["StartsWith"]
    joined = [s["Fn::Join"] for s in starts[: len(wanted)]]
    assert [j[0] for j in joined] == [""] * len(wanted) and [j[1][1] for j in joined] == ["/"] * len(wanted)
    assert [reference.local(j[1][0]) for j in joined] == wanted
    # Then the DR copies of the replicated buckets (tests/test_replication.py), by name.
    copies = resources(reference.template_json("dr_replicas"), "AWS::S3::Bucket").values()
    names = sorted(b["Properties"]["BucketName"] for b in copies if "BucketName" in b["Properties"])
    assert sorted(render(s) for s in starts[len(wanted) :]) == [f"arn:<Ref:AWS::Partition>:s3:::{n}/" for n in names]
    # The Eks stack has none any more.
    assert resources(reference.template_json("eks"), "AWS::CloudTrail::Trail") == {}


def test_no_trail_where_an_organization_trail_records_the_account(custom: Synthesized) -> None:
    assert not custom.settings.audit.trail
    assert "audit" not in custom.stacks


@pytest.mark.parametrize("profile", ["reference", "dev"])
def test_the_trail_bucket_keeps_every_log_file_under_compliance_mode_object_lock(
    profile: str, reference: Synthesized, dev: Synthesized
) -> None:
    synthesized = {"reference": reference, "dev": dev}[profile]
    (bucket,) = [
        r["Properties"]
        for k, r in resources(synthesized.template_json("audit"), "AWS::S3::Bucket").items()
        if k.startswith("TrailBucket")
    ]
    assert bucket["ObjectLockEnabled"] is True
    assert bucket["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": synthesized.settings.audit.object_lock_days}},
    }
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}


@pytest.mark.parametrize("role", REGIONS)
def test_session_manager_logs_every_session_encrypted_in_each_region(reference: Synthesized, role: str) -> None:
    template = reference.template_json(role)
    _, document = one(template, "AWS::SSM::Document")
    assert document["Name"] == PREFERENCES_DOCUMENT and document["DocumentType"] == "Session"
    inputs = document["Content"]["inputs"]
    (bucket_id,) = [k for k in resources(template, "AWS::S3::Bucket") if k.startswith("SessionsBucket")]
    (group_id,) = [k for k in resources(template, "AWS::Logs::LogGroup") if k.startswith("SessionsLogs")]
    (key_id,) = [k for k in resources(template, "AWS::KMS::Key") if k.startswith("SessionsKey")]
    assert inputs == {
        "s3BucketName": {"Ref": bucket_id},
        "s3KeyPrefix": "sessions",
        "s3EncryptionEnabled": True,
        "cloudWatchLogGroupName": {"Ref": group_id},
        "cloudWatchEncryptionEnabled": True,
        "cloudWatchStreamingEnabled": True,
        "kmsKeyId": {"Ref": key_id},
        "runAsEnabled": False,
        "idleSessionTimeout": "20",
    }
    group = template["Resources"][group_id]["Properties"]
    assert group["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert group["RetentionInDays"] == reference.settings.audit.session_log_retention_days


def test_every_instance_role_of_a_region_may_write_its_session_logs(reference: Synthesized) -> None:
    """Every role EC2 assumes, in every stack of the primary region, holds the network's session policy."""
    (policy_id,) = [
        k
        for k in resources(reference.template_json("network"), "AWS::IAM::ManagedPolicy")
        if k.startswith("SessionsInstancePolicy")
    ]
    primary = reference.settings.region
    checked = 0
    for role, stack in reference.stacks.items():
        if stack.region != primary or role == "network":
            continue
        for role_id, r in resources(reference.template_json(role), "AWS::IAM::Role").items():
            if "ec2.amazonaws.com" not in json.dumps(r["Properties"]["AssumeRolePolicyDocument"]):
                continue
            attached = [reference.local(p) for p in r["Properties"].get("ManagedPolicyArns", [])]
            assert {"Ref": policy_id} in attached, f"{role}/{role_id} cannot log its sessions"
            checked += 1
    assert checked >= 4  # members and arbiters of each set, web, ECP and EKS nodes


# The Mendix platform in an account of its own, which settings allow only without a DR region; no shipped
# profile or variant sets eks.account.
EKS_ACCOUNT = "111111111111"


@pytest.fixture(scope="module")
def own_eks_account(synth: Callable[..., Synthesized]) -> Synthesized:
    return synth("dev", **{"dr": "none", "eks.account": EKS_ACCOUNT})


def test_session_logging_and_the_trail_stay_in_their_own_account(own_eks_account: Synthesized) -> None:
    """Session Manager's preferences and the trail belong to an account and region: a stack of the Mendix
    account shares the deployment's region but none of its session policy or trail (the synthesis itself
    failed with CannotUseCrossEnvironment while stacks were matched by region only)."""
    s = own_eks_account
    assert {s.stacks[r].account for r in ("eks", "eks_network")} == {EKS_ACCOUNT}
    assert s.stacks["eks"].region == s.stacks["network"].region
    (policy_id,) = [
        k for k in resources(s.template_json("network"), "AWS::IAM::ManagedPolicy") if k.startswith("SessionsInstancePolicy")
    ]
    # A value of another stack, by an export or a stack output: as that stack writes it.
    exports = {
        o["Export"]["Name"]: o["Value"] for r in s.stacks for o in s.template_json(r).get("Outputs", {}).values() if "Export" in o
    }

    def local(value: Any) -> Any:
        return exports[value["Fn::ImportValue"]] if isinstance(value, dict) and "Fn::ImportValue" in value else s.local(value)

    def instance_roles_policies(role: str) -> list[Any]:
        return [
            local(p)
            for r in resources(s.template_json(role), "AWS::IAM::Role").values()
            if "ec2.amazonaws.com" in json.dumps(r["Properties"]["AssumeRolePolicyDocument"])
            for p in r["Properties"].get("ManagedPolicyArns", [])
        ]

    # The deployment's own hosts still log their sessions; the Mendix nodes reference nothing of that account.
    assert {"Ref": policy_id} in instance_roles_policies("app_tier")
    assert instance_roles_policies("eks") and "SessionsInstancePolicy" not in json.dumps(s.template_json("eks"))
    # The trail records the objects of its own account's buckets: the web tier's logs, not the Mendix files.
    _, trail = one(s.template_json("audit"), "AWS::CloudTrail::Trail")
    (objects,) = [x["FieldSelectors"] for x in trail["AdvancedEventSelectors"] if x["Name"].startswith("Objects")]
    assert [local(j["Fn::Join"][1][0]) for j in objects[2]["StartsWith"]] == [arn_of(s, "app_tier", "WebAccessLogs")]


# ---------------------------------------------------------------- 6. backups


@pytest.mark.parametrize("role", ["eks", "dr_region"])
def test_the_backup_vaults_are_locked_as_settings_say(reference: Synthesized, role: str) -> None:
    _, vault = one(reference.template_json(role), "AWS::Backup::BackupVault")
    lock = reference.settings.audit.vault_lock
    assert lock.mode == "governance"
    assert vault["LockConfiguration"] == {"MinRetentionDays": lock.min_retention_days}


def test_a_compliance_vault_lock_has_its_grace_time() -> None:
    lock = vault_lock_configuration(VaultLockSettings(mode="compliance", changeable_for_days=5, min_retention_days=3))
    assert lock is not None and lock.changeable_for is not None and lock.min_retention is not None
    assert (lock.changeable_for.to_days(), lock.min_retention.to_days()) == (5, 3)
    governance = vault_lock_configuration(VaultLockSettings(min_retention_days=3))
    assert governance is not None and governance.changeable_for is None


@pytest.mark.parametrize("role", REGIONS)
def test_deleted_project_snapshots_stay_in_a_locked_recycle_bin_in_both_regions(assembly: Synthesized, role: str) -> None:
    _, rule = one(assembly.template_json(role), "AWS::Rbin::Rule")
    a = assembly.settings.audit
    assert rule["ResourceType"] == "EBS_SNAPSHOT"
    assert rule["ResourceTags"] == [{"ResourceTagKey": "Project", "ResourceTagValue": assembly.settings.tags["Project"]}]
    assert rule["RetentionPeriod"] == {"RetentionPeriodUnit": "DAYS", "RetentionPeriodValue": a.recycle_bin_days}
    assert rule["LockConfiguration"] == {"UnlockDelayUnit": "DAYS", "UnlockDelayValue": a.recycle_bin_unlock_delay_days}


# ---------------------------------------------------------------- 4. no way out


def endpoint_policies(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each endpoint's policy by its service (the last part of its service name)."""
    found = {}
    for e in resources(template, "AWS::EC2::VPCEndpoint").values():
        name = json.dumps(e["Properties"]["ServiceName"])
        service = name.rsplit(".amazonaws.com.", 1)[-1].strip('"') if ".amazonaws.com." in name else name.rsplit(".", 1)[-1]
        found[service.strip('"]}')] = e["Properties"].get("PolicyDocument")
    return found


def this_account(account: str) -> dict[str, Any]:
    return {"StringEquals": {"aws:PrincipalAccount": account, "aws:ResourceAccount": account}}


@pytest.mark.parametrize("role", REGIONS)
def test_the_s3_gateway_endpoint_admits_this_accounts_buckets_and_the_named_aws_owned_ones(
    reference: Synthesized, role: str
) -> None:
    template = reference.template_json(role)
    account, region = reference.settings.account, reference.stacks[role].region
    ((gateway,),) = [
        [e for e in resources(template, "AWS::EC2::VPCEndpoint").values() if e["Properties"].get("VpcEndpointType") == "Gateway"]
    ]
    owned = sorted(f"arn:aws:s3:::{b}/*" for names in aws_owned_buckets(region).values() for b in names)
    assert gateway["Properties"]["PolicyDocument"] == {
        "Statement": [
            {
                "Sid": "ThisAccountsPrincipalsOnThisAccountsBuckets",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "s3:*",
                "Resource": "*",
                "Condition": this_account(account),
            },
            {
                "Sid": "ThisAccountsPrincipalsReadAwsOwnedBuckets",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "s3:GetObject",
                "Resource": owned,
                "Condition": {"StringEquals": {"aws:PrincipalAccount": account}},
            },
            {
                "Sid": "CustomResourceResponsesToCloudFormation",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{custom_resource_response_bucket(region)}/*",
            },
        ],
        "Version": "2012-10-17",
    }
    assert f"arn:aws:s3:::prod-{region}-starport-layer-bucket/*" in owned  # every ECR pull


@pytest.mark.parametrize("role", REGIONS)
def test_every_interface_endpoint_admits_only_this_accounts_principals_on_its_resources(
    reference: Synthesized, role: str
) -> None:
    template = reference.template_json(role)
    account, region = reference.settings.account, reference.stacks[role].region
    interface = {
        json.dumps(e["Properties"]["ServiceName"]): e["Properties"]["PolicyDocument"]["Statement"]
        for e in resources(template, "AWS::EC2::VPCEndpoint").values()
        if e["Properties"].get("VpcEndpointType") == "Interface"
    }
    base = {
        "Sid": "ThisAccountsPrincipalsOnThisAccountsResources",
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": "*",
        "Resource": "*",
        "Condition": this_account(account),
    }
    for service in INTERFACE_ENDPOINT_SERVICES:
        (statements,) = [v for k, v in interface.items() if k.endswith(f'.{service}"') or k.endswith(f'.{service}"]]}}')]
        if service != "ssm":
            assert statements == [base], service
            continue
        assert statements == [
            base,
            {
                "Sid": "ThisAccountsPrincipalsReadAwsOwnedParametersAndDocuments",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": ["ssm:DescribeDocument", "ssm:GetDocument", "ssm:GetParameter", "ssm:GetParameters"],
                "Resource": [f"arn:aws:ssm:{region}::document/*", f"arn:aws:ssm:{region}::parameter/aws/*"],
                "Condition": {"StringEquals": {"aws:PrincipalAccount": account}},
            },
        ]
    if role == "network":  # the hosts' CA endpoint: this account's principals, a host's three calls
        (pca,) = [v for k, v in interface.items() if "acm-pca" in k]
        assert pca == [
            {
                "Sid": "ThisAccountsPrincipalsGetTheirCertificates",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": ["acm-pca:GetCertificate", "acm-pca:GetCertificateAuthorityCertificate", "acm-pca:IssueCertificate"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalAccount": account}},
            }
        ]


@pytest.mark.parametrize("role", REGIONS)
def test_the_data_tier_sends_https_only_to_the_endpoints_and_the_s3_prefix_list(reference: Synthesized, role: str) -> None:
    template = reference.template_json(role)
    data = {"Fn::GetAtt": [sg_id(template, "DataSg"), "GroupId"]}
    inline = template["Resources"][data["Fn::GetAtt"][0]]["Properties"].get("SecurityGroupEgress", [])
    separate = [r["Properties"] for r in resources(template, "AWS::EC2::SecurityGroupEgress").values()]
    https = [r for r in [*inline, *separate] if r.get("GroupId", data) == data and r["FromPort"] == 443]
    destinations = set()
    for r in https:
        assert r["ToPort"] == 443 and r["IpProtocol"] == "tcp"
        if "DestinationSecurityGroupId" in r:
            destinations.add(r["DestinationSecurityGroupId"]["Fn::GetAtt"][0].rstrip("0123456789ABCDEF"))
        elif "DestinationPrefixListId" in r:
            lookup = r["DestinationPrefixListId"]["Fn::GetAtt"]
            assert lookup[0].startswith("S3PrefixList") and lookup[1] == "PrefixLists.0.PrefixListId"
            destinations.add("S3PrefixList")
        else:
            destinations.add(r["CidrIp"])
    s = reference.settings
    assert s.dr is not None
    expected = {"EndpointsSg", "S3PrefixList"} | (
        {"PrivateCaEndpointSg"} if role == "network" else {tier_block(s.network.vpc_cidr, "app")}
    )
    assert destinations == expected


def test_the_s3_prefix_list_is_read_at_deploy_time_by_name(reference: Synthesized) -> None:
    template = reference.template_json("network")
    (lookup,) = [r for k, r in resources(template, "Custom::AWS").items() if k.startswith("S3PrefixList")]
    call = json.dumps(lookup["Properties"])
    assert "describeManagedPrefixLists" in call and f"com.amazonaws.{reference.settings.region}.s3" in call


def test_a_custom_resource_waits_for_its_functions_log_group(assembly: Synthesized) -> None:
    """Lambda makes a missing ``/aws/lambda/<function>`` group at the first call (no key, no retention), and the
    function's own group, created later, then fails (already exists): an SDK call at deploy time waits for its
    function's group (the rehearsal's Network stack rolled back on this)."""
    checked = 0
    for path in assembly.template_files():
        found = json.loads(path.read_text())["Resources"]
        groups = {}  # function logical id -> its log group's
        for logical_id, group in resources({"Resources": found}, "AWS::Logs::LogGroup").items():
            name = group["Properties"].get("LogGroupName")
            if isinstance(name, dict) and "Fn::Join" in name and name["Fn::Join"][1][0] == "/aws/lambda/":
                groups[name["Fn::Join"][1][1]["Ref"]] = logical_id
        for logical_id, resource in found.items():
            # An AwsCustomResource's call follows its function's creation at once (the kubectl provider's
            # wait for the cluster).
            token = resource.get("Properties", {}).get("ServiceToken")
            if resource["Type"] == "Custom::AWS" and token.get("Fn::GetAtt", [None])[0] in groups:
                assert groups[token["Fn::GetAtt"][0]] in resource.get("DependsOn", []), f"{path.name}: {logical_id}"
                checked += 1
    assert checked >= 3  # the S3 prefix-list lookups of the network stacks, the Eks stack's NLB lookups


def test_the_hosts_log_only_into_their_own_groups_with_no_retention_or_deletion_rights(reference: Synthesized) -> None:
    s = reference.settings
    template = reference.template_json("data_tier")
    (policy,) = [
        r["Properties"] for k, r in resources(template, "AWS::IAM::ManagedPolicy").items() if k.startswith("IrisHostPolicy")
    ]
    statements = {s.get("Sid"): s for s in policy["PolicyDocument"]["Statement"]}
    groups = [
        {"Fn::GetAtt": [k, "Arn"]}
        for k in sorted(resources(template, "AWS::Logs::LogGroup"))
        if k.startswith(("MemberLogsMessages", "MemberLogsAudit", "MemberLogsIrisMetrics"))
    ]
    assert len(groups) == 3
    assert statements["HostMetricsInTheirNamespace"] == {
        "Sid": "HostMetricsInTheirNamespace",
        "Effect": "Allow",
        "Action": "cloudwatch:PutMetricData",
        "Resource": "*",
        "Condition": {"StringEquals": {"cloudwatch:namespace": "IRIS/Host"}},
    }
    logs = statements["LogEventsIntoTheMembersLogGroups"]
    assert sorted(logs["Action"]) == ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    assert sorted(json.dumps(g) for g in logs["Resource"]) == sorted(json.dumps(g) for g in groups)
    assert statements["NoParametersOutsideTheProject"] == {
        "Sid": "NoParametersOutsideTheProject",
        "Effect": "Deny",
        "Action": ["ssm:GetParameter", "ssm:GetParameterHistory", "ssm:GetParameters", "ssm:GetParametersByPath"],
        "NotResource": f"arn:aws:ssm:{s.region}:{s.account}:parameter/{s.prefix}-*",
    }
    actions = json.dumps([s["Action"] for s in policy["PolicyDocument"]["Statement"]])
    assert not any(a in actions for a in ("logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:Delete"))
    # No data-tier role holds the AWS-managed agent policy any more.
    for role in [r for r in reference.stacks if r.startswith(("mirror_", "dr_mirror_"))]:
        assert "CloudWatchAgentServerPolicy" not in json.dumps(reference.template_json(role))


# ---------------------------------------------------------------- 7. keys


def key_policies(synthesized: Synthesized) -> dict[str, list[dict[str, Any]]]:
    return {
        f"{role}/{k}": r["Properties"]["KeyPolicy"]["Statement"]
        for role in synthesized.stacks
        for k, r in resources(synthesized.template_json(role), "AWS::KMS::Key").items()
    }


def test_only_the_named_key_administrator_may_destroy_a_key(reference: Synthesized, custom: Synthesized) -> None:
    for synthesized in (reference, custom):
        admin = synthesized.settings.audit.key_admin_role
        s = synthesized.settings
        for key, statements in key_policies(synthesized).items():
            by_sid = {x.get("Sid"): x for x in statements}
            deny = by_sid["OnlyTheKeyAdministratorDestroys"]
            assert deny["Effect"] == "Deny" and deny["Principal"] == {"AWS": "*"}, key
            assert sorted(deny["Action"]) == ["kms:DisableKey", "kms:DisableKeyRotation", "kms:ScheduleKeyDeletion"]
            if admin is None:
                assert "Condition" not in deny and "AllowKeyAdministration" not in by_sid, key
                continue
            role_arn = f"arn:aws:iam::{s.account}:role/{admin}"
            assert deny["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": role_arn}}
            assert by_sid["AllowKeyAdministration"]["Principal"] == {"AWS": role_arn}
            assert "kms:Decrypt" not in by_sid["AllowKeyAdministration"]["Action"]
    assert reference.settings.audit.key_admin_role is None and custom.settings.audit.key_admin_role is not None


def test_cloudwatch_logs_may_use_a_key_for_the_projects_log_groups_only(assembly: Synthesized) -> None:
    s = assembly.settings
    checked = 0
    for key, statements in key_policies(assembly).items():
        for x in statements:
            if x.get("Sid") != "AllowCloudWatchLogs":
                continue
            region = assembly.stacks[key.split("/")[0]].region
            base = f"arn:aws:logs:{region}:{s.account}:log-group:"
            patterns = [f"{base}{s.prefix}-*", f"{base}/aws/*/{s.prefix}-*"]
            patterns += [f"{base}/aws/*/{s.prefix.lower()}-*"] if s.prefix.lower() != s.prefix else []
            patterns += [f"{base}aws-waf-logs-{s.prefix}-*"]
            assert x["Condition"] == {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": patterns}}, key
            checked += 1
    assert checked >= 5


def test_every_named_log_group_is_one_its_key_admits(assembly: Synthesized) -> None:
    """A log group whose name the template writes out matches a pattern of the project (else CloudWatch Logs
    could not use the key); the others are named by CloudFormation after their stack."""
    s = assembly.settings
    patterns = [f"{s.prefix}-*", f"/aws/*/{s.prefix}-*", f"/aws/*/{s.prefix.lower()}-*", f"aws-waf-logs-{s.prefix}-*"]
    named = [
        r["Properties"]["LogGroupName"]
        for role in assembly.stacks
        for r in resources(assembly.template_json(role), "AWS::Logs::LogGroup").values()
        if isinstance(r["Properties"].get("LogGroupName"), str)
    ]
    assert named
    assert [n for n in named if not any(fnmatch.fnmatchcase(n, p) for p in patterns)] == []
    assert all(stack.stack_name.startswith(f"{s.prefix}-") for stack in assembly.stacks.values())


def test_the_pipeline_has_a_key_of_its_own(reference: Synthesized) -> None:
    template = reference.template_json("eks")
    keys = {k.rstrip("0123456789ABCDEF"): k for k in resources(template, "AWS::KMS::Key")}
    assert {"PlatformKey", "PipelineKey"} <= set(keys)
    for name, bucket in resources(template, "AWS::S3::Bucket").items():
        if name.startswith(("DeliveryArtifacts", "DeliveryPackages")):
            encryption = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
            assert encryption["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == {"Fn::GetAtt": [keys["PipelineKey"], "Arn"]}


# ---------------------------------------------------------------- settings


def load(**overrides: object) -> Any:
    return load_settings({**cdk_json_context(), **overrides}, {})


@pytest.mark.parametrize(
    ("overrides", "key", "allowed"),
    [
        ({"audit.object_lock_days": "30"}, "audit.object_lock_days", "eks.backup.weekly_retention_days=365"),
        ({"audit.vault_lock.min_retention_days": "60"}, "audit.vault_lock.min_retention_days", "eks.backup.daily_retention_days"),
        ({"audit.vault_lock.changeable_for_days": "10"}, "audit.vault_lock.changeable_for_days", "governance"),
        ({"audit.recycle_bin_days": "400"}, "audit.recycle_bin_days", "1 to 365 days"),
        ({"audit.key_admin_role": "no spaces"}, "audit.key_admin_role", "an IAM role name"),
    ],
)
def test_bad_audit_settings_are_one_clear_line(overrides: dict[str, str], key: str, allowed: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load(**overrides)
    message = caught.value.lines[0]
    assert caught.value.key == key
    assert message.startswith(f"invalid setting {key}=")
    assert allowed in message
    assert all("\n" not in line for line in caught.value.lines)


def test_the_object_lock_must_outlive_the_longest_backup() -> None:
    # Exactly the weekly retention is enough; a day less is refused.
    assert load(**{"audit.object_lock_days": "365"}).audit.object_lock_days == 365
    with pytest.raises(SettingsError, match=r"audit\.object_lock_days=364"):
        load(**{"audit.object_lock_days": "364"})
