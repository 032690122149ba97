"""Named constants shared by settings, stacks and components.

Numbers with meaning live here once, so a port or an AWS limit is never a bare
literal in a stack.
"""

from __future__ import annotations

# InterSystems IRIS ports.
IRIS_SUPERSERVER_PORT = 1972  # superserver, ECP and mirror traffic
ISCAGENT_PORT = 2188  # ISCAgent: mirror member and arbiter communication
IRIS_WEB_PORT = 52773  # private web server (IRIS before 2023.2) / Web Gateway
HTTPS_PORT = 443
HTTP_PORT = 80

# Linux ephemeral ports (net.ipv4.ip_local_port_range is 32768-60999). Return
# traffic to connections the data tier opens arrives on these.
LINUX_EPHEMERAL_PORTS = (32768, 65535)
# Clients of the data tier (load balancers, Windows hosts) may use any port
# from 1024 upwards for their side of a connection.
CLIENT_EPHEMERAL_PORTS = (1024, 65535)

# EBS io1 limits.
IO1_MIN_SIZE_GIB = 4
IO1_MAX_SIZE_GIB = 16384
IO1_MAX_IOPS_PER_GIB = 50
IO1_MAX_IOPS_PER_VOLUME = 64000
IO1_MIN_IOPS = 100

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096,
    1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

# The VPC is split in four tier blocks and each tier block in four AZ slots
# (three used, one kept for growth), so a subnet is VPC prefix + 4.
TIERS = ("public", "web", "app", "data")
TIER_SPLIT_BITS = 2
AZ_SPLIT_BITS = 2
VPC_MIN_PREFIX = 16  # AWS maximum VPC size
VPC_MAX_PREFIX = 24  # gives /28 subnets, the smallest AWS allows
REQUIRED_AZ_COUNT = 3

# Interface endpoints that let the isolated data tier reach AWS APIs without
# an internet route (SSM Session Manager, KMS, logs, metrics, the load
# balancer and Lambda APIs used by mirror failover, STS).
INTERFACE_ENDPOINT_SERVICES = (
    "ssm",
    "ssmmessages",
    "ec2messages",
    "kms",
    "logs",
    "monitoring",
    "elasticloadbalancing",
    "lambda",
    "sts",
)

# Data volumes of a mirror member: the device each is attached at and where
# it is mounted. The device, not the order the kernel finds disks in, ties a
# volume to its role.
IRIS_VOLUME_DEVICES = {
    "database": "/dev/sdf",
    "journal1": "/dev/sdg",
    "journal2": "/dev/sdh",
    "wij": "/dev/sdi",
}
IRIS_MOUNT_POINTS = {
    "database": "/iris/db",
    "journal1": "/iris/jrn1",
    "journal2": "/iris/jrn2",
    "wij": "/iris/wij",
}

# Backup.General.ExternalFreeze()/ExternalThaw() end an `iris session` with
# these statuses.
IRIS_EXTERNAL_FREEZE_OK = 5
IRIS_EXTERNAL_FREEZE_FAILED = 3

# The name of a mirror set's async DR member in the DR region's retarget
# function, the operator CLI and the runbooks.
DR_MEMBER_NAME = "DR"

# DLM's managed policy runs only SSM documents that carry this tag.
DLM_SCRIPTS_TAG = ("DLMScriptsAccess", "true")

# Application tier.
WEB_GATEWAY_DIR = "/opt/webgateway"  # where a standalone Web Gateway installs on Linux
WEB_GATEWAY_USER = "CSPSystem"  # the IRIS account the Web Gateway connects as
ECP_CACHE_MOUNT = "/iris/cache"  # instance store of the ECP application servers
# An ALB's load-balancer cookie lives 1 second to 7 days.
ALB_STICKINESS_MIN_SECONDS = 1
ALB_STICKINESS_MAX_SECONDS = 7 * 24 * 3600
# A WAF rate-based rule counts requests per client address over 5 minutes.
WAF_RATE_LIMIT_MIN = 10
WAF_RATE_LIMIT_MAX = 2_000_000_000
WAF_RATE_WINDOW_SECONDS = 300
