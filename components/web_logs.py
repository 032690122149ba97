"""The web servers' Apache logs in CloudWatch Logs, and the saved query over them.

Guarantees: one log group for the fleet (encrypted with the fleet's key, kept
``retention_days``, retained when the stack is deleted), a log stream per
instance and file (``<instance id>-access``, ``<instance id>-error``), and the
saved query ``<stack>/web-5xx`` over it. The CloudWatch agent's configuration
is an SSM parameter named ``AmazonCloudWatch-...``, which the agent's managed
policy (CloudWatchAgentServerPolicy) lets it read: the user data only starts
the agent with it, when the image has the agent (the web servers' user data
is close to EC2's 16 KB).
"""

from __future__ import annotations

import json

from aws_cdk import Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from components.log_queries import ACCESS_STREAM_SUFFIX, WEB_5XX, saved_query
from components.log_retention import encrypted_log_group
from components.member_monitoring import AGENT_CTL

# mod_ssl's stock ssl.conf: TransferLog logs/ssl_access_log (common log format), ErrorLog logs/ssl_error_log.
APACHE_LOGS = (("/var/log/httpd/ssl_access_log", ACCESS_STREAM_SUFFIX), ("/var/log/httpd/ssl_error_log", "-error"))
# CloudWatchAgentServerPolicy allows ssm:GetParameter on parameter/AmazonCloudWatch-* only.
AGENT_PARAMETER_PREFIX = "AmazonCloudWatch-"


def web_agent_config(log_group_name: str) -> dict[str, object]:
    """The CloudWatch agent's configuration on a web server: Apache's access and error logs, nothing else."""
    return {
        "agent": {"omit_hostname": True},
        "logs": {
            "logs_collected": {
                "files": {
                    "collect_list": [
                        {"file_path": path, "log_group_name": log_group_name, "log_stream_name": "{instance_id}" + suffix}
                        for path, suffix in APACHE_LOGS
                    ]
                }
            }
        },
    }


class WebServerLogs(Construct):
    """The web servers' log group and saved query; ``agent_commands()`` goes into their user data."""

    def __init__(self, scope: Construct, construct_id: str, *, encryption_key: kms.IKey, retention_days: int) -> None:
        super().__init__(scope, construct_id)
        self.log_group = encrypted_log_group(self, "Apache", encryption_key=encryption_key, retention_days=retention_days)
        saved_query(self, "Web5xx", name="web-5xx", query=WEB_5XX, log_groups=[self.log_group])
        # A physical name: the agent reads it by name, within its managed policy's prefix.
        self.agent_parameter_name = f"{AGENT_PARAMETER_PREFIX}{Stack.of(self).stack_name}-{construct_id}"
        self.agent_parameter = ssm.StringParameter(
            self,
            "AgentConfig",
            parameter_name=self.agent_parameter_name,
            string_value=json.dumps(web_agent_config(self.log_group.log_group_name), separators=(",", ":")),
            description="CloudWatch agent configuration of the web servers: Apache's access and error logs",
        )

    def agent_commands(self) -> list[str]:
        """User data: (re)start the agent with its configuration, if the image has the agent (fetch-config replaces
        an earlier one, so a second boot gives the same agent)."""
        return [f"[ -x {AGENT_CTL} ] && {AGENT_CTL} -a fetch-config -m ec2 -s -c ssm:{self.agent_parameter_name} || true"]
