"""A small HTTPS Kubernetes API server emulator, one per local EKS cluster, with EKS-style IAM authentication.

Used by the local engine and the tests only, never deployed. Modules:

- server: KubeEmulator, which wires the pieces below into one cluster's API server;
- transport: the threading HTTPS server that does TLS per connection and answers in JSON;
- tls: the emulator's own one-day CA and its 127.0.0.1/localhost serving certificate;
- tokens: EKS bearer token (presigned STS GetCallerIdentity URL) verification, as aws-iam-authenticator does it;
- authz: the creator rule, aws-auth mappings and what a caller's groups may do;
- objects: the store of namespaces, ConfigMaps and ServiceAccounts with resourceVersion concurrency, and Node lists;
- discovery: version, health and API resource answers;
- status: ApiError and the Kubernetes Status object it becomes.
"""

from __future__ import annotations

from local.kube.server import KubeEmulator

__all__ = ["KubeEmulator"]
