"""Each Lambda function's IAM policy, written to `.chalice/policies/<function>.json`.

`python -m infra.policies` regenerates the files (`make policies`); a test fails when
they drift from this module. Chalice embeds each file in that function's role when
packaging, and CloudFormation resolves the `Fn::*` values against the merged
template (infra/template.yaml), so resources are this stack's own: its table, its
state machines by name, stacks named `eksctl-*`, the stack role.

Actions each function really calls are recorded on the local engine (local/audit.py)
and compared with these policies by tests/e2e/test_deployment.py.

The stack role's policy (`stack_role_document`, the role CloudFormation builds eksctl-* stacks
with) is here too; `make package` writes it into the template (infra/package.py), and
tests/unit/test_stack_role_permissions.py holds it to what the CloudFormation registry says
the resource types of our templates need.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NamedTuple

from chalicelib.cfn import addons as cfn_addons
from chalicelib.cfn import fargate as cfn_fargate
from chalicelib.cfn import iam as cfn_iam
from chalicelib.cfn import node_policies, well_known_policies
from chalicelib.cfn import remote_nodes as cfn_remote_nodes
from chalicelib.cfn.upload import TEMPLATE_PREFIX
from chalicelib.model import naming, settings

ROOT = Path(__file__).resolve().parent.parent
POLICY_DIR = ROOT / ".chalice" / "policies"

Statement = dict[str, Any]

_ACCOUNT = "${AWS::AccountId}"
_PARTITION = "${AWS::Partition}"


def _sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


TABLE = [{"Fn::GetAtt": ["ClustersTable", "Arn"]}, _sub("${ClustersTable.Arn}/index/*")]
# Stacks in any region (clusters go where the request says), only by eksctl's names.
STACKS = [_sub(f"arn:{_PARTITION}:cloudformation:*:{_ACCOUNT}:stack/eksctl-*/*")]
CLUSTERS = [_sub(f"arn:{_PARTITION}:eks:*:{_ACCOUNT}:cluster/*")]


def _machine(stem: str) -> dict[str, str]:
    return _sub(f"arn:{_PARTITION}:states:${{AWS::Region}}:{_ACCOUNT}:stateMachine:${{AWS::StackName}}-{stem}")


def _executions(stem: str) -> dict[str, str]:
    return _sub(f"arn:{_PARTITION}:states:${{AWS::Region}}:{_ACCOUNT}:execution:${{AWS::StackName}}-{stem}:*")


# TransactWriteItems is authorized item by item, as the writes it contains.
TRANSACT_WRITE = ("PutItem", "UpdateItem", "DeleteItem", "ConditionCheckItem")


def answer_steps(*machines: str) -> Statement:
    """SendTaskSuccess for a waiting step answered by its own function (no stack operation, no event)."""
    return {
        "Sid": "AnswerOwnWait",
        "Effect": "Allow",
        "Action": "states:SendTaskSuccess",
        "Resource": [_machine(stem.replace("_", "-")) for stem in machines],
    }


def table(*actions: str) -> Statement:
    if "TransactWriteItems" in actions:
        actions = tuple({*actions, *TRANSACT_WRITE} - {"TransactWriteItems"})
    return {
        "Sid": "ClusterRecords",
        "Effect": "Allow",
        "Action": sorted(f"dynamodb:{a}" for a in actions),
        "Resource": TABLE,
    }


# Stacks are ours by our owner tag (chalicelib/cfn/templates.py stack_tags): a stack is created with
# it and changed or deleted only while it carries it, so a stack eksctl itself made, named like ours,
# is out of reach. CloudFormation authorizes CreateStack on the request's tags and UpdateStack and
# DeleteStack on the stack's (Service Authorization Reference, "Actions, resources, and condition
# keys for AWS CloudFormation":
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscloudformation.html).
OWNER_TAG = {naming.TAG_OWNER: naming.TAG_OWNER_VALUE}
_CHANGES = ("UpdateStack", "DeleteStack")


def stacks(*actions: str) -> list[Statement]:
    """CloudFormation on eksctl-* stacks; stacks are built with the stack role, which this may pass.

    Reads take any eksctl-* stack (the code must see one that is not ours to refuse it); creating
    needs our owner tag in the request, updating and deleting it on the stack.
    """
    reads = [a for a in actions if a != "CreateStack" and a not in _CHANGES]
    changes = [a for a in actions if a in _CHANGES]
    statements: list[Statement] = []
    if reads:
        statements.append(
            {
                "Sid": "EksctlStacks",
                "Effect": "Allow",
                "Action": sorted(f"cloudformation:{a}" for a in reads),
                "Resource": STACKS,
            }
        )
    if "CreateStack" in actions:
        statements.append(
            {
                "Sid": "CreateOwnStacks",
                "Effect": "Allow",
                "Action": "cloudformation:CreateStack",
                "Resource": STACKS,
                "Condition": {"StringEquals": {f"aws:RequestTag/{k}": v for k, v in OWNER_TAG.items()}},
            }
        )
    if changes:
        statements.append(
            {
                "Sid": "ChangeOwnStacks",
                "Effect": "Allow",
                "Action": sorted(f"cloudformation:{a}" for a in changes),
                "Resource": STACKS,
                "Condition": {"StringEquals": {f"aws:ResourceTag/{k}": v for k, v in OWNER_TAG.items()}},
            }
        )
    if {"CreateStack", *_CHANGES} & set(actions):
        statements.append(
            {
                "Sid": "PassStackRole",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": {"Fn::GetAtt": ["CloudFormationRole", "Arn"]},
                "Condition": {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}},
            }
        )
    return statements


def start(*stems: str) -> Statement:
    return {
        "Sid": "StartWorkflows",
        "Effect": "Allow",
        "Action": "states:StartExecution",
        "Resource": [_machine(s) for s in stems],
    }


DESCRIBE_CLUSTER: Statement = {
    "Sid": "ReachKubernetes",
    "Effect": "Allow",
    "Action": "eks:DescribeCluster",
    "Resource": CLUSTERS,
}
# Kubernetes load balancers left by services: the code deletes only those tagged for the cluster.
LOAD_BALANCERS: list[Statement] = [
    {
        "Sid": "FindLoadBalancers",
        "Effect": "Allow",
        # Describe calls take no resource-level permissions.
        "Action": [
            "elasticloadbalancing:DescribeLoadBalancers",
            "elasticloadbalancing:DescribeTags",
            "ec2:DescribeSecurityGroups",
        ],
        "Resource": "*",
    },
    {
        "Sid": "DeleteKubernetesLoadBalancers",
        "Effect": "Allow",
        "Action": "elasticloadbalancing:DeleteLoadBalancer",
        "Resource": [
            _sub(f"arn:{_PARTITION}:elasticloadbalancing:*:{_ACCOUNT}:loadbalancer/*"),
        ],
    },
    {
        "Sid": "DeleteKubernetesSecurityGroups",
        "Effect": "Allow",
        "Action": "ec2:DeleteSecurityGroup",
        # The tag that marks them (`kubernetes.io/cluster/NAME`) has the cluster in its key,
        # which IAM conditions cannot match by pattern: the code checks VPC and tag first.
        "Resource": _sub(f"arn:{_PARTITION}:ec2:*:{_ACCOUNT}:security-group/*"),
    },
]

# Templates over CloudFormation's TemplateBody limit, passed by TemplateURL (chalicelib/cfn/stacks.py):
# the function puts the object, and CloudFormation reads it as the caller of CreateStack/UpdateStack
# ("TemplateURL must reference a valid S3 object to which you have access").
STACK_TEMPLATES: Statement = {
    "Sid": "StackTemplates",
    "Effect": "Allow",
    "Action": ["s3:GetObject", "s3:PutObject"],
    "Resource": _sub(f"${{ArtifactsBucket.Arn}}/{TEMPLATE_PREFIX}/*"),
}

RECORD_ONLY = [table("GetItem", "TransactWriteItems")]

# The queue EventBridge puts CloudFormation's stack status events on (infra/template.yaml).
STACK_EVENTS_QUEUE: Statement = {
    "Sid": "StackEventsQueue",
    "Effect": "Allow",
    "Action": ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
    "Resource": {"Fn::GetAtt": ["StackEventsQueue", "Arn"]},
}

# Requests are checked against EC2's instance facts (architecture, accelerators) before
# anything is recorded, and an instanceSelector picks the types offered in the group's zones;
# neither read has resource-level permissions.
INSTANCE_FACTS: Statement = {
    "Sid": "InstanceFacts",
    "Effect": "Allow",
    "Action": ["ec2:DescribeInstanceTypes", "ec2:DescribeInstanceTypeOfferings"],
    "Resource": "*",
}
# A self-managed node group's image is chosen when it is requested, as eksctl does: `ami: auto` reads the
# public SSM parameter EKS publishes (AWS's own, in every region: no account in the ARN; read in the
# cluster's region, whichever it is), and an AMI ID is looked up in EC2 (DescribeImages has no
# resource-level permissions). Windows images are published under their own path.
NODE_IMAGE_PARAMETERS: Statement = {
    "Sid": "NodeImageParameters",
    "Effect": "Allow",
    "Action": "ssm:GetParameters",
    "Resource": [
        _sub(f"arn:{_PARTITION}:ssm:*::parameter/aws/service/{path}/*")
        for path in ("eks/optimized-ami", "bottlerocket", "ami-windows-latest")
    ],
}
NODE_IMAGES: Statement = {"Sid": "NodeImages", "Effect": "Allow", "Action": "ec2:DescribeImages", "Resource": "*"}
# A managed node group may name its own launch template (chalicelib/operations/images.py): it must exist,
# with its version; neither read takes resource-level permissions.
NODE_LAUNCH_TEMPLATES: Statement = {
    "Sid": "NodeLaunchTemplates",
    "Effect": "Allow",
    "Action": ["ec2:DescribeLaunchTemplates", "ec2:DescribeLaunchTemplateVersions"],
    "Resource": "*",
}
# The EC2 key pair a node group names (ssh.publicKeyName) must exist (chalicelib/operations/key_pairs.py);
# DescribeKeyPairs takes no resource-level permissions.
NODE_KEY_PAIRS: Statement = {
    "Sid": "NodeKeyPairs",
    "Effect": "Allow",
    "Action": "ec2:DescribeKeyPairs",
    "Resource": "*",
}
# A fully private cluster's endpoint services and, in an existing VPC, its subnets' route tables, DNS
# attributes and endpoints, read when it is requested (chalicelib/aws/network.py).
# None of these Describe calls takes resource-level permissions.
ENDPOINT_SERVICES: Statement = {
    "Sid": "EndpointServices",
    "Effect": "Allow",
    "Action": [
        "ec2:DescribeRouteTables",
        "ec2:DescribeVpcAttribute",
        "ec2:DescribeVpcEndpointServices",
        "ec2:DescribeVpcEndpoints",
    ],
    "Resource": "*",
}
# A create is checked for headroom first (chalicelib/aws/quotas.py): the applied quota from Service
# Quotas (else AWS's default) and what is in use. None of these calls takes resource-level permissions.
QUOTA_READS: Statement = {
    "Sid": "AccountQuotas",
    "Effect": "Allow",
    "Action": [
        "servicequotas:GetServiceQuota",
        "servicequotas:GetAWSDefaultServiceQuota",
        "ec2:DescribeVpcs",
        "ec2:DescribeInternetGateways",
        "ec2:DescribeAddresses",
        "ec2:DescribeNatGateways",
        "ec2:DescribeSubnets",
        "ec2:DescribeAvailabilityZones",
        # An existing VPC's control-plane security groups are checked with its subnets (aws/network.py).
        "ec2:DescribeSecurityGroups",
        "eks:ListClusters",
        # Which VPCs are the account's own (shared ones count toward their owner). AWS asks no
        # permission for it; listed so the policy names every call the function makes.
        "sts:GetCallerIdentity",
    ],
    "Resource": "*",
}
# A cluster with secretsEncryption is checked when requested (chalicelib/operations/encryption.py): KMS
# DescribeKey on the caller's key, which may be another account's; and one with a log retention, that the
# control plane's log group is free (chalicelib/operations/logging.py). DescribeLogGroups is authorized on
# the region's `log-group:*`.
# A self-managed group's targetGroupARNs and classicLoadBalancerNames, checked when requested
# (chalicelib/operations/load_balancer_targets.py); ELB's Describe calls take no resource.
LOAD_BALANCER_READS: Statement = {
    "Sid": "NodeGroupLoadBalancers",
    "Effect": "Allow",
    "Action": ["elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeLoadBalancers"],
    "Resource": "*",
}
CLUSTER_OPTION_READS: list[Statement] = [
    {
        "Sid": "SecretsEncryptionKeys",
        "Effect": "Allow",
        "Action": "kms:DescribeKey",
        "Resource": _sub(f"arn:{_PARTITION}:kms:*:*:key/*"),
    },
    {
        "Sid": "ControlPlaneLogGroups",
        "Effect": "Allow",
        "Action": "logs:DescribeLogGroups",
        "Resource": _sub(f"arn:{_PARTITION}:logs:*:{_ACCOUNT}:log-group:*"),
    },
]
# The function that does a Slack command's slow work, named in the template (its FunctionName).
SLACK_WORKER = _sub(
    f"arn:{_PARTITION}:lambda:${{AWS::Region}}:{_ACCOUNT}:function:${{AWS::StackName}}-{naming.SLACK_WORKER}"
)
# The warm pools' fill, invoked after a claim (its FunctionName in the template).
POOL_FILL = _sub(f"arn:{_PARTITION}:lambda:${{AWS::Region}}:{_ACCOUNT}:function:${{AWS::StackName}}-{naming.POOL_FILL}")
# A claimed pool cluster is tagged with who claimed it (operations/pools.py).
TAG_CLAIMED: Statement = {
    "Sid": "TagClaimedClusters",
    "Effect": "Allow",
    "Action": "eks:TagResource",
    "Resource": CLUSTERS,
}
REFILL = {"Sid": "AskForAPoolFill", "Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": POOL_FILL}

POLICIES: dict[str, list[Statement]] = {
    "api_handler": [
        table("GetItem", "PutItem", "Query", "TransactWriteItems", "UpdateItem", "DeleteItem"),
        start("create-cluster", "delete-cluster", "update-access", "change-nodegroup", "change-serviceaccount"),
        DESCRIBE_CLUSTER,
        INSTANCE_FACTS,
        NODE_IMAGE_PARAMETERS,
        NODE_IMAGES,
        NODE_LAUNCH_TEMPLATES,
        NODE_KEY_PAIRS,
        ENDPOINT_SERVICES,
        QUOTA_READS,
        *CLUSTER_OPTION_READS,
        LOAD_BALANCER_READS,
        {
            "Sid": "SlackSigningSecret",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": {"Ref": "SlackSigningSecret"},
        },
        # `/eks create` and `/eks delete` are answered at once and done by the worker.
        {"Sid": "HandOffSlackCommands", "Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": SLACK_WORKER},
        REFILL,
        TAG_CLAIMED,
    ],
    # A Slack create or delete: the same checks and workflow starts as the API's (a claim from a pool
    # scales its node group and maps identities through those workflows, and asks for a refill).
    "slack_worker": [
        table("GetItem", "PutItem", "Query", "TransactWriteItems", "UpdateItem"),
        start("create-cluster", "delete-cluster", "change-nodegroup", "update-access"),
        REFILL,
        TAG_CLAIMED,
        INSTANCE_FACTS,
        NODE_IMAGE_PARAMETERS,
        NODE_IMAGES,
        NODE_LAUNCH_TEMPLATES,
        NODE_KEY_PAIRS,
        ENDPOINT_SERVICES,
        QUOTA_READS,
    ],
    "create_cluster_stack": [
        table("GetItem", "TransactWriteItems"),
        # A retried step whose stack has already ended describes it (and its first failure) and answers.
        *stacks("CreateStack", "DescribeStacks", "DescribeStackEvents"),
        STACK_TEMPLATES,
        # A workload stack the spec turns out not to need is no stack and sends no event; a retried step
        # whose stack has ended sends none either. Every workflow that waits on this function.
        answer_steps("create_cluster", "change_serviceaccount"),
    ],
    "create_nodegroup_stack": [
        table("GetItem", "TransactWriteItems"),
        *stacks("CreateStack", "DescribeStacks", "DescribeStackEvents"),
        STACK_TEMPLATES,
        answer_steps("create_cluster", "change_nodegroup"),
    ],
    "describe_stack": [
        table("GetItem", "TransactWriteItems"),
        *stacks("DescribeStacks", "DescribeStackEvents"),
    ],
    # A fully private cluster's last step: its cluster stack updated to private endpoint access only.
    "close_public_endpoint": [
        table("GetItem", "TransactWriteItems"),
        *stacks("UpdateStack", "DescribeStacks", "DescribeStackEvents"),
        STACK_TEMPLATES,
        answer_steps("create_cluster"),
    ],
    # A pool cluster turning READY asks for a fill, so a claim waiting for it is served at once.
    "mark_cluster_active": [*RECORD_ONLY, REFILL],
    "record_failure": RECORD_ONLY,
    "update_aws_auth": [table("GetItem", "TransactWriteItems"), DESCRIBE_CLUSTER],
    # Reads each service account's role from its stack's outputs, then writes to Kubernetes.
    "apply_service_accounts": [table("GetItem", "TransactWriteItems"), DESCRIBE_CLUSTER, *stacks("DescribeStacks")],
    "change_access": [table("GetItem", "PutItem", "TransactWriteItems"), DESCRIBE_CLUSTER],
    "record_access_failure": [table("GetItem", "PutItem", "TransactWriteItems")],
    "stop_create_workflow": [
        {
            "Sid": "StopCreateWorkflow",
            "Effect": "Allow",
            "Action": ["states:DescribeExecution", "states:StopExecution"],
            "Resource": _executions("create-cluster"),
        }
    ],
    "list_cluster_stacks": [
        table("GetItem", "TransactWriteItems"),
        # Listing (DescribeStacks without a name) is authorized on every stack; the code
        # keeps only eksctl-* stacks tagged with this cluster's id.
        {"Sid": "ListStacks", "Effect": "Allow", "Action": "cloudformation:DescribeStacks", "Resource": "*"},
    ],
    "delete_stack": [
        table("GetItem", "TransactWriteItems"),
        *stacks("DeleteStack", "DescribeStacks", "DescribeStackEvents"),
        # A stack already being deleted (or gone) sends no event for this request: the step is answered here.
        answer_steps("delete_cluster", "change_nodegroup", "change_serviceaccount"),
    ],
    "describe_stack_deletion": [
        table("GetItem", "TransactWriteItems"),
        *stacks("DescribeStacks", "DescribeStackEvents"),
    ],
    "delete_kubernetes_load_balancers": [table("GetItem", "PutItem", "TransactWriteItems"), *LOAD_BALANCERS],
    "mark_cluster_deleted": RECORD_ONLY,
    "record_delete_failure": RECORD_ONLY,
    # Service account changes: the Kubernetes object goes before its role's stack.
    "remove_service_account": [table("GetItem", "TransactWriteItems"), DESCRIBE_CLUSTER],
    "finish_serviceaccount_change": RECORD_ONLY,
    # A failed add deletes the role's stack it made.
    "record_serviceaccount_failure": [table("GetItem", "TransactWriteItems"), *stacks("DeleteStack", "DescribeStacks")],
    "update_nodegroup_stack": [
        table("GetItem", "TransactWriteItems"),
        *stacks("UpdateStack", "DescribeStacks", "DescribeStackEvents"),
        STACK_TEMPLATES,
        # An unchanged template starts no operation and sends no event: the waiting step is answered here.
        answer_steps("change_nodegroup"),
    ],
    "change_node_role": [
        table("GetItem", "TransactWriteItems"),
        *stacks("DescribeStacks"),
        DESCRIBE_CLUSTER,
    ],
    "finish_nodegroup_change": RECORD_ONLY,
    "record_nodegroup_failure": RECORD_ONLY,
    "notify": [table("GetItem")],
    # CloudFormation's stack status events, from their queue (infra/template.yaml StackEventsQueue; Lambda's
    # event source mapping polls it with this role): the waiting step's token is read and taken, the stack
    # read, and the step answered. The only function that may answer a waiting step.
    "stack_events": [
        # The record is told of the stack's end (TransactWriteItems), as the describe step would.
        table("GetItem", "DeleteItem", "TransactWriteItems"),
        *stacks("DescribeStacks", "DescribeStackEvents"),
        STACK_EVENTS_QUEUE,
        {
            # A task token is answered on the state machine it belongs to (SendTask* authorize on it).
            "Sid": "AnswerWaitingSteps",
            "Effect": "Allow",
            "Action": ["states:SendTaskFailure", "states:SendTaskHeartbeat", "states:SendTaskSuccess"],
            "Resource": [_machine(stem.replace("_", "-")) for stem in settings.STATE_MACHINE_ENV],
        },
    ],
    "reap_idle_clusters": [
        table("GetItem", "PutItem", "Query", "TransactWriteItems", "UpdateItem"),
        start("delete-cluster"),
        {
            "Sid": "NodeGroupsOfIdleClusters",
            "Effect": "Allow",
            "Action": ["eks:ListNodegroups", "eks:DescribeNodegroup"],
            "Resource": [*CLUSTERS, _sub(f"arn:{_PARTITION}:eks:*:{_ACCOUNT}:nodegroup/*")],
        },
        # GetMetricData takes no resource-level permissions.
        {"Sid": "NodeCpu", "Effect": "Allow", "Action": "cloudwatch:GetMetricData", "Resource": "*"},
    ],
    # Warm pools (operations/pools.py): pool clusters are started by the create path of POST /clusters (its
    # reads and quota checks) and retired by the delete path; the pools and their clusters are in the table.
    # Waiting claims are served as a claim is (node group and access workflows) and leave the queue.
    "fill_pools": [
        table("GetItem", "PutItem", "Query", "TransactWriteItems", "UpdateItem", "DeleteItem"),
        start("create-cluster", "delete-cluster", "change-nodegroup", "update-access"),
        TAG_CLAIMED,
        INSTANCE_FACTS,
        NODE_IMAGE_PARAMETERS,
        NODE_IMAGES,
        NODE_LAUNCH_TEMPLATES,
        NODE_KEY_PAIRS,
        ENDPOINT_SERVICES,
        QUOTA_READS,
        *CLUSTER_OPTION_READS,
        LOAD_BALANCER_READS,
    ],
}

# Where each function logs: a group the template declares, with a retention, before the function
# exists (infra/package.py), named FUNCTION_LOGS/<logical id>. Lambda never makes one itself, so
# no function may create a group.
FUNCTION_LOGS = "/aws/lambda/${AWS::StackName}"
LOGS: Statement = {
    "Sid": "OwnLogs",
    "Effect": "Allow",
    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
    "Resource": _sub(f"arn:{_PARTITION}:logs:${{AWS::Region}}:{_ACCOUNT}:log-group:{FUNCTION_LOGS}/*"),
}


def document(function: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [*POLICIES[function], LOGS]}


# --- The stack role ---------------------------------------------------------------------------------
#
# CloudFormationRole (infra/template.yaml) is the role CloudFormation builds, updates and deletes
# eksctl-* stacks with; `make package` writes this policy into it (infra/package.py), with the stage's
# EKSPRESS_ALLOWED_POLICY_ARNS. Its actions are those the CloudFormation registry lists for the
# create, read, update and delete handlers of every resource type our templates contain, less
# UNUSED_HANDLER_ACTIONS: tests/unit/test_stack_role_permissions.py holds it to that, both ways.

ROLES = _sub(f"arn:{_PARTITION}:iam::{_ACCOUNT}:role/eksctl-*")


def template_policy_names() -> tuple[str, ...]:
    """The AWS managed policies the templates attach to the roles they make, as `iam.policy_arn` names them."""
    names = (
        *cfn_iam.CLUSTER_POLICIES,
        *cfn_iam.AUTO_MODE_CLUSTER_POLICIES,
        *cfn_iam.WORKER_POLICIES,
        *cfn_iam.AUTO_MODE_NODE_POLICIES,
        *cfn_remote_nodes.HYBRID_NODE_POLICIES,
        *(role.managed_policy for role in cfn_addons.SERVICE_ACCOUNT_ROLES.values()),
        # Self-managed node roles: eksctl's managed policies for iam.withAddonPolicies.
        *node_policies.ADDON_MANAGED_POLICIES.values(),
        # Fargate's pod execution role.
        cfn_fargate.POD_EXECUTION_POLICY,
        # Service account and pod identity roles: eksctl's managed policies for wellKnownPolicies (held to
        # the stage's allow-list as `ekspress:wellKnownPolicies/FLAG` when requested).
        *well_known_policies.MANAGED_POLICIES.values(),
    )
    return tuple(dict.fromkeys(names))


# The service each role a template passes goes to, by the resource type and property that name it
# (iam:PassedToService). EKS takes all three: the cluster's service role (CreateCluster roleArn), a
# managed node group's node role (CreateNodegroup nodeRole; EKS's own service-linked role hands it on
# to EC2) and an add-on's IRSA role (CreateAddon serviceAccountRoleArn). Step Functions' EKS policies
# pass the first two to eks.amazonaws.com: https://docs.aws.amazon.com/step-functions/latest/dg/eks-iam.html
# A self-managed node group's instance profile holds its node role, which EC2 then gets
# (iam:PassedToService ec2.amazonaws.com, as for any instance profile).
# Properties that name a role the stack makes without passing it (no iam:PassRole), and why.
ROLE_REFERENCES_NOT_PASSED: dict[tuple[str, str], str] = {
    # The hybrid nodes' role (cfn/remote_nodes.py): an access entry names the principal EKS authenticates;
    # CreateAccessEntry hands the role to no service.
    ("AWS::EKS::AccessEntry", "PrincipalArn"): "an access entry names a principal, it does not pass it",
}
ROLE_RECEIVERS: dict[tuple[str, str], str] = {
    ("AWS::EKS::Cluster", "RoleArn"): "eks.amazonaws.com",
    # EKS Auto Mode's node role (ComputeConfig.NodeRoleArn), which EKS hands on to its nodes.
    ("AWS::EKS::Cluster", "ComputeConfig"): "eks.amazonaws.com",
    ("AWS::EKS::Nodegroup", "NodeRole"): "eks.amazonaws.com",
    ("AWS::EKS::Addon", "ServiceAccountRoleArn"): "eks.amazonaws.com",
    ("AWS::IAM::InstanceProfile", "Roles"): "ec2.amazonaws.com",
    # Fargate's pod execution role (CreateFargateProfile podExecutionRoleArn), which EKS hands to Fargate.
    ("AWS::EKS::FargateProfile", "PodExecutionRoleArn"): "eks.amazonaws.com",
    # EKS Pod Identity: the association's role, and an add-on's associations (EKS makes them the same way).
    ("AWS::EKS::PodIdentityAssociation", "RoleArn"): "pods.eks.amazonaws.com",
    ("AWS::EKS::Addon", "PodIdentityAssociations"): "pods.eks.amazonaws.com",
}


class Unused(NamedTuple):
    """Actions a resource type's handlers list that no template of ours makes them call.

    They become needed (and the permissions test fails) as soon as a template sets one of
    `unless_set`, or builds one resource with two different values of one of `unless_changed`.
    """

    resource_type: str
    actions: tuple[str, ...]
    why: str
    unless_set: tuple[str, ...] = ()
    unless_changed: tuple[str, ...] = ()


UNUSED_HANDLER_ACTIONS: tuple[Unused, ...] = (
    Unused(
        "AWS::EC2::KeyPair",
        ("ec2:CreateKeyPair", "ssm:PutParameter"),
        "every key pair is imported from a node group's ssh.publicKey (PublicKeyMaterial): EC2 makes none, so "
        "none has a KeyType or KeyFormat and no private key is put in SSM (the delete handler still tries to "
        "delete the parameter, so the role may)",
        unless_set=("KeyType", "KeyFormat"),
    ),
    Unused(
        "AWS::IAM::Role",
        ("iam:UpdateAssumeRolePolicy",),
        "a role's trust policy is fixed by its builder and never changes once the role exists",
        unless_changed=("AssumeRolePolicyDocument",),
    ),
    Unused(
        "AWS::IAM::Role",
        ("iam:UpdateRole", "iam:UpdateRoleDescription"),
        "no role has a description or a session duration",
        unless_set=("Description", "MaxSessionDuration"),
    ),
    Unused(
        "AWS::IAM::OIDCProvider",
        ("iam:AddClientIDToOpenIDConnectProvider", "iam:RemoveClientIDFromOpenIDConnectProvider"),
        "the provider's audience (sts.amazonaws.com) never changes",
        unless_changed=("ClientIdList",),
    ),
    Unused(
        "AWS::IAM::OIDCProvider",
        ("iam:UpdateOpenIDConnectProviderThumbprint",),
        "no thumbprint is given (IAM trusts the issuer's certificate authority)",
        unless_set=("ThumbprintList",),
    ),
    # The control plane's log group (cloudWatch.clusterLogging.logRetentionInDays) has a name and a retention only.
    Unused(
        "AWS::Logs::LogGroup",
        ("logs:PutDataProtectionPolicy", "logs:CreateLogDelivery", "s3:REST.PUT.OBJECT", "firehose:TagDeliveryStream"),
        "no data protection policy, so no audit findings to deliver to S3 or Firehose",
        unless_set=("DataProtectionPolicy",),
    ),
    Unused(
        "AWS::Logs::LogGroup",
        ("logs:PutResourcePolicy", "logs:DeleteResourcePolicy"),
        "no resource policy on the log group",
        unless_set=("ResourcePolicyDocument",),
    ),
    Unused(
        "AWS::Logs::LogGroup",
        ("logs:PutIndexPolicy", "logs:DeleteIndexPolicy"),
        "no field index policies",
        unless_set=("FieldIndexPolicies",),
    ),
    Unused(
        "AWS::Logs::LogGroup",
        ("logs:AssociateKmsKey", "logs:DisassociateKmsKey"),
        "the log group is encrypted with CloudWatch Logs' own key",
        unless_set=("KmsKeyId",),
    ),
    Unused(
        "AWS::EC2::VPCEndpoint",
        (
            "vpc-lattice:CreateServiceNetworkVpcEndpointAssociation",
            "vpc-lattice:DescribeServiceNetworkVpcEndpointAssociation",
        ),
        "a private cluster's endpoints are for AWS services, not VPC Lattice service networks or resources",
        unless_set=("ServiceNetworkArn", "ResourceConfigurationArn"),
    ),
    Unused(
        "AWS::EC2::VPCEndpoint",
        ("vpce:AllowMultiRegion",),
        "each endpoint is for a service in the cluster's own region",
        unless_set=("ServiceRegion",),
    ),
    Unused(
        "AWS::Logs::LogGroup",
        ("logs:PutLogGroupDeletionProtection",),
        "no deletion protection: the log group goes with the cluster stack",
        unless_set=("DeletionProtectionEnabled",),
    ),
    Unused(
        "AWS::Logs::LogGroup",
        ("logs:PutBearerTokenAuthentication",),
        "no bearer token authentication",
        unless_set=("BearerTokenAuthenticationEnabled",),
    ),
    Unused(
        "AWS::EC2::VPC",
        ("ec2:CreateVpcEncryptionControl",),
        "no VPC encryption control",
        unless_set=("VpcEncryptionControl",),
    ),
    Unused("AWS::EC2::VPC", ("ec2:ModifyVpcTenancy",), "default tenancy", unless_set=("InstanceTenancy",)),
    Unused(
        "AWS::EC2::VPCGatewayAttachment",
        ("ec2:AttachVpnGateway", "ec2:DetachVpnGateway"),
        "only internet gateways are attached",
        unless_set=("VpnGatewayId",),
    ),
    Unused(
        "AWS::EC2::EIP",
        ("ec2:AcceptAddressTransfer",),
        "addresses are allocated, never transferred",
        unless_set=("TransferAddress",),
    ),
    Unused(
        "AWS::EC2::EIP",
        ("ec2:AssociateAddress",),
        "NAT gateways take their address by AllocationId; none is associated to an instance",
        unless_set=("InstanceId",),
    ),
    Unused(
        "AWS::EC2::NatGateway",
        ("ec2:AssignPrivateNatGatewayAddress", "ec2:UnassignPrivateNatGatewayAddress"),
        "no secondary private addresses",
        unless_set=("SecondaryPrivateIpAddresses", "SecondaryPrivateIpAddressCount"),
    ),
    Unused(
        "AWS::EC2::NatGateway",
        ("ec2:AssociateNatGatewayAddress", "ec2:DisassociateNatGatewayAddress"),
        "no secondary public addresses",
        unless_set=("SecondaryAllocationIds", "AvailabilityZoneAddresses"),
    ),
    Unused(
        "AWS::EC2::VPCCidrBlock",
        ("ec2:AllocateIpamPoolCidr",),
        "the VPC's IPv6 block is Amazon-provided, never allocated from an IPAM pool",
        unless_set=("Ipv4IpamPoolId", "Ipv6IpamPoolId", "Ipv4NetmaskLength", "Ipv6NetmaskLength"),
    ),
    Unused(
        "AWS::AutoScaling::AutoScalingGroup",
        (
            "autoscaling:AttachTrafficSources",
            "autoscaling:DetachTrafficSources",
            "vpc-lattice:DeregisterTargets",
            "vpc-lattice:GetTargetGroup",
            "vpc-lattice:ListTargets",
            "vpc-lattice:RegisterTargets",
        ),
        "no traffic sources: node groups name load balancers only with targetGroupARNs and classicLoadBalancerNames",
        unless_set=("TrafficSources",),
    ),
    Unused(
        "AWS::AutoScaling::AutoScalingGroup",
        ("autoscaling:PutLifecycleHook", "autoscaling:DeleteLifecycleHook"),
        "no lifecycle hooks",
        unless_set=("LifecycleHookSpecificationList",),
    ),
    Unused(
        "AWS::AutoScaling::AutoScalingGroup",
        ("autoscaling:PutNotificationConfiguration", "autoscaling:DeleteNotificationConfiguration"),
        "no notifications",
        unless_set=("NotificationConfigurations",),
    ),
    Unused(
        "AWS::AutoScaling::AutoScalingGroup",
        ("ec2:Get*",),
        "launch templates are read with ec2:Describe*; the wildcard would grant ec2:GetPasswordData, a credential",
    ),
    Unused(
        "AWS::AutoScaling::AutoScalingGroup",
        (
            "managed-fleets:CreateAutoScalingGroup",
            "managed-fleets:DeleteAutoScalingGroup",
            "managed-fleets:DeregisterAutoScalingGroup",
            "managed-fleets:Get*",
            "managed-fleets:RegisterAutoScalingGroup",
            "managed-fleets:UpdateAutoScalingGroup",
        ),
        "no managed fleet registers these groups (and IAM knows no such service prefix yet)",
    ),
    Unused(
        "AWS::AutoScaling::AutoScalingGroup",
        ("ssm:Get*",),
        "launch templates name an AMI ID resolved before the stack is built, never an SSM parameter",
    ),
    Unused(
        "AWS::EC2::SecurityGroup",
        ("ec2:UpdateSecurityGroupRuleDescriptionsEgress",),
        "egress rules are the default ones",
        unless_set=("SecurityGroupEgress",),
    ),
)

# What the role needs beyond any resource handler, and why.
NOT_HANDLER_ACTIONS = {
    "s3:GetObject": "templates over the TemplateBody limit are read from the artifacts bucket (TemplateURL)",
}

NETWORK_ACTIONS = tuple(
    f"ec2:{a}"
    for a in (
        "AllocateAddress",
        "AssociateRouteTable",
        # IPv6 (ipFamily IPv6, autoAllocateIPv6): the VPC's Amazon-provided block and the subnets' /64s.
        "AssociateSubnetCidrBlock",
        "AssociateVpcCidrBlock",
        "AttachInternetGateway",
        "AuthorizeSecurityGroupEgress",
        "AuthorizeSecurityGroupIngress",
        "CreateEgressOnlyInternetGateway",
        "CreateInternetGateway",
        "CreateLaunchTemplate",
        "CreateLaunchTemplateVersion",
        "CreateNatGateway",
        "CreateRoute",
        "CreateRouteTable",
        "CreateSecurityGroup",
        "CreateSubnet",
        "CreateTags",
        "CreateVpc",
        # A fully private cluster's VPC endpoints (chalicelib/cfn/vpc_endpoints.py).
        "CreateVpcEndpoint",
        "DeleteEgressOnlyInternetGateway",
        "DeleteInternetGateway",
        # A node group's ssh.publicKey is imported as a key pair of its stack, and deleted with it.
        "DeleteKeyPair",
        "DeleteLaunchTemplate",
        "DeleteNatGateway",
        "DeleteRoute",
        "DeleteRouteTable",
        "DeleteSecurityGroup",
        "DeleteSubnet",
        "DeleteTags",
        "DeleteVpc",
        "DeleteVpcEndpoints",
        "DescribeAddresses",
        "DescribeInstances",
        "DescribeInternetGateways",
        "DescribeKeyPairs",
        "DescribeLaunchTemplateVersions",
        "DescribeLaunchTemplates",
        "DescribeNatGateways",
        "DescribeNetworkAcls",
        "DescribeNetworkInterfaces",
        "DescribeRouteTables",
        "DescribeSecurityGroupRules",
        "DescribeSecurityGroups",
        "DescribeSubnets",
        "DescribeVpcAttribute",
        "DescribeVpcEncryptionControls",
        "DescribeVpcs",
        "DescribeVpnGateways",
        "DetachInternetGateway",
        "DisassociateAddress",
        "DisassociateRouteTable",
        "DisassociateSubnetCidrBlock",
        "DisassociateVpcCidrBlock",
        "ImportKeyPair",
        "ModifySubnetAttribute",
        "ModifyVpcAttribute",
        "ModifyVpcEndpoint",
        "ReleaseAddress",
        "ReplaceRoute",
        "ReplaceRouteTableAssociation",
        "RevokeSecurityGroupEgress",
        "RevokeSecurityGroupIngress",
        # Managed node groups with a launch template: EKS checks the template by launching as the caller;
        # self-managed groups' Auto Scaling groups check theirs the same way.
        "RunInstances",
        "UpdateSecurityGroupRuleDescriptionsEgress",
        "UpdateSecurityGroupRuleDescriptionsIngress",
    )
)
CLUSTER_ACTIONS = tuple(
    f"eks:{a}"
    for a in (
        "ActivateCertificateAuthority",
        "AssociateAccessPolicy",
        "AssociateIdentityProviderConfig",
        "CreateAccessEntry",
        "CreateAddon",
        "CreateCluster",
        "CreateFargateProfile",
        "CreatePodIdentityAssociation",
        "CreateNodegroup",
        "DeleteAccessEntry",
        "DeleteAddon",
        "DeleteCluster",
        "DeleteFargateProfile",
        "DeletePodIdentityAssociation",
        "DeleteNodegroup",
        "DescribeAccessEntry",
        "DescribeAddon",
        "DescribeCluster",
        "DescribeFargateProfile",
        "DescribeIdentityProviderConfig",
        "DescribeNodegroup",
        "DescribePodIdentityAssociation",
        "DescribeUpdate",
        "DisassociateAccessPolicy",
        "DisassociateIdentityProviderConfig",
        "ListAssociatedAccessPolicies",
        "ListUpdates",
        "TagResource",
        "UntagResource",
        "UpdateAccessEntry",
        "UpdateAddon",
        "UpdateClusterConfig",
        "UpdateClusterVersion",
        "UpdateNodegroupConfig",
        "UpdateNodegroupVersion",
        "UpdatePodIdentityAssociation",
    )
)
ROLE_ACTIONS = tuple(
    f"iam:{a}"
    for a in (
        "CreateRole",
        "DeleteRole",
        "GetRole",
        "GetRolePolicy",
        "ListAttachedRolePolicies",
        "ListRolePolicies",
        "TagRole",
        "UntagRole",
    )
)
ATTACH_ACTIONS = ("iam:AttachRolePolicy", "iam:DetachRolePolicy")
# iam.serviceRolePermissionsBoundary: a boundary only narrows what a role may do, so any policy may be one.
BOUNDARY_ACTIONS = ("iam:DeleteRolePermissionsBoundary", "iam:PutRolePermissionsBoundary")
# The control plane's log group (/aws/eks/NAME/cluster), made by the cluster stack with a log retention.
LOG_GROUP_ACTIONS = tuple(
    f"logs:{a}"
    for a in (
        "CreateLogGroup",
        "DeleteDataProtectionPolicy",
        "DeleteLogGroup",
        "DeleteRetentionPolicy",
        "GetDataProtectionPolicy",
        "ListTagsForResource",
        "PutRetentionPolicy",
        "TagResource",
        "UntagResource",
    )
)
# Reads the log group handlers make of the account's groups and policies, authorized on `log-group:*`.
LOG_GROUP_READS = ("logs:DescribeIndexPolicies", "logs:DescribeLogGroups", "logs:DescribeResourcePolicies")
OIDC_ACTIONS = tuple(
    f"iam:{a}"
    for a in (
        "CreateOpenIDConnectProvider",
        "DeleteOpenIDConnectProvider",
        "GetOpenIDConnectProvider",
        "ListOpenIDConnectProviderTags",
        "TagOpenIDConnectProvider",
        "UntagOpenIDConnectProvider",
    )
)
# Self-managed node groups: their Auto Scaling groups (named after their stacks by CloudFormation), changed
# only by name; the reads and registrations the registry lists with wildcards take no resource.
AUTOSCALING_ACTIONS = tuple(
    f"autoscaling:{a}"
    for a in (
        # targetGroupARNs and classicLoadBalancerNames: attached and detached as the group changes.
        "AttachLoadBalancerTargetGroups",
        "AttachLoadBalancers",
        "CancelInstanceRefresh",
        "CreateAutoScalingGroup",
        "CreateOrUpdateTags",
        "DeleteAutoScalingGroup",
        "DeleteTags",
        "DetachLoadBalancerTargetGroups",
        "DetachLoadBalancers",
        "DisableMetricsCollection",
        "EnableMetricsCollection",
        "ResumeProcesses",
        "StartInstanceRefresh",
        "SuspendProcesses",
        "UpdateAutoScalingGroup",
    )
)
AUTOSCALING_ANYWHERE = (
    "autoscaling:Describe*",
    "cloudwatch:PutMetricAlarm",
    "ec2:Describe*",
    "elasticloadbalancing:Describe*",  # the target groups and load balancers a group names
)
INSTANCE_PROFILE_ACTIONS = tuple(
    f"iam:{a}"
    for a in (
        "AddRoleToInstanceProfile",
        "CreateInstanceProfile",
        "DeleteInstanceProfile",
        "GetInstanceProfile",
        "RemoveRoleFromInstanceProfile",
    )
)
# EKS Auto Mode: the cluster's handler makes its nodes' instance profile, named by EKS (eks-*, as the
# AmazonEKSComputePolicy that EKS itself makes them with allows).
AUTO_MODE_INSTANCE_PROFILE_ACTIONS = (*INSTANCE_PROFILE_ACTIONS, "iam:TagInstanceProfile")
# A self-managed node role's iam.withAddonPolicies documents (chalicelib/cfn/node_policies.py).
INLINE_POLICY_ACTIONS = ("iam:DeleteRolePolicy", "iam:PutRolePolicy")
# The service-linked roles EKS needs for clusters and node groups (the node groups' Auto Scaling groups).
SERVICE_LINKED_ROLES = ("eks.amazonaws.com", "eks-nodegroup.amazonaws.com", "autoscaling.amazonaws.com")


def stack_role_document(allowed_policy_arns: tuple[str, ...] = ()) -> dict[str, Any]:
    """The stack role's policy; `allowed_policy_arns` are the stage's EKSPRESS_ALLOWED_POLICY_ARNS (ARN globs).

    Roles it makes are `eksctl-*` (CloudFormation names them after the stack), may hold only the
    managed policies the templates attach and those allowed, and are passed only to the services
    in ROLE_RECEIVERS.
    """
    policy_arns: list[Any] = [cfn_iam.policy_arn(name) for name in template_policy_names()]
    policy_arns += [arn for arn in allowed_policy_arns if arn not in policy_arns]
    eks = [
        _sub(f"arn:{_PARTITION}:eks:*:{_ACCOUNT}:{kind}/*")
        for kind in (
            "cluster",
            "nodegroup",
            "addon",
            "access-entry",
            "identityproviderconfig",
            "fargateprofile",
            "podidentityassociation",
        )
    ]
    statements: list[Statement] = [
        # VPCs, subnets, gateways and routes have no ARN before they exist.
        {"Sid": "Network", "Effect": "Allow", "Action": sorted(NETWORK_ACTIONS), "Resource": "*"},
        {
            "Sid": "Clusters",
            "Effect": "Allow",
            "Action": sorted(CLUSTER_ACTIONS),
            "Resource": [*eks, _sub(f"arn:{_PARTITION}:eks::aws:cluster-access-policy/*")],
        },
        {"Sid": "ClusterAndNodeRoles", "Effect": "Allow", "Action": sorted(ROLE_ACTIONS), "Resource": ROLES},
        {
            "Sid": "NodeRoleInlinePolicies",
            "Effect": "Allow",
            "Action": sorted(INLINE_POLICY_ACTIONS),
            "Resource": ROLES,
        },
        {
            "Sid": "NodeInstanceProfiles",
            "Effect": "Allow",
            "Action": sorted(INSTANCE_PROFILE_ACTIONS),
            "Resource": _sub(f"arn:{_PARTITION}:iam::{_ACCOUNT}:instance-profile/eksctl-*"),
        },
        {
            "Sid": "AutoModeInstanceProfiles",
            "Effect": "Allow",
            "Action": sorted(AUTO_MODE_INSTANCE_PROFILE_ACTIONS),
            "Resource": _sub(f"arn:{_PARTITION}:iam::{_ACCOUNT}:instance-profile/eks-*"),
        },
        {
            "Sid": "NodeAutoScalingGroups",
            "Effect": "Allow",
            "Action": sorted(AUTOSCALING_ACTIONS),
            "Resource": _sub(
                f"arn:{_PARTITION}:autoscaling:*:{_ACCOUNT}:autoScalingGroup:*:autoScalingGroupName/eksctl-*"
            ),
        },
        {
            "Sid": "NodeAutoScalingGroupReads",
            "Effect": "Allow",
            "Action": sorted(AUTOSCALING_ANYWHERE),
            "Resource": "*",
        },
        {
            "Sid": "AttachTemplatePolicies",
            "Effect": "Allow",
            "Action": sorted(ATTACH_ACTIONS),
            "Resource": ROLES,
            "Condition": {"ArnLike": {"iam:PolicyARN": policy_arns}},
        },
        {
            "Sid": "PassRolesToTheirServices",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": ROLES,
            "Condition": {"StringEquals": {"iam:PassedToService": sorted(set(ROLE_RECEIVERS.values()))}},
        },
        {
            "Sid": "ServiceRolePermissionsBoundaries",
            "Effect": "Allow",
            "Action": sorted(BOUNDARY_ACTIONS),
            "Resource": ROLES,
        },
        {
            "Sid": "ControlPlaneLogGroups",
            "Effect": "Allow",
            "Action": sorted(LOG_GROUP_ACTIONS),
            "Resource": [
                _sub(f"arn:{_PARTITION}:logs:*:{_ACCOUNT}:log-group:/aws/eks/*"),
                _sub(f"arn:{_PARTITION}:logs:*:{_ACCOUNT}:log-group:/aws/eks/*:*"),
            ],
        },
        {
            "Sid": "LogGroupReads",
            "Effect": "Allow",
            "Action": sorted(LOG_GROUP_READS),
            "Resource": _sub(f"arn:{_PARTITION}:logs:*:{_ACCOUNT}:*"),
        },
        {
            # secretsEncryption: CreateCluster checks the caller's key and makes EKS a grant on it (the key may
            # be another account's, whose key policy lets this one use it).
            "Sid": "SecretsEncryptionKeys",
            "Effect": "Allow",
            "Action": "kms:DescribeKey",
            "Resource": _sub(f"arn:{_PARTITION}:kms:*:*:key/*"),
        },
        {
            "Sid": "SecretsEncryptionGrants",
            "Effect": "Allow",
            "Action": "kms:CreateGrant",
            "Resource": _sub(f"arn:{_PARTITION}:kms:*:*:key/*"),
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
        },
        {
            "Sid": "OidcProviders",
            "Effect": "Allow",
            "Action": sorted(OIDC_ACTIONS),
            "Resource": _sub(f"arn:{_PARTITION}:iam::{_ACCOUNT}:oidc-provider/*"),
        },
        {
            "Sid": "EksServiceLinkedRoles",
            "Effect": "Allow",
            "Action": "iam:CreateServiceLinkedRole",
            "Resource": "*",
            "Condition": {"StringEquals": {"iam:AWSServiceName": list(SERVICE_LINKED_ROLES)}},
        },
        {
            # An imported key pair (a node group's ssh.publicKey) keeps nothing in SSM, but the key pair's
            # delete handler deletes the parameter a created one would have.
            "Sid": "KeyPairParameters",
            "Effect": "Allow",
            "Action": "ssm:DeleteParameter",
            "Resource": _sub(f"arn:{_PARTITION}:ssm:*:{_ACCOUNT}:parameter/ec2/keypair/*"),
        },
        {
            "Sid": "StackTemplates",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": _sub(f"${{ArtifactsBucket.Arn}}/{TEMPLATE_PREFIX}/*"),
        },
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def file_name(function: str) -> str:
    return f"{function.replace('_', '-')}.json"


def rendered() -> dict[Path, str]:
    return {POLICY_DIR / file_name(fn): json.dumps(document(fn), indent=2) + "\n" for fn in POLICIES}


def main() -> int:
    POLICY_DIR.mkdir(parents=True, exist_ok=True)
    for path, text in rendered().items():
        path.write_text(text)
    print(f"wrote {len(POLICIES)} policies to {POLICY_DIR.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
