"""The public entrance: an ALB with TLS, WAF and access logs in front of web
servers running Apache and the InterSystems Web Gateway.

Built from explicit arguments only, so that the DR region can build a reduced
web tier from the same construct.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from components.bucket_replication import ReplicaTarget, replicate
from components.host_certificate import (
    WEB_SERVER_KEY_GROUP,
    CertificateAuthority,
    certificate_commands,
    certificate_policy,
    script_asset,
)
from components.iris_credentials import read_secret_at_boot
from components.links import NetworkRefs
from components.log_retention import encrypted_log_group
from components.nag import acknowledge, both_packs
from components.server_fleet import FleetSpec, ServerFleet, fleet_spec
from components.service_role import service_role
from components.severity import AlarmTopics, severity_alarm
from components.web_gateway import HEALTH_PATH, WebGatewayConfig, web_gateway_commands
from components.web_logs import WebServerLogs
from config.app import AppAlarmSettings, AppTierSettings, FleetSettings
from config.constants import HTTP_PORT, HTTPS_PORT, IRIS_SUPERSERVER_PORT, SYSTEM_PATHS, WAF_RATE_WINDOW_SECONDS

# TLS 1.3 and 1.2 with forward secrecy, hybrid post-quantum key exchange.
TLS_POLICY = elbv2.SslPolicy.TLS13_12_RES_PQ
# Access logs overwritten or deleted stay recoverable this long.
NONCURRENT_LOG_DAYS = 30
# The AWS managed rule groups of the web ACL, in the order they run after the rate limit.
MANAGED_RULE_GROUPS = ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet")
# Request headers that may carry credentials or session ids are kept out of the WAF logs.
REDACTED_HEADERS = ("authorization", "cookie")
# What the HTTPS listener answers for any path that is not an application path.
NOT_FOUND = (404, "text/plain", "Not Found")
# The WAF compares the path as IRIS and Apache will read it: percent-decoded, with ./ and ../
# resolved and repeated slashes merged, in lower case (IRIS ignores case in web application names).
PATH_TRANSFORMATIONS = ("URL_DECODE", "NORMALIZE_PATH", "LOWERCASE")
HEALTH_CHECK_INTERVAL = Duration.seconds(15)
HEALTH_CHECK_TIMEOUT = Duration.seconds(5)


class WebTier(Construct):
    """Internet-facing ALB, WAF and web servers with the Web Gateway.

    Guarantees: clients get HTTPS only (port 80 answers with a permanent
    redirect) under a modern TLS policy and the given ACM certificate; invalid
    header fields are dropped; a session sticks to one web server by the
    ALB's cookie for ``sticky_duration``; the HTTPS listener forwards only the
    application paths (each with everything under it) and answers 404 to any
    other; a WAFv2 web ACL blocks IRIS's system paths (``SYSTEM_PATHS``) in
    any case or encoding, then applies a per-address rate limit and the AWS
    common and known-bad-inputs rules, and logs to an encrypted log group,
    credentials redacted; access logs go to a versioned, TLS-only S3 bucket
    that blocks public access and expires them. The ALB speaks HTTPS to the
    web servers too and checks each on its own health page; the group
    replaces a server that fails it. The web servers (a ServerFleet) scale on
    CPU and on requests per server; alarms on the 5xx rate, response time and
    unhealthy servers go to their severity's topic.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        network: NetworkRefs,
        settings: AppTierSettings,
        certificate_arn: str,
        fleet: FleetSpec,
        region: str,
        encryption_key: kms.IKey,
        service_linked_role: iam.CfnServiceLinkedRole,
        service_linked_role_arn: str,
        gateway: WebGatewayConfig,
        ca: CertificateAuthority,
        alarm_topics: AlarmTopics,
        access_log_replica: ReplicaTarget | None = None,
    ) -> None:
        """The ALB in ``network``'s public subnets, the servers in its web subnets, each tier's group;
        stickiness, application paths, WAF rate limit, log retention, deletion protection, scaling
        and alarm thresholds from ``settings``; with ``access_log_replica``, the access logs replicate there."""
        super().__init__(scope, construct_id)
        vpc, sg = network.vpc, network.security_groups
        log_retention_days, deletion_protection = settings.log_retention_days, settings.deletion_protection
        self.access_log_bucket = self._access_log_bucket(log_retention_days, access_log_replica)

        self.load_balancer = elbv2.ApplicationLoadBalancer(
            self,
            "Alb",
            vpc=vpc,
            internet_facing=True,
            vpc_subnets=ec2.SubnetSelection(subnets=network.tier("public")),
            security_group=sg.public_alb,
            drop_invalid_header_fields=True,
            deletion_protection=deletion_protection,
            http2_enabled=True,
        )
        self.load_balancer.log_access_logs(self.access_log_bucket, "alb")
        if not deletion_protection:
            acknowledge(
                self.load_balancer,
                both_packs(
                    "ELBDeletionProtectionEnabled",
                    "Deletion protection follows app.deletion_protection, which is off only in profiles "
                    "built to be torn down (dev); the reference profile turns it on.",
                ),
            )

        self.target_group = elbv2.ApplicationTargetGroup(
            self,
            "WebServers",
            vpc=vpc,
            port=HTTPS_PORT,
            protocol=elbv2.ApplicationProtocol.HTTPS,
            target_type=elbv2.TargetType.INSTANCE,
            stickiness_cookie_duration=Duration.seconds(settings.sticky_duration_seconds),
            # The web server's own page (components/web_gateway.py): Apache serves, with the
            # gateway configured. It does not depend on the mirror, so a failover fails no server.
            health_check=elbv2.HealthCheck(
                protocol=elbv2.Protocol.HTTPS,
                path=HEALTH_PATH,
                healthy_http_codes="200",
                interval=HEALTH_CHECK_INTERVAL,
                timeout=HEALTH_CHECK_TIMEOUT,
                healthy_threshold_count=2,
                unhealthy_threshold_count=3,
            ),
        )
        # The security groups' rules come from the network's port matrix, so
        # the listeners open nothing themselves.
        self.https_listener = self.load_balancer.add_listener(
            "Https",
            port=HTTPS_PORT,
            protocol=elbv2.ApplicationProtocol.HTTPS,
            certificates=[elbv2.ListenerCertificate.from_arn(certificate_arn)],
            ssl_policy=TLS_POLICY,
            default_action=elbv2.ListenerAction.fixed_response(
                NOT_FOUND[0], content_type=NOT_FOUND[1], message_body=NOT_FOUND[2]
            ),
            open=False,
        )
        # One rule per application path, in the settings' order: the path itself and everything
        # under it. Nothing else reaches a web server (no /csp/sys, no mirror status page).
        for i, path in enumerate(settings.application_paths):
            self.https_listener.add_target_groups(
                f"Application{i}",
                priority=i + 1,
                conditions=[elbv2.ListenerCondition.path_patterns([path, f"{path}/*"])],
                target_groups=[self.target_group],
            )
        self.http_listener = self.load_balancer.add_listener(
            "HttpRedirect",
            port=HTTP_PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            default_action=elbv2.ListenerAction.redirect(protocol="HTTPS", port=str(HTTPS_PORT), permanent=True),
            open=False,
        )
        acknowledge(
            self.http_listener,
            both_packs(
                "ELBv2ACMCertificateRequired",
                "Port 80 serves nothing: its only action is a permanent redirect to the HTTPS listener, "
                "which uses the ACM certificate from settings.",
            ),
        )

        self.web_acl = self._web_acl(settings.waf_rate_limit, log_retention_days, encryption_key)

        self.role = service_role(
            self,
            "Role",
            service="ec2.amazonaws.com",
            description="Web servers: SSM Session Manager, the CloudWatch agent, the Web Gateway's password, a TLS certificate",
            aws_managed_policies={
                "AmazonSSMManagedInstanceCore": "The AWS-maintained minimum for SSM Session Manager (no SSH, no key pairs); "
                "the web servers' role holds nothing else but reading the Web Gateway's password, finding the ECP "
                "application servers and getting the host's certificate from the deployment's CA.",
                "CloudWatchAgentServerPolicy": "The AWS-maintained minimum for the CloudWatch agent's metrics and logs; "
                "the web servers' role holds nothing else but reading the Web Gateway's password, finding the ECP "
                "application servers and getting the host's certificate from the deployment's CA.",
            },
        )
        self.role.add_managed_policy(
            iam.ManagedPolicy(
                self,
                "ReadGatewayPassword",
                description="Web servers: read the Web Gateway's password at boot",
                # The password is the data tier's, under its key, where the data tier made it.
                statements=read_secret_at_boot(gateway.credentials_secret, encryption_key, region),
            )
        )
        if gateway.app_server_group is not None:
            find_servers = iam.ManagedPolicy(
                self,
                "FindApplicationServers",
                description="Web servers: list the ECP application servers' private addresses",
                statements=[iam.PolicyStatement(actions=["ec2:DescribeInstances"], resources=["*"])],
            )
            acknowledge(
                find_servers,
                {
                    "AwsSolutions::AwsSolutions-IAM5[Resource::*]": "ec2:DescribeInstances accepts no resource ARN "
                    "(Service Authorization Reference); the web servers read the running ECP application servers' "
                    "private addresses with it, to serve from them. It changes nothing.",
                },
            )
            self.role.add_managed_policy(find_servers)
        certificate_script = script_asset(self, "CertificateScript")
        self.role.add_managed_policy(
            certificate_policy(self, "HostCertificatePolicy", ca=ca, hosts="Web servers", script=certificate_script)
        )
        # Apache's logs in CloudWatch Logs, and the saved web-5xx query.
        self.server_logs = WebServerLogs(self, "ServerLogs", encryption_key=encryption_key, retention_days=log_retention_days)
        self.fleet = ServerFleet(
            self,
            "Servers",
            vpc=vpc,
            subnets=network.tier("web"),
            security_group=sg.web,
            spec=fleet,
            region=region,
            role=self.role,
            encryption_key=encryption_key,
            service_linked_role=service_linked_role,
            service_linked_role_arn=service_linked_role_arn,
            # The host's certificate first: the setup script gets it before Apache starts.
            user_data_commands=[
                *certificate_commands(ca, names=[], key_group=WEB_SERVER_KEY_GROUP, script=certificate_script, region=region),
                *self.server_logs.agent_commands(),
                *web_gateway_commands(gateway, region=region),
            ],
            alarm_topics=alarm_topics,
            alarm_kind="web-capacity",
            description="Web servers (Apache and the Web Gateway)",
        )
        self.target_group.add_target(self.fleet.group)
        # The health page tests the web server alone, so the group may replace a server that fails it.
        group = self.fleet.group.node.default_child
        assert isinstance(group, autoscaling.CfnAutoScalingGroup)
        group.health_check_type = "ELB"
        warmup = Duration.seconds(fleet.warmup_seconds)
        self.fleet.group.scale_on_cpu_utilization(
            "CpuScaling", target_utilization_percent=settings.scaling.cpu_target_percent, estimated_instance_warmup=warmup
        )
        self.fleet.group.scale_on_request_count(
            "RequestScaling",
            target_requests_per_minute=settings.scaling.requests_per_target_per_minute,
            estimated_instance_warmup=warmup,
        )
        self.alarms = self._alarms(settings.alarms, alarm_topics)

    # ------------------------------------------------------------------

    def _access_log_bucket(self, days: int, replica: ReplicaTarget | None) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "AccessLogs",
            # ELB log delivery writes only to buckets with S3-managed keys.
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireAccessLogs",
                    expiration=Duration.days(days),
                    noncurrent_version_expiration=Duration.days(NONCURRENT_LOG_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        unlogged = (
            "This bucket holds the ALB's access logs; logging access to it would need a further log bucket, itself "
            "unlogged. Every object read and write in it is an S3 data event of the deployment's trail (the Audit "
            "stack names this bucket); where an organization trail replaces it (audit.trail false), that trail must "
            "select them."
        )
        reasons = {
            "AwsSolutions::AwsSolutions-S1": unlogged,
            **both_packs("S3BucketLoggingEnabled", unlogged),
            **both_packs(
                "S3DefaultEncryptionKMS",
                "ELB access-log delivery supports only S3-managed keys (SSE-S3); a bucket encrypted with KMS would "
                "receive no logs.",
            ),
        }
        if replica is None:
            reasons |= both_packs(
                "S3BucketReplicationEnabled",
                "Access logs are expired after the retention in settings and are not a recovery source; the bucket "
                "is versioned against loss within the region.",
            )
        else:
            replicate(bucket, target=replica, source_key=None)
        acknowledge(bucket, reasons)
        return bucket

    def _web_acl(self, rate_limit: int, log_retention_days: int, key: kms.IKey) -> wafv2.CfnWebACL:
        metric_prefix = f"{Stack.of(self).stack_name}-{self.node.id}"

        def visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
            return wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True, metric_name=f"{metric_prefix}-{name}", sampled_requests_enabled=True
            )

        rules = [
            wafv2.CfnWebACL.RuleProperty(
                name="BlockSystemPaths",
                priority=0,
                action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    or_statement=wafv2.CfnWebACL.OrStatementProperty(
                        statements=[_path_starts_with(path) for path in SYSTEM_PATHS]
                    )
                ),
                visibility_config=visibility("BlockSystemPaths"),
            ),
            wafv2.CfnWebACL.RuleProperty(
                name="RateLimitPerClient",
                priority=1,
                action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        limit=rate_limit, aggregate_key_type="IP", evaluation_window_sec=WAF_RATE_WINDOW_SECONDS
                    )
                ),
                visibility_config=visibility("RateLimitPerClient"),
            ),
            *(
                wafv2.CfnWebACL.RuleProperty(
                    name=group,
                    priority=i + 2,
                    override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                            vendor_name="AWS", name=group
                        )
                    ),
                    visibility_config=visibility(group),
                )
                for i, group in enumerate(MANAGED_RULE_GROUPS)
            ),
        ]
        web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            rules=rules,
            visibility_config=visibility("WebAcl"),
            description="Public ALB: IRIS system paths blocked, rate limit per client address, AWS common and "
            "known-bad-inputs rules",
        )
        wafv2.CfnWebACLAssociation(
            self, "WebAclAssociation", resource_arn=self.load_balancer.load_balancer_arn, web_acl_arn=web_acl.attr_arn
        )
        # WAF delivers only to log groups whose name starts with aws-waf-logs-.
        self.waf_log_group = encrypted_log_group(
            self, "WafLogs", encryption_key=key, retention_days=log_retention_days, log_group_name=f"aws-waf-logs-{metric_prefix}"
        )
        log_group_arn = Stack.of(self).format_arn(
            service="logs",
            resource="log-group",
            resource_name=self.waf_log_group.log_group_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        wafv2.CfnLoggingConfiguration(
            self,
            "WafLogging",
            resource_arn=web_acl.attr_arn,
            log_destination_configs=[log_group_arn],
            redacted_fields=[
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": name}) for name in REDACTED_HEADERS
            ],
        )
        return web_acl

    def _alarms(self, t: AppAlarmSettings, topics: AlarmTopics) -> list[cw.Alarm]:
        period = Duration.minutes(5)
        m = self.load_balancer.metrics
        error_rate = cw.MathExpression(
            expression="IF(requests > 0, 100 * (FILL(elb5xx, 0) + FILL(target5xx, 0)) / requests, 0)",
            using_metrics={
                "requests": m.request_count(period=period, statistic="Sum"),
                "elb5xx": m.http_code_elb(elbv2.HttpCodeElb.ELB_5XX_COUNT, period=period, statistic="Sum"),
                "target5xx": m.http_code_target(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=period, statistic="Sum"),
            },
            period=period,
            label="5xx responses (% of requests)",
        )
        specs: list[tuple[str, str, cw.IMetric, float, int, str]] = [
            (
                "Http5xxRate",
                "web-5xx",
                error_rate,
                t.http_5xx_percent,
                2,
                f"At least {t.http_5xx_percent} % of requests answered 5xx for 10 minutes",
            ),
            (
                "ResponseTime",
                "web-latency",
                self.target_group.metrics.target_response_time(period=period, statistic="p95"),
                t.response_time_ms / 1000,
                3,
                f"95th percentile response time at {t.response_time_ms} ms or more for 15 minutes",
            ),
            (
                "UnhealthyHosts",
                "web-unhealthy-host",
                self.target_group.metrics.unhealthy_host_count(period=Duration.minutes(1), statistic="Maximum"),
                1,
                5,
                "A web server has failed its health check for 5 minutes",
            ),
        ]
        alarms: list[cw.Alarm] = []
        for alarm_id, kind, metric, threshold, periods, description in specs:
            alarms.append(
                severity_alarm(
                    self,
                    alarm_id,
                    kind=kind,
                    subject=f"Public web tier: {description}",
                    topics=topics,
                    metric=metric,
                    threshold=threshold,
                    evaluation_periods=periods,
                )
            )
        return alarms


def _path_starts_with(path: str) -> wafv2.CfnWebACL.StatementProperty:
    """A request whose path, decoded, normalized and in lower case, starts with ``path``."""
    return wafv2.CfnWebACL.StatementProperty(
        byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
            field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}),
            positional_constraint="STARTS_WITH",
            search_string=path,
            text_transformations=[
                wafv2.CfnWebACL.TextTransformationProperty(priority=i, type=kind) for i, kind in enumerate(PATH_TRANSFORMATIONS)
            ],
        )
    )


