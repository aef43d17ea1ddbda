"""The shared core of every stack template: a Template that resource sets add to, and the output names.

Like eksctl's `pkg/cfn/builder` resource sets, each concern (network, IAM, control
plane, node group) is a small function that adds its resources and outputs to a
Template; the Template only keeps them, in the order added, and renders the document.
"""

from __future__ import annotations

import json
import re
from typing import Any

from chalicelib.model import naming

# Outputs of the cluster stack (exported, so node group stacks import them) and of node group stacks.
OUTPUT_CLUSTER_NAME = "ClusterName"
OUTPUT_ENDPOINT = "Endpoint"
OUTPUT_CA = "CertificateAuthorityData"
OUTPUT_ARN = "ARN"
OUTPUT_VPC = "VPC"
OUTPUT_SUBNETS_PUBLIC = "SubnetsPublic"
OUTPUT_SUBNETS_PRIVATE = "SubnetsPrivate"
OUTPUT_SECURITY_GROUP = "SecurityGroup"
OUTPUT_SERVICE_ROLE_ARN = "ServiceRoleARN"
OUTPUT_NODE_ROLE_ARN = "NodeInstanceRoleARN"
# "true" on a Windows node group's stack: aws-auth maps its role with eks:kube-proxy-windows too.
OUTPUT_WINDOWS_NODES = "WindowsNodes"
OUTPUT_OIDC_PROVIDER_ARN = "OIDCProviderARN"
OUTPUT_NODEGROUP_NAME = "NodegroupName"

# A `{"Ref": logical_id}`; other intrinsic functions are plain dicts too.
Ref = dict[str, str]


def _stack_export(stack: str, output: str) -> str:
    return f"{stack}::{output}"


def export_name(cluster: str, output: str) -> str:
    """The name under which the cluster stack exports `output`."""
    return _stack_export(naming.cluster_stack_name(cluster), output)


def to_json(template: dict[str, Any]) -> str:
    """The template as CloudFormation receives it: compact, keys sorted so equal specs give equal bytes."""
    return json.dumps(template, sort_keys=True, separators=(",", ":"))


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    """Tags as most resource types take them: a list of Key/Value pairs, sorted by key."""
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def logical_name(name: str) -> str:
    """`aws-ebs-csi-driver` → `AwsEbsCsiDriver` (CloudFormation logical ids are alphanumeric)."""
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", name))


def get_att(logical_id: str, attribute: str) -> dict[str, list[str]]:
    """`Fn::GetAtt` of a resource's attribute."""
    return {"Fn::GetAtt": [logical_id, attribute]}


class Template:
    """One stack's template: resources and outputs in the order resource sets add them.

    `stack_tags` are the tags the stack is created with. CloudFormation propagates a
    stack's tags to every resource it creates that takes tags, so a resource lists only
    the tags it needs beyond them: copying 45 stack tags onto each of 60 resources is
    what took a cluster template past CloudFormation's 51,200-byte TemplateBody limit.
    What propagation does not reach (what a launch template tags instances and volumes
    with) is the resource set's to spell out.
    """

    def __init__(
        self, stack: str, stack_tags: dict[str, str], description: str, metadata: dict[str, Any] | None = None
    ) -> None:
        self.stack = stack
        self.stack_tags = stack_tags
        self.description = description
        self.metadata = metadata
        self.resources: dict[str, Any] = {}
        self.outputs: dict[str, Any] = {}

    def new_resource(self, logical_id: str, resource_type: str, properties: dict[str, Any], **attributes: Any) -> Ref:
        """Add a resource (with attributes such as DependsOn) and return a Ref to it."""
        if logical_id in self.resources:
            raise ValueError(f"resource {logical_id} is defined twice in {self.stack}")
        self.resources[logical_id] = {"Type": resource_type, "Properties": properties, **attributes}
        return {"Ref": logical_id}

    def add_output(self, name: str, value: Any, export: bool = False) -> None:
        """Add an output; exported ones are named `STACK::NAME`, as eksctl names them."""
        if name in self.outputs:
            raise ValueError(f"output {name} is defined twice in {self.stack}")
        output: dict[str, Any] = {"Value": value}
        if export:
            output["Export"] = {"Name": _stack_export(self.stack, name)}
        self.outputs[name] = output

    def own_tags(self, wanted: dict[str, str]) -> dict[str, str]:
        """Those of `wanted` the stack's tags do not already give a resource (by propagation)."""
        return {k: v for k, v in wanted.items() if self.stack_tags.get(k) != v}

    def ec2_tags(self, logical_id: str, extra: dict[str, str] | None = None) -> list[dict[str, str]]:
        """A `STACK/LOGICAL_ID` Name, which the EC2 console shows, and `extra`: the stack's tags propagate."""
        return tag_list(self.own_tags({"Name": f"{self.stack}/{logical_id}", **(extra or {})}))

    def render(self) -> dict[str, Any]:
        """The template document."""
        document: dict[str, Any] = {"AWSTemplateFormatVersion": "2010-09-09", "Description": self.description}
        if self.metadata is not None:
            document["Metadata"] = self.metadata
        document["Resources"] = self.resources
        document["Outputs"] = self.outputs
        return document
