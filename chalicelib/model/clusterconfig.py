"""eksctl's `ClusterConfig` (eksctl.io/v1alpha5): read it into our spec, write our spec back out.

Every field path of a ClusterConfig is either supported (listed in `SUPPORTED`,
mapped onto `ClusterSpec` and from there into the templates) or refused: a file
with unsupported fields gets one 422 listing each of them, never a silent drop.
YAML is read safely: no tags, no anchors, aliases or merge keys, no key twice in a
mapping, bounded size and depth.
"""

from __future__ import annotations

import re
from typing import Any

from chalicelib.model.errors import BadRequestError, SpecValidationError
from chalicelib.model.refusals import AMI_FAMILY_REASONS, REASONS
from chalicelib.model.spec import ClusterSpec
from chalicelib.model.validation import describe_errors

API_VERSION = "eksctl.io/v1alpha5"
KIND = "ClusterConfig"
MAX_YAML_BYTES = 128 * 1024
MAX_DEPTH = 12
MERGE_TAG = "tag:yaml.org,2002:merge"

LEAF = "leaf"  # a value the spec model validates as a whole (scalar, list of scalars, free map)
# Managed node group fields eksctl's schema has no self-managed counterpart for.
_MANAGED_ONLY = ("instanceTypes", "spot", "updateConfig", "releaseVersion", "nodeRepairConfig", "launchTemplate")
_NODEGROUP = {
    "name": LEAF,
    "instanceType": LEAF,
    "instanceTypes": LEAF,
    "spot": LEAF,
    "amiFamily": LEAF,
    "desiredCapacity": LEAF,
    "minSize": LEAF,
    "maxSize": LEAF,
    "volumeSize": LEAF,
    "labels": LEAF,
    "taints": [{"key": LEAF, "value": LEAF, "effect": LEAF}],
    "tags": LEAF,
    "privateNetworking": LEAF,
    "updateConfig": {"maxUnavailable": LEAF, "maxUnavailablePercentage": LEAF},
    "availabilityZones": LEAF,
    "volumeType": LEAF,
    "maxPodsPerNode": LEAF,
    "volumeIOPS": LEAF,
    "volumeThroughput": LEAF,
    "enableDetailedMonitoring": LEAF,
    "releaseVersion": LEAF,
    "ssh": {
        "allow": LEAF,
        "publicKeyName": LEAF,
        "publicKey": LEAF,
        "sourceSecurityGroupIds": LEAF,
        "enableSsm": LEAF,
    },
    "nodeRepairConfig": {
        "enabled": LEAF,
        "maxUnhealthyNodeThresholdPercentage": LEAF,
        "maxUnhealthyNodeThresholdCount": LEAF,
        "maxParallelNodesRepairedPercentage": LEAF,
        "maxParallelNodesRepairedCount": LEAF,
        "nodeRepairConfigOverrides": [
            {
                "nodeMonitoringCondition": LEAF,
                "nodeUnhealthyReason": LEAF,
                "minRepairWaitTimeMins": LEAF,
                "repairAction": LEAF,
            }
        ],
    },
    # Managed groups: no withShared or withLocal (eksctl refuses them there).
    "securityGroups": {"attachIDs": LEAF},
    "iam": {
        "attachPolicyARNs": LEAF,
        "attachPolicy": LEAF,
        "withAddonPolicies": LEAF,
        "instanceRolePermissionsBoundary": LEAF,
    },
    "ami": LEAF,
    "preBootstrapCommands": LEAF,
    "overrideBootstrapCommand": LEAF,
    "launchTemplate": {"id": LEAF, "version": LEAF},
    "instanceSelector": {
        "vCPUs": LEAF,
        "memory": LEAF,
        "gpus": LEAF,
        "neuron_devices": LEAF,
        "cpuArchitecture": LEAF,
        "allow": LEAF,
        "deny": LEAF,
    },
    # Bottlerocket settings: a free map the spec model checks (TOML values, no keys the service writes).
    "bottlerocket": {"enableAdminContainer": LEAF, "settings": LEAF},
}
# Self-managed groups (`nodeGroups[]`) share the managed fields they have in eksctl's schema.
_SELF_MANAGED_NODEGROUP = {
    **{k: v for k, v in _NODEGROUP.items() if k not in _MANAGED_ONLY},
    "instancesDistribution": {
        "instanceTypes": LEAF,
        "maxPrice": LEAF,
        "onDemandBaseCapacity": LEAF,
        "onDemandPercentageAboveBaseCapacity": LEAF,
        "spotInstancePools": LEAF,
        "spotAllocationStrategy": LEAF,
        "capacityRebalance": LEAF,
    },
    "volumeEncrypted": LEAF,
    "volumeKmsKeyID": LEAF,
    "subnets": LEAF,
    "securityGroups": {"attachIDs": LEAF, "withShared": LEAF, "withLocal": LEAF},
    "iam": {
        "attachPolicyARNs": LEAF,
        "attachPolicy": LEAF,
        "withAddonPolicies": LEAF,
        "instanceRolePermissionsBoundary": LEAF,
    },
    "ami": LEAF,
    "preBootstrapCommands": LEAF,
    "overrideBootstrapCommand": LEAF,
    "kubeletExtraConfig": LEAF,
    "asgMetricsCollection": LEAF,
    "disableIMDSv1": LEAF,
    "disablePodIMDS": LEAF,
    "propagateASGTags": LEAF,
    "maxInstanceLifetime": LEAF,
    "ebsOptimized": LEAF,
    "cpuCredits": LEAF,
    "instanceName": LEAF,
    "targetGroupARNs": LEAF,
    "classicLoadBalancerNames": LEAF,
    "asgSuspendProcesses": LEAF,
    "containerRuntime": LEAF,
}
# The role of a pod identity association (`iam.podIdentityAssociations[]`, `addons[].podIdentityAssociations[]`).
_POD_IDENTITY_ROLE = {
    "roleName": LEAF,
    "permissionPolicyARNs": LEAF,
    "permissionPolicy": LEAF,
    "wellKnownPolicies": LEAF,
    "permissionsBoundaryARN": LEAF,
    "tags": LEAF,
}
SUPPORTED: dict[str, Any] = {
    "apiVersion": LEAF,
    "kind": LEAF,
    "metadata": {"name": LEAF, "region": LEAF, "version": LEAF, "tags": LEAF},
    "vpc": {
        "id": LEAF,
        # Keyed by names the caller chooses: the spec model checks each subnet's fields.
        "subnets": LEAF,
        "controlPlaneSubnetIDs": LEAF,
        "cidr": LEAF,
        "nat": {"gateway": LEAF},
        "clusterEndpoints": {"publicAccess": LEAF, "privateAccess": LEAF},
        "publicAccessCIDRs": LEAF,
        "hostnameType": LEAF,
        "autoAllocateIPv6": LEAF,
        "controlPlaneOnPrivateSubnets": LEAF,
        "controlPlaneSecurityGroupIDs": LEAF,
        "securityGroup": LEAF,
        "sharedNodeSecurityGroup": LEAF,
        "manageSharedNodeSecurityGroupRules": LEAF,
    },
    "availabilityZones": LEAF,
    "managedNodeGroups": [_NODEGROUP],
    "nodeGroups": [_SELF_MANAGED_NODEGROUP],
    "iamIdentityMappings": [
        {
            "arn": LEAF,
            "username": LEAF,
            "groups": LEAF,
            "noDuplicateARNs": LEAF,
            "account": LEAF,
            "serviceName": LEAF,
            "namespace": LEAF,
        }
    ],
    "cloudWatch": {"clusterLogging": {"enableTypes": LEAF, "logRetentionInDays": LEAF}},
    "kubernetesNetworkConfig": {"serviceIPv4CIDR": LEAF, "ipFamily": LEAF},
    "privateCluster": {"enabled": LEAF, "skipEndpointCreation": LEAF, "additionalEndpointServices": LEAF},
    "remoteNetworkConfig": {
        "iam": {"provider": LEAF},
        "remoteNodeNetworks": [{"cidrs": LEAF}],
        "remotePodNetworks": [{"cidrs": LEAF}],
    },
    "iam": {
        "withOIDC": LEAF,
        "podIdentityAssociations": [
            {"namespace": LEAF, "serviceAccountName": LEAF, "createServiceAccount": LEAF, "disableSessionTags": LEAF}
            | _POD_IDENTITY_ROLE
        ],
        "serviceAccounts": LEAF,
        "fargatePodExecutionRolePermissionsBoundary": LEAF,
        "serviceRolePermissionsBoundary": LEAF,
    },
    "addons": [
        {
            "name": LEAF,
            "version": LEAF,
            "attachPolicyARNs": LEAF,
            "attachPolicy": LEAF,
            "wellKnownPolicies": LEAF,
            "podIdentityAssociations": [{"serviceAccountName": LEAF, "namespace": LEAF} | _POD_IDENTITY_ROLE],
            "useDefaultPodIdentityAssociations": LEAF,
            "configurationValues": LEAF,
            "resolveConflicts": LEAF,
            "tags": LEAF,
        }
    ],
    "addonsConfig": {"autoApplyPodIdentityAssociations": LEAF, "disableDefaultAddons": LEAF},
    "autoModeConfig": {"enabled": LEAF, "nodePools": LEAF, "nodeRoleARN": LEAF},
    "fargateProfiles": [
        {"name": LEAF, "selectors": [{"namespace": LEAF, "labels": LEAF}], "subnets": LEAF, "tags": LEAF}
    ],
    "secretsEncryption": {"keyARN": LEAF},
    "zonalShiftConfig": {"enabled": LEAF},
    "upgradePolicy": {"supportType": LEAF},
    "controlPlaneScalingConfig": {"tier": LEAF},
    "identityProviders": [
        {
            "type": LEAF,
            "name": LEAF,
            "issuerURL": LEAF,
            "clientID": LEAF,
            "usernameClaim": LEAF,
            "usernamePrefix": LEAF,
            "groupsClaim": LEAF,
            "groupsPrefix": LEAF,
            "requiredClaims": LEAF,
            "tags": LEAF,
        }
    ],
    "accessConfig": {
        "authenticationMode": LEAF,
        "bootstrapClusterCreatorAdminPermissions": LEAF,
        "accessEntries": [
            {
                "principalARN": LEAF,
                "type": LEAF,
                "kubernetesGroups": LEAF,
                "kubernetesUsername": LEAF,
                "accessPolicies": [{"policyARN": LEAF, "accessScope": {"type": LEAF, "namespaces": LEAF}}],
            }
        ],
    },
}
METADATA_FIELDS = ("name", "region", "version", "tags")


