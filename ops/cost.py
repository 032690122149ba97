"""A monthly cost estimate per stack from a synthesized assembly and the price tables in ops/prices/.

Every line comes from a resource in a template (its type, size and count), a price row of its
region's table, and, where AWS bills by use, a named assumption (:class:`Assumptions`, each with a
default, any of them changed with ``--assume name=value``). A resource of a type AWS bills by the
hour that this estimate cannot price stops it with the type's name: a new kind of resource never
goes missing from the total silently.

    python -m ops.cost --assembly cdk.out --profile reference [--json cost.json] [--markdown cost.md]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from ops.assembly import Assembly, Node, number, props

PRICES = Path(__file__).resolve().parent / "prices"
HOURS_PER_MONTH = 730  # AWS's own convention in its pricing examples and calculator

# Types AWS bills for by the hour (or month) merely for existing. An assembly holding one that no
# rule below prices fails the estimate, so the total cannot quietly leave out a running cost.
HOURLY_TYPES = frozenset(
    {
        "AWS::EC2::Instance",
        "AWS::AutoScaling::AutoScalingGroup",
        "AWS::EKS::Nodegroup",
        "AWS::EKS::Cluster",
        "AWS::EC2::NatGateway",
        "AWS::EC2::EIP",
        "AWS::EC2::VPNConnection",
        "AWS::EC2::VPCEndpoint",
        "AWS::EC2::TransitGateway",
        "AWS::EC2::TransitGatewayAttachment",
        "AWS::EC2::TransitGatewayVpcAttachment",
        "AWS::EC2::ClientVpnEndpoint",
        "AWS::EC2::Host",
        "AWS::EC2::Volume",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::ElasticLoadBalancing::LoadBalancer",
        "AWS::RDS::DBInstance",
        "AWS::RDS::DBCluster",
        "AWS::DocDB::DBInstance",
        "AWS::Neptune::DBInstance",
        "AWS::ElastiCache::CacheCluster",
        "AWS::ElastiCache::ReplicationGroup",
        "AWS::ElastiCache::ServerlessCache",
        "AWS::MemoryDB::Cluster",
        "AWS::OpenSearchService::Domain",
        "AWS::Elasticsearch::Domain",
        "AWS::Redshift::Cluster",
        "AWS::MSK::Cluster",
        "AWS::AmazonMQ::Broker",
        "AWS::DMS::ReplicationInstance",
        "AWS::EMR::Cluster",
        "AWS::FSx::FileSystem",
        "AWS::DirectoryService::MicrosoftAD",
        "AWS::DirectoryService::SimpleAD",
        "AWS::NetworkFirewall::Firewall",
        "AWS::Route53Resolver::ResolverEndpoint",
        "AWS::GlobalAccelerator::Accelerator",
        "AWS::SageMaker::Endpoint",
        "AWS::Kinesis::Stream",
        "AWS::MWAA::Environment",
        "AWS::ACMPCA::CertificateAuthority",
        "AWS::KMS::Key",
        "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::Dashboard",
        "AWS::Route53::HealthCheck",
        "AWS::Route53::HostedZone",
        "AWS::WAFv2::WebACL",
        "AWS::SecretsManager::Secret",
    }
)


class Assumptions(BaseModel):
    """What a template cannot say: use-based volumes, each a named setting with its default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hours_per_month: Annotated[float, Field(gt=0, description="hours each always-on resource runs a month")] = HOURS_PER_MONTH
    auto_scaling_count: Annotated[
        str, Field(pattern="^(min|max)$", description="instances an Auto Scaling group runs: its min or max")
    ] = "min"
    nat_gb_per_gateway: Annotated[float, Field(ge=0, description="GB a NAT gateway processes a month")] = 100
    alb_lcu: Annotated[float, Field(ge=0, description="average LCUs of an Application Load Balancer")] = 2
    nlb_lcu: Annotated[float, Field(ge=0, description="average LCUs of a Network Load Balancer")] = 1
    endpoint_gb: Annotated[float, Field(ge=0, description="GB an interface endpoint processes a month")] = 10
    waf_requests_million: Annotated[float, Field(ge=0, description="million requests a web ACL inspects a month")] = 10
    log_ingest_gb_per_group: Annotated[float, Field(ge=0, description="GB a log group ingests a month")] = 2
    log_stored_gb_per_group: Annotated[float, Field(ge=0, description="GB a log group keeps stored")] = 12
    private_certificates: Annotated[
        int, Field(ge=0, description="certificates issued by a general-purpose private CA a month")
    ] = 20
    snapshot_ratio: Annotated[
        float, Field(ge=0, description="snapshot GB stored per provisioned GiB of a data volume (full copy plus increments)")
    ] = 1.0
    backup_gb_per_plan: Annotated[float, Field(ge=0, description="GB an AWS Backup plan keeps in warm storage")] = 200
    rds_backup_ratio: Annotated[
        float, Field(ge=0, description="backup GB beyond the free allowance per allocated GiB of a database")
    ] = 1.0
    karpenter_nodes_per_pool: Annotated[int, Field(ge=0, description="nodes a Karpenter node pool runs on average")] = 2
    karpenter_instance_type: Annotated[str, Field(description="instance type priced for a Karpenter node")] = "m7i.xlarge"
    spot_discount: Annotated[
        float, Field(ge=0, lt=1, description="Spot discount off on-demand (an estimate: Spot prices move)")
    ] = 0.6


