"""EksStack: the cluster, node groups, controllers, database, storage, images,
pipeline, observability, trail, backups and budget of the Mendix platform."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import pytest

from components.mendix.load_balancer_controller import POLICIES
from config import constants as c
from tests.conftest import ADMIN_ROLE, ALTERNATIVES, PORTAL_SECRET, PUBLIC_CIDR, Synthesized
from tests.templates import props, render, resources, severity_of, severity_topic


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
    # The platform's own VPC, not the IRIS one.
    assert {s["Fn::GetStackOutput"]["StackName"] for s in subnets} == {assembly.stacks["eks_network"].stack_name}
    (group,) = props(template, "AWS::EKS::Nodegroup")
    assert sorted(output_name(subnet) for subnet in group["Subnets"]) == sorted(output_name(subnet) for subnet in subnets)


# ------------------------------------------------------------- node groups


@pytest.mark.parametrize("profile", ["reference", "dev"])
def test_one_small_tainted_on_demand_system_group_over_all_azs(synth, profile: str) -> None:
    assembly = synth(profile)
    spec = assembly.settings.eks.system_nodes
    azs = len(assembly.settings.availability_zones)
    (group,) = props(assembly.template_json("eks"), "AWS::EKS::Nodegroup")
    assert group["Labels"] == {"mendix.io/node-role": "system"}
    assert len(group["Subnets"]) == azs
    assert group["ScalingConfig"] == {
        "MinSize": spec.min_per_az * azs,
        "DesiredSize": spec.desired_per_az * azs,
        "MaxSize": spec.max_per_az * azs,
    }
    assert group["CapacityType"] == "ON_DEMAND"
    assert group["InstanceTypes"] == list(spec.instance_types)
    assert group["AmiType"] == "AL2023_x86_64_STANDARD"
    assert group["Taints"] == [{"Effect": "NO_SCHEDULE", "Key": "CriticalAddonsOnly", "Value": "true"}]


def node_pools(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        o["metadata"]["name"]: o for objects in manifests_by_id(template).values() for o in objects if o["kind"] == "NodePool"
    }


def requirement(pool: dict[str, Any], key: str) -> dict[str, Any]:
    (found,) = [r for r in pool["spec"]["template"]["spec"]["requirements"] if r["key"] == key]
    return found


def test_karpenter_pools_on_demand_and_spot_with_limits_and_consolidation(reference: Synthesized, dev: Synthesized) -> None:
    for assembly in (reference, dev):
        k = assembly.settings.eks.karpenter
        pools = node_pools(assembly.template_json("eks"))
        assert set(pools) == {"on-demand", "spot"} if k.spot is not None else {"on-demand"}
        for name, spec in (("on-demand", k.on_demand), ("spot", k.spot)):
            if spec is None:
                continue
            pool = pools[name]
            assert requirement(pool, "karpenter.sh/capacity-type")["values"] == [name]
            assert requirement(pool, "kubernetes.io/arch")["values"] == ["amd64"]  # Mendix runs on x86-64
            assert requirement(pool, "karpenter.k8s.aws/instance-category")["values"] == list(spec.instance_categories)
            assert requirement(pool, "karpenter.k8s.aws/instance-generation") == {
                "key": "karpenter.k8s.aws/instance-generation",
                "operator": "Gt",
                "values": [str(spec.min_generation - 1)],
            }
            assert pool["spec"]["limits"] == {"cpu": str(spec.cpu_limit), "memory": f"{spec.memory_limit_gib}Gi"}
            disruption = pool["spec"]["disruption"]
            assert disruption["consolidationPolicy"] == "WhenEmptyOrUnderutilized"
            assert disruption["consolidateAfter"] == f"{k.consolidate_after_seconds}s"
            assert pool["spec"]["template"]["spec"]["nodeClassRef"]["name"] == "mendix"
            assert pool["spec"]["template"]["spec"]["expireAfter"] == f"{k.expire_after_hours}h"
        assert pools["on-demand"]["spec"]["template"]["metadata"]["labels"] == {"mendix.io/node-role": "app"}
        assert "taints" not in pools["on-demand"]["spec"]["template"]["spec"]
        if "spot" in pools:
            assert pools["spot"]["spec"]["template"]["spec"]["taints"] == [
                {"key": "mendix.io/non-critical", "value": "true", "effect": "NoSchedule"}
            ]


def test_karpenter_nodes_have_a_pinned_ami_hop_limit_1_and_encrypted_volumes(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    node_class = k8s(template, "EC2NodeClass", "mendix")["spec"]
    assert node_class["amiSelectorTerms"] == [{"alias": assembly.settings.eks.karpenter.ami_alias}]
    assert node_class["metadataOptions"]["httpTokens"] == "required"
    assert node_class["metadataOptions"]["httpPutResponseHopLimit"] == 1
    (device,) = node_class["blockDeviceMappings"]
    assert device["ebs"]["encrypted"] is True and device["ebs"]["volumeType"] == "gp3"
    assert device["ebs"]["kmsKeyID"] == f"<GetAtt:{key_id(template)}.Arn>"
    assert len(node_class["subnetSelectorTerms"]) == len(assembly.settings.availability_zones)
    assert len(node_class["securityGroupSelectorTerms"]) == 2  # the node group's and the cluster's


def test_karpenter_hears_interruptions_through_an_encrypted_queue(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    (queue_id,) = resources(template, "AWS::SQS::Queue")
    queue = template["Resources"][queue_id]["Properties"]
    assert queue["KmsMasterKeyId"] == key_arn(template)
    assert queue["MessageRetentionPeriod"] == 300
    patterns = {
        (r["EventPattern"]["source"][0], r["EventPattern"]["detail-type"][0])
        for r in props(template, "AWS::Events::Rule")
        if r["Targets"][0]["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    }
    assert patterns == {
        ("aws.health", "AWS Health Event"),
        ("aws.ec2", "EC2 Spot Instance Interruption Warning"),
        ("aws.ec2", "EC2 Instance Rebalance Recommendation"),
        ("aws.ec2", "EC2 Instance State-change Notification"),
    }
    values = json.loads(render_any(charts(template)["karpenter"]["Values"]))
    assert values["settings"]["interruptionQueue"] == f"<GetAtt:{queue_id}.QueueName>"
    assert values["nodeSelector"] == {"mendix.io/node-role": "system"}


def test_karpenter_may_change_only_this_clusters_tagged_instances(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    name = one(template, "AWS::EKS::Cluster")["Name"]
    (association,) = [a for a in props(template, "AWS::EKS::PodIdentityAssociation") if a["ServiceAccount"] == "karpenter"]
    assert association["Namespace"] == "kube-system"
    role_id = association["RoleArn"]["Fn::GetAtt"][0]
    (policy,) = [p for p in props(template, "AWS::IAM::Policy") if p["Roles"] == [{"Ref": role_id}]]
    by_sid = {st.get("Sid"): st for st in policy["PolicyDocument"]["Statement"]}
    deletion = by_sid["AllowScopedDeletion"]
    assert sorted(deletion["Action"]) == ["ec2:DeleteLaunchTemplate", "ec2:TerminateInstances"]
    assert deletion["Condition"] == {
        "StringEquals": {f"aws:ResourceTag/kubernetes.io/cluster/{name}": "owned"},
        "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
    }
    passing = by_sid["AllowPassingInstanceRole"]
    (group,) = props(template, "AWS::EKS::Nodegroup")
    assert passing["Resource"] == group["NodeRole"]
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
    # No statement lets it terminate or tag anything without the cluster's tag.
    for statement in policy["PolicyDocument"]["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if {"ec2:TerminateInstances", "ec2:CreateTags"} & set(actions):
            assert "Condition" in statement


def test_no_cluster_autoscaler_and_no_per_az_app_groups(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    assert "cluster-autoscaler" not in charts(template)
    roles = {g["Labels"]["mendix.io/node-role"] for g in props(template, "AWS::EKS::Nodegroup")}
    assert roles == {"system"}


def test_launch_templates_require_imdsv2_and_encrypt_volumes(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    templates = resources(template, "AWS::EC2::LaunchTemplate")
    assert templates
    for g in props(template, "AWS::EKS::Nodegroup"):
        assert g["LaunchTemplate"]["Id"]["Ref"] in templates
    for lt in templates.values():
        data = lt["Properties"]["LaunchTemplateData"]
        assert data["MetadataOptions"]["HttpTokens"] == "required"
        # Pods (one hop further than the node) cannot reach the node's credentials.
        assert data["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
        (device,) = data["BlockDeviceMappings"]
        assert device["Ebs"]["Encrypted"] is True
        assert device["Ebs"]["KmsKeyId"] == key_arn(template)
        assert device["Ebs"]["VolumeType"] == "gp3"
        assert "KeyName" not in data and "ImageId" not in data  # no SSH keys; the EKS AMI of the group
        assert data["Monitoring"] == {"Enabled": True}  # detailed monitoring (Control Tower CT.EC2.PR.10)


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
        "karpenter": ("oci://public.ecr.aws/karpenter/karpenter", e.karpenter.chart_version),
        "aws-load-balancer-controller": ("https://aws.github.io/eks-charts", e.load_balancer_controller_chart_version),
    }
    for p in found.values():
        assert "ChartAssetURL" not in p  # no chart packaged at synthesis


def _irsa_subject(template: dict[str, Any], role_id: str) -> str:
    trust = template["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    conditions = template["Resources"][trust["Condition"]["StringEquals"]["Fn::GetAtt"][0]]["Properties"]["Value"]
    return json.dumps(conditions)


def controller_policy(template: dict[str, Any]) -> list[dict[str, Any]]:
    (policy,) = [p for k, p in resources(template, "AWS::IAM::Policy").items() if "AlbController" in k]
    return policy["Properties"]["PolicyDocument"]["Statement"]  # type: ignore[no-any-return]


def test_load_balancer_controller_has_its_documented_policy_narrowed_to_the_account(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    s = assembly.settings
    upstream = json.loads((POLICIES / f"aws-load-balancer-controller-{s.eks.load_balancer_controller_version}.json").read_text())
    allows = [st for st in controller_policy(template) if st["Effect"] == "Allow"]
    actions = Counter(a for st in allows for a in _list(st["Action"]))
    assert actions == Counter(a for st in upstream["Statement"] for a in _list(st["Action"]))
    assert ":*:*:" not in json.dumps(allows)  # no ARN left open to every region and account
    values = charts(template)["aws-load-balancer-controller"]["Values"]
    assert '\\"defaultTags\\"' in json.dumps(values) and "CostCenter" in json.dumps(values)


def test_load_balancer_controller_may_touch_only_what_it_created(assembly: Synthesized) -> None:
    """Explicit denies after the documented allows: no write on a load balancer, listener, rule or target group
    without this cluster's tag (the IRIS VIPs and ALBs have none), no security-group change outside the
    platform's VPC, no web ACL or Shield protection at all."""
    template = assembly.template_json("eks")
    s = assembly.settings
    denies = [st for st in controller_policy(template) if st["Effect"] == "Deny"]
    vpc_arn = "<the platform VPC's ARN>"
    foreign = {"StringNotEquals": {"aws:ResourceTag/elbv2.k8s.aws/cluster": assembly.stacks["eks"].stack_name}}
    elb = "elasticloadbalancing:"
    expected = [
        {
            "Sid": "DenyElbWritesOnResourcesOfOthers",
            "Effect": "Deny",
            "Action": [
                elb + a
                for a in (
                    "AddListenerCertificates", "CreateListener", "CreateRule", "DeleteListener", "DeleteLoadBalancer",
                    "DeleteRule", "DeleteTargetGroup", "DeregisterTargets", "ModifyCapacityReservation", "ModifyIpPools",
                    "ModifyListener", "ModifyListenerAttributes", "ModifyLoadBalancerAttributes", "ModifyRule",
                    "ModifyTargetGroup", "ModifyTargetGroupAttributes", "RegisterTargets", "RemoveListenerCertificates",
                    "SetIpAddressType", "SetRulePriorities", "SetSecurityGroups", "SetSubnets",
                )
            ],
            "Resource": "*",
            "Condition": foreign,
        },
        {
            "Sid": "DenyElbTaggingOfResourcesOfOthers",
            "Effect": "Deny",
            "Action": [elb + "AddTags", elb + "RemoveTags"],
            "Resource": "*",
            "Condition": {**foreign, "Null": {"elasticloadbalancing:CreateAction": "true"}},
        },
        {
            "Sid": "DenySecurityGroupWritesOutsideThePlatformVpc",
            "Effect": "Deny",
            "Action": ["ec2:AuthorizeSecurityGroupIngress", "ec2:DeleteSecurityGroup", "ec2:RevokeSecurityGroupIngress"],
            "Resource": "*",
            "Condition": {"ArnNotEquals": {"ec2:Vpc": vpc_arn}},
        },
        {
            "Sid": "DenySecurityGroupsInOtherVpcs",
            "Effect": "Deny",
            "Action": "ec2:CreateSecurityGroup",
            "NotResource": [f"arn:aws:ec2:{s.region}:{s.eks_account}:security-group/*", vpc_arn],
        },
        {
            "Sid": "DenyWebAclsAndShield",
            "Effect": "Deny",
            "Action": [
                elb + "SetWebAcl", "shield:CreateProtection", "shield:DeleteProtection", "waf-regional:AssociateWebACL",
                "waf-regional:DisassociateWebACL", "wafv2:AssociateWebACL", "wafv2:DisassociateWebACL",
            ],
            "Resource": "*",
        },
    ]  # fmt: skip
    network = assembly.template_json("eks_network")
    (vpc_id,) = resources(network, "AWS::EC2::VPC")

    def platform_vpc(value: Any) -> Any:
        """The VPC ARN the CDK writes (an output of the EksNetwork stack), checked and named."""
        if isinstance(value, dict) and "Fn::Join" in value:
            prefix, reference = value["Fn::Join"][1]
            assert prefix == f"arn:aws:ec2:{s.region}:{s.eks_account}:vpc/"
            assert reference["Fn::GetStackOutput"]["StackName"] == assembly.stacks["eks_network"].stack_name
            assert assembly.local(reference) == {"Ref": vpc_id}
            return vpc_arn
        if isinstance(value, dict):
            return {k: platform_vpc(v) for k, v in value.items()}
        if isinstance(value, list):
            return [platform_vpc(v) for v in value]
        return value

    assert platform_vpc(denies) == expected
    # The chart turns off what the denies refuse, and tags listeners and rules so the controller keeps its own.
    values = json.dumps(charts(template)["aws-load-balancer-controller"]["Values"])
    for flag in ("enableShield", "enableWaf", "enableWafv2"):
        assert f'\\"{flag}\\":false' in values
    assert '\\"featureGates\\":{\\"ListenerRulesTagging\\":true}' in values


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


