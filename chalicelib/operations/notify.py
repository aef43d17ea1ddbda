"""Telling people what happened: Slack (response_url or a channel webhook) and a JSON hook.

The workflows call `cluster_event` at their milestones; the teardown sweep calls the
notifier from `teardown_notifier`. A notification that cannot be delivered is
logged (without its URL: Slack's response and webhook URLs are credentials) and
never fails the step that sent it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chalicelib.model import slack
from chalicelib.observability import logger

if TYPE_CHECKING:
    from collections.abc import Callable

    from chalicelib.model.settings import Settings
    from chalicelib.model.steps import NotifyStep
    from chalicelib.operations.context import Context

CONTROL_PLANE_READY = "control_plane_ready"
CREATED = "created"
FAILED = "failed"
DELETED = "deleted"
DELETE_FAILED = "delete_failed"
EVENTS = (CONTROL_PLANE_READY, CREATED, FAILED, DELETED, DELETE_FAILED)


def post_json(url: str, payload: dict[str, Any], timeout: float = 5.0) -> bool:
    """POST `payload` as JSON; True when the receiver answered 2xx."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return bool(200 <= resp.status < 300)
    except (urllib.error.URLError, OSError) as exc:
        logger.warning("notification not delivered", extra={"error": type(exc).__name__})
        return False


def slack_message(record: dict[str, Any], event: str) -> dict[str, Any]:
    if event == CONTROL_PLANE_READY:
        return slack.progress(record, "control plane is up; creating node groups")
    if event == CREATED:
        return slack.created(record)
    if event == DELETED:
        return slack.deleted(record)
    return slack.failed(record)


def cluster_event(ctx: Context, step: NotifyStep) -> dict[str, Any]:
    """Workflow step: announce a milestone to whoever asked (Slack) and to the JSON hook."""
    db, settings, name, event = ctx.store, ctx.settings, step.name, step.event
    if event not in EVENTS:
        raise ValueError(f"unknown notification {event!r}")
    record = db.get_cluster(name)
    sent: list[str] = []
    target = ((record.get("notify") or {}).get("slack") or {}).get("responseUrl")
    if not target and record.get("owner", "").startswith("slack:"):
        target = settings.slack_webhook_url
    if target and post_json(target, slack_message(record, event)):
        sent.append("slack")
    if settings.notify_url:
        body = {"type": f"cluster_{event}", "cluster": name, "owner": record.get("owner"), "status": record["status"]}
        if record.get("failure"):
            body["failure"] = record["failure"]
        if post_json(settings.notify_url, body):
            sent.append("hook")
    logger.info("notified", extra={"cluster": name, "event": event, "sent": sent})
    return {"event": event, "sent": sent}


def teardown_notifier(settings: Settings) -> Callable[[dict[str, Any]], None]:
    """The sweep's notifier: Slack owners get the warning with buttons; the JSON hook gets all."""

    def notify(notice: dict[str, Any]) -> None:
        owner = str(notice.get("owner") or "")
        if notice["type"] == "teardown_warning" and owner.startswith("slack:") and settings.slack_webhook_url:
            post_json(settings.slack_webhook_url, slack.teardown_warning(notice, slack.mention(owner)))
        if settings.notify_url:
            post_json(settings.notify_url, notice)
        if not settings.notify_url and not settings.slack_webhook_url:
            logger.info("notification", extra={"notification": notice})

    return notify
