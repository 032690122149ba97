"""RDS PostgreSQL for the Mendix runtime.

Guarantees: Multi-AZ in isolated subnets, reachable only from the nodes'
security group; storage, Performance Insights and the master secret encrypted
with the platform key; the master password generated, stored and rotated by
RDS in Secrets Manager (never in a template, output or user data); TLS
required; IAM authentication on; deletion protection and a final snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from constructs import Construct

from components.mendix.observability import service_log_groups
from components.nag import acknowledge
from components.service_role import service_role
from config.constants import POSTGRES_PORT
from config.eks import MendixDatabaseSettings

MASTER_USERNAME = "mendixadmin"
# The Mendix Operator's admin user: IAM authentication only (rds_iam), created by
# the bootstrap Job; the master user keeps its rotated password.
IAM_ADMIN_USERNAME = "mendix_admin"
DATABASE_NAME = "mendix"
LOG_EXPORTS = ("postgresql", "upgrade")
ENHANCED_MONITORING = Duration.seconds(60)


class MendixDatabase(Construct):
    """PostgreSQL, Multi-AZ, in ``subnets``, reachable only from ``clients``.

    Beyond the module's guarantees: sized and versioned by ``settings``,
    automated backups kept ``settings.backup_retention_days``, log exports
    into groups kept ``log_retention_days``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        instance_identifier: str,
        vpc: ec2.IVpc,
        subnets: Sequence[ec2.ISubnet],
        clients: ec2.ISecurityGroup,
        settings: MendixDatabaseSettings,
        encryption_key: kms.IKey,
        log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="Mendix runtime database: PostgreSQL from the EKS nodes only",
            allow_all_outbound=False,
        )
        self.security_group.add_ingress_rule(clients, ec2.Port.tcp(POSTGRES_PORT), "PostgreSQL from the Mendix EKS nodes")
        version = settings.engine_version
        engine = rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.of(version, version.split(".")[0]))
        parameters = rds.ParameterGroup(
            self,
            "Parameters",
            engine=engine,
            description="Mendix runtime database: TLS only, connections and disconnections logged",
            parameters={"rds.force_ssl": "1", "log_connections": "1", "log_disconnections": "1"},
        )
        # RDS writes its logs here; created first, with a retention and the key.
        self.log_groups = service_log_groups(
            self,
            f"/aws/rds/instance/{instance_identifier}",
            LOG_EXPORTS,
            encryption_key=encryption_key,
            retention_days=log_retention_days,
        )
        monitoring_role = service_role(
            self,
            "MonitoringRole",
            service="monitoring.rds.amazonaws.com",
            description="RDS enhanced monitoring of the Mendix runtime database",
            aws_managed_policies={
                "service-role/AmazonRDSEnhancedMonitoringRole": "The AWS-maintained policy that lets RDS publish "
                "enhanced monitoring metrics to its own RDSOSMetrics log group, and nothing else."
            },
        )
        self.instance = rds.DatabaseInstance(
            self,
            "Instance",
            instance_identifier=instance_identifier,
            engine=engine,
            instance_type=ec2.InstanceType(settings.instance_class),
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnets=list(subnets)),
            security_groups=[self.security_group],
            port=POSTGRES_PORT,
            multi_az=True,
            database_name=DATABASE_NAME,
            credentials=rds.Credentials.from_username(MASTER_USERNAME, encryption_key=encryption_key),
            manage_master_user_password=True,
            storage_type=rds.StorageType.GP3,
            allocated_storage=settings.allocated_storage_gib,
            max_allocated_storage=settings.max_allocated_storage_gib,
            storage_encrypted=True,
            storage_encryption_key=encryption_key,
            iam_authentication=True,
            enable_performance_insights=True,
            performance_insight_encryption_key=encryption_key,
            performance_insight_retention=rds.PerformanceInsightRetention.DEFAULT,
            monitoring_interval=ENHANCED_MONITORING,
            monitoring_role=monitoring_role,
            cloudwatch_logs_exports=list(LOG_EXPORTS),
            parameter_group=parameters,
            backup_retention=Duration.days(settings.backup_retention_days),
            preferred_backup_window="02:00-03:00",
            preferred_maintenance_window="sun:03:30-sun:04:30",
            copy_tags_to_snapshot=True,
            auto_minor_version_upgrade=True,
            deletion_protection=True,
            removal_policy=RemovalPolicy.SNAPSHOT,
            publicly_accessible=False,
        )
        for group in self.log_groups:
            self.instance.node.add_dependency(group)
        acknowledge(
            self.instance,
            {
                "AwsSolutions::AwsSolutions-RDS11": "PostgreSQL keeps its standard port 5432: the Mendix runtime and "
                "its tools expect it, and a different port hides nothing from a scan inside the VPC; the security group "
                "admits only the nodes."
            },
        )
        self.secret = self.instance.secret
