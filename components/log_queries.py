"""Saved CloudWatch Logs Insights queries: the searches an operator runs first (docs/operations.md).

Each query is an ``AWS::Logs::QueryDefinition`` named ``<stack>/<query>``
(a folder per stack in the console) and bound to the log groups it reads,
which the stack that creates them passes in. The query texts are constants
here, so that tests can run their patterns over real log lines.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Stack
from aws_cdk import aws_logs as logs
from constructs import Construct

# IRIS's messages.log: "07/09/24-12:05:49:781 (6502) 0 [Utility.Event] text" (time, process, severity 0-3, category).
MESSAGES_LINE = r"^(?<logged>\S+) \((?<pid>\d+)\) (?<severity>\d) \[(?<category>[^\]]+)\] (?<text>.*)$"
MIRROR_WORDS = r"(?i)(mirror|arbiter|becom\w* primary|takeover|failover|failed over)"
# Lines of iris/freeze_thaw.sh that the CloudWatch agent ships: "<UTC time> <INFO|ERROR> <text>".
FREEZE_LINE = r"^(?<logged>\S+) (?<level>INFO|ERROR) (?<text>.*)$"
FREEZE_STREAM_SUFFIX = "-freeze-thaw"
ACCESS_STREAM_SUFFIX = "-access"
# Apache's common log format (TransferLog without a LogFormat of its own: mod_ssl's ssl_access_log).
ACCESS_LINE = r'^(?<client>\S+) \S+ \S+ \[(?<logged>[^\]]+)\] "(?<method>\S+) (?<path>\S+)[^"]*" (?<status>\d{3}) '

MIRROR_STATE_CHANGES = "\n".join(
    [
        "fields @timestamp, @logStream",
        f"| filter @logStream not like /{FREEZE_STREAM_SUFFIX}$/",
        f"| parse @message /{MESSAGES_LINE}/",
        f"| filter text like /{MIRROR_WORDS}/",
        "| display @timestamp, @logStream, severity, category, text",
        "| sort @timestamp desc",
        "| limit 1000",
    ]
)
# lambda/retarget logs one JSON object per decision; Logs Insights discovers its fields.
RETARGET_DECISIONS = "\n".join(
    [
        "fields @timestamp, event, mirror_set, decision, previous, new_primary, reason, error, @logStream",
        "| filter ispresent(decision)",
        "| sort @timestamp desc",
        "| limit 1000",
    ]
)
FAILED_FREEZES = "\n".join(
    [
        "fields @timestamp, @logStream",
        f"| filter @logStream like /{FREEZE_STREAM_SUFFIX}$/",
        f"| parse @message /{FREEZE_LINE}/",
        '| filter level = "ERROR" or text like /(?i)(refus|fail)/',
        "| display @timestamp, @logStream, level, text",
        "| sort @timestamp desc",
        "| limit 500",
    ]
)
WEB_5XX = "\n".join(
    [
        "fields @timestamp, @logStream",
        f"| filter @logStream like /{ACCESS_STREAM_SUFFIX}$/",
        f"| parse @message /{ACCESS_LINE}/",
        "| filter status like /^5[0-9][0-9]$/",
        "| stats count(*) as answers by status, path, @logStream",
        "| sort answers desc",
        "| limit 200",
    ]
)


def saved_query(
    scope: Construct, construct_id: str, *, name: str, query: str, log_groups: Sequence[logs.ILogGroup]
) -> logs.CfnQueryDefinition:
    """A Logs Insights query saved as ``<stack name>/<name>``, reading ``log_groups`` only."""
    if not log_groups:
        raise ValueError(f"the saved query {name} reads no log group")
    return logs.CfnQueryDefinition(
        scope,
        construct_id,
        name=f"{Stack.of(scope).stack_name}/{name}",
        query_string=query,
        log_group_names=[group.log_group_name for group in log_groups],
    )
