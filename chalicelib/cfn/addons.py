"""The add-on resource sets: AWS::EKS::Addon, and the IAM role an add-on's service account gets.

Mirrors eksctl's `pkg/actions/addon`: add-ons whose pods are DaemonSets go with the control plane
(`add_addons_with_control_plane` on the cluster stack); the rest need nodes and go in the add-ons
stack (`eksctl-NAME-addons`), which the create workflow makes once the node group stacks are complete.

An add-on whose pods call AWS (vpc-cni, aws-ebs-csi-driver) gets its role in the same stack as the
add-on, as chalicelib/model/addon_iam_spec.py orders eksctl's choices: EKS Pod Identity roles
(trusting `pods.eks.amazonaws.com`, handed to EKS as the add-on's PodIdentityAssociations), or an IRSA
role (trusting the cluster's OIDC provider for the add-on's service account only, its
ServiceAccountRoleArn) with the policies asked for or the add-on's recommended one. In the add-ons
stack the IRSA role imports the provider's ARN from the cluster stack; in the cluster stack, which
cannot import its own export, it names the provider resource.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.cfn import irsa
from chalicelib.cfn.iam import policy_arn
from chalicelib.cfn.podidentity import add_pod_identity_role, add_role_for
from chalicelib.cfn.template import OUTPUT_CLUSTER_NAME, export_name, get_att, logical_name, tag_list
from chalicelib.cfn.well_known_policies import well_known
from chalicelib.model.addon_iam_spec import ADDON_ACCOUNTS, configuration_json, resolve_conflicts, uses_pod_identity
from chalicelib.model.ipv6_spec import is_ipv6

if TYPE_CHECKING:
    from chalicelib.cfn.template import Template
    from chalicelib.model.addon_iam_spec import AddonsConfigSpec
    from chalicelib.model.spec import AddonSpec, ClusterSpec

# The add-ons whose service accounts get a role, where, and the policy EKS recommends for it (infra reads it).
SERVICE_ACCOUNT_ROLES = ADDON_ACCOUNTS
OUTPUT_ROLE_SUFFIX = "RoleARN"
OUTPUT_ARN_SUFFIX = "ARN"
# The cluster stack's OIDC provider (chalicelib/cfn/control_plane.py add_oidc_provider); Ref gives its ARN.
OIDC_PROVIDER = "OIDCProvider"
CONTROL_PLANE = "ControlPlane"


def add_addons(
    t: Template,
    addons: list[AddonSpec],
    cluster: Any,
    roles: dict[str, Any] | None = None,
    config: AddonsConfigSpec | None = None,
    pod_identities: dict[str, list[dict[str, Any]]] | None = None,
) -> None:
    """Add one AWS::EKS::Addon per add-on; without a version (or `latest`) EKS picks its default.

    `roles` gives an add-on's service account its IRSA role (ServiceAccountRoleArn), `pod_identities`
    its EKS Pod Identity associations, by add-on name.
    """
    for addon in addons:
        properties: dict[str, Any] = {"ClusterName": cluster, "AddonName": addon.name}
        conflicts = resolve_conflicts(addon, config)
        if conflicts:
            properties["ResolveConflicts"] = conflicts
        if addon.version and addon.version != "latest":
            properties["AddonVersion"] = addon.version
        if roles and addon.name in roles:
            properties["ServiceAccountRoleArn"] = roles[addon.name]
        if pod_identities and addon.name in pod_identities:
            properties["PodIdentityAssociations"] = pod_identities[addon.name]
        if addon.configuration_values:
            properties["ConfigurationValues"] = configuration_json(addon.configuration_values)
        own = t.own_tags(addon.tags)
        if own:
            properties["Tags"] = tag_list(own)
        t.new_resource(f"Addon{logical_name(addon.name)}", "AWS::EKS::Addon", properties)


def output_addon_arns(t: Template, addons: list[AddonSpec]) -> None:
    """Output each add-on's ARN (which also keeps the add-ons stack from having no outputs at all)."""
    for addon in addons:
        logical_id = f"Addon{logical_name(addon.name)}"
        t.add_output(f"{logical_id}{OUTPUT_ARN_SUFFIX}", get_att(logical_id, "Arn"))


def ipv6_cni_statements() -> list[dict[str, Any]]:
    """What vpc-cni needs on an IPv6 cluster, as eksctl writes its policy (AmazonEKS_CNI_Policy is IPv4's).

    eksctl gives it this document instead of the managed policy, by IRSA or EKS Pod Identity alike: the
    IPv6 address assignment, the reads of its subnet discovery, and tags on the interfaces it makes.
    """
    reads = [
        "ec2:AssignIpv6Addresses",
        "ec2:DescribeInstances",
        "ec2:DescribeTags",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeInstanceTypes",
        "ec2:DescribeSubnets",
        "ec2:DescribeSecurityGroups",
    ]
    return [
        {"Effect": "Allow", "Action": reads, "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": ["ec2:CreateTags"],
            "Resource": {"Fn::Sub": "arn:${AWS::Partition}:ec2:*:*:network-interface/*"},
        },
    ]


def _recommended(addon: AddonSpec, ipv6: bool) -> tuple[list[Any], list[dict[str, Any]]]:
    """The add-on's recommended permissions: its managed policy, or on an IPv6 cluster vpc-cni's IPv6 document."""
    if ipv6 and addon.name == "vpc-cni":
        return [], ipv6_cni_statements()
    return [policy_arn(ADDON_ACCOUNTS[addon.name].managed_policy)], []


