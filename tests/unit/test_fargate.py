"""Fargate profiles: the spec's rules (eksctl's and EKS's), the Fargate stack's template, and the ClusterConfig."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from chalicelib.cfn import fargate, kinds, templates
from chalicelib.cfn.template import Template
from chalicelib.model import clusterconfig
from chalicelib.model.errors import SpecValidationError
from chalicelib.model.spec import ClusterSpec, validate
from tests.unit.test_templates import cfn_lint, resources_of_type

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "clusterconfigs"
REGION = "eu-west-1"
TWO = [
    {"name": "fp-default", "selectors": [{"namespace": "default"}, {"namespace": "kube-system"}]},
    {
        "name": "fp-dev",
        "selectors": [{"namespace": "dev", "labels": {"env": "dev", "checks": "passed"}}],
        "tags": {"env": "dev", "team": "web"},
    },
]
EXISTING_VPC = {
    "id": "vpc-0123456789abcdef0",
    "subnets": {
        "private": {
            "eu-west-1a": {"id": "subnet-0000000000000000a"},
            "inner-b": {"id": "subnet-0000000000000000b", "az": "eu-west-1b"},
        },
        "public": {"eu-west-1a": {"id": "subnet-00000000000000001"}},
    },
}


def spec_of(profiles: list[dict[str, Any]] | None = None, **body: Any) -> ClusterSpec:
    return ClusterSpec.model_validate({"name": "fg", "region": REGION, "fargateProfiles": profiles or TWO} | body)


def problems(profiles: list[dict[str, Any]], **body: Any) -> dict[str, str]:
    """The 422's fields (path → rule) for a request with these profiles."""
    with pytest.raises(SpecValidationError) as refused:
        validate(ClusterSpec, {"name": "fg", "region": REGION, "fargateProfiles": profiles} | body, "cluster request")
    return {f["field"]: f["rule"] for f in refused.value.details["fields"]}


def fargate_template(spec: ClusterSpec) -> dict[str, Any]:
    return templates.build_workload_template(spec, kinds.FARGATE.name, "", "cid")


def profiles_of(template: dict[str, Any]) -> dict[str, Any]:
    return resources_of_type(template, "AWS::EKS::FargateProfile")


def selector(namespace: str = "apps", **labels: str) -> dict[str, Any]:
    return {"namespace": namespace, **({"labels": labels} if labels else {})}


# -- the spec ---------------------------------------------------------------------------------


def test_eksctls_example_16_parses() -> None:
    spec = clusterconfig.parse((EXAMPLES / "eksctl-16-fargate-profile.yaml").read_bytes())

    assert [p.name for p in spec.fargate_profiles or []] == ["fp-default", "fp-dev"]
    dev = (spec.fargate_profiles or [])[1]
    assert dev.selectors[0].labels == {"env": "dev", "checks": "passed"}
    assert dev.tags == {"env": "dev", "name": "fp-dev"}


def test_no_profiles_by_default() -> None:
    assert ClusterSpec.model_validate({"name": "fg"}).fargate_profiles is None


