"""VPC endpoint policies: no way out of the VPC for data, through any endpoint.

Guarantees: every endpoint admits only this account's principals, and only
on this account's resources (``aws:PrincipalAccount`` and
``aws:ResourceAccount``); the exceptions are AWS-owned resources the hosts
and functions need, each named: for S3 the buckets of package repositories,
agents, ECR image layers and CloudFormation's custom resource responses;
for Systems Manager AWS's public parameters and documents, read-only. So a
credential of another account, or a bucket of another account, is refused
at the endpoint, whatever the caller's own policies allow.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam


def aws_owned_buckets(region: str) -> dict[str, tuple[str, ...]]:
    """The AWS-owned S3 buckets the hosts and functions read or write, by what needs them.

    Names as AWS publishes them for endpoint policies (the ECR user guide's
    "Minimum Amazon S3 bucket permissions", the Systems Manager and
    CloudWatch agent guides, aws-samples/data-perimeter-policy-examples).
    """
    return {
        # ECR keeps image layers in S3: every image pull (IRIS, Web Gateway, EKS add-ons).
        "ECR image layers": (f"prod-{region}-starport-layer-bucket",),
        # dnf/yum on Amazon Linux 2023 and Amazon Linux 2.
        "Amazon Linux package repositories": (
            f"al2023-repos-{region}-de612dc2",
            f"amazonlinux-2-repos-{region}",
            f"amazonlinux.{region}.amazonaws.com",
            f"packages.{region}.amazonaws.com",
            f"repo.{region}.amazonaws.com",
        ),
        # SSM Agent updates, Run Command plugins and document attachments, patch baselines.
        "Systems Manager": (
            f"amazon-ssm-{region}",
            f"amazon-ssm-packages-{region}",
            f"aws-ssm-{region}",
            f"aws-ssm-document-attachments-{region}",
            f"aws-ssm-distributor-file-{region}",
            f"patch-baseline-snapshot-{region}",
        ),
        "CloudWatch agent": (f"amazoncloudwatch-agent-{region}", "amazoncloudwatch-agent"),
    }


def custom_resource_response_bucket(region: str) -> str:
    """Where a custom resource's function answers CloudFormation (a URL CloudFormation presigned)."""
    return f"cloudformation-custom-resource-response-{region.replace('-', '')}"


def _this_account(account: str) -> dict[str, dict[str, str]]:
    return {"StringEquals": {"aws:PrincipalAccount": account, "aws:ResourceAccount": account}}


def gateway_endpoint_statements(account: str, region: str, partition: str) -> list[iam.PolicyStatement]:
    """The S3 gateway endpoint's policy: this account's buckets, and the named AWS-owned ones."""
    owned = [b for names in aws_owned_buckets(region).values() for b in names]
    return [
        iam.PolicyStatement(
            sid="ThisAccountsPrincipalsOnThisAccountsBuckets",
            principals=[iam.AnyPrincipal()],
            actions=["s3:*"],
            resources=["*"],
            conditions=_this_account(account),
        ),
        iam.PolicyStatement(
            sid="ThisAccountsPrincipalsReadAwsOwnedBuckets",
            principals=[iam.AnyPrincipal()],
            actions=["s3:GetObject"],
            resources=[f"arn:{partition}:s3:::{b}/*" for b in owned],
            conditions={"StringEquals": {"aws:PrincipalAccount": account}},
        ),
        # A presigned URL carries CloudFormation's signature, not the caller's: only the bucket names it.
        iam.PolicyStatement(
            sid="CustomResourceResponsesToCloudFormation",
            principals=[iam.AnyPrincipal()],
            actions=["s3:PutObject"],
            resources=[f"arn:{partition}:s3:::{custom_resource_response_bucket(region)}/*"],
        ),
    ]


def interface_endpoint_statements(service: str, account: str, region: str, partition: str) -> list[iam.PolicyStatement]:
    """An interface endpoint's policy: this account's principals on its resources; for ``ssm``,
    AWS's public parameters and documents too, read-only."""
    statements = [
        iam.PolicyStatement(
            sid="ThisAccountsPrincipalsOnThisAccountsResources",
            principals=[iam.AnyPrincipal()],
            actions=["*"],
            resources=["*"],
            conditions=_this_account(account),
        )
    ]
    if service == "ssm":
        statements.append(
            iam.PolicyStatement(
                sid="ThisAccountsPrincipalsReadAwsOwnedParametersAndDocuments",
                principals=[iam.AnyPrincipal()],
                actions=["ssm:GetParameter", "ssm:GetParameters", "ssm:GetDocument", "ssm:DescribeDocument"],
                resources=[
                    f"arn:{partition}:ssm:{region}::parameter/aws/*",
                    f"arn:{partition}:ssm:{region}::document/*",
                ],
                conditions={"StringEquals": {"aws:PrincipalAccount": account}},
            )
        )
    return statements


PRIVATE_CA_HOST_ACTIONS = ["acm-pca:IssueCertificate", "acm-pca:GetCertificate", "acm-pca:GetCertificateAuthorityCertificate"]


def private_ca_endpoint_statements(account: str) -> list[iam.PolicyStatement]:
    """The AWS Private CA endpoint's policy: this account's principals, the hosts' three calls only.

    The CA may be another account's (``tls.ca_arn``, shared through AWS RAM),
    so the resource's account is not bound; the calls are the ones a host
    makes for its certificate, and the hosts' own policy names the CA.
    """
    return [
        iam.PolicyStatement(
            sid="ThisAccountsPrincipalsGetTheirCertificates",
            principals=[iam.AnyPrincipal()],
            actions=PRIVATE_CA_HOST_ACTIONS,
            resources=["*"],
            conditions={"StringEquals": {"aws:PrincipalAccount": account}},
        )
    ]
