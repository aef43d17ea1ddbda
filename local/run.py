"""`make run`: the service on the embedded local engine at http://localhost:8000.

No AWS account is needed: moto plays AWS on a loopback port and the Chalice app
is served by Chalice's local server. Stacks take a few simulated seconds so the
record can be watched going CREATING → ACTIVE.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import secrets
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.model.settings import ENV_LOCAL_IDENTITY_KEY
from local import sigv4
from local.engine import LocalEngine

if TYPE_CHECKING:
    from collections.abc import Callable

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


def create_server(app: Chalice, config: Config, host: str, port: int, region: str | None = None) -> LocalDevServer:
    """Chalice's local server, answering what its gateway refuses in our error shape, as the deployment does.

    Chalice's local gateway answers a path no route has with API Gateway's default body,
    `{"message": "Missing Authentication Token"}`; the deployment's gateway responses give
    `{"error", "message"}` instead (infra/template.yaml), and so does this server. SigV4 signatures
    must be scoped to `region` (the engine's, which it puts in AWS_REGION, when not given).
    """
    from chalice.local import ChaliceRequestHandler, LocalChalice, LocalDevServer

    api_region = region or os.environ.get("AWS_REGION") or "us-west-2"

    class Handler(ChaliceRequestHandler):
        def _send_error_response(self, error: Any) -> None:
            self._send_http_response(error.CODE, dict(error.headers), json.dumps(_gateway_error(error)))

        def _parse_payload(self) -> tuple[dict[str, str], bytes | None]:
            """This request's headers and body, a SigV4-signed request's signer named as its caller.

            One handler serves every request of a keep-alive connection, so this runs for each of them.
            """
            headers, body = super()._parse_payload()
            return _signed_caller(self.command, self.path, headers, body, api_region), body

        def _generic_handle(self) -> None:
            """A SigV4-signed request is verified as API Gateway's AWS_IAM does; a refused one is a 403."""
            try:
                super()._generic_handle()
            except sigv4.SignatureRefused as refused:
                message = json.dumps({"error": "Forbidden", "message": str(refused)})
                self._send_http_response(403, {"Content-Type": "application/json"}, message)

        # Chalice binds every method to its own `_generic_handle` when its class is made.
        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    if not isinstance(app, LocalChalice):
        # What chalice.local.create_local_server does first, once per process: a second call would
        # make the app's class its own base.
        from chalice.local import CustomLocalChalice

        CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
        app.__class__ = CustomLocalChalice
    return LocalDevServer(app, config, host, port, handler_cls=Handler)


def _signed_caller(method: str, path: str, headers: dict[str, str], body: bytes | None, region: str) -> dict[str, str]:
    """The headers the app sees: a verified signer named as the local server names callers (local/sigv4.py).

    The caller header is signed with the key the app checks it with, which the engine put in the environment.
    """
    if not sigv4.signed(headers, path):
        return headers
    from local import credentials

    key = os.environ.get(ENV_LOCAL_IDENTITY_KEY, "")
    if not key:
        raise sigv4.SignatureRefused(f"{ENV_LOCAL_IDENTITY_KEY} is not set: no local engine names callers here")
    return sigv4.caller_headers(method, path, headers, body, key, credentials.lookup, region=region)


def _gateway_error(error: Any) -> dict[str, str]:
    """A refusal of Chalice's local gateway (401, 403, 500) in our shape."""
    try:
        message = str(json.loads(error.body or b"{}").get("message") or "")
    except ValueError:
        message = ""
    if message == "Missing Authentication Token":
        message = MISSING_ROUTE_MESSAGE
    return {"error": _GATEWAY_ERRORS.get(error.CODE, "Error"), "message": message or "the request was refused"}


def kubectl_environment(engine: LocalEngine) -> str:
    """The one line that points kubectl's `aws eks get-token` and the aws CLI at the engine as its creator."""
    from local.engine import ACCESS_KEY, SECRET_KEY

    bin_dir = Path(sys.executable).parent
    return (
        f'export PATH="{bin_dir}:$PATH" AWS_ENDPOINT_URL={engine.endpoint} AWS_REGION={engine.region} '
        f"AWS_ACCESS_KEY_ID={ACCESS_KEY} AWS_SECRET_ACCESS_KEY={SECRET_KEY}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=os.environ.get("EKSPRESS_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("EKSPRESS_PORT", "8000")))
    parser.add_argument("--region", default="us-west-2", help="region of the engine's own resources")
    parser.add_argument("--cluster-seconds", type=float, default=10.0, help="simulated cluster stack duration")
    parser.add_argument("--nodegroup-seconds", type=float, default=5.0, help="simulated node group stack duration")
    parser.add_argument("--poll-scale", type=float, default=0.01, help="multiplier on the workflow's polling waits")
    parser.add_argument(
        "--fill-seconds",
        type=float,
        default=30.0,
        help="how often the warm pools are filled (the deployed schedule runs every few minutes)",
    )
    parser.add_argument(
        "--package",
        type=Path,
        help="deploy this `make package STAGE=local` build with aws cloudformation package/deploy, "
        "as on AWS, instead of creating the resources directly",
    )
    args = parser.parse_args(argv)
    if _port_taken(args.host, args.port):
        print(_busy(args.host, args.port), file=sys.stderr, flush=True)
        return 1

    engine: LocalEngine | None = None
    try:
        engine = LocalEngine(
            region=args.region,
            # Only this process can then sign a caller header: an unsigned request that names a caller with the
            # engine's well-known default key is not taken for that caller (chalicelib/aws/identity.py).
            identity_key=os.environ.get(ENV_LOCAL_IDENTITY_KEY) or secrets.token_hex(32),
            cluster_seconds=args.cluster_seconds,
            nodegroup_seconds=args.nodegroup_seconds,
            poll_scale=args.poll_scale,
            package_dir=args.package,
            local_developer_admin=True,
        ).start()

        # Imported after the engine set the environment the app reads.
        from chalice.config import Config

        from app import app

        try:
            server = create_server(app, Config(chalice_stage="local"), args.host, args.port, region=engine.region)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            print(_busy(args.host, args.port), file=sys.stderr, flush=True)
            return 1
        # Chalice's server listens with a backlog of 5, and resets connections past it under a burst.
        server.server.socket.listen(512)
        print(f"ekspress local engine: AWS (moto) at {engine.endpoint}", flush=True)
        if args.package:
            print(f"deployed {args.package} as stack {engine.stack_name}", flush=True)
        print(f"ekspress API on http://{args.host}:{args.port}  (Ctrl-C stops)", flush=True)
        print(f"kubectl and the aws CLI, in another shell: {kubectl_environment(engine)}", flush=True)
        secret = engine.slack_signing_secret
        print(f"Slack: `python -m local.slack create NAME` signs commands with '{secret}'", flush=True)

        fill = _every(args.fill_seconds, _fill_pools)

        def stop(*_: object) -> None:
            fill.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

        signal.signal(signal.SIGTERM, stop)
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nstopping the local engine", file=sys.stderr, flush=True)
    finally:
        # A second Ctrl-C while the engine stops would only leave it half stopped.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if engine is not None:
            engine.stop()
    return 0


def _fill_pools() -> None:
    from chalicelib.handlers.schedules import run_fill

    run_fill()


def _every(seconds: float, job: Callable[[], None]) -> threading.Event:
    """Run `job` every `seconds` on a daemon thread, as the deployment's schedule would; set the event to stop."""
    stopped = threading.Event()

    def loop() -> None:
        while not stopped.wait(seconds):
            try:
                job()
            except Exception as exc:  # a failed run is the next run's to retry, as on AWS
                print(f"scheduled {job.__name__} failed: {exc}", file=sys.stderr, flush=True)

    threading.Thread(target=loop, name="schedules", daemon=True).start()
    return stopped


def _port_taken(host: str, port: int) -> bool:
    """Whether something already listens on host:port (bound as the server binds, address reuse on)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def _busy(host: str, port: int) -> str:
    other = port + 1
    return (
        f"port {port} on {host} is already in use (another `make run`?). Pick another port:\n"
        f"  EKSPRESS_PORT={other} make run\n"
        f"and point the command line at it: EKSPRESS_PORT={other} .venv/bin/ekspress get clusters"
    )


if __name__ == "__main__":
    sys.exit(main())
