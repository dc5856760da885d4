"""A scripted HTTP server on 127.0.0.1 for the client's error-path tests.

The simulator models a healthy tenant with injectable faults; this server answers exactly the
replies a test queues (an HTML login page, a truncated body, a reset socket...), so each error
path of the client is exercised over a real socket, one precise reply at a time.

Count queries (``fields=...count(_id)``, which the client sends to check offset paging) are
answered from their own queue, ``counts``, so scripted pages stay in order; with none queued the
tenant gives no count (the client then pages without the check).
"""

from __future__ import annotations

import gzip
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from netskope_provider.api.page import RawPage
from netskope_provider.records import decode_record


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list -> JSON, str/bytes -> as is
    headers: dict[str, str] = field(default_factory=dict)
    #: send the full Content-Length but only this many body bytes, then close
    truncate_to: int | None = None
    #: close the socket without any answer
    reset: bool = False
    #: sleep before answering (to provoke a read timeout)
    delay: float = 0.0
    gzip: bool = False

    def payload(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return orjson.dumps(self.body)


@dataclass
class Seen:
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    at: float


def ok(records: list[Any], **extra: Any) -> Reply:
    return Reply(body={"ok": 1, "result": records, **extra})


def counted(total: int) -> Reply:
    """The answer to a count query: ``result[0].event_count``."""
    return ok([{"event_count": total}])


def is_count(seen: Seen) -> bool:
    return "count(" in seen.params.get("fields", "")


def decoded(pages: Iterable[RawPage]) -> list[dict[str, Any]]:
    """The records of ``pages`` as the mapping stage will see them."""
    return [decode_record(record) for page in pages for record in page.records]


class ScriptedTenant:
    """Answers queued replies in order, then ``fallback(seen)``; records every request."""

    def __init__(self, fallback: Callable[[Seen], Reply] | None = None, *, tls: ssl.SSLContext | None = None) -> None:
        self.replies: deque[Reply] = deque()
        self.counts: deque[Reply] = deque()
        self.fallback = fallback or (lambda seen: ok([]))
        #: The answer to a count request when none is queued (no count: ``result`` empty).
        self.count_fallback: Callable[[Seen], Reply] = lambda seen: ok([])
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        tenant = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                seen = Seen(url.path, dict(parse_qsl(url.query)), dict(self.headers), time.monotonic())
                with tenant._lock:
                    tenant.seen.append(seen)
                    queue = tenant.counts if is_count(seen) else tenant.replies
                    reply = queue.popleft() if queue else None
                reply = reply or (tenant.count_fallback(seen) if is_count(seen) else tenant.fallback(seen))
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.reset:
                    self.close_connection = True
                    self.connection.close()
                    return
                body = reply.payload()
                if reply.gzip:
                    body = gzip.compress(body)
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **reply.headers}
                if reply.gzip:
                    headers["Content-Encoding"] = "gzip"
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                if reply.truncate_to is not None:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                    body = body[: reply.truncate_to]
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self) -> tuple[Any, Any]:
                """Count the connection before TLS: a handshake that fails never becomes a request."""
                connection, address = super().get_request()
                with tenant._lock:
                    tenant.connections += 1
                if tls is not None:  # the handshake: a failed one raises OSError, and the server drops it
                    connection = tls.wrap_socket(connection, server_side=True)
                return connection, address

        #: TCP connections accepted (on a TLS tenant, each a handshake tried), whether a request followed or not.
        self.connections = 0
        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def queue(self, *replies: Reply) -> None:
        with self._lock:
            self.replies.extend(replies)

    def queue_counts(self, *replies: Reply) -> None:
        with self._lock:
            self.counts.extend(replies)

    @property
    def pages_seen(self) -> list[Seen]:
        """Requests other than count queries."""
        return [seen for seen in self.seen if not is_count(seen)]

    def __enter__(self) -> ScriptedTenant:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
