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
_IPV6 = "IPv6 is not supported yet: ekspress builds IPv4 VPCs and clusters"
_AFTER = "once the cluster is ACTIVE"
REASONS = {
    # Top-level fields of eksctl's schema that are not built.
    "outpost": "EKS on AWS Outposts is not supported: ekspress builds clusters in an AWS Region's zones",
    "localZones": "Local Zone subnets are not supported; the cluster uses the region's availabilityZones",
    "remoteNetworkConfig": "hybrid nodes (remote node and pod networks) are not supported; use "
    "managedNodeGroups or nodeGroups in the cluster's VPC",
    "karpenter": f"Karpenter is not installed by ekspress; use managedNodeGroups, or install Karpenter {_AFTER}",
    "gitops": f"GitOps (Flux) bootstrap is not supported; install Flux {_AFTER}",
    "capabilities": f"EKS capabilities (ACK, kro, Argo CD) are not supported yet; create them {_AFTER}",
    "autoModeConfig.permissionsBoundaryARN": "permissions boundaries are not supported yet; the Auto Mode node "
    "role gets EKS's node policies only (AmazonEKSWorkerNodeMinimalPolicy, AmazonEC2ContainerRegistryPullOnly)",
    "identityProviders": "OIDC identity providers for Kubernetes users are not supported yet; give IAM "
    "principals access with accessConfig.accessEntries or iamIdentityMappings",
    "privateCluster": "fully private clusters are not supported: the service reaches the cluster's API "
    "through its public endpoint; set vpc.clusterEndpoints.privateAccess: true next to publicAccess",
    "zonalShiftConfig": "zonal shift is not supported yet; enable it with "
    f"`aws eks update-cluster-config --zonal-shift-config enabled=true` {_AFTER}",
    "upgradePolicy": "the EKS upgrade policy (standard or extended support) is not supported yet; the cluster "
    f"gets EKS's default; change it with `aws eks update-cluster-config --upgrade-policy` {_AFTER}",
    "controlPlaneScalingConfig": "control plane scaling tiers are not supported yet; the cluster gets "
    "EKS's standard tier",
    "fargateProfiles": "Fargate profiles are not supported; run pods on managedNodeGroups or nodeGroups",
    "secretsEncryption": "secrets encryption with your own KMS key is not supported yet; the cluster keeps "
    "EKS's default encryption",
    "addonsConfig": "add-on defaults (addonsConfig) are not supported; list each add-on under addons",
    "kubeAPIServerConfig": "the API server's flags cannot be set on EKS; leave kubeAPIServerConfig out",
    "kubeControllerManagerConfig": "the controller manager's flags cannot be set on EKS; leave it out",
    "kubeSchedulerConfig": "the scheduler's flags cannot be set on EKS; leave it out",
    # Cluster IAM.
    "iam.serviceAccounts": "IAM roles for service accounts are not supported yet (iam.withOIDC is); create "
    f"them {_AFTER}",
    "iam.podIdentityAssociations": "pod identity associations are not supported yet; add the "
    f"eks-pod-identity-agent add-on and create the associations {_AFTER}",
    "iam.serviceRoleARN": "a role the service did not make cannot be passed safely: ekspress makes the "
    "cluster's service role",
    "iam.serviceRolePermissionsBoundary": "permissions boundaries are not supported yet; ekspress makes the "
    "cluster's service role with EKS's managed policy only",
    "iam.fargatePodExecutionRoleARN": "Fargate profiles are not supported",
    "iam.fargatePodExecutionRolePermissionsBoundary": "Fargate profiles are not supported",
    "iam.vpcResourceControllerPolicy": "the VPC resource controller policy is not attached separately: "
    "ekspress's service role has EKS's managed cluster policy",
    # The network (vpc.* and kubernetesNetworkConfig).
    "vpc.sharedNodeSecurityGroup": "an existing shared node security group is not supported yet: ekspress "
    "makes the cluster's own (ClusterSharedNodeSecurityGroup)",
    "vpc.manageSharedNodeSecurityGroupRules": "the shared node security group's rules are always ekspress's "
    "(eksctl's default, true); leave it out",
    "vpc.extraCIDRs": "extra CIDRs allowed to reach the control plane are not supported yet; use "
    "vpc.controlPlaneSecurityGroupIDs (groups of an existing VPC)",
    "vpc.extraIPv6CIDRs": _IPV6,
    "vpc.ipv6Cidr": _IPV6,
    "vpc.ipv6Pool": _IPV6,
    "vpc.controlPlaneEgressMode": "the control plane's egress mode is not supported yet; it gets EKS's "
    "default (AWS_MANAGED)",
    "kubernetesNetworkConfig.ipFamily": f"{_IPV6}; leave ipFamily out (IPv4)",
    "kubernetesNetworkConfig.serviceIPv6CIDR": f"{_IPV6}; use serviceIPv4CIDR",
    # Node groups (managedNodeGroups[], nodeGroups[]).
    "publicKeyPath": "name an EC2 key pair with ssh.publicKeyName; the service cannot read or import a key file",
    "publicKey": "name an EC2 key pair with ssh.publicKeyName; importing a key is not supported",
    "enableSsm": "SSM is built into the EKS-optimized AMIs; ssh.enableSsm is deprecated in eksctl",
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
    "iam.attachPolicy": "an inline policy cannot be checked against the service's allow-list of policy ARNs "
    "(EKSPRESS_ALLOWED_POLICY_ARNS); use iam.attachPolicyARNs",
    "iam.instanceRolePermissionsBoundary": "permissions boundaries are not supported yet; the node role gets "
    "only its worker policies and iam.attachPolicyARNs, held to EKSPRESS_ALLOWED_POLICY_ARNS",
    "bottlerocket": "Bottlerocket settings are not supported yet; amiFamily: Bottlerocket runs with its defaults",
    "instanceSelector": "instanceSelector is not supported; name instanceType (or instanceTypes, "
    "instancesDistribution.instanceTypes)",
    "containerRuntime": "containerRuntime is not supported: every supported amiFamily runs containerd",
    "targetGroupARNs": "attaching nodes to load balancer target groups is not supported yet; use the AWS Load "
    "Balancer Controller (TargetGroupBinding)",
    "classicLoadBalancerNames": "Classic Load Balancers are not supported; use the AWS Load Balancer Controller",
    "asgSuspendProcesses": "suspending Auto Scaling processes is not supported yet; suspend them with "
    f"`aws autoscaling suspend-processes` {_AFTER}",
}
# amiFamily values eksctl knows and ekspress does not build, by prefix: a reason instead of a bare list.
AMI_FAMILY_REASONS = {
    "Windows": "Windows nodes are not supported yet; choose amiFamily AmazonLinux2023, AmazonLinux2 or Bottlerocket",
    "Ubuntu": "Ubuntu images are not supported yet; choose amiFamily AmazonLinux2023, AmazonLinux2 or Bottlerocket",
}
