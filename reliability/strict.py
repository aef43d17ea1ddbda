"""Scenarios of the strictness work: what AWS refuses, the local engine refuses too, and the service copes.

Each drives the HTTP API on the local engine as reliability.scenarios does, and returns an
`Outcome` for the same table: hostile request bodies, a caller whose session changes, a
stack that never finishes, a template over CloudFormation's request limit, and a delete
that meets the security group EKS made for the control plane.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.aws import identity
from chalicelib.model import naming
from chalicelib.model.spec import ADDON_NAMES
from local import stack_timing
from local.engine import ARTIFACTS_BUCKET, LOCAL_IDENTITY_KEY
from reliability.scenarios import Outcome, stacks_named, wait_for_executions

if TYPE_CHECKING:
    from collections.abc import Callable

    from local.engine import LocalEngine
    from reliability.scenarios import CountingApi

ACCOUNT = "123456789012"
CLUSTER_CONFIG = "apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\n"


def _as(caller: str) -> dict[str, str]:
    """Headers naming `caller` to the local engine, signed as API Gateway's IAM identity stands in for."""
    return {identity.CALLER_HEADER: caller, identity.SIGNATURE_HEADER: identity.sign(LOCAL_IDENTITY_KEY, caller)}


def _error_shape(body: Any) -> bool:
    return isinstance(body, dict) and isinstance(body.get("error"), str) and isinstance(body.get("message"), str)


def hostile_bodies(api: CountingApi, engine: LocalEngine, name: str = "hostile") -> Outcome:
    """Bodies nested 5,000 deep, keys given twice (JSON and YAML): a 400 naming the problem, never a 5xx."""
    outcome = Outcome("deep JSON and duplicate keys", api)
    deep = api.call("POST", "/clusters", raw=b"[" * 5000 + b"]" * 5000)
    twice = api.call("POST", "/clusters", raw=f'{{"name": "{name}-a", "name": "{name}-b"}}'.encode())
    yaml_twice = api.call(
        "POST",
        "/clusters",
        raw=(CLUSTER_CONFIG + f"metadata:\n  name: {name}-a\n  name: {name}-b\n").encode(),
        headers={"Content-Type": "application/x-yaml"},
    )
    outcome.injected = 3
    outcome.check("5,000-deep JSON is a 400 in our error shape", deep.status == 400 and _error_shape(deep.body))
    for what, reply in (("JSON", twice), ("YAML", yaml_twice)):
        fields = reply.body.get("fields") if isinstance(reply.body, dict) else None
        outcome.check(
            f"a key given twice in {what} is a 400 naming it (rule duplicate_key)",
            reply.status == 400 and bool(fields) and fields[0].get("rule") == "duplicate_key",
        )
    outcome.check("nothing was recorded for them", not api.names(f"{name}-"))
    created = api.call("POST", "/clusters", {"name": name})
    record = api.wait_for(name, {"ACTIVE", "FAILED"})
    outcome.check(
        "a good request after them still becomes ACTIVE", created.status == 202 and record.get("status") == "ACTIVE"
    )
    if record.get("status") != "ACTIVE":
        outcome.lost.append(name)
    return outcome


def session_owner(api: CountingApi, engine: LocalEngine, name: str = "sessions") -> Outcome:
    """A role's next session still owns the cluster its first session made; another role does not."""
    outcome = Outcome("assumed-role owner across sessions", api)
    first, second = (f"arn:aws:sts::{ACCOUNT}:assumed-role/Platform/run-{i}" for i in (1, 2))
    other = f"arn:aws:sts::{ACCOUNT}:assumed-role/Intruder/run-1"
    created = api.call("POST", "/clusters", {"name": name}, headers=_as(first))
    record = api.wait_for(name, {"ACTIVE", "FAILED"})
    outcome.check(
        "the record names the role, not the session", record.get("owner") == f"arn:aws:iam::{ACCOUNT}:role/Platform"
    )
    refused = api.call("POST", f"/clusters/{name}/lease", {"hours": 2}, headers=_as(other))
    extended = api.call("POST", f"/clusters/{name}/lease", {"hours": 2}, headers=_as(second))
    deleted = api.call("DELETE", f"/clusters/{name}", headers=_as(second))
    final = api.wait_for(name, {"DELETED", "DELETE_FAILED"})
    outcome.check("the create is accepted and ACTIVE", created.status == 202 and record.get("status") == "ACTIVE")
    outcome.check("another role is refused (403)", refused.status == 403)
    outcome.check(
        "the role's second session extends (200) and deletes (202) it", (extended.status, deleted.status) == (200, 202)
    )
    outcome.check("the cluster is DELETED", final.get("status") == "DELETED")
    if not final:
        outcome.lost.append(name)
    return outcome