class MissingPrice(Exception):
    """A resource AWS bills for that the price tables cannot price."""


@dataclass(frozen=True)
class Line:
    stack: str
    region: str
    service: str
    item: str
    quantity: float
    unit: str
    unit_price: float
    monthly: float
    estimate: bool  # True where the quantity is an assumption or the price moves (Spot)


@dataclass
class Estimate:
    profile: str
    retrieved: dict[str, str]
    lines: list[Line]
    assumptions: Assumptions
    seconds: float = 0.0

    @property
    def total(self) -> float:
        return round(sum(line.monthly for line in self.lines), 2)

    def by_stack(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for line in self.lines:
            totals[line.stack] = totals.get(line.stack, 0.0) + line.monthly
        return {k: round(v, 2) for k, v in sorted(totals.items())}

    def instance_counts(self) -> dict[str, float]:
        """Instances by type, as the EC2 lines count them (not the assumed Karpenter nodes)."""
        counts: dict[str, float] = {}
        for line in self.lines:
            if line.service == "EC2" and line.unit == "instance-month" and "Karpenter" not in line.item:
                counts[line.item.split()[0]] = counts.get(line.item.split()[0], 0) + line.quantity
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "kind": "estimate",
            "currency": "USD",
            "prices_retrieved": self.retrieved,
            "assumptions": self.assumptions.model_dump(),
            "total_monthly": self.total,
            "by_stack": self.by_stack(),
            "lines": [asdict(line) for line in self.lines],
        }


def load_prices(region: str, folder: Path = PRICES) -> dict[str, Any]:
    path = folder / f"{region}.json"
    if not path.exists():
        raise MissingPrice(f"no price table for region {region}: add {path}")
    return dict(json.loads(path.read_text()))


