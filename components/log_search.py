"""Central log search: an Amazon OpenSearch Service domain in the VPC, fed by CloudWatch Logs subscriptions.

Guarantees: the domain is reachable only inside the VPC (its subnets span the
three zones, zone awareness over three zones or Multi-AZ with Standby), is
encrypted at rest with a customer-managed key and between nodes, answers
HTTPS only with TLS 1.2 or later, and authorizes every request with IAM
through fine-grained access control whose master user is an IAM role (no
internal user, no password). Its audit, error and slow logs go to
encrypted CloudWatch log groups. Its security group admits 443 from the
delivery and setup functions and from the web servers (the operators'
Session Manager tunnel) only. Each log group handed in gets a subscription
filter to one delivery function (lambda/log_search), whose role may write
``logs-*`` indices and nothing else; a batch it cannot index lands in an
encrypted dead-letter queue with a P3 alarm on it. The index lifecycle (ISM)
policy, the role mappings and audit logging are applied at deploy time by a
custom resource that signs its requests from inside the VPC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from aws_cdk import CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_opensearchservice as opensearch
from aws_cdk import aws_sqs as sqs
from aws_cdk import custom_resources as cr
from constructs import Construct

from components.encryption_key import EncryptionKey
from components.log_retention import encrypted_log_group
from components.mirror_failover import RUNTIME, VPC_ACCESS_POLICY, VPC_ACCESS_REASON
from components.nag import acknowledge, acknowledge_provider_function, both_packs
from components.service_role import service_role
from components.severity import AlarmTopics, SeverityAlarm, severity_alarm
from config.constants import HTTPS_PORT
from config.ops import SEARCH_ZONES, LogSearchSettings

CODE = Path(__file__).resolve().parent.parent / "lambda" / "log_search"
TLS_POLICY = "Policy-Min-TLS-1-2-2019-07"
# The domain's logs: OpenSearch Service's names for them, and the log group each goes to.
DOMAIN_LOGS = {
    "AUDIT_LOGS": "Audit",
    "ES_APPLICATION_LOGS": "Application",
    "SEARCH_SLOW_LOGS": "SearchSlow",
    "INDEX_SLOW_LOGS": "IndexSlow",
}
DELIVERY_CONCURRENCY = 10
DELIVERY_RETRIES = 2  # Lambda's asynchronous retries before the batch goes to the dead-letter queue
WRITE_PATHS = ("_bulk",)
# Every REST path the setup function calls (lambda/log_search/log_search_setup.py), and no other.
SETUP_PATHS = (
    "_plugins/_security/api/roles/log_writer",
    "_plugins/_security/api/rolesmapping/log_writer",
    "_plugins/_security/api/rolesmapping/readall",
    "_plugins/_security/api/rolesmapping/opensearch_dashboards_user",
    "_plugins/_security/api/audit",
    "_plugins/_ism/policies/logs-lifecycle",
)
# The domain's access policy lets the named roles call it; fine-grained access control decides what each may do.
HTTP_ACTIONS = ["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost", "es:ESHttpPut", "es:ESHttpPatch", "es:ESHttpDelete"]


def domain_name(prefix: str) -> str:
    """The domain's name (3-28 characters, lower case, a letter first): operators type it."""
    return f"{prefix.lower()}-logs"[:28]


