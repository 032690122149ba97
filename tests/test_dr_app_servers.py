"""The DR region's ECP application servers (``dr.ecp_app_servers``): as many as settings say, in the
DR app subnets of every DR zone, connected to the DR VIP, hardened like the primary region's, and
the servers the DR web tier's Web Gateway serves from."""

from __future__ import annotations

from typing import Any

import pytest

from components.ecp_client import CONF_DIR
from config import SettingsError, load_settings
from tests.conftest import Synthesized, cdk_json_context
from tests.templates import heredoc, render, resources


def _one(template: dict[str, Any], type_name: str, prefix: str) -> dict[str, Any]:
    (found,) = [r["Properties"] for k, r in resources(template, type_name).items() if k.startswith(prefix)]
    return found


def test_as_many_ecp_servers_as_settings_say_growing_to_the_primary_maximum(assembly: Synthesized) -> None:
    s = assembly.settings
    assert s.dr is not None and 0 < s.dr.ecp_app_servers <= s.app.ecp.min_capacity
    group = _one(assembly.template_json("dr_web"), "AWS::AutoScaling::AutoScalingGroup", "EcpServersGroup")
    assert (int(group["MinSize"]), int(group["MaxSize"])) == (s.dr.ecp_app_servers, s.app.ecp.max_capacity)
    assert "DesiredCapacity" not in group  # scaling owns it, from the minimum


def test_the_ecp_servers_are_in_the_dr_app_subnets_of_every_dr_zone(assembly: Synthesized) -> None:
    s = assembly.settings
    assert s.dr is not None
    group = _one(assembly.template_json("dr_web"), "AWS::AutoScaling::AutoScalingGroup", "EcpServersGroup")
    network = assembly.template_json("dr_network")
    subnets = [assembly.local(ref)["Ref"] for ref in group["VPCZoneIdentifier"]]
    assert all(k.startswith("VpcappSubnet") for k in subnets), subnets
    zones = [network["Resources"][k]["Properties"]["AvailabilityZone"] for k in subnets]
    assert sorted(zones) == sorted(s.dr.availability_zones)
    # The app subnets are private: no public address, a NAT route out.
    assert all(network["Resources"][k]["Properties"]["MapPublicIpOnLaunch"] is False for k in subnets)


