"""HTTPS transport: a threading HTTP server doing TLS per connection and answering every request with JSON."""

from __future__ import annotations

import json
import socket
import ssl
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from local.kube.status import ApiError, status

if TYPE_CHECKING:
    from collections.abc import Callable

    # (method, path, Authorization header, body) -> (status code, JSON object); may raise ApiError.
    Answer = Callable[[str, str, str, bytes], tuple[int, dict[str, Any]]]
    # Called with (method, path, status code) after each answer.
    Record = Callable[[str, str, int], None]


class HttpsServer(ThreadingHTTPServer):
    """A threading HTTP server that does each TLS handshake in the request's own thread."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], tls: ssl.SSLContext, answer: Answer, record: Record) -> None:
        """Bind and listen on address (port 0 picks a free one), with small packets sent at once."""
        self.tls, self.answer, self.record = tls, answer, record
        super().__init__(address, _Handler)
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Wrap the accepted socket in TLS here so a slow handshake never blocks the accept loop."""
        request.settimeout(30)
        try:
            tls = self.tls.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about clients that drop connections."""


class _Handler(BaseHTTPRequestHandler):
    """Hands one HTTP request to the server's answer function."""

    protocol_version = "HTTP/1.1"
    server: HttpsServer

    def log_message(self, format: str, *args: Any) -> None:
        """Print nothing per request."""

    def do_GET(self) -> None:
        """Serve a read."""
        self._dispatch("GET")

    def do_POST(self) -> None:
        """Serve a create."""
        self._dispatch("POST")

    def do_PUT(self) -> None:
        """Serve a replace."""
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        """Refuse a patch (unsupported) after authenticating it."""
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        """Refuse a delete (unsupported) after authenticating it."""
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        """Read the body, let the answer function answer, record it and write the JSON response."""
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            code, payload = self.server.answer(method, path, self.headers.get("Authorization", ""), body)
        except ApiError as error:
            code, payload = error.code, status(error.code, error.reason, error.message, error.details)
        except Exception as error:  # a bug here must still answer, not hang the client
            code, payload = 500, status(500, "InternalError", f"internal error: {error!r}")
        data = json.dumps(payload).encode()
        self.server.record(method, path, code)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
