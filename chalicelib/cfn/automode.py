"""EKS Auto Mode on the cluster stack, as eksctl builds it (`cluster.go`, `auto_mode.go` in `pkg/cfn/builder`).

The cluster's `ComputeConfig`, `StorageConfig.BlockStorage` and
`KubernetesNetworkConfig.ElasticLoadBalancing` are enabled together (EKS refuses a cluster with
only some of them); the service role gets the Auto Mode policies, and with node pools and no
`nodeRoleARN` the stack makes the node role. EKS gives that role its access entry (type EC2) itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.cfn.iam import add_auto_mode_node_role, add_auto_mode_policies

if TYPE_CHECKING:
    from chalicelib.cfn.template import Template
    from chalicelib.model.automode_spec import AutoModeConfigSpec

OUTPUT_AUTO_MODE_NODE_ROLE_ARN = "AutoModeNodeRoleARN"


def add_auto_mode(t: Template, auto: AutoModeConfigSpec, properties: dict[str, Any]) -> None:
    """Set Auto Mode on the AWS::EKS::Cluster `properties`, with the roles it needs; nothing when it is off."""
    if not auto.enabled:
        return
    add_auto_mode_policies(t)
    compute: dict[str, Any] = {"Enabled": True}
    if auto.node_role_arn:
        compute["NodeRoleArn"] = auto.node_role_arn
    elif auto.needs_node_role:
        compute["NodeRoleArn"] = add_auto_mode_node_role(t)
        t.add_output(OUTPUT_AUTO_MODE_NODE_ROLE_ARN, compute["NodeRoleArn"])
    if auto.node_pools:
        compute["NodePools"] = list(auto.node_pools)
    properties["ComputeConfig"] = compute
    properties["StorageConfig"] = {"BlockStorage": {"Enabled": True}}
    network = properties.setdefault("KubernetesNetworkConfig", {})
    network["ElasticLoadBalancing"] = {"Enabled": True}
