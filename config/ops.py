"""Settings of operations: who is told about alarms of each severity (docs/operations.md).

Every alarm has a severity P1-P4 from one rule table (components/severity.py);
each region has one SNS topic per severity, and these settings say who
subscribes to it: e-mail addresses, a pager's HTTPS webhook, and a Slack
channel through AWS Chatbot.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from config.base import SettingsModel
from config.types import Email, Matches

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


class OpsSettings(SettingsModel):
    """Alarm notifications by severity (docs/operations.md)."""

    notifications: Annotated[
        SeverityNotifications,
        Field(description="Who is told of each severity's alarms: keys P1, P2, P3 and P4 only."),
    ] = SeverityNotifications()
