"""NetworkStack: the VPC every other stack of the primary region lives in."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Fn, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from components.address_plan import TieredIpAddresses, tier_block
from components.bucket_replication import ReplicaTarget
from components.encryption_key import EncryptionKey
from components.endpoint_policies import (
    gateway_endpoint_statements,
    interface_endpoint_statements,
    private_ca_endpoint_statements,
)
from components.links import NetworkRefs, PrivateCaEndpoint, TierSecurityGroups
from components.log_retention import EncryptedLogGroups, encrypted_log_group, logged_from_the_first_call
from components.mendix.nag import AWS_CUSTOM_RESOURCE_FUNCTION_ID, acknowledge_custom_resource_function
from components.nag import acknowledge, acknowledge_inline_policies, both_packs
from components.recycle_bin import snapshot_recycle_bin
from components.secure_bucket import access_log_bucket
from components.session_logging import SessionLogging
from components.visitors import visit_each
from config import constants as c
from config.audit import AuditSettings
from config.network import NetworkSettings

SUBNET_TYPES = {
    "public": ec2.SubnetType.PUBLIC,
    "web": ec2.SubnetType.PRIVATE_WITH_EGRESS,
    "app": ec2.SubnetType.PRIVATE_WITH_EGRESS,
    # The data tier has no route out of the VPC: AWS APIs through endpoints.
    "data": ec2.SubnetType.PRIVATE_ISOLATED,
}


DESCRIPTION = "IRIS on AWS: VPC, subnets per tier, security groups, NACLs, endpoints, flow logs, VPN"


class NetworkStack(Stack):
    """VPC over three AZs with public, web, app and isolated data subnets.

    Exposes ``vpc``, ``security_groups`` (per tier) and ``subnets`` (per tier),
    and ``refs``, the three as the stacks built on it take them.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: NetworkSettings,
        availability_zones: tuple[str, ...],
        health_check_port: int,
        mirror_peer_cidrs: Sequence[str] = (),
        postgres_clients: str | None = None,
        web_to_data: bool = False,
        private_ca_clients: Sequence[str] | None = None,
        iris_hosts: bool = True,
        onprem_members: Sequence[str] | None = None,
        vip_clients: Sequence[str] = (),
        audit: AuditSettings | None = None,
        project_tag: tuple[str, str] | None = None,
        remote_private_ca: str | None = None,
        access_log_replica: ReplicaTarget | None = None,
        **kwargs: object,
    ) -> None:
        """``mirror_peer_cidrs``: data-tier blocks in another region (over peering)
        whose mirror members reach this VPC's members on 1972 and 2188, and back.
        ``postgres_clients``: a tier whose hosts reach PostgreSQL in the data
        subnets (the Mendix runtime database of the Eks stack).
        ``web_to_data``: the web servers reach the members and the mirror VIP on
        1972 (security groups and the data NACL); off, the web tier reaches the
        ECP application servers only.
        ``private_ca_clients``: when given, this region holds the hosts' CA: an
        AWS Private CA endpoint admits the VPC and these blocks of another
        region (the DR hosts, over the peering).
        ``iris_hosts``: off for a VPC that holds no IRIS host (the Mendix platform's):
        the public ALB group admits nothing and the data NACL holds no IRIS entry.
        ``onprem_members`` (the hybrid model): the on-premises mirror members'
        addresses, admitted on 1972 and 2188 each alone instead of the whole
        on-premises block. ``vip_clients``: on-premises blocks whose xDBC
        clients reach the mirror VIP over the VPN, on 1972 only.
        ``audit``: this network is its region's first: it holds the region's
        Session Manager preferences (``session_logging``) and, with
        ``project_tag``, the Recycle Bin rule for the project's EBS snapshots.
        A second network of the region (the Mendix platform's) takes neither.
        ``remote_private_ca``: the block (over the peering) where the hosts'
        CA endpoint of the other region is; the data tier's HTTPS may go there.
        ``access_log_replica``: the DR copy the region's access logs (of the session
        transcripts' bucket) replicate into, with ``audit``."""
        kwargs.setdefault("description", DESCRIPTION)
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self._settings = settings
        self._iris_hosts = iris_hosts
        self._remote_members: list[tuple[str, str]] = []
        if settings.vpn_enabled:
            assert settings.onprem_cidr is not None
            if onprem_members is None:
                self._remote_members.append((settings.onprem_cidr, "on-premises"))
            else:
                self._remote_members += [(f"{address}/32", "on-premises") for address in onprem_members]
        self._vip_clients = list(vip_clients)
        self._remote_members += [(cidr, "DR region") for cidr in mirror_peer_cidrs]

        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=TieredIpAddresses(settings.vpc_cidr, availability_zones),
            availability_zones=list(availability_zones),
            nat_gateways=settings.nat_gateways,
            # NAT gateways sit in the public subnets, spread from the first AZ.
            nat_gateway_subnets=ec2.SubnetSelection(subnet_group_name="public"),
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name=tier,
                    subnet_type=subnet_type,
                    # Only load balancers and NAT gateways live in public
                    # subnets, and both get their addresses explicitly.
                    map_public_ip_on_launch=False if tier == "public" else None,
                )
                for tier, subnet_type in SUBNET_TYPES.items()
            ],
            restrict_default_security_group=True,
            vpn_gateway=settings.vpn_enabled,
            vpn_connections=self._vpn_connections(),
            vpn_route_propagation=[ec2.SubnetSelection(subnet_group_name=t) for t in ("web", "app", "data")]
            if settings.vpn_enabled
            else None,
        )
        self.subnets = {tier: self.vpc.select_subnets(subnet_group_name=tier) for tier in SUBNET_TYPES}
        self._acknowledge_public_routes()

        self.log_key = EncryptionKey(self, "LogKey", description="Encrypts the VPC flow logs", alias=f"alias/{construct_id}/logs")
        self.log_key.allow_cloudwatch_logs()
        self.flow_log_group = encrypted_log_group(
            self, "FlowLogs", encryption_key=self.log_key.key, retention_days=settings.flow_log_retention_days
        )
        # Log groups of the CDK's own deploy-time function (the prefix list lookup) get the key too.
        visit_each(
            self,
            logs.CfnLogGroup,
            EncryptedLogGroups(key_arn=self.log_key.key.key_arn, days=settings.flow_log_retention_days).visit,
        )
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(self.flow_log_group, self._flow_log_role()),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )

        self._web_to_data = web_to_data
        self.security_groups = self._security_groups(health_check_port)
        self._endpoints()
        self.private_ca_endpoint = None if private_ca_clients is None else self._private_ca_endpoint(private_ca_clients)
        self._data_tier_egress(remote_private_ca)
        self.refs = NetworkRefs(
            vpc=self.vpc,
            subnets=self.subnets,
            security_groups=self.security_groups,
            private_ca_endpoint=self.private_ca_endpoint,
        )
        self._data_nacl(health_check_port, postgres_clients)
        self.session_logging = self._region_audit(audit, project_tag, access_log_replica) if audit is not None else None

    def _region_audit(
        self, audit: AuditSettings, project_tag: tuple[str, str] | None, access_log_replica: ReplicaTarget | None
    ) -> SessionLogging:
        """What every host of the region relies on besides the network: logged sessions, recoverable snapshots."""
        access_logs = access_log_bucket(
            self, "AccessLogs", retention_days=audit.session_log_retention_days, replica=access_log_replica
        )
        sessions = SessionLogging(self, "Sessions", access_logs=access_logs, retention_days=audit.session_log_retention_days)
        if project_tag is not None:
            snapshot_recycle_bin(
                self,
                "SnapshotRecycleBin",
                tag=project_tag,
                retention_days=audit.recycle_bin_days,
                unlock_delay_days=audit.recycle_bin_unlock_delay_days,
            )
        return sessions

    # ------------------------------------------------------------------

    def _vpn_connections(self) -> dict[str, ec2.VpnConnectionOptions] | None:
        s = self._settings
        if not s.vpn_enabled:
            return None
        assert s.onprem_gateway_ip is not None and s.onprem_cidr is not None
        options = ec2.VpnConnectionOptions(ip=s.onprem_gateway_ip, asn=s.onprem_gateway_asn, static_routes=[s.onprem_cidr])
        return {"OnPremises": options}

    def _flow_log_role(self) -> iam.IRole:
        """A role that may write to the flow log group and nothing else.

        Its permissions are a customer-managed policy (auditable, reusable)
        rather than the inline policy the CDK would add; the role handed to
        the flow log refuses further policy updates so none is added.
        """
        role = iam.Role(self, "FlowLogRole", assumed_by=iam.ServicePrincipal("vpc-flow-logs.amazonaws.com"))
        policy = iam.ManagedPolicy(
            self,
            "FlowLogPolicy",
            description="Lets VPC Flow Logs deliver to the VPC's flow log group",
            statements=[
                iam.PolicyStatement(
                    actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                    # The group's ARN attribute ends in ":*": the group and its streams.
                    resources=[self.flow_log_group.log_group_arn],
                )
            ],
        )
        role.add_managed_policy(policy)
        return role.without_policy_updates()

    def _acknowledge_public_routes(self) -> None:
        held = (
            "the internet-facing ALB and the NAT gateways"
            if self._iris_hosts
            else "the NAT gateways (the Mendix apps' load balancers are internal, in the app subnets)"
        )
        for subnet in self.subnets["public"].subnets:
            route = subnet.node.try_find_child("DefaultRoute")
            if route is None:
                continue
            acknowledge(
                route,
                both_packs(
                    "VPCNoUnrestrictedRouteToIGW",
                    f"Public subnets hold only {held}; "
                    "their route to the internet gateway is what makes them public. "
                    "Web, app and data subnets have no such route.",
                ),
            )

    def _security_groups(self, health_check_port: int) -> TierSecurityGroups:
        def group(name: str, description: str) -> ec2.SecurityGroup:
            return ec2.SecurityGroup(self, name, vpc=self.vpc, description=description, allow_all_outbound=False)

        sg = TierSecurityGroups(
            public_alb=group("PublicAlbSg", "Internet-facing ALB: HTTPS and HTTP (redirect) from anywhere"),
            web=group("WebSg", "Web servers with the Web Gateway"),
            app=group("AppSg", "ECP application and print servers"),
            data=group("DataSg", "IRIS mirror members and arbiters"),
            data_lb=group("DataLbSg", "Internal NLB standing in for the mirror VIP"),
            xdbc_clients=group("XdbcClientSg", "xDBC/TCP clients that are not mirror-aware: the mirror VIP on 1972 only"),
            failover=group("FailoverSg", "Mirror failover functions: member status pages and AWS endpoints only"),
            endpoints=group("EndpointsSg", "Interface VPC endpoints"),
        )
        tcp = ec2.Port.tcp
        anywhere = ec2.Peer.any_ipv4()

        if self._iris_hosts:  # no public web application where no IRIS host lives
            sg.public_alb.add_ingress_rule(anywhere, tcp(c.HTTPS_PORT), "HTTPS from clients")
            sg.public_alb.add_ingress_rule(anywhere, tcp(c.HTTP_PORT), "HTTP from clients, redirected to HTTPS")
            acknowledge(
                sg.public_alb,
                {
                    "AwsSolutions::AwsSolutions-EC23": "The internet-facing ALB serves the public web application; only "
                    "443 and 80 (redirect) are open."
                },
            )
        sg.public_alb.connections.allow_to(sg.web, tcp(c.HTTPS_PORT), "ALB to web servers")

        # The Web Gateway serves the application from the ECP application servers'
        # superservers; a gateway that goes straight to the mirror (the DR
        # region's, or where a setting asks for it) reaches the members' too.
        sg.web.connections.allow_to(sg.app, tcp(c.IRIS_SUPERSERVER_PORT), "Web Gateway to ECP application servers")
        if self._web_to_data:
            sg.web.connections.allow_to(sg.data, tcp(c.IRIS_SUPERSERVER_PORT), "Web Gateway to the data members")
            sg.web.connections.allow_to(sg.data_lb, tcp(c.IRIS_SUPERSERVER_PORT), "Web Gateway to the mirror VIP")

        sg.app.connections.allow_to(sg.data, tcp(c.IRIS_SUPERSERVER_PORT), "ECP application servers to the data members")
        sg.app.connections.allow_to(sg.data_lb, tcp(c.IRIS_SUPERSERVER_PORT), "ECP application servers to the mirror VIP")

        # Clients that are not mirror-aware (xDBC, TCP) reach the primary only
        # through the mirror VIP, and only on the superserver port.
        sg.xdbc_clients.connections.allow_to(sg.data_lb, tcp(c.IRIS_SUPERSERVER_PORT), "xDBC/TCP clients to the mirror VIP")
        for cidr in self._vip_clients:
            sg.data_lb.add_ingress_rule(ec2.Peer.ipv4(cidr), tcp(c.IRIS_SUPERSERVER_PORT), "On-premises xDBC clients, VPN")

        sg.data_lb.connections.allow_to(sg.data, tcp(c.IRIS_SUPERSERVER_PORT), "Mirror VIP to the members")
        sg.data_lb.connections.allow_to(sg.data, tcp(health_check_port), "Mirror VIP health checks")

        sg.failover.connections.allow_to(sg.data, tcp(health_check_port), "Failover function reads the mirror status page")
        sg.failover.connections.allow_to(sg.endpoints, tcp(c.HTTPS_PORT), "Failover function calls AWS through the endpoints")

        sg.data.connections.allow_internally(tcp(c.IRIS_SUPERSERVER_PORT), "Mirror traffic between members")
        sg.data.connections.allow_internally(tcp(c.ISCAGENT_PORT), "ISCAgent between members and the arbiter")

        # HTTPS out from the web and app tiers: to the interface endpoints, and
        # through NAT to package repositories. The data tier's is narrower
        # (_data_tier_egress): the endpoints and S3 only.
        for tier in (sg.web, sg.app):
            tier.add_egress_rule(anywhere, tcp(c.HTTPS_PORT), "AWS APIs and package repositories over HTTPS")

        # Mirror members elsewhere (on-premises over the VPN, the DR region over
        # peering) reach the members here, and the members reach them.
        for cidr, where in self._remote_members:
            remote = ec2.Peer.ipv4(cidr)
            for port, what in ((c.IRIS_SUPERSERVER_PORT, "superserver and mirroring"), (c.ISCAGENT_PORT, "ISCAgent")):
                sg.data.add_ingress_rule(remote, tcp(port), f"{where[:1].upper()}{where[1:]} mirror members: {what}")
                sg.data.add_egress_rule(remote, tcp(port), f"{where[:1].upper()}{where[1:]} mirror members: {what}")
        return sg

    def _endpoints(self) -> None:
        """The S3 gateway endpoint and the interface endpoints, each with a policy that admits this
        account's principals on this account's resources, and the AWS-owned resources the hosts need
        (components/endpoint_policies.py)."""
        self.s3_endpoint = self.vpc.add_gateway_endpoint(
            "S3Endpoint",
            service=ec2.GatewayVpcEndpointAwsService.S3,
            subnets=[ec2.SubnetSelection(subnet_group_name=t) for t in SUBNET_TYPES if t != "public"],
        )
        for statement in gateway_endpoint_statements(self.account, self.region, self.partition):
            self.s3_endpoint.add_to_policy(statement)
        self.security_groups.endpoints.add_ingress_rule(
            ec2.Peer.ipv4(self._settings.vpc_cidr), ec2.Port.tcp(c.HTTPS_PORT), "HTTPS from the VPC"
        )
        self.interface_endpoints = {
            service: self.vpc.add_interface_endpoint(
                f"{service.title().replace('-', '').replace('.', '')}Endpoint",
                service=ec2.InterfaceVpcEndpointAwsService(service),
                subnets=ec2.SubnetSelection(subnet_group_name="app"),
                security_groups=[self.security_groups.endpoints],
                private_dns_enabled=True,
                open=False,  # the endpoints group's own rule admits the VPC
            )
            for service in c.INTERFACE_ENDPOINT_SERVICES
        }
        for service, endpoint in self.interface_endpoints.items():
            for statement in interface_endpoint_statements(service, self.account, self.region, self.partition):
                endpoint.add_to_policy(statement)

    def _data_tier_egress(self, remote_private_ca: str | None) -> None:
        """The data tier's HTTPS goes to the interface endpoints (and the hosts' CA endpoint, here or
        over the peering) and to S3 through its gateway endpoint, by the region's S3 prefix list."""
        sg = self.security_groups
        https = ec2.Port.tcp(c.HTTPS_PORT)
        # Egress rules only: both endpoint groups already admit the whole VPC.
        sg.data.add_egress_rule(sg.endpoints, https, "AWS APIs through the interface endpoints")
        if self.private_ca_endpoint is not None:
            sg.data.add_egress_rule(self._private_ca_group, https, "Certificates through the AWS Private CA endpoint")
        if remote_private_ca is not None:
            sg.data.add_egress_rule(ec2.Peer.ipv4(remote_private_ca), https, "AWS Private CA endpoint over the peering")
        sg.data.add_egress_rule(ec2.Peer.prefix_list(self._s3_prefix_list()), https, "S3 through the gateway endpoint")

    def _s3_prefix_list(self) -> str:
        """The id of the region's S3 prefix list (com.amazonaws.<region>.s3), read at deploy time: it
        differs per region and no offline source names it."""
        name = f"com.amazonaws.{self.region}.s3"
        lookup = cr.AwsCustomResource(
            self,
            "S3PrefixList",
            on_update=cr.AwsSdkCall(
                service="EC2",
                action="describeManagedPrefixLists",
                parameters={"Filters": [{"Name": "prefix-list-name", "Values": [name]}]},
                physical_resource_id=cr.PhysicalResourceId.of(name),
                output_paths=["PrefixLists.0.PrefixListId"],
            ),
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["ec2:DescribeManagedPrefixLists"], resources=["*"])]
            ),
            install_latest_aws_sdk=False,
        )
        acknowledge(
            lookup,
            {
                "AwsSolutions::AwsSolutions-IAM5[Resource::*]": "ec2:DescribeManagedPrefixLists accepts no "
                "resource-level permission; the lookup reads the AWS-managed S3 prefix list, it changes nothing."
            },
        )
        acknowledge_inline_policies(
            lookup, "The lookup's one read-only statement belongs to its one custom resource and is created and deleted with it."
        )
        acknowledge_custom_resource_function(self, "the S3 prefix list lookup")
        function = self.node.find_child(AWS_CUSTOM_RESOURCE_FUNCTION_ID)
        logged_from_the_first_call(lookup, function)
        acknowledge(
            function,
            both_packs(
                "LambdaInsideVPC",
                "The function reads one AWS-managed prefix list through the EC2 API at deploy time and touches no "
                "data; outside the VPC it needs no EC2 endpoint, NAT or route.",
            ),
        )
        return lookup.get_response_field("PrefixLists.0.PrefixListId")

    def _private_ca_endpoint(self, remote_clients: Sequence[str]) -> PrivateCaEndpoint:
        """AWS Private CA for the hosts' certificates, with a group of its own: besides this VPC it
        admits ``remote_clients`` (the DR region's hosts), and them for this endpoint only."""
        group = self._private_ca_group = ec2.SecurityGroup(
            self,
            "PrivateCaEndpointSg",
            vpc=self.vpc,
            description="AWS Private CA interface endpoint: HTTPS from the VPC and the DR region hosts",
            allow_all_outbound=False,
        )
        group.add_ingress_rule(ec2.Peer.ipv4(self._settings.vpc_cidr), ec2.Port.tcp(c.HTTPS_PORT), "HTTPS from the VPC")
        for cidr in remote_clients:
            group.add_ingress_rule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(c.HTTPS_PORT), "HTTPS from DR hosts over the peering")
        endpoint = self.vpc.add_interface_endpoint(
            "AcmPcaEndpoint",
            service=ec2.InterfaceVpcEndpointAwsService("acm-pca"),
            subnets=ec2.SubnetSelection(subnet_group_name="app"),
            security_groups=[group],
            private_dns_enabled=True,
            open=False,
        )
        for statement in private_ca_endpoint_statements(self.account):
            endpoint.add_to_policy(statement)
        # The first DNS entry is the regional name, "<hosted zone id>:<name>".
        entry = Fn.split(":", Fn.select(0, endpoint.vpc_endpoint_dns_entries))
        return PrivateCaEndpoint(
            dns_name=self.export_value(Fn.select(1, entry), name=f"{self.stack_name}-PrivateCaEndpointDnsName"),
            hosted_zone_id=self.export_value(Fn.select(0, entry), name=f"{self.stack_name}-PrivateCaEndpointZone"),
        )

    def _data_nacl(self, health_check_port: int, postgres_clients: str | None) -> None:
        """The IRIS ports into the data subnets, from the tiers that use them, and return traffic.

        With ``postgres_clients`` (a tier), PostgreSQL too, from that tier: the
        Mendix runtime database lives in the data subnets. Out: replies and
        member ports, and HTTPS. A NACL takes addresses only, not the S3 prefix
        list the security group names, so HTTPS out is to any address: the data
        route tables lead only to the VPC (the endpoints), S3's gateway
        endpoint and the peering, so that is where it can go.
        """
        s = self._settings
        block = {tier: tier_block(s.vpc_cidr, tier) for tier in SUBNET_TYPES}
        self.data_nacl = ec2.NetworkAcl(
            self, "DataNacl", vpc=self.vpc, subnet_selection=ec2.SubnetSelection(subnet_group_name="data")
        )
        admitted = (
            "Defence in depth for the data tier: inbound, the NACL admits the IRIS ports (superserver, ISCAgent, health "
            "check) from the tiers and remote members that use them, and return traffic on the ephemeral ports; outbound, "
            "replies and member ports within the VPC and to remote members, and HTTPS, which the route tables take only to "
            "the endpoints, S3's gateway endpoint and the peering. Its entries are unit-tested."
            if self._iris_hosts
            else "Defence in depth for the Mendix database's subnets: the NACL admits only PostgreSQL from the app tier "
            "block and return traffic; its entries are unit-tested."
        )
        acknowledge(self.data_nacl, {"AwsSolutions::AwsSolutions-VPC3": admitted})
        # Fixed rule numbers: an entry that comes or goes with a setting moves no
        # other (a renumbered entry is replaced, briefly dropping its traffic).
        inbound: list[tuple[int, str, ec2.AclTraffic, str]] = [
            (20, block["app"], ec2.AclTraffic.tcp_port(c.IRIS_SUPERSERVER_PORT), "Superserver and ECP from app"),
            (30, block["data"], ec2.AclTraffic.tcp_port(c.IRIS_SUPERSERVER_PORT), "Mirroring and the mirror VIP"),
            (40, block["data"], ec2.AclTraffic.tcp_port(c.ISCAGENT_PORT), "ISCAgent between members"),
            (60, block["data"], ec2.AclTraffic.tcp_port(health_check_port), "Mirror VIP health checks"),
        ]
        if not self._iris_hosts:
            inbound = []
        inbound.append((70, "0.0.0.0/0", ec2.AclTraffic.tcp_port_range(*c.LINUX_EPHEMERAL_PORTS), "Return traffic"))
        if self._web_to_data:
            inbound.append((10, block["web"], ec2.AclTraffic.tcp_port(c.IRIS_SUPERSERVER_PORT), "Superserver from web"))
        outbound: list[tuple[int, str, ec2.AclTraffic, str]] = [
            (10, s.vpc_cidr, ec2.AclTraffic.tcp_port_range(*c.CLIENT_EPHEMERAL_PORTS), "Replies and member ports in the VPC"),
            (20, "0.0.0.0/0", ec2.AclTraffic.tcp_port(c.HTTPS_PORT), "Endpoints, S3 and the peering: the only routes"),
        ]
        for i, (cidr, where) in enumerate(self._remote_members):
            inbound += [
                (80 + 20 * i, cidr, ec2.AclTraffic.tcp_port(c.IRIS_SUPERSERVER_PORT), f"Superserver and mirroring from {where}"),
                (90 + 20 * i, cidr, ec2.AclTraffic.tcp_port(c.ISCAGENT_PORT), f"ISCAgent from {where}"),
            ]
            outbound += [
                (30 + 10 * i, cidr, ec2.AclTraffic.tcp_port_range(*c.CLIENT_EPHEMERAL_PORTS), f"Replies and members in {where}"),
            ]
        # On-premises xDBC clients reach the VIP (whose nodes sit in these subnets) and, with their
        # address preserved, the member behind it: 1972 in, replies out.
        for i, cidr in enumerate(self._vip_clients):
            number = c.DATA_NACL_VIP_CLIENT_RULE + 10 * i
            inbound.append((number, cidr, ec2.AclTraffic.tcp_port(c.IRIS_SUPERSERVER_PORT), "xDBC clients on-premises"))
            outbound.append((number, cidr, ec2.AclTraffic.tcp_port_range(*c.CLIENT_EPHEMERAL_PORTS), "Replies to them"))
        for direction, entries in ((ec2.TrafficDirection.INGRESS, inbound), (ec2.TrafficDirection.EGRESS, outbound)):
            for number, cidr, traffic, _why in sorted(entries, key=lambda e: e[0]):
                self.data_nacl.add_entry(
                    f"{direction.name.title()}{number}",
                    cidr=ec2.AclCidr.ipv4(cidr),
                    rule_number=number,
                    traffic=traffic,
                    direction=direction,
                    rule_action=ec2.Action.ALLOW,
                )
        # A fixed number apart from the IRIS entries: neither moves when the other
        # list grows (a renumbered entry is replaced, briefly dropping its traffic).
        if postgres_clients is not None:
            self.data_nacl.add_entry(
                f"Ingress{c.DATA_NACL_POSTGRES_RULE}",
                cidr=ec2.AclCidr.ipv4(block[postgres_clients]),
                rule_number=c.DATA_NACL_POSTGRES_RULE,
                traffic=ec2.AclTraffic.tcp_port(c.POSTGRES_PORT),
                direction=ec2.TrafficDirection.INGRESS,
                rule_action=ec2.Action.ALLOW,
            )
