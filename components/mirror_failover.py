"""Keeps each mirror VIP pointing at its mirror's current primary."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from aws_cdk import ArnFormat, CustomResource, Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from aws_cdk import custom_resources as cr
from constructs import Construct

from components.log_queries import RETARGET_DECISIONS, saved_query
from components.log_retention import encrypted_log_group
from components.mirror_member import install_file_commands
from components.mirror_vip import MirrorHealthCheck, MirrorVip
from components.nag import acknowledge, acknowledge_provider_function, both_packs
from components.service_role import service_role
from components.severity import AlarmTopics, SeverityAlarm, severity_alarm

CODE = Path(__file__).resolve().parent.parent / "lambda" / "retarget"
RUNTIME = lambda_.Runtime.PYTHON_3_14
# The status page must answer well inside the function's own timeout.
STATUS_TIMEOUT_SECONDS = 2
RETARGET_TIMEOUT = Duration.seconds(30)
# Each function that writes listeners runs one invocation at a time: a set's own function (so
# two run-time retargets of one set never interleave, and a flood for one set takes no other
# set's capacity), the deploy-time function and the poller. Each is taken from the account's
# regional concurrency, of which Lambda keeps at least 100 unreserved (docs/data-tier.md).
RESERVED_CONCURRENCY = 1
# The poller is started every minute and polls for most of it.
POLL_SCHEDULE = Duration.minutes(1)
POLL_SECONDS = 50
POLLER_TIMEOUT = Duration.seconds(58)
LOG_RETENTION_DAYS = 365
VPC_ACCESS_POLICY = "service-role/AWSLambdaVPCAccessExecutionRole"
VPC_ACCESS_REASON = "The AWS-maintained policy with exactly the network-interface and log permissions Lambda needs in a VPC."


MEMBER_ENV_FILE = "/etc/iris-aws/mirror-vip.env"


def retarget_function_arn(scope: Construct, function_name: str) -> str:
    """The function's ARN from its name, without a reference to the function:
    members need it in their user data, and the function needs the members."""
    return Stack.of(scope).format_arn(
        service="lambda", resource="function", resource_name=function_name, arn_format=ArnFormat.COLON_RESOURCE_NAME
    )


def member_hook_commands(*, mirror_set: str, member: str, function_arn: str, region: str) -> list[str]:
    """User-data commands that tell ^ZMIRROR's helper (iris/notify_primary.sh) which function to invoke.

    ^ZMIRROR and the helper themselves reach the host with its other files
    (components/iris_host.py).
    """
    env = f"MIRROR_SET={mirror_set}\nMEMBER={member}\nRETARGET_FUNCTION={function_arn}\nAWS_REGION={region}\n"
    return install_file_commands(MEMBER_ENV_FILE, env, "0644")


@dataclass(frozen=True)
class FailoverMember:
    """One member as the retarget function sees it."""

    name: str
    instance: ec2.Instance
    role: str  # "failover" or "async" (a DR member: promoting it needs a person's consent)


@dataclass(frozen=True)
class FailoverTarget:
    """A mirror set's VIP, its members, and the member it should point at.

    ``desired_primary`` None: no deployment ever points the VIP anywhere (a DR
    region's VIP, whose only member the template already targets).
    """

    name: str
    vip: MirrorVip
    members: Sequence[FailoverMember]
    desired_primary: str | None


def _configuration_module() -> ModuleType:
    """lambda/retarget/retarget_config.py: the one writer of what the function reads."""
    loaded = sys.modules.get("retarget_config")
    if loaded is not None:
        return loaded
    spec = importlib.util.spec_from_file_location("retarget_config", CODE / "retarget_config.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["retarget_config"] = module
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class FailoverLink:
    """What a mirror set's stack needs to hand its VIP to the shared functions, and to build its own."""

    role: iam.IRole
    parameter_path: str
    # The custom resource provider's service token; None where no deployment points a VIP (the DR region).
    service_token: str | None
    # For a set's own retarget function (SetRetargetFunction): the health check it asks, and where failed calls go.
    health_check_document: Mapping[str, Any]
    dead_letter_queue: sqs.IQueue


class MirrorFailover(Construct):
    """The region's shared retarget function, its custom resource provider, and (polling method) its poller.

    Guarantees: the function (reserved concurrency 1) switches each VIP's
    listeners between pre-registered member target groups; it runs in the VPC
    behind ``security_group``; failed async invocations land in an encrypted
    dead-letter queue and any error raises an alarm. It knows the mirror sets
    registered with :class:`FailoverRegistration` under ``parameter_path``,
    each by its own stack, and may switch only their listeners. With
    ``provider`` it is the deploy-time function: the Provider framework's role
    alone may invoke it, and it serves Custom::IrisMirrorPrimary events only
    (``entry.deploy``), so that the one retarget that skips the status check
    (a Create) cannot be asked for by anyone else; run-time calls go to each
    set's :class:`SetRetargetFunction`. Without ``provider`` (the DR region) it
    serves direct calls (``entry.handler``), which never skip the check. With
    ``poll`` a scheduled poller follows the mirror status pages (the polling method).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function_name: str,
        vpc: ec2.IVpc,
        subnets: Sequence[ec2.ISubnet],
        security_group: ec2.ISecurityGroup,
        parameter_path: str,
        health_check: MirrorHealthCheck,
        provider: bool,
        poll: bool,
        encryption_key: kms.IKey,
        alarm_topics: AlarmTopics,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.function_arn = retarget_function_arn(self, function_name)
        self.parameter_path = parameter_path
        configuration = _configuration_module()
        health = configuration.HealthCheck(
            port=health_check.port,
            path=health_check.path,
            timeout_seconds=STATUS_TIMEOUT_SECONDS,
            interval_seconds=health_check.interval_seconds,
            healthy_threshold=health_check.healthy_threshold,
            unhealthy_threshold=health_check.unhealthy_threshold,
        )
        environment = {
            configuration.PARAMETERS_VARIABLE: parameter_path,
            configuration.HEALTH_CHECK_VARIABLE: stack.to_json_string(health.to_document()),
        }
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=encryption_key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(
            self.dead_letter_queue,
            {
                "AwsSolutions::AwsSolutions-SQS3": "This queue is itself the dead-letter queue of the retarget functions; "
                "a queue behind it would never be read."
            },
        )
        self.log_group = encrypted_log_group(self, "Logs", encryption_key=encryption_key, retention_days=LOG_RETENTION_DAYS)
        saved_query(self, "Decisions", name="retarget-decisions", query=RETARGET_DECISIONS, log_groups=[self.log_group])
        self.role = self._role(encryption_key)
        self.health_check_document = health.to_document()
        common = {
            "runtime": RUNTIME,
            "code": lambda_.Code.from_asset(str(CODE), exclude=["README.md", "__pycache__"]),
            "role": self.role.without_policy_updates(),
            "vpc": vpc,
            "vpc_subnets": ec2.SubnetSelection(subnets=list(subnets)),
            "security_groups": [security_group],
            "environment": environment,
            "environment_encryption": encryption_key,
            "log_group": self.log_group,
            "dead_letter_queue": self.dead_letter_queue,
            "reserved_concurrent_executions": RESERVED_CONCURRENCY,
            "retry_attempts": 0,  # a retarget is decided anew, never replayed later
            "tracing": lambda_.Tracing.DISABLED,
        }
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name,
            description="Points a mirror VIP at its primary at deploy time (custom resource only)"
            if provider
            else "Points a DR mirror VIP at the promoted member (operators)",
            handler="entry.deploy" if provider else "entry.handler",
            timeout=RETARGET_TIMEOUT,
            memory_size=256,
            **common,  # type: ignore[arg-type]
        )
        self._alarm_on_errors("Function", self.function, alarm_topics)

        # The custom resources reach the same function and code path.
        self.provider: cr.Provider | None = None
        if provider:
            self.provider = self._provider(vpc, subnets, security_group, encryption_key)
        self.link = FailoverLink(
            role=self.role,
            parameter_path=parameter_path,
            service_token=self.provider.service_token if self.provider else None,
            health_check_document=self.health_check_document,
            dead_letter_queue=self.dead_letter_queue,
        )

        self.poller: lambda_.Function | None = None
        if poll:
            self.poller = lambda_.Function(
                self,
                "Poller",
                description="Polling method: follows the mirror status pages and retargets the VIPs",
                handler="poller.handler",
                timeout=POLLER_TIMEOUT,
                memory_size=256,
                **common,  # type: ignore[arg-type]
            )
            events.Rule(
                self,
                "PollSchedule",
                schedule=events.Schedule.rate(POLL_SCHEDULE),
                targets=[
                    events_targets.LambdaFunction(
                        self.poller,
                        event=events.RuleTargetInput.from_object({"duration_seconds": POLL_SECONDS}),
                        dead_letter_queue=self.dead_letter_queue,
                        retry_attempts=0,
                    )
                ],
            )
            self._alarm_on_errors("Poller", self.poller, alarm_topics)

    def _provider(
        self,
        vpc: ec2.IVpc,
        subnets: Sequence[ec2.ISubnet],
        security_group: ec2.ISecurityGroup,
        encryption_key: kms.IKey,
    ) -> cr.Provider:
        """The Provider framework behind every Custom::IrisMirrorPrimary."""
        provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.function,
            framework_on_event_role=self._framework_role(),
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnets=list(subnets)),
            security_groups=[security_group],
            log_group=self.log_group,
            provider_function_env_encryption=encryption_key,
        )
        acknowledge_provider_function(provider.node.find_child("framework-onEvent"), "The CDK Provider framework's function")
        return provider

    def _role(self, key: kms.IKey) -> iam.Role:
        """Customer-managed policies only: no inline policy, nothing broader than needed."""
        role = service_role(
            self,
            "Role",
            service="lambda.amazonaws.com",
            description="Mirror failover: switch the VIP listeners of the mirror sets registered with it",
            aws_managed_policies={VPC_ACCESS_POLICY: VPC_ACCESS_REASON},
        )
        policy = iam.ManagedPolicy(
            self,
            "Policy",
            description="Read the mirror sets' configuration and the load balancers; report to its own log group and queue",
            statements=[
                iam.PolicyStatement(
                    sid="ReadConfiguration",
                    actions=["ssm:GetParametersByPath"],
                    # Authorized against the path asked for, not the parameters returned.
                    resources=[
                        Stack.of(self).format_arn(service="ssm", resource="parameter", resource_name=self.parameter_path[1:])
                    ],
                ),
                iam.PolicyStatement(
                    sid="ReadLoadBalancers",
                    actions=["elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeTargetHealth"],
                    resources=["*"],
                ),
                iam.PolicyStatement(
                    sid="Logs", actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[self.log_group.log_group_arn]
                ),
                iam.PolicyStatement(sid="DeadLetters", actions=["sqs:SendMessage"], resources=[self.dead_letter_queue.queue_arn]),
                iam.PolicyStatement(
                    sid="EncryptedEnvironmentAndQueue", actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[key.key_arn]
                ),
            ],
        )
        acknowledge(
            policy,
            {
                "AwsSolutions::AwsSolutions-IAM5[Resource::*]": "elasticloadbalancing:DescribeListeners and "
                "DescribeTargetHealth support no resource-level permissions; they are read-only. The write, "
                "ModifyListener, is granted per mirror set on that set's VIP listeners only (FailoverRegistration)."
            },
        )
        role.add_managed_policy(policy)
        return role

    def _framework_role(self) -> iam.IRole:
        """The Provider framework's role: run in the VPC and invoke the function, nothing else."""
        role = service_role(
            self,
            "ProviderRole",
            service="lambda.amazonaws.com",
            description="Mirror failover custom resource: invoke the retarget function from the VPC",
            aws_managed_policies={VPC_ACCESS_POLICY: VPC_ACCESS_REASON},
        )
        role.add_managed_policy(
            iam.ManagedPolicy(
                self,
                "ProviderPolicy",
                description="Mirror failover custom resource: invoke the retarget function",
                statements=[iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.function_arn])],
            )
        )
        # The grants the framework would add inline are covered by the policy above.
        return role.without_policy_updates()

    def _alarm_on_errors(self, name: str, function: lambda_.Function, topics: AlarmTopics) -> None:
        alarm_on_errors(self, name, function, topics)


