"""Slack endpoints: the `/eks` slash command and the buttons of our messages.

Every request is verified with Slack's v0 signing scheme (slack_sdk's verifier:
HMAC-SHA256 over `v0:timestamp:body`, constant-time compare, 5-minute window) and
claimed once, so a captured request replayed inside the window is refused too.
The work is done by the same use-cases as the HTTP API. Slack gives up after 3 seconds,
so quick commands (help, list, status, extend: one or two reads) are answered at once,
while `create` and `delete` (policy checks, quota reads, a workflow start) are answered
first — "on it" — and done by the `slack_worker` function, invoked asynchronously, which
posts the outcome to the `response_url`; the workflow then reports progress and the
result there (`notify.py`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
import urllib.parse
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint, Response

from chalicelib.aws.clients import default_clients
from chalicelib.aws.store import as_claimed
from chalicelib.model import naming, policy, slack
from chalicelib.model.errors import EkspressError, ForbiddenError, SpecValidationError
from chalicelib.model.pool_spec import split_claim
from chalicelib.model.record import public
from chalicelib.model.settings import get_settings
from chalicelib.model.spec import ClusterSpec, validate
from chalicelib.observability import logger
from chalicelib.operations import create, delete, leases, notify
from chalicelib.operations.context import Context

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from chalicelib.model.settings import Settings

slack_routes = Blueprint(__name__)

FORM = "application/x-www-form-urlencoded"
MAX_SLACK_BODY = 64 * 1024
REPLAY_WINDOW_SECONDS = 600
SECRET_MAX_AGE_SECONDS = 300
LIST_LIMIT = 25


class SlackAuthError(EkspressError):
    status = 401
    code = "Unauthorized"


@functools.lru_cache(maxsize=4)
def _secret_provider(client: Any, kind: str) -> Any:
    """Powertools' provider around our client: it caches the secret for SECRET_MAX_AGE_SECONDS."""
    from aws_lambda_powertools.utilities import parameters

    if kind == "secretsmanager":
        return parameters.SecretsProvider(boto3_client=client)
    return parameters.SSMProvider(boto3_client=client)


def signing_secret(settings: Settings) -> str:
    if settings.slack_secret_id:
        provider = _secret_provider(default_clients().client("secretsmanager"), "secretsmanager")
        return str(provider.get(settings.slack_secret_id, max_age=SECRET_MAX_AGE_SECONDS))
    if settings.slack_secret_parameter:
        provider = _secret_provider(default_clients().client("ssm"), "ssm")
        return str(provider.get(settings.slack_secret_parameter, max_age=SECRET_MAX_AGE_SECONDS, decrypt=True))
    raise SlackAuthError("Slack is not configured for this service")


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float) -> None:
    """Slack's v0 signature over the raw body, within 5 minutes of `now`; else SlackAuthError."""
    from slack_sdk.signature import Clock, SignatureVerifier  # only Slack requests pay for this import

    class _At(Clock):
        def now(self) -> float:
            return now

    timestamp = headers.get("x-slack-request-timestamp")
    signature = headers.get("x-slack-signature")
    if not timestamp or not signature or not timestamp.isdigit():
        raise SlackAuthError("missing Slack signature headers")
    if not SignatureVerifier(secret, clock=_At()).is_valid(body, timestamp, signature):
        raise SlackAuthError("the Slack signature is invalid or too old")


def _verified_form() -> dict[str, str]:
    request = slack_routes.current_request
    raw = request.raw_body or b""
    body = raw.encode() if isinstance(raw, str) else raw
    if len(body) > MAX_SLACK_BODY:
        raise SlackAuthError("request too large")
    headers = {k.lower(): v for k, v in (request.headers or {}).items()}
    now = time.time()
    verify(signing_secret(get_settings()), headers, body, now)
    if not Context.default().store.claim_once(f"slack#{headers['x-slack-signature']}", REPLAY_WINDOW_SECONDS, int(now)):
        raise SlackAuthError("this Slack request was already handled")
    return dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))


def _reply(payload: dict[str, Any]) -> Response:
    return Response(body=json.dumps(payload), status_code=200, headers={"Content-Type": "application/json"})


def _slack_handled(view: Callable[[], Response]) -> Callable[[], Response]:
    """401 for unverifiable requests; every other problem is an answer in Slack, never a trace."""

    @functools.wraps(view)
    def wrapper() -> Response:
        try:
            return view()
        except SlackAuthError as exc:
            logger.warning("slack request refused", extra={"reason": exc.message})
            return Response(
                body=json.dumps(exc.to_dict()), status_code=401, headers={"Content-Type": "application/json"}
            )
        except Exception:
            logger.exception("slack request failed")
            return _reply(slack.error("Something went wrong on our side; it is logged. Try again in a minute."))

    return wrapper


