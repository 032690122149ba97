"""Mirror failover as deployed: the retarget function, its custom resource,
the poller of the polling method, and the hooks shipped to the members."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from components.iris_host import HOST_FILES_DIR, NOTIFY_EVENT
from tests.conftest import ROOT, Synthesized
from tests.host_stubs import stub
from tests.templates import props, render, resources, severity_topic

ZMIRROR = ROOT / "iris" / "ZMIRROR.mac"
NOTIFY = ROOT / "iris" / "notify_primary.sh"


@pytest.fixture(scope="session")
def api(alternatives: Synthesized) -> Synthesized:
    assert alternatives.settings.data.failover_method == "api"
    return alternatives


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The data tier's shared functions (deploy-time, poller) and every mirror set's own."""
    return {
        k: v["Properties"]
        for k, v in resources(template, "AWS::Lambda::Function").items()
        if k.startswith("Failover") or re.match(r"^[A-Za-z0-9]+RetargetFunction", k)
    }


def set_function(assembly: Synthesized, name: str) -> tuple[str, dict[str, Any]]:
    """A mirror set's own retarget function: (logical id, properties)."""
    template = assembly.template_json(f"mirror_{name}")
    ((logical_id, fn),) = [(k, v["Properties"]) for k, v in resources(template, "AWS::Lambda::Function").items()]
    assert logical_id.startswith(f"{name}RetargetFunction")
    return logical_id, fn


def test_the_shared_function_serves_deploy_time_custom_resources_only(assembly: Synthesized) -> None:
    template = assembly.template_json("data")
    fn = functions(template)
    deploy = next(p for k, p in fn.items() if k.startswith("FailoverFunction"))
    assert deploy["Handler"] == "entry.deploy"
    assert deploy["Runtime"] == "python3.14"
    assert deploy["ReservedConcurrentExecutions"] == 1
    assert deploy["FunctionName"] == f"{assembly.stacks['data_tier'].stack_name}-retarget"
    (queue_id,) = resources(template, "AWS::SQS::Queue")
    assert deploy["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": [queue_id, "Arn"]}}
    assert "KmsMasterKeyId" in props(template, "AWS::SQS::Queue")[0]


def test_each_set_has_its_own_retarget_function_one_call_at_a_time(assembly: Synthesized) -> None:
    shared = assembly.template_json("data_tier")
    (queue_id,) = resources(shared, "AWS::SQS::Queue")
    path = f"/{assembly.stacks['data_tier'].stack_name}/retarget"
    for m in assembly.settings.data.mirror_sets:
        _, fn = set_function(assembly, m.name)
        assert fn["Handler"] == "entry.handler" and fn["Runtime"] == "python3.14"
        assert fn["ReservedConcurrentExecutions"] == 1
        assert fn["FunctionName"] == f"{assembly.stacks[f'mirror_{m.name}'].stack_name}-retarget"
        variables = fn["Environment"]["Variables"]
        assert (variables["RETARGET_MIRROR_SET"], variables["RETARGET_PARAMETERS"]) == (m.name, path)
        assert assembly.local(fn["DeadLetterConfig"]["TargetArn"]) == {"Fn::GetAtt": [queue_id, "Arn"]}


def test_reserved_concurrency_per_region_is_one_per_writer(assembly: Synthesized) -> None:
    """What the deployment takes from each region's account concurrency (Lambda keeps 100 unreserved)."""
    reserved = {}
    for region_role in ("data", "dr"):
        if region_role == "dr" and "dr_region" not in assembly.stacks:
            continue
        template = assembly.template_json(region_role)
        reserved[region_role] = sum(p.get("ReservedConcurrentExecutions", 0) for p in props(template, "AWS::Lambda::Function"))
    sets = len(assembly.settings.data.mirror_sets)
    poller = 1 if assembly.settings.data.failover_method == "polling" else 0
    # One per set's own function, the deploy-time function, the poller.
    assert reserved["data"] == sets + 1 + poller
    if "dr" in reserved:
        assert reserved["dr"] == 1  # the DR region's function, which operators alone call


def test_functions_run_in_the_data_subnets_behind_the_failover_group(assembly: Synthesized) -> None:
    for logical_id, p in functions(assembly.template_json("data")).items():
        vpc = p["VpcConfig"]
        assert len(vpc["SubnetIds"]) == 3 and all("dataSubnet" in json.dumps(s) for s in vpc["SubnetIds"]), logical_id
        (sg,) = vpc["SecurityGroupIds"]
        assert "FailoverSg" in json.dumps(sg), logical_id


