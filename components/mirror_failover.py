"""Keeps each mirror VIP pointing at its mirror's current primary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Acknowledgment, ArnFormat, CustomResource, Duration, Stack, Validations
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import custom_resources as cr
from constructs import Construct

from components.log_retention import encrypted_log_group
from components.mirror_member import install_file_commands
from components.mirror_vip import MirrorHealthCheck, MirrorVip
from components.service_role import service_role

CODE = Path(__file__).resolve().parent.parent / "lambda" / "retarget"
RUNTIME = lambda_.Runtime.PYTHON_3_14
# The status page must answer well inside the function's own timeout.
STATUS_TIMEOUT_SECONDS = 2
RETARGET_TIMEOUT = Duration.seconds(30)
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


class MirrorFailover(Construct):
    """The retarget function, its custom resource, and (polling method) its poller.

    Guarantees: one function (reserved concurrency 1, so retargets never
    interleave) switches each VIP's listeners between pre-registered member
    target groups; it runs in the VPC behind ``security_group``; failed async
    invocations land in an encrypted dead-letter queue and any error raises an
    alarm. A custom resource per mirror set points its VIP at the desired
    primary on create and on a change of the desired primary only, so a deploy
    never moves traffic otherwise. With ``poll`` a scheduled poller follows
    the mirror status pages (the polling method).
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
        targets: Sequence[FailoverTarget],
        health_check: MirrorHealthCheck,
        poll: bool,
        encryption_key: kms.IKey,
        alarm_topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.function_arn = retarget_function_arn(self, function_name)
        config = stack.to_json_string(self._config(targets, health_check))
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=encryption_key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        Validations.of(self.dead_letter_queue).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-SQS3",
                reason="This queue is itself the dead-letter queue of the retarget functions; "
                "a queue behind it would never be read.",
            )
        )
        self.log_group = encrypted_log_group(self, "Logs", encryption_key=encryption_key, retention_days=LOG_RETENTION_DAYS)
        self.role = self._role(targets, encryption_key)
        common = {
            "runtime": RUNTIME,
            "code": lambda_.Code.from_asset(str(CODE), exclude=["README.md", "__pycache__"]),
            "role": self.role.without_policy_updates(),
            "vpc": vpc,
            "vpc_subnets": ec2.SubnetSelection(subnets=list(subnets)),
            "security_groups": [security_group],
            "environment": {"RETARGET_CONFIG": config},
            "environment_encryption": encryption_key,
            "log_group": self.log_group,
            "dead_letter_queue": self.dead_letter_queue,
            "reserved_concurrent_executions": 1,
            "retry_attempts": 0,  # a retarget is decided anew, never replayed later
            "tracing": lambda_.Tracing.DISABLED,
        }
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name,
            description="Points a mirror VIP at the new IRIS primary (^ZMIRROR, operators, deployments)",
            handler="entry.handler",
            timeout=RETARGET_TIMEOUT,
            memory_size=256,
            **common,  # type: ignore[arg-type]
        )
        self._alarm_on_errors("Function", self.function, alarm_topic)

        # The custom resource reaches the same function and code path. One
        # resource per mirror set, created one after the other: the function
        # serves one call at a time.
        self.primaries: dict[str, CustomResource] = {}
        managed = [t for t in targets if t.desired_primary is not None]
        if managed:
            self._custom_resources(managed, vpc, subnets, security_group, encryption_key)

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
            self._alarm_on_errors("Poller", self.poller, alarm_topic)

    def _custom_resources(
        self,
        targets: Sequence[FailoverTarget],
        vpc: ec2.IVpc,
        subnets: Sequence[ec2.ISubnet],
        security_group: ec2.ISecurityGroup,
        encryption_key: kms.IKey,
    ) -> None:
        """Custom::IrisMirrorPrimary per target, through the Provider framework."""
        self.provider = cr.Provider(
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
        framework = self.provider.node.find_child("framework-onEvent")
        for pack in ("HIPAA.Security", "NIST.800.53.R5"):
            for rule, why in (
                ("LambdaConcurrency", "a reserved concurrency would only take capacity from the account"),
                ("LambdaDLQ", "a dead-letter queue would receive nothing, as CloudFormation reports every failure itself"),
            ):
                Validations.of(framework).acknowledge(
                    Acknowledgment(
                        id=f"{pack}::{pack}-{rule}",
                        reason="The CDK Provider framework's function runs only when CloudFormation deploys this stack, "
                        f"synchronously, and a failure fails and rolls back that deployment; {why}.",
                    )
                )
        previous: CustomResource | None = None
        for target in targets:
            resource = CustomResource(
                self,
                f"{target.name}Primary",
                service_token=self.provider.service_token,
                resource_type="Custom::IrisMirrorPrimary",
                properties={"MirrorSet": target.name, "DesiredPrimary": target.desired_primary},
            )
            for listener in target.vip.listeners.values():
                resource.node.add_dependency(listener)
            if previous is not None:
                resource.node.add_dependency(previous)
            previous = resource
            self.primaries[target.name] = resource

    @staticmethod
    def _config(targets: Sequence[FailoverTarget], health_check: MirrorHealthCheck) -> dict[str, object]:
        """The RETARGET_CONFIG document (lambda/retarget/README.md)."""
        mirror_sets: dict[str, object] = {}
        for target in targets:
            listeners = {port: listener.listener_arn for port, listener in target.vip.listeners.items()}
            members = {}
            for index, member in enumerate(target.members):
                members[member.name] = {
                    "instance_id": member.instance.instance_id,
                    "private_ip": member.instance.instance_private_ip,
                    "role": member.role,
                    "target_groups": {
                        listeners[port]: groups[index].target_group_arn for port, groups in target.vip.target_groups.items()
                    },
                }
            mirror_sets[target.name] = {"listeners": list(listeners.values()), "members": members}
        return {
            "mirror_sets": mirror_sets,
            "health_check": {
                "port": health_check.port,
                "path": health_check.path,
                "timeout_seconds": STATUS_TIMEOUT_SECONDS,
                "interval_seconds": health_check.interval_seconds,
                "healthy_threshold": health_check.healthy_threshold,
                "unhealthy_threshold": health_check.unhealthy_threshold,
            },
        }

    def _role(self, targets: Sequence[FailoverTarget], key: kms.IKey) -> iam.Role:
        """Customer-managed policies only: no inline policy, nothing broader than needed."""
        role = service_role(
            self,
            "Role",
            service="lambda.amazonaws.com",
            description="Mirror failover: switch the VIP listeners of this stack",
            aws_managed_policies={VPC_ACCESS_POLICY: VPC_ACCESS_REASON},
        )
        listener_arns = [listener.listener_arn for t in targets for listener in t.vip.listeners.values()]
        policy = iam.ManagedPolicy(
            self,
            "Policy",
            description="Switch the mirror VIP listeners of this stack and report to its own log group and queue",
            statements=[
                iam.PolicyStatement(
                    sid="SwitchListeners", actions=["elasticloadbalancing:ModifyListener"], resources=listener_arns
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
        Validations.of(policy).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                reason="elasticloadbalancing:DescribeListeners and DescribeTargetHealth support no resource-level "
                "permissions; they are read-only. The write, ModifyListener, is limited to this stack's VIP listeners.",
            )
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

    def _alarm_on_errors(self, name: str, function: lambda_.Function, topic: sns.ITopic) -> None:
        alarm = cw.Alarm(
            self,
            f"{name}Errors",
            metric=function.metric_errors(period=Duration.minutes(1), statistic="Sum"),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description=f"Mirror failover {name.lower()} failed: a VIP may point at a member that is not primary",
        )
        alarm.add_alarm_action(cw_actions.SnsAction(topic))
