"""The Kubernetes API surface of the emulator over HTTPS: discovery, routing, verbs, patches, subresources,
defaults, validation, Table output and watches, and the real kubectl driving them."""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import subprocess
import threading
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from local.kube import KubeEmulator, authz
from local.kube.objects import PODS
from tests.functional.test_kube_emulator import CLUSTER, CREATOR, IDENTITIES, REGION, SECRETS, STS_HOST, make_token

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from local.kube.authz import Attributes

NODE = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {"name": "ip-192-168-1-2.us-west-2.compute.internal", "creationTimestamp": "2026-01-01T00:00:00Z"},
    "status": {
        "conditions": [{"type": "Ready", "status": "True"}],
        "addresses": [{"type": "InternalIP", "address": "192.168.1.2"}],
        "nodeInfo": {
            "kubeletVersion": "v1.32.0-eks-local",
            "osImage": "Amazon Linux 2023",
            "kernelVersion": "6.1.0",
            "containerRuntimeVersion": "containerd://1.7.0",
        },
    },
}
TABLE = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)
PODS_PATH = "/api/v1/namespaces/default/pods"
SERVICES_PATH = "/api/v1/namespaces/default/services"
DEPLOYMENTS_PATH = "/apis/apps/v1/namespaces/default/deployments"


@pytest.fixture
def emulator() -> Iterator[KubeEmulator]:
    emulator = KubeEmulator(
        CLUSTER,
        REGION,
        sts_hosts={STS_HOST},
        secrets=SECRETS,
        identities=IDENTITIES,
        creator_arn=CREATOR,
        nodes=lambda: [NODE],
    )
    emulator.start()
    yield emulator
    emulator.stop()


class Api:
    """A JSON client for the emulator as the cluster creator, with the headers kubectl varies."""

    def __init__(self, emulator: KubeEmulator) -> None:
        self.endpoint = emulator.endpoint
        self.context = ssl.create_default_context(cadata=base64.b64decode(emulator.ca_data).decode())
        self.token = make_token()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> urllib.request.Request:
        headers = {"Accept": accept, "Authorization": f"Bearer {self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        return urllib.request.Request(self.endpoint + path, data=data, headers=headers, method=method)

    def __call__(self, method: str, path: str, body: Any = None, **kwargs: str) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(
                self.request(method, path, body, **kwargs), context=self.context, timeout=10
            ) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def ok(self, method: str, path: str, body: Any = None, **kwargs: str) -> dict[str, Any]:
        status, answer = self(method, path, body, **kwargs)
        assert status in {200, 201}, answer
        return answer


@pytest.fixture
def api(emulator: KubeEmulator) -> Api:
    return Api(emulator)


def pod(name: str, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}], **spec},
    }


def deployment(name: str = "web", replicas: int | None = 2) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]},
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": spec}


# --- discovery ---


def test_discovery_lists_every_kind_with_short_names_categories_and_subresources(api: Api) -> None:
    core = {r["name"]: r for r in api.ok("GET", "/api/v1")["resources"]}
    assert {"pods", "services", "endpoints", "configmaps", "secrets", "serviceaccounts", "nodes", "events"} <= set(core)
    assert core["pods"]["shortNames"] == ["po"] and core["pods"]["categories"] == ["all"]
    assert core["services"]["shortNames"] == ["svc"] and core["nodes"]["verbs"] == ["get", "list", "watch"]
    assert {"create", "delete", "get", "list", "patch", "update", "watch"} <= set(core["pods"]["verbs"])
    assert "pods/status" in core
    groups = {g["name"] for g in api.ok("GET", "/apis")["groups"]}
    assert {"apps", "rbac.authorization.k8s.io"} <= groups
    apps = {r["name"]: r for r in api.ok("GET", "/apis/apps/v1")["resources"]}
    assert apps["deployments"]["shortNames"] == ["deploy"] and apps["replicasets"]["shortNames"] == ["rs"]
    assert apps["deployments/scale"]["group"] == "autoscaling" and apps["deployments/scale"]["kind"] == "Scale"
    rbac = {r["name"] for r in api.ok("GET", "/apis/rbac.authorization.k8s.io/v1")["resources"]}
    assert {"clusterroles", "clusterrolebindings", "roles", "rolebindings"} <= rbac