def test_the_failover_group_reaches_only_status_pages_and_endpoints(assembly: Synthesized) -> None:
    network = assembly.template_json("network")
    (sg_id,) = [k for k in resources(network, "AWS::EC2::SecurityGroup") if k.startswith("FailoverSg")]
    sg = network["Resources"][sg_id]["Properties"]
    assert sg.get("SecurityGroupIngress", []) == []
    egress = [
        e["Properties"]
        for e in resources(network, "AWS::EC2::SecurityGroupEgress").values()
        if e["Properties"]["GroupId"]["Fn::GetAtt"][0] == sg_id
    ]
    targets = sorted(
        (
            e["DestinationSecurityGroupId"]["Fn::GetAtt"][0].removesuffix(e["DestinationSecurityGroupId"]["Fn::GetAtt"][0][-8:]),
            e["FromPort"],
        )
        for e in egress
    )
    assert targets == [("DataSg", assembly.settings.data.health_check_port), ("EndpointsSg", 443)]
    assert all(e["FromPort"] == e["ToPort"] for e in egress)


def test_the_function_is_configured_with_every_listener_and_member(assembly: Synthesized) -> None:
    template = assembly.template_json("data")
    retarget = next(p for k, p in functions(template).items() if k.startswith("FailoverFunction"))
    variables = retarget["Environment"]["Variables"]
    path = f"/{assembly.stacks['data_tier'].stack_name}/retarget"
    assert variables["RETARGET_PARAMETERS"] == path
    d = assembly.settings.data
    assert json.loads(render(variables["RETARGET_HEALTH_CHECK"])) == {
        "port": d.health_check_port,
        "path": d.health_check_path,
        "timeout_seconds": 2,
        "interval_seconds": d.health_check_interval_seconds,
        "healthy_threshold": d.healthy_threshold,
        "unhealthy_threshold": d.unhealthy_threshold,
    }
    # Each mirror set's stack writes its own part, under the function's path.
    for m in d.mirror_sets:
        set_template = assembly.template_json(f"mirror_{m.name}")
        (parameter,) = props(set_template, "AWS::SSM::Parameter")
        assert parameter["Name"] == f"{path}/{m.name}" and parameter["Type"] == "String"
        mirror = json.loads(render(parameter["Value"]))
        instances = resources(set_template, "AWS::EC2::Instance")
        assert sorted(mirror["listeners"]) == sorted(
            f"<Ref:{k}>" for k in resources(set_template, "AWS::ElasticLoadBalancingV2::Listener") if k.startswith(f"{m.name}Vip")
        )
        assert sorted(mirror["members"]) == ["Member0", "Member1"]
        for member_name, member in mirror["members"].items():
            assert member["role"] == "failover"
            assert (
                member["instance_id"] == f"<Ref:{next(k for k in instances if k.startswith(m.name + member_name + 'Instance'))}>"
            )
            assert member["private_ip"].startswith(f"<GetAtt:{m.name}{member_name}Instance") and member["private_ip"].endswith(
                ".PrivateIp>"
            )
            assert sorted(member["target_groups"]) == sorted(mirror["listeners"])
            for listener, group in member["target_groups"].items():
                port = set_template["Resources"][listener.removeprefix("<Ref:").removesuffix(">")]["Properties"]["Port"]
                group_id = group.removeprefix("<Ref:").removesuffix(">")
                assert group_id.startswith(f"{m.name}Vip{member_name}Port{port}")
                assert set_template["Resources"][group_id]["Properties"]["Port"] == port


