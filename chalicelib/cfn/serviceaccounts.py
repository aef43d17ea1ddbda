"""The stack of one of `iam.serviceAccounts`: the IAM role its pods assume (IRSA), as eksctl builds it.

eksctl's `eksctl-CLUSTER-addon-iamserviceaccount-NAMESPACE-NAME` stack holds one role, `Role1`,
trusting the cluster's OIDC provider for that service account only, and outputs its ARN as `Role1`.
The role holds the account's `attachPolicyARNs`, the managed policies of its `wellKnownPolicies`,
and one inline policy with the statements of `attachPolicy` and of the well-known flags.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.cfn.irsa import add_irsa_role
from chalicelib.cfn.template import tag_list
from chalicelib.cfn.well_known_policies import well_known

if TYPE_CHECKING:
    from chalicelib.cfn.template import Template
    from chalicelib.model.serviceaccount_spec import ServiceAccountSpec
    from chalicelib.model.spec import ClusterSpec

# eksctl's names: the role's logical ID and the output that gives its ARN.
ROLE = "Role1"
OUTPUT_ROLE = "Role1"


def add_service_account(t: Template, spec: ClusterSpec, account: ServiceAccountSpec) -> None:
    """Add `account`'s role and output its ARN (`Role1`); an account with attachRoleARN has no stack."""
    if not account.needs_stack:
        raise ValueError(f"service account {account.qualified_name} uses an existing role: it has no stack")
    arns: list[Any] = list(account.attach_policy_arns or [])
    statements: list[dict[str, Any]] = list(account.attach_policy["Statement"]) if account.attach_policy else []
    if account.well_known_policies:
        known_arns, known_statements = well_known(account.well_known_policies, cluster=spec.name)
        arns += [arn for arn in known_arns if arn not in arns]
        statements += [s for s in known_statements if s not in statements]
    arn = add_irsa_role(
        t,
        spec.name,
        account.metadata.namespace,
        account.metadata.name,
        ROLE,
        managed_policy_arns=arns,
        statements=statements,
        permissions_boundary=account.permissions_boundary,
        role_name=account.role_name,
    )
    tags = t.own_tags(account.tags)
    if tags:
        t.resources[ROLE]["Properties"]["Tags"] = tag_list(tags)
    t.add_output(OUTPUT_ROLE, arn)