def alarm_on_errors(scope: Construct, name: str, function: lambda_.Function, topics: AlarmTopics) -> SeverityAlarm:
    """A retarget-failed alarm (P1) at the first error of ``function`` in a minute."""
    return severity_alarm(
        scope,
        f"{name}Errors",
        kind="retarget-failed",
        subject=f"Mirror failover {name.lower()} failed: a VIP may point at a member that is not primary",
        topics=topics,
        metric=function.metric_errors(period=Duration.minutes(1), statistic="Sum"),
        threshold=1,
        evaluation_periods=1,
    )


class FailoverRegistration(Construct):
    """One mirror set's VIP, handed to a retarget function in another stack.

    In the set's own stack: the set's part of the function's configuration
    (an SSM parameter under the function's path, written by the function's own
    writer), a policy on the function's role that lets it switch this VIP's
    listeners and nothing else, and, when ``target.desired_primary`` is set, a
    Custom::IrisMirrorPrimary that points the VIP at it on create and on a
    change of the desired primary only, so a deploy never moves traffic
    otherwise. Deleting the set's stack takes all three away: the function
    forgets the set.
    """

    def __init__(self, scope: Construct, construct_id: str, *, link: FailoverLink, target: FailoverTarget) -> None:
        super().__init__(scope, construct_id)
        configuration = _configuration_module()
        listeners = dict(target.vip.listeners)
        ports = sorted(listeners)
        mirror_set = configuration.MirrorSet(
            name=target.name,
            listeners=tuple(listeners[port].listener_arn for port in ports),
            members={
                member.name: configuration.Member(
                    name=member.name,
                    instance_id=member.instance.instance_id,
                    private_ip=member.instance.instance_private_ip,
                    role=member.role,
                    target_groups={
                        listeners[port].listener_arn: target.vip.target_groups[port][index].target_group_arn for port in ports
                    },
                )
                for index, member in enumerate(target.members)
            },
        )
        self.mirror_set = target.name
        self.listener_arns = [listeners[port].listener_arn for port in ports]
        self.parameter = ssm.StringParameter(
            self,
            "Configuration",
            parameter_name=f"{link.parameter_path}/{target.name}",
            string_value=Stack.of(self).to_json_string(mirror_set.to_document()),
            description=f"Mirror failover: {target.name}'s VIP listeners and members, read by the retarget function",
        )
        # Inline: a role holds at most 10 managed policies (20 with a raised quota), and
        # the function's role gets one of these per mirror set.
        self.policy = iam.Policy(
            self,
            "SwitchPolicy",
            roles=[link.role],
            statements=[
                iam.PolicyStatement(
                    sid="SwitchListeners",
                    actions=["elasticloadbalancing:ModifyListener"],
                    resources=[listeners[port].listener_arn for port in ports],
                )
            ],
        )
        acknowledge(
            self.policy,
            both_packs(
                "IAMNoInlinePolicy",
                f"{target.name}'s own grant on the shared retarget function's role: ModifyListener on this set's VIP "
                "listeners only, created and deleted with the set's stack. One managed policy per mirror set would pass "
                "IAM's limit of 10 managed policies per role at the ninth set.",
            ),
        )
        self.primary: CustomResource | None = None
        if target.desired_primary is not None:
            if link.service_token is None:
                raise ValueError(f"{target.name}: a desired primary needs a retarget function with a provider")
            self.primary = CustomResource(
                self,
                "Primary",
                service_token=link.service_token,
                resource_type="Custom::IrisMirrorPrimary",
                properties={"MirrorSet": target.name, "DesiredPrimary": target.desired_primary},
            )
            self.primary.node.add_dependency(self.parameter, self.policy, *listeners.values())