def test_each_sets_members_may_invoke_their_own_sets_function_and_nothing_else_may(assembly: Synthesized) -> None:
    """The per-set invoke permission, statement by statement: the members' role of set A may invoke
    A's function and no other function; the arbiter's role and the functions' roles invoke nothing;
    only the Provider framework's role invokes the deploy-time function."""
    s = assembly.settings
    invokers: dict[str, list[Any]] = {}
    for role in sorted(assembly.stacks):
        if not (role.startswith("mirror_") or role == "data_tier"):
            continue
        template = assembly.template_json(role)
        for kind in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            for logical_id, policy in resources(template, kind).items():
                for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                    if any(a.startswith("lambda:") for a in actions):
                        invokers[logical_id] = [statement, [assembly.local(r) for r in policy["Properties"].get("Roles", [])]]
    expected_ids = {f"{m.name}RetargetInvokePolicy" for m in s.data.mirror_sets} | {"FailoverProviderPolicy"}
    assert {k.rstrip("0123456789ABCDEF") for k in invokers} == expected_ids
    for m in s.data.mirror_sets:
        template = assembly.template_json(f"mirror_{m.name}")
        (member_role,) = [k for k in resources(template, "AWS::IAM::Role") if k.startswith(f"{m.name}InstanceRole")]
        ((statement, roles),) = [v for k, v in invokers.items() if k.startswith(f"{m.name}RetargetInvokePolicy")]
        set_stack = assembly.stacks[f"mirror_{m.name}"].stack_name
        assert statement == {
            "Sid": "InvokeOwnSetRetarget",
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": f"arn:aws:lambda:{s.region}:{s.account}:function:{set_stack}-retarget",
        }
        assert roles == [{"Ref": member_role}]
        # The members' user data names the same function.
        _, fn = set_function(assembly, m.name)
        assert statement["Resource"].endswith(f":function:{fn['FunctionName']}")
    shared = assembly.template_json("data_tier")
    (provider_role,) = [k for k in resources(shared, "AWS::IAM::Role") if k.startswith("FailoverProviderRole")]
    ((policy_id, (statement, _)),) = [(k, v) for k, v in invokers.items() if k.startswith("FailoverProviderPolicy")]
    assert statement == {
        "Effect": "Allow",
        "Action": "lambda:InvokeFunction",
        "Resource": f"arn:aws:lambda:{s.region}:{s.account}:function:{assembly.stacks['data_tier'].stack_name}-retarget",
    }
    holders = [
        k for k, v in resources(shared, "AWS::IAM::Role").items() if {"Ref": policy_id} in v["Properties"]["ManagedPolicyArns"]
    ]
    assert holders == [provider_role]
    # No resource-based permission opens any of these functions to another principal.
    for role in ("data_tier", *(f"mirror_{m.name}" for m in s.data.mirror_sets)):
        permissions = props(assembly.template_json(role), "AWS::Lambda::Permission")
        assert all(p["Principal"] == "events.amazonaws.com" for p in permissions), permissions


def test_a_sets_function_may_switch_its_own_listeners_only(assembly: Synthesized) -> None:
    for m in assembly.settings.data.mirror_sets:
        template = assembly.template_json(f"mirror_{m.name}")
        (policy,) = [
            v["Properties"]
            for k, v in resources(template, "AWS::IAM::ManagedPolicy").items()
            if k.startswith(f"{m.name}RetargetPolicy")
        ]
        (role_id,) = [k for k in resources(template, "AWS::IAM::Role") if k.startswith(f"{m.name}RetargetRole")]
        assert policy["Roles"] == [{"Ref": role_id}]
        statements = {st["Sid"]: st for st in policy["PolicyDocument"]["Statement"]}
        assert sorted(r["Ref"] for r in statements["SwitchListeners"]["Resource"]) == sorted(
            resources(template, "AWS::ElasticLoadBalancingV2::Listener")
        )
        (parameter,) = resources(template, "AWS::SSM::Parameter")
        assert statements["ReadConfiguration"]["Action"] == "ssm:GetParameter"
        assert json.dumps(statements["ReadConfiguration"]["Resource"]).count(parameter) == 1


def test_the_function_may_switch_only_the_listeners_of_the_sets_registered_with_it(assembly: Synthesized) -> None:
    shared = assembly.template_json("data_tier")
    (role_id,) = [k for k in resources(shared, "AWS::IAM::Role") if k.startswith("FailoverRole")]
    (policy,) = [
        v["Properties"] for k, v in resources(shared, "AWS::IAM::ManagedPolicy").items() if k.startswith("FailoverPolicy")
    ]
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert "SwitchListeners" not in statements
    s = assembly.settings
    assert statements["ReadConfiguration"] == {
        "Sid": "ReadConfiguration",
        "Effect": "Allow",
        "Action": "ssm:GetParametersByPath",
        "Resource": f"arn:aws:ssm:{s.region}:{s.account}:parameter/{assembly.stacks['data_tier'].stack_name}/retarget",
    }
    assert statements["ReadLoadBalancers"]["Resource"] == "*"
    assert all(a.startswith("elasticloadbalancing:Describe") for a in statements["ReadLoadBalancers"]["Action"])
    assert props(shared, "AWS::IAM::Policy") == []  # nothing inline, the framework's role included
    for m in s.data.mirror_sets:
        template = assembly.template_json(f"mirror_{m.name}")
        (switch_policy,) = props(template, "AWS::IAM::Policy")  # the set's own function has a managed policy
        assert [assembly.local(r) for r in switch_policy["Roles"]] == [{"Ref": role_id}]
        (switch,) = switch_policy["PolicyDocument"]["Statement"]
        assert switch["Action"] == "elasticloadbalancing:ModifyListener"
        assert sorted(r["Ref"] for r in switch["Resource"]) == sorted(
            resources(template, "AWS::ElasticLoadBalancingV2::Listener")
        )


