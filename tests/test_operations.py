"""Operations (docs/operations.md): alarm severities, their topics and runbooks, and the saved log queries.

Read from the session's `reference` and `dev` assemblies; the builder, the topics' subscriptions and
the queries' patterns are tested directly.
"""

from __future__ import annotations

import ast
import functools
import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template

from components import log_queries as q
from components.member_monitoring import FREEZE_THAW_LOG, MemberLogGroupNames, cloudwatch_agent_config
from components.severity import RULES, SLA, SeverityTopics, severity_alarm
from components.web_logs import web_agent_config
from config import SettingsError, load_settings
from config.ops import SEVERITIES, SeverityNotifications
from ops import alarm_table
from tests.conftest import QUIET, ROOT, Synthesized, cdk_json_context
from tests.templates import props, render, resources, severity_of, severity_topic

# The stack of each region that holds its topics.
TOPIC_ROLES = ("data_tier", "dr_region")
# The saved queries each kind of stack holds.
QUERIES_BY_ROLE = {
    "data_tier": {"mirror-state-changes", "failed-freezes", "retarget-decisions"},
    "dr_region": {"mirror-state-changes", "failed-freezes", "retarget-decisions"},
    "mirror_": {"retarget-decisions"},
    "app_tier": {"web-5xx"},
    "dr_web": {"web-5xx"},
}


def load(**overrides: object) -> object:
    return load_settings({**cdk_json_context(), **overrides}, {})


def templates(assembly: Synthesized) -> dict[str, dict[str, Any]]:
    """Role -> template, every stack of the assembly."""
    return {role: assembly.template_json(role) for role in assembly.stacks}