def load_yaml(raw: bytes) -> Any:
    """One YAML document, parsed safely; 400 for anything else.

    Its events are checked first (size, tags, anchors and aliases, depth), so nothing is built
    from a document that could expand ("billion laughs") or nest without bound.
    """
    import yaml  # only YAML requests pay for this import

    if len(raw) > MAX_YAML_BYTES:
        raise BadRequestError(f"the ClusterConfig is larger than {MAX_YAML_BYTES} bytes")
    try:
        depth = 0
        for event in yaml.parse(raw, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise BadRequestError("YAML anchors and aliases are not accepted")
            if isinstance(event, yaml.ScalarEvent) and event.tag and not any(event.implicit):
                raise BadRequestError(f"YAML tags are not accepted ({event.tag})")
            if isinstance(event, yaml.CollectionStartEvent):
                if event.tag and not event.implicit:
                    raise BadRequestError(f"YAML tags are not accepted ({event.tag})")
                depth += 1
                if depth > MAX_DEPTH:
                    raise BadRequestError(f"the ClusterConfig nests deeper than {MAX_DEPTH} levels")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
        documents = [d for d in _documents(raw) if d is not None]
    except yaml.YAMLError as exc:
        raise BadRequestError(f"the body is not valid YAML: {exc}") from None
    if len(documents) != 1:
        raise BadRequestError(f"send exactly one ClusterConfig document, not {len(documents)}")
    return documents[0]


def _documents(raw: bytes) -> list[Any]:
    """Every document of the stream, as `yaml.safe_load_all` builds them, once its keys are checked."""
    import yaml

    loader = yaml.SafeLoader(raw)
    try:
        documents = []
        while loader.check_node():
            node = loader.get_node()
            _check_keys(loader, node, "")
            documents.append(loader.construct_document(node))
        return documents
    finally:
        loader.dispose()


def _check_keys(loader: Any, node: Any, path: str) -> None:
    """400 for a key given twice in one mapping (PyYAML keeps the last) or a merge key (`<<`), named by its path."""
    import yaml

    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check_keys(loader, item, f"{path}[{index}]")
    if not isinstance(node, yaml.MappingNode):
        return
    seen: set[Any] = set()
    for key_node, value_node in node.value:
        if key_node.tag == MERGE_TAG:
            raise BadRequestError(f"YAML merge keys (<<) are not accepted (line {key_node.start_mark.line + 1})")
        if not isinstance(key_node, yaml.ScalarNode):
            continue  # a mapping or list as a key: the constructor refuses it
        # Compared as built, as a dict would: `1` and `1.0`, or `true` and `True`, are one key.
        key = loader.construct_object(key_node)
        where = f"{path}.{key}" if path else str(key)
        if key in seen:
            raise BadRequestError(
                f"the ClusterConfig has the key {where!r} twice (line {key_node.start_mark.line + 1})",
                fields=[{"field": where, "rule": "duplicate_key", "message": "a key may appear once per mapping"}],
            )
        seen.add(key)
        _check_keys(loader, value_node, where)


def unsupported_fields(document: Any, schema: Any = SUPPORTED, path: str = "") -> list[str]:
    """Every field path in `document` that `schema` does not list."""
    found: list[str] = []
    if isinstance(schema, dict) and isinstance(document, dict):
        for key, value in document.items():
            where = f"{path}.{key}" if path else str(key)
            if key not in schema:
                found.append(where)
            else:
                found.extend(unsupported_fields(value, schema[key], where))
    elif isinstance(schema, list) and isinstance(document, list):
        for index, item in enumerate(document):
            found.extend(unsupported_fields(item, schema[0], f"{path}[{index}]"))
    return found


def _reason(path: str) -> str:
    """Why `path` is refused: the REASONS entry of its longest tail (indexes dropped), else of its top field."""
    parts = re.sub(r"\[\d+\]", "", path).split(".")
    for start in range(len(parts)):
        reason = REASONS.get(".".join(parts[start:]))
        if reason:
            return reason
    return REASONS.get(parts[0]) or f"{path} is not supported yet"


def _ami_family_problems(document: dict[str, Any]) -> list[dict[str, str]]:
    """A clear refusal for each node group's amiFamily that eksctl builds and ekspress does not (Ubuntu, Windows
    Server 2025 and the deprecated Windows releases)."""
    problems = []
    for kind in ("managedNodeGroups", "nodeGroups"):
        groups = document.get(kind)
        for index, group in enumerate(groups if isinstance(groups, list) else []):
            family = group.get("amiFamily") if isinstance(group, dict) else None
            for prefix, reason in AMI_FAMILY_REASONS.items():
                if isinstance(family, str) and family.startswith(prefix):
                    field = f"{kind}[{index}].amiFamily"
                    problems.append({"field": field, "rule": "unsupported_value", "message": f"{family}: {reason}"})
    return problems


def to_spec_body(document: Any) -> dict[str, Any]:
    """The `POST /clusters` body a ClusterConfig stands for; 422 naming each unsupported field."""
    if not isinstance(document, dict):
        raise SpecValidationError(
            "the ClusterConfig is not a mapping",
            fields=[{"field": "(body)", "rule": "type", "message": "a ClusterConfig is a YAML mapping"}],
        )
    problems = [{"field": f, "rule": "unsupported_field", "message": _reason(f)} for f in unsupported_fields(document)]
    problems += _ami_family_problems(document)
    if document.get("apiVersion") != API_VERSION:
        problems.append({"field": "apiVersion", "rule": "api_version", "message": f"must be {API_VERSION}"})
    if document.get("kind") != KIND:
        problems.append({"field": "kind", "rule": "kind", "message": f"must be {KIND}"})
    if problems:
        names = ", ".join(p["field"] for p in problems)
        raise SpecValidationError(f"the ClusterConfig has fields ekspress does not support: {names}", fields=problems)
    metadata = document.get("metadata") or {}
    body = {k: metadata[k] for k in METADATA_FIELDS if k in metadata}
    body.update({k: v for k, v in document.items() if k not in ("apiVersion", "kind", "metadata")})
    return body


def config_path(field: str) -> str:
    """A spec field path as the ClusterConfig spells it (`name` → `metadata.name`)."""
    head = field.split(".", 1)[0].split("[", 1)[0]
    return f"metadata.{field}" if head in METADATA_FIELDS else field


def parse(raw: bytes) -> ClusterSpec:
    """A ClusterConfig request body → the validated spec; errors name ClusterConfig paths."""
    from pydantic import ValidationError

    body = to_spec_body(load_yaml(raw))
    try:
        return ClusterSpec.model_validate(body)
    except ValidationError as exc:
        fields = [{**f, "field": config_path(f["field"])} for f in describe_errors(exc)]
        names = ", ".join(sorted({f["field"] for f in fields}))
        raise SpecValidationError(f"the ClusterConfig is invalid: {names}", fields=fields) from None


def from_spec(spec: ClusterSpec) -> dict[str, Any]:
    """The spec as a ClusterConfig; reading it back gives the same spec (ekspress's own
    fields, the lease, `protected` and `timeoutMinutes` — eksctl's `--timeout` is a flag —
    are not ClusterConfig fields and stay behind)."""
    body = spec.model_dump(mode="json", exclude_none=True)
    metadata = {k: body.pop(k) for k in METADATA_FIELDS if k in body}
    if not metadata.get("tags"):
        metadata.pop("tags", None)
    for own in ("ttlHours", "protected", "timeoutMinutes"):
        body.pop(own, None)
    vpc = body.get("vpc") or {}
    if vpc.get("id"):  # an existing VPC: the fields of a VPC ekspress builds do not apply
        vpc.pop("cidr", None)
        vpc.pop("nat", None)
    if (body.get("kubernetesNetworkConfig") or {}).get("ipFamily") == "IPv6":
        vpc.pop("nat", None)  # an IPv6 VPC's NAT is not the request's to set (eksctl refuses vpc.nat with IPv6)
    if not body.get("iamIdentityMappings"):
        body.pop("iamIdentityMappings", None)
    for group in body.get("managedNodeGroups") or []:
        if "instanceTypes" in group:  # eksctl takes one or the other
            group.pop("instanceType", None)
        group.pop("amiType", None)  # chosen by the service from amiFamily; eksctl has no such field
        group.pop("imageId", None)  # read from ami or the launch template when requested; not eksctl's
    for group in body.get("nodeGroups") or []:
        if "instancesDistribution" in group:
            group.pop("instanceType", None)
        group.pop("amiType", None)
        group.pop("imageId", None)  # `ami` resolved when requested; eksctl has no such field
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, **body}