@pytest.mark.parametrize("cluster_name", ["Iris-Eks", "Healthshare-Production-Eks", "Healthshare-Production-Mendix-E"])
def test_the_sample_apps_nlb_name_is_one_aws_accepts(cluster_name: str) -> None:
    from components.mendix.manifests import sample_app_load_balancer_name

    # The alarms find the NLB by this name, so the controller must be able to create it as it is.
    name = sample_app_load_balancer_name(cluster_name)
    assert re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?", name), name
    assert name.startswith(cluster_name.lower()[: len(name)])


def test_persistent_volumes_are_encrypted_and_tagged_for_backup(assembly: Synthesized) -> None:
    (storage_class,) = [m for m in manifests(assembly.template_json("eks")) if m["kind"] == "StorageClass"]
    parameters = storage_class["parameters"]
    assert parameters["encrypted"] == "true"
    assert parameters["kmsKeyId"] == "TOKEN"  # the platform key's ARN
    assert f"MendixBackup={assembly.stacks['eks'].artifact_id}" in parameters.values()
    assert storage_class["reclaimPolicy"] == "Retain"


def test_the_deploy_role_may_touch_mendix_apps_in_one_namespace_only(assembly: Synthesized) -> None:
    from components.mendix.pipeline import DELIVERY_GROUP

    template = assembly.template_json("eks")
    entries = props(template, "AWS::EKS::AccessEntry")
    (entry,) = [e for e in entries if "AccessPolicies" not in e]
    (role_id,) = [k for k in resources(template, "AWS::IAM::Role") if k.startswith("DeliveryDeployPackageRole")]
    assert entry["PrincipalArn"] == {"Fn::GetAtt": [role_id, "Arn"]}
    # No access policy: the group's one Role below is all the deploy step may do in Kubernetes.
    assert (entry["KubernetesGroups"], entry["Type"]) == ([DELIVERY_GROUP], "STANDARD")
    role, binding = [m for m in manifests(template) if m["metadata"].get("name") == DELIVERY_GROUP]
    for m in (role, binding):  # only the CDK's prune label is added
        assert all(label.startswith("aws.cdk.eks/prune-") for label in m["metadata"].pop("labels"))
    assert role == {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": DELIVERY_GROUP, "namespace": c.MENDIX_NAMESPACE},
        "rules": [
            {
                "apiGroups": ["privatecloud.mendix.com"],
                "resources": ["mendixapps"],
                "verbs": ["get", "list", "watch", "create", "patch"],
            }
        ],
    }
    assert binding["kind"] == "RoleBinding" and binding["metadata"]["namespace"] == c.MENDIX_NAMESPACE
    assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": DELIVERY_GROUP}]
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


