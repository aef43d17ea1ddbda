"""aws-auth merges: keep what is there, protect node roles, refuse duplicates unless asked."""

from __future__ import annotations

import pytest
import yaml

from chalicelib.kube import awsauth
from chalicelib.model.mappings import Mapping
from chalicelib.model.spec import IdentityMapping

NODE_ROLE = "arn:aws:iam::123456789012:role/eksctl-mz-nodegroup-ng-NodeInstanceRole-ABC"
DEV = "arn:aws:iam::123456789012:role/Dev"
ALICE = "arn:aws:iam::123456789012:user/alice"


def mapping(**fields: object) -> Mapping:
    """A mapping as the workflow reads it: validated when requested, then stored as its fields."""
    return Mapping.from_fields(IdentityMapping.model_validate(fields).model_dump(mode="json", exclude_none=True))


def existing() -> dict[str, object]:
    """An aws-auth as EKS and someone else left it, including an entry we never wrote."""
    roles = [
        awsauth.node_role_mapping(NODE_ROLE),
        {"rolearn": "arn:aws:iam::123456789012:role/Ops", "username": "ops", "groups": ["ops"]},
    ]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "aws-auth", "namespace": "kube-system", "resourceVersion": "7"},
        "data": {"mapRoles": yaml.safe_dump(roles), "other": "kept"},
    }


def test_parse_reads_the_three_lists_and_a_missing_configmap_is_empty() -> None:
    auth = awsauth.parse(existing())

    assert [r["rolearn"] for r in auth.roles] == [NODE_ROLE, "arn:aws:iam::123456789012:role/Ops"]
    assert auth.users == [] and auth.accounts == []
    assert awsauth.parse(None).to_dict() == {"mapRoles": [], "mapUsers": [], "mapAccounts": []}


def test_render_keeps_metadata_other_keys_and_entries_we_did_not_write() -> None:
    current = existing()
    auth = awsauth.add(awsauth.parse(current), mapping(arn=ALICE, username="alice", groups=["dev"]))

    body = awsauth.render(auth, current)

    assert body["metadata"]["resourceVersion"] == "7"
    assert body["data"]["other"] == "kept"
    assert yaml.safe_load(body["data"]["mapUsers"]) == [{"userarn": ALICE, "username": "alice", "groups": ["dev"]}]
    assert len(yaml.safe_load(body["data"]["mapRoles"])) == 2
    assert current["data"] == existing()["data"]  # the input is not modified


def test_render_writes_what_aws_iam_authenticator_parses() -> None:
    auth = awsauth.ensure_node_roles(awsauth.AuthMap(), [NODE_ROLE])
    awsauth.add(auth, mapping(account="111122223333"))

    data = awsauth.render(auth, None)["data"]

    role = yaml.safe_load(data["mapRoles"])[0]
    assert role == {
        "rolearn": NODE_ROLE,
        "username": "system:node:{{EC2PrivateDNSName}}",
        "groups": ["system:bootstrappers", "system:nodes"],
    }
    assert yaml.safe_load(data["mapAccounts"]) == ["111122223333"]
    assert "mapUsers" not in data


def test_node_roles_are_mapped_once() -> None:
    auth = awsauth.parse(existing())

    awsauth.ensure_node_roles(auth, [NODE_ROLE, NODE_ROLE])

    assert [r["rolearn"] for r in auth.roles].count(NODE_ROLE) == 1


def test_a_node_role_mapping_cannot_be_removed_or_changed() -> None:
    auth = awsauth.parse(existing())

    with pytest.raises(awsauth.ProtectedMappingError):
        awsauth.remove(auth, NODE_ROLE)
    with pytest.raises(awsauth.ProtectedMappingError):
        awsauth.add(auth, mapping(arn=NODE_ROLE, username="me", groups=["admins"], noDuplicateARNs=False))
    assert auth.roles[0] == awsauth.node_role_mapping(NODE_ROLE)


def test_duplicate_arns_are_refused_unless_asked_for() -> None:
    auth = awsauth.add(awsauth.AuthMap(), mapping(arn=DEV, username="dev", groups=["dev"]))

    with pytest.raises(awsauth.DuplicateMappingError):
        awsauth.add(auth, mapping(arn=DEV, username="dev2", groups=["ops"]))
    awsauth.add(auth, mapping(arn=DEV, username="dev2", groups=["ops"], noDuplicateARNs=False))

    assert [r["username"] for r in auth.roles] == ["dev", "dev2"]


def test_adding_the_same_entry_again_changes_nothing() -> None:
    auth = awsauth.add(awsauth.AuthMap(), mapping(arn=DEV, username="dev", groups=["dev"]))

    awsauth.add(auth, mapping(arn=DEV, username="dev", groups=["dev"]))

    assert len(auth.roles) == 1


def test_users_and_accounts_go_to_their_own_lists_and_username_defaults_to_the_arn() -> None:
    auth = awsauth.add(awsauth.AuthMap(), mapping(arn=ALICE))
    awsauth.add(auth, mapping(account="111122223333"))

    assert auth.users == [{"userarn": ALICE, "username": ALICE}]
    assert auth.accounts == ["111122223333"]


def test_remove_takes_every_entry_of_the_arn_and_unknown_is_not_found() -> None:
    auth = awsauth.add(awsauth.AuthMap(), mapping(arn=DEV, username="a"))
    awsauth.add(auth, mapping(arn=DEV, username="b", noDuplicateARNs=False))
    awsauth.add(auth, mapping(account="111122223333"))

    awsauth.remove(auth, DEV)
    awsauth.remove(auth, "111122223333")

    assert auth.to_dict() == {"mapRoles": [], "mapUsers": [], "mapAccounts": []}
    with pytest.raises(awsauth.MappingNotFoundError):
        awsauth.remove(auth, DEV)


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"arn": DEV, "groups": ["system:nodes"]}, "node_group_reserved"),
        ({"arn": "arn:aws:iam::123:role/x"}, "string_pattern_mismatch"),
        ({"arn": DEV, "account": "111122223333"}, "arn_or_account"),
        ({}, "arn_or_account"),
        ({"account": "111122223333", "groups": ["x"]}, "account_only"),
        ({"arn": DEV, "groups": ["bad group"]}, "string_pattern_mismatch"),
    ],
)
def test_bad_mappings_name_their_rule(fields: dict[str, object], rule: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as err:
        IdentityMapping.model_validate(fields)
    assert rule in {e["type"] for e in err.value.errors()}
