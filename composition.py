"""How each stack is given its settings and its neighbours' values; ``app.py`` says in which order.

Each method adds one step of the architecture (README, "Layout"): the stack or stacks of that step,
named ``<prefix>-<name>``, in the primary or the DR region, and recorded by role. Stacks never see
one another: each method passes the small typed values of ``components/links.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms

from components.account_trail import NONCURRENT_LOG_DAYS as TRAIL_NONCURRENT_DAYS
from components.address_plan import tier_block
from components.bucket_replication import ReplicaSpec, ReplicaTarget, replica_bucket_name
from components.cost_tags import PlainResourceTags
from components.encryption_key import KeyAdministration
from components.host_certificate import CertificateAuthority, certificate_authority
from components.links import DrLink, DrMember, MirrorLink, NetworkRefs, PrimaryNetwork
from components.session_logging import SessionLoggingGrants
from components.visitors import visit_each
from config import NetworkSettings, Settings
from stacks.app_tier import AppTierStack
from stacks.audit import ACCESS_LOG_RETENTION_DAYS as AUDIT_ACCESS_LOG_DAYS
from stacks.audit import AuditStack
from stacks.data_tier import DataTierStack
from stacks.dr_dns import DrDnsStack
from stacks.dr_mirror_set import DrMirrorSetStack
from stacks.dr_region import DrRegionStack
from stacks.dr_replicas import DrReplicasStack
from stacks.dr_web import DrWebStack
from stacks.eks import ACCESS_LOG_RETENTION_DAYS as EKS_ACCESS_LOG_DAYS
from stacks.eks import EksStack
from stacks.log_search import LogSearchStack
from stacks.mirror_set import MirrorSetStack
from stacks.network import NetworkStack
from stacks.pki import PkiStack

DR_NETWORK = "IRIS on AWS, DR region: VPC, subnets per tier, security groups, NACLs, endpoints, flow logs"
EKS_NETWORK = "Mendix on EKS: its own VPC, apart from the IRIS VPCs (no peering, no route to them), endpoints, flow logs"
StackT = TypeVar("StackT", bound=cdk.Stack)


@dataclass(frozen=True)
class DrSide:
    """The DR region as far as it is built before the primary data tier: its network, shared stack and members."""

    network: NetworkRefs
    region: DrRegionStack
    link: DrLink


class Composer:
    """Adds the stacks of ``settings`` to ``app``; ``stacks`` holds them by role."""

    def __init__(self, app: cdk.App, settings: Settings) -> None:
        self.app, self.settings, self.stacks = app, settings, dict[str, cdk.Stack]()
        s, dr = settings, settings.dr
        for region, zones in ((s.region, s.availability_zones), *(((dr.region, dr.availability_zones),) if dr else ())):
            # AZs from settings: a construct that asks for them reads this key instead of calling AWS.
            app.node.set_context(f"availability-zones:account={s.account}:region={region}", list(zones))
        app.node.set_context(f"availability-zones:account={s.eks_account}:region={s.region}", list(s.availability_zones))
        self._ca: CertificateAuthority | None = None
        self.replicas: dict[str, ReplicaTarget] = {}

    def add(
        self, role: str, kind: type[StackT], name: str, *, in_dr: bool = False, account: str | None = None, **kwargs: Any
    ) -> StackT:
        """``account``: another account than the deployment's (the Mendix platform's own, ``eks.account``)."""
        s = self.settings
        region = s.dr.region if in_dr and s.dr else s.region
        # Stacks of two regions exchange values through CDK cross-region references.
        stack = kind(
            self.app,
            f"{s.prefix}-{name}",
            env=cdk.Environment(account=account or s.account, region=region),
            cross_region_references=s.dr is not None,
            **kwargs,
        )
        self.stacks[role] = stack
        if kwargs.get("access_log_replica") or (kwargs.get("replicas") and role != "dr_replicas"):
            # A bucket replicates into its DR copy by name: that copy must exist first.
            stack.add_dependency(self.stacks["dr_replicas"])
        return stack

    def pki(self) -> CertificateAuthority:
        """The hosts' CA: an existing one (``tls.ca_arn``), or the root CA of a Pki stack; every host stack reads it."""
        s = self.settings
        pki = self.add("pki", PkiStack, "Pki", termination_protection=True, settings=s.tls) if s.tls.ca_arn is None else None
        self._ca = certificate_authority(
            s.tls, region=s.region, vip_zone_name=s.app.private_zone_name, created_arn=pki.ca_arn if pki else None
        )
        return self._ca

    @property
    def ca(self) -> CertificateAuthority:
        if self._ca is None:
            raise RuntimeError("Composer.pki() comes first: every stack with hosts reads the CA")
        return self._ca

    def dr_replicas(self) -> None:
        """The DR region's copies of the primary region's buckets that ``dr.replicate_buckets`` names, first:
        the stacks holding the sources name their copies (a reference across regions goes one way)."""
        s, dr = self.settings, self.settings.dr
        if dr is None or not dr.replicate_buckets:
            return
        wanted, trail, eks = set(dr.replicate_buckets), s.audit.trail, s.eks.enabled

        def spec(name: str, short: str, **kwargs: Any) -> ReplicaSpec:
            return ReplicaSpec(name, replica_bucket_name(s.prefix, short, s.account, dr.region), **kwargs)

        specs = [
            *([spec("Trail", "trail", kms_encrypted=True, object_lock_days=s.audit.object_lock_days,
                    noncurrent_days=TRAIL_NONCURRENT_DAYS)] if "trail" in wanted and trail else []),
            *([spec("MendixFiles", "files", kms_encrypted=True, noncurrent_days=s.eks.file_storage_noncurrent_expiry_days)]
              if "mendix_files" in wanted and eks else []),
        ]  # fmt: skip
        if "access_logs" in wanted:
            # The access logs of the primary region's buckets and load balancer, SSE-S3 as log delivery writes them.
            logs = {("NetworkAccessLogs", "net-logs"): s.audit.session_log_retention_days,
                    ("AppTierAccessLogs", "web-logs"): s.app.log_retention_days}  # fmt: skip
            logs |= {("AuditAccessLogs", "audit-logs"): AUDIT_ACCESS_LOG_DAYS} if trail else {}
            logs |= {("EksAccessLogs", "eks-logs"): EKS_ACCESS_LOG_DAYS} if eks else {}
            specs += [spec(name, short, kms_encrypted=False, expiration_days=days) for (name, short), days in logs.items()]
        stack = self.add("dr_replicas", DrReplicasStack, "DrReplicas", in_dr=True, termination_protection=True, replicas=specs)
        self.replicas = stack.targets

    def network(self) -> NetworkStack:
        s, dr, hybrid = self.settings, self.settings.dr, self.settings.hybrid
        # The hybrid model: the on-premises members each alone, and the VIP's xDBC clients over the VPN.
        onprem: dict[str, Any] = (
            {}
            if hybrid is None
            else dict(
                onprem_members=[f.address for m in hybrid.mirrors for f in m.failover_members],
                vip_clients=hybrid.xdbc_clients,
            )
        )
        return self.add(
            "network", NetworkStack, "Network", settings=s.network, availability_zones=s.availability_zones,
            health_check_port=s.data.health_check_port, mirror_peer_cidrs=[tier_block(dr.vpc_cidr, "data")] if dr else [],
            web_to_data=s.app.web_to_data if hybrid is None else hybrid.web_tier,
            # The hosts' CA is this region's; the DR region's hosts reach its endpoint over the peering.
            private_ca_clients=[tier_block(dr.vpc_cidr, t) for t in dr.ca_client_tiers()] if dr else [],
            **onprem,
            audit=s.audit, project_tag=self._project_tag(), access_log_replica=self.replicas.get("NetworkAccessLogs"),
        )  # fmt: skip

    def dr_members(self, primary: NetworkStack) -> DrSide | None:
        """The DR region's network, shared stack and a stack per DR member (none without a DR region)."""
        s, dr = self.settings, self.settings.dr
        if dr is None:
            return None
        network = self.add(
            "dr_network", NetworkStack, "DrNetwork", in_dr=True, description=DR_NETWORK,
            settings=NetworkSettings(vpc_cidr=dr.vpc_cidr, nat_gateways=dr.nat_gateways,
                                     flow_log_retention_days=dr.flow_log_retention_days),
            availability_zones=dr.availability_zones, health_check_port=s.data.health_check_port,
            mirror_peer_cidrs=[tier_block(s.network.vpc_cidr, "data")],
            # The DR region's Web Gateway serves from its ECP servers, or without them from its DR members.
            web_to_data=dr.ecp_app_servers == 0,
            audit=s.audit, project_tag=self._project_tag(),
            remote_private_ca=tier_block(s.network.vpc_cidr, "app"),  # the hosts' CA endpoint, over the peering
        )  # fmt: skip
        region = self.add(
            "dr_region", DrRegionStack, "DrRegion", in_dr=True, termination_protection=True, network=network.refs,
            primary=PrimaryNetwork(vpc=primary.vpc, region=s.region, vpc_cidr=s.network.vpc_cidr), data=s.data,
            backup_copies=s.eks.enabled, vault_lock=s.audit.vault_lock,
            ca=self.ca, notifications=s.ops.notifications, ca_client_tiers=dr.ca_client_tiers(),
        )  # fmt: skip
        members = {
            m.name: self.add(
                f"dr_mirror_{m.name}", DrMirrorSetStack, f"DrMirror-{m.name}", in_dr=True, termination_protection=True,
                network=network.refs, base=region.base, settings=m, data_settings=s.data,
                instance_type=dr.instance_type(m), members=dr.async_members_per_set,
                first_zone=dr.mirror_sets.index(m.name), dns=dr.dns,
            ).link
            for m in s.data.mirror_sets
            if m.name in dr.mirror_sets
        }  # fmt: skip
        return DrSide(network.refs, region, region.link(members))

    def hybrid_members(self, network: NetworkStack) -> None:
        """The hybrid model: the failover pairs stay on-premises, and this region holds their async
        members (the DR region's shared stack and a stack per mirror set, without peering or DNS
        failover) and, when asked for, a web tier on them."""
        s, hybrid = self.settings, self.settings.hybrid
        assert hybrid is not None
        region = self.add(
            "dr_region", DrRegionStack, "DrRegion", termination_protection=True, network=network.refs, primary=None,
            data=s.data, ca=self.ca, notifications=s.ops.notifications,
        )  # fmt: skip
        members = {
            m.name: self.add(
                f"dr_mirror_{m.name}", DrMirrorSetStack, f"DrMirror-{m.name}", termination_protection=True,
                network=network.refs, base=region.base, settings=m, data_settings=s.data, instance_type=m.instance_type,
                members=hybrid.async_members_per_set, first_zone=i, dns=None, onprem=hybrid.mirror_of(m.name),
            ).link
            for i, m in enumerate(s.data.mirror_sets)
        }  # fmt: skip
        if hybrid.web_tier:
            self.add(
                "dr_web", DrWebStack, "DrWeb", network=network.refs, mirror=members[s.app.mirror_set],
                alarm_topics=region.alarm_topics, app=s.app, servers=hybrid.web_servers,
                certificate=("app.certificate_arn", s.app.certificate_arn or ""), ca=self.ca,  # set: validated
            )  # fmt: skip

    def data_tier(self, network: NetworkStack, dr: DrSide | None) -> tuple[DataTierStack, dict[str, MirrorLink]]:
        """The shared data-tier stack, then a stack per mirror set; the sets' links by name."""
        s = self.settings
        members: dict[str, DrMember] = dict(dr.link.members) if dr else {}
        data = self.add(
            "data_tier", DataTierStack, "DataTier", termination_protection=True, network=network.refs, settings=s.data,
            ca=self.ca, notifications=s.ops.notifications, dr=dr.link if dr else None, dr_settings=s.dr,
        )  # fmt: skip
        mirrors = {
            m.name: self.add(
                f"mirror_{m.name}", MirrorSetStack, f"Mirror-{m.name}", termination_protection=True, network=network.refs,
                data=data.link, settings=m, data_settings=s.data, dr_member=members.get(m.name),
                dns=s.dr.dns if s.dr and m.name in members else None,
            ).link
            for m in s.data.mirror_sets
        }  # fmt: skip
        return data, mirrors

    def app_tier(self, network: NetworkStack, data: DataTierStack, mirrors: dict[str, MirrorLink]) -> AppTierStack:
        s = self.settings
        return self.add(
            "app_tier", AppTierStack, "AppTier", network=network.refs, mirror=mirrors[s.app.mirror_set],
            alarm_topics=data.alarm_topics, settings=s.app, data_settings=s.data, ca=self.ca,
            access_log_replica=self.replicas.get("AppTierAccessLogs"),
        )  # fmt: skip

    def eks(self, data: DataTierStack, dr: DrSide | None) -> None:
        """Mendix on EKS in a VPC of its own (``eks.vpc_cidr``), optionally in an account of its own (``eks.account``).

        The VPC has no peering and no route to the IRIS VPCs: the platform needs nothing from IRIS (its
        database is its own RDS instance in its own data subnets). Its backups are copied to the DR
        region's vault when there is one (settings keep that to one account). Its alarms go to the region's
        severity topics (the data tier's); in an account of its own, to topics of its own with the same subscribers.
        """
        s = self.settings
        if not s.eks.enabled:
            return
        assert s.eks.vpc_cidr is not None  # settings require it while EKS is on
        network = self.add(
            "eks_network", NetworkStack, "EksNetwork", account=s.eks_account, description=EKS_NETWORK,
            settings=NetworkSettings(vpc_cidr=s.eks.vpc_cidr, nat_gateways=s.network.nat_gateways,
                                     flow_log_retention_days=s.network.flow_log_retention_days),
            availability_zones=s.availability_zones, health_check_port=s.data.health_check_port,
            postgres_clients="app",  # the Mendix runtime database in this VPC's data subnets
            iris_hosts=False,
        )  # fmt: skip
        self.add(
            "eks", EksStack, "Eks", account=s.eks_account, network=network.refs, settings=s.eks, resource_tags=s.tags,
            alarm_topics=data.alarm_topics if s.eks_account == s.account else None, notifications=s.ops.notifications,
            dr=dr.link if dr is not None else None, vault_lock=s.audit.vault_lock,
            replicas=self._replicas_of(mendix_files="MendixFiles", access_logs="EksAccessLogs"),
        )  # fmt: skip

    def log_search(self, network: NetworkStack, data: DataTierStack, app_tier: AppTierStack) -> None:
        """The optional OpenSearch domain (``ops.log_search``), fed by the primary region's IRIS members' and web
        servers' log groups and, when the Mendix platform is in this account, its containers' logs. The DR region's
        logs, and the platform's in an account of its own, stay in CloudWatch Logs there."""
        s = self.settings
        if not s.ops.log_search.enabled:
            return
        sources = {
            "iris-messages": [data.member_logs.messages],
            "iris-audit": [data.member_logs.audit],
            "web": [app_tier.web.server_logs.log_group],
        }
        if isinstance(eks := self.stacks.get("eks"), EksStack) and s.eks_account == s.account:
            sources["eks-containers"] = [eks.observability.application_logs]
        self.add(
            "log_search", LogSearchStack, "LogSearch", network=network.refs, settings=s.ops.log_search, prefix=s.prefix,
            sources=sources, alarm_topics=data.alarm_topics,
        )  # fmt: skip

    def dr_web_and_dns(self, dr: DrSide | None, app_tier: AppTierStack, mirrors: dict[str, MirrorLink]) -> None:
        """The DR region's web tier, and the application's name failing over between the two regions."""
        s = self.settings
        if dr is None or s.dr is None:
            return
        dr_app = dr.link.members[s.app.mirror_set].link
        web = self.add(
            "dr_web", DrWebStack, "DrWeb", in_dr=True, network=dr.network, mirror=dr_app,
            alarm_topics=dr.region.alarm_topics, app=s.app, servers=s.dr.web_servers,
            certificate=("dr.certificate_arn", s.dr.certificate_arn or ""), ca=self.ca,  # set: validated
            ecp_servers=s.dr.ecp_app_servers, data_settings=s.data,
        )  # fmt: skip
        self.add(
            "dr_dns", DrDnsStack, "DrDns", in_dr=True, dns=s.dr.dns, primary_load_balancer=app_tier.web.load_balancer,
            primary_alarms=mirrors[s.app.mirror_set].health_alarms, dr_load_balancer=web.web.load_balancer,
            dr_alarms=dr_app.health_alarms,
        )  # fmt: skip

    def _project_tag(self) -> tuple[str, str] | None:
        """The tag that marks the project's resources (and so its snapshots) across profiles: ``Project``."""
        value = self.settings.tags.get("Project")
        return ("Project", value) if value else None

    def audit(self, app_tier: AppTierStack) -> None:
        """The deployment's trail (unless an organization trail records the account), last: it names the
        buckets whose objects it records, of every stack of its account that holds one (the Mendix
        platform's, in an account of its own, are that account's to record)."""
        s = self.settings
        if not s.audit.trail:
            return
        buckets = [app_tier.web.access_log_bucket]
        if isinstance(dr_web := self.stacks.get("dr_web"), DrWebStack):
            buckets.append(dr_web.web.access_log_bucket)
        if isinstance(eks := self.stacks.get("eks"), EksStack) and eks.account == s.account:
            buckets += [eks.file_storage, eks.access_logs]
        copies = [t.bucket_arn for t in self.replicas.values()]  # the same data in the DR region
        self.add(
            "audit", AuditStack, "Audit", settings=s.audit, data_buckets=[*(b.bucket_arn for b in buckets), *copies],
            replicas=self._replicas_of(trail="Trail", access_logs="AuditAccessLogs"),
        )  # fmt: skip

    def _replicas_of(self, **names: str) -> dict[str, ReplicaTarget]:
        """A stack's replicated buckets by its own names (``trail="Trail"``): those that have a DR copy."""
        return {role: self.replicas[name] for role, name in names.items() if name in self.replicas}

    def administer_keys(self) -> None:
        """Every customer-managed key of the app: administered by ``audit.key_admin_role``, destroyed by nobody else."""
        visit_each(self.app, kms.Key, KeyAdministration(self.settings.audit.key_admin_role).visit)

    def log_every_session(self) -> None:
        """Every EC2 instance role of an environment (account and region) may write its sessions' logs where that
        environment's preferences say. The preferences are per account and region: a stack in the Mendix
        platform's own account (``eks.account``) uses that account's, never the deployment's of its region."""
        networks = [n for n in (self.stacks.get("network"), self.stacks.get("dr_network")) if isinstance(n, NetworkStack)]
        for network in networks:
            if network.session_logging is None:
                continue
            for stack in self.stacks.values():
                if (stack.account, stack.region) == (network.account, network.region):
                    visit_each(stack, iam.Role, SessionLoggingGrants(network.session_logging.policy).visit)

    def tag_everything(self) -> None:
        """The cost allocation tags (validated to be present) on every resource of every stack."""
        for key, value in self.settings.tags.items():
            cdk.Tags.of(self.app).add(key, value)
        visit_each(self.app, cdk.CfnResource, PlainResourceTags(self.settings.tags).visit)
