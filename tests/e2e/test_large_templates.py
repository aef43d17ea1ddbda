"""Big clusters over HTTP on an engine that holds them to CloudFormation's quotas (local/cfn_quotas.py).

A cluster with the request's maximum of tags, HA NAT in three zones, OIDC, every add-on and 20
access entries once built a 145 KB template that AWS would refuse: now it fits in the request.
One with 100 access entries does not, and goes to CloudFormation by TemplateURL, through the
artifacts bucket the engine created as a deployment does.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from chalicelib.cfn import templates, upload
from chalicelib.model import naming
from local import cfn_quotas
from local.engine import ARTIFACTS_BUCKET
from reliability import strict

if TYPE_CHECKING:
    from local.engine import LocalEngine
    from tests.e2e.conftest import Api

REGION = "us-west-2"
# The local EKS model gives every cluster of a region the same OIDC issuer, so a second cluster with
# OIDC in one region collides on its IAM OIDC provider (AWS gives each cluster its own): the second
# cluster goes to another region, which also has CloudFormation read a template from another region's bucket.
OTHER_REGION = "eu-west-1"


def request(name: str, entries: int, policies: tuple[str, ...], region: str = REGION) -> dict[str, Any]:
    return strict.big_request(name, entries, policies, region)


def template_of(engine: LocalEngine, stack: str, region: str = REGION) -> str:
    """The stack's template as the service sent it (compact, keys sorted)."""
    body = engine.client("cloudformation", region).get_template(StackName=stack)["TemplateBody"]
    return templates.to_json(json.loads(json.dumps(body)))  # botocore parses a JSON template


def objects(engine: LocalEngine, stack: str) -> list[dict[str, Any]]:
    found = engine.client("s3").list_objects_v2(Bucket=ARTIFACTS_BUCKET, Prefix=f"{upload.TEMPLATE_PREFIX}/{stack}/")
    return list(found.get("Contents", []))


def test_the_issues_big_cluster_becomes_active_with_a_template_that_fits_the_request(
    api: Api, engine: LocalEngine
) -> None:
    created = api.call("POST", "/clusters", request("big", 20, ("AmazonEKSViewPolicy",)))
    assert created.status == 202, created.body
    record = api.wait_for("big", {"ACTIVE", "FAILED"})
    assert record["status"] == "ACTIVE", record.get("failure")

    stack = naming.cluster_stack_name("big")
    assert len(record["zones"]) == 3
    assert len(template_of(engine, stack).encode()) <= upload.TEMPLATE_BODY_LIMIT
    assert objects(engine, stack) == []  # sent in the request, so nothing was put in the bucket
    # 40 of the request's tags and ours: within the 50 a stack takes.
    found = engine.client("cloudformation", REGION).describe_stacks(StackName=stack)["Stacks"][0]
    assert 40 < len(found["Tags"]) <= cfn_quotas.MAX_STACK_TAGS


def test_a_cluster_template_over_the_request_limit_goes_by_template_url_and_becomes_active(
    api: Api, engine: LocalEngine
) -> None:
    policies = ("AmazonEKSViewPolicy", "AmazonEKSEditPolicy", "AmazonEKSAdminPolicy")
    created = api.call("POST", "/clusters", request("crowded", 100, policies, OTHER_REGION))
    assert created.status == 202, created.body
    record = api.wait_for("crowded", {"ACTIVE", "FAILED"})
    assert record["status"] == "ACTIVE", record.get("failure")

    stack = naming.cluster_stack_name("crowded")
    sent = template_of(engine, stack, OTHER_REGION)
    assert len(sent.encode()) > upload.TEMPLATE_BODY_LIMIT
    (stored,) = objects(engine, stack)
    assert stored["Key"] == f"{upload.TEMPLATE_PREFIX}/{stack}/{hashlib.sha256(sent.encode()).hexdigest()}.json"
    body = engine.client("s3").get_object(Bucket=ARTIFACTS_BUCKET, Key=stored["Key"])["Body"].read().decode()
    assert body == sent