class _Pricer:
    def __init__(self, assembly: Assembly, prices: Mapping[str, Mapping[str, Any]], assume: Assumptions) -> None:
        self.assembly = assembly
        self.prices = prices
        self.assume = assume
        self.lines: list[Line] = []
        self.handled: set[Node] = set()

    # -- helpers ----------------------------------------------------------------------------------

    def price(self, node: Node, key: str, sub: str | None = None) -> float:
        region = self.assembly.region(node)
        table = self.prices[region]
        value = table.get(key)
        if sub is not None:
            value = value.get(sub) if isinstance(value, dict) else None
        if not isinstance(value, (int, float)):
            what = f"{key}[{sub}]" if sub else key
            kind = self.assembly.resource(node)["Type"]
            raise MissingPrice(f"{kind} {node.stack}/{node.logical_id}: no price row {what} in ops/prices/{region}.json")
        return float(value)

    def add(
        self, node: Node, service: str, item: str, quantity: float, unit: str, unit_price: float, *, estimate: bool = False
    ) -> None:
        hours = self.assume.hours_per_month
        per_month = unit_price * (hours if unit.endswith("-hour") else 1)
        monthly = round(quantity * per_month, 2)
        self.lines.append(
            Line(
                node.stack,
                self.assembly.region(node),
                service,
                item,
                quantity,
                unit.replace("-hour", "-month"),
                round(per_month, 6),
                monthly,
                estimate,
            )
        )
        self.handled.add(node)

    # -- compute ----------------------------------------------------------------------------------

    def launch_template(self, stack: str, spec: Any) -> dict[str, Any]:
        if not isinstance(spec, dict):
            return {}
        node = self.assembly.node(stack, spec.get("LaunchTemplateId") or spec.get("Id"))
        if node is None and "LaunchTemplateName" in spec:
            name = spec["LaunchTemplateName"]
            node = next(
                (n for n, r in self.assembly.resources("AWS::EC2::LaunchTemplate") if props(r).get("LaunchTemplateName") == name),
                None,
            )
        return dict(props(self.assembly.resource(node)).get("LaunchTemplateData", {})) if node else {}

    def instances(
        self, node: Node, instance_type: Any, count: float, block_devices: Any, *, spot: bool = False, what: str = ""
    ) -> None:
        if not isinstance(instance_type, str):
            raise MissingPrice(f"{node.stack}/{node.logical_id}: instance type not in the template")
        hourly = self.price(node, "ec2_instance_hour", instance_type)
        if spot:
            hourly *= 1 - self.assume.spot_discount
        item = f"{instance_type} {'Spot ' if spot else ''}{what}".strip()
        self.add(node, "EC2", item, count, "instance-month", hourly * self.assume.hours_per_month, estimate=spot)
        for device in block_devices or []:
            ebs = device.get("Ebs") if isinstance(device, dict) else None
            if ebs:
                self.volume(
                    node,
                    ebs.get("VolumeType", "gp3"),
                    number(ebs.get("VolumeSize"), 8),
                    ebs.get("Iops"),
                    ebs.get("Throughput"),
                    count,
                    f"root of {item}",
                )

    def volume(self, node: Node, kind: str, size: int, iops: Any, throughput: Any, count: float, what: str) -> None:
        ebs = f"{kind}_gib_month"
        self.add(node, "EBS", f"{kind} {size} GiB {what}".strip(), count * size, "GiB-month", self.price(node, "ebs", ebs))
        if kind in ("io1", "io2") and iops is not None:
            self.add(
                node,
                "EBS",
                f"{kind} {number(iops)} IOPS {what}".strip(),
                count * number(iops),
                "IOPS-month",
                self.price(node, "ebs", f"{kind}_iops_month"),
            )
        if kind == "gp3" and iops is not None and number(iops) > 3000:
            self.add(
                node,
                "EBS",
                f"gp3 IOPS above 3000 {what}".strip(),
                count * (number(iops) - 3000),
                "IOPS-month",
                self.price(node, "ebs", "gp3_iops_month"),
            )
        if kind == "gp3" and throughput is not None and number(throughput) > 125:
            self.add(
                node,
                "EBS",
                f"gp3 MiB/s above 125 {what}".strip(),
                count * (number(throughput) - 125),
                "MiBps-month",
                self.price(node, "ebs", "gp3_mibps_month"),
            )

    def compute(self) -> None:
        for node, r in self.assembly.resources("AWS::EC2::Instance"):
            p = props(r)
            template = self.launch_template(node.stack, p.get("LaunchTemplate"))
            devices = p.get("BlockDeviceMappings") or template.get("BlockDeviceMappings")
            self.instances(node, p.get("InstanceType") or template.get("InstanceType"), 1, devices, what=self._name(node))
        for node, r in self.assembly.resources("AWS::AutoScaling::AutoScalingGroup"):
            p = props(r)
            spec = p.get("LaunchTemplate") or p.get("MixedInstancesPolicy", {}).get("LaunchTemplate", {}).get(
                "LaunchTemplateSpecification"
            )
            template = self.launch_template(node.stack, spec)
            count = number(p.get("MinSize" if self.assume.auto_scaling_count == "min" else "MaxSize"))
            if count:
                self.instances(
                    node, template.get("InstanceType"), count, template.get("BlockDeviceMappings"), what=self._name(node)
                )
            self.handled.add(node)
        for node, r in self.assembly.resources("AWS::EKS::Nodegroup"):
            p = props(r)
            template = self.launch_template(node.stack, p.get("LaunchTemplate"))
            scaling = p.get("ScalingConfig", {})
            count = number(scaling.get("DesiredSize", scaling.get("MinSize")))
            devices = template.get("BlockDeviceMappings") or [{"Ebs": {"VolumeType": "gp2", "VolumeSize": p.get("DiskSize", 20)}}]
            types = p.get("InstanceTypes") or [template.get("InstanceType")]
            self.instances(node, types[0], count, devices, spot=p.get("CapacityType") == "SPOT", what=self._name(node))
        for node, r in self.assembly.resources("AWS::EC2::Volume"):
            p = props(r)
            self.volume(
                node, p.get("VolumeType", "gp2"), number(p.get("Size")), p.get("Iops"), p.get("Throughput"), 1, self._name(node)
            )
        self.karpenter()

    def karpenter(self) -> None:
        """Karpenter node pools live in Kubernetes manifests; their nodes are an assumption."""
        for node, r in self.assembly.resources():
            manifest = props(r).get("Manifest")
            if not (isinstance(manifest, str) and '"NodePool"' in manifest):
                continue
            try:
                objects = json.loads(manifest)
            except ValueError:
                continue
            for obj in objects if isinstance(objects, list) else [objects]:
                if not (isinstance(obj, dict) and obj.get("kind") == "NodePool"):
                    continue
                requirements = obj.get("spec", {}).get("template", {}).get("spec", {}).get("requirements", [])
                capacity = next(
                    (q.get("values", []) for q in requirements if q.get("key") == "karpenter.sh/capacity-type"), ["on-demand"]
                )
                spot = "spot" in capacity and "on-demand" not in capacity
                hourly = self.price(node, "ec2_instance_hour", self.assume.karpenter_instance_type) * (
                    1 - self.assume.spot_discount if spot else 1
                )
                name = obj.get("metadata", {}).get("name", "pool")
                self.lines.append(
                    Line(
                        node.stack,
                        self.assembly.region(node),
                        "EC2",
                        f"{self.assume.karpenter_instance_type} {'Spot ' if spot else ''}Karpenter pool {name} (assumed nodes)",
                        self.assume.karpenter_nodes_per_pool,
                        "instance-month",
                        round(hourly * self.assume.hours_per_month, 6),
                        round(self.assume.karpenter_nodes_per_pool * hourly * self.assume.hours_per_month, 2),
                        True,
                    )
                )

    # -- network ----------------------------------------------------------------------------------

    def network(self) -> None:
        a = self.assume
        for node, _ in self.assembly.resources("AWS::EC2::NatGateway"):
            self.add(node, "VPC", "NAT gateway", 1, "gateway-hour", self.price(node, "nat_gateway_hour"))
            self.add(
                node,
                "VPC",
                "NAT data processed (assumed)",
                a.nat_gb_per_gateway,
                "GB",
                self.price(node, "nat_gateway_gb"),
                estimate=True,
            )
        for node, _ in self.assembly.resources("AWS::EC2::EIP"):
            self.add(node, "VPC", "public IPv4 address", 1, "address-hour", self.price(node, "public_ipv4_hour"))
        for node, _ in self.assembly.resources("AWS::EC2::VPNConnection"):
            self.add(node, "VPC", "site-to-site VPN connection", 1, "connection-hour", self.price(node, "vpn_connection_hour"))
        for node, r in self.assembly.resources("AWS::EC2::VPCEndpoint"):
            p = props(r)
            if p.get("VpcEndpointType", "Gateway") != "Interface":
                self.handled.add(node)  # gateway endpoints (S3, DynamoDB) cost nothing
                continue
            service = (
                str(p.get("ServiceName", "")).rsplit(".", 1)[-1] if isinstance(p.get("ServiceName"), str) else self._name(node)
            )
            zones = max(1, len(self.assembly.subnet_list(node.stack, p.get("SubnetIds", []))))
            self.add(
                node,
                "PrivateLink",
                f"interface endpoint {service} x {zones} AZ",
                zones,
                "endpoint-AZ-hour",
                self.price(node, "interface_endpoint_az_hour"),
            )
            self.add(
                node,
                "PrivateLink",
                f"endpoint {service} data (assumed)",
                a.endpoint_gb,
                "GB",
                self.price(node, "interface_endpoint_gb"),
                estimate=True,
            )
        for node, r in self.assembly.resources("AWS::ElasticLoadBalancingV2::LoadBalancer"):
            kind = "nlb" if props(r).get("Type") == "network" else "alb"
            if props(r).get("Type") == "gateway":
                raise MissingPrice(f"{node.stack}/{node.logical_id}: Gateway Load Balancer has no price row")
            self.add(node, "ELB", f"{kind.upper()} {self._name(node)}", 1, "LB-hour", self.price(node, f"{kind}_hour"))
            lcu = a.nlb_lcu if kind == "nlb" else a.alb_lcu
            self.add(
                node,
                "ELB",
                f"{kind.upper()} LCUs (assumed) {self._name(node)}",
                lcu,
                "LCU-hour",
                self.price(node, f"{kind}_lcu_hour"),
                estimate=True,
            )

    # -- managed services ---------------------------------------------------------------------

    def search_domain(self, node: Node, p: Mapping[str, Any]) -> None:
        """An OpenSearch Service domain: its data and dedicated master nodes by the hour (a standby zone's nodes are
        among the data nodes and billed alike), and each data node's volume."""
        cluster = p.get("ClusterConfig", {})
        data_type, data_nodes = str(cluster.get("InstanceType")), number(cluster.get("InstanceCount"), 1)
        self.add(node, "OpenSearch", f"{data_type} data node", data_nodes, "instance-hour",
                 self.price(node, "opensearch_instance_hour", data_type))  # fmt: skip
        if str(cluster.get("DedicatedMasterEnabled", "false")).lower() == "true":
            master_type = str(cluster.get("DedicatedMasterType"))
            self.add(node, "OpenSearch", f"{master_type} dedicated master", number(cluster.get("DedicatedMasterCount"), 3),
                     "instance-hour", self.price(node, "opensearch_instance_hour", master_type))  # fmt: skip
        ebs = p.get("EBSOptions", {})
        if str(ebs.get("EBSEnabled", "false")).lower() == "true":
            kind, size = str(ebs.get("VolumeType", "gp2")), number(ebs.get("VolumeSize"), 10)
            self.add(node, "OpenSearch", f"{kind} {size} GiB per data node", data_nodes * size, "GiB-month",
                     self.price(node, f"opensearch_{kind}_gib_month"))  # fmt: skip

    def services(self) -> None:
        a = self.assume
        for node, _ in self.assembly.resources("AWS::EKS::Cluster"):
            self.add(node, "EKS", "control plane (standard support)", 1, "cluster-hour", self.price(node, "eks_cluster_hour"))
        for node, r in self.assembly.resources("AWS::RDS::DBInstance"):
            p = props(r)
            engine = str(p.get("Engine", ""))
            if engine not in ("postgres",):
                raise MissingPrice(f"{node.stack}/{node.logical_id}: RDS engine {engine!r} has no price rows")
            copies = 2 if str(p.get("MultiAZ", "false")).lower() == "true" else 1
            klass = str(p.get("DBInstanceClass"))
            label = "Multi-AZ" if copies == 2 else "single-AZ"
            self.add(
                node,
                "RDS",
                f"PostgreSQL {klass} {label}",
                copies,
                "instance-hour",
                self.price(node, "rds_postgres_instance_hour", klass),
            )
            storage = number(p.get("AllocatedStorage"))
            self.add(
                node,
                "RDS",
                f"storage {p.get('StorageType', 'gp2')} {storage} GiB {label}",
                storage * copies,
                "GiB-month",
                self.price(node, "rds_gp3_gib_month"),
            )
            self.add(
                node,
                "RDS",
                "backup storage (assumed)",
                storage * a.rds_backup_ratio,
                "GiB-month",
                self.price(node, "rds_backup_gib_month"),
                estimate=True,
            )
        for node, r in self.assembly.resources("AWS::OpenSearchService::Domain"):
            self.search_domain(node, props(r))
        for node, _ in self.assembly.resources("AWS::KMS::Key"):
            self.add(node, "KMS", "customer managed key", 1, "key-month", self.price(node, "kms_key_month"))
        for node, r in self.assembly.resources("AWS::CloudWatch::Alarm"):
            metrics = len(props(r).get("Metrics", [])) or 1
            self.add(node, "CloudWatch", "alarm", metrics, "alarm-metric-month", self.price(node, "cloudwatch_alarm_month"))
        for node, _ in self.assembly.resources("AWS::CloudWatch::Dashboard"):
            self.add(node, "CloudWatch", "dashboard", 1, "dashboard-month", self.price(node, "cloudwatch_dashboard_month"))
        for node, _ in self.assembly.resources("AWS::Logs::LogGroup"):
            self.add(
                node,
                "CloudWatch",
                "logs ingested (assumed)",
                a.log_ingest_gb_per_group,
                "GB",
                self.price(node, "cloudwatch_logs_ingest_gb"),
                estimate=True,
            )
            self.add(
                node,
                "CloudWatch",
                "logs stored (assumed)",
                a.log_stored_gb_per_group,
                "GB-month",
                self.price(node, "cloudwatch_logs_storage_gb_month"),
                estimate=True,
            )
        for node, _ in self.assembly.resources("AWS::Route53::HealthCheck"):
            self.add(node, "Route 53", "health check", 1, "check-month", self.price(node, "route53_health_check_month"))
        for node, _ in self.assembly.resources("AWS::Route53::HostedZone"):
            self.add(node, "Route 53", "hosted zone", 1, "zone-month", self.price(node, "route53_hosted_zone_month"))
        for node, r in self.assembly.resources("AWS::WAFv2::WebACL"):
            self.add(node, "WAF", "web ACL", 1, "ACL-month", self.price(node, "waf_web_acl_month"))
            self.add(node, "WAF", "rules", len(props(r).get("Rules", [])), "rule-month", self.price(node, "waf_rule_month"))
            self.add(
                node,
                "WAF",
                "requests (assumed)",
                a.waf_requests_million,
                "million requests",
                self.price(node, "waf_requests_million"),
                estimate=True,
            )
        for node, r in self.assembly.resources("AWS::ACMPCA::CertificateAuthority"):
            short = props(r).get("UsageMode") == "SHORT_LIVED_CERTIFICATE"
            self.add(
                node,
                "Private CA",
                "CA, short-lived mode" if short else "CA, general-purpose mode",
                1,
                "CA-month",
                self.price(node, "private_ca_short_lived_month" if short else "private_ca_general_purpose_month"),
            )
            if not short:
                self.add(
                    node,
                    "Private CA",
                    "certificates issued (assumed)",
                    a.private_certificates,
                    "certificate",
                    self.price(node, "private_ca_certificate"),
                    estimate=True,
                )
        for node, _ in self.assembly.resources("AWS::SecretsManager::Secret"):
            self.add(node, "Secrets Manager", "secret", 1, "secret-month", self.price(node, "secrets_manager_secret_month"))

    def backups(self) -> None:
        a = self.assume
        for node, _r in self.assembly.resources("AWS::DLM::LifecyclePolicy"):
            # The snapshot policy covers the region's data volumes: price what they would keep.
            region = self.assembly.region(node)
            gib = sum(
                number(props(v).get("Size"))
                for n, v in self.assembly.resources("AWS::EC2::Volume")
                if self.assembly.region(n) == region and props(v).get("VolumeType") in ("io1", "io2")
            )
            self.add(
                node,
                "EBS",
                "snapshots of the data volumes (assumed ratio)",
                gib * a.snapshot_ratio,
                "GiB-month",
                self.price(node, "ebs", "snapshot_gib_month"),
                estimate=True,
            )
        for node, _ in self.assembly.resources("AWS::Backup::BackupPlan"):
            self.add(
                node,
                "AWS Backup",
                "warm storage (assumed)",
                a.backup_gb_per_plan,
                "GB-month",
                self.price(node, "backup_warm_gib_month"),
                estimate=True,
            )

    @staticmethod
    def _name(node: Node) -> str:
        return (
            node.logical_id[:-8]
            if len(node.logical_id) > 8 and node.logical_id[-8:].isalnum() and any(c.isdigit() for c in node.logical_id[-8:])
            else node.logical_id
        )

    def check_unpriced(self) -> None:
        unpriced = sorted(
            f"{r['Type']} {n.stack}/{n.logical_id}"
            for n, r in self.assembly.resources()
            if r.get("Type") in HOURLY_TYPES and n not in self.handled
        )
        if unpriced:
            raise MissingPrice("resources AWS bills by the hour with no price rule: " + "; ".join(unpriced))