class LogSearch(Construct):
    """The domain, its logs, the delivery function with one subscription filter per log group, and its setup.

    ``sources`` maps a short source name (the index name's middle part, ``logs-<source>-<day>``)
    to the log groups of that source. ``tunnel`` is the security group of the hosts an operator
    tunnels through to reach Dashboards (Session Manager port forwarding).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        settings: LogSearchSettings,
        vpc: ec2.IVpc,
        subnets: Sequence[ec2.ISubnet],
        tunnel: ec2.ISecurityGroup,
        sources: Mapping[str, Sequence[logs.ILogGroup]],
        alarm_topics: AlarmTopics,
    ) -> None:
        super().__init__(scope, construct_id)
        if len({s.availability_zone for s in subnets}) != SEARCH_ZONES:
            raise ValueError(f"the log search domain needs one subnet in each of {SEARCH_ZONES} zones")
        stack = Stack.of(self)
        self.domain_arn = stack.format_arn(service="es", resource="domain", resource_name=name)
        self.key = EncryptionKey(
            self, "Key", description="Encrypts the log search domain, its logs and queue", alias=f"alias/{stack.stack_name}/logs"
        )
        self.key.allow_cloudwatch_logs()

        # ---------------------------------------------------------------- network
        def group(group_id: str, description: str) -> ec2.SecurityGroup:
            return ec2.SecurityGroup(self, group_id, vpc=vpc, description=description, allow_all_outbound=False)

        self.domain_group = group("DomainSg", "Log search domain: HTTPS from its delivery and setup functions and the tunnel")
        self.client_group = group("ClientSg", "Log search functions: HTTPS to the domain only")
        https = ec2.Port.tcp(HTTPS_PORT)
        self.client_group.connections.allow_to(self.domain_group, https, "Delivery and setup functions to the domain")
        # The web servers' group already sends HTTPS anywhere; only the domain's side is added, here, so that the
        # network stack does not come to depend on this one.
        self.domain_group.add_ingress_rule(
            ec2.Peer.security_group_id(tunnel.security_group_id),
            https,
            "Operators Session Manager tunnel through the web servers",
        )
        provider_group = group("ProviderSg", "Log search setup Provider framework: the CloudFormation response URL and Lambda")
        provider_group.add_egress_rule(ec2.Peer.any_ipv4(), https, "The CloudFormation response URL on S3 and the Lambda API")
        selection = ec2.SubnetSelection(subnets=list(subnets))

        # ---------------------------------------------------------------- roles
        self.setup_role = self._function_role("SetupRole", "Log search setup: the domain's master user (fine-grained access)")
        self.delivery_role = self._function_role("DeliveryRole", "Log search delivery: bulk writes of log events to the domain")

        # ---------------------------------------------------------------- the domain's own logs
        self.domain_logs = {
            kind: encrypted_log_group(
                self, f"{group_id}Logs", encryption_key=self.key.key, retention_days=settings.log_retention_days
            )
            for kind, group_id in DOMAIN_LOGS.items()
        }
        logs.CfnResourcePolicy(
            self,
            "DomainLogsPolicy",
            policy_name=f"{stack.stack_name}-domain-logs",
            policy_document=stack.to_json_string(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "OpenSearchPublishesItsLogs",
                            "Effect": "Allow",
                            "Principal": {"Service": "es.amazonaws.com"},
                            "Action": ["logs:PutLogEvents", "logs:CreateLogStream"],
                            "Resource": [g.log_group_arn for g in self.domain_logs.values()],
                            "Condition": {
                                "StringEquals": {"aws:SourceAccount": stack.account},
                                "ArnLike": {"aws:SourceArn": self.domain_arn},
                            },
                        }
                    ],
                }
            ),
        )

        # ---------------------------------------------------------------- the domain
        principals = [self.setup_role.role_arn, self.delivery_role.role_arn, *settings.reader_role_arns]
        self.domain = opensearch.CfnDomain(
            self,
            "Domain",
            domain_name=name,
            engine_version=settings.engine_version,
            cluster_config=opensearch.CfnDomain.ClusterConfigProperty(
                instance_type=settings.instance_type,
                instance_count=settings.data_nodes,
                dedicated_master_enabled=settings.dedicated_masters > 0,
                dedicated_master_type=settings.master_instance_type if settings.dedicated_masters else None,
                dedicated_master_count=settings.dedicated_masters or None,
                zone_awareness_enabled=True,
                zone_awareness_config=opensearch.CfnDomain.ZoneAwarenessConfigProperty(availability_zone_count=SEARCH_ZONES),
                multi_az_with_standby_enabled=settings.multi_az_with_standby,
            ),
            ebs_options=opensearch.CfnDomain.EBSOptionsProperty(
                ebs_enabled=True, volume_type="gp3", volume_size=settings.volume_gib
            ),
            vpc_options=opensearch.CfnDomain.VPCOptionsProperty(
                subnet_ids=[s.subnet_id for s in subnets], security_group_ids=[self.domain_group.security_group_id]
            ),
            encryption_at_rest_options=opensearch.CfnDomain.EncryptionAtRestOptionsProperty(
                enabled=True, kms_key_id=self.key.key.key_id
            ),
            node_to_node_encryption_options=opensearch.CfnDomain.NodeToNodeEncryptionOptionsProperty(enabled=True),
            domain_endpoint_options=opensearch.CfnDomain.DomainEndpointOptionsProperty(
                enforce_https=True, tls_security_policy=TLS_POLICY
            ),
            advanced_security_options=opensearch.CfnDomain.AdvancedSecurityOptionsInputProperty(
                enabled=True,
                internal_user_database_enabled=False,
                anonymous_auth_enabled=False,
                master_user_options=opensearch.CfnDomain.MasterUserOptionsProperty(master_user_arn=self.setup_role.role_arn),
            ),
            access_policies={
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "NamedRolesOnly",
                        "Effect": "Allow",
                        "Principal": {"AWS": principals},
                        "Action": HTTP_ACTIONS,
                        "Resource": f"{self.domain_arn}/*",
                    }
                ],
            },
            log_publishing_options={
                kind: opensearch.CfnDomain.LogPublishingOptionProperty(
                    enabled=True, cloud_watch_logs_log_group_arn=group.log_group_arn
                )
                for kind, group in self.domain_logs.items()
            },
            software_update_options=opensearch.CfnDomain.SoftwareUpdateOptionsProperty(auto_software_update_enabled=True),
        )
        acknowledge(
            self.domain,
            {
                "AwsSolutions::AwsSolutions-OS3": "The domain is in the VPC only, reachable through its security group "
                "(443 from the delivery and setup functions and the operators' tunnel); OpenSearch Service does not apply "
                "IP conditions to a VPC domain's access policy, which names the IAM roles instead, and fine-grained "
                "access control authorizes each of them."
            },
        )
        # Logs are evidence, and the domain is the one copy of the indices: deleting the stack keeps it.
        self.domain.apply_removal_policy(RemovalPolicy.RETAIN)
        self.domain.node.add_dependency(*self.domain_logs.values())
        self.domain.node.add_dependency(self.node.find_child("DomainLogsPolicy"))
        self.endpoint = self.domain.attr_domain_endpoint

        # ---------------------------------------------------------------- delivery
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key.key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(
            self.dead_letter_queue,
            {"AwsSolutions::AwsSolutions-SQS3": "This queue is itself the dead-letter queue of the delivery function."},
        )
        self.delivery_logs = encrypted_log_group(self, "DeliveryLogs", encryption_key=self.key.key, retention_days=365)
        self.setup_logs = encrypted_log_group(self, "SetupLogs", encryption_key=self.key.key, retention_days=365)
        self._grant_function(
            "DeliveryPolicy",
            self.delivery_role,
            "Log search delivery: bulk writes to the domain, its log group and dead-letter queue",
            http=(["es:ESHttpPost", "es:ESHttpPut"], [f"{self.domain_arn}/{p}" for p in WRITE_PATHS]),
            log_group=self.delivery_logs,
            queue=self.dead_letter_queue,
        )
        self._grant_function(
            "SetupPolicy",
            self.setup_role,
            "Log search setup: the domain's security and ISM APIs, its log group",
            http=(["es:ESHttpGet", "es:ESHttpPut", "es:ESHttpPatch"], [f"{self.domain_arn}/{p}" for p in SETUP_PATHS]),
            log_group=self.setup_logs,
        )
        code = lambda_.Code.from_asset(str(CODE), exclude=["README.md", "__pycache__"])
        common = {
            "runtime": RUNTIME,
            "code": code,
            "vpc": vpc,
            "vpc_subnets": selection,
            "security_groups": [self.client_group],
            "environment_encryption": self.key.key,
            "tracing": lambda_.Tracing.DISABLED,
            "memory_size": 256,
        }
        source_of = {g.log_group_name: source for source, groups in sources.items() for g in groups}
        self.delivery = lambda_.Function(
            self,
            "Delivery",
            description="Indexes the log events of CloudWatch Logs subscriptions into the log search domain",
            handler="log_delivery.handler",
            role=self.delivery_role.without_policy_updates(),
            environment={"SEARCH_ENDPOINT": self.endpoint, "LOG_SOURCES": stack.to_json_string(source_of)},
            log_group=self.delivery_logs,
            dead_letter_queue=self.dead_letter_queue,
            retry_attempts=DELIVERY_RETRIES,
            reserved_concurrent_executions=DELIVERY_CONCURRENCY,
            timeout=Duration.minutes(1),
            **common,  # type: ignore[arg-type]
        )
        self.delivery.node.add_dependency(self.node.find_child("DeliveryPolicy"))
        self.subscriptions = [
            self._subscribe(source, index, log_group)
            for source, groups in sources.items()
            for index, log_group in enumerate(groups)
        ]
        self.alarm: SeverityAlarm = severity_alarm(
            self,
            "DeliveryFailed",
            kind="log-delivery-failed",
            subject="Log search: a batch of log events could not be indexed (it waits in the dead-letter queue)",
            topics=alarm_topics,
            metric=self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=1,
            evaluation_periods=1,
        )

        # ---------------------------------------------------------------- setup
        self.setup = lambda_.Function(
            self,
            "Setup",
            description="Applies the log search domain's role mappings, ISM policy and audit logging (custom resource)",
            handler="log_search_setup.on_event",
            role=self.setup_role.without_policy_updates(),
            log_group=self.setup_logs,
            timeout=Duration.minutes(2),
            **common,  # type: ignore[arg-type]
        )
        self.setup.node.add_dependency(self.node.find_child("SetupPolicy"))
        acknowledge_provider_function(self.setup, "The log search setup function")
        provider = cr.Provider(
            self,
            "SetupProvider",
            on_event_handler=self.setup,
            vpc=vpc,
            vpc_subnets=selection,
            security_groups=[provider_group],
            log_group=self.setup_logs,
            provider_function_env_encryption=self.key.key,
        )
        acknowledge_provider_function(provider.node.find_child("framework-onEvent"), "The CDK Provider framework's function")
        self._acknowledge_framework_role(provider)
        self.configuration = CustomResource(
            self,
            "Configuration",
            service_token=provider.service_token,
            resource_type="Custom::LogSearchSetup",
            properties={
                "Endpoint": self.endpoint,
                "WriterRoleArn": self.delivery_role.role_arn,
                "ReaderRoleArns": list(settings.reader_role_arns),
                "HotDays": settings.lifecycle.hot_days,
                "DeleteAfterDays": settings.lifecycle.delete_after_days,
            },
        )
        self.configuration.node.add_dependency(self.domain)

    def _function_role(self, construct_id: str, description: str) -> iam.Role:
        return service_role(
            self,
            construct_id,
            service="lambda.amazonaws.com",
            description=description,
            aws_managed_policies={VPC_ACCESS_POLICY: VPC_ACCESS_REASON},
        )

    def _grant_function(
        self,
        construct_id: str,
        role: iam.Role,
        description: str,
        *,
        http: tuple[list[str], list[str]],
        log_group: logs.ILogGroup,
        queue: sqs.IQueue | None = None,
    ) -> iam.ManagedPolicy:
        actions, resources = http
        statements = [
            iam.PolicyStatement(sid="DomainRequests", actions=actions, resources=resources),
            iam.PolicyStatement(
                sid="Logs", actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn]
            ),
            iam.PolicyStatement(
                sid="EncryptedEnvironment", actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[self.key.key.key_arn]
            ),
        ]
        if queue is not None:
            statements.append(iam.PolicyStatement(sid="DeadLetters", actions=["sqs:SendMessage"], resources=[queue.queue_arn]))
        return iam.ManagedPolicy(self, construct_id, description=description, roles=[role], statements=statements)

    def _subscribe(self, source: str, index: int, log_group: logs.ILogGroup) -> logs.CfnSubscriptionFilter:
        construct_id = f"{source.title().replace('-', '')}{index}"
        permission = lambda_.CfnPermission(
            self,
            f"{construct_id}Invoke",
            action="lambda:InvokeFunction",
            function_name=self.delivery.function_arn,
            principal=f"logs.{Stack.of(self).region}.amazonaws.com",
            source_arn=log_group.log_group_arn,
            source_account=Stack.of(self).account,
        )
        subscription = logs.CfnSubscriptionFilter(
            self,
            f"{construct_id}Subscription",
            log_group_name=log_group.log_group_name,
            destination_arn=self.delivery.function_arn,
            filter_pattern="",  # every event
            filter_name="log-search",
        )
        subscription.add_dependency(permission)
        return subscription

    def _acknowledge_framework_role(self, provider: cr.Provider) -> None:
        """The Provider framework's own role: the CDK grants it invoke on the one setup function (``:*`` its versions)."""
        function = provider.node.find_child("framework-onEvent")
        role = function.node.find_child("ServiceRole")
        acknowledge(
            role,
            {
                "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaBasicExecutionRole]": "The CDK Provider framework's role: the AWS-maintained policy for its logs.",
                "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaVPCAccessExecutionRole]": VPC_ACCESS_REASON,
            },
        )
        policy = role.node.try_find_child("DefaultPolicy")
        if policy is not None:
            reason = "The CDK Provider framework's own policy: invoke the one setup function; it goes with the provider."
            acknowledge(policy, both_packs("IAMNoInlinePolicy", reason))
            acknowledge(
                policy,
                {
                    f"AwsSolutions::AwsSolutions-IAM5[Resource::<{Stack.of(self).get_logical_id(self.setup.node.default_child)}"  # type: ignore[arg-type]
                    ".Arn>:*]": "The CDK Provider framework invokes the one setup function; ':*' are that "
                    "function's versions, no other function."
                },
            )
