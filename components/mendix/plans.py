"""IAM for the Mendix Operator's plans: amazon-s3 (IRSA), postgres (IAM authentication), amazon-ecr.

The statements follow Mendix's "Storage Plans" page (IRSA mode and Postgres IAM
authentication), with every resource narrowed to this stack's bucket, database
user and repository.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from components.mendix.identity import irsa_role
from components.mendix.nag import inline_reason
from components.nag import acknowledge, acknowledge_inline_policies

S3_PREFIX_TAG = "privatecloud.mendix.com/s3-prefix"
DATABASE_USER_TAG = "privatecloud.mendix.com/database-user"
# Roles the storage provisioner creates, one per app environment, are named mendix-<environment>.
ENVIRONMENT_ROLE_PREFIX = "mendix-"
# Service accounts the plans use; Mendix reserves mendix-operator, mendix-agent and mendix-storage-provisioner.
STORAGE_ADMIN_SERVICE_ACCOUNT = "mendix-storage-admin"
BUILDER_SERVICE_ACCOUNT = "mendix-builder"
OBJECT_ACTIONS = [
    "s3:AbortMultipartUpload",
    "s3:DeleteObject",
    "s3:GetObject",
    "s3:ListMultipartUploadParts",
    "s3:PutObject",
]
PUSH_ACTIONS = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:GetDownloadUrlForLayer",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
]
INLINE_REASON = inline_reason("plan role")


def principal_tag(tag: str) -> str:
    """An IAM policy variable that the request's principal tag replaces."""
    return "${aws:PrincipalTag/" + tag + "}"


class MendixPlans(Construct):
    """The roles and the environment template policy the Operator's plans name.

    Guarantees: the storage admin role (IRSA, one service account of the app
    namespace) may create, tag and delete only ``role/mendix-*`` roles, attach or
    detach only the environment policy to them, clean up the file bucket, and
    connect to the database as one user; the environment policy reaches only the
    bucket prefix and database user named by the environment role's own tags; the
    builder role may push only to the project's repository.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.Cluster,
        namespace: str,
        file_bucket: s3.IBucket,
        encryption_key: kms.IKey,
        database_resource_id: str,
        database_admin_user: str,
        repository: ecr.IRepository,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.environment_roles_arn = f"arn:{stack.partition}:iam::{stack.account}:role/{ENVIRONMENT_ROLE_PREFIX}*"
        dbuser = f"arn:{stack.partition}:rds-db:{stack.region}:{stack.account}:dbuser:{database_resource_id}"
        self.admin_database_user_arn = f"{dbuser}/{database_admin_user}"
        via_s3 = {"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}}
        files = file_bucket.arn_for_objects("*")

        self.environment_policy = iam.ManagedPolicy(
            self,
            "EnvironmentPolicy",
            description="Attached by the Mendix storage provisioner to every app environment's role: its own "
            "bucket prefix and database user, chosen by the role's tags",
            statements=[
                iam.PolicyStatement(
                    sid="AllowListingOfUserFolder",
                    actions=["s3:ListBucket"],
                    resources=[file_bucket.bucket_arn],
                    conditions={"StringLike": {"s3:prefix": [f"{principal_tag(S3_PREFIX_TAG)}/*", principal_tag(S3_PREFIX_TAG)]}},
                ),
                iam.PolicyStatement(
                    sid="AllowAllS3ActionsInUserFolder",
                    actions=OBJECT_ACTIONS,
                    resources=[file_bucket.arn_for_objects(f"{principal_tag(S3_PREFIX_TAG)}/*")],
                ),
                iam.PolicyStatement(
                    sid="AllowConnectionToDatabase",
                    actions=["rds-db:connect"],
                    resources=[f"{dbuser}/{principal_tag(DATABASE_USER_TAG)}"],
                ),
                iam.PolicyStatement(
                    sid="UseTheFileKeyThroughS3",
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=[encryption_key.key_arn],
                    conditions=via_s3,
                ),
            ],
        )
        acknowledge(
            self.environment_policy,
            {
                # nag shows the policy variable ${...} as <...>.
                f"AwsSolutions::AwsSolutions-IAM5[Resource::<{_id(stack, file_bucket)}.Arn>/"
                f"<aws:PrincipalTag/{S3_PREFIX_TAG}>/*]": "Objects under the one prefix the environment role's "
                f"{S3_PREFIX_TAG} tag names, which the provisioner sets per environment.",
            },
        )

        self.storage_admin_role = irsa_role(
            self,
            "StorageAdminRole",
            cluster=cluster,
            namespace=namespace,
            service_account=STORAGE_ADMIN_SERVICE_ACCOUNT,
            description="Mendix storage and database provisioner: creates app environment roles and database tenants",
        )
        for statement in (
            iam.PolicyStatement(
                sid="LimitedAttachmentPermissions",
                actions=["iam:AttachRolePolicy", "iam:DetachRolePolicy"],
                resources=[self.environment_roles_arn],
                conditions={"ArnEquals": {"iam:PolicyArn": [self.environment_policy.managed_policy_arn]}},
            ),
            iam.PolicyStatement(
                sid="ManageRoles",
                actions=["iam:CreateRole", "iam:TagRole", "iam:DeleteRole"],
                resources=[self.environment_roles_arn],
            ),
            iam.PolicyStatement(
                sid="AllowFileCleanup",
                actions=[*OBJECT_ACTIONS, "s3:ListBucket"],
                resources=[file_bucket.bucket_arn, files],
            ),
            iam.PolicyStatement(
                sid="UseTheFileKeyThroughS3",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[encryption_key.key_arn],
                conditions=via_s3,
            ),
            iam.PolicyStatement(
                sid="AllowCreateRDSTenants",
                actions=["rds-db:connect"],
                resources=[self.admin_database_user_arn],
            ),
        ):
            self.storage_admin_role.add_to_principal_policy(statement)
        acknowledge(
            self.storage_admin_role.node.find_child("DefaultPolicy"),
            {
                f"AwsSolutions::AwsSolutions-IAM5[Resource::{self.environment_roles_arn}]": "The per-environment "
                f"roles the Mendix provisioner creates, named {ENVIRONMENT_ROLE_PREFIX}<environment> at run time; "
                "it may attach only the environment policy.",
                f"AwsSolutions::AwsSolutions-IAM5[Resource::<{_id(stack, file_bucket)}.Arn>/*]": "Files of deleted "
                "environments in the one Mendix file bucket, whose prefixes exist only at run time.",
            },
        )
        acknowledge_inline_policies(self.storage_admin_role, INLINE_REASON)

        self.builder_role = irsa_role(
            self,
            "BuilderRole",
            cluster=cluster,
            namespace=namespace,
            service_account=BUILDER_SERVICE_ACCOUNT,
            description="Mendix image builder: pushes app images to the project's repository only",
        )
        self.builder_role.add_to_principal_policy(
            iam.PolicyStatement(sid="PushToTheProjectRepository", actions=PUSH_ACTIONS, resources=[repository.repository_arn])
        )
        self.builder_role.add_to_principal_policy(
            iam.PolicyStatement(sid="RegistryLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"])
        )
        acknowledge(
            self.builder_role.node.find_child("DefaultPolicy"),
            {
                "AwsSolutions::AwsSolutions-IAM5[Resource::*]": "ecr:GetAuthorizationToken accepts no resource; the "
                "token only works with the repository permissions above, which name one repository."
            },
        )
        acknowledge_inline_policies(self.builder_role, INLINE_REASON)


def _id(stack: Stack, bucket: s3.IBucket) -> str:
    return stack.get_logical_id(bucket.node.default_child)  # type: ignore[arg-type]