class SetRetargetFunction(Construct):
    """One mirror set's own retarget function: the run-time entry of ^ZMIRROR and the operators for that set.

    Guarantees: it serves ``registration``'s set only (``RETARGET_MIRROR_SET``:
    it reads that set's SSM parameter alone and refuses a call for any other
    set), never skips the status check, and may switch that set's listeners
    and nothing else (its own role). Its reserved concurrency of 1 keeps two
    retargets of the set from interleaving, and is its own: a flood of calls
    for this set takes no capacity from another set's function. The set's
    ``member_role`` may invoke this function and no other; nothing else the
    project creates may. Name and ARN are known before it exists
    (``function_name``), since the members' user data names it.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function_name: str,
        registration: FailoverRegistration,
        link: FailoverLink,
        vpc: ec2.IVpc,
        subnets: Sequence[ec2.ISubnet],
        security_group: ec2.ISecurityGroup,
        encryption_key: kms.IKey,
        alarm_topics: AlarmTopics,
        member_role: iam.IRole,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        configuration = _configuration_module()
        name = registration.mirror_set
        self.function_arn = retarget_function_arn(self, function_name)
        self.log_group = encrypted_log_group(self, "Logs", encryption_key=encryption_key, retention_days=LOG_RETENTION_DAYS)
        saved_query(self, "Decisions", name="retarget-decisions", query=RETARGET_DECISIONS, log_groups=[self.log_group])
        self.role = service_role(
            self,
            "Role",
            service="lambda.amazonaws.com",
            description=f"Mirror failover of {name}: switch this mirror set's VIP listeners",
            aws_managed_policies={VPC_ACCESS_POLICY: VPC_ACCESS_REASON},
        )
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            description=f"Mirror failover of {name}: its configuration, its listeners, its log group and queue",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    sid="ReadConfiguration",
                    actions=["ssm:GetParameter"],
                    resources=[registration.parameter.parameter_arn],
                ),
                iam.PolicyStatement(
                    sid="ReadLoadBalancers",
                    actions=["elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeTargetHealth"],
                    resources=["*"],
                ),
                iam.PolicyStatement(
                    sid="SwitchListeners", actions=["elasticloadbalancing:ModifyListener"], resources=registration.listener_arns
                ),
                iam.PolicyStatement(
                    sid="Logs", actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[self.log_group.log_group_arn]
                ),
                iam.PolicyStatement(sid="DeadLetters", actions=["sqs:SendMessage"], resources=[link.dead_letter_queue.queue_arn]),
                iam.PolicyStatement(
                    sid="EncryptedEnvironmentAndQueue",
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=[encryption_key.key_arn],
                ),
            ],
        )
        acknowledge(
            self.policy,
            {
                "AwsSolutions::AwsSolutions-IAM5[Resource::*]": "elasticloadbalancing:DescribeListeners and "
                "DescribeTargetHealth support no resource-level permissions; they are read-only. The write, "
                f"ModifyListener, names {name}'s VIP listeners only."
            },
        )
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name,
            description=f"Points {name}'s mirror VIP at its new IRIS primary (^ZMIRROR, operators), status page checked",
            runtime=RUNTIME,
            code=lambda_.Code.from_asset(str(CODE), exclude=["README.md", "__pycache__"]),
            handler="entry.handler",
            role=self.role.without_policy_updates(),
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnets=list(subnets)),
            security_groups=[security_group],
            environment={
                configuration.PARAMETERS_VARIABLE: link.parameter_path,
                configuration.HEALTH_CHECK_VARIABLE: stack.to_json_string(dict(link.health_check_document)),
                configuration.MIRROR_SET_VARIABLE: name,
            },
            environment_encryption=encryption_key,
            log_group=self.log_group,
            dead_letter_queue=link.dead_letter_queue,
            reserved_concurrent_executions=RESERVED_CONCURRENCY,
            retry_attempts=0,  # a retarget is decided anew, never replayed later
            tracing=lambda_.Tracing.DISABLED,
            timeout=RETARGET_TIMEOUT,
            memory_size=256,
        )
        self.function.node.add_dependency(self.policy)
        # The set's P1 alarm: its experiments stop on it (components/fault_injection.py).
        self.errors_alarm = alarm_on_errors(self, "Function", self.function, alarm_topics)
        # The one Lambda function the set's members may invoke (NotifyBecomePrimary^ZMIRROR's helper).
        self.invoke_policy = iam.ManagedPolicy(
            self,
            "InvokePolicy",
            description=f"{name}'s members: NotifyBecomePrimary^ZMIRROR invokes {name}'s own retarget function",
            roles=[member_role],
            statements=[
                iam.PolicyStatement(sid="InvokeOwnSetRetarget", actions=["lambda:InvokeFunction"], resources=[self.function_arn])
            ],
        )
