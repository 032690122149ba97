"""Container Insights, alarms and a dashboard for the Mendix platform.

Guarantees: every log group the CloudWatch observability add-on writes exists
beforehand with a retention and the key; alarms on node CPU and memory,
restarts of the Mendix app's containers, the database's CPU, free storage and
connections, and unhealthy hosts behind the app's NLB notify their severity's topic (and
again when they recover). The NLB is made by the Load Balancer Controller, so
its metric dimensions are looked up, read-only, once it exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration, Fn, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import custom_resources as cr
from constructs import Construct, IDependable

from components.log_retention import encrypted_log_group, logged_from_the_first_call
from components.mendix.addons import managed_addon
from components.mendix.identity import pod_identity_role
from components.mendix.nag import AWS_CUSTOM_RESOURCE_FUNCTION_ID, acknowledge_custom_resource_function
from components.nag import acknowledge, acknowledge_inline_policies
from components.severity import AlarmTopics, SeverityAlarm, severity_alarm
from config.eks import MendixDatabaseSettings

INLINE_REASON = (
    "The policy belongs to exactly one lookup and allows two read-only load balancer calls; it is created and "
    "deleted with the lookup."
)

AGENT_NAMESPACE = "amazon-cloudwatch"
AGENT_SERVICE_ACCOUNT = "cloudwatch-agent"
CONTAINER_INSIGHTS_LOG_GROUPS = ("application", "dataplane", "host", "performance")
NODE_CPU_PERCENT = 80
NODE_MEMORY_PERCENT = 85
POD_RESTARTS = 3
RDS_CPU_PERCENT = 80
GIB = 1024**3


def service_log_groups(
    scope: Construct, prefix: str, names: Sequence[str], *, encryption_key: kms.IKey, retention_days: int
) -> list[logs.LogGroup]:
    """The groups ``<prefix>/<name>`` an AWS service writes to, created beforehand so that
    each has a retention and the key instead of the never-expiring group the service would make."""
    return [
        encrypted_log_group(
            scope,
            f"{name.title()}Logs",
            encryption_key=encryption_key,
            retention_days=retention_days,
            log_group_name=f"{prefix}/{name}",
        )
        for name in names
    ]


@dataclass(frozen=True)
class ObservedApp:
    """The app whose pods and NLB are watched: its namespace, Deployment and the NLB's fixed name."""

    namespace: str
    name: str
    load_balancer_name: str


