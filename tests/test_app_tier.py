"""AppTierStack: the public ALB with TLS, WAF and access logs, the Web Gateway
servers, the ECP application and print servers, and the xDBC name."""

from __future__ import annotations

import json
import re
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template

from components.host_certificate import CertificateAuthority
from components.links import NetworkRefs, TierSecurityGroups
from components.server_fleet import FleetSpec, auto_scaling_role
from components.severity import AlarmTopics
from components.web_gateway import DEFAULT_SERVER_MARKER, HEALTH_PATH, PASSWORD_MARKER, WebGatewayConfig
from components.web_tier import WebTier
from config import constants as c
from config import load_settings
from config.ops import SEVERITIES
from config.placeholders import PLACEHOLDER_AMI, placeholder_certificate_arn
from tests.conftest import QUIET, REAL_AMI, Synthesized, cdk_json_context
from tests.cpf import parse
from tests.templates import ingress_rules, props, render, resources, severity_of, severity_topic, sg_id

# Launch template user data is limited to 16 KB, base64-encoded.
USER_DATA_LIMIT = 16 * 1024
# Elastic Load Balancing's account in eu-west-1, which delivers access logs there.
ELB_ACCOUNT_EU_WEST_1 = "156460612806"


def app(assembly: Synthesized) -> dict[str, Any]:
    return assembly.template_json("app_tier")


def one(template: dict[str, Any], type_name: str) -> tuple[str, dict[str, Any]]:
    (item,) = resources(template, type_name).items()
    return item[0], item[1]["Properties"]


def stack_output(value: Any) -> tuple[str, str]:
    """(stack name, output name) of a weak cross-stack reference."""
    ref = value["Fn::GetStackOutput"]
    return ref["StackName"], ref["OutputName"]


def network_ref(assembly: Synthesized, value: Any) -> str:
    """The logical id in the network template that a reference from the app tier names."""
    stack, output = stack_output(value)
    assert stack == assembly.stacks["network"].stack_name
    target = assembly.template_json("network")["Outputs"][output]["Value"]
    return target["Ref"] if "Ref" in target else target["Fn::GetAtt"][0]


def data_ref(assembly: Synthesized, value: Any) -> tuple[str, str]:
    """(logical id, attribute) in the data tier template that a reference names."""
    stack, output = stack_output(value)
    assert stack in {assembly.stacks[r].stack_name for r in assembly.stacks if r == "data_tier" or r.startswith("mirror_")}
    target = assembly.template_json("data")["Outputs"][output]["Value"]
    return (target["Ref"], "Ref") if "Ref" in target else tuple(target["Fn::GetAtt"])  # type: ignore[return-value]


