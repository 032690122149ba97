"""Alarm severities P1-P4: one rule table, one builder, one topic per severity and region.

Every CloudWatch alarm of the app is made by :func:`severity_alarm` from a
kind of :data:`RULES`; the kind fixes its severity (with the reason), the topic
it notifies and the runbook section its description names. A test reads every
synthesized alarm and fails on one without a severity or with a runbook anchor
that docs/ does not have (tests/test_operations.py), and the alarm table of
docs/operations.md is generated from the templates (``python -m ops.alarm_table``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Stack, Tags
from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from config.ops import SEVERITIES, Severity, SeverityNotifications

RUNBOOK = "docs/operations.md"
SEVERITY_TAG = "Severity"
# CloudWatch's limit on an alarm's description.
MAX_DESCRIPTION = 1024


@dataclass(frozen=True)
class Sla:
    """The support model of one severity (the Mendix architecture plan's table)."""

    meaning: str
    coverage: str
    response: str
    solved: str


SLA: Mapping[Severity, Sla] = {
    "P1": Sla("system down or data loss", "24x7", "30 min", "4 h"),
    "P2": Sla("severely degraded", "24x7", "1 h", "6 h"),
    "P3": Sla("limited impact", "5x8", "2 h", "2 work days"),
    "P4": Sla("information requests", "5x8", "4 h", "3 work days"),
}


@dataclass(frozen=True)
class AlarmRule:
    """What an alarm of one kind means for the service: its severity and why, and its runbook section.

    ``notify`` false: the alarm is a signal for another service (a Route 53
    health check) and tells no person; its severity still says how much it matters.
    """

    severity: Severity
    reason: str
    notify: bool = True

    def anchor(self, kind: str) -> str:
        """The runbook section of the kind: a heading ``### <kind>`` in docs/operations.md."""
        return f"{RUNBOOK}#{kind}"


RULES: Mapping[str, AlarmRule] = {
    # ---------------------------------------------------------------- IRIS mirror sets
    "retarget-failed": AlarmRule(
        "P1", "A VIP may point at a member that is not primary: every client of the mirror is cut off until it is retargeted."
    ),
    "member-status": AlarmRule(
        "P2",
        "A failover member's host failed a status check: the mirror runs on one member (after a failover if it was "
        "the primary), with no redundancy left.",
    ),
    "iris-volume-full": AlarmRule(
        "P2",
        "A full journal, WIJ or database volume stops IRIS writing: the alarm leaves hours, not minutes, to grow it.",
    ),
    "arbiter-status": AlarmRule(
        "P3",
        "The arbiter only breaks ties: while both failover members see each other, automatic failover still works.",
    ),
    "dr-member-status": AlarmRule(
        "P3", "The async DR member is down or unwell: production is untouched, the DR region's copy falls behind."
    ),
    "dr-volume-full": AlarmRule(
        "P3", "A full volume stops the DR member dejournaling: production is untouched, the DR copy falls behind."
    ),
    "host-cpu": AlarmRule("P3", "A saturated CPU slows one host; it still serves."),
    "ebs-queue": AlarmRule("P3", "A volume short of IOPS slows IRIS on one host; it still serves."),
    "vip-health-signal": AlarmRule(
        "P4",
        "An input of a Route 53 health check: a standby member's group is in ALARM by design, and outages are "
        "reported by the member and retarget alarms.",
        notify=False,
    ),
    # ---------------------------------------------------------------- snapshots
    "thaw-failed": AlarmRule(
        "P2",
        "IRIS may still be frozen on the backup member: it stops dejournaling, so a failover to it would wait for "
        "the journals to be applied.",
    ),
    "snapshot-failed": AlarmRule(
        "P3", "No new restore point: the earlier snapshots and the mirror's journals still hold the data."
    ),
    "freeze-failed": AlarmRule(
        "P3",
        "No application-consistent snapshot of that member this run: the earlier ones and the journals still hold the data.",
    ),
    "no-snapshot": AlarmRule(
        "P3", "No snapshot started in a whole window: the restore point ages; the journals still hold the data."
    ),
    "restore-drill-failed": AlarmRule(
        "P3",
        "A scheduled restore drill failed: the newest snapshot set may not restore (or holds a damaged database); "
        "production and the mirror are untouched.",
    ),
    # ---------------------------------------------------------------- log search
    "log-delivery-failed": AlarmRule(
        "P3",
        "Log events did not reach the search domain: they are still in CloudWatch Logs (and the batch in the delivery "
        "function's dead-letter queue); only the central search misses them.",
    ),
    # ---------------------------------------------------------------- application tier
    "web-5xx": AlarmRule("P2", "A share of the users' requests fail: the service is severely degraded."),
    "web-capacity": AlarmRule(
        "P2", "Fewer web servers than the minimum: the rest serve, with no spare capacity for a zone's loss."
    ),
    "app-server-capacity": AlarmRule(
        "P2", "Fewer ECP application servers than the minimum: the rest serve, with no spare capacity for a zone's loss."
    ),
    "print-server-capacity": AlarmRule("P3", "Fewer print servers than the minimum: printing slows, the application serves."),
    "web-latency": AlarmRule("P3", "Slow answers: users wait, nothing fails."),
    "web-unhealthy-host": AlarmRule("P3", "One web server fails its health check: the load balancer serves from the others."),
    # ---------------------------------------------------------------- Mendix platform
    "mendix-app-unhealthy": AlarmRule(
        "P2", "The Mendix app's load balancer has unhealthy targets: part of the app's capacity is gone."
    ),
    "mendix-pod-restarts": AlarmRule("P2", "The Mendix app's containers restart repeatedly: users see errors and lost sessions."),
    "mendix-database-storage": AlarmRule(
        "P2", "The Mendix database is running out of storage: when it is full, the app stops writing."
    ),
    "mendix-database-cpu": AlarmRule("P3", "A busy database slows the Mendix app; it still serves."),
    "mendix-database-connections": AlarmRule(
        "P3", "Database connections near the limit: new sessions may wait; existing ones serve."
    ),
    "eks-node-cpu": AlarmRule("P3", "Busy nodes slow pods; Karpenter adds capacity, the apps still serve."),
    "eks-node-memory": AlarmRule("P3", "Memory pressure on nodes may evict pods; Karpenter adds capacity."),
}


@dataclass(frozen=True)
class AlarmTopics:
    """A region's alarm topics by severity, as the stacks that raise alarms see them."""

    topics: Mapping[Severity, sns.ITopic]

    def of(self, severity: Severity) -> sns.ITopic:
        return self.topics[severity]


class SeverityTopics(Construct):
    """One SNS topic per severity, encrypted with ``key`` (a customer-managed key CloudWatch may use), TLS only.

    Each topic's subscribers come from ``notifications``: e-mail addresses, an
    HTTPS webhook, and a Slack channel through AWS Chatbot. ``topics`` is what
    the alarm builder takes.
    """

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, notifications: SeverityNotifications) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        topics: dict[Severity, sns.ITopic] = {}
        for severity in SEVERITIES:
            sla = SLA[severity]
            topic = sns.Topic(
                self,
                severity,
                master_key=key,
                enforce_ssl=True,
                display_name=f"{stack.stack_name} {severity} alarms ({sla.meaning})",
            )
            subscribers = notifications.of(severity)
            for email in subscribers.emails:
                topic.add_subscription(subscriptions.EmailSubscription(email))
            if subscribers.webhook_url is not None:
                topic.add_subscription(
                    subscriptions.UrlSubscription(subscribers.webhook_url, protocol=sns.SubscriptionProtocol.HTTPS)
                )
            if subscribers.slack is not None:
                chatbot.SlackChannelConfiguration(
                    self,
                    f"{severity}Slack",
                    # Names are unique in the account: the stack's name and the severity.
                    slack_channel_configuration_name=f"{stack.stack_name}-{severity}",
                    slack_workspace_id=subscribers.slack.workspace_id,
                    slack_channel_id=subscribers.slack.channel_id,
                    notification_topics=[topic],
                    logging_level=chatbot.LoggingLevel.ERROR,
                )
            topics[severity] = topic
        self.topics = AlarmTopics(topics)


