"""Add-on IAM over HTTP: IRSA roles from attachPolicyARNs and wellKnownPolicies, EKS Pod Identity roles,
configuration values and conflicts, made with the add-ons and gone with the cluster."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import yaml

from local import eks_models, podidentity_models
from local.engine import ACCOUNT_ID

if TYPE_CHECKING:
    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

REGION = "us-east-2"
CNI_POLICY = "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"
EBS_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"


def request(name: str, addons: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "region": REGION,
        "addons": addons,
        "managedNodeGroups": [{"name": "workers", "desiredCapacity": 1}],
        **extra,
    }


def trust_of(engine: LocalEngine, arn: str) -> dict[str, Any]:
    """A role's trust policy, as IAM has it."""
    trust = engine.client("iam").get_role(RoleName=arn.rsplit("/", 1)[1])["Role"]["AssumeRolePolicyDocument"]
    return json.loads(trust) if isinstance(trust, str) else trust  # type: ignore[no-any-return]


def policies_of(engine: LocalEngine, region: str, arn: str) -> list[str]:
    """The managed policies of a role, by name, as the stack that made it gives them."""
    cfn = engine.client("cloudformation", region)
    name = arn.rsplit("/", 1)[1]
    for stack in cfn.describe_stacks()["Stacks"]:
        resources = cfn.describe_stack_resources(StackName=stack["StackId"])["StackResources"]
        for resource in resources:
            if resource["ResourceType"] == "AWS::IAM::Role" and resource.get("PhysicalResourceId") == name:
                template = cfn.get_template(StackName=stack["StackId"])["TemplateBody"]
                arns = template["Resources"][resource["LogicalResourceId"]]["Properties"]["ManagedPolicyArns"]
                return [json.dumps(a).rsplit("/", 1)[1].rstrip('"}') for a in arns]
    raise AssertionError(f"no stack made {name}")


def role_names(engine: LocalEngine) -> set[str]:
    return {r["RoleName"] for r in engine.client("iam").list_roles()["Roles"]}


def test_irsa_roles_configuration_values_and_conflicts_are_made_and_deleted(api: Api, engine: LocalEngine) -> None:
    # Given add-ons with IRSA policies of their own, configuration values (YAML) and conflicts
    addons = [
        {
            "name": "vpc-cni",
            "attachPolicyARNs": [CNI_POLICY],
            "configurationValues": "env:\n  ENABLE_PREFIX_DELEGATION: 'true'\n",
            "tags": {"team": "network"},
        },
        {"name": "kube-proxy"},
        {"name": "coredns", "resolveConflicts": "preserve"},
        {"name": "aws-ebs-csi-driver", "wellKnownPolicies": {"ebsCSIController": True}},
    ]
    body = request("irsa", addons, iam={"withOIDC": True})

    # When the cluster is requested
    reply = api.call("POST", "/clusters", body)
    assert reply.status == 202, reply.body
    record = api.wait_for("irsa", {"ACTIVE", "FAILED"})

    # Then it is ACTIVE, and EKS has each add-on as asked
    assert record["status"] == "ACTIVE", record.get("failure")
    made = eks_models.addons_of(ACCOUNT_ID, REGION, "irsa")
    assert sorted(made) == ["aws-ebs-csi-driver", "coredns", "kube-proxy", "vpc-cni"]
    cni, ebs = made["vpc-cni"], made["aws-ebs-csi-driver"]
    assert json.loads(cni.configuration_values or "") == {"env": {"ENABLE_PREFIX_DELEGATION": "true"}}
    assert cni.tags == {"team": "network"}
    assert (cni.resolve_conflicts, made["coredns"].resolve_conflicts, ebs.resolve_conflicts) == (
        "OVERWRITE",
        "PRESERVE",
        None,
    )
    # ...each IRSA role trusting the cluster's OIDC provider for the add-on's service account only
    roles = {}
    for addon, account, policy in ((cni, "aws-node", CNI_POLICY), (ebs, "ebs-csi-controller-sa", EBS_POLICY)):
        assert addon.service_account_role_arn, addon.name
        (statement,) = trust_of(engine, addon.service_account_role_arn)["Statement"]
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert ":oidc-provider/" in statement["Principal"]["Federated"]
        assert f"system:serviceaccount:kube-system:{account}" in statement["Condition"]["StringEquals"].values()
        assert policies_of(engine, REGION, addon.service_account_role_arn) == [policy.rsplit("/", 1)[1]]
        roles[addon.name] = addon.service_account_role_arn.rsplit("/", 1)[1]
    # ...vpc-cni's in the cluster stack (with the provider), the EBS driver's in the add-ons stack
    cfn = engine.client("cloudformation", REGION)
    in_cluster = {
        r.get("PhysicalResourceId")
        for r in cfn.describe_stack_resources(StackName="eksctl-irsa-cluster")["StackResources"]
    }
    assert roles["vpc-cni"] in in_cluster
    # The spec gives every field back
    config = api.call("GET", "/clusters/irsa/config")
    assert config.status == 200, config.body
    exported = yaml.safe_load(config.body) if isinstance(config.body, (str, bytes)) else config.body
    assert exported["addons"][0]["attachPolicyARNs"] == [CNI_POLICY]
    assert exported["addons"][3]["wellKnownPolicies"]["ebsCSIController"] is True

    # When it is deleted
    assert api.call("DELETE", "/clusters/irsa").status == 202
    final = api.wait_for("irsa", {"DELETED", "DELETE_FAILED"})

    # Then the roles went with the stacks
    assert final["status"] == "DELETED", final.get("failure")
    assert not set(roles.values()) & role_names(engine)