def allowed_place(settings: Settings, team: str, channel: str) -> bool:
    return (not settings.slack_teams or team in settings.slack_teams) and (
        not settings.slack_channels or channel in settings.slack_channels
    )


def may_change(settings: Settings, record: dict[str, Any], team: str, user: str) -> bool:
    """Only the owner, or a configured admin, may extend or delete a cluster from Slack."""
    return record.get("owner") == slack.owner_id(team, user) or user in settings.slack_admins


@slack_routes.route("/slack/commands", methods=["POST"], content_types=[FORM])
@_slack_handled
def slack_command() -> Response:
    form = _verified_form()
    settings = get_settings()
    team, user, channel = form.get("team_id", ""), form.get("user_id", ""), form.get("channel_id", "")
    if not allowed_place(settings, team, channel):
        return _reply(slack.error("`/eks` is not enabled in this workspace or channel."))
    try:
        command = slack.parse(form.get("text", ""))
    except slack.UsageError as exc:
        return _reply(slack.usage(str(exc)))
    job = {"text": form.get("text", ""), "team": team, "user": user, "channel": channel}
    response_url = form.get("response_url", "")
    if command.action in SLOW_ACTIONS and settings.slack_worker_function and response_url:
        if command.action == "create":
            try:  # a request that cannot be valid is answered now, not after a round trip
                validate(ClusterSpec, split_claim(slack.create_body(command), False)[0], "cluster request")
            except slack.UsageError as exc:
                return _reply(slack.usage(str(exc)))
            except SpecValidationError as exc:
                return _reply(_invalid(exc))
        hand_off(settings.slack_worker_function, {**job, "responseUrl": response_url, **_job_identity()})
        return _reply(slack.working(command.action, command.name))
    return _reply(answer(job, settings, response_url))


# Commands whose work does not fit in Slack's 3 seconds on a cold start (see bench/memory.py).
SLOW_ACTIONS = ("create", "delete")
# A job older than this is not done: the person was told "one moment" (Lambda may hold an
# asynchronous event for hours when throttled; infra/template.yaml caps it at the same age).
JOB_MAX_AGE_SECONDS = 300


def _job_identity() -> dict[str, Any]:
    """A handed-off job's id (one per verified request, from its signature) and when it was issued."""
    headers = {k.lower(): v for k, v in (slack_routes.current_request.headers or {}).items()}
    signature = str(headers.get("x-slack-signature", ""))
    return {"jobId": hashlib.sha256(signature.encode()).hexdigest(), "issuedAt": int(time.time())}


def hand_off(function: str, job: dict[str, Any]) -> None:
    """Queue `job` for the slack_worker (Lambda's asynchronous invoke: we answer now, it works later)."""
    default_clients().client("lambda").invoke(FunctionName=function, InvocationType="Event", Payload=json.dumps(job))