def _irsa_permissions(addon: AddonSpec, cluster: str, ipv6: bool = False) -> tuple[list[Any], list[dict[str, Any]]]:
    """What the add-on's IRSA role holds: what the request asks (one of three), else the recommended policy."""
    if addon.attach_policy_arns:
        return list(addon.attach_policy_arns), []
    if addon.attach_policy:
        return [], list(addon.attach_policy["Statement"])
    if addon.well_known_policies and addon.well_known_policies.any:
        return well_known(addon.well_known_policies, cluster=cluster)
    return _recommended(addon, ipv6)


def _in_stack_trust(namespace: str, service_account: str) -> dict[str, Any]:
    """irsa.trust_policy with the provider of this stack (the cluster stack's), named rather than imported."""
    document, _ = irsa.trust_policy("", namespace, service_account)["Fn::Sub"]
    provider = {"Ref": OIDC_PROVIDER}
    issuer = {"Fn::Select": [1, {"Fn::Split": [":oidc-provider/", provider]}]}
    return {"Fn::Sub": [document, {"ProviderArn": provider, "Issuer": issuer}]}


def add_service_account_role(
    t: Template, cluster: str, addon: AddonSpec, in_cluster_stack: bool = False, ipv6: bool = False
) -> Any:
    """Add the IRSA role of `addon`'s service account; output its ARN and return it."""
    account = ADDON_ACCOUNTS[addon.name]
    managed, statements = _irsa_permissions(addon, cluster, ipv6)
    logical_id = f"{logical_name(addon.name)}Role"
    arn = irsa.add_irsa_role(
        t,
        cluster,
        account.namespace,
        account.service_account,
        logical_id,
        managed_policy_arns=managed,
        statements=statements,
    )
    if in_cluster_stack:
        trust = _in_stack_trust(account.namespace, account.service_account)
        t.resources[logical_id]["Properties"]["AssumeRolePolicyDocument"] = trust
    t.add_output(f"{logical_name(addon.name)}{OUTPUT_ROLE_SUFFIX}", arn)
    return arn


def add_pod_identity_roles(t: Template, cluster: str, addon: AddonSpec, ipv6: bool = False) -> list[dict[str, Any]]:
    """Add the add-on's pod identity roles; return its PodIdentityAssociations.

    The request's associations, else one for the add-on's service account with its recommended policy
    (eksctl's useDefaultPodIdentityAssociations, autoApplyPodIdentityAssociations).
    """
    account = ADDON_ACCOUNTS[addon.name]
    associations: list[dict[str, Any]] = []
    # Short logical IDs: CloudFormation names each role after its stack and logical ID, within IAM's 64 characters.
    prefix = f"{logical_name(addon.name)}PodIdentityRole"
    for n, association in enumerate(addon.pod_identity_associations or []):
        arn = add_role_for(t, f"{prefix}{n + 1}", association, cluster)
        associations.append({"ServiceAccount": association.service_account_name, "RoleArn": arn})
    if not associations:
        managed, statements = _recommended(addon, ipv6)
        arn = add_pod_identity_role(t, f"{prefix}1", managed_policy_arns=managed, statements=statements or None)
        associations.append({"ServiceAccount": account.service_account, "RoleArn": arn})
    for made in associations:
        role_arn = made["RoleArn"]
        t.add_output(f"{role_arn['Fn::GetAtt'][0]}{OUTPUT_ARN_SUFFIX}", role_arn)
    return associations


def _add_with_iam(
    t: Template, spec: ClusterSpec, addons: list[AddonSpec], cluster: Any, in_cluster_stack: bool
) -> None:
    """The add-ons with their roles: pod identity, else IRSA when the cluster has its OIDC provider, else none.

    Without OIDC an IRSA role has nothing to trust: requests asking for one are refused
    (addon_iam_spec, spec.addon_problems), so only vpc-cni (whose pods then use the node role's
    AmazonEKS_CNI_Policy, as eksctl) or a spec recorded before those rules is built without its role.
    """
    with_oidc = bool(spec.iam and spec.iam.with_oidc)
    ipv6 = is_ipv6(spec)
    roles: dict[str, Any] = {}
    pod_identities: dict[str, list[dict[str, Any]]] = {}
    for addon in addons:
        if addon.name not in ADDON_ACCOUNTS:
            continue
        if uses_pod_identity(addon, spec.addons_config):
            pod_identities[addon.name] = add_pod_identity_roles(t, spec.name, addon, ipv6)
        elif with_oidc:
            roles[addon.name] = add_service_account_role(t, spec.name, addon, in_cluster_stack, ipv6)
    add_addons(t, addons, cluster, roles, spec.addons_config, pod_identities)


def add_addons_with_control_plane(t: Template, spec: ClusterSpec, cluster: Any) -> None:
    """The cluster stack's add-ons (those EKS can make ACTIVE with no node), with their roles.

    With `addonsConfig.disableDefaultAddons` the cluster is made without EKS's self-managed vpc-cni,
    kube-proxy and coredns (BootstrapSelfManagedAddons: false), as eksctl makes it: only the add-ons
    listed run.
    """
    if spec.addons_config and spec.addons_config.disable_default_addons and CONTROL_PLANE in t.resources:
        t.resources[CONTROL_PLANE]["Properties"]["BootstrapSelfManagedAddons"] = False
    _add_with_iam(t, spec, [a for a in spec.addons if not a.needs_nodes], cluster, in_cluster_stack=True)


def add_addons_after_nodes(t: Template, spec: ClusterSpec, addons: list[AddonSpec]) -> None:
    """The add-ons stack's resources: each add-on that needs nodes, with its role when it has one."""
    # Imported rather than named: CloudFormation then refuses to delete the cluster stack under it.
    _add_with_iam(t, spec, addons, {"Fn::ImportValue": export_name(spec.name, OUTPUT_CLUSTER_NAME)}, False)
    output_addon_arns(t, addons)
