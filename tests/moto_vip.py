"""A moto NLB standing in for a mirror VIP, shared by the function and CLI tests.

One mirror set (HSDB): an internal NLB with listeners on 1972 and 52773, and
for each member (two failover members and an async DR member) one target
group per port with its instance registered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3
import retarget

REGION = "eu-west-1"
SET = "HSDB"
PORTS = (1972, 52773)
MEMBERS = ("Member0", "Member1", "DR")
ROLES = {"Member0": "failover", "Member1": "failover", "DR": "async"}
STATUS_PATH = "/csp/bin/mirror_status.cxw"
HEALTH = {
    "port": 52773,
    "path": STATUS_PATH,
    "timeout_seconds": 2,
    "interval_seconds": 5,
    "healthy_threshold": 2,
    "unhealthy_threshold": 2,
}
# Where the mirror sets' stacks write their parts of the configuration.
PARAMETER_PATH = "/Iris-DataTier/retarget"
# botocore names its events after the service id, hyphenated: "elasticloadbalancingv2" would never fire.
EVENT_SERVICE = "elastic-load-balancing-v2"


@dataclass
class World:
    """The moto NLB of one mirror set; build it once per module (inside mock_aws)."""

    admin: Any  # a client without hooks, to set the scene
    listeners: dict[int, str]
    groups: dict[str, dict[int, str]]
    instances: dict[str, str]
    ips: dict[str, str]
    config_text: str

    @property
    def environment(self) -> dict[str, str]:
        """The deployed function's environment: where its configuration is."""
        return {
            retarget.PARAMETERS_VARIABLE: PARAMETER_PATH,
            retarget.HEALTH_CHECK_VARIABLE: json.dumps(HEALTH),
        }

    def point_all_at(self, member: str) -> None:
        for port, arn in self.listeners.items():
            self.admin.modify_listener(
                ListenerArn=arn, DefaultActions=[{"Type": "forward", "TargetGroupArn": self.groups[member][port]}]
            )


def build_world() -> World:
    admin = retarget.elbv2_client(REGION)
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
        for cidr, az in (("10.0.192.0/20", "eu-west-1a"), ("10.0.208.0/20", "eu-west-1b"))
    ]
    lb = admin.create_load_balancer(Name="vip", Subnets=subnets, Scheme="internal", Type="network")["LoadBalancers"][0]
    started = ec2.run_instances(ImageId="ami-12345678", MinCount=len(MEMBERS), MaxCount=len(MEMBERS), SubnetId=subnets[0])
    instances = {name: i["InstanceId"] for name, i in zip(MEMBERS, started["Instances"], strict=True)}
    ips = {name: i["PrivateIpAddress"] for name, i in zip(MEMBERS, started["Instances"], strict=True)}
    groups: dict[str, dict[int, str]] = {}
    for name in MEMBERS:
        groups[name] = {}
        for port in PORTS:
            arn = admin.create_target_group(Name=f"{name}-{port}", Protocol="TCP", Port=port, VpcId=vpc, TargetType="instance")[
                "TargetGroups"
            ][0]["TargetGroupArn"]
            admin.register_targets(TargetGroupArn=arn, Targets=[{"Id": instances[name], "Port": port}])
            groups[name][port] = arn
    listeners = {
        port: admin.create_listener(
            LoadBalancerArn=lb["LoadBalancerArn"],
            Protocol="TCP",
            Port=port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": groups["Member0"][port]}],
        )["Listeners"][0]["ListenerArn"]
        for port in PORTS
    }
    mirror_set = retarget.MirrorSet(
        SET,
        listeners=tuple(listeners.values()),
        members={
            name: retarget.Member(name, instances[name], ips[name], ROLES[name], {listeners[p]: groups[name][p] for p in PORTS})
            for name in MEMBERS
        },
    )
    # Written as the deployed function reads it: the set's SSM parameter, the health check beside it.
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name=f"{PARAMETER_PATH}/{SET}", Value=json.dumps(mirror_set.to_document()), Type="String"
    )
    config = retarget.Config({SET: mirror_set}, retarget.HealthCheck(**HEALTH))
    return World(admin, listeners, groups, instances, ips, config.to_json())


class Vip:
    """A world seen through one counted client: ``writes`` lists the listeners each ModifyListener named."""

    def __init__(self, world: World | None = None) -> None:
        self.world = world or build_world()
        self.listeners = self.world.listeners
        self.groups = self.world.groups
        self.instances = self.world.instances
        self.config_text = self.world.config_text
        self.config = retarget.load_config(self.config_text)
        self.writes: list[str] = []
        self.reset()

    @property
    def mirror_set(self) -> retarget.MirrorSet:
        return self.config.mirror_sets[SET]

    def point(self, **by_port: str) -> None:
        """Set listeners (by port name "p1972") to members, behind the function's back."""
        for key, member in by_port.items():
            port = int(key.removeprefix("p"))
            self.world.admin.modify_listener(
                ListenerArn=self.listeners[port],
                DefaultActions=[{"Type": "forward", "TargetGroupArn": self.groups[member][port]}],
            )

    def all_on(self, member: str) -> dict[int, str]:
        return dict.fromkeys(PORTS, member)

    def reset(self) -> None:
        """Listeners back on Member0; a fresh client (no hooks left by a test) whose writes are counted."""
        self.world.point_all_at("Member0")
        self.elbv2 = retarget.elbv2_client(REGION)
        self.writes = []
        # before-call fires once per API call, not per retry: it counts decisions to write.
        self.elbv2.meta.events.register(f"before-call.{EVENT_SERVICE}.ModifyListener", self._count)

    def _count(self, params: dict[str, Any], **_: Any) -> None:
        self.writes.append(params["body"]["ListenerArn"])

    def pointing_at(self) -> dict[int, str]:
        """Port -> the member its listener forwards to, read without the counted client's hooks."""
        by_group = {arn: name for name, groups in self.groups.items() for arn in groups.values()}
        listeners = self.world.admin.describe_listeners(ListenerArns=list(self.listeners.values()))["Listeners"]
        found = {listener["ListenerArn"]: listener["DefaultActions"][0]["TargetGroupArn"] for listener in listeners}
        return {port: by_group[found[arn]] for port, arn in self.listeners.items()}
