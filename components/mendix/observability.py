"""Container Insights, alarms and a dashboard for the Mendix platform."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Acknowledgment, Duration, Fn, Stack, Validations
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from aws_cdk import aws_sns as sns
from aws_cdk import custom_resources as cr
from constructs import Construct, IDependable

from components.log_retention import encrypted_log_group
from components.mendix.identity import pod_identity_role
from components.nag import acknowledge, acknowledge_inline_policies, acknowledge_provider_function

# The id the CDK gives the one function behind every AwsCustomResource of a stack.
AWS_CUSTOM_RESOURCE_FUNCTION_ID = "AWS679f53fac002430cb0da5b7982bd2287"
INLINE_REASON = (
    "The policy belongs to exactly one lookup and allows two read-only load balancer calls; it is created and "
    "deleted with the lookup."
)

AGENT_SERVICE_ACCOUNT = "cloudwatch-agent"
CONTAINER_INSIGHTS_LOG_GROUPS = ("application", "dataplane", "host", "performance")
NODE_CPU_PERCENT = 80
NODE_MEMORY_PERCENT = 85
POD_RESTARTS = 3
RDS_CPU_PERCENT = 80
GIB = 1024**3


class PlatformObservability(Construct):
    """Container Insights (the CloudWatch observability add-on), the platform's
    alarms and its dashboard.

    Guarantees: every log group the add-on writes exists beforehand with a
    retention and the key; alarms on node CPU and memory, restarts of the
    Mendix app's containers, the database's CPU, free storage and
    connections, and unhealthy hosts behind the app's NLB notify ``topic``
    (and again when they recover). The NLB is made by the Load Balancer
    Controller, so its metric dimensions are looked up once it exists.
    """

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
        app_namespace: str,
        app_name: str,
        load_balancer_name: str,
        database: rds.DatabaseInstance,
        database_storage_gib: int,
        free_storage_alarm_percent: int,
        max_connections: int,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        cluster_name = cluster.cluster_name
        self.log_groups = [
            encrypted_log_group(
                self,
                f"{name.title()}Logs",
                encryption_key=encryption_key,
                retention_days=log_retention_days,
                log_group_name=f"/aws/containerinsights/{cluster_name}/{name}",
            )
            for name in CONTAINER_INSIGHTS_LOG_GROUPS
        ]
        role = pod_identity_role(
            self,
            "AgentRole",
            cluster=cluster,
            namespace="amazon-cloudwatch",
            service_account=AGENT_SERVICE_ACCOUNT,
            description="CloudWatch agent and Fluent Bit of Container Insights",
        )
        role.add_managed_policy(iam.ManagedPolicy.from_aws_managed_policy_name("CloudWatchAgentServerPolicy"))
        Validations.of(role).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/CloudWatchAgentServerPolicy]",
                reason="The AWS-maintained policy the CloudWatch observability add-on documents for its agent: "
                "metrics, logs and X-Ray traces out, no other access.",
            )
        )
        self.addon = eks.CfnAddon(
            self,
            "ObservabilityAddon",
            addon_name="amazon-cloudwatch-observability",
            addon_version=addon_version,
            cluster_name=cluster_name,
            pod_identity_associations=[
                eks.CfnAddon.PodIdentityAssociationProperty(role_arn=role.role_arn, service_account=AGENT_SERVICE_ACCOUNT)
            ],
            resolve_conflicts="OVERWRITE",
        )
        for dependency in (*after, pod_identity_agent, *self.log_groups):
            self.addon.node.add_dependency(dependency)

        notify = cw_actions.SnsAction(topic)
        self.alarms: list[cw.Alarm] = []

        def alarm(
            alarm_id: str,
            metric: cw.Metric,
            threshold: float,
            periods: int,
            description: str,
            comparison: cw.ComparisonOperator = cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        ) -> cw.Alarm:
            a = metric.create_alarm(
                self,
                alarm_id,
                threshold=threshold,
                evaluation_periods=periods,
                comparison_operator=comparison,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=f"Mendix platform: {description}",
            )
            a.add_alarm_action(notify)
            a.add_ok_action(notify)
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
        restarts = insights("pod_number_of_container_restarts", "Maximum", Namespace=app_namespace, PodName=app_name)
        alarm("NodeCpu", node_cpu, NODE_CPU_PERCENT, 3, f"node CPU above {NODE_CPU_PERCENT} % for 15 minutes")
        alarm("NodeMemory", node_memory, NODE_MEMORY_PERCENT, 3, f"node memory above {NODE_MEMORY_PERCENT} % for 15 minutes")
        alarm(
            "PodRestarts", restarts, POD_RESTARTS, 1, f"{app_name} containers restarted {POD_RESTARTS} times or more in 5 minutes"
        )

        five = Duration.minutes(5)
        db_cpu = database.metric_cpu_utilization(period=five)
        db_free = database.metric_free_storage_space(period=five, statistic="Minimum")
        db_connections = database.metric_database_connections(period=five, statistic="Maximum")
        alarm("DatabaseCpu", db_cpu, RDS_CPU_PERCENT, 3, f"database CPU above {RDS_CPU_PERCENT} % for 15 minutes")
        free_floor = database_storage_gib * GIB * free_storage_alarm_percent / 100
        alarm(
            "DatabaseFreeStorage",
            db_free,
            free_floor,
            1,
            f"database free storage below {free_storage_alarm_percent} % of {database_storage_gib} GiB",
            cw.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
        )
        alarm("DatabaseConnections", db_connections, max_connections, 2, f"database connections at {max_connections} or more")

        unhealthy = self._load_balancer_metric(cluster, vpc, subnets, load_balancer_name, app_namespace, app_name)
        alarm("LoadBalancerUnhealthyHosts", unhealthy, 1, 3, f"{app_name} NLB has unhealthy targets for 3 minutes")

        self.dashboard = cw.Dashboard(self, "Dashboard", default_interval=Duration.hours(6))
        self.dashboard.add_widgets(
            cw.GraphWidget(title="Nodes: CPU and memory (%)", left=[node_cpu, node_memory], width=12),
            cw.GraphWidget(title=f"{app_name}: container restarts", left=[restarts], width=12),
            cw.GraphWidget(title="Database: CPU (%) and connections", left=[db_cpu], right=[db_connections], width=12),
            cw.GraphWidget(title="Database: free storage (bytes)", left=[db_free], width=12),
            cw.GraphWidget(title=f"{app_name} NLB: unhealthy targets", left=[unhealthy], width=12),
            cw.AlarmStatusWidget(title="Mendix platform alarms", alarms=self.alarms, width=12),
        )

    def _load_balancer_metric(
        self,
        cluster: eks.Cluster,
        vpc: ec2.IVpc,
        subnets: Sequence[ec2.ISubnet],
        name: str,
        namespace: str,
        service: str,
    ) -> cw.Metric:
        """UnHealthyHostCount of the app's NLB, whose ids exist only after the controller made it.

        The Service's address appears when the NLB exists; then two read-only
        API calls turn the NLB's fixed name into the metric's dimensions.
        """
        address = eks.KubernetesObjectValue(
            self,
            "LoadBalancerAddress",
            cluster=cluster,  # type: ignore[arg-type]  # jsii protocol: Cluster implements ICluster
            object_type="service",
            object_name=service,
            object_namespace=namespace,
            json_path=".status.loadBalancer.ingress[0].hostname",
            timeout=Duration.minutes(10),
        )
        lookup_policy = cr.AwsCustomResourcePolicy.from_statements(
            [
                iam.PolicyStatement(
                    actions=["elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeTargetGroups"],
                    resources=["*"],
                )
            ]
        )
        find_lb = cr.AwsCustomResource(
            self,
            "FindLoadBalancer",
            on_update=cr.AwsSdkCall(
                service="ElasticLoadBalancingV2",
                action="describeLoadBalancers",
                parameters={"Names": [name]},
                physical_resource_id=cr.PhysicalResourceId.of(f"{name}-{address.value}"),
                output_paths=["LoadBalancers.0.LoadBalancerArn"],
            ),
            policy=lookup_policy,
            install_latest_aws_sdk=False,
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnets=list(subnets)),
        )
        lb_arn = find_lb.get_response_field("LoadBalancers.0.LoadBalancerArn")
        find_tg = cr.AwsCustomResource(
            self,
            "FindTargetGroup",
            on_update=cr.AwsSdkCall(
                service="ElasticLoadBalancingV2",
                action="describeTargetGroups",
                parameters={"LoadBalancerArn": lb_arn},
                physical_resource_id=cr.PhysicalResourceId.of(lb_arn),
                output_paths=["TargetGroups.0.TargetGroupArn"],
            ),
            policy=lookup_policy,
            install_latest_aws_sdk=False,
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnets=list(subnets)),
        )
        tg_arn = find_tg.get_response_field("TargetGroups.0.TargetGroupArn")
        for lookup in (find_lb, find_tg):
            Validations.of(lookup).acknowledge(
                Acknowledgment(
                    id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                    reason="DescribeLoadBalancers and DescribeTargetGroups accept no resource-level permissions; "
                    "the lookup reads, it changes nothing.",
                )
            )
            acknowledge_inline_policies(lookup, INLINE_REASON)
        function = Stack.of(self).node.find_child(AWS_CUSTOM_RESOURCE_FUNCTION_ID)
        managed = "arn:<AWS::Partition>:iam::aws:policy/service-role/"
        acknowledge(
            function.node.find_child("ServiceRole"),
            {
                f"AwsSolutions::AwsSolutions-IAM4[Policy::{managed}AWSLambdaBasicExecutionRole]": "The AWS-maintained "
                "minimum for a Lambda function to write its own logs.",
                f"AwsSolutions::AwsSolutions-IAM4[Policy::{managed}AWSLambdaVPCAccessExecutionRole]": "The "
                "AWS-maintained policy with exactly the network-interface permissions Lambda needs in a VPC.",
            },
        )
        acknowledge_provider_function(function, "The CDK's AwsCustomResource function (the NLB lookup)")
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