def stack_never_finishes(api: CountingApi, engine: LocalEngine, name: str = "stuck") -> Outcome:
    """A cluster stack stuck in progress: FAILED at the request's deadline with why, then deletable."""
    outcome = Outcome("stack that never finishes", api)
    stack = naming.cluster_stack_name(name)
    stack_timing.behaviour.hang(stack, started_seconds_ago=45)
    outcome.injected = 1
    created = api.call("POST", "/clusters", {"name": name, "timeoutMinutes": 1})
    record = api.wait_for(name, {"ACTIVE", "FAILED"}, timeout=90)
    reason = f"timed out after 1 min waiting for stack {stack} (status CREATE_IN_PROGRESS)"
    outcome.check("the request is accepted (202)", created.status == 202)
    outcome.check(
        "the cluster is FAILED with the deadline's reason",
        record.get("failure") == {"error": "StackTimedOut", "reason": reason, "stack": stack},
    )
    execution = wait_for_executions(engine, "create_cluster", f"create-{name}-", 1, timeout=30)
    outcome.check("the workflow failed (not timed out)", [e["status"] for e in execution] == ["FAILED"])
    deleted = api.call("DELETE", f"/clusters/{name}")
    final = api.wait_for(name, {"DELETED", "DELETE_FAILED"})
    outcome.check("then it deletes (202 → DELETED)", deleted.status == 202 and final.get("status") == "DELETED")
    outcome.check(
        "no stack is left",
        not [s for s in stacks_named(engine, f"eksctl-{name}-") if s["StackStatus"] != "DELETE_COMPLETE"],
    )
    if not final:
        outcome.lost.append(name)
    return outcome


def access_entry(i: int, policies: tuple[str, ...]) -> dict[str, Any]:
    """One team's access entry: its role, a group, and `policies` scoped to its namespace and a shared one."""
    return {
        "principalARN": f"arn:aws:iam::{ACCOUNT}:role/team-{i:03d}",
        "kubernetesGroups": ["developers"],
        "accessPolicies": [
            {
                "policyARN": f"arn:aws:eks::aws:cluster-access-policy/{policy}",
                "accessScope": {"type": "namespace", "namespaces": [f"team-{i:03d}", "shared"]},
            }
            for policy in policies
        ],
    }


def big_request(name: str, entries: int, policies: tuple[str, ...], region: str) -> dict[str, Any]:
    """A cluster with the request's maximum of tags, HA NAT, OIDC, every add-on and `entries` access entries."""
    return {
        "name": name,
        "region": region,
        "tags": {f"cost-allocation-tag-{i:02d}": f"a-value-of-some-length-{i:02d}" for i in range(40)},
        "vpc": {"nat": {"gateway": "HighlyAvailable"}},
        "iam": {"withOIDC": True},
        "addons": [{"name": addon} for addon in ADDON_NAMES],
        "accessConfig": {"accessEntries": [access_entry(i, policies) for i in range(entries)]},
    }


def oversized_template(api: CountingApi, engine: LocalEngine, name: str = "crowded") -> Outcome:
    """A cluster whose template is over CloudFormation's 51,200-byte request limit: built through TemplateURL."""
    outcome = Outcome("oversized template", api)
    policies = ("AmazonEKSViewPolicy", "AmazonEKSEditPolicy", "AmazonEKSAdminPolicy")
    # One OIDC cluster per region on the local engine (its clusters share an issuer): a region of its own.
    body = big_request(name, 100, policies, "eu-west-2")
    created = api.call("POST", "/clusters", body)
    record = api.wait_for(name, {"ACTIVE", "FAILED"})
    stack = naming.cluster_stack_name(name)
    stored = engine.client("s3").list_objects_v2(Bucket=ARTIFACTS_BUCKET, Prefix=f"templates/{stack}/")
    outcome.check(
        "the request is accepted (202) and the cluster ACTIVE",
        created.status == 202 and record.get("status") == "ACTIVE",
    )
    outcome.check("its template went through the artifacts bucket", len(stored.get("Contents", [])) == 1)
    outcome.facts["failure"] = record.get("failure")
    if not record:
        outcome.lost.append(name)
    return outcome


def eks_owned_group(api: CountingApi, engine: LocalEngine, name: str = "owned") -> Outcome:
    """EKS's own cluster security group is attached and tagged like a load balancer's: left to EKS."""
    outcome = Outcome("delete with the EKS-owned security group present", api)
    created = api.call("POST", "/clusters", {"name": name})
    record = api.wait_for(name, {"ACTIVE", "FAILED"})
    config = engine.client("eks").describe_cluster(name=name)["cluster"]["resourcesVpcConfig"]
    group = config["clusterSecurityGroupId"]
    ec2 = engine.client("ec2")
    attached = ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [group]}])["NetworkInterfaces"]
    outcome.injected = len(attached)
    outcome.check("the cluster is ACTIVE with EKS's group attached", created.status == 202 and bool(attached))
    deleted = api.call("DELETE", f"/clusters/{name}")
    final = api.wait_for(name, {"DELETED", "DELETE_FAILED"})
    kinds = [e["type"] for e in final.get("events", [])]
    outcome.check("the delete ends DELETED", deleted.status == 202 and final.get("status") == "DELETED")
    outcome.check("no cleanup failure was recorded", "KUBERNETES_RESOURCES_NOT_DELETED" not in kinds)
    outcome.check(
        "EKS took its group with the cluster",
        ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": [group]}])["SecurityGroups"] == [],
    )
    if not final or not record:
        outcome.lost.append(name)
    return outcome


STRICT: tuple[Callable[[CountingApi, LocalEngine], Outcome], ...] = (
    hostile_bodies,
    session_owner,
    stack_never_finishes,
    oversized_template,
    eks_owned_group,
)
