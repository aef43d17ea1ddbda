"""The emulator's control loops: what kube-controller-manager, the scheduler and each node's kubelet do for the
kinds the getting-started walkthrough uses.

One daemon thread per emulator (`KubeControllers.start()`) runs every loop whenever the store changes, and at
least once a second (nodes come and go with their node groups, outside the store):

- deployments: a Deployment owns one ReplicaSet per pod template (named DEPLOYMENT-HASH, labelled
  `pod-template-hash`); the current one has spec.replicas, older ones none. Status as `kubectl rollout
  status` reads it;
- replicasets: a ReplicaSet keeps spec.replicas pods (DEPLOYMENT-HASH-xxxxx, owned by it), and its status;
- garbage collection: ReplicaSets and pods whose owner is gone, and pods bound to a node that is gone;
- scheduler: a pod without a node goes to the next Ready node (round robin) whose labels its nodeSelector
  matches and whose NoSchedule/NoExecute taints it tolerates; with none it stays Pending, with a
  FailedScheduling event;
- kubelet: a bound pod runs: an IP in its node's subnet, the node's as hostIP, every container started
  and ready. Containers never exit here (a pod that would end stays Running);
- services: a ClusterIP from the service range, node ports (30000-32767) for NodePort and LoadBalancer
  Services, and Endpoints from the selector's ready pods;
- at start, what EKS puts in every cluster: the `kubernetes` Service in `default`, and CoreDNS (the
  `coredns` Deployment and the `kube-dns` Service) in `kube-system`.

More loops (the local cloud controller) plug in as callables run after these. Status is written with the
store's replace at the resourceVersion just read; a conflict (someone wrote meanwhile) is left to the next pass.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import hashlib
import ipaddress
import json
import logging
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from local.kube.objects import DEPLOYMENTS, ENDPOINTS, EVENTS, PODS, REPLICASETS, SERVICES, Kind, ObjectStore
from local.kube.status import ApiError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

log = logging.getLogger(__name__)

SERVICE_CIDR = "10.100.0.0/16"
NODE_PORTS = range(30000, 32768)
COREDNS_VERSION = "v1.11.4-eksbuild.2"
RESYNC_SECONDS = 1.0
POLL_SECONDS = 0.1
# Characters Kubernetes uses for generated name suffixes and hashes (no vowels, no look-alikes).
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
SCHEDULER = "default-scheduler"


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def safe_string(seed: str, length: int) -> str:
    """A deterministic string of Kubernetes' safe characters."""
    digest = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    chars = []
    for _ in range(length):
        digest, index = divmod(digest, len(SAFE_ALPHABET))
        chars.append(SAFE_ALPHABET[index])
    return "".join(chars)


def template_hash(template: dict[str, Any]) -> str:
    """The `pod-template-hash` of a pod template."""
    return safe_string(json.dumps(template, sort_keys=True), 10)


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str] | None) -> bool:
    """Whether a LabelSelector (matchLabels and matchExpressions) selects these labels; an empty one selects nothing."""
    if not selector:
        return False
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return bool(selector.get("matchLabels") or selector.get("matchExpressions"))