def test_pod_identity_roles_for_add_ons_need_no_oidc(api: Api, engine: LocalEngine) -> None:
    # Given add-ons whose roles come through EKS Pod Identity: one asked for, one by addonsConfig
    addons = [
        {"name": "vpc-cni"},
        {"name": "kube-proxy"},
        {"name": "eks-pod-identity-agent"},
        {"name": "coredns"},
        {
            "name": "aws-ebs-csi-driver",
            "podIdentityAssociations": [
                {"serviceAccountName": "ebs-csi-controller-sa", "wellKnownPolicies": {"ebsCSIController": True}}
            ],
        },
    ]
    body = request("pods", addons, addonsConfig={"autoApplyPodIdentityAssociations": True}, region="eu-north-1")

    reply = api.call("POST", "/clusters", body)
    assert reply.status == 202, reply.body
    record = api.wait_for("pods", {"ACTIVE", "FAILED"})

    # Then EKS has an association for each, with roles trusting EKS Pod Identity
    assert record["status"] == "ACTIVE", record.get("failure")
    associations = podidentity_models.associations_of(ACCOUNT_ID, "eu-north-1", "pods")
    assert sorted(associations) == [("kube-system", "aws-node"), ("kube-system", "ebs-csi-controller-sa")]
    expected = {"aws-node": CNI_POLICY, "ebs-csi-controller-sa": EBS_POLICY}
    for (_, account), association in associations.items():
        (statement,) = trust_of(engine, association.role_arn)["Statement"]
        assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
        assert sorted(statement["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
        assert policies_of(engine, "eu-north-1", association.role_arn) == [expected[account].rsplit("/", 1)[1]]
    made = eks_models.addons_of(ACCOUNT_ID, "eu-north-1", "pods")
    assert made["aws-ebs-csi-driver"].service_account_role_arn is None

    assert api.call("DELETE", "/clusters/pods").status == 202
    final = api.wait_for("pods", {"DELETED", "DELETE_FAILED"})
    assert final["status"] == "DELETED", final.get("failure")
    names = {a.role_arn.rsplit("/", 1)[1] for a in associations.values()}
    assert not names & role_names(engine)


def test_configuration_values_that_do_not_parse_are_refused_naming_the_field(api: Api) -> None:
    body = request("badvalues", [{"name": "vpc-cni", "configurationValues": "env: [unclosed"}])

    reply = api.call("POST", "/clusters", body)

    assert reply.status == 422, reply.body
    fields = {f["field"]: f["rule"] for f in reply.body["fields"]}
    assert fields == {"addons[0].configurationValues": "configuration_values"}
