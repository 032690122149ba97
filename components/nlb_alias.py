"""Route 53 alias targets: a Network Load Balancer, and a name with its hosted zone."""

from __future__ import annotations

import jsii
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_route53 as route53


@jsii.implements(route53.IAliasRecordTarget)
class NetworkLoadBalancerAlias:
    """Aliases the NLB's own DNS name.

    ``route53_targets.LoadBalancerTarget`` prefixes every load balancer's name
    with ``dualstack.``, a name an IPv4 Network Load Balancer does not have
    (aws/aws-cdk#16987), so the record would resolve to nothing.
    """

    def __init__(self, load_balancer: elbv2.INetworkLoadBalancer) -> None:
        self._load_balancer = load_balancer

    def bind(self, _record: route53.IRecordSet, _zone: route53.IHostedZone | None = None) -> route53.AliasRecordTargetConfig:
        return route53.AliasRecordTargetConfig(
            dns_name=self._load_balancer.load_balancer_dns_name,
            hosted_zone_id=self._load_balancer.load_balancer_canonical_hosted_zone_id,
        )


@jsii.implements(route53.IAliasRecordTarget)
class DnsNameAlias:
    """Aliases ``dns_name`` in ``hosted_zone_id`` (an interface endpoint's regional name, say)."""

    def __init__(self, dns_name: str, hosted_zone_id: str) -> None:
        self._dns_name, self._hosted_zone_id = dns_name, hosted_zone_id

    def bind(self, _record: route53.IRecordSet, _zone: route53.IHostedZone | None = None) -> route53.AliasRecordTargetConfig:
        return route53.AliasRecordTargetConfig(dns_name=self._dns_name, hosted_zone_id=self._hosted_zone_id)
