"""An HTTP proxy in front of the moto server that can be told to fail chosen requests.

Every AWS call of the tests (boto3 and Spark's S3A alike) goes through it. A
``Rule`` picks requests by method, path, header or body and answers them with
a throttling error, a 5xx, a refusal, or a dropped connection, as AWS would;
everything else is passed to moto unchanged. ``requests`` records what was
asked, so tests can count attempts.
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection", "te", "upgrade"}


@dataclass(frozen=True)
class Seen:
    """One request the proxy received."""

    method: str
    path: str
    target: str
    """``X-Amz-Target`` (DynamoDB, Glue) or the query ``Action=`` (SNS), else ''."""
    failed: bool


@dataclass
class Rule:
    """Answer matching requests with ``action`` (``slowdown``, ``500``, ``reset``, ``denied``).

    ``after`` matching requests pass first, then ``times`` fail (every one when None).
    """

    action: str = "slowdown"
    method: str | None = None
    path: str = ""
    """A regular expression searched in the path (with its query)."""
    target: str = ""
    """A substring of the X-Amz-Target header or the query Action."""
    body: str = ""
    """A substring of the request body."""
    when: Callable[[str, str, dict[str, str], bytes], bool] | None = None
    times: int | None = None
    after: int = 0
    matched: int = field(default=0, init=False)
    fired: int = field(default=0, init=False)

    def applies(self, method: str, path: str, target: str, headers: dict[str, str], body: bytes) -> bool:
        if self.method and method != self.method:
            return False
        if self.path and not re.search(self.path, path):
            return False
        if self.target and self.target not in target:
            return False
        if self.body and self.body.encode() not in body:
            return False
        return self.when is None or self.when(method, path, headers, body)


class FaultProxy:
    """A threaded proxy to ``upstream``; ``url`` is what clients are pointed at."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.rules: list[Rule] = []
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FaultProxy:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def add(self, rule: Rule) -> Rule:
        """Switch a rule on; returns it (its ``fired`` counts the failed requests)."""
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """Switch every rule off and forget the requests seen."""
        with self._lock:
            self.rules.clear()
            self.requests.clear()

    def count(self, predicate: Callable[[Seen], bool]) -> int:
        """How many requests seen so far match ``predicate``."""
        with self._lock:
            return sum(1 for r in self.requests if predicate(r))

    def _decide(self, method: str, path: str, target: str, headers: dict[str, str], body: bytes) -> Rule | None:
        with self._lock:
            chosen = None
            for rule in self.rules:
                if not rule.applies(method, path, target, headers, body):
                    continue
                rule.matched += 1
                if rule.matched <= rule.after or (rule.times is not None and rule.fired >= rule.times):
                    continue
                rule.fired += 1
                chosen = rule
                break
            self.requests.append(Seen(method, path, target, chosen is not None))
            return chosen

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without this, Nagle's algorithm and the
                # client's delayed ACK hold back every body on a kept-alive connection by 40 ms.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().strip().split(b";")[0], 16)
                        if size == 0:
                            self.rfile.readline()
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _handle(self) -> None:
                body = self._body()
                headers = {k: v for k, v in self.headers.items()}
                target = headers.get("X-Amz-Target", "")
                if not target:
                    found = re.search(rb"(?:^|&)Action=([A-Za-z]+)", body) or re.search(
                        rb"[?&]Action=([A-Za-z]+)", self.path.encode()
                    )
                    target = found.group(1).decode() if found else ""
                rule = proxy._decide(self.command, self.path, target, headers, body)
                if rule is not None:
                    self._fail(rule.action, headers, target)
                    return
                self._forward(body, headers)

            def _forward(self, body: bytes, headers: dict[str, str]) -> None:
                upstream = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=120)
                try:
                    sent = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
                    sent["Content-Length"] = str(len(body))
                    upstream.request(self.command, self.path, body=body, headers=sent)
                    response = upstream.getresponse()
                    data = response.read()
                    self.send_response(response.status, response.reason)
                    head = self.command == "HEAD"  # its Content-Length is the object's, with no body
                    for key, value in response.getheaders():
                        if key.lower() not in _HOP_BY_HOP and (head or key.lower() != "content-length"):
                            self.send_header(key, value)
                    if not head:
                        self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    upstream.close()

            def _fail(self, action: str, headers: dict[str, str], target: str) -> None:
                if action == "reset":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                status, code = {"slowdown": (503, "SlowDown"), "500": (500, "InternalError")}.get(
                    action, (403, "AccessDenied")
                )
                message = f"injected by the test proxy ({action})"
                if "X-Amz-Target" in headers:
                    kind = {"SlowDown": "ThrottlingException"}.get(code, code)
                    payload = f'{{"__type": "com.amazonaws#{kind}", "message": "{message}"}}'.encode()
                    content_type = "application/x-amz-json-1.0"
                    status = 400 if kind in ("ThrottlingException", "AccessDeniedException") else status
                elif target:  # the query protocol (SNS)
                    payload = (
                        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
                        f"</Error><RequestId>fault</RequestId></ErrorResponse>"
                    ).encode()
                    content_type = "text/xml"
                else:  # S3
                    payload = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
                    content_type = "application/xml"
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        return Handler
