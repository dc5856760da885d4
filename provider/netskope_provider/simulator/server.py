"""A simulated Netskope tenant over real HTTP(S) on 127.0.0.1.

:class:`~netskope_provider.simulator.tenant.SimulatedTenant` answers API requests (no sockets);
this module adds the transport: request bodies, rate limits and their headers, fault injection,
iterator concurrency (409), gzip and writing the bytes. :class:`SimulatorServer` runs it in a
background thread.
"""

from __future__ import annotations

import math
import random
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from isal import igzip

from netskope_provider.simulator.config import FaultConfig, SimulatorConfig
from netskope_provider.simulator.store import Filter
from netskope_provider.simulator.tenant import (
    API_PREFIX,
    Response,
    Route,
    SimulatedTenant,
    SimulatorStats,
    json_response,
)
from netskope_provider.simulator.tls import server_context, write_self_signed

#: Requests per second per endpoint when the config sets no limit: a bucket no test reaches, so
#: every answer still carries RateLimit-* headers as the tenant's do.
UNTHROTTLED_RATE = 1000.0
#: gzip level: ISA-L at level 1 compresses a 35 MB page in ~0.1 s (zlib level 1: ~0.45 s) to ~16 %.
GZIP_LEVEL = 1
_HTML_LOGIN = (
    b"<!DOCTYPE html><html><head><title>Netskope - Sign In</title></head><body>"
    b'<form method="post" action="/login/authenticate"><input name="username"><input type="password" name="password">'
    b"<button>Sign in</button></form></body></html>"
)
_BODY_CHUNK = 1 << 16

#: Which records ``SimulatorServer.ground_truth`` selects: by insertion time or by event time.
Clock = Literal["insertion", "event"]


class _RateLimiter:
    """A token bucket per endpoint path, refilled at ``rate`` per second, ``rate`` deep (at least 1)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, path: str) -> tuple[bool, dict[str, str]]:
        """Consume one request; return whether it is allowed and the RateLimit-* headers."""
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._buckets.get(path, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - stamp) * self.rate)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            self._buckets[path] = (tokens, now)
        headers = {
            "RateLimit-Limit": str(math.ceil(self.rate)),
            "RateLimit-Remaining": str(int(tokens)),
            "RateLimit-Reset": str(math.ceil((self.capacity - tokens) / self.rate)),
        }
        if not allowed:
            headers["Retry-After"] = str(max(1, math.ceil((1.0 - tokens) / self.rate)))
        return allowed, headers


class _FaultDice:
    """Decides which faults a request meets: counters first, then seeded probabilities."""

    def __init__(self, faults: FaultConfig, seed: int) -> None:
        self.faults = faults
        self._random = random.Random(f"faults:{seed}")
        self._lock = threading.Lock()

    def roll(self, path: str, iterator: bool) -> set[str]:
        faults = self.faults
        if faults.path_contains and faults.path_contains not in path:
            return set()
        chosen: set[str] = set()
        with self._lock:
            for kind in ("reset", "error", "html", "slow", "truncate"):
                if self._take(f"{kind}_next") or self._random.random() < getattr(faults, f"{kind}_rate"):
                    chosen.add(kind)
            if self._take("throttle_next"):
                chosen.add("throttle")
            if iterator and self._take("conflict_next"):
                chosen.add("conflict")
        return chosen

    def _take(self, counter: str) -> bool:
        left: int = getattr(self.faults, counter)
        if left > 0:
            setattr(self.faults, counter, left - 1)
            return True
        return False


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests and benchmarks would drown in access logs."""

    def do_GET(self) -> None:
        self.server.owner._serve(self)

    # Every other method is answered too (405 on an event endpoint, 404 elsewhere), after its body
    # is read: an unread body would be parsed as the next request on a keep-alive connection.
    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, owner: SimulatorServer, address: tuple[str, int]) -> None:
        self.owner = owner
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up or reject the certificate are normal here; anything else is printed."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError, TimeoutError)):
            super().handle_error(request, client_address)