def test_the_ecp_servers_connect_to_the_dr_vip_with_tls_as_a_mirror_connection(assembly: Synthesized) -> None:
    s = assembly.settings
    assert s.dr is not None
    template = assembly.template_json("dr_web")
    launch = _one(template, "AWS::EC2::LaunchTemplate", "EcpServersLaunchTemplate")["LaunchTemplateData"]
    user_data = launch["UserData"]["Fn::Base64"]["Fn::Join"][1]
    # The [ECPServers] entry: Name=Address,Port,MirrorConnection,SSLConfig; the address is the DR VIP's name.
    (index,) = [
        i for i, part in enumerate(user_data) if isinstance(part, str) and part.endswith(f"[ECPServers]\n{s.app.mirror_set}=")
    ]
    address = user_data[index + 1]
    vip_stack = f"dr_mirror_{s.app.mirror_set}"
    assert address["Fn::GetStackOutput"]["StackName"] == assembly.stacks[vip_stack].stack_name
    (nlb,) = resources(assembly.template_json(vip_stack), "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert assembly.local(address) == {"Fn::GetAtt": [nlb, "DNSName"]}
    assert user_data[index + 2].startswith(",1972,1,1\n")
    # The CSPSystem password is the DR set's own (a DR member's accounts live in its own IRISSYS).
    env = heredoc(render(launch["UserData"]), f"{CONF_DIR}/ecp-client.env")
    (secret,) = [line.split("=", 1)[1] for line in env.splitlines() if line.startswith("CSPSYSTEM_SECRET=")]
    assert secret.startswith("<Output:") and f"AWS_REGION={s.dr.region}\n" in env


def test_the_ecp_servers_are_hardened_and_their_volumes_under_the_dr_key(assembly: Synthesized) -> None:
    s = assembly.settings
    assert s.dr is not None
    template = assembly.template_json("dr_web")
    launch = _one(template, "AWS::EC2::LaunchTemplate", "EcpServersLaunchTemplate")["LaunchTemplateData"]
    assert launch["MetadataOptions"] == {"HttpTokens": "required", "HttpPutResponseHopLimit": 1}
    assert "KeyName" not in launch and launch["ImageId"] == s.app.ecp_ami_ids[s.dr.region]
    (volume,) = launch["BlockDeviceMappings"]
    (key,) = [k for k in resources(template, "AWS::KMS::Key") if k.startswith("DrWebKey")]
    assert volume["Ebs"]["Encrypted"] is True and volume["Ebs"]["KmsKeyId"] == {"Fn::GetAtt": [key, "Arn"]}
    # A DR-region key: the stack's own, in the DR region.
    assert assembly.stacks["dr_web"].region == s.dr.region
    # The app tier's security group, which alone reaches the DR members and VIP on 1972 (tests/test_network.py).
    (group,) = launch["SecurityGroupIds"]
    dr_network = assembly.template_json("dr_network")
    (app_sg,) = [k for k in resources(dr_network, "AWS::EC2::SecurityGroup") if k.startswith("AppSg")]
    assert assembly.local(group) == {"Fn::GetAtt": [app_sg, "GroupId"]}


def test_the_ecp_servers_role_reads_the_dr_cspsystem_secret_only(assembly: Synthesized) -> None:
    s = assembly.settings
    template = assembly.template_json("dr_web")
    read = _one(template, "AWS::IAM::ManagedPolicy", "ReadCspSystemPassword")["PolicyDocument"]["Statement"]
    assert [st["Action"] for st in read] == [["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"], "kms:Decrypt"]
    # The DR set's CSPSystem password, decrypted through Secrets Manager with the DR key.
    secret = assembly.local(read[0]["Resource"])["Ref"]
    members = assembly.template_json(f"dr_mirror_{s.app.mirror_set}")["Resources"]
    assert members[secret]["Type"] == "AWS::SecretsManager::Secret" and "CSPSystem" in secret
    (dr_key,) = resources(assembly.template_json("dr_region"), "AWS::KMS::Key")
    assert assembly.local(read[1]["Resource"]) == {"Fn::GetAtt": [dr_key, "Arn"]}
    assert read[1]["Condition"] == {"StringEquals": {"kms:ViaService": f"secretsmanager.{s.dr.region}.amazonaws.com"}}  # type: ignore[union-attr]
    (role,) = [r for k, r in resources(template, "AWS::IAM::Role").items() if k.startswith("EcpServerRole")]
    attached = [render(a) for a in role["Properties"]["ManagedPolicyArns"]]
    expected = ("AmazonSSMManagedInstanceCore", "CloudWatchAgentServerPolicy", "EcpCertificatePolicy", "ReadCspSystemPassword",
                "SessionsInstancePolicy")  # fmt: skip
    assert len(attached) == len(expected) and all(any(e in a for a in attached) for e in expected), attached


def test_the_dr_web_gateway_serves_from_the_ecp_servers(assembly: Synthesized) -> None:
    template = assembly.template_json("dr_web")
    (group,) = [k for k in resources(template, "AWS::AutoScaling::AutoScalingGroup") if k.startswith("EcpServersGroup")]
    web = render(_one(template, "AWS::EC2::LaunchTemplate", "WebServersLaunchTemplate")["LaunchTemplateData"]["UserData"])
    assert f"APP_SERVER_GROUP=<Ref:{group}>\n" in heredoc(web, f"{CONF_DIR}/web-gateway.env")


@pytest.mark.parametrize(
    ("overrides", "allowed"),
    [
        ({"dr.ecp_app_servers": "4"}, "a count from 0 to app.ecp.min_capacity (3)"),
        ({"dr.ecp_app_servers": "-1"}, "a count from 0 to app.ecp.min_capacity"),
    ],
)
def test_more_dr_ecp_servers_than_the_primary_region_s_are_refused(overrides: dict[str, str], allowed: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({**cdk_json_context(), **overrides}, {})
    assert caught.value.key == "dr.ecp_app_servers" and len(caught.value.lines) == 1
    assert caught.value.lines[0].startswith(f"invalid setting dr.ecp_app_servers={overrides['dr.ecp_app_servers']}: {allowed}")


def test_dr_ecp_servers_need_an_image_in_the_dr_region() -> None:
    context = {**cdk_json_context(), "app.ecp_ami_ids": '{"eu-west-1": "ami-0123456789abcdef0"}'}
    with pytest.raises(SettingsError) as caught:
        load_settings(context, {})
    assert caught.value.key == "app.ecp_ami_ids" and "DR region eu-central-1" in caught.value.lines[0]
    # None asked for: none needed.
    settings = load_settings({**context, "dr.ecp_app_servers": "0"}, {})
    assert settings.dr is not None and settings.dr.ecp_app_servers == 0
