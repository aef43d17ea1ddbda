"""A node group's `iam.attachPolicy` (eksctl's Policy1): on the node role, held to the inline policy rule, the service
policy's allowed inline actions and IAM's cap on a role's inline policies."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from chalicelib.cfn import templates
from chalicelib.model import clusterconfig, inline_policy, policy
from chalicelib.model.errors import SpecValidationError
from chalicelib.model.settings import Settings
from chalicelib.model.spec import ClusterSpec, validate
from chalicelib.operations.node_roles import check_node_role_policies
from tests.unit.test_templates import TEST_IMAGE_ID, ZONES, all_templates, cfn_lint


def settings(*node_actions: str) -> Settings:
    """The service policy allowing these actions in node roles' inline policies, and every s3 one in pods' roles."""
    return Settings(
        table_name="t",
        create_state_machine_arn="",
        poll_scale=1.0,
        allowed_inline_actions=("s3:*",),
        allowed_node_inline_actions=node_actions,
    )


READ = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}]}


def spec_of(kind: str, iam: dict[str, Any]) -> ClusterSpec:
    group: dict[str, Any] = {"name": "ng", "iam": iam}
    if kind == "nodeGroups":
        group["imageId"] = TEST_IMAGE_ID
    return ClusterSpec.model_validate({"name": "mz", "region": "us-west-2", kind: [group]})


@pytest.mark.parametrize("kind", ["managedNodeGroups", "nodeGroups"])
def test_the_node_role_holds_the_policy_next_to_eksctls_own(kind: str) -> None:
    spec = spec_of(kind, {"attachPolicy": READ, "withAddonPolicies": {"externalDNS": True}})
    built = templates.build_nodegroup_template(spec, spec.nodegroups[0], "cid")
    (role,) = [r for r in built["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    policies = {p["PolicyName"]: p["PolicyDocument"] for p in role["Properties"]["Policies"]}
    assert policies["Policy1"] == READ
    assert "PolicyExternalDNS" in policies
    for template in all_templates(spec, ZONES):
        assert cfn_lint(template, spec.region) == []


def test_the_clusterconfig_takes_it_and_gives_it_back() -> None:
    document = {
        "apiVersion": "eksctl.io/v1alpha5",
        "kind": "ClusterConfig",
        "metadata": {"name": "mz"},
        "managedNodeGroups": [{"name": "ng", "iam": {"attachPolicy": READ}}],
    }
    spec = clusterconfig.parse(yaml.safe_dump(document).encode())
    back = clusterconfig.from_spec(spec)
    assert back["managedNodeGroups"][0]["iam"]["attachPolicy"] == READ
    assert clusterconfig.parse(yaml.safe_dump(back).encode()) == spec


def test_the_inline_policy_rule_and_the_service_policy_hold_it() -> None:
    escalating = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}
    with pytest.raises(SpecValidationError) as refused:
        validate(
            ClusterSpec, {"name": "mz", "nodeGroups": [{"name": "ng", "iam": {"attachPolicy": escalating}}]}, "request"
        )
    assert [f["field"] for f in refused.value.details["fields"]] == ["nodeGroups[0].iam.attachPolicy"]

    spec = spec_of("nodeGroups", {"attachPolicy": READ})
    assert inline_policy.requested_inline_documents(spec) == []  # not a pod's role: s3:* does not reach it
    documents = inline_policy.requested_node_inline_documents(spec)
    refused = inline_policy.inline_action_problems(documents, settings(), node_roles=True)
    assert [(p["field"], p["rule"]) for p in refused] == [
        ("nodeGroups[0].iam.attachPolicy", "inline_action_not_allowed")
    ]
    assert "EKSPRESS_ALLOWED_NODE_INLINE_ACTIONS" in refused[0]["message"]
    assert inline_policy.inline_action_problems(documents, settings("s3:Get*"), node_roles=True) == []
    before = ClusterSpec.model_validate({"name": "mz", "region": "us-west-2"})
    with pytest.raises(SpecValidationError) as refused:  # a group added later, named as its own body names it
        policy.check_nodegroup_change(before, spec, "ng", settings())
    assert [f["field"] for f in refused.value.details["fields"]] == ["iam.attachPolicy"]
    policy.check_nodegroup_change(before, spec, "ng", settings("s3:GetObject"))


def test_a_role_whose_inline_policies_pass_iams_cap_is_refused_before_anything_is_built() -> None:
    actions = [f"s3:GetObjectVersion{n:04d}" for n in range(280)]  # about 7,300 characters: IAM takes it alone
    big = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    flags = {"autoScaler": True, "externalDNS": True, "certManager": True, "albIngress": True}
    spec = spec_of("managedNodeGroups", {"attachPolicy": big, "withAddonPolicies": flags})
    with pytest.raises(SpecValidationError) as refused:
        check_node_role_policies(spec)
    assert [(f["field"], f["rule"]) for f in refused.value.details["fields"]] == [
        ("managedNodeGroups[0].iam.attachPolicy", "role_inline_policy_size")
    ]
    check_node_role_policies(spec_of("managedNodeGroups", {"attachPolicy": READ, "withAddonPolicies": flags}))