def owner_reference(kind: Kind, obj: dict[str, Any]) -> dict[str, Any]:
    """A controller owner reference to obj."""
    return {
        "apiVersion": kind.api_version,
        "kind": kind.kind,
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controller_uid(obj: dict[str, Any]) -> str | None:
    """The uid of the object's controlling owner, if it has one."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def is_ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
    )


def node_ready(node: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (node.get("status") or {}).get("conditions") or []
    )


def internal_ip(node: dict[str, Any]) -> str | None:
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP":
            return str(address.get("address"))
    return None


def tolerates(pod: dict[str, Any], taint: dict[str, Any]) -> bool:
    """Whether one of the pod's tolerations tolerates the taint."""
    for toleration in (pod.get("spec") or {}).get("tolerations") or []:
        effect = toleration.get("effect")
        if effect and effect != taint.get("effect"):
            continue
        key = toleration.get("key")
        if not key:
            if toleration.get("operator") == "Exists":
                return True
            continue
        if key != taint.get("key"):
            continue
        if toleration.get("operator") == "Exists" or toleration.get("value", "") == taint.get("value", ""):
            return True
    return False


def fits(pod: dict[str, Any], node: dict[str, Any]) -> str | None:
    """Why the pod cannot go to the node (a scheduler's reason), or None when it can."""
    if not node_ready(node) or (node.get("spec") or {}).get("unschedulable"):
        return "node(s) were unschedulable"
    labels = node["metadata"].get("labels") or {}
    for key, value in ((pod.get("spec") or {}).get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return "node(s) didn't match Pod's node affinity/selector"
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(pod, taint):
            return f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value', '')}}}"
    return None


class KubeControllers:
    """The control loops of one emulated cluster, over its object store and its nodes."""

    def __init__(
        self,
        store: ObjectStore,
        nodes: Callable[[], list[dict[str, Any]]],
        *,
        cluster_name: str = "",
        region: str = "",
        subnet_cidr: Callable[[dict[str, Any]], str | None] | None = None,
        extra: Iterable[Callable[[], None]] = (),
    ) -> None:
        """Loops over `store`; `nodes()` lists the cluster's Node objects. `subnet_cidr(node)` names the CIDR of a
        node's subnet (pods take addresses there; without it, the node's /24). `extra` loops run after these."""
        self.store = store
        self.nodes = nodes
        self.cluster_name = cluster_name
        self.region = region
        self.subnet_cidr = subnet_cidr
        self.extra = list(extra)
        self._next_node = 0
        self._cidrs: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._managed_endpoints: set[tuple[str, str]] = set()

    # --- running ---

    def start(self) -> None:
        """Seed what EKS puts in every cluster, then run the loops from a daemon thread."""
        self.seed()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"kube-controllers-{self.cluster_name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the loops (what they made stays)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def wait_for_change(self, revision: int, timeout: float) -> None:
        """Return once the store is past `revision`, or after timeout (or at stop)."""
        waiter = getattr(self.store, "wait_for_change", None)
        deadline = time.monotonic() + timeout
        if callable(waiter):
            # In slices, so that stop() never waits a whole resync for the loop to notice.
            while not self._stop.is_set() and (left := deadline - time.monotonic()) > 0:
                if waiter(revision, min(left, POLL_SECONDS)) > revision:
                    return
            return
        while self.store.revision == revision and time.monotonic() < deadline and not self._stop.is_set():
            self._stop.wait(POLL_SECONDS)

    def _run(self) -> None:
        while not self._stop.is_set():
            revision = self.store.revision
            try:
                self.reconcile()
            except Exception:  # a loop must outlive one bad pass
                log.exception("kube controllers of %s", self.cluster_name)
            if self._stop.is_set():
                return
            # What this pass wrote bumped the revision: settle until a pass changes nothing.
            if self.store.revision != revision:
                self._stop.wait(0.02)
                continue
            self.wait_for_change(revision, RESYNC_SECONDS)

    def reconcile(self) -> None:
        """One pass of every loop."""
        self.deployments()
        self.replicasets()
        self.collect_garbage()
        nodes = self.nodes()
        self.schedule(nodes)
        self.kubelet(nodes)
        self.replicaset_status()
        self.deployment_status()
        self.services()
        self.endpoints()
        for loop in self.extra:
            loop()

    # --- store helpers ---

    def _list(self, kind: Kind, namespace: str | None = None) -> list[dict[str, Any]]:
        return list(self.store.list_of(kind, namespace)["items"])

    def _create(self, kind: Kind, obj: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return self.store.create(obj["metadata"]["namespace"], obj, kind)
        except ApiError as error:
            if error.code in (404, 409):  # its namespace went, or someone made it first
                return None
            raise

    def _replace(self, kind: Kind, obj: dict[str, Any]) -> dict[str, Any] | None:
        """Write obj at the resourceVersion it was read at; None when someone wrote (or deleted) it meanwhile."""
        meta = obj["metadata"]
        try:
            return self.store.replace(meta.get("namespace", ""), meta["name"], obj, kind)
        except ApiError as error:
            if error.code in (404, 409):
                return None
            raise

    def update(self, kind: Kind, namespace: str, name: str, change: Callable[[dict[str, Any]], None]) -> None:
        """Read, change and replace one object, retrying on conflicts (a few times)."""
        for _ in range(5):
            try:
                obj = self.store.get(kind, namespace, name)
            except ApiError:
                return
            before = copy.deepcopy(obj)
            change(obj)
            if obj == before or self._replace(kind, obj) is not None:
                return

    def _delete(self, kind: Kind, namespace: str, name: str) -> None:
        with contextlib.suppress(ApiError):  # already gone
            self.store.delete(kind, namespace, name)

    def event(self, obj: dict[str, Any], kind: Kind, reason: str, message: str, kind_of_event: str = "Normal") -> None:
        """Record an Event about obj, as a controller or the kubelet does."""
        meta = obj["metadata"]
        stamp = now()
        name = f"{meta['name']}.{uuid.uuid4().hex[:16]}"
        component = {"Scheduled": SCHEDULER, "FailedScheduling": SCHEDULER}.get(reason)
        source: dict[str, str] = {"component": component or f"{kind.kind.lower()}-controller"}
        if reason in ("Pulled", "Created", "Started", "Pulling"):
            source = {"component": "kubelet", "host": str((obj.get("spec") or {}).get("nodeName", ""))}
        self._create(
            EVENTS,
            {
                "metadata": {"name": name, "namespace": meta.get("namespace", "default")},
                "involvedObject": {
                    "apiVersion": kind.api_version,
                    "kind": kind.kind,
                    "name": meta["name"],
                    "namespace": meta.get("namespace", ""),
                    "uid": meta.get("uid", ""),
                    "resourceVersion": meta.get("resourceVersion", ""),
                },
                "reason": reason,
                "message": message,
                "type": kind_of_event,
                "count": 1,
                "source": source,
                "firstTimestamp": stamp,
                "lastTimestamp": stamp,
            },
        )

    # --- seed ---

    def _service_cidr(self) -> str:
        """The cluster's Service range (the store's, as the cluster's kubernetesNetworkConfig names it)."""
        return str(getattr(self.store, "service_cidr", None) or SERVICE_CIDR)

    def _service_ip(self, offset: int) -> str:
        """The address `offset` into the Service range: 1 is the `kubernetes` Service's, 10 kube-dns's."""
        return str(ipaddress.ip_network(self._service_cidr()).network_address + offset)

    def seed(self) -> None:
        """The `kubernetes` Service, and CoreDNS as EKS installs it (the coredns Deployment and kube-dns Service)."""
        self._create(
            SERVICES,
            {
                "metadata": {
                    "name": "kubernetes",
                    "namespace": "default",
                    "labels": {"component": "apiserver", "provider": "kubernetes"},
                },
                "spec": {
                    "type": "ClusterIP",
                    "clusterIP": self._service_ip(1),
                    "clusterIPs": [self._service_ip(1)],
                    "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 443}],
                    "sessionAffinity": "None",
                    "ipFamilies": ["IPv4"],
                    "ipFamilyPolicy": "SingleStack",
                    "internalTrafficPolicy": "Cluster",
                },
                "status": {"loadBalancer": {}},
            },
        )
        labels = {"k8s-app": "kube-dns", "eks.amazonaws.com/component": "coredns"}
        image = f"602401143452.dkr.ecr.{self.region or 'us-west-2'}.amazonaws.com/eks/coredns:{COREDNS_VERSION}"
        self._create(
            DEPLOYMENTS,
            {
                "metadata": {
                    "name": "coredns",
                    "namespace": "kube-system",
                    "labels": {**labels, "kubernetes.io/name": "CoreDNS"},
                    "generation": 1,
                },
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": labels},
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "priorityClassName": "system-cluster-critical",
                            "serviceAccountName": "coredns",
                            "nodeSelector": {"kubernetes.io/os": "linux"},
                            "tolerations": [
                                {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
                                {"key": "CriticalAddonsOnly", "operator": "Exists"},
                            ],
                            "containers": [
                                {
                                    "name": "coredns",
                                    "image": image,
                                    "args": ["-conf", "/etc/coredns/Corefile"],
                                    "ports": [
                                        {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                                        {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                                        {"name": "metrics", "containerPort": 9153, "protocol": "TCP"},
                                    ],
                                }
                            ],
                            "dnsPolicy": "Default",
                        },
                    },
                },
            },
        )
        self._create(
            SERVICES,
            {
                "metadata": {
                    "name": "kube-dns",
                    "namespace": "kube-system",
                    "labels": {
                        "k8s-app": "kube-dns",
                        "eks.amazonaws.com/component": "kube-dns",
                        "kubernetes.io/cluster-service": "true",
                        "kubernetes.io/name": "CoreDNS",
                    },
                    "annotations": {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"},
                },
                "spec": {
                    "type": "ClusterIP",
                    "clusterIP": self._service_ip(10),
                    "clusterIPs": [self._service_ip(10)],
                    "selector": {"k8s-app": "kube-dns"},
                    "ports": [
                        {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                        {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                        {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153},
                    ],
                    "sessionAffinity": "None",
                    "ipFamilies": ["IPv4"],
                    "ipFamilyPolicy": "SingleStack",
                    "internalTrafficPolicy": "Cluster",
                },
                "status": {"loadBalancer": {}},
            },
        )

    # --- deployments and replicasets ---

    def deployments(self) -> None:
        """Each Deployment's current ReplicaSet at spec.replicas; its older ones at zero."""
        replicasets = self._list(REPLICASETS)
        for deployment in self._list(DEPLOYMENTS):
            meta, spec = deployment["metadata"], deployment.get("spec") or {}
            template = copy.deepcopy(spec.get("template") or {})
            if not template:
                continue
            hashed = template_hash(template)
            name = f"{meta['name']}-{hashed}"
            replicas = int(spec.get("replicas", 1))
            owned = [rs for rs in replicasets if controller_uid(rs) == meta["uid"]]
            revisions = [
                int((rs["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision", "0"))
                for rs in owned
            ]
            current = next((rs for rs in owned if rs["metadata"]["name"] == name), None)
            if current is None:
                template.setdefault("metadata", {})
                template["metadata"]["labels"] = {
                    **(template["metadata"].get("labels") or {}),
                    "pod-template-hash": hashed,
                }
                selector = copy.deepcopy(spec.get("selector") or {})
                selector["matchLabels"] = {**(selector.get("matchLabels") or {}), "pod-template-hash": hashed}
                self._create(
                    REPLICASETS,
                    {
                        "metadata": {
                            "name": name,
                            "namespace": meta["namespace"],
                            "labels": dict(template["metadata"]["labels"]),
                            "annotations": {
                                "deployment.kubernetes.io/desired-replicas": str(replicas),
                                "deployment.kubernetes.io/max-replicas": str(replicas + 1),
                                "deployment.kubernetes.io/revision": str(max(revisions, default=0) + 1),
                            },
                            "ownerReferences": [owner_reference(DEPLOYMENTS, deployment)],
                            "generation": 1,
                        },
                        "spec": {"replicas": replicas, "selector": selector, "template": template},
                    },
                )
            for rs in owned:
                want = replicas if rs["metadata"]["name"] == name else 0
                if int((rs.get("spec") or {}).get("replicas", 1)) != want:

                    def scale(obj: dict[str, Any], want: int = want, replicas: int = replicas) -> None:
                        obj["spec"]["replicas"] = want
                        obj["metadata"]["generation"] = int(obj["metadata"].get("generation", 1)) + 1
                        annotations = obj["metadata"].setdefault("annotations", {})
                        annotations["deployment.kubernetes.io/desired-replicas"] = str(replicas)

                    self.update(REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"], scale)

    def replicasets(self) -> None:
        """Each ReplicaSet's pods: made up to spec.replicas, deleted down to it (unscheduled ones first)."""
        pods = self._list(PODS)
        for rs in self._list(REPLICASETS):
            meta, spec = rs["metadata"], rs.get("spec") or {}
            owned = [p for p in pods if controller_uid(p) == meta["uid"]]
            want = int(spec.get("replicas", 1))
            template = spec.get("template") or {}
            for _ in range(want - len(owned)):
                suffix = safe_string(uuid.uuid4().hex, 5)
                pod_meta = copy.deepcopy(template.get("metadata") or {})
                pod = {
                    "metadata": {
                        **{k: v for k, v in pod_meta.items() if k in ("labels", "annotations")},
                        "name": f"{meta['name']}-{suffix}",
                        "generateName": f"{meta['name']}-",
                        "namespace": meta["namespace"],
                        "ownerReferences": [owner_reference(REPLICASETS, rs)],
                    },
                    "spec": _pod_spec_defaults(copy.deepcopy(template.get("spec") or {})),
                    "status": {"phase": "Pending", "qosClass": "BestEffort"},
                }
                if self._create(PODS, pod) is not None:
                    self.event(rs, REPLICASETS, "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}")
            if len(owned) > want:
                ranked = sorted(owned, key=lambda p: (bool(p["spec"].get("nodeName")), is_ready(p)))
                for pod in ranked[: len(owned) - want]:
                    self._delete(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"])
                    self.event(rs, REPLICASETS, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}")

    def collect_garbage(self) -> None:
        """ReplicaSets whose Deployment is gone, and pods whose ReplicaSet is gone."""
        for owner_kind, kind in ((DEPLOYMENTS, REPLICASETS), (REPLICASETS, PODS)):
            owners = {o["metadata"]["uid"] for o in self._list(owner_kind)}
            for obj in self._list(kind):
                refs = [r for r in obj["metadata"].get("ownerReferences") or [] if r.get("kind") == owner_kind.kind]
                if refs and not any(r.get("uid") in owners for r in refs):
                    self._delete(kind, obj["metadata"]["namespace"], obj["metadata"]["name"])

    def replicaset_status(self) -> None:
        pods = self._list(PODS)
        for rs in self._list(REPLICASETS):
            owned = [p for p in pods if controller_uid(p) == rs["metadata"]["uid"]]
            ready = sum(1 for p in owned if is_ready(p))
            status = {
                "replicas": len(owned),
                "fullyLabeledReplicas": len(owned),
                "readyReplicas": ready,
                "availableReplicas": ready,
                "observedGeneration": int(rs["metadata"].get("generation", 1)),
            }
            status = {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration")}
            if (rs.get("status") or {}) != status:
                rs["status"] = status
                self._replace(REPLICASETS, rs)

    def deployment_status(self) -> None:
        replicasets = self._list(REPLICASETS)
        for deployment in self._list(DEPLOYMENTS):
            meta, spec = deployment["metadata"], deployment.get("spec") or {}
            owned = [rs for rs in replicasets if controller_uid(rs) == meta["uid"]]
            name = f"{meta['name']}-{template_hash(spec.get('template') or {})}"
            current = next((rs for rs in owned if rs["metadata"]["name"] == name), None)
            total = sum(int((rs.get("status") or {}).get("replicas", 0)) for rs in owned)
            ready = sum(int((rs.get("status") or {}).get("readyReplicas", 0)) for rs in owned)
            updated = int(((current or {}).get("status") or {}).get("replicas", 0))
            want = int(spec.get("replicas", 1))
            previous = {c.get("type"): c for c in (deployment.get("status") or {}).get("conditions") or []}
            stamp = now()

            def condition(kind: str, status: str, reason: str, message: str) -> dict[str, str]:
                return _condition(previous.get(kind) or {}, stamp, kind, status, reason, message)  # noqa: B023

            available = ready >= want
            complete = available and updated == want and total == want
            rs_name = (current or {}).get("metadata", {}).get("name", name)
            status: dict[str, Any] = {
                "observedGeneration": int(meta.get("generation", 1)),
                "replicas": total,
                "updatedReplicas": updated,
                "readyReplicas": ready,
                "availableReplicas": ready,
                "unavailableReplicas": max(want - ready, 0),
                "conditions": [
                    condition(
                        "Available",
                        "True" if available else "False",
                        "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                        "Deployment has minimum availability."
                        if available
                        else "Deployment does not have minimum availability.",
                    ),
                    condition(
                        "Progressing",
                        "True",
                        "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
                        f'ReplicaSet "{rs_name}" has successfully progressed.'
                        if complete
                        else f'ReplicaSet "{rs_name}" is progressing.',
                    ),
                ],
            }
            status = {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration", "conditions")}
            old = copy.deepcopy(deployment.get("status") or {})
            if _without_times(old) != _without_times(status):
                deployment["status"] = status
                self._replace(DEPLOYMENTS, deployment)

    # --- scheduler and kubelet ---

    def schedule(self, nodes: list[dict[str, Any]]) -> None:
        """Bind each unbound pending pod to a node it fits, round robin; note why when none fits."""
        names = [n["metadata"]["name"] for n in nodes]
        for pod in self._list(PODS):
            spec, status = pod.get("spec") or {}, pod.get("status") or {}
            if spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
                continue
            chosen, reasons = None, []
            for offset in range(len(nodes)):
                node = nodes[(self._next_node + offset) % len(nodes)]
                why = fits(pod, node)
                if why is None:
                    chosen = node
                    self._next_node = (self._next_node + offset + 1) % len(nodes)
                    break
                reasons.append(why)
            meta = pod["metadata"]
            if chosen is not None:
                node_name = chosen["metadata"]["name"]
                pod["spec"]["nodeName"] = node_name
                pod.setdefault("status", {})["phase"] = "Pending"
                pod["status"]["conditions"] = [
                    {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now()}
                ]
                if self._replace(PODS, pod) is not None:
                    message = f"Successfully assigned {meta['namespace']}/{meta['name']} to {node_name}"
                    self.event(pod, PODS, "Scheduled", message)
                continue
            message = _unschedulable(len(names), reasons)
            scheduled: dict[str, Any] = next(
                (c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), {}
            )
            if scheduled.get("message") == message:
                continue
            pod.setdefault("status", {})["phase"] = "Pending"
            pod["status"]["conditions"] = [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "lastProbeTime": None,
                    "lastTransitionTime": now(),
                    "reason": "Unschedulable",
                    "message": message,
                }
            ]
            if self._replace(PODS, pod) is not None:
                self.event(pod, PODS, "FailedScheduling", message, "Warning")

    def _cidr(self, node: dict[str, Any]) -> str | None:
        name = node["metadata"]["name"]
        if name not in self._cidrs:
            cidr = None
            if self.subnet_cidr is not None:
                try:
                    cidr = self.subnet_cidr(node)
                except Exception:  # the subnet could not be read: use the node's /24
                    log.debug("no subnet for node %s", name, exc_info=True)
            ip = internal_ip(node)
            if cidr is None and ip:
                cidr = str(ipaddress.ip_network(f"{ip}/24", strict=False))
            if cidr is None:
                return None
            self._cidrs[name] = cidr
        return self._cidrs[name]

    def kubelet(self, nodes: list[dict[str, Any]]) -> None:
        """Run each pod bound to a node: address it, start its containers, mark it Ready. Pods bound to a node that
        is gone are deleted (their controller makes new ones)."""
        by_name = {n["metadata"]["name"]: n for n in nodes}
        pods = self._list(PODS)
        used = {str((p.get("status") or {}).get("podIP")) for p in pods}
        used |= {ip for n in nodes if (ip := internal_ip(n))}
        for pod in pods:
            spec, status, meta = pod.get("spec") or {}, pod.get("status") or {}, pod["metadata"]
            node_name = spec.get("nodeName")
            if not node_name:
                continue
            node = by_name.get(node_name)
            if node is None:
                if nodes or controller_uid(pod):
                    self._delete(PODS, meta["namespace"], meta["name"])
                continue
            if status.get("phase") == "Running":
                continue
            host_ip = internal_ip(node) or ""
            pod_ip = host_ip if spec.get("hostNetwork") else self._address(node, meta.get("uid", meta["name"]), used)
            used.add(pod_ip)
            started = now()
            containers = spec.get("containers") or []
            statuses = [
                {
                    "name": c.get("name", ""),
                    "image": c.get("image", ""),
                    "imageID": _image_id(str(c.get("image", ""))),
                    "containerID": _container_id(meta.get("uid", ""), str(c.get("name", ""))),
                    "ready": True,
                    "started": True,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": started}},
                    "lastState": {},
                }
                for c in containers
            ]
            scheduled_at = next(
                (
                    c.get("lastTransitionTime")
                    for c in status.get("conditions") or []
                    if c.get("type") == "PodScheduled"
                ),
                started,
            )
            pod["status"] = {
                **status,
                "phase": "Running",
                "hostIP": host_ip,
                "hostIPs": [{"ip": host_ip}],
                "podIP": pod_ip,
                "podIPs": [{"ip": pod_ip}],
                "startTime": started,
                "qosClass": status.get("qosClass", "BestEffort"),
                "containerStatuses": statuses,
                "conditions": [
                    {
                        "type": "PodReadyToStartContainers",
                        "status": "True",
                        "lastProbeTime": None,
                        "lastTransitionTime": started,
                    },
                    {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": started},
                    {"type": "Ready", "status": "True", "lastProbeTime": None, "lastTransitionTime": started},
                    {"type": "ContainersReady", "status": "True", "lastProbeTime": None, "lastTransitionTime": started},
                    {
                        "type": "PodScheduled",
                        "status": "True",
                        "lastProbeTime": None,
                        "lastTransitionTime": scheduled_at,
                    },
                ],
            }
            if self._replace(PODS, pod) is not None:
                for c in containers:
                    image = c.get("image", "")
                    self.event(pod, PODS, "Pulled", f'Container image "{image}" already present on machine')
                    self.event(pod, PODS, "Created", f"Created container {c.get('name', '')}")
                    self.event(pod, PODS, "Started", f"Started container {c.get('name', '')}")

    def _address(self, node: dict[str, Any], seed: str, used: set[str]) -> str:
        """A free address for a pod in its node's subnet (never one AWS reserves)."""
        cidr = self._cidr(node)
        network = ipaddress.ip_network(cidr or "192.168.0.0/24", strict=False)
        usable = max(network.num_addresses - 5, 1)
        start = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") % usable
        for step in range(usable):
            candidate = str(network.network_address + 4 + (start + step) % usable)
            if candidate not in used:
                return candidate
        return str(network.network_address + 4 + start)

    # --- services and endpoints ---

    def services(self) -> None:
        """A ClusterIP for every Service that has none, and node ports for NodePort and LoadBalancer ones."""
        services = self._list(SERVICES)
        ips = {s["spec"].get("clusterIP") for s in services if s.get("spec")}
        ports = {p.get("nodePort") for s in services for p in (s.get("spec") or {}).get("ports") or []}
        network = ipaddress.ip_network(self._service_cidr())
        for service in services:
            spec = service.setdefault("spec", {})
            changed = False
            if not spec.get("clusterIP"):
                seed = int.from_bytes(hashlib.sha256(service["metadata"]["uid"].encode()).digest()[:8], "big")
                for step in range(network.num_addresses - 20):
                    candidate = str(network.network_address + 20 + (seed + step) % (network.num_addresses - 21))
                    if candidate not in ips:
                        break
                ips.add(candidate)
                spec["clusterIP"], spec["clusterIPs"] = candidate, [candidate]
                spec.setdefault("type", "ClusterIP")
                spec.setdefault("sessionAffinity", "None")
                changed = True
            if spec.get("type") in ("NodePort", "LoadBalancer"):
                for port in spec.get("ports") or []:
                    if port.get("nodePort"):
                        continue
                    seed = int.from_bytes(
                        hashlib.sha256(f"{service['metadata']['uid']}/{port.get('port')}".encode()).digest()[:4], "big"
                    )
                    for step in range(len(NODE_PORTS)):
                        number = NODE_PORTS[(seed + step) % len(NODE_PORTS)]
                        if number not in ports:
                            break
                    ports.add(number)
                    port["nodePort"] = number
                    changed = True
            if changed:
                self._replace(SERVICES, service)

    def endpoints(self) -> None:
        """Endpoints for each Service with a selector: its ready pods' addresses and the target ports."""
        pods = [p for p in self._list(PODS) if is_ready(p)]
        existing = {(e["metadata"]["namespace"], e["metadata"]["name"]): e for e in self._list(ENDPOINTS)}
        wanted: set[tuple[str, str]] = set()
        for service in self._list(SERVICES):
            meta, spec = service["metadata"], service.get("spec") or {}
            selector = spec.get("selector")
            if not selector:
                continue
            key = (meta["namespace"], meta["name"])
            wanted.add(key)
            chosen = [
                p
                for p in pods
                if p["metadata"]["namespace"] == meta["namespace"]
                and all((p["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())
            ]
            subsets = _subsets(spec, chosen)
            body: dict[str, Any] = {
                "metadata": {
                    "name": meta["name"],
                    "namespace": meta["namespace"],
                    "labels": dict(meta.get("labels") or {}),
                },
            }
            if subsets:
                body["subsets"] = subsets
            current = existing.get(key)
            if current is None:
                self._create(ENDPOINTS, body)
            elif current.get("subsets") != body.get("subsets"):
                current.pop("subsets", None)
                if subsets:
                    current["subsets"] = subsets
                self._replace(ENDPOINTS, current)
            self._managed_endpoints.add(key)
        for key in self._managed_endpoints - wanted:
            if key in existing:
                self._delete(ENDPOINTS, *key)
        self._managed_endpoints &= wanted


def _condition(old: dict[str, Any], stamp: str, kind: str, status: str, reason: str, message: str) -> dict[str, str]:
    """A Deployment condition, keeping its times while it says the same."""
    same = old.get("status") == status and old.get("reason") == reason
    return {
        "type": kind,
        "status": status,
        "lastUpdateTime": old.get("lastUpdateTime", stamp) if same else stamp,
        "lastTransitionTime": old.get("lastTransitionTime", stamp) if old.get("status") == status else stamp,
        "reason": reason,
        "message": message,
    }


def _without_times(status: dict[str, Any]) -> dict[str, Any]:
    status = copy.deepcopy(status)
    for condition in status.get("conditions") or []:
        condition.pop("lastUpdateTime", None)
        condition.pop("lastTransitionTime", None)
    return status


def _pod_spec_defaults(spec: dict[str, Any]) -> dict[str, Any]:
    """What the API server defaults in a pod spec that kubectl shows."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", SCHEDULER)
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("serviceAccountName", "default")
    return spec


def _container_id(pod_uid: str, name: str) -> str:
    return f"containerd://{hashlib.sha256(f'{pod_uid}/{name}'.encode()).hexdigest()}"


def _image_id(image: str) -> str:
    name = image.split("@")[0].rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    if "/" not in name:
        name = f"docker.io/library/{name}"
    return f"{name}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def _unschedulable(total: int, reasons: list[str]) -> str:
    """The scheduler's message for a pod no node takes: `0/N nodes are available: ...`."""
    if not total:
        return "no nodes available to schedule pods"
    counted: dict[str, int] = {}
    for reason in reasons:
        counted[reason] = counted.get(reason, 0) + 1
    detail = ", ".join(f"{count} {reason}" for reason, count in sorted(counted.items()))
    preemption = f"preemption: 0/{total} nodes are available: {total} Preemption is not helpful for scheduling."
    return f"0/{total} nodes are available: {detail}. {preemption}"


def _target_port(port: dict[str, Any], pod: dict[str, Any]) -> int | None:
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for declared in container.get("ports") or []:
            if declared.get("name") == target:
                return int(declared["containerPort"])
    return None


def _subsets(spec: dict[str, Any], pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Endpoints subsets: pods grouped by the ports they serve."""
    groups: dict[str, dict[str, Any]] = {}
    for pod in sorted(pods, key=lambda p: str(p["status"].get("podIP"))):
        ports = []
        for port in spec.get("ports") or []:
            number = _target_port(port, pod)
            if number is None:
                continue
            entry = {"port": number, "protocol": port.get("protocol", "TCP")}
            if port.get("name"):
                entry["name"] = port["name"]
            ports.append(entry)
        if not ports:
            continue
        key = json.dumps(ports, sort_keys=True)
        group = groups.setdefault(key, {"addresses": [], "ports": ports})
        group["addresses"].append(
            {
                "ip": pod["status"]["podIP"],
                "nodeName": pod["spec"].get("nodeName"),
                "targetRef": {
                    "kind": "Pod",
                    "namespace": pod["metadata"]["namespace"],
                    "name": pod["metadata"]["name"],
                    "uid": pod["metadata"].get("uid"),
                },
            }
        )
    return list(groups.values())
