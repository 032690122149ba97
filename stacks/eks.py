"""EksStack: the Mendix low-code platform on EKS, in a VPC (and optionally an account) apart from the IRIS stacks."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from components.bucket_replication import ReplicaTarget
from components.cost_budget import CostBudget
from components.encryption_key import EncryptionKey
from components.fault_injection import PLATFORM_SURVIVOR_KINDS, SpotInterruptionExperiment, stop_alarms
from components.links import DrLink, NetworkRefs
from components.log_retention import EncryptedLogGroups
from components.mendix.backup import BackupCopy, PlatformBackup
from components.mendix.cluster import ClusterSpec, MendixCluster
from components.mendix.database import MendixDatabase
from components.mendix.install import MendixOperator, OperatorNetwork
from components.mendix.karpenter import SPOT_POOL
from components.mendix.load_balancer_controller import ControllerRelease
from components.mendix.manifests import SAMPLE_APP, SampleApp
from components.mendix.observability import ObservedApp, PlatformObservability
from components.mendix.operator import DATABASE_PLAN, STORAGE_PLAN
from components.mendix.pipeline import DeliveryTarget, MendixDelivery, MendixImageRepository
from components.secure_bucket import access_log_bucket, encrypted_bucket
from components.severity import AlarmTopics, SeverityTopics
from components.visitors import visit_each
from config import constants as c
from config.audit import VaultLockSettings
from config.eks import EksSettings
from config.ops import SeverityNotifications

BACKUP_TAG_KEY = "MendixBackup"
ACCESS_LOG_RETENTION_DAYS = 365


DESCRIPTION = (
    "Mendix on EKS: cluster, node groups, controllers, RDS PostgreSQL, S3, ECR, pipeline, observability, backups, budget"
)


class EksStack(Stack):
    """EKS in the app subnets of ``network``, the platform's own VPC; RDS PostgreSQL in its data subnets.

    Exposes ``platform`` (the cluster, its nodes and controllers), ``database``,
    ``file_storage``, ``repository``, ``pipeline``, ``observability``,
    ``backup``, ``budget`` and ``alarm_topics`` (the trail is the Audit stack's): the region's
    topics when given (same account), else one topic per severity of its own with
    ``notifications``' subscribers (an account of its own). With ``dr``, the
    backups are copied to the DR region's vault.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        network: NetworkRefs,
        settings: EksSettings,
        resource_tags: Mapping[str, str],
        notifications: SeverityNotifications,
        alarm_topics: AlarmTopics | None = None,
        dr: DrLink | None = None,
        vault_lock: VaultLockSettings | None = None,
        replicas: Mapping[str, ReplicaTarget] | None = None,
        **kwargs: object,
    ) -> None:
        """``replicas``: the DR copies of the Mendix file bucket (``mendix_files``) and its access logs (``access_logs``)."""
        kwargs.setdefault("description", DESCRIPTION)
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        s = settings
        app_subnets = network.subnets["app"].subnets
        data_subnets = network.subnets["data"].subnets
        cluster_name = construct_id
        backup_tag = (BACKUP_TAG_KEY, construct_id)

        self.key = EncryptionKey(
            self,
            "PlatformKey",
            description="Encrypts the Mendix platform: Kubernetes secrets, volumes, database, images, files, logs, backups",
            alias=f"alias/{construct_id}/platform",
        )
        self.key.allow_cloudwatch_logs()
        # EventBridge delivers interruption notices into Karpenter's encrypted queue.
        self.key.allow_service("events.amazonaws.com", ["kms:Decrypt", "kms:GenerateDataKey*"])
        if alarm_topics is None:
            # In an account of its own the region's topics are out of reach: the same four, here.
            self.key.allow_service("cloudwatch.amazonaws.com", ["kms:Decrypt", "kms:GenerateDataKey*"])
            alarm_topics = SeverityTopics(self, "AlarmTopics", key=self.key.key, notifications=notifications).topics
        self.alarm_topics = alarm_topics

        self.platform = MendixCluster(
            self,
            "Platform",
            spec=ClusterSpec(
                name=cluster_name,
                kubernetes_version=s.kubernetes_version,
                public_endpoint_cidrs=s.public_endpoint_cidrs,
                admin_role_arns=s.admin_role_arns,
                log_retention_days=s.log_retention_days,
            ),
            vpc=network.vpc,
            subnets=app_subnets,
            encryption_key=self.key.key,
            system_nodes=s.system_nodes,
            karpenter=s.karpenter,
            addons=s.addons,
            load_balancer_controller=ControllerRelease(
                version=s.load_balancer_controller_version, chart_version=s.load_balancer_controller_chart_version
            ),
            sample_app=SampleApp(image=s.sample_app_image),
            resource_tags=resource_tags,
            backup_tag=backup_tag,
        )
        cluster = self.platform.cluster

        database_identifier = f"{construct_id.lower()}-mendix"
        self.database = MendixDatabase(
            self,
            "Database",
            instance_identifier=database_identifier,
            vpc=network.vpc,
            subnets=data_subnets,
            clients=self.platform.node_security_group,
            settings=s.database,
            encryption_key=self.key.key,
            log_retention_days=s.log_retention_days,
        )

        replicas = replicas or {}
        self.access_logs = access_log_bucket(
            self, "AccessLogs", retention_days=ACCESS_LOG_RETENTION_DAYS, replica=replicas.get("access_logs")
        )
        self.file_storage = encrypted_bucket(
            self,
            "FileStorage",
            encryption_key=self.key.key,
            access_logs=self.access_logs,
            replica=replicas.get("mendix_files"),
            replication_reason="Mendix file documents are protected by versioning and by AWS Backup, whose recovery "
            "points are copied to the DR region's vault when a DR region is set; replication would add a second copy.",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="CheaperTiers",
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=Duration.days(s.file_storage_infrequent_access_days),
                        ),
                        s3.Transition(
                            storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                            transition_after=Duration.days(s.file_storage_glacier_days),
                        ),
                    ],
                    noncurrent_version_expiration=Duration.days(s.file_storage_noncurrent_expiry_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )

        self.repository = MendixImageRepository(
            self, "Images", encryption_key=self.key.key, untagged_expiry_days=s.image_untagged_expiry_days
        ).repository

        self.mendix_operator = MendixOperator(
            self,
            "MendixOperator",
            cluster=cluster,
            namespace=c.MENDIX_NAMESPACE,
            namespace_manifest=self.platform.namespace,
            settings=s.mendix_operator,
            file_bucket=self.file_storage,
            encryption_key=self.key.key,
            database=self.database.instance,
            repository=self.repository,
            network=OperatorNetwork.of(cluster_subnets=app_subnets, database_subnets=data_subnets),
            after=[*self.platform.addons.addons],
        )
        self.pipeline: MendixDelivery | None = None
        if s.pipeline is not None:
            # A key of its own: a build that can read its artifacts cannot decrypt the database's volumes.
            self.pipeline_key = EncryptionKey(
                self,
                "PipelineKey",
                description="Encrypts the Mendix delivery pipeline: artifacts, packages, build logs",
                alias=f"alias/{construct_id}/pipeline",
            )
            self.pipeline_key.allow_cloudwatch_logs()
            self.pipeline = MendixDelivery(
                self,
                "Delivery",
                settings=s.pipeline,
                target=DeliveryTarget(
                    namespace=c.MENDIX_NAMESPACE,
                    storage_plan=STORAGE_PLAN,
                    database_plan=DATABASE_PLAN,
                    database=self.database.instance,
                    database_identifier=database_identifier,
                ),
                cluster=cluster,
                # kubectl within one minor version of the API server, as Kubernetes supports.
                kubectl_version=f"v{s.kubernetes_version}.0",
                vpc=network.vpc,
                subnets=app_subnets,
                encryption_key=self.pipeline_key.key,
                access_logs=self.access_logs,
                log_retention_days=s.log_retention_days,
                # A request for a decision in working hours, not an alarm.
                approval_topic=alarm_topics.of("P4"),
            )
            self.pipeline.kubernetes_role.node.add_dependency(self.platform.namespace)

        self.observability = PlatformObservability(
            self,
            "Observability",
            cluster=cluster,
            vpc=network.vpc,
            subnets=app_subnets,
            after=[self.platform.system_nodes, self.platform.karpenter.node_pools],
            pod_identity_agent=self.platform.addons.pod_identity_agent,
            addon_version=s.addons.cloudwatch_observability,
            encryption_key=self.key.key,
            log_retention_days=s.log_retention_days,
            app=ObservedApp(namespace=c.MENDIX_NAMESPACE, name=SAMPLE_APP, load_balancer_name=self.platform.sample_app_name),
            database=self.database.instance,
            database_settings=s.database,
            topics=alarm_topics,
        )
        self.observability.node.add_dependency(self.platform.sample_app)
        if s.karpenter.spot is not None:
            SpotInterruptionExperiment(
                self,
                "SpotInterruption",
                cluster_name=cluster_name,
                pool=SPOT_POOL,
                stop_alarms=stop_alarms(self.observability.alarms, survivor_kinds=PLATFORM_SURVIVOR_KINDS),
            )

        self.backup = PlatformBackup(
            self,
            "Backup",
            encryption_key=self.key.key,
            database=self.database.instance,
            file_bucket=self.file_storage,
            backup_tag=backup_tag,
            settings=s.backup,
            plan_name=f"{construct_id.replace('-', '_')}_mendix_monthly",
            copy=BackupCopy(dr.region, dr.backup_vault_arn, dr.key_arn)
            if dr is not None and dr.backup_vault_arn is not None
            else None,
            vault_lock=vault_lock,
        )
        environment = ("Environment", resource_tags["Environment"])
        self.budget = CostBudget(
            self,
            "Budget",
            limit_usd=s.budget.monthly_limit_usd,
            thresholds_percent=s.budget.thresholds_percent,
            emails=s.budget.emails,
            scope_tag=environment,
            resource_tags=resource_tags,
        )

        # Log groups of the CDK's own deploy-time functions get the key too.
        visit_each(self, logs.CfnLogGroup, EncryptedLogGroups(key_arn=self.key.key.key_arn, days=s.log_retention_days).visit)

        CfnOutput(self, "ClusterName", value=cluster.cluster_name, description="aws eks update-kubeconfig --name <this>")
        CfnOutput(self, "RepositoryUri", value=self.repository.repository_uri, description="Mendix app images")
        CfnOutput(self, "FileStorageBucket", value=self.file_storage.bucket_name, description="Mendix file documents")
        CfnOutput(
            self,
            "DatabaseEndpoint",
            value=self.database.instance.db_instance_endpoint_address,
            description="PostgreSQL host; the master secret is managed by RDS in Secrets Manager",
        )