@pytest.mark.parametrize(
    ("profile", "field", "rule"),
    [
        ({"selectors": [selector()]}, "fargateProfiles[0].name", "missing"),
        ({"name": "eks-mine", "selectors": [selector()]}, "fargateProfiles[0].name", "reserved_name"),
        ({"name": "-dash", "selectors": [selector()]}, "fargateProfiles[0].name", "string_pattern_mismatch"),
        ({"name": "has space", "selectors": [selector()]}, "fargateProfiles[0].name", "string_pattern_mismatch"),
        ({"name": "x" * 101, "selectors": [selector()]}, "fargateProfiles[0].name", "string_too_long"),
        ({"name": "fp"}, "fargateProfiles[0].selectors", "missing"),
        ({"name": "fp", "selectors": []}, "fargateProfiles[0].selectors", "too_short"),
        (
            {"name": "fp", "selectors": [selector(f"n{i}") for i in range(6)]},
            "fargateProfiles[0].selectors",
            "too_long",
        ),
        ({"name": "fp", "selectors": [{"labels": {"a": "b"}}]}, "fargateProfiles[0].selectors[0].namespace", "missing"),
        (
            {"name": "fp", "selectors": [selector("Apps")]},
            "fargateProfiles[0].selectors[0].namespace",
            "namespace_format",
        ),
        ({"name": "fp", "selectors": [selector("")]}, "fargateProfiles[0].selectors[0].namespace", "string_too_short"),
        (
            {"name": "fp", "selectors": [selector(**{f"k{i}": "v" for i in range(6)})]},
            "fargateProfiles[0].selectors[0].labels",
            "too_long",
        ),
        ({"name": "fp", "selectors": [selector(app="")]}, "fargateProfiles[0].selectors[0].labels", "label_value"),
        (
            {"name": "fp", "selectors": [selector(**{"a b": "c"})]},
            "fargateProfiles[0].selectors[0].labels",
            "label_key",
        ),
        (
            {"name": "fp", "selectors": [selector()], "tags": {"team": ""}},
            "fargateProfiles[0].tags",
            "tag_value_length",
        ),
        (
            {"name": "fp", "selectors": [selector()], "tags": {"k" * 128: "v"}},
            "fargateProfiles[0].tags",
            "tag_key_length",
        ),
        ({"name": "fp", "selectors": [selector()], "tags": {"aws:x": "v"}}, "fargateProfiles[0].tags", "reserved_tag"),
        (
            {"name": "fp", "selectors": [selector()], "podExecutionRoleARN": "arn:aws:iam::123456789012:role/r"},
            "fargateProfiles[0].podExecutionRoleARN",
            "extra_forbidden",
        ),
    ],
)
def test_a_profile_eksctl_or_eks_would_refuse_is_a_422_naming_the_field(
    profile: dict[str, Any], field: str, rule: str
) -> None:
    assert problems([profile]).get(field) == rule


def test_eks_wildcards_and_pod_labels_with_prefixes_are_taken() -> None:
    spec = spec_of([{"name": "fp", "selectors": [selector("prod-*", **{"app.kubernetes.io/name": "web?"})]}])

    assert (spec.fargate_profiles or [])[0].selectors[0].namespace == "prod-*"


def test_at_most_ten_profiles_eks_quota() -> None:
    ten = [{"name": f"fp{i}", "selectors": [selector()]} for i in range(10)]

    assert len(spec_of(ten).fargate_profiles or []) == 10
    assert problems([*ten, {"name": "fp10", "selectors": [selector()]}]) == {"fargateProfiles": "too_long"}


def test_a_name_used_twice_is_refused() -> None:
    twice = [{"name": "fp", "selectors": [selector()]}, {"name": "fp", "selectors": [selector("b")]}]

    assert problems(twice) == {"fargateProfiles[1].name": "duplicate_name"}


def test_subnets_name_private_subnets_of_an_existing_vpc() -> None:
    spec = spec_of(
        [{"name": "fp", "selectors": [selector()], "subnets": ["inner-b", "subnet-0000000000000000a"]}],
        vpc=EXISTING_VPC,
    )

    (profile,) = profiles_of(fargate_template(spec)).values()
    assert profile["Properties"]["Subnets"] == ["subnet-0000000000000000b", "subnet-0000000000000000a"]


@pytest.mark.parametrize(
    ("subnets", "vpc", "rule"),
    [
        (["subnet-00000000000000001"], EXISTING_VPC, "fargate_public_subnet"),
        (["eu-west-1a"], None, "subnets_need_vpc_id"),
        (["nowhere"], EXISTING_VPC, "unknown_subnet"),
        (["subnet-0000000000000000f"], EXISTING_VPC, "unknown_subnet"),
    ],
)
def test_subnets_that_are_not_the_clusters_private_ones_are_refused(
    subnets: list[str], vpc: dict[str, Any] | None, rule: str
) -> None:
    body = {"vpc": vpc} if vpc else {}

    found = problems([{"name": "fp", "selectors": [selector()], "subnets": subnets}], **body)

    assert found == {"fargateProfiles[0].subnets[0]": rule}


def test_a_network_with_no_private_subnet_has_no_room_for_fargate() -> None:
    public_only = {
        "id": "vpc-0123456789abcdef0",
        "subnets": {
            "public": {
                "eu-west-1a": {"id": "subnet-00000000000000001"},
                "eu-west-1b": {"id": "subnet-00000000000000002"},
            }
        },
    }

    assert problems([{"name": "fp", "selectors": [selector()]}], vpc=public_only) == {
        "fargateProfiles": "fargate_needs_private_subnets"
    }
    assert ClusterSpec.model_validate({"name": "fg", "vpc": public_only}).fargate_profiles is None