def estimate(
    assembly: Assembly,
    profile: str,
    assumptions: Assumptions | None = None,
    prices: Mapping[str, Mapping[str, Any]] | None = None,
) -> Estimate:
    started = time.perf_counter()
    assume = assumptions or Assumptions()
    regions = sorted({s.region for s in assembly.stacks.values()})
    tables = dict(prices) if prices is not None else {r: load_prices(r) for r in regions}
    missing = [r for r in regions if r not in tables]
    if missing:
        raise MissingPrice(f"no price table for region(s) {', '.join(missing)}")
    pricer = _Pricer(assembly, tables, assume)
    pricer.compute()
    pricer.network()
    pricer.services()
    pricer.backups()
    pricer.check_unpriced()
    retrieved = {r: str(tables[r].get("retrieved", "unknown")) for r in regions}
    return Estimate(profile, retrieved, pricer.lines, assume, time.perf_counter() - started)


# --- output ------------------------------------------------------------------------------------


def _money(value: float) -> str:
    return f"${value:,.2f}"


def summary_rows(est: Estimate) -> Iterator[tuple[str, str, float]]:
    """(stack, service, monthly) summed over lines."""
    sums: dict[tuple[str, str], float] = {}
    for line in est.lines:
        sums[(line.stack, line.service)] = sums.get((line.stack, line.service), 0.0) + line.monthly
    for (stack, service), value in sorted(sums.items()):
        yield stack, service, round(value, 2)