def test_one_custom_resource_per_mirror_set_after_its_listeners_configuration_and_grant(assembly: Synthesized) -> None:
    shared = assembly.template_json("data_tier")
    (provider,) = [k for k in resources(shared, "AWS::Lambda::Function") if "Provider" in k]
    for m in assembly.settings.data.mirror_sets:
        template = assembly.template_json(f"mirror_{m.name}")
        ((primary_id, resource),) = [(k, v) for k, v in template["Resources"].items() if v["Type"] == "Custom::IrisMirrorPrimary"]
        assert primary_id.startswith(f"{m.name}FailoverPrimary")
        assert set(resource["Properties"]) == {"ServiceToken", "MirrorSet", "DesiredPrimary"}
        assert resource["Properties"]["MirrorSet"] == m.name
        assert resource["Properties"]["DesiredPrimary"] == f"Member{m.initial_primary}"
        assert assembly.local(resource["Properties"]["ServiceToken"]) == {"Fn::GetAtt": [provider, "Arn"]}
        depends = resource["DependsOn"]
        assert len([d for d in depends if "VipNlbPort" in d]) == 2
        assert any(d.startswith(f"{m.name}FailoverConfiguration") for d in depends)
        assert any(d.startswith(f"{m.name}FailoverSwitchPolicy") for d in depends)


def test_errors_raise_an_alarm(assembly: Synthesized) -> None:
    template = assembly.template_json("data")
    errors = [a for a in props(template, "AWS::CloudWatch::Alarm") if a["MetricName"] == "Errors"]
    expected = (2 if assembly.settings.data.failover_method == "polling" else 1) + len(assembly.settings.data.mirror_sets)
    assert len(errors) == expected
    assert all([assembly.local(x) for x in a["AlarmActions"]] == [severity_topic(template, "P1")] for a in errors)


def test_polling_method_schedules_the_poller(reference: Synthesized, api: Synthesized) -> None:
    template = reference.template_json("data")
    poller = next(p for k, p in functions(template).items() if k.startswith("FailoverPoller"))
    assert poller["Handler"] == "poller.handler"
    assert poller["ReservedConcurrentExecutions"] == 1
    (rule,) = props(template, "AWS::Events::Rule")
    assert rule["ScheduleExpression"] == "rate(1 minute)"
    (target,) = rule["Targets"]
    assert json.loads(target["Input"]) == {"duration_seconds": 50}
    assert not any(k.startswith("FailoverPoller") for k in functions(api.template_json("data")))
    assert props(api.template_json("data"), "AWS::Events::Rule") == []


def test_failover_members_get_the_hook_and_arbiters_do_not(assembly: Synthesized) -> None:
    template = assembly.template_json("data")
    for logical_id, instance in resources(template, "AWS::EC2::Instance").items():
        user_data = render(instance["Properties"]["UserData"])
        if "Arbiter" in logical_id:
            assert "ZMIRROR" not in user_data and "mirror-vip.env" not in user_data
            continue
        mirror, member = re.match(r"^([A-Za-z0-9]+?)(Member\d)Instance", logical_id).groups()
        assert f"MIRROR_SET={mirror}\nMEMBER={member}\nRETARGET_FUNCTION=arn:" in user_data
        # The set's own function, which its members' role alone may invoke.
        assert f":function:{assembly.stacks[f'mirror_{mirror}'].stack_name}-retarget\n" in user_data
        # ^ZMIRROR and its helper come with the host files; systemd runs the helper on ^ZMIRROR's event.
        assert f"install -m 0644 {HOST_FILES_DIR}/ZMIRROR.mac /etc/iris-aws/ZMIRROR.mac" in user_data
        assert f"install -m 0755 {HOST_FILES_DIR}/notify_primary.sh /usr/local/sbin/iris-notify-primary" in user_data
        assert f"PathChanged={NOTIFY_EVENT}\n" in user_data
        assert "systemctl enable iris-member.service iris-notify-primary.path" in user_data


