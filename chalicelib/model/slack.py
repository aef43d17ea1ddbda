"""Slack, the pure part: the `/eks` command grammar and the Block Kit messages we send.

Nothing here talks to Slack or AWS; `slackapp.py` verifies requests and calls the
same use-cases as the HTTP API, `notify.py` posts these messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from chalicelib.model import naming

COMMAND = "/eks"
ACTIONS = ("create", "status", "list", "extend", "delete", "help")
CREATE_OPTIONS = {"region", "nodes", "type", "ttl", "version", "pool"}
EXTEND_ACTION = "extend_24h"
DELETE_ACTION = "delete_now"
EXTEND_BUTTON_HOURS = 24

USAGE = (
    "*Usage*\n"
    "`/eks create NAME [region=R] [nodes=N] [type=INSTANCE] [ttl=8h|2d] [version=1.33] [pool=P]`\n"
    "`/eks status NAME` · `/eks list` · `/eks extend NAME 4h` · `/eks delete NAME` · `/eks help`"
)
_DURATION = re.compile(r"^(\d{1,5})([hd]?)$")


class UsageError(ValueError):
    """The command text does not parse; the message says what is wrong."""


@dataclass(frozen=True)
class Command:
    action: str
    name: str = ""
    options: dict[str, str] = field(default_factory=dict)
    hours: int = 0


def parse_hours(text: str, what: str) -> int:
    """`8h`, `8` (hours) or `2d` (days) → hours."""
    found = _DURATION.match(text.strip().lower())
    if not found or int(found.group(1)) == 0:
        raise UsageError(f"{what} must look like `8h` or `2d`, not `{text}`")
    value = int(found.group(1))
    return value * 24 if found.group(2) == "d" else value


def parse(text: str) -> Command:
    """`create mz-k8s region=ap-northeast-1 nodes=3` → Command; anything else → UsageError."""
    words = text.split()
    if not words or words[0].lower() == "help":
        return Command("help")
    action, args = words[0].lower(), words[1:]
    if action not in ACTIONS:
        raise UsageError(f"unknown command `{action}`")
    if action == "list":
        if args:
            raise UsageError("`list` takes no arguments")
        return Command("list")
    if not args:
        raise UsageError(f"`{action}` needs a cluster name")
    name, rest = args[0], args[1:]
    if action == "create":
        options: dict[str, str] = {}
        for word in rest:
            key, sep, value = word.partition("=")
            if not sep or not value:
                raise UsageError(f"`{word}`: options are written key=value")
            if key not in CREATE_OPTIONS:
                raise UsageError(f"unknown option `{key}`; known: {', '.join(sorted(CREATE_OPTIONS))}")
            options[key] = value
        return Command("create", name, options)
    if action == "extend":
        if len(rest) != 1:
            raise UsageError("`extend` takes a name and a duration: `/eks extend NAME 4h`")
        return Command("extend", name, hours=parse_hours(rest[0], "the duration"))
    if rest:
        raise UsageError(f"`{action}` takes only a cluster name")
    return Command(action, name)


def create_body(command: Command) -> dict[str, Any]:
    """The `POST /clusters` body a create command stands for (validated by the same model).

    `pool=P` is a claim from the warm pool P, a fresh create when the pool cannot serve it (the API's
    default `whenPoolEmpty: create`).
    """
    body: dict[str, Any] = {"name": command.name}
    options = command.options
    if "pool" in options:
        body["pool"] = options["pool"]
    if "region" in options:
        body["region"] = options["region"]
    if "version" in options:
        body["version"] = options["version"]
    if "ttl" in options:
        body["ttlHours"] = parse_hours(options["ttl"], "ttl")
    if "nodes" in options or "type" in options:
        group: dict[str, Any] = {"name": naming.default_nodegroup_name(command.name)}
        if "nodes" in options:
            if not options["nodes"].isdigit():
                raise UsageError(f"nodes must be a number, not `{options['nodes']}`")
            nodes = int(options["nodes"])
            group.update({"desiredCapacity": nodes, "minSize": min(nodes, 1), "maxSize": max(nodes, 1)})
        if "type" in options:
            group["instanceType"] = options["type"]
        body["managedNodeGroups"] = [group]
    return body


# -- messages (Block Kit) -------------------------------------------------------------


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def message(text: str, blocks: list[dict[str, Any]], in_channel: bool = False, replace: bool = False) -> dict[str, Any]:
    """A response_url / webhook payload: `text` is the notification fallback."""
    payload: dict[str, Any] = {"response_type": "in_channel" if in_channel else "ephemeral", "text": text}
    payload["blocks"] = blocks
    if replace:
        payload["replace_original"] = True
    return payload


def usage(problem: str = "") -> dict[str, Any]:
    text = f":warning: {problem}\n\n{USAGE}" if problem else USAGE
    return message(problem or "How to use /eks", [_section(text)])


def error(text: str) -> dict[str, Any]:
    return message(text, [_section(f":x: {text}")])


def working(action: str, name: str) -> dict[str, Any]:
    """The answer Slack gets at once when the work is handed off; the outcome follows at the response_url."""
    doing = {"create": "Creating", "delete": "Deleting"}.get(action, action.title())
    return message(f"{doing} {name}", [_context(f":gear: {doing} *{name}*: checking the request, one moment")])


def create_started(record: dict[str, Any]) -> dict[str, Any]:
    name, region = record["name"], record["region"]
    groups = [*(record["spec"].get("managedNodeGroups") or []), *(record["spec"].get("nodeGroups") or [])]
    nodes = ", ".join(f"{g['desiredCapacity']} x {g['instanceType']}" for g in groups) or "no nodes"
    text = f"Creating *{name}* in `{region}` (Kubernetes {record['version']}, {nodes})"
    return message(
        f"Creating {name}",
        [
            _section(f":hourglass_flowing_sand: {text}. I'll post here when it is ready (about 15 minutes)."),
            _context(f"Lease ends {record['expiresAt']} · `/eks status {name}` to follow along"),
        ],
        in_channel=True,
    )


def claimed(record: dict[str, Any], pool: str) -> dict[str, Any]:
    """A claim's answer: the cluster is the caller's now; its nodes may still be scaling."""
    name, region = record["name"], record["region"]
    text = f":zap: *{name}* is yours, from the warm pool `{pool}` in `{region}` (Kubernetes {record['version']})"
    blocks = [_section(f"{text}. Its nodes are starting; `/eks status {name}` to follow along.")]
    blocks += [_section(f":warning: {warning}") for warning in record.get("warnings") or []]
    blocks.append(_context(f"Lease ends {record['expiresAt']} · EKS name `{record.get('eksName', name)}`"))
    return message(f"Claimed {name}", blocks, in_channel=True)


def status(record: dict[str, Any]) -> dict[str, Any]:
    name = record["name"]
    lines = [f"*{name}* is `{record['status']}` (phase {record.get('phase', '-')}) in `{record['region']}`"]
    endpoint = (record.get("cluster") or {}).get("endpoint")
    if endpoint:
        lines.append(f"Endpoint: {endpoint}")
    if record.get("failure"):
        lines.append(f"Failed: {record['failure'].get('reason')}")
    if record.get("expiresAt"):
        lines.append(f"Lease ends {record['expiresAt']}" + (" (protected)" if record.get("protected") else ""))
    recent = [f"• {e['at']} {e['message']}" for e in (record.get("events") or [])[-5:]]
    blocks = [_section("\n".join(lines))]
    if recent:
        blocks.append(_context("\n".join(recent)))
    return message(f"{name}: {record['status']}", blocks)


def cluster_list(records: list[dict[str, Any]]) -> dict[str, Any]:
    if not records:
        return message("No clusters", [_section("No clusters yet. `/eks create NAME` makes one.")])
    lines = [f"• *{r['name']}* `{r['status']}` {r['region']}" for r in records]
    return message(f"{len(records)} clusters", [_section("\n".join(lines))])


def extended(name: str, expires_at: str, replace: bool = False) -> dict[str, Any]:
    return message(
        f"{name} extended",
        [_section(f":white_check_mark: The lease of *{name}* now ends {expires_at}.")],
        replace=replace,
    )


def delete_started(name: str, by: str, replace: bool = False) -> dict[str, Any]:
    return message(
        f"Deleting {name}",
        [_section(f":wastebasket: Deleting *{name}* (requested by {by}). I'll post here when it is gone.")],
        in_channel=True,
        replace=replace,
    )


def created(record: dict[str, Any]) -> dict[str, Any]:
    name, region = record["name"], record["region"]
    endpoint = (record.get("cluster") or {}).get("endpoint", "")
    return message(
        f"{name} is ready",
        [
            _section(f":white_check_mark: *{name}* is ready in `{region}`.\nEndpoint: {endpoint}"),
            _section(
                "Connect with:\n"
                f"```aws eks update-kubeconfig --name {name} --region {region}```\n"
                f"or fetch `GET /clusters/{name}/kubeconfig`."
            ),
            _context(f"Lease ends {record.get('expiresAt')} · `/eks extend {name} 8h` to keep it longer"),
        ],
        in_channel=True,
    )


def failed(record: dict[str, Any]) -> dict[str, Any]:
    name = record["name"]
    failure = record.get("failure") or {}
    where = ", ".join(f"{k} {failure[k]}" for k in ("stack", "resource") if failure.get(k))
    text = f":x: *{name}* could not be {'deleted' if record['status'] == 'DELETE_FAILED' else 'created'}"
    return message(
        f"{name} failed",
        [_section(f"{text}: {failure.get('reason', 'unknown reason')}" + (f"\n({where})" if where else ""))],
        in_channel=True,
    )


def deleted(record: dict[str, Any]) -> dict[str, Any]:
    return message(
        f"{record['name']} deleted",
        [_section(f":wastebasket: *{record['name']}* is deleted; its record and timeline are kept.")],
        in_channel=True,
    )


def progress(record: dict[str, Any], text: str) -> dict[str, Any]:
    return message(f"{record['name']}: {text}", [_context(f":gear: *{record['name']}*: {text}")], in_channel=True)


def teardown_warning(notice: dict[str, Any], mention: str = "") -> dict[str, Any]:
    """The reaper's warning, with buttons to keep the cluster or let it go now."""
    name = notice["cluster"]
    who = f"{mention} " if mention else ""
    return message(
        f"{name} will be deleted after {notice['deleteAfter']}",
        [
            _section(f":alarm_clock: {who}*{name}* will be deleted after {notice['deleteAfter']}: {notice['reason']}."),
            {
                "type": "actions",
                "block_id": "teardown",
                "elements": [
                    {
                        "type": "button",
                        "action_id": EXTEND_ACTION,
                        "text": {"type": "plain_text", "text": f"Extend {EXTEND_BUTTON_HOURS}h"},
                        "style": "primary",
                        "value": name,
                    },
                    {
                        "type": "button",
                        "action_id": DELETE_ACTION,
                        "text": {"type": "plain_text", "text": "Delete now"},
                        "style": "danger",
                        "value": name,
                        "confirm": {
                            "title": {"type": "plain_text", "text": f"Delete {name}?"},
                            "text": {"type": "mrkdwn", "text": "The cluster and everything on it goes."},
                            "confirm": {"type": "plain_text", "text": "Delete"},
                            "deny": {"type": "plain_text", "text": "Keep it"},
                        },
                    },
                ],
            },
        ],
        in_channel=True,
    )


def owner_id(team: str, user: str) -> str:
    """How a Slack user is recorded as a cluster's owner."""
    return f"slack:{team}/{user}"


def mention(owner: str) -> str:
    """`<@U123>` for a Slack owner, else nothing."""
    return f"<@{owner.rsplit('/', 1)[1]}>" if owner.startswith("slack:") and "/" in owner else ""