def test_openapi_v3_tells_kubectl_the_server_validates_fields(api: Api) -> None:
    index = api.ok("GET", "/openapi/v3")["paths"]
    assert {"api/v1", "apis/apps/v1", "apis/rbac.authorization.k8s.io/v1"} <= set(index)
    document = api.ok("GET", index["apis/apps/v1"]["serverRelativeURL"].split("?")[0])
    patch = document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
    assert api("GET", "/openapi/v3/apis/nothing/v1")[0] == 404


def test_unknown_resource_is_404(api: Api) -> None:
    assert api("GET", "/api/v1/widgets")[0] == 404
    assert api("GET", "/apis/apps/v1/namespaces/default/pods")[0] == 404
    assert api("GET", "/api/v1/namespaces/default/pods/x/frobnicate")[0] == 404


def test_every_request_is_authorized_with_the_attributes_the_api_server_derives(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Attributes] = []
    original = authz.authorize_request

    def recording(user: str, groups: list[str], attrs: Attributes, store: Any) -> None:
        seen.append(attrs)
        original(user, groups, attrs, store)

    monkeypatch.setattr(authz, "authorize_request", recording)
    api.ok("POST", DEPLOYMENTS_PATH, deployment())
    api.ok("GET", DEPLOYMENTS_PATH + "/web/scale")
    api.ok("GET", "/api/v1/pods")
    api.ok("DELETE", DEPLOYMENTS_PATH + "/web")
    api.ok("GET", "/apis")
    assert [(a.verb, a.api_group, a.resource, a.namespace, a.name, a.subresource) for a in seen] == [
        ("create", "apps", "deployments", "default", "", ""),
        ("get", "apps", "deployments", "default", "web", "scale"),
        ("list", "", "pods", "", "", ""),
        ("delete", "apps", "deployments", "default", "web", ""),
        ("get", "", "", "", "", ""),
    ]
    assert seen[-1].path == "/apis"


# --- create, defaults, validation ---


def test_created_pod_is_pending_with_the_defaults_kubectl_shows(api: Api) -> None:
    created = api.ok("POST", PODS_PATH, pod("web"))
    assert created["status"]["phase"] == "Pending"
    assert created["spec"]["restartPolicy"] == "Always" and created["spec"]["serviceAccountName"] == "default"
    assert created["spec"]["containers"][0]["ports"][0]["protocol"] == "TCP"
    assert created["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    generated = api.ok("POST", PODS_PATH, {**pod(""), "metadata": {"generateName": "web-"}})
    assert generated["metadata"]["name"].startswith("web-") and len(generated["metadata"]["name"]) == 9


def test_service_gets_a_cluster_ip_from_the_eks_service_cidr(api: Api) -> None:
    body = {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}
    created = api.ok("POST", SERVICES_PATH, body)
    spec = created["spec"]
    assert spec["type"] == "ClusterIP" and spec["clusterIP"].startswith("10.100.")
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert api.ok("GET", SERVICES_PATH + "/kubernetes")["spec"]["clusterIP"] == "10.100.0.1"
    lb = api.ok(
        "POST", SERVICES_PATH, {**body, "metadata": {"name": "lb"}, "spec": {**body["spec"], "type": "LoadBalancer"}}
    )
    assert 30000 <= lb["spec"]["ports"][0]["nodePort"] <= 32767
    status, refused = api("POST", SERVICES_PATH, {**body, "metadata": {"name": "x"}, "spec": {"clusterIP": "10.0.0.5"}})
    assert (status, refused["reason"]) == (422, "Invalid")
    assert refused["details"]["causes"][0]["field"] == "spec.clusterIP"


def test_deployment_defaults_replicas_and_generation_advances_on_spec_changes(api: Api) -> None:
    created = api.ok("POST", DEPLOYMENTS_PATH, deployment(replicas=None))
    assert created["spec"]["replicas"] == 1 and created["metadata"]["generation"] == 1
    labelled = api.ok(
        "PATCH",
        DEPLOYMENTS_PATH + "/web",
        {"metadata": {"labels": {"a": "b"}}},
        content_type="application/merge-patch+json",
    )
    assert labelled["metadata"]["generation"] == 1
    scaled = api.ok(
        "PATCH", DEPLOYMENTS_PATH + "/web", {"spec": {"replicas": 3}}, content_type="application/merge-patch+json"
    )
    assert scaled["metadata"]["generation"] == 2


def test_invalid_object_is_422_naming_the_field(api: Api) -> None:
    body = pod("bad")
    body["spec"]["containers"][0].pop("name")
    status, answer = api("POST", PODS_PATH, body)
    assert (status, answer["reason"]) == (422, "Invalid")
    assert answer["details"]["causes"] == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers[0].name"}
    ]
    assert answer["message"] == 'Pod "bad" is invalid: spec.containers[0].name: Required value'
    status, answer = api(
        "POST", DEPLOYMENTS_PATH, {**deployment(), "spec": {**deployment()["spec"], "replicas": "two"}}
    )
    assert status == 422 and answer["details"]["causes"][0]["field"] == "spec.replicas"
    assert api("GET", PODS_PATH + "/bad")[0] == 404