def launch_templates(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Launch template data by fleet: WebServers, EcpServers, PrintServers."""
    return {
        k.split("LaunchTemplate")[0]: v["Properties"]["LaunchTemplateData"]
        for k, v in resources(template, "AWS::EC2::LaunchTemplate").items()
    }


def groups(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Auto Scaling groups by fleet: WebServers, EcpServers, PrintServers."""
    return {k.split("Group")[0]: v["Properties"] for k, v in resources(template, "AWS::AutoScaling::AutoScalingGroup").items()}


# --------------------------------------------------------------------------
# Public entrance: listeners, stickiness, WAF, access logs
# --------------------------------------------------------------------------


def test_clients_get_https_only_and_port_80_only_redirects(assembly: Synthesized) -> None:
    template = app(assembly)
    listeners = {p["Port"]: p for p in props(template, "AWS::ElasticLoadBalancingV2::Listener")}
    assert sorted(listeners) == [c.HTTP_PORT, c.HTTPS_PORT]
    https = listeners[c.HTTPS_PORT]
    assert https["Protocol"] == "HTTPS"
    assert https["Certificates"] == [{"CertificateArn": assembly.settings.app.certificate_arn}]
    assert https["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"
    http = listeners[c.HTTP_PORT]
    assert http["DefaultActions"] == [
        {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}
    ]
    assert "Certificates" not in http


def test_the_https_listener_forwards_only_the_application_paths_and_answers_404_to_the_rest(
    assembly: Synthesized, custom: Synthesized
) -> None:
    for synthesized in (assembly, custom):  # one application path (reference, dev) and two (custom)
        template = app(synthesized)
        (listener_id,) = [k for k, v in resources(template, "AWS::ElasticLoadBalancingV2::Listener").items()
                          if v["Properties"]["Port"] == c.HTTPS_PORT]  # fmt: skip
        listener = resources(template, "AWS::ElasticLoadBalancingV2::Listener")[listener_id]["Properties"]
        assert listener["DefaultActions"] == [
            {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain",
                                                               "MessageBody": "Not Found"}}
        ]  # fmt: skip
        (group_id,) = resources(template, "AWS::ElasticLoadBalancingV2::TargetGroup")
        rules = sorted(
            ({k: v for k, v in r.items() if k != "Tags"} for r in props(template, "AWS::ElasticLoadBalancingV2::ListenerRule")),
            key=lambda r: r["Priority"],
        )
        assert rules == [
            {
                "ListenerArn": {"Ref": listener_id},
                "Priority": i + 1,
                "Conditions": [{"Field": "path-pattern", "PathPatternConfig": {"Values": [path, f"{path}/*"]}}],
                "Actions": [{"Type": "forward", "TargetGroupArn": {"Ref": group_id}}],
            }
            for i, path in enumerate(synthesized.settings.app.application_paths)
        ]
    assert custom.settings.app.application_paths == ("/csp/healthshare", "/trakcare")


def test_the_alb_is_internet_facing_in_the_public_subnets_and_drops_invalid_headers(assembly: Synthesized) -> None:
    template = app(assembly)
    _, alb = one(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert alb["Scheme"] == "internet-facing" and alb["Type"] == "application"
    assert sorted(network_ref(assembly, s) for s in alb["Subnets"]) == sorted(
        k for k, v in resources(assembly.template_json("network"), "AWS::EC2::Subnet").items() if k.startswith("Vpcpublic")
    )
    (sg,) = alb["SecurityGroups"]
    assert network_ref(assembly, sg).startswith("PublicAlbSg")
    attributes = {a["Key"]: a["Value"] for a in alb["LoadBalancerAttributes"]}
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attributes["deletion_protection.enabled"] == str(assembly.settings.app.deletion_protection).lower()


def test_deletion_protection_is_on_in_reference_and_off_in_dev(reference: Synthesized, dev: Synthesized) -> None:
    for assembly, expected in ((reference, "true"), (dev, "false")):
        _, alb = one(app(assembly), "AWS::ElasticLoadBalancingV2::LoadBalancer")
        attributes = {a["Key"]: a["Value"] for a in alb["LoadBalancerAttributes"]}
        assert attributes["deletion_protection.enabled"] == expected


def test_sessions_stick_by_the_albs_cookie_for_the_configured_duration(
    reference: Synthesized, dev: Synthesized, custom: Synthesized
) -> None:
    for assembly, seconds in ((reference, 28800), (dev, 3600), (custom, 600)):
        assert assembly.settings.app.sticky_duration_seconds == seconds
        _, group = one(app(assembly), "AWS::ElasticLoadBalancingV2::TargetGroup")
        attributes = {a["Key"]: a["Value"] for a in group["TargetGroupAttributes"]}
        assert attributes == {
            "stickiness.enabled": "true",
            "stickiness.type": "lb_cookie",
            "stickiness.lb_cookie.duration_seconds": str(seconds),
        }


def test_the_alb_speaks_https_to_the_web_servers_and_checks_each_on_its_own_health_page(assembly: Synthesized) -> None:
    _, group = one(app(assembly), "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert (group["Protocol"], group["Port"], group["TargetType"]) == ("HTTPS", c.HTTPS_PORT, "instance")
    assert group["HealthCheckProtocol"] == "HTTPS"
    # Apache's own page, not the mirror status page: the web servers' gateways name no member.
    assert group["HealthCheckPath"] == HEALTH_PATH == "/iris-web-health"
    assert not any(HEALTH_PATH.startswith(p) for p in assembly.settings.app.application_paths)  # never forwarded
    assert group["Matcher"] == {"HttpCode": "200"}


def test_waf_guards_the_alb_with_managed_rules_and_the_rate_limit(assembly: Synthesized) -> None:
    template = app(assembly)
    acl_id, acl = one(template, "AWS::WAFv2::WebACL")
    alb_id, _ = one(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    _, association = one(template, "AWS::WAFv2::WebACLAssociation")
    assert association == {"ResourceArn": {"Ref": alb_id}, "WebACLArn": {"Fn::GetAtt": [acl_id, "Arn"]}}
    assert acl["Scope"] == "REGIONAL" and acl["DefaultAction"] == {"Allow": {}}
    rules = {r["Name"]: r for r in acl["Rules"]}
    for group in ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"):
        statement = rules[group]["Statement"]["ManagedRuleGroupStatement"]
        assert statement == {"VendorName": "AWS", "Name": group}
        assert rules[group]["OverrideAction"] == {"None": {}}  # the groups' own block actions apply
    rate = rules["RateLimitPerClient"]
    assert rate["Action"] == {"Block": {}}
    assert rate["Statement"]["RateBasedStatement"] == {
        "Limit": assembly.settings.app.waf_rate_limit,
        "AggregateKeyType": "IP",
        "EvaluationWindowSec": c.WAF_RATE_WINDOW_SECONDS,
    }
    assert [r["Name"] for r in sorted(acl["Rules"], key=lambda r: r["Priority"])] == [
        "BlockSystemPaths",
        "RateLimitPerClient",
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
    ]
    assert len({r["Priority"] for r in acl["Rules"]}) == 4


def test_waf_blocks_the_system_paths_decoded_normalized_in_any_case_before_any_other_rule(assembly: Synthesized) -> None:
    _, acl = one(app(assembly), "AWS::WAFv2::WebACL")
    (block,) = [r for r in acl["Rules"] if r["Name"] == "BlockSystemPaths"]
    assert block["Priority"] == min(r["Priority"] for r in acl["Rules"])
    assert block["Action"] == {"Block": {}}
    transformations = [{"Priority": 0, "Type": "URL_DECODE"}, {"Priority": 1, "Type": "NORMALIZE_PATH"},
                       {"Priority": 2, "Type": "LOWERCASE"}]  # fmt: skip
    assert block["Statement"] == {
        "OrStatement": {
            "Statements": [
                {
                    "ByteMatchStatement": {
                        "FieldToMatch": {"UriPath": {}},
                        "PositionalConstraint": "STARTS_WITH",
                        "SearchString": path,
                        "TextTransformations": transformations,
                    }
                }
                for path in ("/csp/sys", "/csp/docbook", "/csp/documatic", "/api/mgmnt", "/csp/bin")
            ]
        }
    }


def test_waf_logs_to_an_encrypted_log_group_without_credentials(assembly: Synthesized) -> None:
    template = app(assembly)
    acl_id, _ = one(template, "AWS::WAFv2::WebACL")
    _, logging = one(template, "AWS::WAFv2::LoggingConfiguration")
    log_group_id, log_group = next(
        (k, v) for k, v in resources(template, "AWS::Logs::LogGroup").items() if k.startswith("WebWafLogs")
    )
    assert logging["ResourceArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    (destination,) = logging["LogDestinationConfigs"]
    assert render(destination).endswith(f"log-group:<Ref:{log_group_id}>")  # no ":*" suffix: WAF refuses it
    assert {f["SingleHeader"]["Name"] for f in logging["RedactedFields"]} == {"authorization", "cookie"}
    p = log_group["Properties"]
    assert p["LogGroupName"].startswith("aws-waf-logs-")
    assert p["RetentionInDays"] == assembly.settings.app.log_retention_days
    assert p["KmsKeyId"] == {"Fn::GetAtt": [one(template, "AWS::KMS::Key")[0], "Arn"]}
    assert log_group["DeletionPolicy"] == "Retain"


def test_access_logs_go_to_an_encrypted_versioned_private_bucket_that_expires_them(assembly: Synthesized) -> None:
    template = app(assembly)
    bucket_id, bucket = next(iter(resources(template, "AWS::S3::Bucket").items()))
    p = bucket["Properties"]
    # ELB log delivery writes only to SSE-S3 buckets.
    assert p["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    assert p["VersioningConfiguration"] == {"Status": "Enabled"}
    assert p["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert p["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    (rule,) = p["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["ExpirationInDays"] == assembly.settings.app.log_retention_days
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert bucket["DeletionPolicy"] == "Retain"

    _, alb = one(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    attributes = {a["Key"]: a["Value"] for a in alb["LoadBalancerAttributes"]}
    assert attributes["access_logs.s3.enabled"] == "true"
    assert attributes["access_logs.s3.bucket"] == {"Ref": bucket_id}


def test_access_log_bucket_refuses_plain_http_and_admits_only_elb_log_delivery(assembly: Synthesized) -> None:
    template = app(assembly)
    bucket_id, _ = next(iter(resources(template, "AWS::S3::Bucket").items()))
    _, policy = one(template, "AWS::S3::BucketPolicy")
    assert policy["Bucket"] == {"Ref": bucket_id}
    statements = policy["PolicyDocument"]["Statement"]
    deny = [s for s in statements if s["Effect"] == "Deny"]
    assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny[0]["Principal"] == {"AWS": "*"} and deny[0]["Action"] == "s3:*"
    writers = [s for s in statements if s["Effect"] == "Allow" and "s3:PutObject" in json.dumps(s["Action"])]
    principals = {render(s["Principal"].get("AWS", "")) or s["Principal"]["Service"] for s in writers}
    # eu-west-1 predates log delivery by service principal: ELB's account writes there.
    assert principals == {f"arn:aws:iam::{ELB_ACCOUNT_EU_WEST_1}:root", "delivery.logs.amazonaws.com"}
    for s in writers:
        assert render(s["Resource"]).endswith(f"/alb/AWSLogs/{assembly.settings.account}/*")


# --------------------------------------------------------------------------
# Servers: placement, hardening, user data
# --------------------------------------------------------------------------


def _subnet_tiers_and_zones(assembly: Synthesized, subnet_refs: list[Any]) -> list[tuple[str, str]]:
    subnets = resources(assembly.template_json("network"), "AWS::EC2::Subnet")
    found = []
    for ref in subnet_refs:
        subnet = subnets[network_ref(assembly, ref)]["Properties"]
        tier = next(t["Value"] for t in subnet["Tags"] if t["Key"] == "aws-cdk:subnet-name")
        found.append((tier, subnet["AvailabilityZone"]))
    return found


@pytest.mark.parametrize(("fleet", "tier"), [("WebServers", "web"), ("EcpServers", "app"), ("PrintServers", "app")])
def test_each_group_spans_the_three_zones_of_its_tier(reference: Synthesized, fleet: str, tier: str) -> None:
    group = groups(app(reference))[fleet]
    placed = _subnet_tiers_and_zones(reference, group["VPCZoneIdentifier"])
    assert sorted(placed) == sorted((tier, az) for az in reference.settings.availability_zones)
    assert group["AvailabilityZoneDistribution"] == {"CapacityDistributionStrategy": "balanced-best-effort"}


def test_group_sizes_come_from_settings_with_one_web_server_per_zone_in_reference(
    reference: Synthesized, dev: Synthesized, custom: Synthesized
) -> None:
    web = groups(app(reference))["WebServers"]
    assert int(web["MinSize"]) == len(reference.settings.availability_zones) == 3
    for assembly in (reference, dev, custom):
        a = assembly.settings.app
        found = groups(app(assembly))
        web = found["WebServers"]
        assert (int(web["MinSize"]), int(web["MaxSize"])) == (a.web.min_capacity, a.web.max_capacity)
        assert (int(found["EcpServers"]["MinSize"]), int(found["EcpServers"]["MaxSize"])) == (
            a.ecp.min_capacity,
            a.ecp.max_capacity,
        )
        if a.print_servers.count:
            p = found["PrintServers"]
            assert int(p["MinSize"]) == int(p["MaxSize"]) == a.print_servers.count
        else:
            assert "PrintServers" not in found
    assert reference.settings.app.print_servers.count == 2  # the TrakCare example
    assert custom.settings.app.print_servers.count == 1


def test_only_the_web_group_takes_traffic_from_the_alb(assembly: Synthesized) -> None:
    template = app(assembly)
    target_group_id, _ = one(template, "AWS::ElasticLoadBalancingV2::TargetGroup")
    for fleet, group in groups(template).items():
        assert group.get("TargetGroupARNs") == ([{"Ref": target_group_id}] if fleet == "WebServers" else None), fleet


def test_launch_templates_are_hardened(assembly: Synthesized) -> None:
    template = app(assembly)
    (key_id,) = resources(template, "AWS::KMS::Key")
    a = assembly.settings.app
    for fleet, data in launch_templates(template).items():
        assert data["MetadataOptions"]["HttpTokens"] == "required", fleet
        assert data["Monitoring"] == {"Enabled": True}
        assert data["EbsOptimized"] is True
        assert "KeyName" not in data  # SSM Session Manager, no SSH
        assert "NetworkInterfaces" not in data  # no public address
        (root,) = data["BlockDeviceMappings"]
        assert root["DeviceName"] == a.root_device_name
        assert root["Ebs"] == {
            "DeleteOnTermination": True,
            "Encrypted": True,
            "KmsKeyId": {"Fn::GetAtt": [key_id, "Arn"]},
            "VolumeSize": a.root_volume_gib,
            "VolumeType": "gp3",
        }


def test_images_are_pinned_from_settings(assembly: Synthesized, custom: Synthesized) -> None:
    for a in (assembly, custom):
        region = a.settings.region
        images = {fleet: data["ImageId"] for fleet, data in launch_templates(app(a)).items()}
        assert images.pop("WebServers") == a.settings.app.web_ami_ids[region]
        assert set(images.values()) == {a.settings.app.ecp_ami_ids[region]}
        parameters = [p for n, p in app(a).get("Parameters", {}).items() if n != "BootstrapVersion"]
        assert parameters == []  # no SSM "latest" image parameter


def test_placeholders_fail_a_deployment_before_any_resource(dev: Synthesized, custom: Synthesized) -> None:
    (rule,) = [r for name, r in app(dev)["Rules"].items() if name == "PlaceholdersAreReplaced"]
    asserted = {a["Assert"]["Fn::Not"][0]["Fn::Equals"][1] for a in rule["Assertions"]}
    assert asserted == {PLACEHOLDER_AMI, placeholder_certificate_arn("eu-west-1")}
    descriptions = " ".join(a["AssertDescription"] for a in rule["Assertions"])
    for key in ("app.web_ami_ids.eu-west-1", "app.ecp_ami_ids.eu-west-1", "app.certificate_arn"):
        assert key in descriptions
    assert "PlaceholdersAreReplaced" not in app(custom).get("Rules", {})


def test_fleets_use_their_tier_security_groups(assembly: Synthesized) -> None:
    expected = {"WebServers": "WebSg", "EcpServers": "AppSg", "PrintServers": "AppSg"}
    for fleet, data in launch_templates(app(assembly)).items():
        (sg,) = data["SecurityGroupIds"]
        assert network_ref(assembly, sg).startswith(expected[fleet])


def test_groups_launch_through_the_stacks_auto_scaling_role_which_the_key_admits(assembly: Synthesized) -> None:
    template = app(assembly)
    role_id, role = one(template, "AWS::IAM::ServiceLinkedRole")
    stack = assembly.stacks["app_tier"].stack_name
    assert role == {
        "AWSServiceName": "autoscaling.amazonaws.com",
        "CustomSuffix": stack,
        "Description": f"EC2 Auto Scaling for the groups of {stack}",
    }
    arn = (
        f"arn:aws:iam::{assembly.settings.account}:role/aws-service-role/autoscaling.amazonaws.com/"
        f"AWSServiceRoleForAutoScaling_{stack}"
    )
    for k, v in resources(template, "AWS::AutoScaling::AutoScalingGroup").items():
        assert v["Properties"]["ServiceLinkedRoleARN"] == arn, k
        assert role_id in v["DependsOn"]
    (key,) = resources(template, "AWS::KMS::Key").values()
    assert role_id in key["DependsOn"]  # a key policy may name only existing principals
    statements = {s.get("Sid"): s for s in key["Properties"]["KeyPolicy"]["Statement"]}
    assert statements["AllowAutoScalingVolumes"]["Principal"] == {"AWS": arn}
    grants = statements["AllowAutoScalingVolumeGrants"]
    assert grants["Action"] == "kms:CreateGrant"
    assert grants["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": True}}
    # Grants only for AWS resources or by AWS services (Control Tower CT.KMS.PR.3).
    deny = statements["DenyGrantsNotForAwsResources"]
    assert (deny["Effect"], deny["Principal"], deny["Action"], deny["Resource"]) == ("Deny", {"AWS": "*"}, "kms:CreateGrant", "*")
    assert deny["Condition"] == {"BoolIfExists": {"kms:GrantIsForAWSResource": "false", "aws:PrincipalIsAWSService": "false"}}
    assert key["DeletionPolicy"] == "Retain" and key["Properties"]["EnableKeyRotation"] is True


def test_groups_replace_servers_one_at_a_time_and_alarm_below_their_minimum(assembly: Synthesized) -> None:
    template = app(assembly)
    below = {
        a["Dimensions"][0]["Value"]["Ref"]: a
        for a in props(template, "AWS::CloudWatch::Alarm")
        if a.get("MetricName") == "GroupInServiceInstances"
    }
    for k, v in resources(template, "AWS::AutoScaling::AutoScalingGroup").items():
        p, update = v["Properties"], v["UpdatePolicy"]["AutoScalingRollingUpdate"]
        assert update["MaxBatchSize"] == 1
        assert update["MinInstancesInService"] == int(p["MinSize"]) - 1
        # The web servers' health page tests them alone; the other groups have no load balancer.
        assert p["HealthCheckType"] == ("ELB" if k.startswith("WebServers") else "EC2"), k
        assert int(p["HealthCheckGracePeriod"]) >= 60
        assert p["MetricsCollection"] == [{"Granularity": "1Minute"}]
        alarm = below[k]
        assert alarm["ComparisonOperator"] == "LessThanThreshold"
        assert alarm["Threshold"] == int(p["MinSize"])
        assert _alarm_topic(assembly, severity_of(alarm)) in alarm["AlarmActions"]


def _read_cspsystem(assembly: Synthesized, statements: list[dict[str, Any]]) -> None:
    """Read and decrypt the CSPSystem password the data tier gave IRIS, under the data tier's key, and nothing else."""
    read, decrypt = statements
    secret_id, _ = data_ref(assembly, read["Resource"])
    assert secret_id.startswith(f"{assembly.settings.app.mirror_set}CredentialsCSPSystem")
    assert sorted(read["Action"]) == ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
    assert decrypt["Action"] == "kms:Decrypt"
    assert data_ref(assembly, decrypt["Resource"])[0].startswith("DataKey")
    assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}}


def test_server_roles_hold_ssm_the_cloudwatch_agent_and_the_cspsystem_password(assembly: Synthesized) -> None:
    """Web servers read the password and list the running application servers; ECP servers read the password."""
    template = app(assembly)
    # The servers' roles; the access logs' replication role (dr.replicate_buckets) is tests/test_replication.py's.
    roles = {k: r for k, r in resources(template, "AWS::IAM::Role").items() if "ReplicationRole" not in k}
    assert sorted(k.rstrip("0123456789ABCDEF") for k in roles) == ["EcpServerRole", "WebRole"]
    policies = {k: p for k, p in resources(template, "AWS::IAM::ManagedPolicy").items() if "ReplicationPolicy" not in k}
    attached: dict[str, list[str]] = {}
    for role_id, role in roles.items():
        p = role["Properties"]
        assert p["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
        names = sorted(render(a).rsplit("/", 1)[-1] for a in p["ManagedPolicyArns"] if "Fn::Join" in a)
        assert names == ["AmazonSSMManagedInstanceCore", "CloudWatchAgentServerPolicy"]
        assert "Policies" not in p
        own = sorted(a["Ref"] for a in p["ManagedPolicyArns"] if "Ref" in a)
        attached[role_id.rstrip("0123456789ABCDEF")] = [k.rstrip("0123456789ABCDEF") for k in own]
    assert props(template, "AWS::IAM::Policy") == []  # no inline policies
    # The certificate policies' statements are checked in tests/test_certificates.py.
    assert attached == {
        "EcpServerRole": ["EcpCertificatePolicy", "ReadCspSystemPassword"],
        "WebRole": ["WebFindApplicationServers", "WebHostCertificatePolicy", "WebReadGatewayPassword"],
    }
    by_name = {k.rstrip("0123456789ABCDEF"): v["Properties"]["PolicyDocument"]["Statement"] for k, v in policies.items()}
    _read_cspsystem(assembly, by_name["WebReadGatewayPassword"])
    _read_cspsystem(assembly, by_name["ReadCspSystemPassword"])
    # The one action that accepts no resource: it reads, and changes nothing.
    assert by_name["WebFindApplicationServers"] == [{"Action": "ec2:DescribeInstances", "Effect": "Allow", "Resource": "*"}]


def test_the_gateway_password_is_the_data_tiers_generated_cspsystem_password(assembly: Synthesized) -> None:
    assert resources(app(assembly), "AWS::SecretsManager::Secret") == {}  # one password, where IRIS got it
    data = assembly.template_json("data")
    (key_id,) = [k for k in resources(data, "AWS::KMS::Key") if k.startswith("DataKey")]
    secret_id = next(k for k in resources(data, "AWS::SecretsManager::Secret") if "CSPSystem" in k)
    secret = data["Resources"][secret_id]["Properties"]
    assert assembly.local(secret["KmsKeyId"]) == {"Fn::GetAtt": [key_id, "Arn"]}
    generated = secret["GenerateSecretString"]
    assert generated["PasswordLength"] >= 32
    assert generated["ExcludePunctuation"] is True  # CSP.ini and the shell take it as it is


def _shipped(user_data: str, path: str) -> str:
    """The text of a file the user data writes with install_file_commands."""
    return user_data.split(f"{path} <<'IRIS_EOF'\n")[1].split("\nIRIS_EOF")[0]


def test_web_user_data_serves_from_the_ecp_application_servers_over_tls(assembly: Synthesized) -> None:
    template = app(assembly)
    user_data = render(launch_templates(template)["WebServers"]["UserData"])
    assert len(user_data) * 4 / 3 < USER_DATA_LIMIT
    mirror = assembly.settings.app.mirror_set
    # The servers are the running instances of the ECP application servers' group, found at boot and by the timer.
    (group_id,) = [k for k in resources(template, "AWS::AutoScaling::AutoScalingGroup") if k.startswith("EcpServers")]
    assert re.search(r"^APP_SERVER_GROUP=(.*)$", user_data, re.MULTILINE).group(1) == f"<Ref:{group_id}>"  # type: ignore[union-attr]
    assert re.search(r'^MEMBER_PROFILES="(.*)"$', user_data, re.MULTILINE).group(1) == ""  # type: ignore[union-attr]
    assert "systemctl enable --now iris-web-gateway-refresh.timer" in user_data
    csp_ini = _shipped(user_data, "/etc/iris-aws/CSP.ini.template")
    assert "Ip_Address" not in csp_ini  # no data member: the profiles are the application servers'
    for path in assembly.settings.app.application_paths:
        assert f"[APP_PATH:{path}]\nDefault_Server={DEFAULT_SERVER_MARKER}\nAlternative_Servers=LoadBalancing" in csp_ini
    assert "System_Manager=127.0.0.1" in csp_ini
    # The gateway's application access: the application paths only; the root and the system applications off.
    index = csp_ini.split("[APP_PATH_INDEX]\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert index == [f"{path}=Disabled" for path in ("/", "/csp", "/api", "/csp/sys", "/csp/docbook", "/csp/documatic",
                     "/api/mgmnt")] + [f"{path}=Enabled" for path in assembly.settings.app.application_paths]  # fmt: skip
    server = dict(line.split("=", 1) for line in _shipped(user_data, "/etc/iris-aws/CSP.ini.server").splitlines()[1:])
    assert server == {
        "Ip_Address": "@@ADDRESS@@",
        "TCP_Port": str(c.IRIS_SUPERSERVER_PORT),
        "Username": c.WEB_GATEWAY_USER,
        "Password": PASSWORD_MARKER,
        "Minimum_Server_Connections": "3",
        "Maximum_Session_Connections": "6",
        "Connection_Security_Level": "10",  # SSL/TLS to the superserver
        "SSLCC_Protocol_Min": "16",
        "SSLCC_Protocol_Max": "32",
        "SSLCC_Key_Type": "2",
        "SSLCC_Certificate_File": "/etc/iris-tls/host.crt",
        "SSLCC_Certificate_Key_File": "/etc/iris-tls/host.key",
        "SSLCC_CA_Certificate_File": "/etc/iris-tls/ca.crt",
    }
    secret = re.search(r"^CREDENTIALS_SECRET=(.*)$", user_data, re.MULTILINE).group(1)  # type: ignore[union-attr]
    ((secret_id, _),) = [
        data_ref(assembly, {"Fn::GetStackOutput": {"StackName": s, "OutputName": o}}) for s, o in _outputs([secret], assembly)
    ]
    assert secret_id.startswith(f"{mirror}CredentialsCSPSystem")
    # The host's CA (tests/test_certificates.py) is the other stack's value it reads.
    ca = re.search(r"^CA_ARN='(.*)'$", user_data, re.MULTILINE).group(1)  # type: ignore[union-attr]
    assert ca.startswith("<Output:PublishOutputFnGetAttRootCaArn")
    assert "<Output:" not in user_data.replace(secret, "").replace(ca, "")  # no member address from the data tier
    assert "VipNlb" not in user_data
    assert user_data.rstrip().endswith("/usr/local/sbin/iris-web-gateway-setup")


def _outputs(rendered: list[str], assembly: Synthesized) -> list[tuple[str, str]]:
    stack = assembly.stacks["data_tier"].stack_name
    return [(stack, re.fullmatch(r"<Output:(.+)>", r).group(1)) for r in rendered]  # type: ignore[union-attr]


def test_ecp_and_print_servers_connect_to_the_initial_primary_as_a_mirror_connection_over_tls(reference: Synthesized) -> None:
    template = app(reference)
    mirror = reference.settings.app.mirror_set
    primary = next(m.initial_primary for m in reference.settings.data.mirror_sets if m.name == mirror)
    for fleet in ("EcpServers", "PrintServers"):
        user_data = render(launch_templates(template)[fleet]["UserData"])
        assert len(user_data) * 4 / 3 < USER_DATA_LIMIT
        merge = parse(_shipped(user_data, "/etc/iris-aws/ecp-client.cpf"))
        address, port, mirror_connection, ssl = merge.sections["ECPServers"][mirror].split(",")
        output = re.fullmatch(r"<Output:(.+)>", address)
        assert output is not None, address
        member, attribute = data_ref(
            reference,
            {"Fn::GetStackOutput": {"StackName": reference.stacks["data_tier"].stack_name, "OutputName": output.group(1)}},
        )
        assert member.startswith(f"{mirror}Member{primary}Instance") and attribute == "PrivateIp"
        assert (port, mirror_connection, ssl) == (str(c.IRIS_SUPERSERVER_PORT), "1", "1")  # follows the primary, TLS on
        configs = {a.params["Name"]: a.params for a in merge.action("CreateSSLConfig")}
        assert configs["%ECPClient"]["VerifyPeer"] == "1" and configs["%ECPClient"]["CAFile"] == "/etc/iris-tls/ca.crt"
        assert configs["%SuperServer"]["Type"] == "1"
        # Remote databases and namespaces: app.ecp_databases, over the mirror connection.
        assert [(a.params["Name"], a.params["Server"], a.params["LogicalOnly"]) for a in merge.action("CreateDatabase")] == [
            (db.name, mirror, "1") for db in reference.settings.app.ecp_databases
        ]
        assert [(a.params["Name"], a.params["Globals"]) for a in merge.action("CreateNamespace")] == [
            (db.namespace, db.name) for db in reference.settings.app.ecp_databases
        ]
        secret = re.search(r"^CSPSYSTEM_SECRET=(.*)$", user_data, re.MULTILINE).group(1)  # type: ignore[union-attr]
        ((secret_id, _),) = [
            data_ref(reference, {"Fn::GetStackOutput": {"StackName": stack, "OutputName": name}})
            for stack, name in _outputs([secret], reference)
        ]
        assert secret_id.startswith(f"{mirror}CredentialsCSPSystem")
        assert f"CACHE_MOUNT={c.ECP_CACHE_MOUNT}" in user_data
        assert f"IRIS_INSTANCE={reference.settings.data.iris_instance}" in user_data
        assert "systemctl enable iris-ecp-client.service" in user_data


def test_ecp_servers_may_use_instance_store_for_their_cache(reference: Synthesized) -> None:
    # r6id has NVMe instance store; the boot script formats and mounts it.
    assert reference.settings.app.ecp.instance_type.startswith("r6id")
    data = launch_templates(app(reference))["EcpServers"]
    assert data["InstanceType"] == reference.settings.app.ecp.instance_type


# --------------------------------------------------------------------------
# Security groups
# --------------------------------------------------------------------------


def _rules_into(template: dict[str, Any], prefix: str) -> list[tuple[str, int, int]]:
    group = {"Fn::GetAtt": [sg_id(template, prefix), "GroupId"]}
    names = {k: k[:-8] for k in resources(template, "AWS::EC2::SecurityGroup")}
    found = []
    for rule in ingress_rules(template):
        if rule["GroupId"] != group:
            continue
        source = rule.get("SourceSecurityGroupId")
        found.append((names[source["Fn::GetAtt"][0]] if source else rule.get("CidrIp", "?"), rule["FromPort"], rule["ToPort"]))
    return sorted(found)


def _rules_out_of(template: dict[str, Any], prefix: str) -> list[tuple[str, int, int]]:
    group_id = sg_id(template, prefix)
    names = {k: k[:-8] for k in resources(template, "AWS::EC2::SecurityGroup")}
    found = []
    for rule in resources(template, "AWS::EC2::SecurityGroup")[group_id]["Properties"].get("SecurityGroupEgress", []):
        found.append((rule.get("CidrIp", "?"), rule["FromPort"], rule["ToPort"]))
    for rule in props(template, "AWS::EC2::SecurityGroupEgress"):
        if rule["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}:
            found.append((names[rule["DestinationSecurityGroupId"]["Fn::GetAtt"][0]], rule["FromPort"], rule["ToPort"]))
    return sorted(found)


def test_web_servers_accept_https_from_the_alb_only(assembly: Synthesized) -> None:
    assert _rules_into(assembly.template_json("network"), "WebSg") == [("PublicAlbSg", c.HTTPS_PORT, c.HTTPS_PORT)]


def test_web_servers_reach_the_application_servers_not_the_data_tier(assembly: Synthesized) -> None:
    one_port = (c.IRIS_SUPERSERVER_PORT, c.IRIS_SUPERSERVER_PORT)
    assert _rules_out_of(assembly.template_json("network"), "WebSg") == sorted(
        [("0.0.0.0/0", c.HTTPS_PORT, c.HTTPS_PORT), ("AppSg", *one_port)]
    )


def test_app_servers_accept_only_the_web_tier_on_the_superserver_port(assembly: Synthesized) -> None:
    one_port = (c.IRIS_SUPERSERVER_PORT, c.IRIS_SUPERSERVER_PORT)
    assert _rules_into(assembly.template_json("network"), "AppSg") == [("WebSg", *one_port)]


def test_app_servers_reach_the_data_tier_on_1972_only(assembly: Synthesized) -> None:
    one_port = (c.IRIS_SUPERSERVER_PORT, c.IRIS_SUPERSERVER_PORT)
    assert _rules_out_of(assembly.template_json("network"), "AppSg") == sorted(
        [("0.0.0.0/0", c.HTTPS_PORT, c.HTTPS_PORT), ("DataLbSg", *one_port), ("DataSg", *one_port)]
    )


def test_xdbc_clients_reach_the_mirror_vip_on_1972_and_nothing_else(assembly: Synthesized) -> None:
    network = assembly.template_json("network")
    one_port = (c.IRIS_SUPERSERVER_PORT, c.IRIS_SUPERSERVER_PORT)
    assert _rules_out_of(network, "XdbcClientSg") == [("DataLbSg", *one_port)]
    assert _rules_into(network, "XdbcClientSg") == []
    assert ("XdbcClientSg", *one_port) in _rules_into(network, "DataLbSg")
    assert not any(source == "XdbcClientSg" for source, *_ in _rules_into(network, "DataSg"))


def test_the_alb_reaches_the_web_servers_only(assembly: Synthesized) -> None:
    assert _rules_out_of(assembly.template_json("network"), "PublicAlbSg") == [("WebSg", c.HTTPS_PORT, c.HTTPS_PORT)]


def test_the_app_tier_opens_no_port_of_its_own(assembly: Synthesized) -> None:
    template = app(assembly)
    for type_name in ("AWS::EC2::SecurityGroup", "AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress"):
        assert resources(template, type_name) == {}, type_name


# --------------------------------------------------------------------------
# xDBC/TCP clients: a name for the mirror VIP
# --------------------------------------------------------------------------


def test_xdbc_clients_reach_the_primary_through_the_mirror_vip_by_name(assembly: Synthesized) -> None:
    template = app(assembly)
    a = assembly.settings.app
    zone_id, zone = one(template, "AWS::Route53::HostedZone")
    assert zone["Name"] == f"{a.private_zone_name}."
    (vpc,) = zone["VPCs"]
    assert network_ref(assembly, vpc["VPCId"]).startswith("Vpc")
    _, record = one(template, "AWS::Route53::RecordSet")
    assert record["Name"] == f"{a.mirror_set.lower()}.{a.private_zone_name}."
    assert record["Type"] == "A" and record["HostedZoneId"] == {"Ref": zone_id}
    alias = record["AliasTarget"]
    # The very NLB the failover function retargets: the same mechanism, no second one.
    nlb, attribute = data_ref(assembly, alias["DNSName"])
    assert (nlb.startswith(f"{a.mirror_set}VipNlb"), attribute) == (True, "DNSName")
    assert data_ref(assembly, alias["HostedZoneId"]) == (nlb, "CanonicalHostedZoneID")
    # An IPv4 NLB has no "dualstack." name.
    assert "Fn::Join" not in alias["DNSName"]


def test_the_vip_the_name_points_at_is_the_one_the_failover_function_switches(assembly: Synthesized) -> None:
    data = assembly.template_json("data")
    _, record = one(app(assembly), "AWS::Route53::RecordSet")
    nlb, _ = data_ref(assembly, record["AliasTarget"]["DNSName"])
    listeners = [
        k
        for k, v in resources(data, "AWS::ElasticLoadBalancingV2::Listener").items()
        if v["Properties"]["LoadBalancerArn"] == {"Ref": nlb}
    ]
    assert listeners
    # The application's mirror set grants the shared function ModifyListener on exactly these listeners.
    (policy,) = props(assembly.template_json(f"mirror_{assembly.settings.app.mirror_set}"), "AWS::IAM::Policy")
    (switch,) = policy["PolicyDocument"]["Statement"]
    assert switch["Sid"] == "SwitchListeners"
    assert {r["Ref"] for r in switch["Resource"]} == set(listeners)


def test_outputs_name_the_site_and_the_xdbc_endpoint(assembly: Synthesized) -> None:
    outputs = app(assembly)["Outputs"]
    a = assembly.settings.app
    assert outputs["XdbcEndpoint"]["Value"] == f"{a.mirror_set.lower()}.{a.private_zone_name}:{c.IRIS_SUPERSERVER_PORT}"
    assert network_ref(assembly, outputs["XdbcClientSecurityGroup"]["Value"]).startswith("XdbcClientSg")
    alb_id, _ = one(app(assembly), "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert outputs["SiteDnsName"]["Value"] == {"Fn::GetAtt": [alb_id, "DNSName"]}


# --------------------------------------------------------------------------
# Scaling and alarms
# --------------------------------------------------------------------------


def test_web_servers_scale_on_cpu_and_requests_and_ecp_servers_on_cpu(assembly: Synthesized, custom: Synthesized) -> None:
    for a in (assembly, custom):
        s = a.settings.app.scaling
        template = app(a)
        by_fleet: dict[str, list[dict[str, Any]]] = {}
        for p in props(template, "AWS::AutoScaling::ScalingPolicy"):
            fleet = p["AutoScalingGroupName"]["Ref"].split("Group")[0]
            by_fleet.setdefault(fleet, []).append(p)
            assert p["PolicyType"] == "TargetTrackingScaling"
            assert p["EstimatedInstanceWarmup"] == s.warmup_seconds
            assert "Cooldown" not in p  # simple scaling only; target tracking uses the warmup
        metrics = {
            fleet: sorted(
                (
                    p["TargetTrackingConfiguration"]["PredefinedMetricSpecification"]["PredefinedMetricType"],
                    p["TargetTrackingConfiguration"]["TargetValue"],
                )
                for p in policies
            )
            for fleet, policies in by_fleet.items()
        }
        assert metrics == {
            "WebServers": sorted(
                [
                    ("ASGAverageCPUUtilization", s.cpu_target_percent),
                    ("ALBRequestCountPerTarget", s.requests_per_target_per_minute),
                ]
            ),
            "EcpServers": [("ASGAverageCPUUtilization", s.cpu_target_percent)],
        }
        for group in groups(template).values():
            assert group["DefaultInstanceWarmup"] == s.warmup_seconds
    assert custom.settings.app.scaling.cpu_target_percent == 45


def _alarm_topic(assembly: Synthesized, severity: str) -> Any:
    """The app tier's reference to the data tier's alarm topic of ``severity``."""
    topic = severity_topic(assembly.template_json("data"), severity)["Ref"]
    outputs = app(assembly)
    for a in props(outputs, "AWS::CloudWatch::Alarm"):
        for action in a.get("AlarmActions", []):
            if data_ref(assembly, action) == (topic, "Ref"):
                return action
    raise AssertionError(f"no alarm notifies the data tier's {severity} topic")


def test_web_alarms_on_5xx_rate_response_time_and_unhealthy_hosts_go_to_the_alarm_topic(assembly: Synthesized) -> None:
    template = app(assembly)
    t = assembly.settings.app.alarms
    alarms = {
        k.removeprefix("Web")[:-8]: v["Properties"]
        for k, v in resources(template, "AWS::CloudWatch::Alarm").items()
        if k.startswith("Web") and not k.startswith("WebServers")
    }
    assert sorted(alarms) == ["Http5xxRate", "ResponseTime", "UnhealthyHosts"]
    for a in alarms.values():
        topic = _alarm_topic(assembly, severity_of(a))
        assert a["AlarmActions"] == [topic] and a["OKActions"] == [topic]
        assert a["TreatMissingData"] == "notBreaching"
    rate = alarms["Http5xxRate"]
    assert rate["Threshold"] == t.http_5xx_percent
    expression = next(m for m in rate["Metrics"] if "Expression" in m)
    assert "elb5xx" in expression["Expression"] and "target5xx" in expression["Expression"]
    metric_names = {m["MetricStat"]["Metric"]["MetricName"] for m in rate["Metrics"] if "MetricStat" in m}
    assert metric_names == {"RequestCount", "HTTPCode_ELB_5XX_Count", "HTTPCode_Target_5XX_Count"}
    assert alarms["ResponseTime"]["MetricName"] == "TargetResponseTime"
    assert alarms["ResponseTime"]["Threshold"] == t.response_time_ms / 1000
    assert alarms["ResponseTime"]["ExtendedStatistic"] == "p95"
    assert alarms["UnhealthyHosts"]["MetricName"] == "UnHealthyHostCount"
    assert alarms["UnhealthyHosts"]["Threshold"] == 1


# --------------------------------------------------------------------------
# Stateful resources
# --------------------------------------------------------------------------

# Logical ids of the app tier's stateful resources in the reference profile: a
# refactor that changed one would replace the key, the logs or the password.
PINNED_REFERENCE_IDS = {
    "AWS::KMS::Key": ["AppKey2AF25043"],
    "AWS::S3::Bucket": ["WebAccessLogs024BC47D"],
    "AWS::Logs::LogGroup": ["WebServerLogsApache640D796C", "WebWafLogs414151AD"],
    "AWS::Route53::HostedZone": ["PrivateZone27242E85"],
}


def test_logical_ids_of_stateful_resources_are_pinned(reference: Synthesized) -> None:
    template = app(reference)
    assert {t: sorted(resources(template, t)) for t in PINNED_REFERENCE_IDS} == PINNED_REFERENCE_IDS


# --------------------------------------------------------------------------
# Reuse: the DR region builds a reduced web tier from the same construct
# --------------------------------------------------------------------------


def test_the_web_tier_builds_from_explicit_arguments_in_another_region() -> None:
    app_ = cdk.App(**QUIET)
    stack = cdk.Stack(app_, "DrWeb", env=cdk.Environment(account="123456789012", region="eu-central-1"))
    vpc = ec2.Vpc(
        stack,
        "Vpc",
        availability_zones=["eu-central-1a", "eu-central-1b"],
        nat_gateways=1,
        subnet_configuration=[
            ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC),
            ec2.SubnetConfiguration(name="web", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
        ],
    )
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    service_linked_role, service_linked_role_arn = auto_scaling_role(stack, "AutoScalingRole", suffix="DrWeb")
    groups = TierSecurityGroups(
        *(ec2.SecurityGroup(stack, f"{tier}Sg", vpc=vpc, allow_all_outbound=False) for tier in TierSecurityGroups.__annotations__)
    )
    network = NetworkRefs(
        vpc=vpc, subnets={tier: vpc.select_subnets(subnet_group_name=tier) for tier in ("public", "web")}, security_groups=groups
    )
    WebTier(
        stack,
        "Web",
        network=network,
        settings=load_settings({**cdk_json_context(), "profile": "dev"}, {}).app,
        certificate_arn="arn:aws:acm:eu-central-1:123456789012:certificate/12345678-1234-1234-1234-123456789012",
        fleet=FleetSpec("m6i.large", REAL_AMI, 1, 2, "/dev/sda1", 30, 300),
        region="eu-central-1",
        encryption_key=key,
        service_linked_role=service_linked_role,
        service_linked_role_arn=service_linked_role_arn,
        gateway=WebGatewayConfig(
            mirror_name="HSDB",
            members=["10.1.192.10"],
            superserver_port=c.IRIS_SUPERSERVER_PORT,
            application_paths=["/csp/user"],
            credentials_secret=secretsmanager.Secret(stack, "Password", encryption_key=key),
        ),
        ca=CertificateAuthority(
            arn="arn:aws:acm-pca:eu-west-1:123456789012:certificate-authority/12345678-1234-1234-1234-123456789012",
            region="eu-west-1",
            certificate_days=90,
            renew_before_days=30,
            vip_zone_name="iris.internal",
        ),
        alarm_topics=AlarmTopics(dict.fromkeys(SEVERITIES, sns.Topic(stack, "Topic"))),
    )
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::ElasticLoadBalancingV2::LoadBalancer", 1)
    template.resource_count_is("AWS::WAFv2::WebACLAssociation", 1)
    template.has_resource_properties("AWS::AutoScaling::AutoScalingGroup", {"MinSize": "1", "MaxSize": "2"})
    # Access-log delivery in eu-central-1 is ELB's account there, not eu-west-1's.
    (policy,) = props(template.to_json(), "AWS::S3::BucketPolicy")
    statements = policy["PolicyDocument"]["Statement"]
    writers = {render(s["Principal"]["AWS"]) for s in statements if s["Effect"] == "Allow" and "AWS" in s["Principal"]}
    assert writers == {"arn:<Ref:AWS::Partition>:iam::054676820928:root"}
