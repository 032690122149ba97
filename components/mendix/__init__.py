"""The Mendix platform on EKS, one concern a module.

cluster                   MendixCluster: the control plane, composed with what follows
nodes                     node identity, launch template, the tainted system node group
karpenter                 Karpenter: interruption queue, chart, EC2NodeClass and NodePools
karpenter_policy          Karpenter's documented controller policy and its acknowledgements
addons                    EKS-managed add-ons with their Pod Identity roles
load_balancer_controller  the AWS Load Balancer Controller: release, narrowed policy, acknowledgements
manifests                 the namespace, the default StorageClass and the sample app, as plain data
identity                  Pod Identity and IRSA roles of one service account
install                   MendixOperator: plans' IAM, database bootstrap, install Job
operator                  the Operator's install and bootstrap Jobs and scripts, as plain data
plans                     IAM of the Operator's storage, database and registry plans
network_policies          the Mendix namespace's NetworkPolicies, as plain data
database                  RDS PostgreSQL for the Mendix runtime
backup                    AWS Backup plans and restore tests
observability             Container Insights, alarms and the dashboard
pipeline                  the app's ECR repository and its build-and-canary pipeline
nag                       acknowledgements of what the CDK generates for the platform
"""
