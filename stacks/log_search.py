"""LogSearchStack: central log search, the optional Amazon OpenSearch Service domain (``ops.log_search``).

The domain sits in the primary VPC's app subnets, one per zone, and is fed by
a subscription filter on each log group it is handed: the IRIS members'
messages and audit logs, the web servers' Apache logs and, when the Mendix
platform is in this account, its containers' logs (Fluent Bit of the
CloudWatch observability add-on writes them to CloudWatch first). Without
this stack (``ops.log_search.enabled`` false) the same logs stay in
CloudWatch Logs and no other stack changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_logs as logs
from constructs import Construct

from components.links import NetworkRefs
from components.log_search import LogSearch, domain_name
from components.severity import AlarmTopics
from config.ops import LogSearchSettings

DESCRIPTION = "IRIS on AWS: central log search, an OpenSearch Service domain in the VPC fed by the log groups' subscriptions"


class LogSearchStack(Stack):
    """The domain and its feed (``search``); ``sources`` maps an index's source name to its log groups."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        network: NetworkRefs,
        settings: LogSearchSettings,
        prefix: str,
        sources: Mapping[str, Sequence[logs.ILogGroup]],
        alarm_topics: AlarmTopics,
        **kwargs: object,
    ) -> None:
        kwargs.setdefault("description", DESCRIPTION)
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.search = LogSearch(
            self,
            "LogSearch",
            name=domain_name(prefix),
            settings=settings,
            vpc=network.vpc,
            subnets=network.tier("app"),
            tunnel=network.security_groups.web,
            sources=sources,
            alarm_topics=alarm_topics,
        )
        CfnOutput(self, "DomainName", value=self.search.domain.ref, description="The log search domain")
        CfnOutput(self, "DomainEndpoint", value=self.search.endpoint, description="Its VPC endpoint (HTTPS, SigV4)")
        CfnOutput(
            self,
            "DashboardsUrl",
            value=f"https://{self.search.endpoint}/_dashboards",
            description="OpenSearch Dashboards, from inside the VPC (docs/operations.md, Log search)",
        )
