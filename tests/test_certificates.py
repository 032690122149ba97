"""The deployment's CA and what the hosts need of it: the Pki stack's root CA, the exact grants
on each host role, the AWS Private CA endpoint and the DR hosts' path to it, and an existing CA
named in settings instead."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from components.host_certificate import TIMER
from tests.conftest import CUSTOM, Synthesized
from tests.templates import heredoc, props, render, resources

TEMPLATE_ARN = "arn:aws:acm-pca:::template/EndEntityCertificate/V1"
CA_OUTPUT = "<Output:PublishOutputFnGetAttRootCaArn3F4B6D9C>"


def certificate_statements(ca: str) -> list[dict[str, Any]]:
    return [
        {
            "Action": "acm-pca:IssueCertificate",
            "Condition": {"ArnEquals": {"acm-pca:TemplateArn": TEMPLATE_ARN}},
            "Effect": "Allow",
            "Resource": ca,
        },
        {
            "Action": ["acm-pca:GetCertificate", "acm-pca:GetCertificateAuthorityCertificate"],
            "Effect": "Allow",
            "Resource": ca,
        },
    ]


def rendered(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**s, "Resource": render(s["Resource"])} for s in statements]


def test_the_pki_stack_creates_self_signs_and_activates_a_root_ca(assembly: Synthesized) -> None:
    template = assembly.template_json("pki")
    mode = {"general_purpose": "GENERAL_PURPOSE", "short_lived": "SHORT_LIVED_CERTIFICATE"}[assembly.settings.tls.ca_mode]
    (ca_id, ca), = resources(template, "AWS::ACMPCA::CertificateAuthority").items()  # fmt: skip
    assert ca["Properties"]["Type"] == "ROOT" and ca["Properties"]["UsageMode"] == mode
    assert ca["DeletionPolicy"] == "Retain"  # its key can neither be exported nor made again
    (certificate,) = props(template, "AWS::ACMPCA::Certificate")
    assert certificate["CertificateSigningRequest"] == {"Fn::GetAtt": [ca_id, "CertificateSigningRequest"]}
    assert certificate["TemplateArn"] == "arn:aws:acm-pca:::template/RootCACertificate/V1"
    assert certificate["Validity"] == {"Type": "YEARS", "Value": assembly.settings.tls.ca_validity_years}
    (activation,) = props(template, "AWS::ACMPCA::CertificateAuthorityActivation")
    assert activation["Status"] == "ACTIVE"
    assert activation["CertificateAuthorityArn"] == {"Fn::GetAtt": [ca_id, "Arn"]}
    artifact = assembly.manifest["artifacts"][assembly.stacks["pki"].artifact_id]
    assert artifact["properties"]["terminationProtection"] is True


def test_dev_uses_the_cheaper_short_lived_mode(dev: Synthesized) -> None:
    assert dev.settings.tls.ca_mode == "short_lived" and dev.settings.tls.certificate_days <= 7


@pytest.mark.parametrize(
    ("role", "policy"),
    [
        ("data_tier", "HostCertificatePolicy"),
        ("dr_region", "HostCertificatePolicy"),
        ("app_tier", "WebHostCertificatePolicy"),
        ("app_tier", "EcpCertificatePolicy"),
        ("dr_web", "WebHostCertificatePolicy"),
        ("dr_web", "EcpCertificatePolicy"),
    ],
)
def test_each_host_role_may_issue_from_the_ca_with_the_end_entity_template_only(
    assembly: Synthesized, role: str, policy: str
) -> None:
    template = assembly.template_json(role)
    (found,) = [r for k, r in resources(template, "AWS::IAM::ManagedPolicy").items() if k.startswith(policy)]
    statements = found["Properties"]["PolicyDocument"]["Statement"]
    assert rendered(statements[:2]) == certificate_statements(CA_OUTPUT)
    if role in ("data_tier", "dr_region"):
        assert len(statements) == 2  # members get the script with their own files
    else:
        # App-tier servers fetch the script, one S3 object, the stack's asset.
        (read,) = statements[2:]
        assert read["Action"] == "s3:GetObject"
        assert render(read["Resource"]).endswith(".sh")


def test_the_policies_reach_the_hosts_roles(assembly: Synthesized) -> None:
    members = assembly.template_json("mirror_HSDB" if "mirror_HSDB" in assembly.stacks else "mirror_Dev")
    roles = [r for k, r in resources(members, "AWS::IAM::Role").items() if "InstanceRole" in k]
    assert roles and all("HostCertificatePolicy" in json.dumps(r["Properties"].get("ManagedPolicyArns")) for r in roles)
    app = assembly.template_json("app_tier")
    attached = {
        k: [json.dumps(a) for a in r["Properties"].get("ManagedPolicyArns", [])]
        for k, r in resources(app, "AWS::IAM::Role").items()
    }
    assert any("EcpCertificatePolicy" in a for k, arns in attached.items() if k.startswith("EcpServerRole") for a in arns)
    assert any("WebHostCertificatePolicy" in a for k, arns in attached.items() if k.startswith("WebRole") for a in arns)


def launch_template_user_data(template: dict[str, Any], prefix: str) -> str:
    (lt,) = [r for k, r in resources(template, "AWS::EC2::LaunchTemplate").items() if k.startswith(prefix)]
    return render(lt["Properties"]["LaunchTemplateData"]["UserData"])


@pytest.mark.parametrize(("role", "prefix", "group"), [("app_tier", "Web", "apache"), ("app_tier", "Ecp", "irisusr")])
def test_app_tier_servers_install_the_script_and_the_timer(dev: Synthesized, role: str, prefix: str, group: str) -> None:
    user_data = launch_template_user_data(dev.template_json(role), prefix)
    env = heredoc(user_data, "/etc/iris-tls/certificate.env")
    assert f"KEY_GROUP='{group}'\n" in env and "DNS_NAMES=''\n" in env  # the EC2 name and address only
    assert re.search(r"aws s3 cp --quiet --region eu-west-1 s3://\S+/\w+\.sh /usr/local/sbin/iris-host-certificate\n", user_data)
    assert f"systemctl enable {TIMER}" in user_data
    # The certificate's files come before the boot script that asks for it.
    setup = "/usr/local/sbin/iris-web-gateway-setup" if prefix == "Web" else "iris-ecp-client.service"
    assert user_data.index("/etc/iris-tls/certificate.env") < user_data.index(setup)
    assert "PRIVATE KEY" not in user_data


def test_the_ca_endpoint_admits_the_vpc_and_the_dr_hosts_only(assembly: Synthesized) -> None:
    template = assembly.template_json("network")
    (endpoint,) = [e for e in props(template, "AWS::EC2::VPCEndpoint") if "acm-pca" in render(e["ServiceName"])]
    assert endpoint["PrivateDnsEnabled"] is True and len(endpoint["SubnetIds"]) == 3
    (group_ref,) = endpoint["SecurityGroupIds"]
    (group,) = [
        sg for k, sg in resources(template, "AWS::EC2::SecurityGroup").items() if group_ref == {"Fn::GetAtt": [k, "GroupId"]}
    ]
    rules = sorted((r["CidrIp"], r["FromPort"], r["ToPort"]) for r in group["Properties"]["SecurityGroupIngress"])
    s = assembly.settings
    # The DR members, web servers and ECP servers (both profiles run some).
    dr_blocks = [] if s.dr is None else [_block(s.dr.vpc_cidr, t) for t in ("data", "web", "app")]
    assert rules == sorted((cidr, 443, 443) for cidr in (s.network.vpc_cidr, *dr_blocks))
    if s.dr is not None:
        dr_network = assembly.template_json("dr_network")
        assert not [e for e in props(dr_network, "AWS::EC2::VPCEndpoint") if "acm-pca" in render(e["ServiceName"])]


def _block(vpc_cidr: str, tier: str) -> str:
    from components.address_plan import tier_block

    return tier_block(vpc_cidr, tier)


def test_dr_hosts_reach_the_primary_ca_over_the_peering(assembly: Synthesized) -> None:
    s = assembly.settings
    assert s.dr is not None
    data = assembly.template_json("data_tier")
    (zone,) = [z for k, z in resources(data, "AWS::Route53::HostedZone").items() if k.startswith("PrivateCaNameForDr")]
    assert render(zone["Properties"]["Name"]) == f"acm-pca.{s.region}.<Ref:AWS::URLSuffix>."
    assert [v["VPCRegion"] for v in zone["Properties"]["VPCs"]] == [s.dr.region]
    (record,) = [r for k, r in resources(data, "AWS::Route53::RecordSet").items() if k.startswith("PrivateCaEndpointForDr")]
    assert "AliasTarget" in record["Properties"]
    # The endpoint's subnets route back to the DR data, web and app blocks; the DR data, web and app subnets to them.
    back = sorted(
        r["Properties"]["DestinationCidrBlock"]
        for k, r in resources(data, "AWS::EC2::Route").items()
        if k.startswith("PrivateCaToDr")
    )
    assert s.dr.ecp_app_servers > 0
    assert back == sorted(_block(s.dr.vpc_cidr, tier) for tier in ("data", "web", "app") for _ in range(3))
    dr = assembly.template_json("dr_region")
    out = {k: r["Properties"]["DestinationCidrBlock"] for k, r in resources(dr, "AWS::EC2::Route").items() if "ToPrimaryCa" in k}
    assert set(out.values()) == {_block(s.network.vpc_cidr, "app")}
    # One route per DR zone of each tier whose hosts ask the CA.
    zones = len(s.dr.availability_zones)
    assert sorted(re.sub(r"ToPrimaryCa.*", "", k) for k in out) == sorted(t for t in ("Data", "Web", "App") for _ in range(zones))


def test_an_existing_ca_replaces_the_pki_stack(custom: Synthesized) -> None:
    arn = CUSTOM["tls.ca_arn"]
    assert "pki" not in custom.stacks
    policy = [r for k, r in resources(custom.template_json("data_tier"), "AWS::IAM::ManagedPolicy").items()
              if k.startswith("HostCertificatePolicy")]  # fmt: skip
    assert rendered(policy[0]["Properties"]["PolicyDocument"]["Statement"]) == certificate_statements(arn)
