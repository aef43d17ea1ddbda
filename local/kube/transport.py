"""HTTPS transport: a threading HTTP server doing TLS per connection and answering every request with JSON
(or, for a watch, a stream of JSON watch events sent as they happen)."""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from local.kube import protobuf
from local.kube.status import ApiError, status

if TYPE_CHECKING:
    from collections.abc import Callable

    # A request -> (status code, JSON object or an iterator of JSON watch events); may raise ApiError.
    Answer = Callable[["Request"], tuple[int, dict[str, Any] | Iterator[dict[str, Any]]]]
    # Called with (method, path, status code) after each answer.
    Record = Callable[[str, str, int], None]


@dataclass
class Request:
    """One HTTP request: method, path, query parameters (last value of each), headers (lower-case names), body."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def authorization(self) -> str:
        """The Authorization header ("" if absent)."""
        return self.headers.get("authorization", "")


class HttpsServer(ThreadingHTTPServer):
    """A threading HTTP server that does each TLS handshake in the request's own thread."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        tls: ssl.SSLContext,
        answer: Answer,
        record: Record,
        reachable: Callable[[], bool] = lambda: True,
    ) -> None:
        """Bind and listen on address (port 0 picks a free one), with small packets sent at once.

        `reachable` says whether a caller outside the cluster's VPC reaches the server now (its public
        endpoint is on): every caller of this server is, so when it says no the connection is dropped
        before TLS, as a private-only endpoint's address never answers from outside.
        """
        self.tls, self.answer, self.record, self.reachable = tls, answer, record, reachable
        super().__init__(address, _Handler)
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Wrap the accepted socket in TLS here so a slow handshake never blocks the accept loop."""
        if not self.reachable():
            return  # the socket is closed unanswered (shutdown_request)
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


# Bodies the server reads: JSON, the patch media types (all JSON) and Kubernetes protobuf (read as JSON).
JSON_MEDIA = {
    "application/json",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
}


def _as_json(headers: dict[str, str], body: bytes) -> bytes:
    """The body as JSON: a Kubernetes protobuf body is read as the object it stands for; other media types than
    JSON's are refused with 415."""
    media = headers.get("content-type", "").split(";")[0].strip().lower()
    if body and media == protobuf.PROTOBUF:
        headers["content-type"] = "application/json"
        return json.dumps(protobuf.decode(body)).encode()
    if body and media and media not in JSON_MEDIA:
        raise ApiError(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: "
            + ", ".join(sorted({*JSON_MEDIA, protobuf.PROTOBUF})),
        )
    return body


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
        """Read the body, let the answer function answer, record it and write the JSON response (or stream)."""
        target = urlsplit(self.path)
        path = target.path
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        query = {key: values[-1] for key, values in parse_qs(target.query, keep_blank_values=True).items()}
        headers: dict[str, str] = {}
        for key, value in self.headers.items():
            key = key.lower()
            # Impersonation headers may repeat (one Impersonate-Group per group): keep every value, a line each.
            repeated = key in headers and key.startswith("impersonate-")
            headers[key] = f"{headers[key]}\n{value}" if repeated else value
        payload: dict[str, Any] | Iterator[dict[str, Any]]
        try:
            body = _as_json(headers, body)
            code, payload = self.server.answer(Request(method, path, query, headers, body))
        except ApiError as error:
            code, payload = error.code, status(error.code, error.reason, error.message, error.details)
        except Exception as error:  # a bug here must still answer, not hang the client
            code, payload = 500, status(500, "InternalError", f"internal error: {error!r}")
        self.server.record(method, path, code)
        if isinstance(payload, Iterator):
            self._stream(code, payload)
            return
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, code: int, events: Iterator[dict[str, Any]]) -> None:
        """Send watch events one JSON object per chunk until the iterator ends or the client goes away."""
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            self.wfile.flush()
            for event in events:
                data = json.dumps(event).encode() + b"\n"
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            pass
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()
        self.close_connection = True