def build_web_tier(
    stack: Stack,
    *,
    network: NetworkRefs,
    settings: AppTierSettings,
    members: Sequence[str],
    certificate_arn: str,
    capacity: tuple[int, int],
    key: kms.IKey,
    auto_scaling: tuple[iam.CfnServiceLinkedRole, str],
    password: secretsmanager.ISecret,
    ca: CertificateAuthority,
    alarm_topics: AlarmTopics,
    app_server_group: str | None = None,
    access_log_replica: ReplicaTarget | None = None,
) -> WebTier:
    """The app tier's WebTier in ``stack``'s region, from its settings: the primary region's full
    one, serving from the ECP application servers of ``app_server_group``, or
    the DR region's reduced one (its own certificate, fewer servers, the DR
    member as the Web Gateway's server)."""
    min_capacity, max_capacity = capacity
    return WebTier(
        stack,
        "Web",
        network=network,
        settings=settings,
        certificate_arn=certificate_arn,
        fleet=fleet_spec(
            FleetSettings(settings.web.instance_type, min_capacity, max_capacity), settings.web_ami_ids[stack.region], settings
        ),
        region=stack.region,
        encryption_key=key,
        service_linked_role=auto_scaling[0],
        service_linked_role_arn=auto_scaling[1],
        gateway=WebGatewayConfig(
            mirror_name=settings.mirror_set,
            members=list(members),
            superserver_port=IRIS_SUPERSERVER_PORT,
            application_paths=settings.application_paths,
            credentials_secret=password,
            app_server_group=app_server_group,
        ),
        ca=ca,
        alarm_topics=alarm_topics,
        access_log_replica=access_log_replica,
    )