class PlatformObservability(Construct):
    """Container Insights (the CloudWatch observability add-on), the platform's
    alarms and its dashboard (the guarantees are the module's)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.Cluster,
        vpc: ec2.IVpc,
        subnets: Sequence[ec2.ISubnet],
        after: Sequence[IDependable],
        pod_identity_agent: IDependable,
        addon_version: str,
        encryption_key: kms.IKey,
        log_retention_days: int,
        app: ObservedApp,
        database: rds.DatabaseInstance,
        database_settings: MendixDatabaseSettings,
        topics: AlarmTopics,
    ) -> None:
        super().__init__(scope, construct_id)
        cluster_name = cluster.cluster_name
        self._vpc = vpc
        self._subnets = list(subnets)
        self.log_groups = service_log_groups(
            self,
            f"/aws/containerinsights/{cluster_name}",
            CONTAINER_INSIGHTS_LOG_GROUPS,
            encryption_key=encryption_key,
            retention_days=log_retention_days,
        )
        # Fluent Bit's container logs (the add-on's "application" group): what central log search subscribes to.
        self.application_logs = self.log_groups[CONTAINER_INSIGHTS_LOG_GROUPS.index("application")]
        role = pod_identity_role(
            self,
            "AgentRole",
            cluster=cluster,
            namespace=AGENT_NAMESPACE,
            service_account=AGENT_SERVICE_ACCOUNT,
            description="CloudWatch agent and Fluent Bit of Container Insights",
            aws_managed_policies={
                "CloudWatchAgentServerPolicy": "The AWS-maintained policy the CloudWatch observability add-on documents "
                "for its agent: metrics, logs and X-Ray traces out, no other access."
            },
        )
        self.addon = managed_addon(
            self,
            "ObservabilityAddon",
            cluster_name=cluster_name,
            name="amazon-cloudwatch-observability",
            version=addon_version,
            identity=(AGENT_SERVICE_ACCOUNT, role),
            after=[*after, pod_identity_agent, *self.log_groups],
        )

        self.alarms: list[SeverityAlarm] = []

        def alarm(
            alarm_id: str,
            kind: str,
            metric: cw.Metric,
            threshold: float,
            periods: int,
            description: str,
            comparison: cw.ComparisonOperator = cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        ) -> SeverityAlarm:
            a = severity_alarm(
                self,
                alarm_id,
                kind=kind,
                subject=f"Mendix platform: {description}",
                topics=topics,
                metric=metric,
                threshold=threshold,
                evaluation_periods=periods,
                comparison_operator=comparison,
            )
            self.alarms.append(a)
            return a

        def insights(metric_name: str, statistic: str, **dims: str) -> cw.Metric:
            return cw.Metric(
                namespace="ContainerInsights",
                metric_name=metric_name,
                dimensions_map={"ClusterName": cluster_name, **dims},
                statistic=statistic,
                period=Duration.minutes(5),
            )

        node_cpu = insights("node_cpu_utilization", "Average")
        node_memory = insights("node_memory_utilization", "Average")
        restarts = insights("pod_number_of_container_restarts", "Maximum", Namespace=app.namespace, PodName=app.name)
        alarm("NodeCpu", "eks-node-cpu", node_cpu, NODE_CPU_PERCENT, 3, f"node CPU above {NODE_CPU_PERCENT} % for 15 minutes")
        alarm(
            "NodeMemory",
            "eks-node-memory",
            node_memory,
            NODE_MEMORY_PERCENT,
            3,
            f"node memory above {NODE_MEMORY_PERCENT} % for 15 minutes",
        )
        alarm(
            "PodRestarts",
            "mendix-pod-restarts",
            restarts,
            POD_RESTARTS,
            1,
            f"{app.name} containers restarted {POD_RESTARTS} times or more in 5 minutes",
        )

        five = Duration.minutes(5)
        db_cpu = database.metric_cpu_utilization(period=five)
        db_free = database.metric_free_storage_space(period=five, statistic="Minimum")
        db_connections = database.metric_database_connections(period=five, statistic="Maximum")
        alarm(
            "DatabaseCpu",
            "mendix-database-cpu",
            db_cpu,
            RDS_CPU_PERCENT,
            3,
            f"database CPU above {RDS_CPU_PERCENT} % for 15 minutes",
        )
        storage_gib = database_settings.allocated_storage_gib
        free_percent = database_settings.free_storage_alarm_percent
        alarm(
            "DatabaseFreeStorage",
            "mendix-database-storage",
            db_free,
            storage_gib * GIB * free_percent / 100,
            1,
            f"database free storage below {free_percent} % of {storage_gib} GiB",
            cw.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
        )
        max_connections = database_settings.max_connections_alarm
        alarm(
            "DatabaseConnections",
            "mendix-database-connections",
            db_connections,
            max_connections,
            2,
            f"database connections at {max_connections} or more",
        )

        unhealthy = self._load_balancer_metric(cluster, app)
        alarm(
            "LoadBalancerUnhealthyHosts",
            "mendix-app-unhealthy",
            unhealthy,
            1,
            3,
            f"{app.name} NLB has unhealthy targets for 3 minutes",
        )

        self.dashboard = cw.Dashboard(self, "Dashboard", default_interval=Duration.hours(6))
        self.dashboard.add_widgets(
            cw.GraphWidget(title="Nodes: CPU and memory (%)", left=[node_cpu, node_memory], width=12),
            cw.GraphWidget(title=f"{app.name}: container restarts", left=[restarts], width=12),
            cw.GraphWidget(title="Database: CPU (%) and connections", left=[db_cpu], right=[db_connections], width=12),
            cw.GraphWidget(title="Database: free storage (bytes)", left=[db_free], width=12),
            cw.GraphWidget(title=f"{app.name} NLB: unhealthy targets", left=[unhealthy], width=12),
            cw.AlarmStatusWidget(title="Mendix platform alarms", alarms=self.alarms, width=12),
        )

    def _load_balancer_metric(self, cluster: eks.Cluster, app: ObservedApp) -> cw.Metric:
        """UnHealthyHostCount of the app's NLB, whose ids exist only after the controller made it.

        The Service's address appears when the NLB exists; then two read-only
        API calls turn the NLB's fixed name into the metric's dimensions.
        """
        address = eks.KubernetesObjectValue(
            self,
            "LoadBalancerAddress",
            cluster=cluster,  # type: ignore[arg-type]  # jsii protocol: Cluster implements ICluster
            object_type="service",
            object_name=app.name,
            object_namespace=app.namespace,
            json_path=".status.loadBalancer.ingress[0].hostname",
            timeout=Duration.minutes(10),
        )
        name = app.load_balancer_name
        lb_arn = self._lookup(
            "FindLoadBalancer",
            "describeLoadBalancers",
            {"Names": [name]},
            physical_id=f"{name}-{address.value}",
            output="LoadBalancers.0.LoadBalancerArn",
        )
        tg_arn = self._lookup(
            "FindTargetGroup",
            "describeTargetGroups",
            {"LoadBalancerArn": lb_arn},
            physical_id=lb_arn,
            output="TargetGroups.0.TargetGroupArn",
        )
        acknowledge_custom_resource_function(self, "the NLB lookup")
        return cw.Metric(
            namespace="AWS/NetworkELB",
            metric_name="UnHealthyHostCount",
            dimensions_map={
                # arn:...:loadbalancer/net/NAME/ID -> net/NAME/ID; arn:...:targetgroup/NAME/ID -> targetgroup/NAME/ID
                "LoadBalancer": Fn.select(1, Fn.split(":loadbalancer/", lb_arn)),
                "TargetGroup": Fn.select(5, Fn.split(":", tg_arn)),
            },
            statistic="Maximum",
            period=Duration.minutes(1),
        )

    def _lookup(self, construct_id: str, action: str, parameters: dict[str, Any], *, physical_id: str, output: str) -> str:
        """One read-only Elastic Load Balancing call at deploy time, from the VPC; returns ``output`` of its answer."""
        lookup = cr.AwsCustomResource(
            self,
            construct_id,
            on_update=cr.AwsSdkCall(
                service="ElasticLoadBalancingV2",
                action=action,
                parameters=parameters,
                physical_resource_id=cr.PhysicalResourceId.of(physical_id),
                output_paths=[output],
            ),
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [
                    iam.PolicyStatement(
                        actions=["elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeTargetGroups"],
                        resources=["*"],
                    )
                ]
            ),
            install_latest_aws_sdk=False,
            vpc=self._vpc,
            vpc_subnets=ec2.SubnetSelection(subnets=self._subnets),
        )
        acknowledge(
            lookup,
            {
                "AwsSolutions::AwsSolutions-IAM5[Resource::*]": "DescribeLoadBalancers and DescribeTargetGroups accept "
                "no resource-level permissions; the lookup reads, it changes nothing."
            },
        )
        acknowledge_inline_policies(lookup, INLINE_REASON)
        logged_from_the_first_call(lookup, Stack.of(self).node.find_child(AWS_CUSTOM_RESOURCE_FUNCTION_ID))
        return lookup.get_response_field(output)
