"""Play Slack against a local service: sign `/eks` commands and receive what it posts back.

    python -m local.slack create mz-k8s nodes=3 ttl=8h     # with `make run` going
    python -m local.slack status mz-k8s

It signs the request as Slack does (v0, the local engine's signing secret), serves a
`response_url` on loopback, prints the immediate answer and then every message the
workflow posts, until the cluster is ready, failed or deleted (or `--wait` passes).
Tests use `sign` and `Receiver` the same way.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local.engine import LOCAL_SLACK_SIGNING_SECRET


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends with a request: timestamp and v0 signature."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


class Receiver:
    """A loopback HTTP endpoint that keeps every JSON body posted to it (a response_url, a webhook)."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.arrived = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
                with outer.arrived:
                    outer.messages.append(body)
                    outer.arrived.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/slack-response"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, predicate: Any, timeout: float) -> dict[str, Any] | None:
        """The first message (old or new) for which `predicate` is true, or None after `timeout`."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                found = next((m for m in self.messages if predicate(m)), None)
                left = deadline - time.monotonic()
                if found is not None or left <= 0:
                    return found
                self.arrived.wait(left)

    def close(self) -> None:
        self.server.shutdown()


def post_form(
    url: str, fields: dict[str, str], secret: str, timestamp: int | None = None
) -> tuple[int, dict[str, Any] | str]:
    body = urllib.parse.urlencode(fields).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(secret, body, timestamp)}
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else ""
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def command_fields(text: str, response_url: str, team: str, user: str, channel: str) -> dict[str, str]:
    return {
        "command": "/eks",
        "text": text,
        "team_id": team,
        "user_id": user,
        "user_name": user.lower(),
        "channel_id": channel,
        "response_url": response_url,
        "trigger_id": "local",
    }


def _final(message: dict[str, Any]) -> bool:
    return any(word in str(message.get("text", "")) for word in (" is ready", " failed", " deleted"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("text", nargs="+", help="what follows /eks, e.g. create mz-k8s nodes=3")
    parser.add_argument("--api", default="http://127.0.0.1:8000")
    parser.add_argument("--secret", default=LOCAL_SLACK_SIGNING_SECRET)
    parser.add_argument("--team", default="T0LOCAL")
    parser.add_argument("--user", default="U0LOCAL")
    parser.add_argument("--channel", default="C0LOCAL")
    parser.add_argument("--wait", type=float, default=120, help="seconds to wait for the workflow's messages")
    args = parser.parse_args(argv)

    receiver = Receiver()
    text = " ".join(args.text)
    fields = command_fields(text, receiver.url, args.team, args.user, args.channel)
    status, reply = post_form(f"{args.api}/slack/commands", fields, args.secret)
    print(f"HTTP {status}")
    print(json.dumps(reply, indent=2))
    if status == 200 and text.split()[0] in ("create", "delete"):
        shown = 0
        deadline = time.monotonic() + args.wait
        while time.monotonic() < deadline:
            receiver.wait_for(lambda _m, seen=shown: len(receiver.messages) > seen, deadline - time.monotonic())
            for message in receiver.messages[shown:]:
                print(json.dumps(message, indent=2))
            shown = len(receiver.messages)
            if any(_final(m) for m in receiver.messages):
                break
    receiver.close()
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
