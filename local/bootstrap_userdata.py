"""What a node's EC2 user data tells its bootstrap: which cluster and endpoint it joins, with which labels and taints.

A self-managed node joins the cluster its bootstrap names, and no other. The three formats EKS
documents, as eksctl writes them:
- AL2023 (nodeadm): MIME multipart with a part `Content-Type: application/node.eks.aws` holding
  YAML `kind: NodeConfig` (`spec.cluster.name/apiServerEndpoint/certificateAuthority`,
  `spec.kubelet.flags`, `spec.kubelet.config.maxPods`); nodeadm also reads a bare NodeConfig document;
- AL2: a shell script running `/etc/eks/bootstrap.sh CLUSTER --apiserver-endpoint URL
  --kubelet-extra-args '--node-labels=... --register-with-taints=...'`;
- Bottlerocket: TOML `[settings.kubernetes]` with `cluster-name`, `api-server`, `cluster-certificate` (all
  required), `node-labels`, `node-taints`, `max-pods`, each of its type (else Bottlerocket applies none).
- Windows: PowerShell in `<powershell>` tags calling the image's `Start-EKSBootstrap.ps1` with
  `-EKSClusterName`, `-APIServerEndpoint`, `-Base64ClusterCA` (the script looks the last two up with
  DescribeCluster when they are not given) and `-KubeletExtraArgs '--node-labels=... --register-with-taints=...'`,
  its values given inline or as PowerShell variables set before (`[string]$EKSClusterName = '...'`).
A custom script (eksctl's `overrideBootstrapCommand`) counts when it runs bootstrap.sh, nodeadm with
a NodeConfig it writes itself, or Start-EKSBootstrap.ps1; anything else bootstraps nothing.
"""

from __future__ import annotations

import base64
import binascii
import email
import gzip
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from typing import Any

import yaml

NODEADM_CONTENT_TYPE = "application/node.eks.aws"
BOOTSTRAP_SH = "/etc/eks/bootstrap.sh"
_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_HEREDOC_END = re.compile(r"^[A-Z_]+$")


@dataclass
class Bootstrap:
    """A node's bootstrap settings. `endpoint` None: looked up with DescribeCluster (AL2's bootstrap.sh does)."""

    format: str
    cluster: str
    endpoint: str | None = None
    certificate_authority: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, str]] = field(default_factory=list)
    max_pods: int | None = None


def decode(user_data: Any) -> str:
    """User data as text: base64 (as EC2 keeps it), possibly gzipped."""
    if hasattr(user_data, "as_bytes"):  # moto's Base64EncodedString
        data = base64.b64decode(user_data.as_bytes())
    else:
        raw = str(user_data or "")
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            data = raw.encode()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("utf-8", errors="replace")


def parse(user_data: Any) -> Bootstrap | None:
    """The bootstrap a node's user data runs, or None when it runs none this emulator recognises."""
    return parse_text(decode(user_data))


def parse_text(text: str) -> Bootstrap | None:
    if re.search(r"(?i)<powershell>", text):
        return _powershell(text)
    if re.search(r"(?im)^content-type:\s*multipart/", text):
        return _mime(text)
    toml = _toml(text)
    if toml is not None:
        return toml
    if re.search(r"(?m)^kind:\s*NodeConfig\s*$", text) and not text.startswith("#!"):
        return _nodeconfig(text)
    return _script(text)


