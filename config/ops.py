"""Settings of operations: who is told about alarms of each severity (docs/operations.md).

Every alarm has a severity P1-P4 from one rule table (components/severity.py);
each region has one SNS topic per severity, and these settings say who
subscribes to it: e-mail addresses, a pager's HTTPS webhook, and a Slack
channel through AWS Chatbot.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field

from config.base import Allowed, Problem, SettingsModel, rule
from config.types import Email, Matches, OneOf, RetentionDays

Severity = Literal["P1", "P2", "P3", "P4"]
SEVERITIES: tuple[Severity, ...] = ("P1", "P2", "P3", "P4")

# SNS accepts http and https endpoints; an alarm's text travels to a pager only over TLS.
HTTPS_URL = r"^https://[A-Za-z0-9.-]+(:\d{1,5})?(/[^\s]*)?$"
# AWS Chatbot's ids: the workspace (team) id T..., the channel id C... or G... (console, "Copy link").
SLACK_WORKSPACE = r"^T[A-Z0-9]{1,20}$"
SLACK_CHANNEL = r"^[CG][A-Z0-9]{1,20}$"


class SlackChannel(SettingsModel):
    """A Slack channel that AWS Chatbot posts a severity's alarms to (the workspace authorized in the Chatbot console)."""

    workspace_id: Annotated[
        str,
        Matches(SLACK_WORKSPACE, "a Slack workspace id such as T0123ABCD (AWS Chatbot console, after authorizing Slack)"),
        Field(description="The Slack workspace authorized with AWS Chatbot."),
    ]
    channel_id: Annotated[
        str,
        Matches(SLACK_CHANNEL, "a Slack channel id such as C0123ABCD (the end of the channel's link)"),
        Field(description="The channel's id (Slack: the channel's menu, Copy link, the last part)."),
    ]


class Subscribers(SettingsModel):
    """Who hears of one severity's alarms, in every region."""

    emails: Annotated[
        tuple[Email, ...],
        Field(description="E-mail addresses subscribed to the severity's topic (each confirms once by mail)."),
    ] = ()
    webhook_url: Annotated[
        str | None,
        Matches(HTTPS_URL, "an https:// URL (a pager's webhook; SNS posts alarms over TLS only)"),
        Field(description="A pager's HTTPS webhook subscribed to the severity's topic, or none."),
    ] = None
    slack: Annotated[
        SlackChannel | None,
        Field(description="A Slack channel that AWS Chatbot posts the severity's alarms to, or none."),
    ] = None


class SeverityNotifications(SettingsModel):
    """The subscribers of each severity's topic; a severity without subscribers still has its topic."""

    P1: Annotated[Subscribers, Field(description="P1, system down or data loss: 24x7, response in 30 minutes.")] = Subscribers()
    P2: Annotated[Subscribers, Field(description="P2, severely degraded: 24x7, response in 1 hour.")] = Subscribers()
    P3: Annotated[Subscribers, Field(description="P3, limited impact: 5x8, response in 2 hours.")] = Subscribers()
    P4: Annotated[Subscribers, Field(description="P4, information: 5x8, response in 4 hours.")] = Subscribers()

    def of(self, severity: Severity) -> Subscribers:
        subscribers: Subscribers = getattr(self, severity)
        return subscribers


# OpenSearch Service instance types: family.size.search (t3.small.search, r6g.large.search, m6g.large.search).
SEARCH_INSTANCE_TYPE = r"^[a-z][a-z0-9-]*\d[a-z0-9-]*\.(nano|micro|small|medium|large|\d*xlarge)\.search$"
ENGINE_VERSION = r"^OpenSearch_\d+\.\d+$"
IAM_ROLE_ARN = r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$"
# ClusterConfig.DedicatedMasterCount: "greater than 2 and not 4" (OpenSearch Service API reference); none is 0.
DEDICATED_MASTER_COUNTS = (0, 3, 5)
# The three zones of the profile (settings require exactly three): zone awareness over all of them.
SEARCH_ZONES = 3


class IndexLifecycleSettings(SettingsModel):
    """The ISM policy of the log indices (one index per source and day): writable while hot, then
    read-only and merged to one segment, then deleted."""

    hot_days: Annotated[
        int,
        Field(ge=1, le=365, description="Days an index takes writes and keeps its segments, counted from its creation."),
        Allowed("1 to 365 days"),
    ] = 7
    delete_after_days: Annotated[
        int,
        Field(ge=2, le=3650, description="Days after its creation an index is deleted (CloudWatch keeps the same logs for "
              "its own retention)."),
        Allowed("2 to 3650 days"),
    ] = 30  # fmt: skip

    @rule
    def _hot_before_delete(self) -> Iterator[Problem]:
        """`delete_after_days` is more than `hot_days`."""
        if self.delete_after_days <= self.hot_days:
            yield Problem(
                "delete_after_days",
                self.delete_after_days,
                f"more days than hot_days ({self.hot_days}): an index is deleted after it stops taking writes",
            )


