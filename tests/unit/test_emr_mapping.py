"""`iamIdentityMappings[].serviceName: emr-containers`: the model's rules, the RBAC objects and the aws-auth entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from chalicelib.kube import awsauth, emr
from chalicelib.model import clusterconfig, policy
from chalicelib.model.errors import SpecValidationError
from chalicelib.model.mappings import Mapping
from chalicelib.model.settings import Settings
from chalicelib.model.spec import ClusterSpec, IdentityMapping, validate

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "clusterconfigs" / "eksctl-35-iamidentitymappings.yaml"
CLUSTER_ARN = "arn:aws:eks:eu-west-1:123456789012:cluster/emr"
SERVICE_ROLE = "arn:aws:iam::123456789012:role/AWSServiceRoleForAmazonEMRContainers"
EMR = {"serviceName": "emr-containers", "namespace": "emr"}
# Nobody may grant cluster-wide admin.
GUARDED = Settings(table_name="t", create_state_machine_arn="", poll_scale=1.0, masters_allowed=())


class NoClusters:
    def count_owned(self, owner: str) -> int:
        return 0


def problems(body: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(SpecValidationError) as err:
        validate(ClusterSpec, {"name": "emr", "iamIdentityMappings": [body]}, "cluster request")
    return [(f["field"], f["rule"]) for f in err.value.details["fields"]]


def test_a_service_mapping_names_its_namespace() -> None:
    mapping = IdentityMapping.model_validate(EMR)

    assert (mapping.service_name, mapping.namespace, mapping.kind) == ("emr-containers", "emr", "mapRoles")


@pytest.mark.parametrize(
    ("extra", "field", "rule"),
    [
        ({"arn": "arn:aws:iam::123456789012:role/emr"}, "arn", "service_only"),
        ({"username": "emr"}, "username", "service_only"),
        ({"groups": ["emr"]}, "groups", "service_only"),
        ({"account": "123456789012"}, "account", "service_only"),
    ],
)
def test_a_service_mapping_takes_no_identity_of_its_own(extra: dict[str, Any], field: str, rule: str) -> None:
    assert problems({**EMR, **extra}) == [(f"iamIdentityMappings[0].{field}", rule)]


def test_a_service_mapping_needs_a_namespace() -> None:
    assert problems({"serviceName": "emr-containers"}) == [("iamIdentityMappings[0].namespace", "namespace_required")]


def test_a_namespace_goes_with_a_service_only() -> None:
    body = {"arn": "arn:aws:iam::123456789012:role/emr", "namespace": "emr"}

    assert problems(body) == [("iamIdentityMappings[0].namespace", "service_name_required")]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"serviceName": "spark", "namespace": "emr"}, "serviceName"),
        ({"serviceName": "emr-containers", "namespace": "Not_A_Label"}, "namespace"),
        ({"serviceName": "emr-containers", "namespace": "x" * 64}, "namespace"),
    ],
)
def test_only_emr_and_a_dns_label_are_taken(body: dict[str, Any], field: str) -> None:
    assert [f for f, _ in problems(body)] == [f"iamIdentityMappings[0].{field}"]


def test_eksctls_example_parses_and_round_trips() -> None:
    spec = clusterconfig.parse(EXAMPLE.read_bytes())

    (service,) = [m for m in spec.iam_identity_mappings if m.service_name]
    assert (service.service_name, service.namespace) == ("emr-containers", "emr")
    exported = clusterconfig.from_spec(spec)
    assert {"serviceName": "emr-containers", "namespace": "emr"}.items() <= exported["iamIdentityMappings"][2].items()
    assert clusterconfig.parse(yaml.safe_dump(exported).encode()) == spec


def test_a_service_mapping_grants_no_cluster_wide_admin() -> None:
    spec = ClusterSpec.model_validate({"name": "emr", "iamIdentityMappings": [EMR]})

    policy.check_request(spec, "arn:aws:iam::123456789012:role/dev", GUARDED, NoClusters())
    policy.check_mappings(
        [emr.aws_auth_mapping(CLUSTER_ARN)], "arn:aws:iam::123456789012:role/dev", GUARDED, "iamIdentityMappings"
    )


def test_the_service_linked_role_is_mapped_to_the_emr_user_without_groups() -> None:
    mapping = emr.aws_auth_mapping(CLUSTER_ARN)

    assert awsauth.mapping_entry(mapping) == ("mapRoles", {"rolearn": SERVICE_ROLE, "username": "emr-containers"})
    china = emr.service_role_arn("arn:aws-cn:eks:cn-north-1:123456789012:cluster/emr")
    assert china == "arn:aws-cn:iam::123456789012:role/AWSServiceRoleForAmazonEMRContainers"
    with pytest.raises(ValueError, match="not an EKS cluster ARN"):
        emr.service_role_arn("arn:aws:iam::123456789012:role/emr")


def test_the_emr_mapping_is_added_next_to_another_mapping_of_the_same_role() -> None:
    other = Mapping(arn=SERVICE_ROLE, username="someone")
    auth = awsauth.add(awsauth.AuthMap(), other)

    awsauth.add(auth, emr.aws_auth_mapping(CLUSTER_ARN))
    awsauth.add(auth, emr.aws_auth_mapping(CLUSTER_ARN))

    assert [e["username"] for e in auth.roles] == ["someone", "emr-containers"]


def test_the_role_and_binding_are_emrs_in_the_namespace() -> None:
    role, binding = emr.role("spark"), emr.role_binding("spark")

    assert role["metadata"] == binding["metadata"] == {"name": "emr-containers", "namespace": "spark"}
    assert role["kind"] == "Role" and binding["kind"] == "RoleBinding"
    assert {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]} in role["rules"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "emr-containers"}
    assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "emr-containers"}]
    # Nothing in the rules reaches past the namespace: no cluster roles, bindings or nodes.
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert not resources & {"clusterroles", "clusterrolebindings", "nodes", "*"}


def test_resolve_grants_each_service_mapping_and_asks_for_the_arn_once(monkeypatch: pytest.MonkeyPatch) -> None:
    granted: list[str] = []
    monkeypatch.setattr(emr, "grant", lambda kube, namespace: granted.append(namespace))
    asked: list[int] = []
    person = Mapping.from_fields({"arn": "arn:aws:iam::123456789012:role/dev", "groups": ["dev"]})
    mappings = [person, Mapping.from_fields(EMR), Mapping.from_fields({**EMR, "namespace": "b"})]

    resolved = emr.resolve(None, mappings, lambda: asked.append(1) or CLUSTER_ARN)  # type: ignore[arg-type]

    assert granted == ["emr", "b"] and asked == [1]
    assert resolved[0] is person
    assert [m.arn for m in resolved[1:]] == [SERVICE_ROLE, SERVICE_ROLE]
    assert emr.resolve(None, [person], lambda: pytest.fail("no service mapping: no lookup")) == [person]  # type: ignore[arg-type]
