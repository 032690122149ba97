"""Named constants shared by settings, stacks and components.

Numbers with meaning live here once, so a port or an AWS limit is never a bare
literal in a stack.
"""

from __future__ import annotations

# InterSystems IRIS ports.
IRIS_SUPERSERVER_PORT = 1972  # superserver, ECP and mirror traffic
ISCAGENT_PORT = 2188  # ISCAgent: mirror member and arbiter communication
IRIS_WEB_PORT = 52773  # private web server (IRIS before 2023.2) / Web Gateway
# Mirror and mirror member names: upper-case letters and digits, at most 15.
IRIS_MIRROR_NAME_MAX = 15
# The most mirror sets one deployment's data tier carries (data.mirror_sets).
# A stack per set keeps every stack far below CloudFormation's 500 resources;
# 16 is what tests/test_scale.py synthesizes and counts. The next hard limit
# is the retarget function role's 10,240 characters of inline policy (one
# ModifyListener grant of about 360 per set), near 28 sets.
MAX_MIRROR_SETS = 16
# The IRIS containers run as irisowner, uid and gid 51773: what the mounts are owned by.
IRIS_OWNER_UID = 51773
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
    # IRIS on the members: its images from ECR (their layers come through the
    # S3 gateway endpoint) and its passwords from Secrets Manager.
    "ecr.api",
    "ecr.dkr",
    "secretsmanager",
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
# data.disk_used_alarm_percent: below half full an alarm is noise; above 95 % a
# journal volume can fill between two samples of the agent.
DISK_USED_ALARM_MIN_PERCENT = 50
DISK_USED_ALARM_MAX_PERCENT = 95

# Backup.General.ExternalFreeze()/ExternalThaw() end an `iris session` with
# these statuses.
IRIS_EXTERNAL_FREEZE_OK = 5
IRIS_EXTERNAL_FREEZE_FAILED = 3

# The names of a mirror set's async DR members, one per DR availability zone,
# in the DR region's retarget function, the operator CLI and the runbooks; the
# first keeps the name (and the logical ids) of the single member of before.
DR_MEMBER_NAME = "DR"
DR_MEMBER_NAMES = (DR_MEMBER_NAME, f"{DR_MEMBER_NAME}1", f"{DR_MEMBER_NAME}2")

# A site-to-site VPN's customer gateway: 4-byte ASNs, AWS's default when none is given.
MAX_BGP_ASN = 4294967294
DEFAULT_CUSTOMER_GATEWAY_ASN = 65000

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
# IRIS's own web applications and the Web Gateway's pages: the Management Portal, the class
# reference and documentation, the management REST API, the gateway's status and management
# pages. No application path may be, hold or lie under one (compared without regard to case:
# IRIS names web applications case-insensitively); the public ALB forwards none of them and its
# WAF blocks every request whose decoded, normalized path starts with one.
SYSTEM_PATHS = ("/csp/sys", "/csp/docbook", "/csp/documatic", "/api/mgmnt", "/csp/bin")
# ELB quotas (Application Load Balancer guide, "Quotas for your Application Load Balancers"):
# 100 rules per load balancer, default rules not counted. Each application path takes one rule
# on the HTTPS listener with two path patterns (the path, and everything under it), well within
# the 5 condition values a rule may hold.
MAX_APPLICATION_PATHS = 100
# A path pattern holds at most 128 characters (ListenerRule PathPatternConfig); "/*" is added.
MAX_APPLICATION_PATH_CHARS = 126

# The AWS partition of a region, by the region name's prefix (any other region: aws).
REGION_PARTITIONS = (("cn-", "aws-cn"), ("us-gov-", "aws-us-gov"), ("us-isob-", "aws-iso-b"), ("us-iso-", "aws-iso"))

# Cost allocation tags every resource of every stack carries (activate them
# once as cost allocation tags in the Billing console to filter costs by them).
COST_ALLOCATION_TAGS = ("Project", "Environment", "Owner", "CostCenter")

# EKS. The kubectl Lambda layer is a Python package per Kubernetes minor
# version (aws-cdk.lambda-layer-kubectl-v3X, pinned in requirements.txt): a
# Kubernetes version is usable when its layer is installed.
KUBECTL_LAYERS = {"1.34": "aws_cdk.lambda_layer_kubectl_v34.KubectlV34Layer"}
# The AWS Load Balancer Controller release whose IAM policy is embedded in
# components/policies/ (the controller's docs/install/iam_policy.json).
LOAD_BALANCER_CONTROLLER_POLICY_VERSION = "v2.17.1"
EKS_MAX_NODES_PER_GROUP = 450
NODE_MIN_DISK_GIB = 20
# Spot needs a choice of capacity pools: one interruption must not empty a group.
SPOT_MIN_INSTANCE_TYPES = 2
KUBELET_PORT = 10250
MENDIX_APP_PORT = 8080  # the Mendix runtime's HTTP port in its container
MENDIX_NAMESPACE = "mendix"
POSTGRES_PORT = 5432
POSTGRES_MAJOR_VERSIONS = (15, 16, 17, 18)
RDS_MIN_STORAGE_GIB = 20
RDS_MAX_STORAGE_GIB = 65536
RDS_MIN_BACKUP_RETENTION_DAYS = 1
RDS_MAX_BACKUP_RETENTION_DAYS = 35
# S3 lifecycle: objects move to Standard-IA after at least 30 days, and stay
# there at least 30 days before a later transition.
S3_MIN_DAYS_BEFORE_IA = 30
S3_MIN_DAYS_IN_IA = 30
# AWS Backup keeps a recovery point at least 90 days in cold storage.
BACKUP_MIN_DAYS_IN_COLD_STORAGE = 90
BUDGET_MAX_NOTIFICATIONS = 5
BUDGET_MAX_EMAIL_SUBSCRIBERS = 10
# The data-subnet NACL entry for PostgreSQL: a fixed number, apart from the
# IRIS entries (10, 20, ...), so that neither renumbers the other.
DATA_NACL_POSTGRES_RULE = 200
# The data NACL's entries for on-premises xDBC clients of the mirror VIP (hybrid model): 300, 310, ...
DATA_NACL_VIP_CLIENT_RULE = 300
