"""Privilege escalations tried through the API on the local engine: each refused, nothing created.

A caller outside every allow-list (EKSPRESS_MASTERS_ALLOWED, EKSPRESS_ALLOWED_POLICY_ARNS unset)
tries the doors to more than the service policy gives: an access entry with EKS's cluster-admin
policy, a mapping to `system:masters`, a node role with a policy of its choosing, and a stack
named as ours that eksctl itself made. `make reliability` writes the table into README.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalicelib.aws import identity
from chalicelib.model import naming
from reliability.scenarios import stacks_named

if TYPE_CHECKING:
    from collections.abc import Callable

    from local.engine import LocalEngine
    from reliability.scenarios import CountingApi, Reply

ACCOUNT = "123456789012"
CLUSTER_ADMIN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
HEADERS = ("escalation tried", "answer", "error names", "created", "result")


@dataclass
class Attempt:
    escalation: str
    answer: str = "-"
    names: str = "-"
    created: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def check(self, what: str, ok: bool) -> None:
        if not ok:
            self.failures.append(what)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.created

    def row(self) -> list[object]:
        result = "refused" if self.ok else "FAIL: " + "; ".join([*self.failures, *self.created])
        return [self.escalation, self.answer, self.names, ", ".join(self.created) or "nothing", result]


def _refused(attempt: Attempt, reply: Reply, status: int, rule: str) -> None:
    """The documented error shape, naming the field and the rule."""
    body = reply.body if isinstance(reply.body, dict) else {}
    fields = body.get("fields") or []
    attempt.answer = f"{reply.status} {body.get('error', '?')}"
    attempt.names = ", ".join(sorted({f"{f.get('field')} ({f.get('rule')})" for f in fields})) or "-"
    attempt.check(f"answered {status}", reply.status == status)
    attempt.check("in the error shape", isinstance(body.get("message"), str) and isinstance(body.get("error"), str))
    attempt.check(f"naming rule {rule}", any(f.get("rule") == rule for f in fields))


def _nothing_for(attempt: Attempt, api: CountingApi, engine: LocalEngine, name: str) -> None:
    if api.record(name):
        attempt.created.append(f"record {name}")
    attempt.created += [s["StackName"] for s in stacks_named(engine, f"eksctl-{name}-")]


def _member(engine: LocalEngine) -> dict[str, str]:
    """Headers naming a team member as the caller: not the local developer, whom the local engine lets grant
    cluster-admin on their own clusters (EKSPRESS_MASTERS_ALLOWED)."""
    caller = f"arn:aws:iam::{ACCOUNT}:role/team-member"
    return {identity.CALLER_HEADER: caller, identity.SIGNATURE_HEADER: identity.sign(engine.identity_key, caller)}


def admin_access_entry(api: CountingApi, engine: LocalEngine, name: str = "sec-entry") -> Attempt:
    attempt = Attempt("access entry with AmazonEKSClusterAdminPolicy")
    entry = {
        "principalARN": f"arn:aws:iam::{ACCOUNT}:role/friend",
        "accessPolicies": [{"policyARN": CLUSTER_ADMIN, "accessScope": {"type": "cluster"}}],
    }
    reply = api.call(
        "POST", "/clusters", {"name": name, "accessConfig": {"accessEntries": [entry]}}, headers=_member(engine)
    )
    _refused(attempt, reply, 403, "cluster_admin_not_allowed")
    _nothing_for(attempt, api, engine, name)
    return attempt


def masters_mapping(api: CountingApi, engine: LocalEngine, name: str = "sec-masters") -> Attempt:
    attempt = Attempt("mapping to system:masters")
    mapping = {"arn": f"arn:aws:iam::{ACCOUNT}:role/friend", "username": "friend", "groups": ["system:masters"]}
    reply = api.call("POST", "/clusters", {"name": name, "iamIdentityMappings": [mapping]}, headers=_member(engine))
    _refused(attempt, reply, 403, "cluster_admin_not_allowed")
    _nothing_for(attempt, api, engine, name)
    return attempt


def foreign_policy(api: CountingApi, engine: LocalEngine, name: str = "sec-policy") -> Attempt:
    """A node role's policies are held to the allow-list: AdministratorAccess is refused by name."""
    attempt = Attempt("node role with AdministratorAccess attached")
    group = {"name": "ng", "iam": {"attachPolicyARNs": ["arn:aws:iam::aws:policy/AdministratorAccess"]}}
    reply = api.call("POST", "/clusters", {"name": name, "nodeGroups": [group]})
    body = reply.body if isinstance(reply.body, dict) else {}
    fields = body.get("fields") or []
    attempt.answer = f"{reply.status} {body.get('error', '?')}"
    attempt.names = ", ".join(sorted({f"{f.get('field')} ({f.get('rule')})" for f in fields})) or "-"
    attempt.check("answered 422", reply.status == 422)
    field = "nodeGroups[0].iam.attachPolicyARNs[0]"
    attempt.check(
        f"naming {field} (policy_arn_not_allowed)",
        any(f.get("field") == field and f.get("rule") == "policy_arn_not_allowed" for f in fields),
    )
    _nothing_for(attempt, api, engine, name)
    return attempt


def stack_not_ours(api: CountingApi, engine: LocalEngine, name: str = "sec-theirs") -> Attempt:
    """eksctl made `eksctl-NAME-cluster` itself: a create under that name and its delete leave it alone."""
    attempt = Attempt("a stack eksctl itself made, named as ours")
    cfn = engine.client("cloudformation")
    stack = naming.cluster_stack_name(name)
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    theirs = cfn.create_stack(StackName=stack, TemplateBody=json.dumps(template))["StackId"]
    created = api.call("POST", "/clusters", {"name": name})
    record = api.wait_for(name, {"ACTIVE", "FAILED"})
    deleted = api.call("DELETE", f"/clusters/{name}")
    final = api.wait_for(name, {"DELETED", "DELETE_FAILED"})
    (after,) = cfn.describe_stacks(StackName=theirs)["Stacks"]
    failure: dict[str, Any] = record.get("failure") or {}
    attempt.answer = f"{created.status}, then {record.get('status')}"
    attempt.names = str(failure.get("reason", "-"))[:70]
    attempt.check("the create ends FAILED naming the stack", record.get("status") == "FAILED" and stack in str(failure))
    attempt.check("the delete leaves it alone", deleted.status == 202 and final.get("status") == "DELETED")
    attempt.check("their stack is untouched", after["StackStatus"] == "CREATE_COMPLETE" and not after.get("Tags"))
    cfn.delete_stack(StackName=theirs)
    return attempt


SECURITY: tuple[Callable[[CountingApi, LocalEngine], Attempt], ...] = (
    admin_access_entry,
    masters_mapping,
    foreign_policy,
    stack_not_ours,
)
