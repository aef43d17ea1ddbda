"""Each Lambda function's IAM policy, written to `.chalice/policies/<function>.json`.

`python -m infra.policies` regenerates the files (`make policies`); a test fails when
they drift from this module. Chalice embeds each file in that function's role when
packaging, and CloudFormation resolves the `Fn::*` values against the merged
template (infra/template.yaml), so resources are this stack's own: its table, its
state machines by name, stacks named `eksctl-*`, the stack role.

Actions each function really calls are recorded on the local engine (local/audit.py)
and compared with these policies by tests/e2e/test_deployment.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from chalicelib.cfn.upload import TEMPLATE_PREFIX

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


def table(*actions: str) -> Statement:
    if "TransactWriteItems" in actions:
        actions = tuple({*actions, *TRANSACT_WRITE} - {"TransactWriteItems"})
    return {
        "Sid": "ClusterRecords",
        "Effect": "Allow",
        "Action": sorted(f"dynamodb:{a}" for a in actions),
        "Resource": TABLE,
    }


def stacks(*actions: str) -> list[Statement]:
    """CloudFormation on eksctl-* stacks; stacks are built with the stack role, which this may pass."""
    statements: list[Statement] = [
        {
            "Sid": "EksctlStacks",
            "Effect": "Allow",
            "Action": sorted(f"cloudformation:{a}" for a in actions),
            "Resource": STACKS,
        }
    ]
    if {"CreateStack", "UpdateStack", "DeleteStack"} & set(actions):
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

POLICIES: dict[str, list[Statement]] = {
    "api_handler": [
        table("GetItem", "PutItem", "Query", "TransactWriteItems", "UpdateItem", "DeleteItem"),
        start("create-cluster", "delete-cluster", "update-access", "change-nodegroup"),
        DESCRIBE_CLUSTER,
        # Requests are checked against EC2's instance facts (architecture, accelerators) before
        # anything is recorded; DescribeInstanceTypes has no resource-level permissions.
        {"Sid": "InstanceFacts", "Effect": "Allow", "Action": "ec2:DescribeInstanceTypes", "Resource": "*"},
        {
            "Sid": "SlackSigningSecret",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": {"Ref": "SlackSigningSecret"},
        },
    ],
    "create_cluster_stack": [
        table("GetItem", "TransactWriteItems"),
        *stacks("CreateStack", "DescribeStacks"),
        STACK_TEMPLATES,
        # Zones are chosen like eksctl does; DescribeAvailabilityZones has no resource-level permissions.
        {"Sid": "ChooseZones", "Effect": "Allow", "Action": "ec2:DescribeAvailabilityZones", "Resource": "*"},
    ],
    "create_nodegroup_stack": [
        table("GetItem", "TransactWriteItems"),
        *stacks("CreateStack", "DescribeStacks"),
        STACK_TEMPLATES,
    ],
    "describe_stack": [
        table("GetItem", "TransactWriteItems"),
        *stacks("DescribeStacks", "DescribeStackEvents"),
    ],
    "mark_cluster_active": RECORD_ONLY,
    "record_failure": RECORD_ONLY,
    "update_aws_auth": [table("GetItem", "TransactWriteItems"), DESCRIBE_CLUSTER],
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
    "delete_stack": [table("GetItem", "TransactWriteItems"), *stacks("DeleteStack", "DescribeStacks")],
    "describe_stack_deletion": [
        table("GetItem", "TransactWriteItems"),
        *stacks("DescribeStacks", "DescribeStackEvents"),
    ],
    "delete_kubernetes_load_balancers": [table("GetItem", "PutItem", "TransactWriteItems"), *LOAD_BALANCERS],
    "mark_cluster_deleted": RECORD_ONLY,
    "record_delete_failure": RECORD_ONLY,
    "update_nodegroup_stack": [
        table("GetItem", "TransactWriteItems"),
        *stacks("UpdateStack", "DescribeStacks"),
        STACK_TEMPLATES,
    ],
    "change_node_role": [
        table("GetItem", "TransactWriteItems"),
        *stacks("DescribeStacks"),
        DESCRIBE_CLUSTER,
    ],
    "finish_nodegroup_change": RECORD_ONLY,
    "record_nodegroup_failure": RECORD_ONLY,
    "notify": [table("GetItem")],
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
}

# Every function writes its own logs (what Chalice's generated policy would give it).
LOGS: Statement = {
    "Sid": "OwnLogs",
    "Effect": "Allow",
    "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
    "Resource": _sub(f"arn:{_PARTITION}:logs:${{AWS::Region}}:{_ACCOUNT}:log-group:/aws/lambda/*"),
}


def document(function: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [*POLICIES[function], LOGS]}


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
