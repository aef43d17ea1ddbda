"""`make run`: the service on the embedded local engine at http://localhost:8000.

No AWS account is needed: moto plays AWS on a loopback port and the Chalice app
is served by Chalice's local server. Stacks take a few simulated seconds so the
record can be watched going CREATING → ACTIVE.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from local.engine import LocalEngine

if TYPE_CHECKING:
    from chalice.app import Chalice
    from chalice.config import Config
    from chalice.local import LocalDevServer

# What API Gateway answers for a path no route has, or an unsigned request: it cannot tell them apart
# (MISSING_AUTHENTICATION_TOKEN, a 403). infra/template.yaml's gateway response says the same.
MISSING_ROUTE_MESSAGE = (
    "no route answers this method and path, or the request is not signed with AWS Signature Version 4 "
    "(API Gateway: Missing Authentication Token)"
)
# Our error codes for what Chalice's local gateway refuses before the app sees a request.
_GATEWAY_ERRORS = {401: "Unauthorized", 403: "Forbidden", 500: "InternalError"}


def create_server(app: Chalice, config: Config, host: str, port: int) -> LocalDevServer:
    """Chalice's local server, answering what its gateway refuses in our error shape, as the deployment does.

    Chalice's local gateway answers a path no route has with API Gateway's default body,
    `{"message": "Missing Authentication Token"}`; the deployment's gateway responses give
    `{"error", "message"}` instead (infra/template.yaml), and so does this server.
    """
    from chalice.local import ChaliceRequestHandler, LocalChalice, LocalDevServer

    class Handler(ChaliceRequestHandler):
        def _send_error_response(self, error: Any) -> None:
            self._send_http_response(error.CODE, dict(error.headers), json.dumps(_gateway_error(error)))

    if not isinstance(app, LocalChalice):
        # What chalice.local.create_local_server does first, once per process: a second call would
        # make the app's class its own base.
        from chalice.local import CustomLocalChalice

        CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
        app.__class__ = CustomLocalChalice
    return LocalDevServer(app, config, host, port, handler_cls=Handler)


def _gateway_error(error: Any) -> dict[str, str]:
    """A refusal of Chalice's local gateway (401, 403, 500) in our shape."""
    try:
        message = str(json.loads(error.body or b"{}").get("message") or "")
    except ValueError:
        message = ""
    if message == "Missing Authentication Token":
        message = MISSING_ROUTE_MESSAGE
    return {"error": _GATEWAY_ERRORS.get(error.CODE, "Error"), "message": message or "the request was refused"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=os.environ.get("EKSPRESS_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("EKSPRESS_PORT", "8000")))
    parser.add_argument("--region", default="us-west-2", help="region of the engine's own resources")
    parser.add_argument("--cluster-seconds", type=float, default=10.0, help="simulated cluster stack duration")
    parser.add_argument("--nodegroup-seconds", type=float, default=5.0, help="simulated node group stack duration")
    parser.add_argument("--poll-scale", type=float, default=0.01, help="multiplier on the workflow's polling waits")
    parser.add_argument(
        "--package",
        type=Path,
        help="deploy this `make package STAGE=local` build with aws cloudformation package/deploy, "
        "as on AWS, instead of creating the resources directly",
    )
    args = parser.parse_args(argv)

    engine = LocalEngine(
        region=args.region,
        cluster_seconds=args.cluster_seconds,
        nodegroup_seconds=args.nodegroup_seconds,
        poll_scale=args.poll_scale,
        package_dir=args.package,
    ).start()

    # Imported after the engine set the environment the app reads.
    from chalice.config import Config

    from app import app

    server = create_server(app, Config(chalice_stage="local"), args.host, args.port)
    # Chalice's server listens with a backlog of 5, and resets connections past it under a burst.
    server.server.socket.listen(512)
    print(f"ekspress local engine: AWS (moto) at {engine.endpoint}", flush=True)
    if args.package:
        print(f"deployed {args.package} as stack {engine.stack_name}", flush=True)
    print(f"ekspress API on http://{args.host}:{args.port}  (Ctrl-C stops)", flush=True)
    print(f"Slack: `python -m local.slack create NAME` signs commands with '{engine.slack_signing_secret}'", flush=True)

    def stop(*_: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        engine.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
