"""cdk-nag acknowledgements of what the CDK generates for the Mendix platform:
the kubectl provider's functions and roles, and the function behind every
AwsCustomResource of the stack.

Guarantees: each acknowledgement is scoped to one generated resource and one
finding, with the reason that finding is accepted there; the platform's own
resources keep theirs beside them, in the module that creates them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from aws_cdk import Stack
from aws_cdk import aws_eks_v2 as eks
from constructs import IConstruct

from components.nag import acknowledge, acknowledge_inline_policies, acknowledge_provider_function, managed_policy_finding

# The id the CDK gives the one function behind every AwsCustomResource of a stack.
AWS_CUSTOM_RESOURCE_FUNCTION_ID = "AWS679f53fac002430cb0da5b7982bd2287"


def inline_reason(owner: str) -> str:
    """Why an inline policy written for exactly one ``owner`` (a role) stays inline."""
    return (
        f"The policy belongs to exactly one {owner}, is created and deleted with it and is written for it alone; "
        "a customer-managed policy would add a resource that nothing else may attach."
    )


def lambda_execution_policies(why_in_vpc: str | None = None) -> dict[str, str]:
    """AwsSolutions-IAM4 on the two AWS-managed policies of a deploy-time function in the VPC."""
    vpc_reason = "The AWS-maintained policy with exactly the network-interface permissions Lambda needs in a VPC"
    return {
        managed_policy_finding("service-role/AWSLambdaBasicExecutionRole"): "The AWS-maintained minimum for a Lambda "
        "function to write its own logs.",
        managed_policy_finding("service-role/AWSLambdaVPCAccessExecutionRole"): f"{vpc_reason}; {why_in_vpc}"
        if why_in_vpc
        else f"{vpc_reason}.",
    }


def acknowledge_public_endpoint(cluster: eks.Cluster, public_endpoint_cidrs: Sequence[str]) -> None:
    """EKS1 (public endpoint), only when settings name the CIDRs it admits."""
    if not public_endpoint_cidrs:
        return
    resource = cluster.node.default_child
    assert resource is not None
    acknowledge(
        resource,
        {
            "AwsSolutions::AwsSolutions-EKS1": "The public endpoint is on only because "
            f"eks.public_endpoint_cidrs names {', '.join(public_endpoint_cidrs)}, and admits only those; "
            "nodes and the kubectl provider use the private endpoint."
        },
    )


def acknowledge_kubectl_provider(cluster: eks.Cluster) -> None:
    """The kubectl provider: the CDK's deploy-time functions that run kubectl and helm."""
    stack = Stack.of(cluster)
    provider = cluster.node.find_child("KubectlProvider")
    handler = provider.node.find_child("Handler")
    framework = provider.node.find_child("Provider").node.find_child("framework-onEvent")
    basic = lambda_execution_policies("the provider runs in the VPC to reach the private API endpoint.")
    # Attached only in the aws partition, so its ARN is a condition: nag names it by the resolved JSON.
    condition = stack.get_logical_id(handler.node.find_child("HasEcrPublic"))  # type: ignore[arg-type]
    public_policy = {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/AmazonElasticContainerRegistryPublicReadOnly"]]
    }
    ecr_public = json.dumps({"Fn::If": [condition, public_policy, {"Ref": "AWS::NoValue"}]}, separators=(",", ":"))
    acknowledge(
        handler.node.find_child("ServiceRole"),
        {
            **basic,
            managed_policy_finding("AmazonEC2ContainerRegistryReadOnly"): "The AWS-maintained pull-only ECR policy the "
            "kubectl provider uses to pull OCI Helm charts from ECR.",
            f"AwsSolutions::AwsSolutions-IAM4[Policy::{ecr_public}]": "The AWS-maintained "
            "pull-only ECR Public policy, attached in the aws partition only, for charts published on ECR Public.",
        },
    )
    acknowledge(framework.node.find_child("ServiceRole"), basic)
    acknowledge(
        handler,
        {
            "AwsSolutions::AwsSolutions-L1": "The runtime is the one the CDK's kubectl handler is built and "
            "tested for; it moves with aws-cdk-lib, pinned in requirements.txt."
        },
    )
    acknowledge_provider_function(handler, "The kubectl provider's handler")
    acknowledge_provider_function(framework, "The kubectl provider's framework function")
    handler_id = stack.get_logical_id(handler.node.default_child)  # type: ignore[arg-type]
    acknowledge(
        framework.node.find_child("ServiceRole").node.find_child("DefaultPolicy"),
        {
            f"AwsSolutions::AwsSolutions-IAM5[Resource::<{handler_id}.Arn>:*]": "The framework invokes the "
            "kubectl handler, any version of that one function."
        },
    )
    acknowledge_inline_policies(provider, inline_reason("role"))


def acknowledge_custom_resource_function(scope: IConstruct, what: str) -> None:
    """The stack's one AwsCustomResource function, which runs the SDK calls of ``what``."""
    function = Stack.of(scope).node.find_child(AWS_CUSTOM_RESOURCE_FUNCTION_ID)
    acknowledge(function.node.find_child("ServiceRole"), lambda_execution_policies())
    acknowledge_provider_function(function, f"The CDK's AwsCustomResource function ({what})")