def test_unknown_fields_are_refused_under_strict_validation_and_dropped_otherwise(api: Api) -> None:
    body = pod("web")
    body["spec"]["containers"][0]["imagee"] = "typo"
    status, answer = api("POST", PODS_PATH + "?fieldValidation=Strict", body)
    assert status == 400 and answer["message"] == 'strict decoding error: unknown field "spec.containers[0].imagee"'
    created = api.ok("POST", PODS_PATH + "?fieldValidation=Ignore", body)
    assert "imagee" not in created["spec"]["containers"][0]


def test_dry_run_answers_without_storing(api: Api) -> None:
    answer = api.ok("POST", PODS_PATH + "?dryRun=All", pod("dry"))
    assert answer["status"]["phase"] == "Pending" and answer["metadata"]["uid"]
    assert api("GET", PODS_PATH + "/dry")[0] == 404
    api.ok("POST", PODS_PATH, pod("real"))
    api.ok("DELETE", PODS_PATH + "/real?dryRun=All")
    assert api("GET", PODS_PATH + "/real")[0] == 200


# --- list, selectors, tables ---


def test_lists_filter_by_label_and_field_selectors_in_one_namespace_or_all(api: Api) -> None:
    api.ok("POST", "/api/v1/namespaces", {"metadata": {"name": "team"}})
    api.ok("POST", PODS_PATH, pod("a", {"app": "web", "tier": "front"}))
    api.ok("POST", PODS_PATH, pod("b", {"app": "web", "tier": "back"}))
    api.ok("POST", PODS_PATH, pod("c", {"app": "db"}, nodeName="node-1"))
    api.ok("POST", "/api/v1/namespaces/team/pods", pod("d", {"app": "web"}))

    def names(path: str) -> list[str]:
        return [i["metadata"]["name"] for i in api.ok("GET", path)["items"]]

    assert names(PODS_PATH) == ["a", "b", "c"]
    assert names("/api/v1/pods") == ["a", "b", "c", "d"]
    assert names("/api/v1/pods?labelSelector=app%3Dweb") == ["a", "b", "d"]
    assert names(PODS_PATH + "?labelSelector=app%3Dweb,tier%20notin%20(back)") == ["a"]
    assert names(PODS_PATH + "?labelSelector=!tier") == ["c"]
    assert names(PODS_PATH + "?fieldSelector=spec.nodeName%3Dnode-1") == ["c"]
    assert names("/api/v1/pods?fieldSelector=metadata.namespace%21%3Ddefault,status.phase%3DPending") == ["d"]
    assert api("GET", PODS_PATH + "?fieldSelector=spec.color%3Dred")[0] == 400
    assert api("GET", "/api/v1/namespaces/nowhere/pods")[0] == 404


