"""The policies of a node group's instance role (self-managed, or managed with `iam`): the worker policies
and `iam.withAddonPolicies`.

Mirrors the shape of eksctl's `makeManagedPolicies` and `createRole` (`pkg/cfn/builder/iam_helper.go`): an
AWS managed policy where eksctl attaches one (ebs, cloudWatch, imageBuilder), else an inline policy on
the role. The inline documents are written from each add-on's documented permissions, scoped by the
tags the add-ons put on what they create wherever the add-on's own documentation scopes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.cfn.iam import WORKER_POLICIES, policy_arn

if TYPE_CHECKING:
    from chalicelib.model.nodegroup_spec import NodegroupSpec
    from chalicelib.model.selfmanaged_spec import SelfManagedNodegroupSpec

# What nodes pull images with; eksctl keeps it on unmanaged groups even with attachPolicyARNs.
ECR_READ = "AmazonEC2ContainerRegistryReadOnly"
# withAddonPolicies flags eksctl meets with an AWS managed policy.
ADDON_MANAGED_POLICIES = {
    "ebs": "service-role/AmazonEBSCSIDriverPolicy",
    "cloudWatch": "CloudWatchAgentServerPolicy",
    "imageBuilder": "AmazonEC2ContainerRegistryPowerUser",
}

Statement = dict[str, Any]
_ALL = "*"
_LB_TAG = "elbv2.k8s.aws/cluster"
_EFS_TAG = "efs.csi.aws.com/cluster"


def _allow(actions: list[str], resource: Any = _ALL, condition: dict[str, Any] | None = None) -> Statement:
    statement: Statement = {"Effect": "Allow", "Action": sorted(actions), "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return statement


def _arn(resource: str) -> dict[str, str]:
    """An ARN in whichever partition the stack runs: `route53:::change/*` → arn:${AWS::Partition}:route53:::change/*."""
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:{resource}"}


def _tagged(key: str, kind: str = "Resource", operator: str = "StringEquals", value: str = "true") -> dict[str, Any]:
    return {operator: {f"aws:{kind}Tag/{key}": value}}


# What Cluster Autoscaler reads (its documented minimum), on any resource.
AUTOSCALER_READS = [
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations",
    "autoscaling:DescribeScalingActivities",
    "autoscaling:DescribeTags",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:GetInstanceTypesFromInstanceRequirements",
    "eks:DescribeNodegroup",
]


def _autoscaler(cluster: str) -> list[Statement]:
    # Cluster Autoscaler's documented minimum; it changes only groups tagged for this cluster (the ASG is).
    return [
        _allow(list(AUTOSCALER_READS)),
        _allow(
            ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
            condition=_tagged(f"k8s.io/cluster-autoscaler/{cluster}", value="owned"),
        ),
    ]


def _load_balancer_controller() -> list[Statement]:
    # The AWS Load Balancer Controller's documented policy: reads anywhere; it creates what it tags with
    # elbv2.k8s.aws/cluster, and changes or deletes only what carries that tag.
    security_groups = _arn("ec2:*:*:security-group/*")
    balancers = [
        _arn("elasticloadbalancing:*:*:targetgroup/*/*"),
        _arn("elasticloadbalancing:*:*:loadbalancer/net/*/*"),
        _arn("elasticloadbalancing:*:*:loadbalancer/app/*/*"),
    ]
    owned = {"Null": {f"aws:RequestTag/{_LB_TAG}": "true", f"aws:ResourceTag/{_LB_TAG}": "false"}}
    return [
        _allow(
            ["iam:CreateServiceLinkedRole"],
            condition={"StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}},
        ),
        _allow(
            [
                *(
                    f"ec2:{a}"
                    for a in (
                        "DescribeAccountAttributes",
                        "DescribeAddresses",
                        "DescribeAvailabilityZones",
                        "DescribeCoipPools",
                        "DescribeInstances",
                        "DescribeInternetGateways",
                        "DescribeIpamPools",
                        "DescribeNetworkInterfaces",
                        "DescribeRouteTables",
                        "DescribeSecurityGroups",
                        "DescribeSubnets",
                        "DescribeTags",
                        "DescribeVpcPeeringConnections",
                        "DescribeVpcs",
                        "GetCoipPoolUsage",
                        "GetSecurityGroupsForVpc",
                    )
                ),
                "elasticloadbalancing:Describe*",
                "acm:DescribeCertificate",
                "acm:ListCertificates",
                "cognito-idp:DescribeUserPoolClient",
                "iam:GetServerCertificate",
                "iam:ListServerCertificates",
                "shield:DescribeProtection",
                "shield:GetSubscriptionState",
                "waf-regional:GetWebACL",
                "waf-regional:GetWebACLForResource",
                "wafv2:GetWebACL",
                "wafv2:GetWebACLForResource",
            ]
        ),
        _allow(
            [
                "shield:CreateProtection",
                "shield:DeleteProtection",
                "waf-regional:AssociateWebACL",
                "waf-regional:DisassociateWebACL",
                "wafv2:AssociateWebACL",
                "wafv2:DisassociateWebACL",
            ]
        ),
        _allow(["ec2:CreateSecurityGroup"]),
        _allow(
            ["ec2:CreateTags"],
            security_groups,
            {
                "StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"},
                "Null": {f"aws:RequestTag/{_LB_TAG}": "false"},
            },
        ),
        _allow(["ec2:CreateTags", "ec2:DeleteTags"], security_groups, owned),
        _allow(
            ["ec2:AuthorizeSecurityGroupIngress", "ec2:DeleteSecurityGroup", "ec2:RevokeSecurityGroupIngress"],
            condition={"Null": {f"aws:ResourceTag/{_LB_TAG}": "false"}},
        ),
        _allow(
            ["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"],
            condition={"Null": {f"aws:RequestTag/{_LB_TAG}": "false"}},
        ),
        _allow(
            [
                "elasticloadbalancing:CreateListener",
                "elasticloadbalancing:CreateRule",
                "elasticloadbalancing:DeleteListener",
                "elasticloadbalancing:DeleteRule",
            ]
        ),
        _allow(["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"], balancers, owned),
        _allow(
            [
                "elasticloadbalancing:DeleteLoadBalancer",
                "elasticloadbalancing:DeleteTargetGroup",
                "elasticloadbalancing:ModifyLoadBalancerAttributes",
                "elasticloadbalancing:ModifyTargetGroup",
                "elasticloadbalancing:ModifyTargetGroupAttributes",
                "elasticloadbalancing:SetIpAddressType",
                "elasticloadbalancing:SetSecurityGroups",
                "elasticloadbalancing:SetSubnets",
            ],
            condition={"Null": {f"aws:ResourceTag/{_LB_TAG}": "false"}},
        ),
        _allow(
            ["elasticloadbalancing:AddTags"],
            balancers,
            {
                "StringEquals": {"elasticloadbalancing:CreateAction": ["CreateTargetGroup", "CreateLoadBalancer"]},
                "Null": {f"aws:RequestTag/{_LB_TAG}": "false"},
            },
        ),
        _allow(
            ["elasticloadbalancing:DeregisterTargets", "elasticloadbalancing:RegisterTargets"],
            _arn("elasticloadbalancing:*:*:targetgroup/*/*"),
        ),
        _allow(
            [
                "elasticloadbalancing:AddListenerCertificates",
                "elasticloadbalancing:ModifyListener",
                "elasticloadbalancing:ModifyRule",
                "elasticloadbalancing:RemoveListenerCertificates",
                "elasticloadbalancing:SetWebAcl",
            ]
        ),
    ]


