"""The stack role holds what CloudFormation's resource handlers need for our templates: no less, no more.

The CloudFormation registry schema of a resource type lists the IAM actions its create, read, update
and delete handlers need (cfn-lint ships the schemas: `providers/<region>.json` names each type's
`resources/<hash>.json`). Every template builder in chalicelib/cfn (any `build_*_template`, so a new
stack kind is covered as soon as it exists) is called with every option on; the resource types they
contain give the actions CloudFormationRole must hold (infra/policies.py `stack_role_document`),
less those `UNUSED_HANDLER_ACTIONS` explains for properties no template sets.
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import json
import pkgutil
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cfnlint.data.schemas

import chalicelib.cfn
from chalicelib.cfn import iam as cfn_iam
from chalicelib.cfn import templates
from chalicelib.model.spec import ADDON_NAMES, ClusterSpec
from infra import policies

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import pytest

SCHEMAS = Path(cfnlint.data.schemas.__file__).parent
# Handlers as CloudFormation runs them for a stack: list handlers serve discovery, not stacks.
HANDLERS = ("create", "read", "update", "delete")
REGION = "us-east-1"
CLUSTER = "maximal"
ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]
SERVICE_ROLES = (
    "arn:aws:iam::123456789012:role/ekspress-dev-ApiHandlerRole-AAAA",
    "arn:aws:iam::123456789012:role/ekspress-dev-UpdateAwsAuthRole-BBBB",
)
ACCOUNT = "123456789012"

_NODEGROUPS = [
    {
        "name": "templated",
        "instanceTypes": ["m5.large", "m5a.large"],
        "volumeType": "gp3",
        "volumeSize": 100,
        "maxPodsPerNode": 58,
        "labels": {"role": "general"},
        "tags": {"purpose": "general"},
        "updateConfig": {"maxUnavailable": 1},
    },
    {
        "name": "bottlerocket",
        "instanceType": "m6g.large",
        "amiFamily": "Bottlerocket",
        "spot": True,
        "privateNetworking": True,
        "availabilityZones": ZONES[:2],
        "taints": [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}],
        "volumeType": "gp2",
        "updateConfig": {"maxUnavailablePercentage": 25},
    },
    {"name": "plain", "minSize": 0, "maxSize": 5, "desiredCapacity": 1},
    # A custom image with attached groups and role policies; the caller's own launch template.
    {
        "name": "custom",
        "amiFamily": "AmazonLinux2023",
        "ami": "ami-0123456789abcdef0",
        "preBootstrapCommands": ["echo hello"],
        "securityGroups": {"attachIDs": ["sg-0123456789abcdef0"]},
        "iam": {"withAddonPolicies": {"externalDNS": True, "certManager": True}},
    },
    {"name": "own-template", "launchTemplate": {"id": "lt-0123456789abcdef0", "version": "1"}},
]
_AMI = "ami-0123456789abcdef0"
# Self-managed groups (nodeGroups), every option on between them: every add-on policy, both security groups.
_SELF_MANAGED: list[dict[str, Any]] = [
    {
        "name": "selfmanaged",
        "imageId": _AMI,
        "labels": {"role": "self"},
        "taints": [{"key": "dedicated", "value": "self", "effect": "NoSchedule"}],
        "maxPodsPerNode": 58,
        "kubeletExtraConfig": {"kubeReserved": {"cpu": "100m"}},
        "preBootstrapCommands": ["echo hello"],
        "ssh": {"allow": True, "publicKey": (Path(__file__).parents[1] / "data" / "ssh" / "id_rsa.pub").read_text()},
        "volumeType": "io2",
        "volumeIOPS": 4000,
        "volumeEncrypted": True,
        "volumeKmsKeyID": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000",
        "securityGroups": {"attachIDs": ["sg-0123456789abcdef0"]},
        "iam": {
            "withAddonPolicies": {
                "autoScaler": True,
                "ebs": True,
                "efs": True,
                "awsLoadBalancerController": True,
                "cloudWatch": True,
                "externalDNS": True,
                "certManager": True,
                "imageBuilder": True,
                "xRay": True,
                "fsx": True,
            }
        },
        "propagateASGTags": True,
        "asgMetricsCollection": [{"granularity": "1Minute"}],
        "maxInstanceLifetime": 604800,
        "enableDetailedMonitoring": True,
        "ebsOptimized": True,
        "cpuCredits": "unlimited",
        "disablePodIMDS": True,
        "targetGroupARNs": [f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/web/0123456789abcdef"],
        "classicLoadBalancerNames": ["web-classic"],
        "asgSuspendProcesses": ["AZRebalance", "ScheduledActions"],
    },
    {
        "name": "mixed",
        "imageId": _AMI,
        "amiFamily": "Bottlerocket",
        "privateNetworking": True,
        "availabilityZones": ZONES[:2],
        "instancesDistribution": {
            "instanceTypes": ["m5.large", "m5a.large"],
            "maxPrice": 0.05,
            "onDemandBaseCapacity": 1,
            "onDemandPercentageAboveBaseCapacity": 25,
            "spotAllocationStrategy": "price-capacity-optimized",
            "capacityRebalance": True,
        },
        "securityGroups": {"withLocal": False, "withShared": True},
        "bottlerocket": {"enableAdminContainer": True, "settings": {"motd": "hello"}},
    },
]
_ACCESS = {
    "authenticationMode": "API_AND_CONFIG_MAP",
    "bootstrapClusterCreatorAdminPermissions": True,
    "accessEntries": [
        {
            "principalARN": f"arn:aws:iam::{ACCOUNT}:role/admins",
            "kubernetesGroups": ["ops"],
            "kubernetesUsername": "admin",
            "accessPolicies": [
                {
                    "policyARN": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy",
                    "accessScope": {"type": "namespace", "namespaces": ["default"]},
                },
                {
                    "policyARN": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
                    "accessScope": {"type": "cluster"},
                },
            ],
        }
    ],
}
# Every option on, in each NAT mode; the last without OIDC, so without the add-ons that need it.
MAXIMAL: list[dict[str, Any]] = [
    {
        "name": CLUSTER,
        "region": REGION,
        "availabilityZones": ZONES,
        "tags": {"team": "platform"},
        "vpc": {
            "cidr": "10.10.0.0/16",
            "nat": {"gateway": nat},
            "clusterEndpoints": {"publicAccess": True, "privateAccess": True},
            "publicAccessCIDRs": ["0.0.0.0/0"],
        },
        "cloudWatch": {"clusterLogging": {"enableTypes": ["*"], "logRetentionInDays": 30}},
        "kubernetesNetworkConfig": {"serviceIPv4CIDR": "172.20.0.0/16"},
        "remoteNetworkConfig": {"remoteNodeNetworks": [{"cidrs": ["10.80.0.0/24"]}]},
        "iam": {
            "withOIDC": True,
            "serviceRolePermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/boundary",
            "fargatePodExecutionRolePermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/boundary",
            "serviceAccounts": [
                {
                    "metadata": {"name": "reader", "namespace": "apps"},
                    "attachPolicyARNs": ["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"],
                    "attachPolicy": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": "*"}],
                    },
                    "wellKnownPolicies": {"autoScaler": True, "ebsCSIController": True},
                    "permissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/boundary",
                    "roleName": "eksctl-reader-role",
                }
            ],
            "podIdentityAssociations": [
                {
                    "namespace": "apps",
                    "serviceAccountName": "cache",
                    "roleName": "eksctl-cache-role",
                    "permissionPolicyARNs": ["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"],
                    "permissionPolicy": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": "*"}],
                    },
                    "wellKnownPolicies": {"certManager": True},
                    "permissionsBoundaryARN": f"arn:aws:iam::{ACCOUNT}:policy/boundary",
                    "tags": {"app": "cache"},
                }
            ],
        },
        "fargateProfiles": [
            {"name": "fp-default", "selectors": [{"namespace": "default"}, {"namespace": "kube-system"}]},
            {"name": "fp-dev", "selectors": [{"namespace": "dev", "labels": {"env": "dev"}}], "tags": {"env": "dev"}},
        ],
        "secretsEncryption": {"keyARN": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000"},
        "zonalShiftConfig": {"enabled": True},
        "upgradePolicy": {"supportType": "STANDARD"},
        "controlPlaneScalingConfig": {"tier": "tier-xl"},
        "identityProviders": [
            {
                "type": "oidc",
                "name": "corp",
                "issuerURL": "https://idp.example.com",
                "clientID": "eks",
                "groupsClaim": "groups",
                "groupsPrefix": "oidc:",
                "requiredClaims": {"hd": "example.com"},
                "tags": {"idp": "corp"},
            }
        ],
        "addons": [{"name": name} for name in ADDON_NAMES],
        "accessConfig": _ACCESS,
        "managedNodeGroups": _NODEGROUPS,
        "nodeGroups": _SELF_MANAGED,
    }
    for nat in ("HighlyAvailable", "Single")
] + [
    {
        "name": CLUSTER,
        "region": REGION,
        "availabilityZones": ZONES[:2],
        "vpc": {"nat": {"gateway": "Disable"}},
        "addons": [{"name": "vpc-cni", "version": "latest"}, {"name": "coredns"}],
        "managedNodeGroups": [{"name": "plain"}],
    },
    # Add-ons whose service accounts get their roles through EKS Pod Identity.
    {
        "name": CLUSTER,
        "region": REGION,
        "availabilityZones": ZONES[:2],
        "addons": [
            {"name": "vpc-cni", "useDefaultPodIdentityAssociations": True},
            {"name": "aws-ebs-csi-driver", "useDefaultPodIdentityAssociations": True},
            {"name": "eks-pod-identity-agent"},
        ],
        "managedNodeGroups": [{"name": "plain"}],
    },
    # IPv6: the cluster's own (an Amazon-provided block, the subnets' /64s, an egress-only internet gateway,
    # vpc-cni's IPv6 policy), and an IPv4 cluster's auto-allocated blocks (AWS::EC2::SubnetCidrBlock).
    {
        "name": CLUSTER,
        "region": REGION,
        "availabilityZones": ZONES,
        "kubernetesNetworkConfig": {"ipFamily": "IPv6"},
        "iam": {"withOIDC": True},
        "vpc": {"hostnameType": "resource-name"},
        "addons": [{"name": "vpc-cni"}, {"name": "coredns"}, {"name": "kube-proxy"}],
        "managedNodeGroups": [{"name": "plain"}],
    },
    {
        "name": CLUSTER,
        "region": REGION,
        "availabilityZones": ZONES[:2],
        "vpc": {"autoAllocateIPv6": True, "nat": {"gateway": "HighlyAvailable"}},
        "managedNodeGroups": [{"name": "plain"}],
    },
    # A fully private cluster: private subnets only and its VPC endpoints, interface and gateway.
    {
        "name": CLUSTER,
        "region": REGION,
        "availabilityZones": ZONES,
        "privateCluster": {"enabled": True, "additionalEndpointServices": ["autoscaling", "cloudformation", "logs"]},
        "cloudWatch": {"clusterLogging": {"enableTypes": ["api"]}},
        "managedNodeGroups": [{"name": "plain", "privateNetworking": True}],
        "nodeGroups": [{"name": "self", "imageId": _AMI, "privateNetworking": True}],
    },
    # An existing VPC whose own security group the self-managed nodes share (vpc.sharedNodeSecurityGroup): the
    # cluster stack only adds its rules with EKS's cluster security group.
    {
        "name": CLUSTER,
        "region": REGION,
        "vpc": {
            "id": "vpc-0a1b2c3d4e5f60718",
            "subnets": {
                "private": {
                    ZONES[0]: {"id": "subnet-00000000000000001"},
                    ZONES[1]: {"id": "subnet-00000000000000002"},
                }
            },
            "sharedNodeSecurityGroup": "sg-0fedcba9876543210",
        },
        "managedNodeGroups": [],
        "nodeGroups": [{"name": "self", "imageId": _AMI, "privateNetworking": True}],
    },
    # EKS Auto Mode (no node groups with it): its cluster properties and the node role the stack makes.
    {
        "name": CLUSTER,
        "region": REGION,
        "availabilityZones": ZONES[:2],
        "autoModeConfig": {"enabled": True},
        "iam": {"withOIDC": True},
        "addons": [{"name": "aws-ebs-csi-driver"}, {"name": "eks-pod-identity-agent"}],
    },
]


def builders() -> list[Callable[..., Any]]:
    """Every `build_*_template` function defined in a module of chalicelib/cfn."""
    found = []
    for module_info in pkgutil.iter_modules(chalicelib.cfn.__path__):
        module = importlib.import_module(f"chalicelib.cfn.{module_info.name}")
        for name, value in vars(module).items():
            is_builder = re.fullmatch(r"build_\w+_template", name) and inspect.isfunction(value)
            if is_builder and value.__module__ == module.__name__:
                found.append(value)
    return found


def calls(builder: Callable[..., Any], spec: ClusterSpec) -> Iterator[tuple[str, dict[str, Any]]]:
    """(member, keyword arguments) of each call `builder` takes for `spec`: one per member for a per-member builder."""
    shared = {"spec": spec, "cluster_id": "cid", "zones": ZONES, "service_roles": SERVICE_ROLES}
    if {"kind", "member"} <= set(inspect.signature(builder).parameters):
        # The workload stacks' builder: one call per stack the spec has (templates.workload_stacks).
        for item in templates.workload_stacks(spec):
            yield f"{item['kind']}:{item['member']}", {"spec": spec, "cluster_id": "cid", **item}
        return
    # Builders of one stack per member take the member (annotations are strings: `from __future__`).
    members = {"NodegroupSpec": spec.nodegroups, "NodeGroupBase": spec.nodegroups, "AddonSpec": spec.addons}
    fixed: dict[str, Any] = {}
    per_member: tuple[str, list[Any]] | None = None
    for name, parameter in inspect.signature(builder).parameters.items():
        annotation = str(parameter.annotation)
        if name in shared:
            fixed[name] = shared[name]
        elif annotation in members:
            per_member = (name, members[annotation])
        elif parameter.default is inspect.Parameter.empty:
            raise AssertionError(
                f"{builder.__module__}.{builder.__name__} takes {name}: {annotation}, which "
                "tests/unit/test_stack_role_permissions.py does not know how to fill: teach `calls`"
            )
    if per_member is None:
        yield "", fixed
        return
    name, values = per_member
    for value in values:
        yield str(getattr(value, "name", value)), {**fixed, name: value}


Built = tuple[str, str, str]  # builder, member, logical id


@cache
def built() -> dict[Built, list[dict[str, Any]]]:
    """Every resource of every template the builders make for the maximal specs, by where it comes from."""
    found: dict[Built, list[dict[str, Any]]] = {}
    for body in MAXIMAL:
        spec = ClusterSpec.model_validate(body)
        for builder in builders():
            for member, kwargs in calls(builder, spec):
                template = builder(**kwargs)
                if template is None:  # a stack this spec does not need
                    continue
                for logical_id, resource in template["Resources"].items():
                    found.setdefault((builder.__name__, member, logical_id), []).append(resource)
    return found


def resources() -> Iterator[dict[str, Any]]:
    for versions in built().values():
        yield from versions


def resource_types() -> set[str]:
    return {resource["Type"] for resource in resources()}


@cache
def handler_permissions(resource_type: str) -> dict[str, frozenset[str]]:
    """The actions each handler of `resource_type` needs, as the registry schema lists them."""
    providers = json.loads((SCHEMAS / "providers" / f"{REGION}.json").read_text())
    assert resource_type in providers, f"no registry schema for {resource_type} in {REGION}"
    schema = json.loads((SCHEMAS / "resources" / f"{providers[resource_type]}.json").read_text())
    handlers = schema.get("handlers") or {}
    return {h: frozenset(handlers.get(h, {}).get("permissions", [])) for h in HANDLERS}


def exclusion_holds(unused: policies.Unused) -> bool:
    """Whether no template sets (or changes) the properties that would make `unused.actions` needed."""
    for (_, _, _), versions in built().items():
        mine = [r for r in versions if r["Type"] == unused.resource_type]
        if any(prop in r.get("Properties", {}) for r in mine for prop in unused.unless_set):
            return False
        for prop in unused.unless_changed:
            values = {json.dumps(r.get("Properties", {}).get(prop), sort_keys=True) for r in mine}
            if len(values) > 1:
                return False
    return True


def needed() -> dict[str, dict[str, set[str]]]:
    """resource type -> action -> the handlers that need it, less what UNUSED_HANDLER_ACTIONS excludes."""
    excluded: dict[str, set[str]] = {}
    for unused in policies.UNUSED_HANDLER_ACTIONS:
        if exclusion_holds(unused):
            excluded.setdefault(unused.resource_type, set()).update(unused.actions)
    result: dict[str, dict[str, set[str]]] = {}
    for resource_type in sorted(resource_types()):
        for handler, actions in handler_permissions(resource_type).items():
            for action in actions - excluded.get(resource_type, set()):
                result.setdefault(resource_type, {}).setdefault(action, set()).add(handler)
    return result


def statements(document: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return list((document or policies.stack_role_document())["Statement"])


def actions_of(statement: dict[str, Any]) -> list[str]:
    listed = statement["Action"]
    return [listed] if isinstance(listed, str) else list(listed)


def held() -> set[str]:
    return {action for statement in statements() for action in actions_of(statement)}


def covers(pattern: str, action: str) -> bool:
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


# --- the tests ------------------------------------------------------------------------------------


def test_every_builder_is_called_and_the_templates_hold_what_the_stacks_need() -> None:
    names = {builder.__name__ for builder in builders()}
    assert {"build_cluster_template", "build_nodegroup_template"} <= names
    types = resource_types()
    # The maximal specs reach what the role is there for; a builder that stopped being called would show here.
    assert {"AWS::EKS::Cluster", "AWS::EKS::Nodegroup", "AWS::IAM::Role", "AWS::IAM::OIDCProvider"} <= types
    assert {"AWS::EKS::Addon", "AWS::EKS::AccessEntry", "AWS::EC2::LaunchTemplate", "AWS::EC2::NatGateway"} <= types


def test_the_stack_role_holds_every_action_the_handlers_need() -> None:
    have = held()
    missing = sorted(
        f"{resource_type}: {action} ({', '.join(sorted(handlers))} handler)"
        for resource_type, actions in needed().items()
        for action, handlers in actions.items()
        if not any(covers(pattern, action) for pattern in have)
    )
    assert missing == [], "the stack role (infra/policies.py stack_role_document) lacks:\n" + "\n".join(missing)


def test_the_stack_role_holds_nothing_a_handler_does_not_need() -> None:
    wanted = {action.lower() for actions in needed().values() for action in actions}
    extra = {action.lower() for action in policies.NOT_HANDLER_ACTIONS}
    unneeded = sorted(action for action in held() if action.lower() not in wanted | extra)
    assert unneeded == [], "no handler of any resource type our templates hold needs:\n" + "\n".join(unneeded)
    # Every action literal, but for a read wildcard a handler's registry schema lists as it is
    # (the Auto Scaling group's `ec2:Describe*`): any other wildcard grants actions no handler was checked for.
    listed = {action for actions in needed().values() for action in actions if "*" in action}
    wildcards = sorted(action for action in held() if "*" in action or "?" in action)
    assert [w for w in wildcards if w not in listed or not re.search(r":(Describe|Get|List)\*$", w)] == []


def test_every_exclusion_names_actions_its_handlers_list() -> None:
    """An exclusion for a type no template holds, or of an action its handlers do not list, is stale."""
    types = resource_types()
    stale = []
    for unused in policies.UNUSED_HANDLER_ACTIONS:
        if unused.resource_type not in types:
            stale.append(f"{unused.resource_type} is in no template")
            continue
        listed = set().union(*handler_permissions(unused.resource_type).values())
        stale += [f"{unused.resource_type}: {a} is not a handler's" for a in unused.actions if a not in listed]
    assert stale == []


def test_an_exclusion_lapses_when_a_template_sets_its_property(monkeypatch: pytest.MonkeyPatch) -> None:
    """Were a template to give a role a maximum session duration, the role would need iam:UpdateRole, and hold it
    not."""
    original = built()
    role = next(key for key, versions in original.items() if versions[0]["Type"] == "AWS::IAM::Role")
    changed = dict(original)
    changed[role] = [{**r, "Properties": {**r["Properties"], "MaxSessionDuration": 7200}} for r in original[role]]
    monkeypatch.setattr(f"{__name__}.built", lambda: changed)

    assert "iam:UpdateRole" in needed()["AWS::IAM::Role"]
    assert "iam:UpdateRole" not in held()


def test_inline_policies_are_written_only_into_roles_the_stacks_make() -> None:
    """Self-managed node roles hold inline add-on policies: iam:PutRolePolicy on `eksctl-*` roles, nothing wider."""
    assert any(r["Properties"].get("Policies") for r in resources() if r["Type"] == "AWS::IAM::Role")
    writers = [s for s in statements() if "iam:PutRolePolicy" in actions_of(s)]
    assert [(sorted(actions_of(s)), s["Resource"]) for s in writers] == [
        (["iam:DeleteRolePolicy", "iam:PutRolePolicy"], policies.ROLES)
    ]


# --- conditions: which policies, which services --------------------------------------------------


def _role_references(value: Any, roles: set[str]) -> bool:
    """Whether `value` is (or holds) the ARN of one of `roles` or an imported role ARN."""
    if isinstance(value, dict):
        att = value.get("Fn::GetAtt")
        if isinstance(att, list) and att[0] in roles and att[1] == "Arn":
            return True
        if value.get("Ref") in roles:  # an instance profile holds its role by name
            return True
        imported = value.get("Fn::ImportValue")
        if isinstance(imported, str) and imported.endswith("RoleARN"):
            return True
        return any(_role_references(v, roles) for v in value.values())
    if isinstance(value, list):
        return any(_role_references(v, roles) for v in value)
    return False


def test_every_role_a_template_passes_goes_to_a_service_the_stack_role_may_pass_it_to() -> None:
    """A resource given a role makes CloudFormation pass it: ROLE_RECEIVERS must say to whom."""
    passed: set[tuple[str, str]] = set()
    for body in MAXIMAL:
        spec = ClusterSpec.model_validate(body)
        for builder in builders():
            for _, kwargs in calls(builder, spec):
                template = builder(**kwargs)
                if template is None:
                    continue
                roles = {k for k, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
                for resource in template["Resources"].values():
                    for prop, value in resource.get("Properties", {}).items():
                        if resource["Type"] != "AWS::IAM::Role" and _role_references(value, roles):
                            passed.add((resource["Type"], prop))
    assert passed, "no template passes a role: the maximal specs lost their node groups?"
    passed -= set(policies.ROLE_REFERENCES_NOT_PASSED)
    unknown = sorted(f"{t}.{p}" for t, p in passed - set(policies.ROLE_RECEIVERS))
    assert unknown == [], "add these to infra/policies.py ROLE_RECEIVERS, with the service each goes to"
    (pass_role,) = [s for s in statements() if "iam:PassRole" in actions_of(s)]
    assert pass_role["Condition"] == {
        "StringEquals": {"iam:PassedToService": sorted({policies.ROLE_RECEIVERS[p] for p in passed})}
    }
    assert pass_role["Resource"] == policies.ROLES


def test_roles_may_hold_only_the_managed_policies_the_templates_attach_and_the_stage_allows() -> None:
    attached = [
        arn
        for resource in resources()
        if resource["Type"] == "AWS::IAM::Role"
        for arn in resource["Properties"].get("ManagedPolicyArns", [])
    ]
    allowed = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    document = statements(policies.stack_role_document((allowed,)))
    (attach,) = [s for s in document if "iam:AttachRolePolicy" in actions_of(s)]
    assert sorted(actions_of(attach)) == ["iam:AttachRolePolicy", "iam:DetachRolePolicy"]
    condition = attach["Condition"]["ArnLike"]["iam:PolicyARN"]
    strange = [arn for arn in attached if arn not in condition]
    assert strange == [], "templates attach policies the stack role may not: add them to template_policy_names()"
    # Only those: the templates' own (every one of which some template attaches) and the stage's.
    assert condition == [*[cfn_iam.policy_arn(n) for n in policies.template_policy_names()], allowed]
    assert all(arn in attached for arn in condition[:-1])
    # Nothing else may attach or detach a policy, or change a role's trust; inline policies only on eksctl-* roles.
    reads = ("iam:GetRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies")
    inline = ("iam:PutRolePolicy", "iam:DeleteRolePolicy")
    others = [
        a
        for s in document
        if s is not attach and not (set(actions_of(s)) <= set(inline) and s["Resource"] == policies.ROLES)
        for a in actions_of(s)
        if "Role" in a and "Polic" in a
    ]
    assert [a for a in others if a not in reads] == []
