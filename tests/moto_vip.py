"""A moto NLB standing in for a mirror VIP, shared by the function and CLI tests."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lambda" / "retarget"))

import retarget

REGION = "eu-west-1"
PORTS = (1972, 52773)
IPS = {"Member0": "10.0.192.10", "Member1": "10.0.208.10", "DR": "10.1.192.10"}


class Vip:
    """A moto NLB with two listeners and per-member target groups."""

    def __init__(self) -> None:
        self.elbv2 = retarget.elbv2_client(REGION)
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
            for cidr, az in (("10.0.192.0/20", "eu-west-1a"), ("10.0.208.0/20", "eu-west-1b"))
        ]
        lb = self.elbv2.create_load_balancer(Name="vip", Subnets=subnets, Scheme="internal", Type="network")["LoadBalancers"][0]
        instances = {
            name: ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, SubnetId=subnets[0])["Instances"][0][
                "InstanceId"
            ]
            for name in IPS
        }
        self.groups: dict[str, dict[int, str]] = {}
        for name, instance in instances.items():
            self.groups[name] = {}
            for port in PORTS:
                arn = self.elbv2.create_target_group(
                    Name=f"{name}-{port}", Protocol="TCP", Port=port, VpcId=vpc, TargetType="instance"
                )["TargetGroups"][0]["TargetGroupArn"]
                self.elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": instance, "Port": port}])
                self.groups[name][port] = arn
        self.listeners = {
            port: self.elbv2.create_listener(
                LoadBalancerArn=lb["LoadBalancerArn"],
                Protocol="TCP",
                Port=port,
                DefaultActions=[{"Type": "forward", "TargetGroupArn": self.groups["Member0"][port]}],
            )["Listeners"][0]["ListenerArn"]
            for port in PORTS
        }
        self.instances = instances
        self.config_text = json.dumps(
            {
                "mirror_sets": {
                    "HSDB": {
                        "listeners": list(self.listeners.values()),
                        "members": {
                            name: {
                                "instance_id": instances[name],
                                "private_ip": IPS[name],
                                "role": "async" if name == "DR" else "failover",
                                "target_groups": {self.listeners[p]: self.groups[name][p] for p in PORTS},
                            }
                            for name in IPS
                        },
                    }
                },
                "health_check": {
                    "port": 52773,
                    "path": "/csp/bin/mirror_status.cxw",
                    "timeout_seconds": 1,
                    "interval_seconds": 5,
                    "healthy_threshold": 2,
                    "unhealthy_threshold": 2,
                },
            }
        )
        self.config = retarget.load_config(self.config_text)
        self.writes: list[str] = []
        self.reset()

    def reset(self) -> None:
        """Listeners back on Member0; a fresh client (no hooks left by a test) whose writes are counted."""
        for port, arn in self.listeners.items():
            self.elbv2.modify_listener(
                ListenerArn=arn, DefaultActions=[{"Type": "forward", "TargetGroupArn": self.groups["Member0"][port]}]
            )
        self.elbv2 = retarget.elbv2_client(REGION)
        self.writes = []
        self.elbv2.meta.events.register("before-parameter-build.elastic-load-balancing-v2.ModifyListener", self._count)

    def _count(self, params: dict[str, Any], **_: Any) -> None:
        self.writes.append(params["ListenerArn"])

    def pointing_at(self) -> dict[int, str]:
        """Port -> member name the listener forwards to."""
        by_arn = {arn: name for name, groups in self.groups.items() for arn in groups.values()}
        current = retarget.current_targets(self.elbv2, self.config.mirror_sets["HSDB"])
        return {port: by_arn[current[arn]] for port, arn in self.listeners.items()}


def healthy(*names: str):
    """A status check under which only ``names`` answer 200; the others 503."""
    ips = {IPS[n] for n in names if n in IPS}
    return lambda ip, port, path, timeout: 200 if ip in ips else 503