def _route53_changes() -> Statement:
    return _allow(["route53:ChangeResourceRecordSets"], _arn("route53:::hostedzone/*"))


def _external_dns() -> list[Statement]:
    return [
        _route53_changes(),
        _allow(["route53:ListHostedZones", "route53:ListResourceRecordSets", "route53:ListTagsForResource"]),
    ]


def _cert_manager() -> list[Statement]:
    # cert-manager's DNS-01 solver for Route 53, as its documentation lists it.
    return [
        _route53_changes(),
        _allow(["route53:GetChange"], _arn("route53:::change/*")),
        _allow(["route53:ListHostedZonesByName", "route53:ListResourceRecordSets"]),
    ]


def _efs() -> list[Statement]:
    # The EFS CSI driver's documented policy: access points only on file systems it tags for a cluster.
    return [
        _allow(
            [
                "ec2:DescribeAvailabilityZones",
                "elasticfilesystem:DescribeAccessPoints",
                "elasticfilesystem:DescribeFileSystems",
                "elasticfilesystem:DescribeMountTargets",
            ]
        ),
        _allow(["elasticfilesystem:CreateAccessPoint"], condition=_tagged(_EFS_TAG, "Request", "StringLike")),
        _allow(["elasticfilesystem:TagResource"], condition=_tagged(_EFS_TAG, "Resource", "StringLike")),
        _allow(["elasticfilesystem:DeleteAccessPoint"], condition=_tagged(_EFS_TAG)),
    ]


