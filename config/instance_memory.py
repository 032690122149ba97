"""Memory of the instance types that run IRIS, for sizing its buffers.

Source: Amazon EC2 Instance Types ("Memory (GiB)" column); ``aws ec2
describe-instance-types --query 'InstanceTypes[].MemoryInfo.SizeInMiB'``
prints the same figures. Memory-optimized (r), general-purpose (m) and
compute-optimized (c) families have a fixed memory per vCPU; burstable types
are listed one by one. To support another family, add it here.
"""

from __future__ import annotations

import re

GIB = 1024
# MiB of memory per vCPU, by family (the letters before the generation digit).
MIB_PER_VCPU = {"r": 8 * GIB, "m": 4 * GIB, "c": 2 * GIB}
BURSTABLE_MIB = {
    "t3.micro": 1 * GIB,
    "t3.small": 2 * GIB,
    "t3.medium": 4 * GIB,
    "t3.large": 8 * GIB,
    "t3.xlarge": 16 * GIB,
    "t3.2xlarge": 32 * GIB,
}
_SIZED = re.compile(r"^(?P<family>[rmc])\d+[a-z]*\.(?P<size>large|xlarge|(?P<n>\d+)xlarge)$")


def instance_memory_mib(instance_type: str) -> int:
    """The memory of ``instance_type`` in MiB; KeyError for a type this table does not know."""
    if instance_type in BURSTABLE_MIB:
        return BURSTABLE_MIB[instance_type]
    m = _SIZED.match(instance_type)
    if m is None:
        raise KeyError(instance_type)
    vcpus = 2 if m["size"] == "large" else 4 * int(m["n"] or 1)
    return vcpus * MIB_PER_VCPU[m["family"]]