def test_pipeline_promotes_one_package_from_staging_to_production_behind_an_approval(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    p = assembly.settings.eks.pipeline
    assert p is not None
    pipeline = one(template, "AWS::CodePipeline::Pipeline")
    assert pipeline["PipelineType"] == "V2"
    stages = [(s["Name"], [(a["Name"], a["ActionTypeId"]["Provider"]) for a in s["Actions"]]) for s in pipeline["Stages"]]
    assert stages == [
        ("Source", [("Source", "CodeStarSourceConnection")]),
        ("Package", [("BuildPackage", "CodeBuild")]),
        ("Staging", [("DeployStaging", "CodeBuild")]),
        ("Approval", [("PromoteToProduction", "Manual")]),
        ("Production", [("DeployProduction", "CodeBuild")]),
    ]
    source = pipeline["Stages"][0]["Actions"][0]["Configuration"]
    assert (source["ConnectionArn"], source["FullRepositoryId"], source["BranchName"]) == (
        p.connection_arn,
        p.repository,
        p.branch,
    )
    package = [
        {"name": "PACKAGE_KEY", "type": "PLAINTEXT", "value": "#{Package.PACKAGE_KEY}"},
        {"name": "PACKAGE_SHA256", "type": "PLAINTEXT", "value": "#{Package.PACKAGE_SHA256}"},
    ]
    for stage, environment in ((2, p.staging), (4, p.production)):
        config = pipeline["Stages"][stage]["Actions"][0]["Configuration"]
        # Both environments get the one package the Package stage built.
        assert json.loads(config["EnvironmentVariables"]) == [
            *package,
            {"name": "MENDIX_APP", "type": "PLAINTEXT", "value": environment.app},
            {"name": "MENDIX_REPLICAS", "type": "PLAINTEXT", "value": str(environment.replicas)},
        ]
    # A decision in working hours: the region's P4 topic (the data tier's).
    approval = pipeline["Stages"][3]["Actions"][0]["Configuration"]
    assert assembly.local(approval["NotificationArn"]) == severity_topic(assembly.template_json("data_tier"), "P4")
    assert p.production.app in approval["CustomData"] and "#{Package.PACKAGE_SHA256}" in approval["CustomData"]


def test_the_source_action_uses_the_connection_with_its_own_service(assembly: Synthesized) -> None:
    # codeconnections and codestar-connections are two IAM services; the action must match the ARN.
    template = assembly.template_json("eks")
    p = assembly.settings.eks.pipeline
    assert p is not None and p.connection_arn.startswith("arn:aws:codeconnections:")
    uses = [
        st
        for policy in props(template, "AWS::IAM::Policy")
        for st in policy["PolicyDocument"]["Statement"]
        if "UseConnection" in json.dumps(st["Action"])
    ]
    assert uses == [{"Action": "codeconnections:UseConnection", "Effect": "Allow", "Resource": p.connection_arn}]


def test_a_codestar_connections_arn_keeps_its_own_action() -> None:
    from components.mendix.pipeline import connection_action

    arn = "arn:aws:codestar-connections:eu-west-1:123456789012:connection/12345678-1234-1234-1234-123456789012"
    assert connection_action(arn) == "codestar-connections:UseConnection"
    assert connection_action(arn.replace("codestar-connections", "codeconnections")) == "codeconnections:UseConnection"


def projects(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in resources(template, "AWS::CodeBuild::Project").items()}


def test_mxbuild_packages_the_project_and_stores_it_under_its_digest(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    p = assembly.settings.eks.pipeline
    assert p is not None
    (build,) = [v for k, v in projects(template).items() if k.startswith("DeliveryBuildPackage")]
    image = json.dumps(build["Environment"]["Image"])
    name, tag = p.mxbuild_image.split("/", 1)[1].split(":")
    assert f"repository/{name}" in image or f"/{name}:{tag}" in image
    assert build["Environment"]["ImagePullCredentialsType"] == "SERVICE_ROLE"
    assert build["Environment"]["PrivilegedMode"] is False
    # The pipeline's own key, not the platform's (tests/test_audit.py).
    (pipeline_key,) = [k for k in resources(template, "AWS::KMS::Key") if k.startswith("PipelineKey")]
    assert build["EncryptionKey"] == {"Fn::GetAtt": [pipeline_key, "Arn"]}
    spec = json.loads(build["Source"]["BuildSpec"])
    assert spec["env"]["exported-variables"] == ["PACKAGE_KEY", "PACKAGE_SHA256"]
    commands = spec["phases"]["build"]["commands"]
    assert commands[0].startswith("mxbuild ") and '"$PROJECT_FILE"' in commands[0]
    assert {"Name": "PROJECT_FILE", "Type": "PLAINTEXT", "Value": p.project_file} in build["Environment"]["EnvironmentVariables"]
    assert 'PACKAGE_KEY="packages/$PACKAGE_SHA256.mda"' in commands[2]


def test_the_deploy_step_runs_the_delivery_script_in_the_vpc(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    p = assembly.settings.eks.pipeline
    assert p is not None
    (deploy,) = [v for k, v in projects(template).items() if k.startswith("DeliveryDeployPackage")]
    assert deploy["Environment"]["PrivilegedMode"] is False
    assert all("appSubnet" in output_name(s) for s in deploy["VpcConfig"]["Subnets"])
    # Room for a deployment and its rollback, each up to the deploy timeout.
    assert deploy["TimeoutInMinutes"] == 2 * p.deploy_timeout_minutes + 30
    command = json.loads(deploy["Source"]["BuildSpec"])["phases"]["build"]["commands"][-1]
    name = one(template, "AWS::RDS::DBInstance")["DBInstanceIdentifier"]
    assert command.startswith("python3 mendix_deploy.py deploy --namespace mendix ")
    for part in (
        '--app "$MENDIX_APP" --replicas "$MENDIX_REPLICAS"',
        '--key "$PACKAGE_KEY" --sha256 "$PACKAGE_SHA256"',
        f"--db-instance {name} --snapshot-prefix {name}-predeploy",
        "--storage-plan s3-irsa --database-plan postgres-iam",
        '--bucket "$PACKAGES_BUCKET"',
        f"--timeout-seconds {p.deploy_timeout_minutes * 60} --keep-snapshots {p.pre_deploy_snapshots_kept}",
    ):
        assert part in command


def test_the_deploy_step_may_snapshot_the_database_under_its_own_prefix_only(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    (db_id,) = resources(template, "AWS::RDS::DBInstance")
    name = one(template, "AWS::RDS::DBInstance")["DBInstanceIdentifier"]
    instance = json.dumps({"Fn::Join": ["", ["arn:aws:rds:eu-west-1:000000000000:db:", {"Ref": db_id}]]})
    snapshots = f"arn:aws:rds:eu-west-1:000000000000:snapshot:{name}-predeploy-*"
    (role_id,) = [k for k in resources(template, "AWS::IAM::Role") if k.startswith("DeliveryDeployPackageRole")]
    statements = {
        st.get("Sid"): st
        for policy in props(template, "AWS::IAM::Policy")
        if {"Ref": role_id} in policy["Roles"]
        for st in policy["PolicyDocument"]["Statement"]
    }

    def grant(sid: str) -> tuple[str, list[str]]:
        resource = statements[sid]["Resource"]
        return statements[sid]["Action"], sorted(json.dumps(r) for r in (resource if isinstance(resource, list) else [resource]))

    assert grant("SnapshotTheDatabaseBeforeAPackageChange") == ("rds:CreateDBSnapshot", sorted([instance, json.dumps(snapshots)]))
    assert grant("WaitForAndListThem") == ("rds:DescribeDBSnapshots", sorted([instance, json.dumps(snapshots)]))
    assert grant("TagThoseSnapshots") == ("rds:AddTagsToResource", [json.dumps(snapshots)])
    assert grant("PruneTheOldestOfThem") == ("rds:DeleteDBSnapshot", [json.dumps(snapshots)])
    # Nothing else of RDS: no restore, no modify, no other instance.
    rds_actions = {
        a
        for st in statements.values()
        for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
        if a.startswith("rds:")
    }
    assert rds_actions == {"rds:CreateDBSnapshot", "rds:AddTagsToResource", "rds:DescribeDBSnapshots", "rds:DeleteDBSnapshot"}


def test_without_a_pipeline_there_is_no_delivery(custom: Synthesized) -> None:
    template = custom.template_json("eks")
    assert resources(template, "AWS::CodePipeline::Pipeline") == {}
    assert resources(template, "AWS::CodeBuild::Project") == {}
    assert all("AccessPolicies" in e for e in props(template, "AWS::EKS::AccessEntry"))


# ------------------------------------------------------------ observability


def test_container_insights_addon_and_its_log_groups(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    addon = {a["AddonName"]: a for a in props(template, "AWS::EKS::Addon")}["amazon-cloudwatch-observability"]
    assert addon["AddonVersion"] == assembly.settings.eks.addons.cloudwatch_observability
    (association,) = addon["PodIdentityAssociations"]
    assert association["ServiceAccount"] == "cloudwatch-agent"
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
    # The region's topics are the data tier's.
    assert resources(template, "AWS::SNS::Topic") == {}
    for a in alarms:
        topic = severity_topic(assembly.template_json("data_tier"), severity_of(a))
        assert [assembly.local(x) for x in a["AlarmActions"]] == [assembly.local(x) for x in a["OKActions"]] == [topic]
    (free,) = [a for a in alarms if a["MetricName"] == "FreeStorageSpace"]
    d = assembly.settings.eks.database
    assert free["ComparisonOperator"] == "LessThanOrEqualToThreshold"
    assert free["Threshold"] == d.allocated_storage_gib * 1024**3 * d.free_storage_alarm_percent / 100
    resources(template, "AWS::CloudWatch::Dashboard")  # a dashboard exists
    assert len(resources(template, "AWS::CloudWatch::Dashboard")) == 1


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
    (db_id,) = resources(template, "AWS::RDS::DBInstance")
    (bucket_id,) = [k for k in resources(template, "AWS::S3::Bucket") if k.startswith("FileStorage")]
    # The database and the Mendix file bucket.
    assert {"Fn::GetAtt": [bucket_id, "Arn"]} in selection["Resources"]
    assert len(selection["Resources"]) == 2
    assert any(db_id in json.dumps(r) for r in selection["Resources"])
    assert selection["ListOfTags"] == [
        {"ConditionKey": "MendixBackup", "ConditionType": "STRINGEQUALS", "ConditionValue": assembly.stacks["eks"].artifact_id}
    ]


def test_every_recovery_point_is_copied_to_the_dr_vault_with_the_dr_key(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    b = assembly.settings.eks.backup
    dr = assembly.stacks["dr_region"]
    vault = {
        "Fn::GetStackOutput": {
            "StackName": dr.stack_name,
            "Region": dr.region,
            "OutputName": output_name(
                one(template, "AWS::Backup::BackupPlan")["BackupPlan"]["BackupPlanRule"][0]["CopyActions"][0][
                    "DestinationBackupVaultArn"
                ]
            ),
        }
    }
    rules = {r["RuleName"]: r for r in one(template, "AWS::Backup::BackupPlan")["BackupPlan"]["BackupPlanRule"]}
    assert rules["Daily"]["CopyActions"] == [
        {"DestinationBackupVaultArn": vault, "Lifecycle": {"DeleteAfterDays": b.daily_retention_days}}
    ]
    assert rules["Weekly"]["CopyActions"] == [
        {
            "DestinationBackupVaultArn": vault,
            "Lifecycle": {
                "DeleteAfterDays": b.weekly_retention_days,
                "MoveToColdStorageAfterDays": b.weekly_cold_storage_after_days,
            },
        }
    ]
    # The vault is the DR region's, encrypted with the DR key, which the backup role may use for the copies.
    dr_template = assembly.template_json("dr_region")
    ((dr_vault_id, dr_vault),) = [(k, v["Properties"]) for k, v in resources(dr_template, "AWS::Backup::BackupVault").items()]
    (dr_key_id,) = [k for k in resources(dr_template, "AWS::KMS::Key") if k.startswith("DrKey")]
    assert dr_vault["EncryptionKeyArn"] == {"Fn::GetAtt": [dr_key_id, "Arn"]}
    assert dr_template["Resources"][dr_vault_id]["DeletionPolicy"] == "Retain"
    assert dr_vault_id in vault["Fn::GetStackOutput"]["OutputName"]
    (copy,) = [st for st in policy_of_role(template, "BackupRole") if st.get("Sid") == "EncryptCopiesInTheDrVault"]
    assert copy["Action"] == [
        "kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"
    ]  # fmt: skip
    assert copy["Resource"]["Fn::GetStackOutput"]["StackName"] == dr.stack_name


def test_without_a_dr_region_nothing_is_copied(custom: Synthesized) -> None:
    template = custom.template_json("eks")
    rules = one(template, "AWS::Backup::BackupPlan")["BackupPlan"]["BackupPlanRule"]
    assert all("CopyActions" not in r for r in rules)
    assert not [st for st in policy_of_role(template, "BackupRole") if st.get("Sid") == "EncryptCopiesInTheDrVault"]


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


def test_eks_can_be_left_out(alternatives: Synthesized) -> None:
    without = alternatives
    assert ALTERNATIVES["eks.enabled"] == "false"
    assert "eks" not in without.stacks
    assert {"network", "data_tier"} <= set(without.stacks)
    entries = props(without.template_json("network"), "AWS::EC2::NetworkAclEntry")
    assert c.POSTGRES_PORT not in {e["PortRange"]["From"] for e in entries}


# ------------------------------------------------------ add-ons and identity

ADDON_SETTINGS = {
    "vpc-cni": "vpc_cni",
    "coredns": "coredns",
    "kube-proxy": "kube_proxy",
    "eks-pod-identity-agent": "pod_identity_agent",
    "metrics-server": "metrics_server",
    "aws-ebs-csi-driver": "ebs_csi_driver",
    "amazon-cloudwatch-observability": "cloudwatch_observability",
}


def addons(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["AddonName"]: a for a in props(template, "AWS::EKS::Addon")}


def test_every_addon_is_eks_managed_at_its_pinned_version(assembly: Synthesized) -> None:
    found = addons(assembly.template_json("eks"))
    assert set(found) == set(ADDON_SETTINGS)
    for name, key in ADDON_SETTINGS.items():
        assert found[name]["AddonVersion"] == getattr(assembly.settings.eks.addons, key), name
        # Pod Identity, not IRSA, for every add-on.
        assert "ServiceAccountRoleArn" not in found[name]


def test_vpc_cni_enforces_network_policies(assembly: Synthesized) -> None:
    cni = addons(assembly.template_json("eks"))["vpc-cni"]
    assert json.loads(cni["ConfigurationValues"]) == {"enableNetworkPolicy": "true"}


def role_of(template: dict[str, Any], arn: dict[str, Any]) -> dict[str, Any]:
    (logical_id, _) = arn["Fn::GetAtt"]
    return template["Resources"][logical_id]


@pytest.mark.parametrize(
    ("addon", "namespace", "service_account"),
    [
        ("vpc-cni", "kube-system", "aws-node"),
        ("aws-ebs-csi-driver", "kube-system", "ebs-csi-controller-sa"),
        ("amazon-cloudwatch-observability", "amazon-cloudwatch", "cloudwatch-agent"),
    ],
)
def test_addon_roles_are_pod_identity_roles_of_one_service_account(
    assembly: Synthesized, addon: str, namespace: str, service_account: str
) -> None:
    template = assembly.template_json("eks")
    (association,) = addons(template)[addon]["PodIdentityAssociations"]
    assert association["ServiceAccount"] == service_account
    (statement,) = role_of(template, association["RoleArn"])["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    (cluster_id,) = resources(template, "AWS::EKS::Cluster")
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(statement["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    assert statement["Condition"] == {
        "StringEquals": {
            "aws:RequestTag/eks-cluster-arn": {"Fn::GetAtt": [cluster_id, "Arn"]},
            "aws:RequestTag/kubernetes-namespace": namespace,
            "aws:RequestTag/kubernetes-service-account": service_account,
        }
    }


def test_nodes_keep_no_cni_permissions(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    (group,) = {json.dumps(g["NodeRole"]) for g in props(template, "AWS::EKS::Nodegroup")}
    node_role = role_of(template, json.loads(group))
    attached = [render(arn) for arn in node_role["Properties"]["ManagedPolicyArns"]]
    assert not any("AmazonEKS_CNI_Policy" in arn for arn in attached)
    assert any(arn.endswith("AmazonEKSWorkerNodePolicy") for arn in attached)


# ------------------------------------------------------------ Mendix Operator


def render_any(value: Any) -> str:
    """Like tests.templates.render, with any other intrinsic shown by its name (for manifests)."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(render_any(part) for part in parts)
    try:
        return render(value)
    except AssertionError:
        return f"<{next(iter(value))}>"


def manifests_by_id(template: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Logical id -> the Kubernetes objects of each manifest resource."""
    return {
        logical_id: json.loads(render_any(r["Properties"]["Manifest"]))
        for logical_id, r in resources(template, "Custom::AWSCDK-EKS-KubernetesResource").items()
    }


def k8s(template: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    (found,) = [
        o
        for objects in manifests_by_id(template).values()
        for o in objects
        if o["kind"] == kind and o["metadata"]["name"] == name
    ]
    return found


def manifest_id(template: dict[str, Any], kind: str, name: str) -> str:
    (found,) = [
        k
        for k, objects in manifests_by_id(template).items()
        if any(o["kind"] == kind and o["metadata"]["name"] == name for o in objects)
    ]
    return found


def script(job: dict[str, Any]) -> str:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"][:2] == ["/bin/sh", "-c"]
    return str(container["command"][2])


def test_the_operator_is_installed_by_a_job_running_base_install_then_apply_config(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    o = assembly.settings.eks.mendix_operator
    job = k8s(template, "Job", "mendix-installer")
    assert job["metadata"]["namespace"] == c.MENDIX_NAMESPACE
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["image"] == o.installer_image
    text = script(job)
    base = text.index(
        f'mxpc-cli base-install --namespace {c.MENDIX_NAMESPACE} "$@" --clusterMode standalone --clusterType generic'
    )
    apply = text.index('mxpc-cli apply-config "$@" --file /etc/mendix-installer/mx_config_cli.yaml')
    wait = text.index("wait --for=condition=complete job/mendix-db-bootstrap")
    endpoint = text.index("patch operatorconfiguration mendix-operator-configuration --type merge")
    assert wait < base < apply < endpoint
    assert "secretsmanager" not in text  # standalone: no Portal credentials
    # The Operator is installed by mxpc-cli, not by a chart pulled at deploy time.
    assert "mendix-operator" not in charts(template)


def test_the_connected_installer_reads_the_namespace_secret_through_pod_identity(custom: Synthesized) -> None:
    template = custom.template_json("eks")
    text = script(k8s(template, "Job", "mendix-installer"))
    assert f"aws secretsmanager get-secret-value --secret-id {PORTAL_SECRET}" in text
    assert "--clusterMode connected" in text
    (association,) = [a for a in props(template, "AWS::EKS::PodIdentityAssociation") if a["ServiceAccount"] == "mendix-installer"]
    assert association["Namespace"] == c.MENDIX_NAMESPACE
    role_id = association["RoleArn"]["Fn::GetAtt"][0]
    (policy,) = [p for p in props(template, "AWS::IAM::Policy") if p["Roles"] == [{"Ref": role_id}]]
    assert policy["PolicyDocument"]["Statement"] == [
        {"Action": "secretsmanager:GetSecretValue", "Effect": "Allow", "Resource": PORTAL_SECRET}
    ]


def test_operator_plans_and_apps_share_one_namespace(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    config = json.loads(k8s(template, "ConfigMap", "mendix-installer")["data"]["mx_config_cli.yaml"])
    assert config["namespace"] == c.MENDIX_NAMESPACE
    assert k8s(template, "Deployment", "mendix-app")["metadata"]["namespace"] == c.MENDIX_NAMESPACE
    assert k8s(template, "Job", "mendix-installer")["metadata"]["namespace"] == c.MENDIX_NAMESPACE
    namespaces = {
        o["metadata"]["name"] for objects in manifests_by_id(template).values() for o in objects if o["kind"] == "Namespace"
    }
    assert c.MENDIX_NAMESPACE in namespaces
    assert "mendix-operator" not in namespaces


def test_the_plans_are_built_from_the_stacks_own_resources(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    config = json.loads(k8s(template, "ConfigMap", "mendix-installer")["data"]["mx_config_cli.yaml"])
    (bucket_id,) = [k for k in resources(template, "AWS::S3::Bucket") if k.startswith("FileStorage")]
    (db_id,) = resources(template, "AWS::RDS::DBInstance")
    (repo_id,) = resources(template, "AWS::ECR::Repository")
    (policy_id,) = [
        k for k in resources(template, "AWS::IAM::ManagedPolicy") if k.startswith("MendixOperatorPlansEnvironmentPolicy")
    ]
    storage = config["storage_plan"]
    assert storage["type"] == "amazon-s3"
    s3_plan = storage["s3"]
    assert s3_plan["irsa_authentication"] is True
    assert (s3_plan["create_bucket"], s3_plan["create_user"], s3_plan["create_inline_policy"]) == (False, False, False)
    assert s3_plan["existing_bucket"] == f"<Ref:{bucket_id}>"
    assert s3_plan["existing_policy"] == f"<Ref:{policy_id}>"
    assert s3_plan["kubernetes_service_account"] == "mendix-storage-admin"
    database = config["database_plan"]
    assert database["type"] == "postgres"
    postgres = database["postgres"]
    assert postgres["authentication_mode"] == "aws-iam"
    assert postgres["databaseprops"]["host"] == f"<GetAtt:{db_id}.Endpoint.Address>"
    assert postgres["databaseprops"]["user"] == "mendix_admin"
    assert postgres["databaseprops"]["password"] == ""
    assert postgres["databaseprops"]["strict_tls"] is True
    assert postgres["aws_iam_role"] == s3_plan["admin_iam_role"]  # one admin role, as Mendix recommends
    registry = config["registry"]
    assert registry["type"] == "amazon-ecr"
    assert registry["ecr_registry"]["name"] == f"<Ref:{repo_id}>"
    assert registry["ecr_registry"]["is_static_credential"] is False
    assert registry["ecr_registry"]["kubernetes_service_account"] == "mendix-builder"
    # The master secret is never part of the Operator's configuration.
    (secret_attachment,) = props(template, "AWS::RDS::DBInstance")
    assert "MasterUserSecret" not in json.dumps(config) and "secretsmanager" not in json.dumps(config)
    assert secret_attachment["ManageMasterUserPassword"] is True


def policy_of_role(template: dict[str, Any], role_prefix: str) -> list[dict[str, Any]]:
    (role_id,) = [k for k in resources(template, "AWS::IAM::Role") if k.startswith(role_prefix)]
    (policy,) = [p for p in props(template, "AWS::IAM::Policy") if p["Roles"] == [{"Ref": role_id}]]
    return policy["PolicyDocument"]["Statement"]  # type: ignore[no-any-return]


def dbuser_arn(db_id: str, user: str) -> dict[str, Any]:
    return {
        "Fn::Join": [
            "",
            ["arn:aws:rds-db:eu-west-1:000000000000:dbuser:", {"Fn::GetAtt": [db_id, "DbiResourceId"]}, f"/{user}"],
        ]
    }


def test_the_storage_admin_may_manage_only_mendix_roles_one_bucket_and_one_database_user(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    (bucket_id,) = [k for k in resources(template, "AWS::S3::Bucket") if k.startswith("FileStorage")]
    (db_id,) = resources(template, "AWS::RDS::DBInstance")
    (policy_id,) = [
        k for k in resources(template, "AWS::IAM::ManagedPolicy") if k.startswith("MendixOperatorPlansEnvironmentPolicy")
    ]
    bucket = {"Fn::GetAtt": [bucket_id, "Arn"]}
    roles = "arn:aws:iam::000000000000:role/mendix-*"
    objects = ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:PutObject"]
    assert policy_of_role(template, "MendixOperatorPlansStorageAdminRole") == [
        {
            "Action": ["iam:AttachRolePolicy", "iam:DetachRolePolicy"],
            "Condition": {"ArnEquals": {"iam:PolicyArn": [{"Ref": policy_id}]}},
            "Effect": "Allow",
            "Resource": roles,
            "Sid": "LimitedAttachmentPermissions",
        },
        {
            "Action": ["iam:CreateRole", "iam:DeleteRole", "iam:TagRole"],
            "Effect": "Allow",
            "Resource": roles,
            "Sid": "ManageRoles",
        },
        {
            "Action": sorted([*objects, "s3:ListBucket"]),
            "Effect": "Allow",
            "Resource": [bucket, {"Fn::Join": ["", [bucket, "/*"]]}],
            "Sid": "AllowFileCleanup",
        },
        {
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}},
            "Effect": "Allow",
            "Resource": key_arn(template),
            "Sid": "UseTheFileKeyThroughS3",
        },
        {
            "Action": "rds-db:connect",
            "Effect": "Allow",
            "Resource": dbuser_arn(db_id, "mendix_admin"),
            "Sid": "AllowCreateRDSTenants",
        },
    ]


def test_the_environment_policy_is_keyed_on_the_operators_tags(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    (bucket_id,) = [k for k in resources(template, "AWS::S3::Bucket") if k.startswith("FileStorage")]
    (db_id,) = resources(template, "AWS::RDS::DBInstance")
    (policy,) = [
        v["Properties"]
        for k, v in resources(template, "AWS::IAM::ManagedPolicy").items()
        if k.startswith("MendixOperatorPlansEnvironmentPolicy")
    ]
    bucket = {"Fn::GetAtt": [bucket_id, "Arn"]}
    prefix = "${aws:PrincipalTag/privatecloud.mendix.com/s3-prefix}"
    assert policy["PolicyDocument"]["Statement"] == [
        {
            "Action": "s3:ListBucket",
            "Condition": {"StringLike": {"s3:prefix": [f"{prefix}/*", prefix]}},
            "Effect": "Allow",
            "Resource": bucket,
            "Sid": "AllowListingOfUserFolder",
        },
        {
            "Action": [
                "s3:AbortMultipartUpload",
                "s3:DeleteObject",
                "s3:GetObject",
                "s3:ListMultipartUploadParts",
                "s3:PutObject",
            ],
            "Effect": "Allow",
            "Resource": {"Fn::Join": ["", [bucket, f"/{prefix}/*"]]},
            "Sid": "AllowAllS3ActionsInUserFolder",
        },
        {
            "Action": "rds-db:connect",
            "Effect": "Allow",
            "Resource": dbuser_arn(db_id, "${aws:PrincipalTag/privatecloud.mendix.com/database-user}"),
            "Sid": "AllowConnectionToDatabase",
        },
        {
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}},
            "Effect": "Allow",
            "Resource": key_arn(template),
            "Sid": "UseTheFileKeyThroughS3",
        },
    ]


def test_the_builder_may_push_only_to_the_project_repository(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    (repo_id,) = resources(template, "AWS::ECR::Repository")
    assert policy_of_role(template, "MendixOperatorPlansBuilderRole") == [
        {
            "Action": [
                "ecr:BatchCheckLayerAvailability",
                "ecr:BatchGetImage",
                "ecr:CompleteLayerUpload",
                "ecr:GetDownloadUrlForLayer",
                "ecr:InitiateLayerUpload",
                "ecr:PutImage",
                "ecr:UploadLayerPart",
            ],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [repo_id, "Arn"]},
            "Sid": "PushToTheProjectRepository",
        },
        {"Action": "ecr:GetAuthorizationToken", "Effect": "Allow", "Resource": "*", "Sid": "RegistryLogin"},
    ]


def test_plan_roles_trust_one_service_account_of_the_mendix_namespace(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    for prefix, account in (
        ("MendixOperatorPlansStorageAdminRole", "mendix-storage-admin"),
        ("MendixOperatorPlansBuilderRole", "mendix-builder"),
    ):
        (role_id,) = [k for k in resources(template, "AWS::IAM::Role") if k.startswith(prefix)]
        (statement,) = template["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        conditions_id = statement["Condition"]["StringEquals"]["Fn::GetAtt"][0]
        value = json.dumps(template["Resources"][conditions_id]["Properties"]["Value"])
        assert f"system:serviceaccount:{c.MENDIX_NAMESPACE}:{account}" in value


def test_the_database_admin_gets_rds_iam_from_a_one_shot_job_and_the_master_secret_stays_out(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    job = k8s(template, "Job", "mendix-db-bootstrap")
    assert job["metadata"]["namespace"] == "mendix-db-bootstrap"
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    text = script(job)
    assert "GRANT rds_iam TO mendix_admin;" in text
    assert "CREATE ROLE mendix_admin WITH LOGIN CREATEDB CREATEROLE;" in text
    (secret_id,) = resources(template, "AWS::RDS::DBInstance")
    assert f"aws secretsmanager get-secret-value --secret-id '<GetAtt:{secret_id}.MasterUserSecret.SecretArn>'" in text
    env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["PGSSLMODE"] == "require" and "PGPASSWORD" not in env
    # Only the bootstrap role may read the master secret; the installer never references it.
    installer = json.dumps(k8s(template, "Job", "mendix-installer")) + json.dumps(k8s(template, "ConfigMap", "mendix-installer"))
    assert "MasterUserSecret" not in installer
    (association,) = [
        a for a in props(template, "AWS::EKS::PodIdentityAssociation") if a["ServiceAccount"] == "mendix-db-bootstrap"
    ]
    assert association["Namespace"] == "mendix-db-bootstrap"
    # The installer waits for this Job, so its manifest comes later.
    bootstrap_id = manifest_id(template, "Job", "mendix-db-bootstrap")
    installer_id = manifest_id(template, "Job", "mendix-installer")
    assert bootstrap_id in template["Resources"][installer_id]["DependsOn"]


def test_the_mendix_namespace_denies_by_default_and_allows_what_the_operator_needs(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    policies = {
        o["metadata"]["name"]: o
        for objects in manifests_by_id(template).values()
        for o in objects
        if o["kind"] == "NetworkPolicy"
    }
    assert all(p["metadata"]["namespace"] == c.MENDIX_NAMESPACE for p in policies.values())
    deny = policies.pop("default-deny")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert set(policies) == {
        "allow-dns",
        "allow-kubernetes-api",
        "allow-database",
        "allow-pod-identity-agent",
        "allow-https-out",
        "allow-same-namespace",
        "allow-app-from-load-balancer",
    }
    database = policies["allow-database"]["spec"]["egress"]
    assert [p for rule in database for p in rule["ports"]] == [{"protocol": "TCP", "port": c.POSTGRES_PORT}]
    https = policies["allow-https-out"]["spec"]["egress"][0]["to"][0]["ipBlock"]
    assert https == {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}
    app = policies["allow-app-from-load-balancer"]["spec"]["ingress"][0]
    assert app["ports"] == [{"protocol": "TCP", "port": c.MENDIX_APP_PORT}]
    assert len(app["from"]) == len(assembly.settings.availability_zones)


# ------------------------------------------------- install scripts on stubs

STUBS = {
    # Records each call; `kubectl wait` succeeds as it does once the Job completed.
    "kubectl": 'echo "kubectl $*" >> "$CALLS"\n',
    # mxpc-cli exits 1 on an unknown command, like the real tool.
    "mxpc-cli": 'echo "mxpc-cli $*" >> "$CALLS"\ncase "$1" in base-install|apply-config) ;; *) exit 1 ;; esac\n',
    # The AWS CLI prints the SecretString of the one secret it knows, and fails for any other.
    "aws": 'echo "aws $*" >> "$CALLS"\n[ "$4" = "$KNOWN_SECRET" ] || { echo "ResourceNotFoundException" >&2; exit 254; }\n'
    'printf "%s\\n" "$SECRET_STRING"\n',
    # psql records the SQL it reads from stdin and the identity it connects as.
    "psql": 'echo "psql $* as=$PGUSER password=$PGPASSWORD" >> "$CALLS"\ncat >> "$CALLS"\n',
}


def run_script(tmp_path, text: str, *, secret_arn: str = "", secret: str = "") -> tuple[int, str, str]:
    import subprocess

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in STUBS.items():
        tool = bin_dir / name
        tool.write_text("#!/bin/sh\n" + body)
        tool.chmod(0o755)
    calls = tmp_path / "calls"
    calls.touch()
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "CALLS": str(calls),
        "HOME": str(tmp_path),
        "KNOWN_SECRET": secret_arn,
        "SECRET_STRING": secret,
        "KUBERNETES_SERVICE_HOST": "172.20.0.1",
        "KUBERNETES_SERVICE_PORT": "443",
    }
    done = subprocess.run(["/bin/sh", "-c", text], env=env, capture_output=True, text=True, check=False, timeout=30)
    return done.returncode, calls.read_text(), done.stdout + done.stderr


def test_standalone_install_script_waits_then_installs_then_configures(tmp_path) -> None:
    from components.mendix.operator import installer_script

    code, calls, output = run_script(tmp_path, installer_script(namespace="mendix", mode="standalone", namespace_secret_arn=None))
    assert code == 0, output
    lines = calls.splitlines()
    mx = [line for line in lines if line.startswith("mxpc-cli")]
    assert mx == [
        "mxpc-cli base-install --namespace mendix --clusterMode standalone --clusterType generic",
        "mxpc-cli apply-config --file /etc/mendix-installer/mx_config_cli.yaml",
    ]
    waits = [i for i, line in enumerate(lines) if "wait --for=condition=complete job/mendix-db-bootstrap" in line]
    assert waits and waits[0] < lines.index(mx[0])


def test_connected_install_script_passes_the_portal_credentials_without_printing_them(tmp_path) -> None:
    from components.mendix.operator import installer_script

    secret = json.dumps({"namespace_id": "0b5f-namespace", "namespace_secret": "s3cr3t-value"})
    text = installer_script(namespace="mendix", mode="connected", namespace_secret_arn=PORTAL_SECRET)
    code, calls, output = run_script(tmp_path, text, secret_arn=PORTAL_SECRET, secret=secret)
    assert code == 0, output
    assert "mxpc-cli base-install --namespace mendix -i 0b5f-namespace -s s3cr3t-value --clusterMode connected" in calls
    assert "mxpc-cli apply-config -i 0b5f-namespace -s s3cr3t-value --file" in calls
    assert "s3cr3t-value" not in output  # never echoed to the Job's log


def test_connected_install_script_stops_before_mxpc_cli_when_the_secret_is_missing(tmp_path) -> None:
    from components.mendix.operator import installer_script

    text = installer_script(namespace="mendix", mode="connected", namespace_secret_arn=PORTAL_SECRET)
    code, calls, _ = run_script(tmp_path, text, secret_arn="arn:aws:secretsmanager:eu-west-1:000000000000:secret:other")
    assert code != 0
    assert "mxpc-cli" not in calls
    # A secret without the namespace id fails too (jq -e), before mxpc-cli runs.
    other = tmp_path / "incomplete"
    other.mkdir()
    code, calls, _ = run_script(other, text, secret_arn=PORTAL_SECRET, secret='{"namespace_secret": "s"}')
    assert code != 0 and "mxpc-cli" not in calls


def test_bootstrap_script_connects_as_master_and_grants_rds_iam_to_the_admin_only(tmp_path) -> None:
    from components.mendix.operator import bootstrap_script

    master = "arn:aws:secretsmanager:eu-west-1:000000000000:secret:rds!db-1234"
    secret = json.dumps({"username": "mendixadmin", "password": 'p@ss"w\\ord'})
    code, calls, output = run_script(
        tmp_path, bootstrap_script(master_secret_arn=master, admin_user="mendix_admin"), secret_arn=master, secret=secret
    )
    assert code == 0, output
    assert 'as=mendixadmin password=p@ss"w\\ord' in calls  # jq decodes the JSON escapes
    assert "GRANT rds_iam TO mendix_admin;" in calls
    assert "GRANT rds_iam TO mendixadmin" not in calls  # the master keeps password authentication
    assert "p@ss" not in output


# ---------------------------------------------------------- bad settings


def load(**overrides: object):
    from config import load_settings
    from tests.conftest import cdk_json_context

    return load_settings({**cdk_json_context(), **overrides}, {})


@pytest.mark.parametrize(
    ("overrides", "key", "allowed"),
    [
        pytest.param(
            {"eks.mendix_operator.version": "2.9.0"}, "eks.mendix_operator.version", "2.24.2", id="operator-unsupported"
        ),
        pytest.param({"eks.kubernetes_version": "1.35"}, "eks.kubernetes_version", "1.19 to 1.34", id="k8s-mendix-unsupported"),
        pytest.param(
            {"eks.system_nodes.capacity_type": "SPOT"}, "eks.system_nodes.capacity_type", "ON_DEMAND", id="spot-system-pool"
        ),
        pytest.param({"eks.addons.kube_proxy": "v1.33.3-eksbuild.1"}, "eks.addons.kube_proxy", "v1.34.N", id="kube-proxy-minor"),
        pytest.param({"eks.addons.coredns": "v1.11.4-eksbuild.2"}, "eks.addons.coredns", "v1.12.N", id="coredns-series"),
        pytest.param({"eks.addons.vpc_cni": "latest"}, "eks.addons.vpc_cni", "eksbuild", id="addon-latest"),
        pytest.param({"eks.mendix_operator.mode": "global"}, "eks.mendix_operator.mode", "standalone or connected", id="mode"),
        pytest.param(
            {
                "eks.mendix_operator.certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/"
                "12345678-1234-1234-1234-123456789012"
            },
            "eks.mendix_operator.certificate_arn",
            "ACM certificate in eu-west-1",
            id="endpoint-certificate-other-region",
        ),
        pytest.param(
            {"eks.mendix_operator.mode": "connected", "eks.pipeline": "none"},
            "eks.mendix_operator.namespace_secret_arn",
            "Secrets Manager secret in eu-west-1",
            id="connected-without-secret",
        ),
        pytest.param(
            {"eks.mendix_operator.installer_image": "000000000000.dkr.ecr.eu-west-1.amazonaws.com/mendix/mxpc-cli:latest"},
            "eks.mendix_operator.installer_image",
            "pinned tag",
            id="installer-latest",
        ),
        pytest.param(
            {"eks.mendix_operator.installer_image": "000000000000.dkr.ecr.us-east-1.amazonaws.com/mendix/mxpc-cli:2.24.2"},
            "eks.mendix_operator.installer_image",
            "this region's ECR",
            id="installer-other-region",
        ),
        pytest.param(
            {"eks.pipeline.production.app": "mendix-shop"}, "eks.pipeline.production.app", "reserves", id="app-reserved"
        ),
        pytest.param(
            {"eks.pipeline.production.app": "shop-staging"},
            "eks.pipeline.production.app",
            "other than staging.app",
            id="app-twice",
        ),
        pytest.param({"eks.pipeline.staging.replicas": "0"}, "eks.pipeline.staging.replicas", "1 to 20", id="replicas"),
        pytest.param(
            {"eks.pipeline.project_file": "../App.mpr"}, "eks.pipeline.project_file", ".mpr file inside", id="project-file"
        ),
        pytest.param(
            {"eks.pipeline.mxbuild_image": "000000000000.dkr.ecr.eu-west-1.amazonaws.com/mendix/mxbuild:latest"},
            "eks.pipeline.mxbuild_image",
            "pinned tag",
            id="mxbuild-latest",
        ),
        pytest.param(
            {"eks.pipeline.deploy_timeout_minutes": "5"}, "eks.pipeline.deploy_timeout_minutes", "10 to 180", id="timeout"
        ),
        pytest.param(
            {"eks.pipeline.pre_deploy_snapshots_kept": "0"}, "eks.pipeline.pre_deploy_snapshots_kept", "1 to 50", id="snapshots"
        ),
        pytest.param(
            {"eks.mendix_operator.mode": "connected", "eks.mendix_operator.namespace_secret_arn": PORTAL_SECRET},
            "eks.pipeline",
            "Mendix Portal deploys",
            id="pipeline-when-connected",
        ),
        pytest.param(
            {"eks.vpc_cidr": "10.0.128.0/17"}, "eks.vpc_cidr", "does not overlap network.vpc_cidr 10.0.0.0/16", id="vpc-on-iris"
        ),
        pytest.param({"eks.vpc_cidr": "10.1.0.0/20"}, "eks.vpc_cidr", "does not overlap dr.vpc_cidr 10.1.0.0/16", id="vpc-on-dr"),
        pytest.param({"eks.account": "12345"}, "eks.account", "12-digit AWS account id", id="account-digits"),
        pytest.param({"eks.account": "111111111111"}, "eks.account", "while dr is set", id="account-with-dr-copies"),
    ],
)
def test_bad_eks_settings_are_refused_in_one_line(overrides: dict[str, str], key: str, allowed: str) -> None:
    from config import SettingsError

    with pytest.raises(SettingsError) as error:
        load(**overrides)
    message = str(error.value)
    assert error.value.key == key
    assert allowed in message
    assert "\n" not in message


def test_only_the_bootstrap_role_reads_the_master_secret(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    (db_id,) = resources(template, "AWS::RDS::DBInstance")
    secret = {"Fn::GetAtt": [db_id, "MasterUserSecret.SecretArn"]}
    readers = [
        p["Roles"]
        for p in props(template, "AWS::IAM::Policy")
        for st in p["PolicyDocument"]["Statement"]
        if secret == st.get("Resource") or (isinstance(st.get("Resource"), list) and secret in st["Resource"])
    ]
    (association,) = [
        a for a in props(template, "AWS::EKS::PodIdentityAssociation") if a["ServiceAccount"] == "mendix-db-bootstrap"
    ]
    bootstrap = [{"Ref": association["RoleArn"]["Fn::GetAtt"][0]}]
    assert bootstrap in readers
    assert all(r == bootstrap or "Rotation" in json.dumps(r) for r in readers)
    assert policy_of_role(template, "MendixOperatorBootstrapRole") == [
        {
            "Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
            "Effect": "Allow",
            "Resource": secret,
            "Sid": "ReadTheMasterSecretOnce",
        },
        {
            "Action": "kms:Decrypt",
            "Condition": {"StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}},
            "Effect": "Allow",
            "Resource": key_arn(template),
            "Sid": "DecryptItThroughSecretsManager",
        },
    ]


def test_a_monthly_restore_test_restores_the_database_and_the_file_bucket(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    b = assembly.settings.eks.backup
    plan = one(template, "AWS::Backup::RestoreTestingPlan")
    assert plan["ScheduleExpression"] == b.restore_test_schedule
    (vault_id,) = resources(template, "AWS::Backup::BackupVault")
    assert plan["RecoveryPointSelection"]["IncludeVaults"] == [{"Fn::GetAtt": [vault_id, "BackupVaultArn"]}]
    assert plan["RecoveryPointSelection"]["Algorithm"] == "LATEST_WITHIN_WINDOW"
    selections = {s["ProtectedResourceType"]: s for s in props(template, "AWS::Backup::RestoreTestingSelection")}
    assert set(selections) == {"RDS", "S3"}
    (bucket_id,) = [k for k in resources(template, "AWS::S3::Bucket") if k.startswith("FileStorage")]
    assert selections["S3"]["ProtectedResourceArns"] == [{"Fn::GetAtt": [bucket_id, "Arn"]}]
    for selection in selections.values():
        assert selection["ValidationWindowHours"] == b.restore_test_validation_hours
        (plan_id,) = resources(template, "AWS::Backup::RestoreTestingPlan")
        assert selection["RestoreTestingPlanName"] == {"Ref": plan_id}


def test_a_restore_test_window_shorter_than_the_restore_is_refused() -> None:
    from config import SettingsError

    with pytest.raises(SettingsError) as error:
        load(**{"eks.backup.expected_restore_hours": "8", "eks.backup.restore_test_validation_hours": "4"})
    assert error.value.key == "eks.backup.restore_test_validation_hours"
    assert "must outlive the restore" in str(error.value)


def test_the_spot_service_role_may_use_the_volume_key_only_when_there_is_a_spot_pool(reference: Synthesized) -> None:
    template = reference.template_json("eks")
    statements = template["Resources"][key_id(template)]["Properties"]["KeyPolicy"]["Statement"]
    spot = [s for s in statements if "AWSServiceRoleForEC2Spot" in json.dumps(s.get("Principal"))]
    assert {s["Sid"] for s in spot} == {"AllowEc2SpotVolumes", "AllowEc2SpotVolumeGrants"}
    (grants,) = [s for s in spot if s["Sid"] == "AllowEc2SpotVolumeGrants"]
    assert grants["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": True}}


def test_apps_get_an_internal_tls_nlb_through_the_operators_endpoint(assembly: Synthesized) -> None:
    import shlex

    text = script(k8s(assembly.template_json("eks"), "Job", "mendix-installer"))
    (line,) = [line for line in text.splitlines() if "patch operatorconfiguration" in line]
    patch = json.loads(shlex.split(line)[-1])
    endpoint = patch["spec"]["endpoint"]
    prefix = "service.beta.kubernetes.io/aws-load-balancer-"
    annotations = endpoint["serviceAnnotations"]
    assert (endpoint["type"], endpoint["serviceType"], endpoint["servicePorts"]) == ("service", "LoadBalancer", [443])
    assert annotations[f"{prefix}ssl-cert"] == assembly.settings.eks.mendix_operator.certificate_arn
    assert annotations[f"{prefix}ssl-ports"] == "443"
    assert annotations[f"{prefix}scheme"] == "internal"
    assert annotations[f"{prefix}nlb-target-type"] == "ip"
    assert annotations[f"{prefix}ssl-negotiation-policy"].startswith("ELBSecurityPolicy-TLS13")
    assert len(annotations[f"{prefix}subnets"].split(",")) == len(assembly.settings.availability_zones)


def test_the_endpoint_patch_runs_after_apply_config_on_the_stub(tmp_path) -> None:
    from components.mendix.operator import endpoint_patch, installer_script

    arn = "arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
    text = installer_script(
        namespace="mendix", mode="standalone", namespace_secret_arn=None, endpoint=endpoint_patch(arn, ["subnet-a", "subnet-b"])
    )
    code, calls, output = run_script(tmp_path, text)
    assert code == 0, output
    lines = calls.splitlines()
    (patch,) = [i for i, line in enumerate(lines) if "patch operatorconfiguration" in line]
    (apply,) = [i for i, line in enumerate(lines) if line.startswith("mxpc-cli apply-config")]
    assert apply < patch
    assert arn in lines[patch] and "subnet-a,subnet-b" in lines[patch]