def _fsx() -> list[Statement]:
    # The FSx for Lustre CSI driver's documented policy, its service-linked roles by name.
    return [
        _allow(
            ["iam:CreateServiceLinkedRole", "iam:AttachRolePolicy", "iam:PutRolePolicy"],
            _arn("iam::*:role/aws-service-role/s3.data-source.lustre.fsx.amazonaws.com/*"),
        ),
        _allow(
            ["iam:CreateServiceLinkedRole"],
            condition={"StringLike": {"iam:AWSServiceName": ["fsx.amazonaws.com"]}},
        ),
        _allow(
            [
                "fsx:CreateFileSystem",
                "fsx:DeleteFileSystem",
                "fsx:DescribeFileSystems",
                "fsx:TagResource",
                "fsx:UpdateFileSystem",
            ]
        ),
    ]


def _xray() -> list[Statement]:
    return [
        _allow(
            [
                "xray:GetSamplingRules",
                "xray:GetSamplingStatisticSummaries",
                "xray:GetSamplingTargets",
                "xray:PutTelemetryRecords",
                "xray:PutTraceSegments",
            ]
        )
    ]


def managed_policies(group: SelfManagedNodegroupSpec | NodegroupSpec) -> list[Any]:
    """The role's ManagedPolicyArns: attachPolicyARNs (or the worker policies), ECR reads, add-ons' policies.

    As eksctl: attachPolicyARNs replace the worker policies, but ECR reads stay unless imageBuilder's
    PowerUser (a superset) is there; a policy both named and implied is listed once.
    """
    addons = set(group.iam.with_addon_policies.enabled()) if group.iam and group.iam.with_addon_policies else set()
    given = list(group.iam.attach_policy_arns or []) if group.iam else []
    names = [] if given else list(WORKER_POLICIES)
    if "imageBuilder" in addons:
        names = [n for n in names if n != ECR_READ]
    elif ECR_READ not in names:
        names.append(ECR_READ)
    names += [policy for flag, policy in ADDON_MANAGED_POLICIES.items() if flag in addons]
    named = {arn.rsplit("/", 1)[-1] for arn in given}
    return [*given, *(policy_arn(n) for n in dict.fromkeys(names) if n.rsplit("/", 1)[-1] not in named)]


def inline_policies(group: SelfManagedNodegroupSpec | NodegroupSpec, cluster: str) -> list[dict[str, Any]]:
    """The role's Policies: one inline policy per add-on flag eksctl meets with statements of its own."""
    addons = set(group.iam.with_addon_policies.enabled()) if group.iam and group.iam.with_addon_policies else set()
    documents: list[tuple[str, list[Statement]]] = []
    if "autoScaler" in addons:
        documents.append(("PolicyAutoScaling", _autoscaler(cluster)))
    if addons & {"albIngress", "awsLoadBalancerController"}:
        documents.append(("PolicyAWSLoadBalancerController", _load_balancer_controller()))
    if "externalDNS" in addons:
        documents.append(("PolicyExternalDNS", _external_dns()))
    if "certManager" in addons:
        documents.append(("PolicyCertManager", _cert_manager()))
    if "efs" in addons:
        documents.append(("PolicyEFS", _efs()))
    if "fsx" in addons:
        documents.append(("PolicyFSX", _fsx()))
    if "xRay" in addons:
        documents.append(("PolicyXRay", _xray()))
    if group.iam and group.iam.attach_policy:  # the caller's own, as eksctl names it
        return [*_documents(documents), {"PolicyName": "Policy1", "PolicyDocument": group.iam.attach_policy}]
    return _documents(documents)


def _documents(documents: list[tuple[str, list[Statement]]]) -> list[dict[str, Any]]:
    return [
        {"PolicyName": name, "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}
        for name, statements in documents
    ]