def describe(kind: str, subject: str) -> str:
    """An alarm's description: its severity, what it means and the runbook section to open."""
    rule = RULES[kind]
    text = f"{rule.severity} ({SLA[rule.severity].meaning}): {subject}. Runbook: {rule.anchor(kind)}"
    if len(text) > MAX_DESCRIPTION:
        raise ValueError(f"the description of a {kind} alarm is longer than CloudWatch's {MAX_DESCRIPTION} characters")
    return text


class SeverityAlarm(cw.Alarm):
    """An alarm that knows its kind and severity (what :func:`severity_alarm` returns)."""

    def __init__(self, scope: Construct, construct_id: str, *, kind: str, **props: object) -> None:
        super().__init__(scope, construct_id, **props)  # type: ignore[arg-type]
        self.kind = kind
        self.severity: Severity = RULES[kind].severity


def severity_alarm(
    scope: Construct,
    construct_id: str,
    *,
    kind: str,
    subject: str,
    topics: AlarmTopics | None,
    metric: cw.IMetric,
    threshold: float,
    evaluation_periods: int,
    comparison_operator: cw.ComparisonOperator = cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treat_missing_data: cw.TreatMissingData = cw.TreatMissingData.NOT_BREACHING,
    datapoints_to_alarm: int | None = None,
) -> SeverityAlarm:
    """The one way to make an alarm: its kind's severity in its description and ``Severity`` tag, and its
    alarm and OK notifications on the severity's topic (none for a kind that notifies nobody).

    ``subject`` says what happened, e.g. "HSDB: Member0 failed its instance status check".
    """
    if kind not in RULES:
        raise ValueError(f"unknown alarm kind {kind!r}: add it to RULES in components/severity.py, with a severity and reason")
    rule = RULES[kind]
    alarm = SeverityAlarm(
        scope,
        construct_id,
        kind=kind,
        metric=metric,
        threshold=threshold,
        evaluation_periods=evaluation_periods,
        datapoints_to_alarm=datapoints_to_alarm,
        comparison_operator=comparison_operator,
        treat_missing_data=treat_missing_data,
        alarm_description=describe(kind, subject),
    )
    Tags.of(alarm).add(SEVERITY_TAG, rule.severity)
    if rule.notify:
        if topics is None:
            raise ValueError(f"a {kind} alarm notifies the {rule.severity} topic: pass the region's AlarmTopics")
        notify = cw_actions.SnsAction(topics.of(rule.severity))
        alarm.add_alarm_action(notify)
        alarm.add_ok_action(notify)
    return alarm
