"""EksStack: the cluster, node groups, controllers, database, storage, images,
pipeline, observability, trail, backups and budget of the Mendix platform."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import pytest

from components.mendix_cluster import load_balancer_controller_policy
from config import constants as c
from tests.conftest import Synthesized
from tests.templates import props, resources

# One extra dev synthesis for the other branches: a public endpoint for named
# CIDRs, an administrator role, no account trail.
PUBLIC_CIDR = "81.2.69.0/24"
ADMIN_ROLE = "arn:aws:iam::000000000000:role/platform-admins"
CUSTOM = {"eks.public_endpoint_cidrs": PUBLIC_CIDR, "eks.admin_role_arns": ADMIN_ROLE, "eks.cloudtrail": "false"}


@pytest.fixture(scope="session")
def custom(synth) -> Synthesized:
    return synth("dev", **CUSTOM)


def one(template: dict[str, Any], type_name: str) -> dict[str, Any]:
    (found,) = props(template, type_name)
    return found


def key_id(template: dict[str, Any]) -> str:
    (logical_id,) = [k for k in resources(template, "AWS::KMS::Key") if k.startswith("PlatformKey")]
    return logical_id


def key_arn(template: dict[str, Any]) -> dict[str, Any]:
    return {"Fn::GetAtt": [key_id(template), "Arn"]}


def output_name(value: dict[str, Any]) -> str:
    return value["Fn::GetStackOutput"]["OutputName"]


# ---------------------------------------------------------------- cluster


def test_cluster_logs_every_control_plane_type_and_encrypts_secrets(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    cluster = one(template, "AWS::EKS::Cluster")
    assert cluster["Version"] == assembly.settings.eks.kubernetes_version
    types = {t["Type"] for t in cluster["Logging"]["ClusterLogging"]["EnabledTypes"]}
    assert types == {"api", "audit", "authenticator", "controllerManager", "scheduler"}
    assert cluster["EncryptionConfig"] == [{"Provider": {"KeyArn": key_arn(template)}, "Resources": ["secrets"]}]
    # Access entries only: the aws-auth ConfigMap is not consulted.
    assert cluster["AccessConfig"]["AuthenticationMode"] == "API"
    assert cluster["ComputeConfig"] == {"Enabled": False}


def test_control_plane_logs_go_to_a_group_with_retention_and_the_key(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    name = one(template, "AWS::EKS::Cluster")["Name"]
    (group,) = [g for g in props(template, "AWS::Logs::LogGroup") if g.get("LogGroupName") == f"/aws/eks/{name}/cluster"]
    assert group["RetentionInDays"] == assembly.settings.eks.log_retention_days
    assert group["KmsKeyId"] == key_arn(template)


def test_the_endpoint_is_private_unless_cidrs_are_named(assembly: Synthesized, custom: Synthesized) -> None:
    private = one(assembly.template_json("eks"), "AWS::EKS::Cluster")["ResourcesVpcConfig"]
    assert private["EndpointPrivateAccess"] is True
    assert private["EndpointPublicAccess"] is False
    assert "PublicAccessCidrs" not in private
    limited = one(custom.template_json("eks"), "AWS::EKS::Cluster")["ResourcesVpcConfig"]
    assert limited["EndpointPrivateAccess"] is True
    assert limited["EndpointPublicAccess"] is True
    assert limited["PublicAccessCidrs"] == [PUBLIC_CIDR]


def test_control_plane_and_nodes_use_the_app_subnets(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    subnets = one(template, "AWS::EKS::Cluster")["ResourcesVpcConfig"]["SubnetIds"]
    assert len(subnets) == 3
    assert all("appSubnet" in output_name(s) for s in subnets)
    for group in props(template, "AWS::EKS::Nodegroup"):
        (subnet,) = group["Subnets"]
        assert "appSubnet" in output_name(subnet)


# ------------------------------------------------------------- node groups


@pytest.mark.parametrize("profile", ["reference", "dev"])
def test_one_node_group_per_role_and_az_with_sizes_from_settings(synth, profile: str) -> None:
    assembly = synth(profile)
    e = assembly.settings.eks
    expected = {"system": e.system_nodes, "app": e.app_nodes}
    if e.spot_nodes is not None:
        expected["spot"] = e.spot_nodes
    groups = props(assembly.template_json("eks"), "AWS::EKS::Nodegroup")
    by_role: dict[str, list[dict[str, Any]]] = {}
    for g in groups:
        by_role.setdefault(g["Labels"]["mendix.io/node-role"], []).append(g)
    assert sorted(by_role) == sorted(expected)
    for role, spec in expected.items():
        assert len(by_role[role]) == len(assembly.settings.availability_zones)
        assert len({output_name(g["Subnets"][0]) for g in by_role[role]}) == 3  # one group per AZ
        for g in by_role[role]:
            assert g["ScalingConfig"] == {
                "MinSize": spec.min_per_az,
                "DesiredSize": spec.desired_per_az,
                "MaxSize": spec.max_per_az,
            }
            assert g["CapacityType"] == spec.capacity_type
            assert g["InstanceTypes"] == list(spec.instance_types)
            assert g["AmiType"] == "AL2023_x86_64_STANDARD"


def test_capacity_types_per_profile(reference: Synthesized, dev: Synthesized) -> None:
    def capacity(a: Synthesized) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for g in props(a.template_json("eks"), "AWS::EKS::Nodegroup"):
            found.setdefault(g["Labels"]["mendix.io/node-role"], set()).add(g["CapacityType"])
        return found

    assert capacity(reference) == {"system": {"ON_DEMAND"}, "app": {"ON_DEMAND"}, "spot": {"SPOT"}}
    assert capacity(dev) == {"system": {"ON_DEMAND"}, "app": {"SPOT"}}


def test_system_and_spot_nodes_are_tainted(reference: Synthesized) -> None:
    for g in props(reference.template_json("eks"), "AWS::EKS::Nodegroup"):
        role = g["Labels"]["mendix.io/node-role"]
        taints = g.get("Taints", [])
        if role == "system":
            assert taints == [{"Effect": "NO_SCHEDULE", "Key": "CriticalAddonsOnly", "Value": "true"}]
        elif role == "spot":
            assert taints == [{"Effect": "NO_SCHEDULE", "Key": "mendix.io/non-critical", "Value": "true"}]
        else:
            assert taints == []


def test_launch_templates_require_imdsv2_and_encrypt_volumes(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    templates = resources(template, "AWS::EC2::LaunchTemplate")
    assert templates
    for g in props(template, "AWS::EKS::Nodegroup"):
        assert g["LaunchTemplate"]["Id"]["Ref"] in templates
    for lt in templates.values():
        data = lt["Properties"]["LaunchTemplateData"]
        assert data["MetadataOptions"]["HttpTokens"] == "required"
        (device,) = data["BlockDeviceMappings"]
        assert device["Ebs"]["Encrypted"] is True
        assert device["Ebs"]["KmsKeyId"] == key_arn(template)
        assert device["Ebs"]["VolumeType"] == "gp3"
        assert "KeyName" not in data and "ImageId" not in data  # no SSH keys; the EKS AMI of the group


def test_the_autoscaling_service_may_use_the_volume_key(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    statements = template["Resources"][key_id(template)]["Properties"]["KeyPolicy"]["Statement"]
    sids = {s.get("Sid") for s in statements}
    assert {"AllowAutoScalingVolumes", "AllowAutoScalingVolumeGrants"} <= sids


# ------------------------------------------------------------ controllers


def charts(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["Chart"]: p for p in props(template, "Custom::AWSCDK-EKS-HelmChart")}


def test_charts_are_pinned_and_fetched_at_deploy_time(assembly: Synthesized) -> None:
    e = assembly.settings.eks
    found = charts(assembly.template_json("eks"))
    assert {name: (p["Repository"], p["Version"]) for name, p in found.items()} == {
        "cluster-autoscaler": ("https://kubernetes.github.io/autoscaler", e.cluster_autoscaler_chart_version),
        "aws-load-balancer-controller": ("https://aws.github.io/eks-charts", e.load_balancer_controller_chart_version),
        e.mendix_operator_chart: (e.mendix_operator_chart_repository, e.mendix_operator_version),
    }
    for p in found.values():
        assert "ChartAssetURL" not in p  # no chart packaged at synthesis


def test_cluster_autoscaler_balances_azs_and_may_resize_only_this_clusters_groups(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    name = one(template, "AWS::EKS::Cluster")["Name"]
    values = json.loads(charts(template)["cluster-autoscaler"]["Values"])
    assert values["extraArgs"]["balance-similar-node-groups"] is True
    assert values["autoDiscovery"]["clusterName"] == name
    assert values["image"]["tag"] == assembly.settings.eks.cluster_autoscaler_image_tag
    writes = [
        s
        for p in props(template, "AWS::IAM::Policy")
        for s in p["PolicyDocument"]["Statement"]
        if "autoscaling:SetDesiredCapacity" in s["Action"]
    ]
    (statement,) = writes
    assert statement["Condition"] == {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{name}": "owned"}}
    assert set(statement["Action"]) == {"autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"}


def _irsa_subject(template: dict[str, Any], role_id: str) -> str:
    trust = template["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    conditions = template["Resources"][trust["Condition"]["StringEquals"]["Fn::GetAtt"][0]]["Properties"]["Value"]
    return json.dumps(conditions)


def test_load_balancer_controller_has_its_documented_policy_narrowed_to_the_account(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    s = assembly.settings
    documented = load_balancer_controller_policy(s.eks.load_balancer_controller_version, region=s.region, account=s.account)
    (policy,) = [p for k, p in resources(template, "AWS::IAM::Policy").items() if "AlbController" in k]
    actions = Counter(a for st in policy["Properties"]["PolicyDocument"]["Statement"] for a in _list(st["Action"]))
    assert actions == Counter(a for st in documented["Statement"] for a in _list(st["Action"]))
    text = json.dumps(policy)
    assert ":*:*:" not in text  # no ARN left open to every region and account
    values = charts(template)["aws-load-balancer-controller"]["Values"]
    assert '\\"defaultTags\\"' in json.dumps(values) and "CostCenter" in json.dumps(values)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def manifests(template: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for p in props(template, "Custom::AWSCDK-EKS-KubernetesResource"):
        body = p["Manifest"]
        if isinstance(body, dict):  # a manifest with tokens: Fn::Join of the JSON text
            body = "".join(part if isinstance(part, str) else "TOKEN" for part in body["Fn::Join"][1])
        found += json.loads(body)
    return found


def test_the_sample_service_gets_an_internal_nlb_with_cross_zone_and_health_checks(assembly: Synthesized) -> None:
    (service,) = [m for m in manifests(assembly.template_json("eks")) if m["kind"] == "Service"]
    annotations = service["metadata"]["annotations"]
    prefix = "service.beta.kubernetes.io/aws-load-balancer-"
    assert service["spec"]["type"] == "LoadBalancer"
    assert annotations[f"{prefix}type"] == "external"
    assert annotations[f"{prefix}scheme"] == "internal"
    assert annotations[f"{prefix}attributes"] == "load_balancing.cross_zone.enabled=true"
    assert annotations[f"{prefix}healthcheck-protocol"] == "HTTP"
    assert annotations[f"{prefix}healthcheck-path"] == "/"
    assert service["metadata"]["namespace"] == c.MENDIX_NAMESPACE


def test_persistent_volumes_are_encrypted_and_tagged_for_backup(assembly: Synthesized) -> None:
    (storage_class,) = [m for m in manifests(assembly.template_json("eks")) if m["kind"] == "StorageClass"]
    parameters = storage_class["parameters"]
    assert parameters["encrypted"] == "true"
    assert parameters["kmsKeyId"] == "TOKEN"  # the platform key's ARN
    assert f"MendixBackup={assembly.stacks['eks'].artifact_id}" in parameters.values()
    assert storage_class["reclaimPolicy"] == "Retain"


def test_the_deploy_role_may_edit_one_namespace_only(assembly: Synthesized) -> None:
    entries = props(assembly.template_json("eks"), "AWS::EKS::AccessEntry")
    scoped = [e for e in entries if e["AccessPolicies"][0]["AccessScope"]["Type"] == "namespace"]
    (entry,) = scoped
    (policy,) = entry["AccessPolicies"]
    assert policy["AccessScope"] == {"Type": "namespace", "Namespaces": [c.MENDIX_NAMESPACE]}
    assert json.dumps(policy["PolicyArn"]).endswith(':cluster-access-policy/AmazonEKSEditPolicy"]]}')
    # The other entry is the CDK's kubectl provider, which installs the charts.
    assert len(entries) == 2


def test_administrators_come_from_settings(custom: Synthesized) -> None:
    entries = props(custom.template_json("eks"), "AWS::EKS::AccessEntry")
    (admin,) = [e for e in entries if e["PrincipalArn"] == ADMIN_ROLE]
    (policy,) = admin["AccessPolicies"]
    assert policy["AccessScope"] == {"Type": "cluster"}
    assert json.dumps(policy["PolicyArn"]).endswith(':cluster-access-policy/AmazonEKSClusterAdminPolicy"]]}')


# ---------------------------------------------------------------- database


def test_database_is_multi_az_encrypted_protected_and_private(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    d = assembly.settings.eks.database
    (logical_id,) = resources(template, "AWS::RDS::DBInstance")
    db = template["Resources"][logical_id]
    p = db["Properties"]
    assert p["MultiAZ"] is True
    assert p["StorageEncrypted"] is True and p["KmsKeyId"] == key_arn(template)
    assert p["DeletionProtection"] is True
    assert db["DeletionPolicy"] == "Snapshot" and db["UpdateReplacePolicy"] == "Snapshot"
    assert p["EnableIAMDatabaseAuthentication"] is True
    assert p["EnablePerformanceInsights"] is True and p["PerformanceInsightsKMSKeyId"] == key_arn(template)
    assert p["BackupRetentionPeriod"] == d.backup_retention_days
    assert p["DBInstanceClass"] == f"db.{d.instance_class}"
    assert p["EngineVersion"] == d.engine_version
    assert p["PubliclyAccessible"] is False
    assert set(p["EnableCloudwatchLogsExports"]) == {"postgresql", "upgrade"}
    subnet_group = one(template, "AWS::RDS::DBSubnetGroup")
    assert all("dataSubnet" in output_name(s) for s in subnet_group["SubnetIds"])


def test_master_credentials_are_generated_and_rotated_by_rds_in_secrets_manager(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    p = one(template, "AWS::RDS::DBInstance")
    assert p["ManageMasterUserPassword"] is True
    assert p["MasterUserSecret"] == {"KmsKeyId": key_arn(template)}
    assert "MasterUserPassword" not in p


def test_no_password_in_any_template_output_or_user_data(assembly: Synthesized) -> None:
    """No property carries a password value (generated secrets are fine: their
    value exists only in Secrets Manager), no output names one, and no user data
    resolves a secret into itself at deploy time."""
    carries_password = re.compile(r"(password|^secretstring)$", re.IGNORECASE)
    for path in assembly.template_files():
        template = json.loads(path.read_text())
        for logical_id, resource in template["Resources"].items():
            for key in _keys(resource.get("Properties", {})):
                assert not carries_password.search(key) or key == "ManageMasterUserPassword", f"{path.name} {logical_id}: {key}"
            user_data = json.dumps(_find(resource.get("Properties", {}), "UserData"))
            assert "resolve:secretsmanager" not in user_data, f"{path.name} {logical_id}"
        for name, output in template.get("Outputs", {}).items():
            # A secret's ARN may be output; its value, or a reference that resolves it, may not.
            text = json.dumps(output)
            assert "resolve:secretsmanager" not in text and not re.search('password"|secretstring', text, re.IGNORECASE), name


def _find(value: Any, key: str) -> list[Any]:
    if isinstance(value, dict):
        return [v for k, v in value.items() if k == key] + [f for v in value.values() for f in _find(v, key)]
    if isinstance(value, list):
        return [f for v in value for f in _find(v, key)]
    return []


def _keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [k for k in value] + [k2 for v in value.values() for k2 in _keys(v)]
    if isinstance(value, list):
        return [k for v in value for k in _keys(v)]
    return []


def test_database_admits_postgres_from_the_node_security_group_only(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    groups = resources(template, "AWS::EC2::SecurityGroup")
    (db_sg,) = [k for k in groups if k.startswith("DatabaseSecurityGroup")]
    (node_sg,) = [k for k in groups if k.startswith("PlatformNodeSecurityGroup")]
    inline = groups[db_sg]["Properties"].get("SecurityGroupIngress", [])
    separate = [
        r for r in props(template, "AWS::EC2::SecurityGroupIngress") if r["GroupId"] == {"Fn::GetAtt": [db_sg, "GroupId"]}
    ]
    rules = inline + separate
    assert [(r["SourceSecurityGroupId"], r["FromPort"], r["ToPort"]) for r in rules] == [
        ({"Fn::GetAtt": [node_sg, "GroupId"]}, c.POSTGRES_PORT, c.POSTGRES_PORT)
    ]
    assert groups[db_sg]["Properties"]["SecurityGroupEgress"][0]["CidrIp"] == "255.255.255.255/32"  # no egress


# ------------------------------------------------------------ S3, ECR


def test_ecr_scans_on_push_keeps_tags_immutable_encrypts_and_expires_untagged(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    repo = one(template, "AWS::ECR::Repository")
    assert repo["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert repo["ImageTagMutability"] == "IMMUTABLE"
    assert repo["EncryptionConfiguration"] == {"EncryptionType": "KMS", "KmsKey": key_arn(template)}
    (rule,) = json.loads(repo["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    assert rule["selection"]["tagStatus"] == "untagged"
    assert rule["selection"]["countUnit"] == "days"
    assert rule["selection"]["countNumber"] == assembly.settings.eks.image_untagged_expiry_days


def bucket(template: dict[str, Any], prefix: str) -> tuple[str, dict[str, Any]]:
    (logical_id,) = [k for k in resources(template, "AWS::S3::Bucket") if k.startswith(prefix)]
    return logical_id, template["Resources"][logical_id]["Properties"]


def bucket_policy(template: dict[str, Any], logical_id: str) -> list[dict[str, Any]]:
    (policy,) = [p for p in props(template, "AWS::S3::BucketPolicy") if p["Bucket"] == {"Ref": logical_id}]
    return policy["PolicyDocument"]["Statement"]  # type: ignore[no-any-return]


def test_file_storage_bucket_is_versioned_tiered_encrypted_private_tls_only_and_logged(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    e = assembly.settings.eks
    logical_id, p = bucket(template, "FileStorage")
    logs_id, _ = bucket(template, "AccessLogs")
    assert p["VersioningConfiguration"] == {"Status": "Enabled"}
    (encryption,) = p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn(template)}
    assert encryption["BucketKeyEnabled"] is True
    assert p["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    assert p["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": logs_id}
    (rule,) = p["LifecycleConfiguration"]["Rules"]
    assert [(t["StorageClass"], t["TransitionInDays"]) for t in rule["Transitions"]] == [
        ("STANDARD_IA", e.file_storage_infrequent_access_days),
        ("GLACIER_IR", e.file_storage_glacier_days),
    ]
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": e.file_storage_noncurrent_expiry_days}
    (deny,) = [s for s in bucket_policy(template, logical_id) if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Principal"] == {"AWS": "*"} and deny["Action"] == "s3:*"


def test_every_bucket_is_private_tls_only_and_versioned(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    for logical_id, b in resources(template, "AWS::S3::Bucket").items():
        p = b["Properties"]
        assert p["VersioningConfiguration"] == {"Status": "Enabled"}, logical_id
        assert all(p["PublicAccessBlockConfiguration"].values()), logical_id
        assert any(s["Effect"] == "Deny" and "aws:SecureTransport" in json.dumps(s) for s in bucket_policy(template, logical_id))
        assert b["DeletionPolicy"] == "Retain"
        if not logical_id.startswith("AccessLogs"):
            assert "LoggingConfiguration" in p, logical_id
            assert (
                p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
                == "aws:kms"
            )


# ----------------------------------------------------------------- pipeline


def test_pipeline_stages_source_build_deploy(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    p = assembly.settings.eks.pipeline
    pipeline = one(template, "AWS::CodePipeline::Pipeline")
    assert pipeline["PipelineType"] == "V2"
    stages = [(s["Name"], [(a["Name"], a["ActionTypeId"]["Provider"]) for a in s["Actions"]]) for s in pipeline["Stages"]]
    assert stages == [
        ("Source", [("Source", "CodeStarSourceConnection")]),
        ("Build", [("BuildImage", "CodeBuild")]),
        ("Deploy", [("CanaryDeploy", "CodeBuild")]),
    ]
    source = pipeline["Stages"][0]["Actions"][0]["Configuration"]
    assert source["ConnectionArn"] == p.connection_arn
    assert source["FullRepositoryId"] == p.repository
    assert source["BranchName"] == p.branch
    deploy = pipeline["Stages"][2]["Actions"][0]["Configuration"]
    assert json.loads(deploy["EnvironmentVariables"]) == [
        {"name": "IMAGE_URI", "type": "PLAINTEXT", "value": "#{Build.IMAGE_URI}"}
    ]


def test_build_is_privileged_and_encrypted_and_deploy_runs_in_the_vpc(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    projects = {k: v["Properties"] for k, v in resources(template, "AWS::CodeBuild::Project").items()}
    (build,) = [p for k, p in projects.items() if k.startswith("DeliveryBuildImage")]
    (deploy,) = [p for k, p in projects.items() if k.startswith("DeliveryCanaryDeploy")]
    assert build["Environment"]["PrivilegedMode"] is True
    assert deploy["Environment"]["PrivilegedMode"] is False
    for p in (build, deploy):
        assert p["EncryptionKey"] == key_arn(template)
        assert p["LogsConfig"]["CloudWatchLogs"]["Status"] == "ENABLED"
    assert "VpcConfig" not in build
    assert all("appSubnet" in output_name(s) for s in deploy["VpcConfig"]["Subnets"])
    spec = json.loads(deploy["Source"]["BuildSpec"])
    command = spec["phases"]["build"]["commands"][-1]
    pipeline = assembly.settings.eks.pipeline
    assert "canary_deploy.py" in command
    assert f"--canary-seconds {pipeline.canary_seconds}" in command
    assert f"--max-restarts {pipeline.max_canary_restarts}" in command


def test_build_refuses_images_with_critical_findings(assembly: Synthesized) -> None:
    (build,) = [
        v["Properties"]
        for k, v in resources(assembly.template_json("eks"), "AWS::CodeBuild::Project").items()
        if k.startswith("DeliveryBuildImage")
    ]
    commands = " ".join(json.loads(build["Source"]["BuildSpec"])["phases"]["post_build"]["commands"])
    assert "image-scan-complete" in commands and "CRITICAL" in commands and "exit 1" in commands


# ------------------------------------------------------------ observability


def test_container_insights_addon_and_its_log_groups(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    addons = {a["AddonName"]: a for a in props(template, "AWS::EKS::Addon")}
    assert set(addons) == {"amazon-cloudwatch-observability", "aws-ebs-csi-driver"}
    assert all("ServiceAccountRoleArn" in a for a in addons.values())
    (cluster_id,) = resources(template, "AWS::EKS::Cluster")
    names = [g.get("LogGroupName") for g in props(template, "AWS::Logs::LogGroup")]
    for kind in ("application", "dataplane", "host", "performance"):
        expected = {"Fn::Join": ["", ["/aws/containerinsights/", {"Ref": cluster_id}, f"/{kind}"]]}
        assert expected in names


def test_every_log_group_of_every_stack_has_a_retention_and_a_key(assembly: Synthesized) -> None:
    for path in assembly.template_files():
        for logical_id, group in resources(json.loads(path.read_text()), "AWS::Logs::LogGroup").items():
            assert group["Properties"].get("RetentionInDays"), f"{path.name} {logical_id}"
            if path.name.endswith("-Eks.template.json"):
                assert "KmsKeyId" in group["Properties"], logical_id


def test_alarms_cover_nodes_pods_database_and_the_nlb(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    alarms = props(template, "AWS::CloudWatch::Alarm")
    metrics = {(a["Namespace"], a["MetricName"]) for a in alarms}
    assert metrics == {
        ("ContainerInsights", "node_cpu_utilization"),
        ("ContainerInsights", "node_memory_utilization"),
        ("ContainerInsights", "pod_number_of_container_restarts"),
        ("AWS/RDS", "CPUUtilization"),
        ("AWS/RDS", "FreeStorageSpace"),
        ("AWS/RDS", "DatabaseConnections"),
        ("AWS/NetworkELB", "UnHealthyHostCount"),
    }
    (topic,) = resources(template, "AWS::SNS::Topic")
    for a in alarms:
        assert a["AlarmActions"] == [{"Ref": topic}] and a["OKActions"] == [{"Ref": topic}]
    (free,) = [a for a in alarms if a["MetricName"] == "FreeStorageSpace"]
    d = assembly.settings.eks.database
    assert free["ComparisonOperator"] == "LessThanOrEqualToThreshold"
    assert free["Threshold"] == d.allocated_storage_gib * 1024**3 * d.free_storage_alarm_percent / 100
    resources(template, "AWS::CloudWatch::Dashboard")  # a dashboard exists
    assert len(resources(template, "AWS::CloudWatch::Dashboard")) == 1


def test_cloudtrail_is_multi_region_validated_encrypted_and_delivered_to_logs(assembly: Synthesized, custom: Synthesized) -> None:
    template = assembly.template_json("eks")
    trail = one(template, "AWS::CloudTrail::Trail")
    assert trail["IsMultiRegionTrail"] is True
    assert trail["EnableLogFileValidation"] is True
    assert trail["IncludeGlobalServiceEvents"] is True
    assert "KMSKeyId" in trail and "CloudWatchLogsLogGroupArn" in trail and "CloudWatchLogsRoleArn" in trail
    _, p = bucket(template, "TrailBucket")
    assert (
        p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
        == "aws:kms"
    )
    assert "LoggingConfiguration" in p
    assert resources(custom.template_json("eks"), "AWS::CloudTrail::Trail") == {}


# ---------------------------------------------------------- backup, budget


def test_backup_plan_daily_and_weekly_with_cold_storage_into_an_encrypted_vault(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    b = assembly.settings.eks.backup
    vault = one(template, "AWS::Backup::BackupVault")
    assert vault["EncryptionKeyArn"] == key_arn(template)
    rules = {r["RuleName"]: r for r in one(template, "AWS::Backup::BackupPlan")["BackupPlan"]["BackupPlanRule"]}
    assert rules["Daily"]["Lifecycle"] == {"DeleteAfterDays": b.daily_retention_days}
    assert rules["Weekly"]["Lifecycle"] == {
        "DeleteAfterDays": b.weekly_retention_days,
        "MoveToColdStorageAfterDays": b.weekly_cold_storage_after_days,
    }
    selection = one(template, "AWS::Backup::BackupSelection")["BackupSelection"]
    assert len(selection["Resources"]) == 1  # the database
    assert selection["ListOfTags"] == [
        {"ConditionKey": "MendixBackup", "ConditionType": "STRINGEQUALS", "ConditionValue": assembly.stacks["eks"].artifact_id}
    ]


@pytest.mark.parametrize("profile", ["reference", "dev"])
def test_budget_alerts_at_each_threshold_and_on_the_forecast(synth, profile: str) -> None:
    assembly = synth(profile)
    b = assembly.settings.eks.budget
    budget = one(assembly.template_json("eks"), "AWS::Budgets::Budget")
    assert budget["Budget"]["BudgetLimit"] == {"Amount": b.monthly_limit_usd, "Unit": "USD"}
    assert budget["Budget"]["TimeUnit"] == "MONTHLY"
    assert budget["Budget"]["CostFilters"] == {"TagKeyValue": [f"user:Environment${assembly.settings.tags['Environment']}"]}
    notifications = [
        (n["Notification"]["NotificationType"], n["Notification"]["Threshold"], n["Notification"]["ThresholdType"])
        for n in budget["NotificationsWithSubscribers"]
    ]
    assert notifications == [("ACTUAL", t, "PERCENTAGE") for t in sorted(b.thresholds_percent)] + [
        ("FORECASTED", 100, "PERCENTAGE")
    ]
    for n in budget["NotificationsWithSubscribers"]:
        assert n["Subscribers"] == [{"Address": e, "SubscriptionType": "EMAIL"} for e in b.emails]


def test_eks_can_be_left_out(synth) -> None:
    without = synth("dev", **{"eks.enabled": "false"})
    assert "eks" not in without.stacks
    assert {"network", "data_tier"} <= set(without.stacks)
    entries = props(without.template_json("network"), "AWS::EC2::NetworkAclEntry")
    assert c.POSTGRES_PORT not in {e["PortRange"]["From"] for e in entries}
