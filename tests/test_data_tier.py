"""DataTierStack: mirror sets on EC2 with io1 volumes, the mirror VIP,
snapshot backups and alarms."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from aws_cdk import aws_elasticloadbalancingv2 as elbv2

from components.mirror_vip import MirrorHealthCheck, MirrorVip
from components.snapshot_backup import FREEZE_THAW_SCRIPT
from config import constants as c
from config.placeholders import PLACEHOLDER_AMI, PLACEHOLDER_DIGEST
from tests.conftest import ALTERNATIVES, COPY_KEY, Synthesized
from tests.templates import props, resources, severity_of, severity_topic


def tags(resource_props: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource_props.get("Tags", [])}


def instances_of(template: dict[str, Any], mirror: str) -> dict[str, dict[str, Any]]:
    return {
        k: v["Properties"]
        for k, v in resources(template, "AWS::EC2::Instance").items()
        if tags(v["Properties"])["Name"].split("/")[1] == mirror
    }


def test_each_mirror_set_has_three_instances_in_three_distinct_azs(assembly: Synthesized) -> None:
    template = assembly.template_json("data")
    for m in assembly.settings.data.mirror_sets:
        members = instances_of(template, m.name)
        assert len(members) == 3
        assert sorted(p["AvailabilityZone"] for p in members.values()) == sorted(assembly.settings.availability_zones)
        # each in the data subnet of its AZ
        for p in members.values():
            output = p["SubnetId"]["Fn::GetStackOutput"]["OutputName"]
            assert "dataSubnet" in output


def test_profiles_size_their_mirror_sets(reference: Synthesized, dev: Synthesized) -> None:
    assert [m.name for m in reference.settings.data.mirror_sets] == ["HSDB", "HSAnalytics"]
    assert len(resources(reference.template_json("data"), "AWS::EC2::Instance")) == 6
    assert len(resources(dev.template_json("data"), "AWS::EC2::Instance")) == 3
    for a in (reference, dev):
        for m in a.settings.data.mirror_sets:
            types = Counter(p["InstanceType"] for p in instances_of(a.template_json("data"), m.name).values())
            assert types == Counter({m.instance_type: 2, m.arbiter_instance_type: 1})


def test_members_are_hardened(assembly: Synthesized) -> None:
    template = assembly.template_json("data")
    launch_templates = resources(template, "AWS::EC2::LaunchTemplate")
    for p in props(template, "AWS::EC2::Instance"):
        assert p["EbsOptimized"] is True
        assert p["Monitoring"] is True
        assert p["DisableApiTermination"] is True
        assert "KeyName" not in p
        assert "NetworkInterfaces" not in p  # no public address, subnet given directly
        lt_id = p["LaunchTemplate"]["Version"]["Fn::GetAtt"][0]
        assert launch_templates[lt_id]["Properties"]["LaunchTemplateData"]["MetadataOptions"] == {"HttpTokens": "required"}
        (root,) = p["BlockDeviceMappings"]
        assert root["DeviceName"] == assembly.settings.data.root_device_name
        assert root["Ebs"]["Encrypted"] is True
        assert assembly.local(root["Ebs"]["KmsKeyId"]) == {"Fn::GetAtt": [_key_id(template), "Arn"]}


def test_the_image_is_pinned_never_resolved_at_deploy_time(assembly: Synthesized) -> None:
    template = assembly.template_json("data")
    ami = assembly.settings.data.ami_ids[assembly.settings.region]
    assert {p["ImageId"] for p in props(template, "AWS::EC2::Instance")} == {ami}
    ssm_parameters = [
        name
        for name, p in template.get("Parameters", {}).items()
        if p["Type"].startswith("AWS::SSM::Parameter") and name != "BootstrapVersion"
    ]
    assert ssm_parameters == []


def test_a_placeholder_image_fails_the_deployment_before_any_resource(dev: Synthesized, custom: Synthesized) -> None:
    rule = dev.template_json("data")["Rules"]["GoldenImageIsSet"]
    ami, *images = rule["Assertions"]
    assert ami["Assert"] == {"Fn::Not": [{"Fn::Equals": [PLACEHOLDER_AMI, PLACEHOLDER_AMI]}]}
    assert "data.ami_ids.eu-west-1" in ami["AssertDescription"]
    # The IRIS, arbiter and Web Gateway images are pinned by digests that must be real.
    assert [a["AssertDescription"].split(" ")[0] for a in images] == [
        "data.iris.image.digest",
        "data.iris.arbiter_image.digest",
        "data.iris.web_gateway_image.digest",
    ]
    for a in images:
        assert a["Assert"] == {"Fn::Not": [{"Fn::Equals": [PLACEHOLDER_DIGEST, PLACEHOLDER_DIGEST]}]}
    assert "GoldenImageIsSet" not in custom.template_json("data").get("Rules", {})


def test_user_data_mounts_volumes_by_id_and_never_replaces_the_instance(assembly: Synthesized) -> None:
    template = assembly.template_json("data")
    for logical_id, instance in resources(template, "AWS::EC2::Instance").items():
        user_data = json.dumps(instance["Properties"]["UserData"])
        is_arbiter = "Arbiter" in logical_id
        assert ("iris-mount-volumes" in user_data) != is_arbiter
        if not is_arbiter:
            for role, mount in c.IRIS_MOUNT_POINTS.items():
                assert f":{c.IRIS_VOLUME_DEVICES[role]}:{mount}" in user_data
            assert user_data.count('{"Ref": ') >= 4  # volume ids, resolved by CloudFormation
        # A user-data hash in the logical id would replace the instance on every change.
        assert logical_id.rstrip("0123456789ABCDEF").endswith("Instance")


def test_volumes_are_encrypted_io1_with_the_configured_size_and_iops(assembly: Synthesized) -> None:
    template = assembly.template_json("data")
    volumes = resources(template, "AWS::EC2::Volume")
    key = _key_id(template)
    expected = Counter()
    for m in assembly.settings.data.mirror_sets:
        for role, spec in m.volumes.items():
            expected[(m.name, role, spec.size_gib, spec.iops)] += 2
    found = Counter()
    for logical_id, v in volumes.items():
        p = v["Properties"]
        assert p["VolumeType"] == "io1"
        assert p["Encrypted"] is True
        assert assembly.local(p["KmsKeyId"]) == {"Fn::GetAtt": [key, "Arn"]}
        mirror = next(m.name for m in assembly.settings.data.mirror_sets if logical_id.startswith(m.name + "Member"))
        found[(mirror, tags(p)["IrisVolumeRole"], p["Size"], p["Iops"])] += 1
    assert found == expected


def test_volumes_attach_at_fixed_devices_and_arbiters_have_none(assembly: Synthesized) -> None:
    template = assembly.template_json("data")
    attachments = props(template, "AWS::EC2::VolumeAttachment")
    per_instance = Counter(a["InstanceId"]["Ref"] for a in attachments)
    for logical_id in resources(template, "AWS::EC2::Instance"):
        assert per_instance[logical_id] == (0 if "Arbiter" in logical_id else 4)
    volumes = resources(template, "AWS::EC2::Volume")
    for a in attachments:
        role = tags(volumes[a["VolumeId"]["Ref"]]["Properties"])["IrisVolumeRole"]
        assert a["Device"] == c.IRIS_VOLUME_DEVICES[role]


def test_volumes_and_key_are_retained(assembly: Synthesized) -> None:
    template = assembly.template_json("data")
    for type_name in ("AWS::EC2::Volume", "AWS::KMS::Key"):
        for logical_id, r in resources(template, type_name).items():
            assert r["DeletionPolicy"] == "Retain", logical_id
            assert r["UpdateReplacePolicy"] == "Retain", logical_id
    (key,) = props(template, "AWS::KMS::Key")
    assert key["EnableKeyRotation"] is True


# Logical ids of stateful resources in the reference profile. A refactor that
# changes any of them would make CloudFormation replace a database server or
# its data: that must be a deliberate change of this list.
PINNED_REFERENCE_IDS = {
    "AWS::KMS::Key": ["DataKey2A0DE9E6"],
    "AWS::EC2::Instance": [
        "HSAnalyticsArbiterInstance20B96AC2",
        "HSAnalyticsMember0Instance236EC82D",
        "HSAnalyticsMember1Instance41A42340",
        "HSDBArbiterInstance9FEC2A74",
        "HSDBMember0Instance0082B877",
        "HSDBMember1InstanceF76B2241",
    ],
    "AWS::EC2::Volume": [
        "HSAnalyticsMember0VolumesDatabase47885F53",
        "HSAnalyticsMember0VolumesJournal13F35007B",
        "HSAnalyticsMember0VolumesJournal2A64F7D5A",
        "HSAnalyticsMember0VolumesWij148A59EA",
        "HSAnalyticsMember1VolumesDatabase1144E195",
        "HSAnalyticsMember1VolumesJournal1F382C35D",
        "HSAnalyticsMember1VolumesJournal2F06D3F9D",
        "HSAnalyticsMember1VolumesWijC80C98C9",
        "HSDBMember0VolumesDatabaseE759D12A",
        "HSDBMember0VolumesJournal14BA8AF1B",
        "HSDBMember0VolumesJournal2C826950F",
        "HSDBMember0VolumesWijF9261D29",
        "HSDBMember1VolumesDatabase91361674",
        "HSDBMember1VolumesJournal102FFE4AB",
        "HSDBMember1VolumesJournal242E60D9C",
        "HSDBMember1VolumesWijBBEAA279",
    ],
}


def test_logical_ids_of_stateful_resources_are_pinned(reference: Synthesized) -> None:
    template = reference.template_json("data")
    actual = {t: sorted(resources(template, t)) for t in ("AWS::KMS::Key", "AWS::EC2::Instance", "AWS::EC2::Volume")}
    assert actual == PINNED_REFERENCE_IDS
    # ... and each in its pinned stack: the key in the shared one, a set's members and volumes in the set's.
    assert sorted(resources(reference.template_json("data_tier"), "AWS::KMS::Key")) == PINNED_REFERENCE_IDS["AWS::KMS::Key"]
    for m in reference.settings.data.mirror_sets:
        own = reference.template_json(f"mirror_{m.name}")
        for kind in ("AWS::EC2::Instance", "AWS::EC2::Volume"):
            assert sorted(resources(own, kind)) == [
                i for i in PINNED_REFERENCE_IDS[kind] if i.startswith(f"{m.name}Member") or i.startswith(f"{m.name}Arbiter")
            ]


def _key_id(template: dict[str, Any]) -> str:
    (key_id,) = resources(template, "AWS::KMS::Key")
    return key_id


def test_instances_use_the_network_tier_groups(assembly: Synthesized) -> None:
    template = assembly.template_json("data")
    for p in props(template, "AWS::EC2::Instance"):
        (sg,) = p["SecurityGroupIds"]
        assert "DataSg" in sg["Fn::GetStackOutput"]["OutputName"]
    for p in props(template, "AWS::ElasticLoadBalancingV2::LoadBalancer"):
        (sg,) = p["SecurityGroups"]
        assert "DataLbSg" in sg["Fn::GetStackOutput"]["OutputName"]
    # The data tier adds no rule of its own: the port matrix is the network's. Its one group of its
    # own per set is the restore drill's scratch instance's, which admits nothing.
    groups = resources(template, "AWS::EC2::SecurityGroup")
    assert sorted(k.rstrip("0123456789ABCDEF") for k in groups) == sorted(
        f"{m.name}RestoreDrillSecurityGroup" for m in assembly.settings.data.mirror_sets
    )
    assert all("SecurityGroupIngress" not in g["Properties"] for g in groups.values())
    assert resources(template, "AWS::EC2::SecurityGroupIngress") == {}


def test_each_sets_members_have_a_role_of_their_own_with_scoped_grants_only(assembly: Synthesized) -> None:
    s = assembly.settings
    data = assembly.template_json("data_tier")["Resources"]
    for m in s.data.mirror_sets:
        template = assembly.template_json(f"mirror_{m.name}")
        roles = {k: v["Properties"] for k, v in resources(template, "AWS::IAM::Role").items()}
        assert sorted(k.rstrip("0123456789ABCDEF") for k in roles) == [
            f"{m.name}ArbiterRole",
            f"{m.name}ExperimentsRole",  # FIS's, for the set's experiments (tests/test_experiments.py)
            f"{m.name}InstanceRole",
            f"{m.name}RestoreDrillRole",  # the restore drill's scratch instance's (tests/test_restore_drill.py)
            f"{m.name}RetargetRole",
        ]
        ((role_id, role),) = [(k, v) for k, v in roles.items() if k.startswith(f"{m.name}InstanceRole")]
        aws_managed = sorted(json.dumps(p) for p in role["ManagedPolicyArns"] if "Fn::Join" in p)
        # The CloudWatch agent's rights are the shared host policy's (scoped), not CloudWatchAgentServerPolicy.
        assert [a.rsplit("/", 1)[-1] for a in aws_managed] == ['AmazonSSMManagedInstanceCore"]]}']
        own = sorted(
            k
            for k, v in resources(template, "AWS::IAM::ManagedPolicy").items()
            if {"Ref": role_id} in v["Properties"].get("Roles", [])
        )
        shared = sorted(assembly.local(p)["Ref"] for p in role["ManagedPolicyArns"] if "Fn::GetStackOutput" in p)
        assert [k.rstrip("0123456789ABCDEF") for k in own] == [
            f"{m.name}BackupTagPolicy",
            f"{m.name}RetargetInvokePolicy",
            f"{m.name}SecretsPolicy",
        ]
        # HostCertificatePolicy: statements checked in tests/test_certificates.py.
        # SessionsInstancePolicy: the network's, for logged sessions (tests/test_audit.py).
        assert [k.rstrip("0123456789ABCDEF") for k in shared] == [
            "HostCertificatePolicy",
            "IrisHostPolicy",
            "SessionsInstancePolicy",
        ]
        # The set's members read this set's passwords and marker, nothing of another set.
        statements = template["Resources"][own[2]]["Properties"]["PolicyDocument"]["Statement"]
        secrets = statements[0]["Resource"]
        assert sorted(r["Ref"] for r in secrets) == sorted(resources(template, "AWS::SecretsManager::Secret"))
        marker = statements[2]["Resource"]
        data_tier = assembly.stacks["data_tier"].stack_name
        assert marker == f"arn:aws:ssm:{s.region}:{s.account}:parameter/{data_tier}/{m.name}/mirror-created"
        assert "Policies" not in role
        # The arbiter: the shared host policy, the network's session policy and the AWS-managed one, nothing of the members'.
        ((arbiter_id, arbiter),) = [(k, v) for k, v in roles.items() if k.startswith(f"{m.name}ArbiterRole")]
        assert sorted(
            assembly.local(p)["Ref"].rstrip("0123456789ABCDEF") for p in arbiter["ManagedPolicyArns"] if "Fn::GetStackOutput" in p
        ) == ["IrisHostPolicy", "SessionsInstancePolicy"]
        assert [
            k
            for k, v in resources(template, "AWS::IAM::ManagedPolicy").items()
            if {"Ref": arbiter_id} in v["Properties"].get("Roles", [])
        ] == []
        assert "Policies" not in arbiter
    assert not any(k.startswith("InvokeRetargetPolicy") for k in data)


def test_vip_is_an_internal_cross_zone_nlb_per_mirror_set(assembly: Synthesized) -> None:
    template = assembly.template_json("data")
    nlbs = props(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert len(nlbs) == len(assembly.settings.data.mirror_sets)
    for p in nlbs:
        assert p["Type"] == "network" and p["Scheme"] == "internal"
        attributes = {a["Key"]: a["Value"] for a in p["LoadBalancerAttributes"]}
        assert attributes["load_balancing.cross_zone.enabled"] == "true"
        assert attributes["deletion_protection.enabled"] == "true"
        assert len(p["Subnets"]) == 3


def test_listeners_start_on_the_first_member_and_the_custom_resource_sets_the_primary(assembly: Synthesized) -> None:
    """Who is primary is run-time state: the template's listeners always name the
    first member, so no later deployment can move them back, and the failover
    custom resource points them at the configured primary."""
    template = assembly.template_json("data")
    groups = resources(template, "AWS::ElasticLoadBalancingV2::TargetGroup")
    listeners = props(template, "AWS::ElasticLoadBalancingV2::Listener")
    port = assembly.settings.data.health_check_port
    assert sorted(p["Port"] for p in listeners) == sorted(
        [c.IRIS_SUPERSERVER_PORT, port] * len(assembly.settings.data.mirror_sets)
    )
    for listener in listeners:
        (action,) = listener["DefaultActions"]
        target = action["TargetGroupArn"]["Ref"]
        assert re.match(rf"^[A-Za-z0-9]+VipMember0Port{listener['Port']}", target), target
        assert groups[target]["Properties"]["Port"] == listener["Port"]
    primaries = {p["MirrorSet"]: p["DesiredPrimary"] for p in props(template, "Custom::IrisMirrorPrimary")}
    assert primaries == {m.name: f"Member{m.initial_primary}" for m in assembly.settings.data.mirror_sets}


def test_a_planned_failover_changes_only_the_custom_resource(synth, alternatives: Synthesized) -> None:
    # Against the variant without EKS, the cheaper synthesis of the two that could serve.
    moved = synth("dev", **ALTERNATIVES, **{"data.mirror_sets.0.initial_primary": "1"})
    before, after = alternatives.template_json("data"), moved.template_json("data")
    assert set(before["Resources"]) == set(after["Resources"])
    changed = sorted(k for k in before["Resources"] if before["Resources"][k] != after["Resources"][k])
    assert [before["Resources"][k]["Type"] for k in changed] == ["Custom::IrisMirrorPrimary"]
    (primary,) = props(after, "Custom::IrisMirrorPrimary")
    assert primary["DesiredPrimary"] == "Member1"


def test_one_pre_registered_target_group_per_failover_member_and_port(assembly: Synthesized) -> None:
    template = assembly.template_json("data")
    instances = resources(template, "AWS::EC2::Instance")
    for logical_id, g in resources(template, "AWS::ElasticLoadBalancingV2::TargetGroup").items():
        (target,) = g["Properties"]["Targets"]
        assert target["Port"] == g["Properties"]["Port"]
        member = target["Id"]["Ref"]
        assert member in instances
        group = re.match(r"^(?P<mirror>[A-Za-z0-9]+?)VipMember(?P<index>\d)Port", logical_id)
        assert group is not None, logical_id
        assert member.startswith(f"{group['mirror']}Member{group['index']}Instance")  # the group's own member
    assert len(resources(template, "AWS::ElasticLoadBalancingV2::TargetGroup")) == 4 * len(assembly.settings.data.mirror_sets)


def test_polling_health_check_asks_the_mirror_status_page(assembly: Synthesized) -> None:
    d = assembly.settings.data
    assert d.failover_method == "polling"
    for p in props(assembly.template_json("data"), "AWS::ElasticLoadBalancingV2::TargetGroup"):
        assert p["HealthCheckProtocol"] == "HTTP"
        assert p["HealthCheckPort"] == str(d.health_check_port)
        assert p["HealthCheckPath"] == d.health_check_path == "/csp/bin/mirror_status.cxw"
        assert p["Matcher"] == {"HttpCode": "200"}
        assert p["HealthCheckIntervalSeconds"] == d.health_check_interval_seconds == 5
        assert p["HealthyThresholdCount"] == d.healthy_threshold
        assert p["UnhealthyThresholdCount"] == d.unhealthy_threshold


def test_health_check_port_and_path_are_settings(custom: Synthesized) -> None:
    template = custom.template_json("data")
    assert sorted({p["Port"] for p in props(template, "AWS::ElasticLoadBalancingV2::Listener")}) == [1972, 57772]
    for p in props(template, "AWS::ElasticLoadBalancingV2::TargetGroup"):
        assert p["HealthCheckProtocol"] == "HTTP"
        assert p["HealthCheckPort"] == "57772"
        assert p["HealthCheckPath"] == "/csp/user/mirror_status.cxw"
    network = custom.template_json("network")
    ports = {r["FromPort"] for sg in props(network, "AWS::EC2::SecurityGroupIngress") for r in [sg]}
    assert 57772 in ports and 52773 not in ports


def freeze_thaw_documents(template: dict) -> dict[str, dict]:
    """The data tier's command documents that DLM may run (the restore drill's check document is not one)."""
    return {
        k: v["Properties"]
        for k, v in resources(template, "AWS::SSM::Document").items()
        if {"Key": "DLMScriptsAccess", "Value": "true"} in v["Properties"].get("Tags", [])
    }


def test_dlm_policy_freezes_iris_around_each_snapshot(assembly: Synthesized) -> None:
    template = assembly.template_json("data")
    (policy,) = props(template, "AWS::DLM::LifecyclePolicy")
    (doc_id,) = freeze_thaw_documents(template)
    details = policy["PolicyDetails"]
    assert details["ResourceTypes"] == ["INSTANCE"]
    assert details["TargetTags"] == [{"Key": "IrisBackup", "Value": assembly.stacks["data_tier"].stack_name}]
    assert details["Parameters"] == {"ExcludeBootVolume": True}
    (schedule,) = details["Schedules"]
    assert schedule["CreateRule"]["CronExpression"] == assembly.settings.data.backup.schedule
    assert schedule["RetainRule"] == {"Count": assembly.settings.data.backup.retain_count}
    (script,) = schedule["CreateRule"]["Scripts"]
    assert script["Stages"] == ["PRE", "POST"]
    assert script["ExecutionHandlerService"] == "AWS_SYSTEMS_MANAGER"
    assert script["ExecutionHandler"] == {"Ref": doc_id}
    assert script["ExecuteOperationOnScriptFailure"] is False
    # No instance carries the target tag statically: the backup member tags
    # itself (tests/test_backup_scripts.py).
    for p in props(template, "AWS::EC2::Instance"):
        assert "IrisBackup" not in tags(p)


def test_freeze_thaw_document_is_tagged_for_dlm_and_runs_the_script(assembly: Synthesized) -> None:
    template = assembly.template_json("data")
    (doc,) = freeze_thaw_documents(template).values()
    assert {"Key": "DLMScriptsAccess", "Value": "true"} in doc["Tags"]
    assert doc["DocumentType"] == "Command"
    assert doc["Content"]["parameters"]["command"]["allowedValues"] == ["pre-script", "post-script", "dry-run"]
    (step,) = doc["Content"]["mainSteps"]
    commands = "\n".join(step["inputs"]["runCommand"])
    assert "export DLM_COMMAND='{{ command }}'" in commands
    assert step["inputs"]["runCommand"][2:] == FREEZE_THAW_SCRIPT.read_text().splitlines()
    assert "ExternalFreeze" in commands and "ExternalThaw" in commands
    assert f"export IRIS_INSTANCE='{assembly.settings.data.iris_instance}'" in commands


def test_dlm_may_use_the_data_key_through_the_key_policy(assembly: Synthesized) -> None:
    template = assembly.template_json("data")
    (key,) = props(template, "AWS::KMS::Key")
    statements = {s.get("Sid"): s for s in key["KeyPolicy"]["Statement"]}
    dlm = statements["AllowDlmSnapshots"]
    role_id = dlm["Principal"]["AWS"]["Fn::GetAtt"][0]
    assert role_id.startswith("BackupRole")
    assert "kms:CreateGrant" not in dlm["Action"]
    # DLM may create grants on the key only for AWS resources (EBS), never for a principal of its choosing.
    assert statements["AllowDlmSnapshotsGrant"] == {
        "Sid": "AllowDlmSnapshotsGrant",
        "Effect": "Allow",
        "Principal": dlm["Principal"],
        "Action": "kms:CreateGrant",
        "Resource": "*",
        "Condition": {"Bool": {"kms:GrantIsForAWSResource": True}},
    }
    grants = [
        s
        for s in key["KeyPolicy"]["Statement"]
        if s.get("Principal") == dlm["Principal"] and "kms:CreateGrant" in json.dumps(s["Action"])
    ]
    assert len(grants) == 1
    assert all("kms:GrantIsForAWSResource" in json.dumps(s.get("Condition", {})) for s in grants), grants


def test_cross_region_copy_where_settings_say_when_there_is_no_dr_region(custom: Synthesized) -> None:
    assert custom.settings.dr is None
    (policy,) = props(custom.template_json("data"), "AWS::DLM::LifecyclePolicy")
    (rule,) = policy["PolicyDetails"]["Schedules"][0]["CrossRegionCopyRules"]
    assert rule == {
        "CmkArn": COPY_KEY,
        "CopyTags": True,
        "Encrypted": True,
        "RetainRule": {"Interval": 7, "IntervalUnit": "DAYS"},
        "Target": "eu-central-1",
    }
    (copy_policy,) = [
        p
        for k, p in ((k, v["Properties"]) for k, v in resources(custom.template_json("data"), "AWS::IAM::ManagedPolicy").items())
        if k.startswith("BackupCopyKeyPolicy")
    ]
    use, grant = copy_policy["PolicyDocument"]["Statement"]
    assert use["Resource"] == grant["Resource"] == COPY_KEY and "kms:CreateGrant" not in use["Action"]
    assert grant == {
        "Effect": "Allow",
        "Action": "kms:CreateGrant",
        "Resource": COPY_KEY,
        "Condition": {"Bool": {"kms:GrantIsForAWSResource": True}},
    }


def test_alarms_cover_status_checks_cpu_and_volume_queues(assembly: Synthesized) -> None:
    template = assembly.template_json("data")
    alarms = [a for a in props(template, "AWS::CloudWatch::Alarm") if a["Namespace"] in ("AWS/EC2", "AWS/EBS")]
    # The snapshot policy's own alarms: tests/test_backup_scripts.py.
    alarms = [a for a in alarms if a["Dimensions"][0]["Name"] != "DLMPolicyId"]
    metrics = Counter(a["MetricName"] for a in alarms)
    members = len(resources(template, "AWS::EC2::Instance"))
    volumes = len(resources(template, "AWS::EC2::Volume"))
    assert metrics == Counter(
        {
            "StatusCheckFailed_System": members,
            "StatusCheckFailed_Instance": members,
            "CPUUtilization": members,
            "VolumeQueueLength": volumes,
        }
    )
    for a in alarms:
        assert severity_topic(template, severity_of(a)) in [assembly.local(x) for x in a["AlarmActions"]]
        if a["MetricName"] == "StatusCheckFailed_System":
            recover = [x for x in a["AlarmActions"] if "recover" in json.dumps(x)]
            assert len(recover) == 1


def test_alarm_topics_are_encrypted_and_there_is_a_dashboard_per_mirror_set(assembly: Synthesized) -> None:
    # Their subscriptions by severity: tests/test_operations.py.
    template = assembly.template_json("data")
    topics = props(template, "AWS::SNS::Topic")
    assert len(topics) == 4
    assert all(topic["KmsMasterKeyId"] == {"Fn::GetAtt": [_key_id(template), "Arn"]} for topic in topics)
    assert len(resources(template, "AWS::CloudWatch::Dashboard")) == len(assembly.settings.data.mirror_sets)


def test_the_data_tier_stack_has_termination_protection(assembly: Synthesized) -> None:
    artifact = assembly.manifest["artifacts"][assembly.stacks["data_tier"].artifact_id]
    assert artifact["properties"]["terminationProtection"] is True


def test_api_method_health_check_is_tcp_on_the_target_port() -> None:
    # With the API method ^ZMIRROR moves the listener; the health check only
    # tells whether IRIS listens.
    check = MirrorVip._health_check(
        MirrorHealthCheck(
            http=False,
            port=52773,
            path="/csp/bin/mirror_status.cxw",
            interval_seconds=10,
            healthy_threshold=3,
            unhealthy_threshold=2,
        )
    )
    assert check.protocol == elbv2.Protocol.TCP
    assert check.path is None and check.port is None and check.healthy_http_codes is None
    assert check.interval.to_seconds() == 10 and check.timeout.to_seconds() == 9
    assert (check.healthy_threshold_count, check.unhealthy_threshold_count) == (3, 2)