def _mime(text: str) -> Bootstrap | None:
    message = email.message_from_string(text)
    configs: list[str] = []
    found: Bootstrap | None = None
    for part in message.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        body = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else str(part.get_payload())
        if part.get_content_type() == NODEADM_CONTENT_TYPE:
            configs.append(body)
        elif found is None:
            found = _script(body)
    if configs:
        return _nodeconfig("\n---\n".join(configs))
    return found


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """nodeadm merges every NodeConfig document; later ones win, maps merge."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _nodeconfig(text: str) -> Bootstrap | None:
    try:
        documents = [d for d in yaml.safe_load_all(text) if isinstance(d, dict) and d.get("kind") == "NodeConfig"]
    except yaml.YAMLError:
        return None
    spec: dict[str, Any] = {}
    for document in documents:
        spec = _merge(spec, document.get("spec") or {})
    cluster = spec.get("cluster") or {}
    # nodeadm refuses a NodeConfig without these (its ValidateNodeConfig): the node never starts its kubelet.
    if not all(cluster.get(key) for key in ("name", "apiServerEndpoint", "certificateAuthority", "cidr")):
        return None
    kubelet = spec.get("kubelet") or {}
    config = kubelet.get("config") or {}
    boot = Bootstrap("nodeadm", str(cluster["name"]), str(cluster["apiServerEndpoint"]))
    boot.certificate_authority = str(cluster["certificateAuthority"])
    _kubelet_flags(boot, [str(f) for f in kubelet.get("flags") or []])
    for taint in config.get("registerWithTaints") or []:
        boot.taints.append({k: str(taint[k]) for k in ("key", "value", "effect") if taint.get(k) is not None})
    if config.get("maxPods") is not None:
        boot.max_pods = int(config["maxPods"])
    return boot


def _toml(text: str) -> Bootstrap | None:
    try:
        settings = tomllib.loads(text).get("settings") or {}
    except tomllib.TOMLDecodeError:
        return None
    kubernetes = settings.get("kubernetes") if isinstance(settings, dict) else None
    if not isinstance(kubernetes, dict):
        return None
    # Bottlerocket's kubelet does not start without the cluster's name, API server and CA, and its API
    # refuses the whole user data when a setting has the wrong type: the node then boots with none.
    if not all(isinstance(kubernetes.get(key), str) and kubernetes[key] for key in _BOTTLEROCKET_REQUIRED):
        return None
    if not _bottlerocket_types_ok(settings):
        return None
    boot = Bootstrap("bottlerocket", str(kubernetes["cluster-name"]), str(kubernetes["api-server"]))
    boot.certificate_authority = kubernetes.get("cluster-certificate")
    boot.labels = {str(k): str(v) for k, v in (kubernetes.get("node-labels") or {}).items()}
    for key, values in (kubernetes.get("node-taints") or {}).items():
        for value in values if isinstance(values, list) else [values]:
            taint_value, _, effect = str(value).rpartition(":")
            boot.taints.append({"key": str(key), "value": taint_value, "effect": effect})
    if kubernetes.get("max-pods") is not None:
        boot.max_pods = int(kubernetes["max-pods"])
    return boot


_BOTTLEROCKET_REQUIRED = ("cluster-name", "api-server", "cluster-certificate")


def _bottlerocket_types_ok(settings: dict[str, Any]) -> bool:
    """The types Bottlerocket's API holds the settings a node group's user data sets to."""
    kubernetes = settings["kubernetes"]
    labels = kubernetes.get("node-labels", {})
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        return False
    taints = kubernetes.get("node-taints", {})
    if not isinstance(taints, dict):
        return False
    for value in taints.values():
        if not all(isinstance(v, str) for v in (value if isinstance(value, list) else [value])):
            return False
    max_pods = kubernetes.get("max-pods")
    if max_pods is not None and (isinstance(max_pods, bool) or not isinstance(max_pods, int)):
        return False
    containers = settings.get("host-containers", {})
    if not isinstance(containers, dict):
        return False
    for container in containers.values():
        if not isinstance(container, dict):
            return False
        if "enabled" in container and not isinstance(container["enabled"], bool):
            return False
    return True


def _script(text: str) -> Bootstrap | None:
    """A shell script's bootstrap: bootstrap.sh's arguments, or the NodeConfig it hands to nodeadm."""
    lines = text.replace("\\\n", " ").splitlines()
    variables: dict[str, str] = {}
    for line in lines:
        if BOOTSTRAP_SH in line:
            return _bootstrap_sh(line, variables)
        if re.search(r"\bnodeadm\s+init\b", line):
            return _embedded_nodeconfig(text)
        match = _ASSIGNMENT.match(line)
        if match:
            variables[match[1]] = _expand(_unquote(match[2]), variables)
    return None


def _unquote(value: str) -> str:
    try:
        words = shlex.split(value, comments=True)
    except ValueError:
        return value.strip()
    return " ".join(words)


def _expand(value: str, variables: dict[str, str]) -> str:
    return re.sub(
        r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?",
        lambda m: variables.get(m[1], m[0]),
        value,
    )


def _bootstrap_sh(line: str, variables: dict[str, str]) -> Bootstrap | None:
    try:
        words = shlex.split(_expand(line.split(BOOTSTRAP_SH, 1)[1], variables), comments=True)
    except ValueError:
        return None
    words = [w for w in words if w not in (";", "&&")]
    cluster: str | None = None
    options: dict[str, str] = {}
    index = 0
    while index < len(words):
        word = words[index]
        if word.startswith("--"):
            name, eq, value = word.partition("=")
            if not eq and index + 1 < len(words):
                index += 1
                value = words[index]
            options[name] = value
        elif cluster is None:
            cluster = word
        index += 1
    if not cluster or cluster.startswith("$"):
        return None
    boot = Bootstrap("bootstrap.sh", cluster, options.get("--apiserver-endpoint"))
    boot.certificate_authority = options.get("--b64-cluster-ca")
    _kubelet_flags(boot, shlex.split(options.get("--kubelet-extra-args", "")))
    return boot


def _embedded_nodeconfig(text: str) -> Bootstrap | None:
    """The NodeConfig a custom script writes (a heredoc) before it runs `nodeadm init`."""
    start = text.find("apiVersion: node.eks.aws")
    if start < 0:
        return None
    block = []
    for line in text[start:].splitlines():
        if _HEREDOC_END.match(line.strip()) or re.search(r"\bnodeadm\s+init\b", line):
            break
        block.append(line)
    return _nodeconfig("\n".join(block))


_PS_SCRIPT = "Start-EKSBootstrap.ps1"
_PS_VARIABLE = re.compile(r"^\s*(?:\[string\])?\$([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.+?)\s*$")
_PS_TARGET = re.compile(r"""'(?:[^']|'')*'|"(?:[^"`]|`.)*"|\S+""")
_PS_ARGUMENT = re.compile(r"""-([A-Za-z][A-Za-z0-9]*)\s+('(?:[^']|'')*'|"(?:[^"`]|`.)*"|\$[A-Za-z_][A-Za-z0-9_]*)""")


