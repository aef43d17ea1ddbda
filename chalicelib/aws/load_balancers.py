"""What Kubernetes made for a cluster that CloudFormation does not know: load balancers
(classic and v2) for Services of type LoadBalancer, and their security groups.

As eksctl does before deleting the cluster stack, they are removed when they are
both in the cluster's VPC and tagged `kubernetes.io/cluster/<name>` — the tag the
AWS cloud provider puts on what it creates for a cluster. Nothing else is touched.
"""

from __future__ import annotations

from typing import Any

from chalicelib.model.errors import EkspressError


class DependencyViolationError(EkspressError):
    """A security group is still in use (load balancer ENIs take a while to go); retry later."""

    status = 409
    code = "DependencyViolation"


def cluster_tag(cluster: str) -> str:
    return f"kubernetes.io/cluster/{cluster}"


def _tagged(tags: list[dict[str, str]], cluster: str) -> bool:
    return any(t["Key"] == cluster_tag(cluster) for t in tags)


def delete_load_balancers(elb: Any, elbv2: Any, ec2: Any, cluster: str, vpc_id: str) -> dict[str, list[str]]:
    """Delete the cluster's Kubernetes-made load balancers and security groups; returns what went."""
    removed: dict[str, list[str]] = {"loadBalancers": [], "securityGroups": []}

    v2 = [lb for page in elbv2.get_paginator("describe_load_balancers").paginate() for lb in page["LoadBalancers"]]
    v2 = [lb for lb in v2 if lb.get("VpcId") == vpc_id]
    for chunk in (v2[i : i + 20] for i in range(0, len(v2), 20)):  # DescribeTags takes 20 ARNs
        descriptions = elbv2.describe_tags(ResourceArns=[lb["LoadBalancerArn"] for lb in chunk])["TagDescriptions"]
        for description in descriptions:
            if _tagged(description.get("Tags", []), cluster):
                elbv2.delete_load_balancer(LoadBalancerArn=description["ResourceArn"])
                removed["loadBalancers"].append(description["ResourceArn"].rsplit("/", 2)[-2])

    classic = [
        lb
        for page in elb.get_paginator("describe_load_balancers").paginate()
        for lb in page["LoadBalancerDescriptions"]
        if lb.get("VPCId") == vpc_id
    ]
    for chunk in (classic[i : i + 20] for i in range(0, len(classic), 20)):
        descriptions = elb.describe_tags(LoadBalancerNames=[lb["LoadBalancerName"] for lb in chunk])["TagDescriptions"]
        for description in descriptions:
            if _tagged(description.get("Tags", []), cluster):
                elb.delete_load_balancer(LoadBalancerName=description["LoadBalancerName"])
                removed["loadBalancers"].append(description["LoadBalancerName"])

    groups = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "tag-key", "Values": [cluster_tag(cluster)]}]
    )["SecurityGroups"]
    for group in groups:
        if group.get("GroupName") == "default":
            continue
        try:
            ec2.delete_security_group(GroupId=group["GroupId"])
        except ec2.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"] == "DependencyViolation":
                raise DependencyViolationError(f"security group {group['GroupId']} is still in use") from None
            raise
        removed["securityGroups"].append(group["GroupId"])
    return removed