def test_table_output_for_pods_services_nodes_and_deployments(api: Api) -> None:
    api.ok("POST", PODS_PATH, pod("web"))
    api.ok("POST", DEPLOYMENTS_PATH, deployment())
    pods = api.ok("GET", PODS_PATH, accept=TABLE)
    assert pods["kind"] == "Table" and pods["apiVersion"] == "meta.k8s.io/v1"
    assert [(c["name"], c["priority"]) for c in pods["columnDefinitions"]][:6] == [
        ("Name", 0),
        ("Ready", 0),
        ("Status", 0),
        ("Restarts", 0),
        ("Age", 0),
        ("IP", 1),
    ]
    assert pods["rows"][0]["cells"][:4] == ["web", "0/1", "Pending", 0]
    assert pods["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    full = api.ok("GET", PODS_PATH + "?includeObject=Object", accept=TABLE)
    assert full["rows"][0]["object"]["kind"] == "Pod"
    services = api.ok("GET", SERVICES_PATH, accept=TABLE)
    assert [c["name"] for c in services["columnDefinitions"]] == [
        "Name",
        "Type",
        "Cluster-IP",
        "External-IP",
        "Port(s)",
        "Age",
        "Selector",
    ]
    nodes = api.ok("GET", "/api/v1/nodes", accept=TABLE)
    assert nodes["rows"][0]["cells"][:2] == [NODE["metadata"]["name"], "Ready"]
    assert nodes["rows"][0]["cells"][4:8] == ["v1.32.0-eks-local", "192.168.1.2", "<none>", "Amazon Linux 2023"]
    one = api.ok("GET", DEPLOYMENTS_PATH + "/web", accept=TABLE)
    assert one["rows"][0]["cells"][:4] == ["web", "0/2", 0, 0]
    assert api.ok("GET", "/api/v1/nodes")["items"] == [NODE]


# --- update, patch, subresources ---


def test_patches_of_each_media_type(api: Api) -> None:
    api.ok("POST", DEPLOYMENTS_PATH, deployment())
    strategic = {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "busybox"}]}}}}
    patched = api.ok(
        "PATCH", DEPLOYMENTS_PATH + "/web", strategic, content_type="application/strategic-merge-patch+json"
    )
    assert [c["name"] for c in patched["spec"]["template"]["spec"]["containers"]] == ["nginx", "sidecar"]
    merged = api.ok("PATCH", DEPLOYMENTS_PATH + "/web", strategic, content_type="application/merge-patch+json")
    assert [c["name"] for c in merged["spec"]["template"]["spec"]["containers"]] == ["sidecar"]
    ops = [{"op": "add", "path": "/metadata/annotations", "value": {"note": "x"}}]
    assert api.ok("PATCH", DEPLOYMENTS_PATH + "/web", ops, content_type="application/json-patch+json")["metadata"][
        "annotations"
    ] == {"note": "x"}
    stale = {"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 5}}
    assert api("PATCH", DEPLOYMENTS_PATH + "/web", stale, content_type="application/merge-patch+json")[0] == 409
    bad = {"spec": {"replicas": "many"}}
    assert api("PATCH", DEPLOYMENTS_PATH + "/web", bad, content_type="application/merge-patch+json")[0] == 422
    assert api("PATCH", DEPLOYMENTS_PATH + "/web", bad, content_type="text/plain")[0] == 415
    assert api("PATCH", DEPLOYMENTS_PATH + "/nope", bad, content_type="application/merge-patch+json")[0] == 404


def test_scale_subresource_reads_and_writes_replicas(api: Api) -> None:
    api.ok("POST", DEPLOYMENTS_PATH, deployment())
    scale = api.ok("GET", DEPLOYMENTS_PATH + "/web/scale")
    assert (scale["kind"], scale["apiVersion"]) == ("Scale", "autoscaling/v1")
    assert scale["spec"] == {"replicas": 2} and scale["status"]["selector"] == "app=web"
    patched = api.ok(
        "PATCH", DEPLOYMENTS_PATH + "/web/scale", {"spec": {"replicas": 5}}, content_type="application/merge-patch+json"
    )
    assert patched["spec"]["replicas"] == 5
    assert api.ok("GET", DEPLOYMENTS_PATH + "/web")["spec"]["replicas"] == 5
    scale = api.ok("GET", DEPLOYMENTS_PATH + "/web/scale")
    assert api.ok("PUT", DEPLOYMENTS_PATH + "/web/scale", {**scale, "spec": {"replicas": 0}})["spec"]["replicas"] == 0
    assert api("PUT", DEPLOYMENTS_PATH + "/web/scale", {**scale, "spec": {"replicas": -1}})[0] == 422


def test_status_is_written_only_through_its_subresource(api: Api, emulator: KubeEmulator) -> None:
    created = api.ok("POST", PODS_PATH, pod("web"))
    replaced = api.ok("PUT", PODS_PATH + "/web", {**created, "status": {"phase": "Running"}})
    assert replaced["status"]["phase"] == "Pending"
    running = api.ok("PUT", PODS_PATH + "/web/status", {**replaced, "status": {"phase": "Running"}})
    assert running["status"]["phase"] == "Running"
    assert api.ok("GET", PODS_PATH + "/web/status")["status"]["phase"] == "Running"
    # Controllers write the store directly, status and all.
    current = emulator.objects.get(PODS, "default", "web")
    emulator.objects.replace("default", "web", {**current, "status": {"phase": "Succeeded"}}, PODS)
    assert api.ok("GET", PODS_PATH + "/web")["status"]["phase"] == "Succeeded"


# --- delete ---


def test_delete_takes_owned_objects_along_unless_orphaned(api: Api) -> None:
    owner = api.ok("POST", DEPLOYMENTS_PATH, deployment())
    reference = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": owner["metadata"]["uid"]}
    owned = {**pod("web-1"), "metadata": {"name": "web-1", "ownerReferences": [reference]}}
    api.ok("POST", PODS_PATH, owned)
    api.ok("DELETE", DEPLOYMENTS_PATH + "/web", {"kind": "DeleteOptions", "propagationPolicy": "Background"})
    assert api("GET", PODS_PATH + "/web-1")[0] == 404
    owner = api.ok("POST", DEPLOYMENTS_PATH, deployment())
    owned["metadata"]["ownerReferences"] = [{**reference, "uid": owner["metadata"]["uid"]}]
    api.ok("POST", PODS_PATH, owned)
    api.ok("DELETE", DEPLOYMENTS_PATH + "/web?propagationPolicy=Orphan")
    assert api("GET", PODS_PATH + "/web-1")[0] == 200
    assert api("DELETE", DEPLOYMENTS_PATH + "/web")[0] == 404


def test_deleting_a_namespace_empties_it_but_the_cluster_namespaces_stay(api: Api) -> None:
    api.ok("POST", "/api/v1/namespaces", {"metadata": {"name": "team"}})
    api.ok("POST", "/api/v1/namespaces/team/pods", pod("a"))
    api.ok("DELETE", "/api/v1/namespaces/team")
    assert api.ok("GET", "/api/v1/pods")["items"] == []
    status, answer = api("DELETE", "/api/v1/namespaces/default")
    assert (status, answer["reason"]) == (403, "Forbidden")


def test_deletecollection_deletes_what_the_selector_picks(api: Api) -> None:
    api.ok("POST", PODS_PATH, pod("a", {"app": "web"}))
    api.ok("POST", PODS_PATH, pod("b", {"app": "db"}))
    deleted = api.ok("DELETE", PODS_PATH + "?labelSelector=app%3Dweb")
    assert [i["metadata"]["name"] for i in deleted["items"]] == ["a"]
    assert [i["metadata"]["name"] for i in api.ok("GET", PODS_PATH)["items"]] == ["b"]


# --- watch and controllers' waiting ---


def test_watch_streams_changes_after_a_resource_version(api: Api) -> None:
    listed = api.ok("GET", PODS_PATH)
    request = api.request("GET", PODS_PATH + f"?watch=1&resourceVersion={listed['metadata']['resourceVersion']}")
    events: list[dict[str, Any]] = []

    def watch() -> None:
        with urllib.request.urlopen(request, context=api.context, timeout=10) as response:
            for line in response:
                events.append(json.loads(line))
                if len(events) == 3:
                    return

    watcher = threading.Thread(target=watch)
    watcher.start()
    api.ok("POST", PODS_PATH, pod("a"))
    api.ok("PATCH", PODS_PATH + "/a", {"metadata": {"labels": {"x": "y"}}}, content_type="application/merge-patch+json")
    api.ok("POST", SERVICES_PATH, {"metadata": {"name": "other"}, "spec": {"ports": [{"port": 80}]}})
    api.ok("DELETE", PODS_PATH + "/a")
    watcher.join(timeout=10)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "a"),
        ("MODIFIED", "a"),
        ("DELETED", "a"),
    ]