def render(est: Estimate) -> str:
    dates = ", ".join(f"{r} {d}" for r, d in est.retrieved.items())
    lines = [
        f"## Profile `{est.profile}`: {_money(est.total)} a month (estimate)",
        "",
        f"An **estimate**, not a quote: list prices in USD (price tables retrieved {dates}), "
        f"{est.assumptions.hours_per_month:g} hours a month, before taxes, free tiers and discounts. "
        "Lines marked * rest on an assumption (below) or on Spot prices, which move.",
        "",
        "| Stack | Monthly |",
        "|---|---:|",
    ]
    lines += [f"| {stack} | {_money(value)} |" for stack, value in est.by_stack().items()]
    lines += [f"| **Total** | **{_money(est.total)}** |", "", "| Stack | Service | Monthly |", "|---|---|---:|"]
    lines += [f"| {stack} | {service} | {_money(value)} |" for stack, service, value in summary_rows(est)]
    lines += [
        "",
        "<details><summary>Every line</summary>",
        "",
        "| Stack | Service | Item | Quantity | Unit | Unit price | Monthly |",
        "|---|---|---|---:|---|---:|---:|",
    ]
    grouped: dict[tuple[str, str, str, str, float, bool], float] = {}
    totals: dict[tuple[str, str, str, str, float, bool], float] = {}
    for line in est.lines:
        key = (line.stack, line.service, line.item, line.unit, line.unit_price, line.estimate)
        grouped[key] = grouped.get(key, 0) + line.quantity
        totals[key] = totals.get(key, 0) + line.monthly
    for key, quantity in grouped.items():
        stack, service, item, unit, price, is_estimate = key
        lines.append(
            f"| {stack} | {service} | {item}{' *' if is_estimate else ''} | {quantity:g} | {unit} | {price:g} "
            f"| {_money(totals[key])} |"
        )
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def render_assumptions(assume: Assumptions) -> str:
    lines = ["| Assumption | Default | Meaning |", "|---|---|---|"]
    for name, info in Assumptions.model_fields.items():
        lines.append(f"| `{name}` | {getattr(assume, name)} | {info.description} |")
    return "\n".join(lines) + "\n"


