"""Why a ClusterConfig field is refused, in the words a user needs, and what to use instead.

`clusterconfig` answers each field it does not build with one of these; every top-level field of
eksctl's schema is either built or has a reason here (tests/unit/test_clusterconfig_fields.py).
"""

from __future__ import annotations

# Why fields are refused, in the words a user needs, and what to use instead. A key is a field path
# without list indexes; a refused path takes the reason of its longest matching tail
# (`managedNodeGroups[0].iam.instanceRoleARN` → `iam.instanceRoleARN`), else its top-level field's.
_NOT_PASSED = (
    "a role the service did not make cannot be passed safely (it could carry any permission): ekspress makes "
    "the node role; add managed policies with iam.attachPolicyARNs"
)
_FARGATE_NOT_PASSED = (
    "a role the service did not make cannot be passed safely (it could carry any permission): ekspress makes "
    "the Fargate pod execution role (AmazonEKSFargatePodExecutionRolePolicy); limit it with "
    "iam.fargatePodExecutionRolePermissionsBoundary"
)
_POD_ROLE_NOT_PASSED = (
    "a role the service did not make cannot be passed safely: EKS needs iam:PassRole on it and the pods would "
    "get whatever it carries; give the association permissionPolicyARNs, permissionPolicy or wellKnownPolicies "
    "for a role the stack makes"
)
_IPV6 = (
    "a VPC's own IPv6 block or pool is not supported yet: ekspress asks for an Amazon-provided one "
    "(kubernetesNetworkConfig.ipFamily: IPv6, or vpc.autoAllocateIPv6)"
)
_AFTER = "once the cluster is ACTIVE"
REASONS = {
    # Top-level fields of eksctl's schema that are not built.
    "outpost": "EKS on AWS Outposts is not supported: ekspress builds clusters in an AWS Region's zones",
    "localZones": "Local Zone subnets are not supported; the cluster uses the region's availabilityZones",
    "remoteNetworkConfig.vpcGatewayID": "routes to the remote networks through a gateway are not built yet: "
    "attach your transit or virtual private gateway and route the remote CIDRs to it yourself",
    "remoteNetworkConfig.iam.roleARN": "the cluster stack makes the remote nodes' role (eksctl's default); a role "
    "of your own could carry any permission",
    "remoteNetworkConfig.iam.caBundleCert": "IAM Roles Anywhere (provider IRA) is not built yet: use provider SSM",
    "karpenter": f"Karpenter is not installed by ekspress; use managedNodeGroups, or install Karpenter {_AFTER}",
    "gitops": f"GitOps (Flux) bootstrap is not supported; install Flux {_AFTER}",
    "capabilities": f"EKS capabilities (ACK, kro, Argo CD) are not supported yet; create them {_AFTER}",
    "autoModeConfig.permissionsBoundaryARN": "permissions boundaries are not supported yet; the Auto Mode node "
    "role gets EKS's node policies only (AmazonEKSWorkerNodeMinimalPolicy, AmazonEC2ContainerRegistryPullOnly)",
    "kubeAPIServerConfig": "the API server's flags cannot be set on EKS; leave kubeAPIServerConfig out",
    "kubeControllerManagerConfig": "the controller manager's flags cannot be set on EKS; leave it out",
    "kubeSchedulerConfig": "the scheduler's flags cannot be set on EKS; leave it out",
    # Cluster IAM.
    # Pod identity associations (iam.podIdentityAssociations[], addons[].podIdentityAssociations[]).
    "podIdentityAssociations.roleARN": _POD_ROLE_NOT_PASSED,
    "podIdentityAssociations.targetRoleARN": "a target role in another account cannot be checked by the service "
    "(its trust and permissions are that account's): give the role permissionPolicyARNs that let it assume the "
    "target role, and assume it from the pod",
    "podIdentityAssociations.permissionPolicyName": "the inline policy is named by the service; leave "
    "permissionPolicyName out",
    "podIdentityAssociations.policy": "session policies on pod identity associations are not supported yet; "
    "narrow the role with permissionsBoundaryARN",
    # Add-ons (addons[]).
    "addons.serviceAccountRoleARN": "a role the service did not make cannot be passed safely: EKS needs "
    "iam:PassRole on it and it could carry any permission (nor could it trust a new cluster's OIDC provider, "
    "which does not exist yet); give the add-on wellKnownPolicies, attachPolicyARNs, attachPolicy or "
    "podIdentityAssociations for a role the stack makes",
    "addons.permissionsBoundary": "permissions boundaries on add-on roles are not supported yet; the role gets "
    "only the policies asked for (attachPolicyARNs held to EKSPRESS_ALLOWED_POLICY_ARNS)",
    "addons.namespaceConfig": "add-ons are installed in EKS's namespace for them (kube-system); leave "
    "namespaceConfig out",
    "addons.owners": "owners filters eksctl's add-on listing; it is not part of a request",
    "addons.publishers": "publishers filters eksctl's add-on listing; it is not part of a request",
    "addons.types": "types filters eksctl's add-on listing; it is not part of a request",
    "iam.serviceRoleARN": "a role the service did not make cannot be passed safely: ekspress makes the "
    "cluster's service role",
    "iam.fargatePodExecutionRoleARN": _FARGATE_NOT_PASSED,
    # Fargate profiles (fargateProfiles[]).
    "fargateProfiles.podExecutionRoleARN": _FARGATE_NOT_PASSED,
    "fargateProfiles.status": "status is what EKS reports of a profile, not part of a request; leave it out",
    "iam.vpcResourceControllerPolicy": "the service role always has AmazonEKSVPCResourceController (eksctl's "
    "default): it cannot be left out",
    # The network (vpc.* and kubernetesNetworkConfig).
    "vpc.extraCIDRs": "extra CIDRs allowed to reach the control plane are not supported yet; use "
    "vpc.controlPlaneSecurityGroupIDs (groups of an existing VPC)",
    "vpc.extraIPv6CIDRs": "extra IPv6 CIDRs allowed to reach the control plane are not supported yet; use "
    "vpc.controlPlaneSecurityGroupIDs (groups of an existing VPC)",
    "vpc.ipv6Cidr": _IPV6,
    "vpc.ipv6Pool": _IPV6,
    "vpc.controlPlaneEgressMode": "the control plane's egress mode is not supported yet; it gets EKS's "
    "default (AWS_MANAGED)",
    "kubernetesNetworkConfig.serviceIPv6CIDR": "EKS chooses an IPv6 cluster's service range itself "
    "(CloudFormation takes none); leave serviceIPv6CIDR out",
    # Node groups (managedNodeGroups[], nodeGroups[]).
    "publicKeyPath": "a file on your machine: `ekspress create cluster -f` reads it and sends its key as "
    "ssh.publicKey; over HTTP, send ssh.publicKey (the key itself) or ssh.publicKeyName (an EC2 key pair)",
    "managedNodeGroups.securityGroups.withShared": "managed node groups take only securityGroups.attachIDs (as "
    "eksctl): their nodes are in EKS's cluster security group, which stands for the shared one",
    "managedNodeGroups.securityGroups.withLocal": "managed node groups take only securityGroups.attachIDs (as "
    "eksctl): EKS makes no per-group security group for them",
    "nodeGroups.launchTemplate": "a launch template of your own is for managedNodeGroups (as eksctl); a "
    "self-managed group's launch template is built from its fields",
    "iam.instanceProfileARN": _NOT_PASSED,
    "iam.instanceRoleARN": _NOT_PASSED,
    "iam.instanceRoleName": "ekspress names the node role itself (its stack's); add managed policies with "
    "iam.attachPolicyARNs",
    "managedNodeGroups.containerRuntime": "containerRuntime is a nodeGroups field (as eksctl): EKS's images for "
    "managed groups run containerd",
    "managedNodeGroups.asgSuspendProcesses": "EKS runs a managed group's Auto Scaling group and its updates "
    "(eksctl ignores the field there); asgSuspendProcesses is for nodeGroups",
}
# amiFamily values eksctl knows and ekspress does not build, by prefix: a reason instead of a bare list.
AMI_FAMILY_REASONS = {
    "WindowsServer2025": "EKS publishes Windows Server 2025 images for Kubernetes 1.35 and later only (as eksctl "
    "checks); choose WindowsServer2022FullContainer or WindowsServer2022CoreContainer",
    "WindowsServer2004": "deprecated: EKS no longer publishes it; choose WindowsServer2022CoreContainer",
    "WindowsServer20H2": "deprecated: EKS no longer publishes it; choose WindowsServer2022CoreContainer",
    "Ubuntu": "Ubuntu images are not supported yet; choose amiFamily AmazonLinux2023, AmazonLinux2 or Bottlerocket",
}