@functools.cache
def anchors(doc: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    found = set()
    for line in doc.read_text().splitlines():
        if line.startswith("#"):
            text = line.lstrip("#").strip().lower()
            found.add(re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", text)))
    return found


def resolver(assembly: Synthesized, stacks: dict[str, dict[str, Any]]) -> Any:
    """Synthesized.local over templates read once: a reference to another stack's output becomes its value."""
    by_name = {assembly.stacks[role].stack_name: template for role, template in stacks.items()}

    def local(value: Any) -> Any:
        if isinstance(value, dict) and "Fn::GetStackOutput" in value:
            ref = value["Fn::GetStackOutput"]
            return by_name[ref["StackName"]]["Outputs"][ref["OutputName"]]["Value"]
        return value

    return local


# --- every alarm: a severity, its topic, a runbook that exists -----------------------------------


@pytest.mark.parametrize("profile", ["reference", "dev"])
def test_every_alarm_has_a_severity_its_topic_and_a_runbook_section_that_exists(profile: str, request) -> None:
    assembly: Synthesized = request.getfixturevalue(profile)
    stacks = templates(assembly)
    local = resolver(assembly, stacks)
    topics = {
        assembly.stacks[role].region: {s: severity_topic(stacks[role], s) for s in SEVERITIES}
        for role in TOPIC_ROLES
        if role in stacks
    }
    seen = 0
    for role, template in stacks.items():
        region = assembly.stacks[role].region
        for logical_id, resource in resources(template, "AWS::CloudWatch::Alarm").items():
            alarm, where = resource["Properties"], f"{role}/{logical_id}"
            severity = severity_of(alarm)
            assert severity in SEVERITIES, where
            description = alarm["AlarmDescription"]
            assert description.startswith(f"{severity} ({SLA[severity].meaning}): "), where
            link = alarm_table.runbook(alarm)
            assert link is not None, f"{where}: no runbook link in {description!r}"
            doc, anchor = link
            assert (ROOT / doc).is_file() and anchor in anchors(ROOT / doc), f"{where}: {doc}#{anchor} does not exist"
            # The kind's rule set the severity: nothing else may.
            assert RULES[anchor].severity == severity, where
            actions = [local(a) for a in alarm.get("AlarmActions", []) if isinstance(a, dict)]
            if RULES[anchor].notify:
                topic = topics[region][severity]
                assert actions == [topic], where
                assert [local(a) for a in alarm["OKActions"]] == [topic], where
            else:
                assert actions == [] and "OKActions" not in alarm, where
            seen += 1
    assert seen > 50


def test_every_alarm_kind_has_its_runbook_section() -> None:
    sections = anchors(ROOT / "docs" / "operations.md")
    assert sorted(kind for kind in RULES if kind not in sections) == []
    assert all(rule.reason.strip() for rule in RULES.values())


def test_only_the_builder_makes_alarms() -> None:
    # A new alarm cannot skip severity_alarm(): no other module constructs one.
    makers = {"Alarm", "CfnAlarm", "CompositeAlarm", "CfnCompositeAlarm", "create_alarm"}
    found = []
    for path in sorted([*(ROOT / "components").rglob("*.py"), *(ROOT / "stacks").rglob("*.py"), ROOT / "composition.py"]):
        if path.name == "severity.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in makers:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []


def test_the_builder_refuses_an_unknown_kind_and_a_notifying_alarm_without_topics() -> None:
    stack = cdk.Stack(cdk.App(**QUIET), "Probe")
    metric = cw.Metric(namespace="Probe", metric_name="Errors")
    with pytest.raises(ValueError, match="unknown alarm kind 'disk-on-fire'"):
        severity_alarm(
            stack, "A", kind="disk-on-fire", subject="x", topics=None, metric=metric, threshold=1, evaluation_periods=1
        )
    with pytest.raises(ValueError, match="notifies the P1 topic"):
        severity_alarm(
            stack, "B", kind="retarget-failed", subject="x", topics=None, metric=metric, threshold=1, evaluation_periods=1
        )


# --- topics: one per severity and region, encrypted, subscribed from settings ---------------------


@pytest.mark.parametrize("profile", ["reference", "dev"])
def test_each_region_has_one_encrypted_tls_only_topic_per_severity(profile: str, request) -> None:
    assembly: Synthesized = request.getfixturevalue(profile)
    regions = {assembly.stacks[r].region for r in assembly.stacks}
    holders = [r for r in TOPIC_ROLES if r in assembly.stacks]
    assert {assembly.stacks[r].region for r in holders} == regions
    for role, template in templates(assembly).items():
        topics = resources(template, "AWS::SNS::Topic")
        if role not in holders:
            assert topics == {}, f"{role} has a topic of its own"
            continue
        assert len(topics) == len(SEVERITIES)
        keys = resources(template, "AWS::KMS::Key")
        policies = props(template, "AWS::SNS::TopicPolicy")
        for severity in SEVERITIES:
            ref = severity_topic(template, severity)
            topic = topics[ref["Ref"]]["Properties"]
            assert topic["KmsMasterKeyId"]["Fn::GetAtt"][0] in keys  # the region's customer-managed key
            (policy,) = [p for p in policies if ref in p["Topics"]]
            (deny,) = policy["PolicyDocument"]["Statement"]
            assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            emails = {p["Endpoint"] for p in props(template, "AWS::SNS::Subscription") if p["TopicArn"] == ref}
            assert emails == set(assembly.settings.ops.notifications.of(severity).emails)


def _topics_stack(notifications: SeverityNotifications) -> dict[str, Any]:
    stack = cdk.Stack(cdk.App(**QUIET), "Ops", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    SeverityTopics(stack, "AlarmTopics", key=kms.Key(stack, "Key"), notifications=notifications)
    return Template.from_stack(stack).to_json()


def test_subscriptions_come_from_settings_email_https_webhook_and_a_slack_channel() -> None:
    notifications = SeverityNotifications.model_validate(
        {
            "P1": {
                "emails": ["oncall@hospital.example.nl"],
                "webhook_url": "https://events.pager.example.net/integration/abc",
                "slack": {"workspace_id": "T0123ABCD", "channel_id": "C0123ABCD"},
            },
            "P3": {"emails": ["dba@hospital.example.nl", "platform@hospital.example.nl"]},
        }
    )
    template = _topics_stack(notifications)
    p1 = severity_topic(template, "P1")
    subscriptions = {(p["Protocol"], p["Endpoint"], p["TopicArn"]["Ref"]) for p in props(template, "AWS::SNS::Subscription")}
    assert subscriptions == {
        ("email", "oncall@hospital.example.nl", p1["Ref"]),
        ("https", "https://events.pager.example.net/integration/abc", p1["Ref"]),
        ("email", "dba@hospital.example.nl", severity_topic(template, "P3")["Ref"]),
        ("email", "platform@hospital.example.nl", severity_topic(template, "P3")["Ref"]),
    }
    (slack,) = props(template, "AWS::Chatbot::SlackChannelConfiguration")
    assert (slack["SlackWorkspaceId"], slack["SlackChannelId"], slack["SnsTopicArns"]) == ("T0123ABCD", "C0123ABCD", [p1])
    assert slack["ConfigurationName"] == "Ops-P1"
    # Four topics, each encrypted, even for severities nobody subscribes to.
    assert all("KmsMasterKeyId" in t for t in props(template, "AWS::SNS::Topic")) and len(props(template, "AWS::SNS::Topic")) == 4


@pytest.mark.parametrize(
    ("overrides", "key", "allowed"),
    [
        pytest.param(
            {"ops.notifications.P5.emails": "oncall@hospital.example.nl"},
            "ops.notifications.P5.emails",
            "known keys here: ops.notifications.P1, ops.notifications.P2, ops.notifications.P3, ops.notifications.P4",
            id="unknown-severity",
        ),
        pytest.param(
            {"ops.notifications.P1.webhook_url": "http://events.pager.example.net/integration/abc"},
            "ops.notifications.P1.webhook_url",
            "an https:// URL",
            id="webhook-not-https",
        ),
        pytest.param(
            {"ops.notifications.P2.emails": "oncall"}, "ops.notifications.P2.emails.0", "an e-mail address", id="bad-email"
        ),
        pytest.param(
            {"ops.notifications.P3.slack.workspace_id": "workspace"},
            "ops.notifications.P3.slack.workspace_id",
            "a Slack workspace id",
            id="bad-slack-workspace",
        ),
    ],
)
def test_bad_notification_settings_are_refused_in_one_clear_line(overrides: dict[str, str], key: str, allowed: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load(**overrides)
    assert caught.value.key == key
    (line, *_) = caught.value.lines
    assert line.startswith(f"invalid setting {key}=") and allowed in line and "\n" not in line


def test_an_unknown_severity_in_a_profile_is_refused_too() -> None:
    context = cdk_json_context()
    context["profiles"]["dev"]["ops"]["notifications"]["P0"] = {"emails": []}
    with pytest.raises(SettingsError, match=r"ops\.notifications\.P0.*known keys here: ops\.notifications\.P1"):
        load_settings({**context, "profile": "dev"}, {})


# --- the generated alarm tables -------------------------------------------------------------------


def test_the_alarm_tables_in_docs_are_current(reference: Synthesized, dev: Synthesized) -> None:
    expected = alarm_table.render(
        {
            name: {a.stacks[role].stack_name: a.template_json(role) for role in a.stacks}
            for name, a in (("reference", reference), ("dev", dev))
        }
    )
    doc = (ROOT / "docs" / "operations.md").read_text()
    assert alarm_table.rewrite(doc, expected) == doc, "run `python -m ops.alarm_table` and commit docs/operations.md"
    # Every runbook link of the tables resolves in docs/.
    for target, anchor in re.findall(r"\]\(([\w.-]*)#([\w-]+)\)", expected):
        assert anchor in anchors(ROOT / "docs" / (target or "operations.md"))


# --- saved log queries ----------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["reference", "dev"])
def test_saved_queries_read_log_groups_of_their_own_stack(profile: str, request) -> None:
    assembly: Synthesized = request.getfixturevalue(profile)
    for role, template in templates(assembly).items():
        queries = props(template, "AWS::Logs::QueryDefinition")
        expected = next((names for prefix, names in QUERIES_BY_ROLE.items() if role.startswith(prefix)), set())
        stack_name = assembly.stacks[role].stack_name
        assert {p["Name"] for p in queries} == {f"{stack_name}/{name}" for name in expected}, role
        groups = resources(template, "AWS::Logs::LogGroup")
        for p in queries:
            assert p["LogGroupNames"] and all(g["Ref"] in groups for g in p["LogGroupNames"]), p["Name"]


def test_the_hosts_ship_what_the_queries_read(reference: Synthesized) -> None:
    # The members' agent: messages.log and the freeze log into the group both queries read.
    names = MemberLogGroupNames(messages="<messages>", audit="<audit>", metrics="<metrics>")
    config = cloudwatch_agent_config(
        role="failover", mirror_set="HSDB", member="Member0", health_check_port=52773, log_groups=names
    )
    files = config["logs"]["logs_collected"]["files"]["collect_list"]  # type: ignore[index]
    shipped = {(f["file_path"], f["log_group_name"], f["log_stream_name"]) for f in files}
    assert ("/iris/db/durable/mgr/messages.log", "<messages>", "{instance_id}") in shipped
    assert (FREEZE_THAW_LOG, "<messages>", "{instance_id}" + q.FREEZE_STREAM_SUFFIX) in shipped
    # The web servers' agent writes into the group of the web-5xx query, from their user data.
    template = reference.template_json("app_tier")
    (query,) = [p for p in props(template, "AWS::Logs::QueryDefinition") if p["Name"].endswith("/web-5xx")]
    (group,) = query["LogGroupNames"]
    (launch,) = [
        v["Properties"]["LaunchTemplateData"]
        for k, v in resources(template, "AWS::EC2::LaunchTemplate").items()
        if k.startswith("WebServers")
    ]
    (parameter,) = props(template, "AWS::SSM::Parameter")
    assert parameter["Name"].startswith("AmazonCloudWatch-")  # readable under CloudWatchAgentServerPolicy
    assert json.loads(render(parameter["Value"]).replace(f"<Ref:{group['Ref']}>", "GROUP")) == web_agent_config("GROUP")
    assert f"fetch-config -m ec2 -s -c ssm:{parameter['Name']}" in render(launch["UserData"])


def _python(pattern: str) -> re.Pattern[str]:
    """A Logs Insights regular expression as Python's (named groups are spelt (?P<name>...))."""
    return re.compile(pattern.replace("(?<", "(?P<"))


def test_the_mirror_query_parses_messages_log_and_keeps_mirror_lines_only() -> None:
    line = _python(q.MESSAGES_LINE)
    mirror = _python(q.MIRROR_WORDS)
    state = '07/09/24-12:05:49:781 (6502) 0 [Utility.Event] Applying journal data for mirror "HSDB" starting at 0'
    quiet = "07/09/24-12:05:50:953 (6508) 0 [Generic.Event] Journal File Compression: Compressed 12 journal files"
    arbiter = "07/09/24-12:06:01:002 (6362) 2 [Generic.Event] Arbiter connection lost"
    parsed = [line.match(text) for text in (state, quiet, arbiter)]
    assert all(parsed)
    assert [p["severity"] for p in parsed if p] == ["0", "0", "2"]
    assert [bool(mirror.search(p["text"])) for p in parsed if p] == [True, False, True]
    assert q.FREEZE_STREAM_SUFFIX in q.MIRROR_STATE_CHANGES and "parse @message" in q.MIRROR_STATE_CHANGES


def test_the_web_query_finds_5xx_answers_in_apache_access_lines() -> None:
    line = _python(q.ACCESS_LINE)
    answers = [
        '10.0.64.12 - - [01/Dec/2026:03:12:45 +0000] "GET /csp/healthshare/hsdb/app.csp HTTP/1.1" 503 299',
        '10.0.64.12 - - [01/Dec/2026:03:12:46 +0000] "POST /csp/user/api HTTP/1.1" 200 1024',
    ]
    statuses = [m["status"] for m in map(line.match, answers) if m]
    assert statuses == ["503", "200"]
    five = _python(re.search(r"status like /(.+)/", q.WEB_5XX)[1])  # type: ignore[index]
    assert [bool(five.match(s)) for s in statuses] == [True, False]


def test_the_retarget_query_reads_the_functions_decision_lines(capsys: pytest.CaptureFixture[str]) -> None:
    import retarget  # lambda/retarget, on pytest's pythonpath

    retarget.log_json({"event": "retarget", "mirror_set": "HSDB", "decision": "switched", "new_primary": "Member1"})
    record = json.loads(capsys.readouterr().out.strip())
    fields = re.match(r"fields (.+)\n", q.RETARGET_DECISIONS)[1].split(", ")  # type: ignore[index]
    assert "decision" in record and {"mirror_set", "decision", "new_primary"} <= set(fields)