def test_zmirror_never_slows_a_takeover() -> None:
    text = ZMIRROR.read_text()
    assert text.startswith("ROUTINE ZMIRROR [Type=MAC]\n")
    for label in ("CheckBecomePrimaryOK", "CanNodeStartToBecomePrimary"):
        body = re.search(rf"^{label}\(\) public {{\n(.*?)^}}", text, re.S | re.M).group(1)
        code = [line for line in body.splitlines() if not line.strip().startswith(";")]
        assert [line.strip() for line in code] == ["quit 1"], f"{label} must answer 1 at once"
    notify = re.search(r"^NotifyBecomePrimary\(\) public {\n(.*?)^}", text, re.S | re.M).group(1)
    # No external call and no wait: it writes the event file the host watches,
    # opening it with a timeout, and reports a failure to messages.log.
    assert "$zf" not in notify.lower()
    assert f'set event = "{NOTIFY_EVENT}"' in notify
    assert 'open event:("WNS"):2' in notify
    assert "WriteToConsoleLog" in notify


@pytest.fixture
def fake_aws(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in {
        # the last argument is the output file; stdout is the --query result
        "aws": 'echo "$@" > "$ARGS"; printf "%s" "$RESULT" > "${@: -1}"; echo "$FUNCTION_ERROR"; exit "${AWS_EXIT:-0}"\n',
        "logger": 'shift 2; echo "$*" >> "$SYSLOG"\n',
    }.items():
        stub(bin_dir, name, body)
    (tmp_path / "mirror-vip.env").write_text(
        "MIRROR_SET=HSDB\nMEMBER=Member1\nRETARGET_FUNCTION=arn:aws:lambda:eu-west-1:000000000000:function:Iris-DataTier-retarget\nAWS_REGION=eu-west-1\n"
    )
    return tmp_path


def run_notify(tmp: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {
        "PATH": f"{tmp / 'bin'}:{os.environ['PATH']}",
        "IRIS_AWS_CONF": str(tmp / "mirror-vip.env"),
        "ARGS": str(tmp / "args"),
        "SYSLOG": str(tmp / "syslog"),
        "RESULT": '{"changed": true}',
        "FUNCTION_ERROR": "None",
        **env,
    }
    return subprocess.run(["bash", str(NOTIFY)], env=full, capture_output=True, text=True, timeout=30)


def test_notify_helper_invokes_the_function_for_its_own_member(fake_aws: Path) -> None:
    run = run_notify(fake_aws)
    assert run.returncode == 0, run.stdout + run.stderr
    args = (fake_aws / "args").read_text()
    assert (
        "lambda invoke --region eu-west-1 --function-name arn:aws:lambda:eu-west-1:000000000000:function:Iris-DataTier-retarget"
        in args
    )
    payload = json.loads(re.search(r"--payload (\{.*\}) --query", args).group(1))
    assert payload["mirror_set"] == "HSDB" and payload["new_primary"] == "Member1"
    assert payload["reason"].startswith("NotifyBecomePrimary on ")
    assert "retarget of HSDB to Member1" in (fake_aws / "syslog").read_text()


def test_notify_helper_fails_loudly_when_the_function_refuses(fake_aws: Path) -> None:
    run = run_notify(fake_aws, FUNCTION_ERROR="Unhandled", RESULT='{"errorMessage": "new primary answered 503"}')
    assert run.returncode == 1
    assert "refused" in (fake_aws / "syslog").read_text() and "503" in (fake_aws / "syslog").read_text()


def test_notify_helper_fails_loudly_when_the_call_fails(fake_aws: Path) -> None:
    run = run_notify(fake_aws, AWS_EXIT="255")
    assert run.returncode == 1
    assert "invoking arn:aws:lambda" in (fake_aws / "syslog").read_text()


def test_notify_helper_needs_its_configuration(fake_aws: Path) -> None:
    run = run_notify(fake_aws, IRIS_AWS_CONF=str(fake_aws / "missing.env"))
    assert run.returncode == 1
    assert "was not retargeted" in (fake_aws / "syslog").read_text()
