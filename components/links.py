"""The small typed values stacks hand each other (through app.py).

No stack module imports another: a stack exposes one of these, and app.py
passes it to the stacks built on it. Each holds references to constructs of
the stack that made it; the CDK turns their use in another stack into an
export and an import (across regions, into SSM parameters it manages).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_secretsmanager as secretsmanager

from components.iris_host import IrisHost
from components.mirror_failover import FailoverLink
from components.mirror_vip import MirrorHealthCheck
from components.severity import AlarmTopics


@dataclass(frozen=True)
class TierSecurityGroups:
    """One security group per tier; the port matrix between them is fixed by the network stack."""

    public_alb: ec2.SecurityGroup
    web: ec2.SecurityGroup
    app: ec2.SecurityGroup
    data: ec2.SecurityGroup
    data_lb: ec2.SecurityGroup
    xdbc_clients: ec2.SecurityGroup
    failover: ec2.SecurityGroup
    endpoints: ec2.SecurityGroup


@dataclass(frozen=True)
class PrivateCaEndpoint:
    """The AWS Private CA interface endpoint's regional DNS name and its hosted zone: an alias target.

    Strings its network stack exports itself: the endpoint's DNS entries are a list, which a
    reference across stacks cannot carry.
    """

    dns_name: str
    hosted_zone_id: str


@dataclass(frozen=True)
class NetworkRefs:
    """A region's network: its VPC, its subnets by tier and its security groups by tier."""

    vpc: ec2.IVpc
    subnets: Mapping[str, ec2.SelectedSubnets]
    security_groups: TierSecurityGroups
    # The interface endpoint of AWS Private CA, in the region whose CA issues the hosts' certificates.
    private_ca_endpoint: PrivateCaEndpoint | None = None

    def tier(self, name: str) -> list[ec2.ISubnet]:
        return list(self.subnets[name].subnets)


@dataclass(frozen=True)
class MemberBase:
    """What every member stack of a region builds on, made once by that region's shared stack."""

    key: kms.IKey
    alarm_topics: AlarmTopics
    host: IrisHost
    # Attached to each set's member and arbiter roles: the hosts' files, images and licence.
    host_policies: Sequence[iam.IManagedPolicy]
    # Attached to each set's member roles only (not the arbiters'): the host's TLS certificate from the CA.
    certificate_policy: iam.IManagedPolicy
    failover: FailoverLink
    health_check: MirrorHealthCheck


@dataclass(frozen=True)
class DataTierLink(MemberBase):
    """The primary region's data tier as each mirror set's stack sees it."""

    zone: route53.IHostedZone
    backup_tag: tuple[str, str]
    # Where each set's first primary records that it created the mirror: ``<marker_path>/<set>/mirror-created``.
    marker_path: str


@dataclass(frozen=True)
class MirrorLink:
    """One mirror set as the tiers above it see it."""

    name: str
    load_balancer: elbv2.INetworkLoadBalancer
    member_addresses: Sequence[str]
    initial_primary_address: str
    cspsystem: secretsmanager.ISecret
    # The VIP's alarms by member, which Route 53 follows (DR'd sets only, else empty).
    health_alarms: Mapping[str, cw.Alarm]


@dataclass(frozen=True)
class PrimaryNetwork:
    """The primary region's VPC as the DR region peers with it."""

    vpc: ec2.IVpc
    region: str
    vpc_cidr: str


@dataclass(frozen=True)
class DrMember:
    """A mirror set's async members in the DR region: their addresses by member name (DR, DR1, ...)."""

    addresses: Mapping[str, str]
    link: MirrorLink


@dataclass(frozen=True)
class DrLink:
    """The DR region as the primary region sees it: where snapshot and backup copies go, its network, its members."""

    region: str
    key_arn: str
    vpc: ec2.IVpc
    peering_id: str
    members: Mapping[str, DrMember]
    # The vault that receives copies of the Mendix platform's AWS Backup recovery points (with EKS on).
    backup_vault_arn: str | None = None
