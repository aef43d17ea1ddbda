"""A small HTTPS Kubernetes API server emulator, one per local EKS cluster, with EKS-style IAM authentication.

Used by the local engine and the tests only, never deployed. Modules:

- server: KubeEmulator, which wires the pieces below into one cluster's API server;
- transport: the threading HTTPS server that does TLS per connection and answers in JSON;
- tls: the emulator's own one-day CA and its 127.0.0.1/localhost serving certificate;
- tokens: EKS bearer token (presigned STS GetCallerIdentity URL) verification, as aws-iam-authenticator does it;
- authz: who a caller is (the creator rule, access entries, aws-auth) and what RBAC lets it do;
- bootstrap_policy: the built-in ClusterRoles and ClusterRoleBindings every cluster starts with;
- objects: the store of every served kind with resourceVersion concurrency, change notification and Node lists;
- api: routing of resource URLs and the verbs (get, list, watch, create, update, patch, delete, subresources);
- defaults, validation: server-side defaults and Kubernetes' schema checks (422 Invalid) of written objects;
- patch, selectors, table: PATCH media types, label and field selectors, server-side Table printing;
- protobuf: Kubernetes protobuf request bodies (kubectl's typed clients send them) read as JSON;
- discovery, openapi: version, health, API resource answers and the OpenAPI v3 documents kubectl reads;
- status: ApiError and the Kubernetes Status object it becomes.
"""

from __future__ import annotations

from local.kube.server import KubeEmulator

__all__ = ["KubeEmulator"]