class SimulatorServer:
    """A Netskope tenant on 127.0.0.1, served from a background thread; use as a context manager."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.tenant = SimulatedTenant(self.config)
        self._limiter = _RateLimiter(self.config.rate_limit_per_second or UNTHROTTLED_RATE)
        self._dice = _FaultDice(self.config.faults, self.config.seed)
        self._inflight: set[tuple[str, str]] = set()
        self._inflight_lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._tls_dir: tempfile.TemporaryDirectory[str] | None = None
        #: With ``tls=True``: the PEM file to pass as ``verify=`` (the connection's CA bundle).
        self.ca_file: str | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> SimulatorServer:
        self._httpd = _Server(self, (self.config.host, self.config.port))
        if self.config.tls:
            cert_path, key_path = write_self_signed(self._certificate_dir(), self.config.tls_names)
            self.ca_file = str(cert_path)
            # The handshake happens in the handler thread, on first read, not in the accept loop.
            self._httpd.socket = server_context(cert_path, key_path).wrap_socket(
                self._httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="netskope-simulator", daemon=True)
        self._thread.start()
        return self

    def _certificate_dir(self) -> Path:
        """The configured ``tls_dir`` (created if needed), else a temporary folder removed by ``stop()``."""
        if self.config.tls_dir:
            directory = Path(self.config.tls_dir)
            directory.mkdir(parents=True, exist_ok=True)
            return directory
        self._tls_dir = tempfile.TemporaryDirectory(prefix="netskope-simulator-tls-")
        return Path(self._tls_dir.name)

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._tls_dir is not None:
            self._tls_dir.cleanup()
            self._tls_dir = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the documented Python API ---------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the simulator is not running; use `with SimulatorServer(cfg) as sim:`")
        return int(self._httpd.server_address[1])

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: what goes into the Netskope connection's host field."""
        return f"{self.config.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.config.tls else 'http'}://{self.host}"

    @property
    def token(self) -> str:
        return self.tenant.token

    @property
    def faults(self) -> FaultConfig:
        return self._dice.faults

    @faults.setter
    def faults(self, faults: FaultConfig) -> None:
        self._dice.faults = faults

    @property
    def stats(self) -> SimulatorStats:
        return self.tenant.stats

    def now(self) -> int:
        return self.tenant.now()

    def set_now(self, epoch: int | None) -> None:
        """Move the tenant clock (``None``: follow real time); records become visible as their insertion time passes."""
        self.tenant.set_now(epoch)

    def set_token(self, new: str) -> None:
        self.tenant.set_token(new)

    def ground_truth(
        self, log_type: str, start: int, end: int, *, by: Clock = "insertion", served_by: str | None = None
    ) -> list[dict[str, Any]]:
        """Every record of ``log_type`` whose insertion time (``by="event"``: event time) is in ``[start, end)``.

        Visible yet or not, in tenant order (insertion time, then ``_id``). Records come as the
        tenant stores them, with ``_insertion_epoch_timestamp``; ``served_by="dataexport"`` or
        ``"datasearch"`` gives them in the shape those endpoints serve (``"data"``: as stored).
        """
        flt = Filter(insertion_from=start, insertion_to=end - 1)
        if by == "event":
            flt = Filter(time_after=start - 1, time_to=end - 1)
        elif by != "insertion":
            raise ValueError(f"ground_truth(by=...) takes 'insertion' or 'event', got {by!r}")
        return self.tenant.store(log_type).records(flt, self._insertion_time(served_by))

    def visible_at(self, log_type: str, moment: int, *, served_by: str | None = None) -> list[dict[str, Any]]:
        """Everything the tenant holds of ``log_type`` at ``moment``: records inserted at or before it."""
        return self.tenant.store(log_type).records(Filter(insertion_to=moment), self._insertion_time(served_by))

    def _insertion_time(self, served_by: str | None) -> bool:
        if served_by is None:
            return True
        if served_by not in ("data", "datasearch", "dataexport"):
            raise ValueError(f"served_by takes 'data', 'datasearch' or 'dataexport' (or None), got {served_by!r}")
        return self.tenant.insertion_time_served("iterator" if served_by == "dataexport" else served_by)

    def inject(self, log_type: str, records: list[dict[str, Any]]) -> int:
        """Add records (late arrivals, edge cases); served once their insertion time is not after "now".

        Each record needs ``_insertion_epoch_timestamp`` (when the tenant stores it); endpoints that
        serve no insertion time serve the record without it.
        """
        return self.tenant.store(log_type).inject(records)

    # -- transport -------------------------------------------------------------------------------

    def _serve(self, handler: _Handler) -> None:
        method = handler.command
        if not self._read_body(handler):
            return
        split = urlsplit(handler.path)
        path = split.path
        params = {name: values[0] for name, values in parse_qs(split.query, keep_blank_values=True).items()}
        stats = self.tenant.stats
        stats.count("requests", path)
        stats.record("queries", (path, params))
        route = SimulatedTenant.route(path)
        iterator = route is not None and route.kind == "iterator" and method == "GET"
        faults = self._dice.roll(path, iterator) if path.startswith(API_PREFIX) else set()
        # Claim the iterator index before anything is observable (stats), so a test that sees this
        # request's fault counted knows a second request on the index will conflict.
        inflight = (path.rstrip("/"), params.get("index", "")) if iterator and "reset" not in faults else None
        if inflight is not None:
            with self._inflight_lock:
                busy = inflight in self._inflight or "conflict" in faults
                if not busy:
                    self._inflight.add(inflight)
            if busy:
                inflight = None
        for kind in faults:
            stats.count("faults", kind)
        if "reset" in faults:
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.close_connection = True
            return
        allowed, limit_headers = self._limiter.take(path)
        if not allowed:
            faults.add("throttle")
        try:
            if "slow" in faults:
                time.sleep(self.faults.slow_seconds)
            try:
                response = self._respond(handler, path, params, route, faults, busy=iterator and inflight is None)
            except Exception as exc:  # a simulator bug: answer it plainly instead of dropping the connection
                stats.record("internal_errors", f"{path}: {exc!r}")
                response = json_response(
                    500, {"message": f"Netskope simulator internal error (a bug in the simulator): {exc!r}"}
                )
            if response.status == 429:
                limit_headers["RateLimit-Remaining"] = "0"
                # The limiter's own wait when it refused the request; a 429 storm (a fault on a request
                # the bucket allowed) asks for the shortest whole second.
                limit_headers.setdefault("Retry-After", "1")
            response.headers = {**limit_headers, **response.headers}
            # Release the index before the answer goes out: a client that reads it may ask again at
            # once, and must not find its own finished request still holding the index (a 409).
            self._release(inflight)
            inflight = None  # released: the index may already belong to the client's next request
            self._send(handler, response, faults)
        finally:
            self._release(inflight)

    @staticmethod
    def _read_body(handler: _Handler) -> bool:
        """Read and drop a request body (``Content-Length`` or chunked); ``False`` when it is malformed."""
        stream = handler.rfile
        try:
            length = handler.headers.get("Content-Length")
            if length is not None:
                left = int(length)
                while left > 0:
                    chunk = stream.read(min(left, _BODY_CHUNK))
                    if not chunk:
                        raise ValueError("body shorter than Content-Length")
                    left -= len(chunk)
            elif "chunked" in (handler.headers.get("Transfer-Encoding") or "").lower():
                while size := int(stream.readline(1024).split(b";")[0].strip(), 16):
                    stream.read(size + 2)  # the chunk and its CRLF
                while stream.readline(1024).strip():  # trailers, up to the blank line
                    pass
        except ValueError:
            handler.send_error(400, "Malformed request body")
            handler.close_connection = True
            return False
        return True

    def _release(self, inflight: tuple[str, str] | None) -> None:
        if inflight is not None:
            with self._inflight_lock:
                self._inflight.discard(inflight)

    def _respond(
        self,
        handler: _Handler,
        path: str,
        params: dict[str, str],
        route: Route | None,
        faults: set[str],
        busy: bool,
    ) -> Response:
        if "error" in faults:
            status = self.faults.error_status
            return json_response(status, {"message": f"Simulated server error {status}; retry later"})
        if "html" in faults:
            return Response(200, _HTML_LOGIN, content_type="text/html; charset=utf-8")
        if "throttle" in faults:
            self.tenant.stats.count("throttled")
            return json_response(429, {"message": "API rate limit exceeded"})  # Retry-After: see _serve
        if route is None:
            denied = self.tenant.authorize(handler.headers, None)
            return denied or json_response(404, {"message": f"Not found: {handler.command} {path}"})
        denied = self.tenant.authorize(handler.headers, route.log_type)
        if denied is not None:
            return denied
        if handler.command != "GET":
            message = f"Method {handler.command} is not allowed on {route.path}; it answers GET"
            return json_response(405, {"message": message}, Allow="GET")
        if busy:
            self.tenant.stats.count("conflicts")
            message = (
                f"Concurrency conflict: index {params.get('index', '')!r} is in use by another request on this endpoint"
            )
            return json_response(409, {"ok": 0, "message": message, "wait_time": 1}, **{"Retry-After": "1"})
        return self.tenant.handle(route, params)

    def _send(self, handler: _Handler, response: Response, faults: set[str]) -> None:
        body = response.body
        headers = {"Content-Type": response.content_type, **response.headers}
        if self.config.gzip and _accepts_gzip(handler.headers.get("Accept-Encoding")):
            body = igzip.compress(body, GZIP_LEVEL)
            headers.update({"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
        self.tenant.stats.count("statuses", response.status)
        handler.send_response(response.status)
        headers["Content-Length"] = str(len(body))
        for name, value in headers.items():
            handler.send_header(name, value)
        if "truncate" in faults:
            handler.send_header("Connection", "close")
            handler.close_connection = True
            body = body[: len(body) // 2]
        handler.end_headers()
        if handler.command == "HEAD":
            return
        try:
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True


def _accepts_gzip(accept_encoding: str | None) -> bool:
    """``gzip`` (or ``*``) listed in ``Accept-Encoding`` without ``q=0``."""
    for entry in (accept_encoding or "").split(","):
        name, _, parameters = entry.partition(";")
        if name.strip().lower() in ("gzip", "*"):
            quality = parameters.strip().lower()
            return not quality.startswith("q=") or quality[2:].strip("0.") != ""
    return False


__all__ = ["UNTHROTTLED_RATE", "SimulatorServer"]
