"""EKS Auto Mode (eksctl's `autoModeConfig`): EKS launches and manages the cluster's nodes itself.

eksctl's rules (`pkg/apis/eksctl.io/v1alpha5/auto_mode.go`): the node pools are EKS's built-in
`general-purpose` and `system` (both unless the config says otherwise; `[]` makes none, for
NodePools of one's own later), each at most once; the cluster stack makes the node role. eksctl
also takes `nodeRoleARN`; here it is refused, as `iam.instanceRoleARN` is: a role the service did
not make could carry any permission onto the nodes. A disabled Auto Mode takes neither. The rules
that involve the rest of the cluster (node groups, add-ons, authentication mode) are ClusterSpec's
(`spec.py`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from chalicelib.model.validation import Problem, SpecModel, raise_problems

NODE_POOLS = ("general-purpose", "system")
# A role the stack role may pass to EKS: its PassRole is held to `eksctl-*` roles (infra/policies.py).
NODE_ROLE_PATTERN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/([A-Za-z0-9_+=,.@-]+/)*[A-Za-z0-9_+=,.@-]+$"


class AutoModeConfigSpec(SpecModel):
    enabled: bool = False
    # None: eksctl's default, both built-in pools (filled in when enabled, so the config shows them).
    node_pools: Annotated[list[Literal["general-purpose", "system"]], Field(max_length=2)] | None = None
    node_role_arn: Annotated[str, Field(max_length=2048, pattern=NODE_ROLE_PATTERN)] | None = Field(
        default=None, alias="nodeRoleARN"
    )

    @model_validator(mode="after")
    def _rules(self) -> AutoModeConfigSpec:
        problems: list[Problem] = []
        pools = self.node_pools
        if not self.enabled:
            if self.node_role_arn or pools:
                message = "nodeRoleARN and nodePools need autoModeConfig.enabled: true"
                problems.append((("enabled",), "auto_mode_disabled", message, False))
        else:
            if pools is None:
                object.__setattr__(self, "node_pools", list(NODE_POOLS))
            elif len(set(pools)) != len(pools):
                problems.append((("nodePools",), "duplicate_node_pool", "a node pool is listed twice", pools))
            elif not pools and self.node_role_arn:
                message = "a node role is for the nodes of nodePools: with nodePools [] leave nodeRoleARN out"
                problems.append((("nodeRoleARN",), "node_role_without_pools", message, self.node_role_arn))
            if self.node_role_arn and self.node_pools:
                # Any role named here would reach the caller's nodes, and through them any pod: a role another
                # cluster's nodes use, or one with policies the allow-list never saw (as iam.instanceRoleARN).
                message = (
                    "a role the service did not make cannot be given to nodes safely (it could carry any "
                    "permission); leave nodeRoleARN out and the cluster stack makes the node role"
                )
                problems.append((("nodeRoleARN",), "node_role_not_passable", message, self.node_role_arn))
        if problems:
            raise_problems("AutoModeConfigSpec", problems)
        return self

    @property
    def makes_nodes(self) -> bool:
        """Whether EKS launches nodes for pending pods: Auto Mode with at least one built-in node pool."""
        return self.enabled and bool(self.node_pools)

    @property
    def needs_node_role(self) -> bool:
        """Whether the cluster stack makes the node role (eksctl: Auto Mode with node pools and no nodeRoleARN)."""
        return self.makes_nodes and not self.node_role_arn
