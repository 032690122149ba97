"""EBS performance of the instance types this project supports.

Source: Amazon EC2 User Guide, "Amazon EBS-optimized instance types"
(``aws ec2 describe-instance-types --query
'InstanceTypes[].EbsInfo.EbsOptimizedInfo'`` prints the same figures).

Each entry is ``(baseline_iops, maximum_iops)``. Smaller sizes reach their
maximum only in bursts of at most 30 minutes a day; a database lives on the
baseline, so settings are checked against the baseline: provisioning more io1
IOPS than an instance sustains buys IOPS it cannot use.

To support another type, add its two figures here.
"""

from __future__ import annotations

EBS_PERFORMANCE: dict[str, tuple[int, int]] = {
    # Burstable: dev profiles and arbiters.
    "t3.micro": (500, 11_800),
    "t3.small": (1_000, 11_800),
    "t3.medium": (2_000, 11_800),
    "t3.large": (4_000, 15_700),
    "t3.xlarge": (4_000, 15_700),
    "t3.2xlarge": (4_000, 15_700),
    # General purpose.
    "m5.large": (3_600, 18_750),
    "m5.xlarge": (6_000, 18_750),
    "m5.2xlarge": (12_000, 18_750),
    "m5.4xlarge": (18_750, 18_750),
    "m5.8xlarge": (30_000, 30_000),
    "m5.12xlarge": (40_000, 40_000),
    "m5.16xlarge": (60_000, 60_000),
    "m5.24xlarge": (80_000, 80_000),
    "m6i.large": (3_600, 40_000),
    "m6i.xlarge": (6_000, 40_000),
    "m6i.2xlarge": (12_000, 40_000),
    "m6i.4xlarge": (20_000, 40_000),
    "m6i.8xlarge": (40_000, 40_000),
    "m6i.12xlarge": (60_000, 60_000),
    "m6i.16xlarge": (80_000, 80_000),
    "m6i.24xlarge": (120_000, 120_000),
    "m6i.32xlarge": (160_000, 160_000),
    # Memory optimised: the usual choice for IRIS data members.
    "r5.large": (3_600, 18_750),
    "r5.xlarge": (6_000, 18_750),
    "r5.2xlarge": (12_000, 18_750),
    "r5.4xlarge": (18_750, 18_750),
    "r5.8xlarge": (30_000, 30_000),
    "r5.12xlarge": (40_000, 40_000),
    "r5.16xlarge": (60_000, 60_000),
    "r5.24xlarge": (80_000, 80_000),
    "r6i.large": (3_600, 40_000),
    "r6i.xlarge": (6_000, 40_000),
    "r6i.2xlarge": (12_000, 40_000),
    "r6i.4xlarge": (20_000, 40_000),
    "r6i.8xlarge": (40_000, 40_000),
    "r6i.12xlarge": (60_000, 60_000),
    "r6i.16xlarge": (80_000, 80_000),
    "r6i.24xlarge": (120_000, 120_000),
    "r6i.32xlarge": (160_000, 160_000),
}

# The sustained IOPS of each type: what settings are validated against.
EBS_IOPS_LIMITS: dict[str, int] = {name: baseline for name, (baseline, _) in EBS_PERFORMANCE.items()}
