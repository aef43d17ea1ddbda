"""EKS Pod Identity: a role the pod identity agent hands to a service account's pods, and its association.

eksctl's `eksctl-CLUSTER-podidentityrole-NAMESPACE-SERVICEACCOUNT` stack holds the role, `Role1`,
trusting `pods.eks.amazonaws.com` (sts:AssumeRole and sts:TagSession: EKS tags each session with the
cluster, namespace and service account), and outputs its ARN as `Role1`; here the same stack also
holds the `AWS::EKS::PodIdentityAssociation` (eksctl makes it with the EKS API afterwards), so
deleting the stack removes both. An add-on's associations use `add_pod_identity_role` in the add-on's
stack and go to EKS with the add-on (chalicelib/cfn/addons.py).

The role holds `permissionPolicyARNs` and the managed policies of `wellKnownPolicies`, and one inline
policy with the statements of `permissionPolicy` and of the well-known flags.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.cfn.irsa import role_properties
from chalicelib.cfn.template import OUTPUT_CLUSTER_NAME, export_name, get_att, tag_list
from chalicelib.cfn.well_known_policies import well_known
from chalicelib.model.podidentity_spec import POD_IDENTITY_PRINCIPAL

if TYPE_CHECKING:
    from chalicelib.cfn.template import Template
    from chalicelib.model.podidentity_spec import PodIdentityAssociationSpec, PodIdentityRoleSpec
    from chalicelib.model.spec import ClusterSpec

# eksctl's names: the role's logical ID and the output that gives its ARN.
ROLE = "Role1"
OUTPUT_ROLE = "Role1"
ASSOCIATION = "PodIdentityAssociation"
OUTPUT_ASSOCIATION = "PodIdentityAssociationARN"
# What EKS Pod Identity does with the role.
TRUST_ACTIONS = ("sts:AssumeRole", "sts:TagSession")
# The name of the role's inline policy (one per role, so any name will do).


def trust_policy() -> dict[str, Any]:
    """The role's AssumeRolePolicyDocument: EKS Pod Identity, which only this cluster's associations reach."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": POD_IDENTITY_PRINCIPAL}, "Action": list(TRUST_ACTIONS)}
        ],
    }


def role_permissions(role: PodIdentityRoleSpec, cluster: str) -> tuple[list[Any], list[dict[str, Any]]]:
    """The role's managed policy ARNs and inline statements, each once."""
    arns: list[Any] = list(role.permission_policy_arns or [])
    statements: list[dict[str, Any]] = list(role.permission_policy["Statement"]) if role.permission_policy else []
    if role.well_known_policies:
        known_arns, known_statements = well_known(role.well_known_policies, cluster=cluster)
        arns += [arn for arn in known_arns if arn not in arns]
        statements += [s for s in known_statements if s not in statements]
    return arns, statements


def add_pod_identity_role(
    t: Template,
    logical_id: str,
    *,
    managed_policy_arns: list[Any],
    statements: list[dict[str, Any]] | None = None,
    permissions_boundary: str | None = None,
    role_name: str | None = None,
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Add a role EKS Pod Identity may hand out as `logical_id`; return its ARN (Fn::GetAtt).

    Without a `role_name` CloudFormation names the role (after the stack, `eksctl-...`). The stack's tags
    propagate to the role; `tags` are the role's own besides them.
    """
    properties = role_properties(trust_policy(), managed_policy_arns, statements, permissions_boundary, role_name)
    own = t.own_tags(tags or {})
    if own:
        properties["Tags"] = tag_list(own)
    t.new_resource(logical_id, "AWS::IAM::Role", properties)
    return get_att(logical_id, "Arn")


def add_role_for(t: Template, logical_id: str, role: PodIdentityRoleSpec, cluster: str) -> dict[str, Any]:
    """`add_pod_identity_role` with what a request's association asks for."""
    arns, statements = role_permissions(role, cluster)
    return add_pod_identity_role(
        t,
        logical_id,
        managed_policy_arns=arns,
        statements=statements,
        permissions_boundary=role.permissions_boundary_arn,
        role_name=role.role_name,
        tags=role.tags,
    )


def add_pod_identity(t: Template, spec: ClusterSpec, association: PodIdentityAssociationSpec) -> None:
    """The pod identity stack's resources: the association's role (`Role1`) and the association itself.

    The cluster's name is imported from the cluster stack, so CloudFormation refuses to delete the
    cluster stack while this one stands. `createServiceAccount` is the Kubernetes side's to act on.
    """
    arn = add_role_for(t, ROLE, association, spec.name)
    properties: dict[str, Any] = {
        "ClusterName": {"Fn::ImportValue": export_name(spec.name, OUTPUT_CLUSTER_NAME)},
        "Namespace": association.namespace,
        "ServiceAccount": association.service_account_name,
        "RoleArn": arn,
    }
    if association.disable_session_tags is not None:
        properties["DisableSessionTags"] = association.disable_session_tags
    own = t.own_tags(association.tags)
    if own:
        properties["Tags"] = tag_list(own)
    t.new_resource(ASSOCIATION, "AWS::EKS::PodIdentityAssociation", properties)
    t.add_output(OUTPUT_ROLE, arn)
    t.add_output(OUTPUT_ASSOCIATION, get_att(ASSOCIATION, "AssociationArn"))