def test_wait_for_change_wakes_a_controller_on_the_next_write(api: Api, emulator: KubeEmulator) -> None:
    store = emulator.objects
    seen = store.revision
    assert store.wait_for_change(seen, 0.05) == seen  # nothing happened: back after the timeout
    woke: list[int] = []
    waiter = threading.Thread(target=lambda: woke.append(store.wait_for_change(seen, 10)))
    waiter.start()
    api.ok("POST", PODS_PATH, pod("a"))
    waiter.join(timeout=10)
    assert woke == [seen + 1]


# --- the real kubectl ---


def kubectl_config(emulator: KubeEmulator, tmp_path: Path) -> Path:
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": CLUSTER, "cluster": {"server": emulator.endpoint, "certificate-authority-data": emulator.ca_data}}
        ],
        "users": [{"name": "creator", "user": {"token": make_token()}}],
        "contexts": [{"name": CLUSTER, "context": {"cluster": CLUSTER, "user": "creator"}}],
        "current-context": CLUSTER,
    }
    config = tmp_path / "kubeconfig"
    config.write_text(yaml.safe_dump(kubeconfig))
    return config


def test_kubectl_walkthrough_commands(emulator: KubeEmulator, tmp_path: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    config = kubectl_config(emulator, tmp_path)
    manifest = tmp_path / "deployment.yaml"
    manifest.write_text(yaml.safe_dump(deployment("nginx")))

    def run(*args: str) -> str:
        result = subprocess.run(
            [kubectl, "--kubeconfig", str(config), *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
            check=False,
        )
        assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
        return result.stdout

    assert run("get", "ns").split("\n")[0].split() == ["NAME", "STATUS", "AGE"]
    assert "kube-system" in run("get", "namespaces", "-o", "name")
    assert run("create", "configmap", "settings", "--from-literal=color=blue").strip() == "configmap/settings created"
    assert json.loads(run("get", "cm", "settings", "-o", "json"))["data"] == {"color": "blue"}
    assert run("apply", "-f", str(manifest)).strip() == "deployment.apps/nginx created"
    assert run("apply", "-f", str(manifest)).strip() == "deployment.apps/nginx unchanged"
    assert run("label", "deployment", "nginx", "tier=web").strip() == "deployment.apps/nginx labeled"
    assert run("scale", "deployment", "nginx", "--replicas=3").strip() == "deployment.apps/nginx scaled"
    shown = run("get", "deploy", "nginx", "--show-labels")
    assert "0/3" in shown and "tier=web" in shown
    assert (
        run("run", "nginx", "--image", "nginx", "--restart", "Never", "-l", "app=nginx").strip() == "pod/nginx created"
    )
    wide = run("get", "pods", "-o", "wide").split("\n")
    assert wide[0].split() == [
        "NAME",
        "READY",
        "STATUS",
        "RESTARTS",
        "AGE",
        "IP",
        "NODE",
        "NOMINATED",
        "NODE",
        "READINESS",
        "GATES",
    ]
    assert wide[1].split()[:3] == ["nginx", "0/1", "Pending"]
    assert (
        run("expose", "deployment", "nginx", "--port", "80", "--type", "LoadBalancer").strip()
        == "service/nginx exposed"
    )
    service = run("get", "svc", "nginx", "-o", "wide").split("\n")[1].split()
    assert service[:2] == ["nginx", "LoadBalancer"] and service[2].startswith("10.100.") and service[3] == "<pending>"
    assert "deployment.apps/nginx" in run("get", "all")
    nodes = run("get", "nodes", "-o", "wide").split("\n")[1].split()
    assert nodes[:2] == [NODE["metadata"]["name"], "Ready"] and "192.168.1.2" in nodes
    assert "Kubernetes control plane is running at" in run("cluster-info")
    assert run("delete", "service", "nginx").strip() == 'service "nginx" deleted'
    assert run("delete", "deployment", "nginx").strip() == 'deployment.apps "nginx" deleted'
    assert run("delete", "pod", "nginx").strip() == 'pod "nginx" deleted'
    assert run("get", "deploy,svc,pods", "-o", "name").strip() == "service/kubernetes"


def test_kubectl_typed_creates_send_protobuf_and_are_read(emulator: KubeEmulator, tmp_path: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    config = kubectl_config(emulator, tmp_path)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [kubectl, "--kubeconfig", str(config), *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
            check=False,
        )

    for args in (
        ("create", "namespace", "dev"),
        ("create", "secret", "generic", "pw", "--from-literal=password=s3cret", "-n", "dev"),
        ("create", "deployment", "web", "--image=nginx:1.27", "--replicas=2", "--port=8080", "-n", "dev"),
        ("create", "clusterrolebinding", "readonly", "--clusterrole=view", "--group=readonly"),
        ("create", "serviceaccount", "bot", "-n", "dev"),
    ):
        result = run(*args)
        assert result.returncode == 0, result.stderr
    secret = json.loads(run("get", "secret", "pw", "-n", "dev", "-o", "json").stdout)
    assert base64.b64decode(secret["data"]["password"]) == b"s3cret" and secret["type"] == "Opaque"
    web = json.loads(run("get", "deploy", "web", "-n", "dev", "-o", "json").stdout)
    assert web["spec"]["replicas"] == 2
    assert web["spec"]["template"]["spec"]["containers"][0]["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    binding = json.loads(run("get", "clusterrolebinding", "readonly", "-o", "json").stdout)
    assert binding["roleRef"]["name"] == "view" and binding["subjects"][0]["name"] == "readonly"
    result = run("create", "configmap", "x", "-n", "nowhere", "--from-literal=a=b")
    assert result.returncode != 0 and 'namespaces "nowhere" not found' in result.stderr


def test_impersonation_headers_reach_the_server_every_group_of_them(api: Api, emulator: KubeEmulator) -> None:
    import http.client

    from local.kube.objects import CLUSTERROLEBINDINGS

    binding = {
        "metadata": {"name": "first-view"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "Group", "name": "first"}],
    }
    emulator.objects.create("", binding, CLUSTERROLEBINDINGS)
    host, port = emulator.endpoint.removeprefix("https://").split(":")

    def as_bob(*groups: str) -> tuple[int, dict[str, Any]]:
        connection = http.client.HTTPSConnection(host, int(port), context=api.context, timeout=10)
        connection.putrequest("GET", PODS_PATH)
        connection.putheader("Authorization", f"Bearer {api.token}")
        connection.putheader("Impersonate-User", "bob")
        for group in groups:  # kubectl --as-group sends one header per group
            connection.putheader("Impersonate-Group", group)
        connection.endheaders()
        response = connection.getresponse()
        answer = response.status, json.loads(response.read())
        connection.close()
        return answer

    assert as_bob("first", "second")[0] == 200
    code, answer = as_bob("second")
    assert code == 403 and 'User "bob" cannot list resource "pods"' in answer["message"]
