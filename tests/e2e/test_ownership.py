"""Who may do what over HTTP: callers are IAM principals; only the owner or an admin changes a cluster."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import TYPE_CHECKING

import pytest

from chalicelib.aws import identity, table
from chalicelib.model import settings

if TYPE_CHECKING:
    from collections.abc import Iterator

    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

ALICE = "arn:aws:iam::123456789012:role/alice"
BOB = "arn:aws:sts::123456789012:assumed-role/bob/session"
ADMIN = "arn:aws:iam::123456789012:role/platform-admin"
# Two sessions of one role (one person, two days), and the same person in another role.
DEV_MONDAY = "arn:aws:sts::123456789012:assumed-role/dev/alice-monday"
DEV_TUESDAY = "arn:aws:sts::123456789012:assumed-role/dev/alice-tuesday"
OPS = "arn:aws:sts::123456789012:assumed-role/ops/alice-monday"
DEV_ROLE = "arn:aws:iam::123456789012:role/dev"


@pytest.fixture(scope="module")
def owned(api: Api) -> str:
    assert api.call("POST", "/clusters", {"name": "alices"}, caller=ALICE).status == 202
    assert api.wait_for("alices", {"ACTIVE"})["owner"] == ALICE
    return "alices"


@pytest.fixture
def admins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(settings.ENV_ADMINS, "arn:aws:iam::123456789012:role/platform-*")
    settings.get_settings.cache_clear()
    yield
    monkeypatch.undo()
    settings.get_settings.cache_clear()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("DELETE", "/clusters/alices", None),
        ("POST", "/clusters/alices/lease", {"hours": 4}),
        ("POST", "/clusters/alices/nodegroups", {"name": "extra"}),
        ("PATCH", "/clusters/alices/nodegroups/ng-1", {"desiredCapacity": 1, "minSize": 1}),
        ("DELETE", "/clusters/alices/nodegroups/ng-1", None),
        ("POST", "/clusters/alices/access", {"arn": "arn:aws:iam::123456789012:role/x", "groups": ["viewers"]}),
        ("DELETE", "/clusters/alices/access?arn=arn:aws:iam::123456789012:role/x", None),
    ],
)
def test_someone_else_may_not_change_the_cluster(api: Api, owned: str, method: str, path: str, body: object) -> None:
    reply = api.call(method, path, body, caller=BOB)

    assert reply.status == 403, reply.body
    assert "only its owner or an admin" in reply.body["message"]
    assert "operation" not in api.call("GET", "/clusters/alices", caller=BOB).body, api.call(
        "GET", "/clusters/alices"
    ).body.get("operation")


def test_anyone_authenticated_may_read(api: Api, owned: str) -> None:
    assert api.call("GET", "/clusters/alices", caller=BOB).status == 200
    assert api.call("GET", "/clusters", caller=BOB).status == 200


def test_the_owner_and_an_admin_may(api: Api, owned: str, admins: None) -> None:
    assert api.call("POST", "/clusters/alices/lease", {"hours": 4}, caller=ALICE).status == 200
    assert api.call("POST", "/clusters/alices/lease", {"hours": 5}, caller=ADMIN).status == 200
    events = api.call("GET", "/clusters/alices").body["events"]
    assert [e["message"].rsplit(" by ", 1)[1] for e in events if e["type"] == "LEASE_EXTENDED"] == [ALICE, ADMIN]


def test_a_forged_caller_header_is_refused(api: Api) -> None:
    request = urllib.request.Request(
        api.base + "/clusters",
        headers={identity.CALLER_HEADER: ADMIN, identity.SIGNATURE_HEADER: identity.sign("guessed", ADMIN)},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401


def test_without_the_local_key_only_api_gateways_identity_counts() -> None:
    context = {"identity": {"userArn": ALICE}}
    assert identity.caller(context, {}, "") == ALICE
    with pytest.raises(identity.UnauthenticatedError):
        identity.caller({}, {identity.CALLER_HEADER: ADMIN, identity.SIGNATURE_HEADER: "x"}, "")


def test_a_cluster_belongs_to_the_role_so_its_next_session_may_change_it_and_another_role_may_not(
    api: Api, admins: None
) -> None:
    """Callers are named as aws-iam-authenticator names them: an assumed role's session is the role."""
    assert api.call("POST", "/clusters", {"name": "sessions"}, caller=DEV_MONDAY).status == 202
    assert api.call("GET", "/clusters/sessions").body["owner"] == DEV_ROLE

    other_role = api.call("POST", "/clusters/sessions/lease", {"hours": 4}, caller=OPS)
    assert other_role.status == 403, other_role.body
    assert api.call("DELETE", "/clusters/sessions", caller=OPS).status == 403

    extended = api.call("POST", "/clusters/sessions/lease", {"hours": 4}, caller=DEV_TUESDAY)
    assert extended.status == 200, extended.body
    # The policy's ARN patterns see the role too: `role/platform-*` names every session of platform-admin.
    on_call = "arn:aws:sts::123456789012:assumed-role/platform-admin/on-call"
    assert api.call("POST", "/clusters/sessions/lease", {"hours": 5}, caller=on_call).status == 200
    deleted = api.call("DELETE", "/clusters/sessions", caller=DEV_TUESDAY)
    assert deleted.status == 202, deleted.body
    events = api.call("GET", "/clusters/sessions").body["events"]
    assert [e["message"].rsplit(" by ", 1)[1] for e in events if e["type"] == "LEASE_EXTENDED"] == [DEV_ROLE, ADMIN]


def test_a_cluster_recorded_with_a_session_as_owner_belongs_to_its_role(api: Api, engine: LocalEngine) -> None:
    """Records written before callers were named canonically hold the session ARN they were created with."""
    assert api.call("POST", "/clusters", {"name": "legacy"}, caller=DEV_MONDAY).status == 202
    engine.client("dynamodb").update_item(
        TableName=engine.table_name,
        Key={"pk": {"S": table.pk("legacy")}, "sk": {"S": table.META}},
        UpdateExpression="SET #owner = :session",
        ExpressionAttributeNames={"#owner": "owner"},
        ExpressionAttributeValues={":session": {"S": DEV_MONDAY}},
    )
    assert api.call("GET", "/clusters/legacy").body["owner"] == DEV_MONDAY

    assert api.call("POST", "/clusters/legacy/lease", {"hours": 4}, caller=OPS).status == 403
    assert api.call("POST", "/clusters/legacy/lease", {"hours": 4}, caller=DEV_TUESDAY).status == 200
    assert api.call("DELETE", "/clusters/legacy", caller=DEV_TUESDAY).status == 202
