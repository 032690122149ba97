"""DrRegionStack: what the async DR members of the second region share.

Each DR'd mirror set's member has a stack of its own (stacks/dr_mirror_set.py)
and the reduced web tier another (stacks/dr_web.py); this one holds what
exists once in the region: the DR key, which also receives the primary's
snapshot copies, the alarm topics and log groups, the host files, the peering
with the primary VPC (none in the hybrid model), the DR retarget function and the
promotion document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_backup as backup
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from components.address_plan import routes_over_peering, tier_block
from components.async_member import dr_member_document
from components.encryption_key import EncryptionKey
from components.host_certificate import CertificateAuthority, certificate_policy
from components.iris_host_access import iris_hosts
from components.links import DrLink, DrMember, MemberBase, NetworkRefs, PrimaryNetwork
from components.member_basics import guard_placeholders
from components.member_monitoring import MemberLogGroups
from components.mirror_failover import MirrorFailover
from components.mirror_vip import MirrorHealthCheck
from components.severity import SeverityTopics
from components.vault_lock import vault_lock_configuration
from config.audit import VaultLockSettings
from config.data import DataTierSettings
from config.ops import SeverityNotifications
from config.placeholders import PLACEHOLDER_AMI, image_placeholders

DESCRIPTION = "IRIS on AWS, DR region: what the async DR members share: key, alarms, peering, DR retarget function"


class DrRegionStack(Stack):
    """The shared half of the DR region; exposes ``base`` (what each DR member's stack builds on),
    ``key``, ``peering``, ``failover`` and, with ``backup_copies``, ``backup_vault`` (the copies of
    the Mendix platform's backups). Promotion of a DR member is never automatic.
    The key and the vault are retained when the stack is deleted."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        network: NetworkRefs,
        primary: PrimaryNetwork | None,
        data: DataTierSettings,
        ca: CertificateAuthority,
        notifications: SeverityNotifications,
        backup_copies: bool = False,
        vault_lock: VaultLockSettings | None = None,
        ca_client_tiers: Sequence[str] = ("data", "web"),
        **kwargs: object,
    ) -> None:
        """``ca_client_tiers``: the subnet tiers whose hosts reach the primary region's CA over the peering."""
        kwargs.setdefault("description", DESCRIPTION)
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        guard_placeholders(
            self,
            "PlaceholdersAreReplaced",
            [(f"data.ami_ids.{self.region}", data.ami_ids[self.region], PLACEHOLDER_AMI), *image_placeholders(data.iris)],
        )
        self.key = EncryptionKey(
            self,
            "DrKey",
            description="Encrypts the DR members' volumes, the snapshot copies from the primary region, and alarms",
            alias=f"alias/{construct_id}/data",
        )
        self.key.allow_service("cloudwatch.amazonaws.com", ["kms:Decrypt", "kms:GenerateDataKey*"])
        # The region's alarm topics, one per severity.
        self.alarm_topics = SeverityTopics(self, "AlarmTopics", key=self.key.key, notifications=notifications).topics
        self.key.allow_cloudwatch_logs()
        self.member_logs = MemberLogGroups(self, "MemberLogs", encryption_key=self.key.key)
        self.vpc = network.vpc
        # Copies of the Mendix platform's AWS Backup recovery points, encrypted with the DR key.
        self.backup_vault = (
            backup.BackupVault(
                self,
                "BackupCopies",
                encryption_key=self.key.key,
                removal_policy=RemovalPolicy.RETAIN,
                lock_configuration=vault_lock_configuration(vault_lock),
            )
            if backup_copies
            else None
        )
        # The hybrid model has no primary region in AWS: its members reach on-premises over the VPN.
        self.peering = None if primary is None else self._peering(network, primary, ca_client_tiers)

        # The CA is the primary region's: DR members reach it over the peering (docs/certificates.md);
        # in the hybrid model it is in this region.
        host, host_policy = iris_hosts(self, data=data, log_groups=self.member_logs, ca=ca)
        certificates = certificate_policy(self, "HostCertificatePolicy", ca=ca, hosts="IRIS DR member hosts")
        # A DR VIP always asks the status page: an async member is primary only after a promotion.
        health_check = MirrorHealthCheck.of(data, http=True)
        self.failover = MirrorFailover(
            self,
            "Failover",
            function_name=f"{construct_id}-retarget",
            vpc=network.vpc,
            subnets=network.tier("data"),
            security_group=network.security_groups.failover,
            parameter_path=f"/{construct_id}/retarget",
            health_check=health_check,
            provider=False,
            poll=False,
            encryption_key=self.key.key,
            alarm_topics=self.alarm_topics,
        )
        CfnOutput(
            self, "RetargetFunctionName", value=self.failover.function.function_name, description="python -m ops promote-dr"
        )
        self.member_document = dr_member_document(
            self, "DrMemberDocument", iris_instance=data.iris_instance, iris_os_user=data.iris_os_user
        )
        CfnOutput(self, "DrMemberDocumentName", value=self.member_document.ref, description="python -m ops promote-dr")
        self.base = MemberBase(
            key=self.key.key,
            alarm_topics=self.alarm_topics,
            host=host,
            host_policies=[host_policy],
            certificate_policy=certificates,
            failover=self.failover.link,
            health_check=health_check,
        )

    def link(self, members: Mapping[str, DrMember]) -> DrLink:
        """The DR region as the primary region sees it, with the members of the DR members' stacks."""
        if self.peering is None:
            raise RuntimeError("a DR region without a primary region in AWS (the hybrid model) has no link to one")
        return DrLink(
            region=self.region,
            key_arn=self.key.key.key_arn,
            vpc=self.vpc,
            peering_id=self.peering.ref,
            members=members,
            backup_vault_arn=self.backup_vault.backup_vault_arn if self.backup_vault is not None else None,
        )

    def _peering(
        self, network: NetworkRefs, primary: PrimaryNetwork, ca_client_tiers: Sequence[str]
    ) -> ec2.CfnVPCPeeringConnection:
        """Peering with the primary VPC: the data subnets route to the primary data tier through it, and
        the ``ca_client_tiers`` subnets to the primary app subnets, where the hosts' CA has its endpoint.

        Both VPCs belong to this account, so CloudFormation accepts the
        request itself. Security groups and the data NACLs of both networks
        admit only 1972 and 2188 from the other side's data tier.
        """
        peering = ec2.CfnVPCPeeringConnection(
            self,
            "MirrorPeering",
            vpc_id=network.vpc.vpc_id,
            peer_vpc_id=primary.vpc.vpc_id,
            peer_region=primary.region,
            peer_owner_id=self.account,
        )
        primary_data = tier_block(primary.vpc_cidr, "data")
        routes_over_peering(self, "DataToPrimary", network.tier("data"), primary_data, peering.ref)
        # The hosts' CA is the primary region's, reached through its endpoint in the primary app
        # subnets (stacks/data_tier.py, _private_ca_for_dr): from the DR data and web subnets, and the
        # app subnets when ECP servers are there.
        primary_app = tier_block(primary.vpc_cidr, "app")
        for tier in ca_client_tiers:
            routes_over_peering(self, f"{tier.title()}ToPrimaryCa", network.tier(tier), primary_app, peering.ref)
        return peering