def _ps_value(token: str, variables: dict[str, str]) -> str:
    """A PowerShell string as the script receives it: single quotes literal, double quotes expanding `$Name`."""
    if token.startswith("'"):
        return token[1:-1].replace("''", "'")
    if token.startswith("$"):
        return variables.get(token[1:], "")
    inner = re.sub(r"\$([A-Za-z_][A-Za-z0-9_]*)", lambda m: variables.get(m[1], ""), token[1:-1])
    return re.sub(r"`(.)", r"\1", inner)


def _powershell(text: str) -> Bootstrap | None:
    """The arguments a Windows node's PowerShell hands Start-EKSBootstrap.ps1 (inline or via variables)."""
    body = re.split(r"(?i)</powershell>", re.split(r"(?i)<powershell>", text, maxsplit=1)[1], maxsplit=1)[0]
    variables: dict[str, str] = {}
    for line in body.splitlines():
        match = _PS_VARIABLE.match(line)
        if match and match[2][:1] in ("'", '"'):
            variables[match[1]] = _ps_value(match[2], variables)
            continue
        if not re.match(r"^\s*&", line):
            continue
        target = _PS_TARGET.match(line.split("&", 1)[1].strip())
        token = target[0] if target else ""
        script = _ps_value(token, variables) if token.startswith(("$", "'", '"')) else token
        if not script.endswith(_PS_SCRIPT):
            continue
        arguments = {m[1]: _ps_value(m[2], variables) for m in _PS_ARGUMENT.finditer(line)}
        cluster = arguments.get("EKSClusterName")
        if not cluster:
            return None
        boot = Bootstrap("powershell", cluster, arguments.get("APIServerEndpoint") or None)
        boot.certificate_authority = arguments.get("Base64ClusterCA") or None
        try:
            _kubelet_flags(boot, shlex.split(arguments.get("KubeletExtraArgs", "")))
        except ValueError:
            return None
        return boot
    return None


def _kubelet_flags(boot: Bootstrap, flags: list[str]) -> None:
    """Labels, taints and max pods from kubelet flags (`--node-labels=a=b,c=d`, `--register-with-taints=k=v:E`)."""
    index = 0
    while index < len(flags):
        name, eq, value = flags[index].partition("=")
        if not eq and index + 1 < len(flags) and not flags[index + 1].startswith("--"):
            index += 1
            value = flags[index]
        index += 1
        if name == "--node-labels":
            for item in filter(None, value.split(",")):
                key, _, label = item.partition("=")
                boot.labels[key] = label
        elif name == "--register-with-taints":
            for item in filter(None, value.split(",")):
                key_value, _, effect = item.rpartition(":")
                key, _, taint_value = key_value.partition("=")
                boot.taints.append({"key": key, "value": taint_value, "effect": effect})
        elif name == "--max-pods" and value.isdigit():
            boot.max_pods = int(value)