class LogSearchSettings(SettingsModel):
    """Central log search: an Amazon OpenSearch Service domain fed from the CloudWatch log groups (docs/operations.md).

    Off, the logs stay in CloudWatch Logs alone and nothing is created.
    """

    enabled: Annotated[bool, Field(description="Create the OpenSearch domain and feed it from the log groups.")] = False
    engine_version: Annotated[
        str,
        Matches(ENGINE_VERSION, "an OpenSearch engine version such as OpenSearch_2.19"),
        Field(description="The domain's engine version."),
    ] = "OpenSearch_2.19"
    instance_type: Annotated[
        str,
        Matches(SEARCH_INSTANCE_TYPE, "an OpenSearch Service instance type such as r6g.large.search"),
        Field(description="The data nodes' instance type."),
    ] = "r6g.large.search"
    data_nodes: Annotated[
        int,
        Field(ge=1, le=80, description="Data nodes, spread over the three zones: at least 3."),
        Allowed("1 to 80 data nodes"),
    ] = 3
    master_instance_type: Annotated[
        str,
        Matches(SEARCH_INSTANCE_TYPE, "an OpenSearch Service instance type such as m6g.large.search"),
        Field(description="The dedicated master nodes' instance type."),
    ] = "m6g.large.search"
    dedicated_masters: Annotated[
        int,
        OneOf(DEDICATED_MASTER_COUNTS, "0 (none), 3 or 5 dedicated master nodes"),
        Field(description="Dedicated master nodes: 0, 3 or 5."),
    ] = 3
    volume_gib: Annotated[
        int,
        Field(ge=10, le=16384, description="The gp3 volume of each data node, in GiB."),
        Allowed("10 to 16384 GiB"),
    ] = 100
    multi_az_with_standby: Annotated[
        bool,
        Field(description="Multi-AZ with Standby: one zone's nodes stand by and take over when a zone fails; off, zone "
              "awareness over the three zones serves from all of them."),
    ] = True  # fmt: skip
    lifecycle: Annotated[IndexLifecycleSettings, Field(description="How long an index is hot, and when it is deleted.")] = (
        IndexLifecycleSettings()
    )
    log_retention_days: Annotated[
        RetentionDays, Field(description="How long the domain's own audit, error and slow logs are kept in CloudWatch.")
    ] = 365
    reader_role_arns: Annotated[
        tuple[Annotated[str, Matches(IAM_ROLE_ARN, "the ARN of an IAM role (arn:aws:iam::<account>:role/<name>)")], ...],
        Field(description="IAM roles of the operators who search the logs: mapped to the read-only and Dashboards roles."),
    ] = ()

    @rule
    def _a_node_per_zone(self) -> Iterator[Problem]:
        """While on, `data_nodes` is at least 3: the domain spans the profile's three zones."""
        if self.enabled and self.data_nodes < SEARCH_ZONES:
            yield Problem(
                "data_nodes",
                self.data_nodes,
                f"{SEARCH_ZONES} or more data nodes: the domain spans the profile's three availability zones, "
                "a data node in each at least",
            )

    @rule
    def _standby_shape(self) -> Iterator[Problem]:
        """With `multi_az_with_standby`, `data_nodes` is a multiple of 3, there are dedicated masters, and the
        instance types are not burstable (T2/T3)."""
        if not (self.enabled and self.multi_az_with_standby):
            return
        if self.data_nodes >= SEARCH_ZONES and self.data_nodes % SEARCH_ZONES:
            yield Problem(
                "data_nodes",
                self.data_nodes,
                "a multiple of 3 with multi_az_with_standby: each zone holds the same number of nodes",
            )
        if self.dedicated_masters == 0:
            yield Problem("dedicated_masters", 0, "3 or 5 with multi_az_with_standby, which needs dedicated master nodes")
        for key in ("instance_type", "master_instance_type"):
            value = getattr(self, key)
            if value.startswith(("t2.", "t3.")):
                yield Problem(key, value, "a type other than T2/T3 with multi_az_with_standby")


class OpsSettings(SettingsModel):
    """Alarm notifications by severity, and central log search (docs/operations.md)."""

    notifications: Annotated[
        SeverityNotifications,
        Field(description="Who is told of each severity's alarms: keys P1, P2, P3 and P4 only."),
    ] = SeverityNotifications()
    log_search: Annotated[
        LogSearchSettings,
        Field(description="Central log search: an OpenSearch Service domain fed from the log groups; off, CloudWatch only."),
    ] = LogSearchSettings()