def test_a_profile_keeps_within_eks_fifty_tags_with_the_clusters() -> None:
    cluster_tags = {f"c{i}": "v" for i in range(40)}
    own = {f"p{i}": "v" for i in range(5)}

    assert spec_of([{"name": "fp", "selectors": [selector()], "tags": own}], tags=cluster_tags)
    found = problems([{"name": "fp", "selectors": [selector()], "tags": {**own, "p5": "v"}}], tags=cluster_tags)
    assert found == {"fargateProfiles[0].tags": "too_many_tags"}


def test_the_pod_execution_role_boundary_must_be_a_policy_arn() -> None:
    found = problems(TWO, iam={"fargatePodExecutionRolePermissionsBoundary": "arn:aws:iam::123456789012:role/x"})

    assert set(found) == {"iam.fargatePodExecutionRolePermissionsBoundary"}


# -- the ClusterConfig ------------------------------------------------------------------------


def config(**fields: Any) -> bytes:
    document = {"apiVersion": "eksctl.io/v1alpha5", "kind": "ClusterConfig", "metadata": {"name": "fg"}, **fields}
    return yaml.safe_dump(document).encode()


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"iam": {"fargatePodExecutionRoleARN": "arn:aws:iam::1:role/r"}}, "iam.fargatePodExecutionRoleARN"),
        (
            {"fargateProfiles": [{**TWO[0], "podExecutionRoleARN": "arn:aws:iam::1:role/r"}]},
            "fargateProfiles[0].podExecutionRoleARN",
        ),
    ],
)
def test_a_pod_execution_role_of_the_callers_is_refused_with_the_reason(fields: dict[str, Any], path: str) -> None:
    with pytest.raises(SpecValidationError) as refused:
        clusterconfig.parse(config(**fields))

    (field,) = refused.value.details["fields"]
    assert (field["field"], field["rule"]) == (path, "unsupported_field")
    assert "cannot be passed safely" in field["message"]
    assert "fargatePodExecutionRolePermissionsBoundary" in field["message"]


def test_a_profiles_status_is_refused() -> None:
    with pytest.raises(SpecValidationError) as refused:
        clusterconfig.parse(config(fargateProfiles=[{**TWO[0], "status": "ACTIVE"}]))

    (field,) = refused.value.details["fields"]
    assert field["field"] == "fargateProfiles[0].status"
    assert "EKS reports" in field["message"]


def test_the_config_gives_the_profiles_back_and_reads_as_the_same_spec() -> None:
    spec = spec_of(TWO, iam={"fargatePodExecutionRolePermissionsBoundary": "arn:aws:iam::123456789012:policy/edge"})

    exported = clusterconfig.from_spec(spec)

    assert [p["name"] for p in exported["fargateProfiles"]] == ["fp-default", "fp-dev"]
    assert exported["fargateProfiles"][0] == TWO[0]  # nothing unset written out
    assert exported["iam"]["fargatePodExecutionRolePermissionsBoundary"].endswith(":policy/edge")
    assert clusterconfig.parse(yaml.safe_dump(exported).encode()) == spec


# -- the template ------------------------------------------------------------------------------


def test_the_pod_execution_role_is_trusted_by_fargate_pods_of_this_cluster_only() -> None:
    template = fargate_template(spec_of())

    role = template["Resources"]["FargatePodExecutionRole"]["Properties"]
    (statement,) = json.loads(role["AssumeRolePolicyDocument"]["Fn::Sub"])["Statement"]
    assert statement["Principal"] == {"Service": ["eks-fargate-pods.amazonaws.com"]}
    assert statement["Action"] == ["sts:AssumeRole"]
    assert statement["Condition"] == {
        "ArnLike": {"aws:SourceArn": "arn:${AWS::Partition}:eks:${AWS::Region}:${AWS::AccountId}:fargateprofile/fg/*"}
    }
    assert role["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AmazonEKSFargatePodExecutionRolePolicy"}
    ]
    assert "PermissionsBoundary" not in role
    assert "Tags" not in role  # the stack's tags propagate
    assert template["Outputs"]["FargatePodExecutionRoleARN"] == {
        "Value": {"Fn::GetAtt": ["FargatePodExecutionRole", "Arn"]}
    }