def parse_assumptions(pairs: Sequence[str]) -> Assumptions:
    values: dict[str, Any] = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if name not in Assumptions.model_fields:
            raise SystemExit(f"--assume {name}: unknown; allowed: {', '.join(Assumptions.model_fields)}")
        values[name] = value
    return Assumptions.model_validate(values)


README_BEGIN = "<!-- cost estimate: written by make report -->"
README_END = "<!-- end of cost estimate -->"


def write_docs(output: Path, assemblies: Sequence[tuple[str, Path]], assume: Assumptions, readme: Path | None = None) -> int:
    """docs/cost.md and docs/cost.json for each ``(profile, folder)``, and the totals' table in the README."""
    estimates = [estimate(Assembly.load(folder), profile, assume) for profile, folder in assemblies]
    dates = sorted({d for e in estimates for d in e.retrieved.values()})
    parts = [
        "# Monthly cost estimate",
        "",
        "Generated by `make report` (`python -m ops.cost`) from the synthesized templates of each profile and the",
        f"price tables in `ops/prices/` (list prices retrieved {', '.join(dates)}; each table names its sources, and",
        "which rows were checked against a page and which were not); do not edit by hand. This is an **estimate**:",
        "on-demand list prices in USD before taxes, free tiers, Savings Plans and Reserved Instances, with the",
        "use-based quantities (data processed, log volume, requests, snapshots) taken from the assumptions below.",
        "Change one with `python -m ops.cost --assume NAME=VALUE`.",
        "",
        "| Profile | Monthly estimate |",
        "|---|---:|",
        *[f"| `{e.profile}` | {_money(e.total)} |" for e in estimates],
        "",
        "## Assumptions",
        "",
        render_assumptions(assume),
        "Not in the estimate: data transfer between zones and regions (mirror traffic to the DR region is",
        "billed per GB), internet egress, S3 storage and requests, Lambda and Step Functions invocations,",
        "KMS and Secrets Manager API requests, CodeBuild minutes, and load balancers the AWS Load Balancer",
        "Controller creates from Kubernetes services at run time.",
        "",
        *[render(e) for e in estimates],
    ]
    output.write_text("\n".join(parts))
    output.with_suffix(".json").write_text(json.dumps([e.to_json() for e in estimates], indent=2) + "\n")
    print(f"wrote {output} and {output.with_suffix('.json')}")
    if readme is not None:
        text = readme.read_text()
        if README_BEGIN in text and README_END in text:
            head, rest = text.split(README_BEGIN, 1)
            _, tail = rest.split(README_END, 1)
            table = "\n".join(
                [
                    "",
                    "",
                    f"| Profile | Monthly estimate (USD, list prices of {', '.join(dates)}) |",
                    "|---|---:|",
                    *[f"| `{e.profile}` | {_money(e.total)} |" for e in estimates],
                    "",
                    "",
                ]
            )
            readme.write_text(head + README_BEGIN + table + README_END + tail)
            print(f"updated the cost table in {readme}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Monthly cost estimate of a synthesized assembly.")
    parser.add_argument("--assembly", type=Path, default=Path("cdk.out"))
    parser.add_argument("--profile", default="reference")
    parser.add_argument("--assume", action="append", default=[], metavar="NAME=VALUE", help="change one assumption")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--docs", type=Path, help="write this markdown page (and its .json) for the PROFILE=FOLDER pairs")
    parser.add_argument("--readme", type=Path, help="with --docs: rewrite the cost table between the markers in this README")
    parser.add_argument("pairs", nargs="*", metavar="PROFILE=FOLDER")
    args = parser.parse_args(argv)
    try:
        if args.docs:
            from ops.az_loss import profile_folders

            return write_docs(args.docs, profile_folders(args.pairs), parse_assumptions(args.assume), args.readme)
        est = estimate(Assembly.load(args.assembly), args.profile, parse_assumptions(args.assume))
    except MissingPrice as error:
        print(f"cost: {error}", file=sys.stderr)
        return 2
    for stack, value in est.by_stack().items():
        print(f"{stack:32} {_money(value):>14}")
    print(
        f"{'total (estimate, prices of ' + ', '.join(est.retrieved.values()) + ')':32} {_money(est.total):>14}"
        f"   [{est.seconds * 1000:.0f} ms]"
    )
    if args.json:
        args.json.write_text(json.dumps(est.to_json(), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
