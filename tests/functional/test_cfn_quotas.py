"""CloudFormation's quotas, as the local engine enforces them (local/cfn_quotas.py), and the service within them.

Each quota: a request just at it passes, one over it is refused with AWS's ValidationError
and AWS's message. Then the service's side: a template over the TemplateBody limit goes to
the artifacts bucket and CloudFormation gets its TemplateURL.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.cfn import stacks, templates, upload
from chalicelib.model import naming, steps
from chalicelib.model.settings import get_settings
from chalicelib.model.spec import ClusterSpec
from chalicelib.operations import create
from local import cfn_quotas
from tests.functional.helpers import given_a_requested_cluster, step_context

if TYPE_CHECKING:
    from chalicelib.aws.clients import Clients
    from chalicelib.aws.store import Store

REGION = "us-west-2"
BUCKET = "ekspress-test-artifacts"


def template(resources: int = 1, outputs: int = 0, parameters: int = 0) -> dict[str, Any]:
    """A template of that many resources, outputs and parameters; no resource is created (its condition is false)."""
    document: dict[str, Any] = {
        "Conditions": {"Never": {"Fn::Equals": ["a", "b"]}},
        "Resources": {f"Queue{i}": {"Type": "AWS::SQS::Queue", "Condition": "Never"} for i in range(resources)},
    }
    if outputs:
        document["Outputs"] = {f"Output{i}": {"Value": "x"} for i in range(outputs)}
    if parameters:
        document["Parameters"] = {f"Parameter{i}": {"Type": "String", "Default": "x"} for i in range(parameters)}
    return document


def of_size(size: int) -> str:
    """A valid template of exactly `size` bytes (padded in its Metadata)."""
    document = {**template(), "Metadata": {"Pad": ""}}
    document["Metadata"]["Pad"] = "x" * (size - len(json.dumps(document)))
    body = json.dumps(document)
    assert len(body.encode()) == size
    return body


def refusal(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = exc.value.response["Error"]
    return error["Code"], error["Message"]


@pytest.fixture
def cfn() -> Any:
    return boto3.client("cloudformation", region_name=REGION)


@pytest.fixture
def s3() -> Any:
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return client


def url(key: str) -> str:
    return upload.object_url(BUCKET, REGION, key)


# --- the engine refuses what CloudFormation refuses ------------------------------------------


def test_a_template_body_of_51200_bytes_passes_one_byte_more_is_refused(cfn: Any) -> None:
    cfn.create_stack(StackName="at-the-limit", TemplateBody=of_size(51_200))

    over = of_size(51_201)
    with pytest.raises(ClientError) as refused:
        cfn.create_stack(StackName="over-the-limit", TemplateBody=over)

    assert refusal(refused) == (
        "ValidationError",
        f"1 validation error detected: Value '{over}' at 'templateBody' failed to satisfy constraint: "
        "Member must have length less than or equal to 51200",
    )
    assert [s["StackName"] for s in cfn.describe_stacks()["Stacks"]] == ["at-the-limit"]


def test_a_template_url_object_of_1_mb_passes_one_byte_more_is_refused(cfn: Any, s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="templates/a.json", Body=of_size(1_000_000).encode())
    s3.put_object(Bucket=BUCKET, Key="templates/b.json", Body=of_size(1_000_001).encode())

    cfn.create_stack(StackName="at-the-limit", TemplateURL=url("templates/a.json"))
    with pytest.raises(ClientError) as refused:
        cfn.create_stack(StackName="over-the-limit", TemplateURL=url("templates/b.json"))

    assert refusal(refused) == ("ValidationError", "Template may not exceed 1000000 bytes in size.")


def test_a_template_url_that_names_no_object_is_refused(cfn: Any, s3: Any) -> None:
    with pytest.raises(ClientError) as refused:
        cfn.create_stack(StackName="nothing-there", TemplateURL=url("templates/missing.json"))

    assert refusal(refused) == (
        "ValidationError",
        "TemplateURL must reference a valid S3 object to which you have access.",
    )


@pytest.mark.parametrize(
    ("section", "most", "message"),
    [
        ("resources", 500, "Template format error: Number of resources, 501, is greater than maximum allowed, 500"),
        ("outputs", 200, "Template format error: Outputs count 201 is greater than max allowed 200"),
        ("parameters", 200, "Template format error: Parameter count 201 is greater than max allowed 200"),
    ],
)
def test_template_sections_at_their_quota_pass_one_more_is_refused(
    cfn: Any, section: str, most: int, message: str
) -> None:
    cfn.create_stack(StackName="at-the-limit", TemplateBody=json.dumps(template(**{section: most})))

    with pytest.raises(ClientError) as refused:
        cfn.create_stack(StackName="over-the-limit", TemplateBody=json.dumps(template(**{section: most + 1})))

    assert refusal(refused) == ("ValidationError", message)


def test_fifty_stack_tags_pass_fifty_one_are_refused(cfn: Any) -> None:
    tags = [{"Key": f"tag-{i}", "Value": "v"} for i in range(51)]
    cfn.create_stack(StackName="fifty", TemplateBody=json.dumps(template()), Tags=tags[:50])

    with pytest.raises(ClientError) as refused:
        cfn.create_stack(StackName="fifty-one", TemplateBody=json.dumps(template()), Tags=tags)

    code, message = refusal(refused)
    assert code == "ValidationError"
    assert message.startswith("1 validation error detected: Value '[tag-0=v, tag-1=v")
    assert message.endswith(
        "tag-50=v]' at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"
    )


def test_every_broken_request_constraint_is_named_at_once(cfn: Any) -> None:
    tags = [{"Key": f"tag-{i}", "Value": "v"} for i in range(51)]
    with pytest.raises(ClientError) as refused:
        cfn.create_stack(StackName="both", TemplateBody=of_size(51_201), Tags=tags)

    _, message = refusal(refused)
    assert message.startswith("2 validation errors detected: Value '")
    assert "at 'templateBody' failed to satisfy constraint" in message
    assert "; Value '[tag-0=v" in message


def test_updates_change_sets_and_validation_are_held_to_the_same_quotas(cfn: Any, s3: Any) -> None:
    cfn.create_stack(StackName="live", TemplateBody=json.dumps(template()))
    s3.put_object(Bucket=BUCKET, Key="templates/many.json", Body=json.dumps(template(resources=501)).encode())

    with pytest.raises(ClientError) as by_body:
        cfn.update_stack(StackName="live", TemplateBody=of_size(51_201))
    with pytest.raises(ClientError) as by_url:
        cfn.update_stack(StackName="live", TemplateURL=url("templates/many.json"))
    with pytest.raises(ClientError) as change_set:
        cfn.create_change_set(StackName="live", ChangeSetName="big", TemplateBody=of_size(51_201))
    with pytest.raises(ClientError) as validated:
        cfn.validate_template(TemplateBody=of_size(51_201))

    assert "at 'templateBody' failed to satisfy constraint" in refusal(by_body)[1]
    assert refusal(by_url)[1] == "Template format error: Number of resources, 501, is greater than maximum allowed, 500"
    assert "at 'templateBody' failed to satisfy constraint" in refusal(change_set)[1]
    assert "at 'templateBody' failed to satisfy constraint" in refusal(validated)[1]
    assert cfn.describe_stacks(StackName="live")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"


def test_yaml_templates_with_short_form_functions_are_counted_too() -> None:
    resources = "\n".join(
        f"  Q{i}:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: !Ref P" for i in range(501)
    )
    body = f"Parameters:\n  P:\n    Type: String\nResources:\n{resources}\n"

    assert cfn_quotas.template_problem(body) == (
        "Template format error: Number of resources, 501, is greater than maximum allowed, 500"
    )


# --- the service stays within them ------------------------------------------------------------


def bucket_of(s3: Any) -> upload.TemplateBucket:
    return upload.TemplateBucket(BUCKET, lambda: s3)


def test_a_template_within_the_body_limit_goes_in_the_request_and_never_touches_s3(cfn: Any) -> None:
    def no_s3() -> Any:
        raise AssertionError("a small template needs no bucket")

    stacks.create_stack(
        cfn, "eksctl-small-cluster", of_size(51_200), {}, "t1", bucket=upload.TemplateBucket(BUCKET, no_s3)
    )

    assert len(cfn.get_template(StackName="eksctl-small-cluster")["TemplateBody"]["Metadata"]["Pad"]) > 0


def test_a_larger_template_is_put_in_the_bucket_and_passed_by_url(cfn: Any, s3: Any) -> None:
    body = of_size(200_000)

    ref = stacks.create_stack(cfn, "eksctl-big-cluster", body, {}, "t1", bucket=bucket_of(s3))

    key = f"templates/eksctl-big-cluster/{hashlib.sha256(body.encode()).hexdigest()}.json"
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode() == body
    stack = cfn.describe_stacks(StackName=ref["stackId"])["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert cfn.get_template(StackName=ref["stackId"])["TemplateBody"] == json.loads(body)
    # A retried step puts the same object again and finds its stack.
    assert stacks.create_stack(cfn, "eksctl-big-cluster", body, {}, "t1", bucket=bucket_of(s3)) == ref
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == [key]


def test_updates_pass_a_larger_template_by_url_too(cfn: Any, s3: Any) -> None:
    tags = {naming.TAG_CLUSTER_ID: "cid"}
    ref = stacks.create_stack(cfn, "eksctl-grow-cluster", json.dumps(template()), tags, "t1", bucket=bucket_of(s3))
    bigger = of_size(120_000)

    result = stacks.update_stack(cfn, {**ref, "kind": "cluster"}, bigger, "cid", bucket=bucket_of(s3))

    assert result["unchanged"] is False
    assert cfn.get_template(StackName=ref["stackId"])["TemplateBody"] == json.loads(bigger)
    again = stacks.update_stack(cfn, {**ref, "kind": "cluster"}, bigger, "cid", bucket=bucket_of(s3))
    assert again["unchanged"] is True


def test_a_larger_template_without_a_bucket_or_over_1_mb_fails_before_cloudformation(cfn: Any, s3: Any) -> None:
    with pytest.raises(upload.TemplateTooLargeError, match="no artifacts bucket is configured"):
        stacks.create_stack(cfn, "eksctl-nowhere-cluster", of_size(51_201), {}, "t1")
    with pytest.raises(upload.TemplateTooLargeError, match="at most 1000000"):
        stacks.create_stack(cfn, "eksctl-huge-cluster", of_size(1_000_001), {}, "t1", bucket=bucket_of(s3))

    assert cfn.describe_stacks()["Stacks"] == []
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)


# 100 access entries, each with three namespaced policies: a template over the TemplateBody limit.
CROWDED = {
    "name": "crowded",
    "region": REGION,
    "accessConfig": {
        "accessEntries": [
            {
                "principalARN": f"arn:aws:iam::123456789012:role/team-{i:03d}",
                "kubernetesGroups": ["developers", "viewers"],
                "accessPolicies": [
                    {
                        "policyARN": f"arn:aws:eks::aws:cluster-access-policy/{policy}",
                        "accessScope": {"type": "namespace", "namespaces": [f"team-{i:03d}", "shared"]},
                    }
                    for policy in ("AmazonEKSViewPolicy", "AmazonEKSEditPolicy", "AmazonEKSAdminPolicy")
                ],
            }
            for i in range(100)
        ]
    },
}


def test_the_create_step_passes_a_cluster_template_over_the_body_limit_by_url(
    db: Store, clients: Clients, s3: Any
) -> None:
    record = given_a_requested_cluster(db, CROWDED)
    settings = dataclasses.replace(get_settings(), artifacts_bucket=BUCKET)

    ref = create.create_cluster_stack(
        step_context(db=db, clients=clients, settings=settings),
        steps.ClusterStep(name="crowded", clusterId=record["clusterId"]),
    )

    (stored,) = s3.list_objects_v2(Bucket=BUCKET, Prefix="templates/eksctl-crowded-cluster/")["Contents"]
    assert stored["Size"] > upload.TEMPLATE_BODY_LIMIT
    cfn = boto3.client("cloudformation", region_name=REGION)
    stack = cfn.describe_stacks(StackName=ref["stackId"])["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    # The stack carries the tags the template leaves to CloudFormation's propagation.
    spec = ClusterSpec.model_validate(db.get_cluster("crowded")["spec"])
    expected = templates.stack_tags(spec, record["clusterId"], stacks.KIND_CLUSTER)
    assert {t["Key"]: t["Value"] for t in stack["Tags"]} == expected