def test_the_permissions_boundary_goes_on_the_role() -> None:
    boundary = "arn:aws:iam::123456789012:policy/edge"

    template = fargate_template(spec_of(iam={"fargatePodExecutionRolePermissionsBoundary": boundary}))

    assert template["Resources"]["FargatePodExecutionRole"]["Properties"]["PermissionsBoundary"] == boundary


def test_each_profile_waits_for_the_one_before_it_in_the_clusters_private_subnets() -> None:
    template = fargate_template(spec_of())

    profiles = profiles_of(template)
    assert list(profiles) == ["FargateProfile1", "FargateProfile2"]
    assert "DependsOn" not in profiles["FargateProfile1"]
    assert profiles["FargateProfile2"]["DependsOn"] == "FargateProfile1"
    default, dev = (p["Properties"] for p in profiles.values())
    assert default["FargateProfileName"] == "fp-default"
    assert default["ClusterName"] == {"Fn::ImportValue": "eksctl-fg-cluster::ClusterName"}
    assert default["PodExecutionRoleArn"] == {"Fn::GetAtt": ["FargatePodExecutionRole", "Arn"]}
    assert default["Subnets"] == {"Fn::Split": [",", {"Fn::ImportValue": "eksctl-fg-cluster::SubnetsPrivate"}]}
    assert default["Selectors"] == [{"Namespace": "default"}, {"Namespace": "kube-system"}]
    assert "Tags" not in default
    assert dev["Selectors"] == [
        {"Namespace": "dev", "Labels": [{"Key": "checks", "Value": "passed"}, {"Key": "env", "Value": "dev"}]}
    ]
    assert dev["Tags"] == [{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "web"}]
    assert template["Outputs"]["FargateProfile2ARN"] == {"Value": {"Fn::GetAtt": ["FargateProfile2", "Arn"]}}


def test_a_profile_lists_only_the_tags_its_stack_does_not_give_it() -> None:
    spec = spec_of(
        [{"name": "fp", "selectors": [selector()], "tags": {"team": "web", "env": "dev"}}], tags={"team": "web"}
    )

    (profile,) = profiles_of(fargate_template(spec)).values()

    assert profile["Properties"]["Tags"] == [{"Key": "env", "Value": "dev"}]


def test_names_differing_in_case_or_separator_get_their_own_logical_ids() -> None:
    spec = spec_of([{"name": n, "selectors": [selector()]} for n in ("fp-a", "fp_a", "FP-A")])

    assert [p["Properties"]["FargateProfileName"] for p in profiles_of(fargate_template(spec)).values()] == [
        "fp-a",
        "fp_a",
        "FP-A",
    ]


def test_the_stack_is_named_and_tagged_as_a_fargate_stack() -> None:
    spec = spec_of()
    t = Template("eksctl-fg-fargate", templates.stack_tags(spec, "cid", kinds.FARGATE.name), "d")

    fargate.add_fargate(t, spec)

    assert kinds.FARGATE.stack_name("fg", "") == "eksctl-fg-fargate"
    assert t.stack_tags["ekspress.io/stack-kind"] == "fargate"
    assert len(t.stack_tags) == fargate_spec_stack_own_tags() + len(spec.tags)


def fargate_spec_stack_own_tags() -> int:
    from chalicelib.model.fargate_spec import STACK_OWN_TAGS

    return STACK_OWN_TAGS


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"vpc": EXISTING_VPC, "fargateProfiles": [{**TWO[1], "subnets": ["inner-b"]}, TWO[0]]},
        {
            "tags": {"team": "data"},
            "iam": {"fargatePodExecutionRolePermissionsBoundary": "arn:aws:iam::aws:policy/PowerUserAccess"},
            "fargateProfiles": [{"name": f"fp{i}", "selectors": [selector(f"ns{i}", app="x")]} for i in range(10)],
        },
    ],
)
def test_the_fargate_template_passes_cfn_lint(body: dict[str, Any]) -> None:
    spec = ClusterSpec.model_validate({"name": "fg", "region": REGION, "fargateProfiles": TWO} | body)

    assert cfn_lint(fargate_template(spec), REGION) == []