@slack_routes.lambda_function(name=naming.SLACK_WORKER)
def slack_worker(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A handed-off command or button click: do it, then tell the person through the response_url they gave."""
    settings = get_settings()
    response_url = str(event.get("responseUrl", ""))
    age = time.time() - float(event.get("issuedAt") or 0)
    try:
        if age > JOB_MAX_AGE_SECONDS:
            message = slack.error("That command waited too long to run and was dropped; please send it again.")
        elif not Context.default().store.claim_once(
            f"slack-job#{event['jobId']}", REPLAY_WINDOW_SECONDS, int(time.time())
        ):
            return {"delivered": False, "duplicate": True}  # delivered twice (Lambda's events are at least once)
        elif "click" in event:  # a button of a teardown warning
            message = interact(settings, event["click"], event["name"], event["team"], event["user"])
        else:
            message = answer(event, settings, response_url)
        delivered = notify.post_json(response_url, message)
    except Exception:  # never retried by Lambda (the work may be half done): say so instead
        logger.exception("slack command failed")
        delivered = notify.post_json(
            response_url, slack.error("Something went wrong on our side; it is logged. Try again in a minute.")
        )
    return {"delivered": delivered}


def _invalid(exc: SpecValidationError) -> dict[str, Any]:
    problems = "\n".join(f"• `{f['field']}`: {f['message']}" for f in exc.details.get("fields", []))
    return slack.error(f"{exc.message}\n{problems}")


def answer(job: Mapping[str, Any], settings: Settings, response_url: str) -> dict[str, Any]:
    """The reply to one parsed command: its result, or what was wrong with it, as a Slack message."""
    try:
        command = slack.parse(str(job.get("text", "")))
        return run(command, settings, str(job["team"]), str(job["user"]), str(job["channel"]), response_url)
    except slack.UsageError as exc:
        return slack.usage(str(exc))
    except SpecValidationError as exc:
        return _invalid(exc)
    except EkspressError as exc:  # not found, conflict, forbidden: say so in Slack
        return slack.error(exc.message)


def run(
    command: slack.Command, settings: Settings, team: str, user: str, channel: str, response_url: str
) -> dict[str, Any]:
    """One command, through the same use-cases as the HTTP API."""
    ctx = Context(default_clients(), settings)
    db = ctx.store
    owner = slack.owner_id(team, user)
    reply_to = {"slack": {"responseUrl": response_url, "channel": channel, "user": user}} if response_url else None
    if command.action == "help":
        return slack.usage()
    if command.action == "list":
        records, _ = db.list_clusters(LIST_LIMIT)
        return slack.cluster_list(records)
    if command.action == "status":
        return slack.status(create.describe_cluster(db, db.served_name(command.name)))
    if command.action == "create":
        body, claim = split_claim(slack.create_body(command), False)
        spec = validate(ClusterSpec, body, "cluster request")
        policy.check_request(spec, owner, settings, db)
        if claim is not None:  # a READY pool cluster, else the fresh create below
            from chalicelib.operations import pools

            found = pools.request_claim(ctx, spec, owner, claim.pool, claim.when_pool_empty, datetime.now(UTC))
            if found is not None:
                return slack.claimed(as_claimed(public(found)), claim.pool)
        record = create.request_create(ctx, spec, owner, reply_to)
        return slack.create_started(record)
    # A claimed pool cluster answers to the name its caller asked for, as in the HTTP API.
    name = db.served_name(command.name)
    record = db.get_cluster(name)
    if not may_change(settings, record, team, user):
        raise ForbiddenError(f"only the owner of {command.name} or a Slack admin may {command.action} it")
    if command.action == "extend":
        result = leases.extend(db, settings, name, command.hours, owner, datetime.now(UTC))
        return slack.extended(command.name, result["expiresAt"])
    started = delete.request_delete(ctx, name, owner)
    if reply_to:
        db.update_cluster(name, started["clusterId"], {"notify": reply_to})
    return slack.delete_started(command.name, f"<@{user}>")


@slack_routes.route("/slack/interactions", methods=["POST"], content_types=[FORM])
@_slack_handled
def slack_interaction() -> Response:
    """The buttons on a teardown warning: extend 24 hours, or delete now."""
    form = _verified_form()
    payload = json.loads(form.get("payload") or "{}")
    if payload.get("type") != "block_actions" or not payload.get("actions"):
        return Response(body="", status_code=200)
    action = payload["actions"][0]
    name = str(action.get("value", ""))
    user = (payload.get("user") or {}).get("id", "")
    team = (payload.get("team") or {}).get("id") or (payload.get("user") or {}).get("team_id", "")
    settings = get_settings()
    click = {"click": str(action.get("action_id")), "name": name, "team": team, "user": user}
    response_url = str(payload.get("response_url") or "")
    if settings.slack_worker_function and response_url:  # a delete starts a workflow: Slack waits 3 s
        hand_off(settings.slack_worker_function, {**click, "responseUrl": response_url, **_job_identity()})
        return Response(body="", status_code=200)
    message = interact(settings, click["click"], name, team, user)
    if response_url:
        notify.post_json(response_url, message)
    return Response(body="", status_code=200)


def interact(settings: Settings, action_id: str, name: str, team: str, user: str) -> dict[str, Any]:
    ctx = Context(default_clients(), settings)
    db = ctx.store
    try:
        name = db.served_name(name)
        record = db.get_cluster(name)
        if not may_change(settings, record, team, user):
            raise ForbiddenError(f"only the owner of {name} or a Slack admin may do that")
        if action_id == slack.EXTEND_ACTION:
            result = leases.extend(
                db, settings, name, slack.EXTEND_BUTTON_HOURS, slack.owner_id(team, user), datetime.now(UTC)
            )
            return slack.extended(name, result["expiresAt"], replace=True)
        if action_id == slack.DELETE_ACTION:
            delete.request_delete(ctx, name, slack.owner_id(team, user))
            return slack.delete_started(name, f"<@{user}>", replace=True)
        return slack.error(f"unknown action {action_id}")
    except EkspressError as exc:
        return slack.error(exc.message)
