"""A simulated Netskope tenant: the REST API v2 event endpoints over real HTTP on 127.0.0.1.

:class:`Tenant` answers API requests (pure request -> response logic, no sockets); the request
handler adds the transport: rate limiting, fault injection, iterator concurrency (409) and
writing the bytes. :class:`SimulatorServer` runs it in a background thread.
"""

from __future__ import annotations

import math
import random
import re
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
from array import array
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from netskope_provider.simulator.config import FaultConfig, SimulatorConfig
from netskope_provider.simulator.records import LOG_TYPE_NAMES, Corpus, normalise_alert_type
from netskope_provider.simulator.store import Filter, Item, LogStore
from netskope_provider.simulator.tls import server_context, write_self_signed

API_PREFIX = "/api/v2/"
MAX_PAGE = 10000
#: Page size of ``data/*`` and ``datasearch/*`` when the request names no ``limit``.
DEFAULT_LIMIT = 100
DATA_TYPES = ("application", "page", "network", "infrastructure", "audit", "alert")
DATASEARCH_TYPES = ("incident", "application", "page", "network", "alert")
#: ``dataexport/events/{type}``: every log type, plus ``connection`` (an alias of page).
EXPORT_EVENT_TYPES = {**{name: name for name in LOG_TYPE_NAMES}, "connection": "page"}
EXPORT_ALERT_SUBTYPES = (
    "dlp",
    "watchlist",
    "ctep",
    "compromisedcredential",
    "malsite",
    "malware",
    "policy",
    "remediation",
    "quarantine",
    "securityassessment",
    "uba",
    "device",
    "content",
    "c2",
    "ips",
    "anomaly",
    "legalhold",
)
#: Window used by ``datasearch`` when the request has no ``starttime`` (Netskope applies a rolling default).
DATASEARCH_DEFAULT_WINDOW = 3600
_COUNT_FIELDS = re.compile(r"\s*(\w+)\s*:\s*count\(\s*(_id|id)\s*\)\s*")
_HTML_LOGIN = (
    b"<!DOCTYPE html><html><head><title>Netskope - Sign In</title></head><body>"
    b'<form method="post" action="/login/authenticate"><input name="username"><input type="password" name="password">'
    b"<button>Sign in</button></form></body></html>"
)


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


def _json(status: int, payload: dict[str, Any], **headers: str) -> Response:
    return Response(status, orjson.dumps(payload), dict(headers))


def _query_error(message: str) -> Response:
    """Netskope reports a bad query as HTTP 200 with ``ok: 0``."""
    return _json(200, {"ok": 0, "message": message})


class BadQuery(ValueError):
    """A query parameter the tenant cannot use; becomes an ``ok: 0`` envelope."""


@dataclass
class SimulatorStats:
    """Counters of what the simulator did; read them in tests (they only grow)."""

    requests: Counter[str] = field(default_factory=Counter)  #: by path
    statuses: Counter[int] = field(default_factory=Counter)  #: by HTTP status sent
    faults: Counter[str] = field(default_factory=Counter)  #: by fault kind injected
    records_served: Counter[str] = field(default_factory=Counter)  #: by log type
    throttled: int = 0  #: 429 responses (rate limit and storms)
    conflicts: int = 0  #: 409 responses (iterator index in use)
    #: The most recent requests as (path, query parameters), oldest first; headers (the token) are not kept.
    queries: deque[tuple[str, dict[str, str]]] = field(default_factory=lambda: deque(maxlen=10_000))
    #: Bugs in the simulator itself, answered with HTTP 500 (a test should assert this stays empty).
    internal_errors: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, name: str, key: Any = None, amount: int = 1) -> None:
        with self._lock:
            target = getattr(self, name)
            if isinstance(target, Counter):
                target[key] += amount
            else:
                setattr(self, name, target + amount)

    def record(self, name: str, entry: Any) -> None:
        """Append to the ``queries`` or ``internal_errors`` log."""
        with self._lock:
            getattr(self, name).append(entry)


@dataclass
class _IteratorState:
    floor: int  #: serve records inserted at or after this epoch
    after: tuple[int, str] | None = None  #: key of the last record served
    #: The previous page (records and envelope tail), for ``resend``; kept as record references, not
    #: bytes, because every pull may use a fresh index and a page can be tens of megabytes.
    last: tuple[Sequence[Item], bytes] | None = None


class Tenant:
    """The API behaviour of a Netskope tenant: auth, scopes, queries, iterators; no sockets."""

    def __init__(self, config: SimulatorConfig) -> None:
        if config.rate_limit_per_second is not None and config.rate_limit_per_second <= 0:
            raise ValueError("SimulatorConfig.rate_limit_per_second must be positive, or None for no limit")
        if config.iterator_batch_seconds < 1 or config.iterator_wait_seconds < 0:
            raise ValueError(
                "SimulatorConfig: iterator_batch_seconds must be at least 1 and iterator_wait_seconds at least 0"
            )
        self.config = config
        self.start, self.end = config.resolved_span()
        self.volume = config.resolved_volume()
        self._tokens: dict[str, frozenset[str] | None] = {}
        for token, allowed in (config.scopes or {}).items():
            unknown = set(allowed) - set(LOG_TYPE_NAMES)
            if unknown:
                raise ValueError(f"SimulatorConfig.scopes names unknown log types {sorted(unknown)}")
            self._tokens[token] = frozenset(allowed)
        self._tokens.setdefault(config.token, None)
        self.token = config.token
        self._now = config.now
        self._stores: dict[str, LogStore] = {}
        self._iterators: dict[tuple[str, str], _IteratorState] = {}
        self._lock = threading.Lock()
        self._stores_lock = threading.Lock()
        self.stats = SimulatorStats()

    # -- state the test controls -----------------------------------------------------------------

    def now(self) -> int:
        return self._now if self._now is not None else int(time.time())

    def set_now(self, epoch: int | None) -> None:
        """Fix the tenant clock at ``epoch`` (``None``: follow real time again)."""
        self._now = epoch

    def set_token(self, new: str) -> None:
        """Rotate the primary token: the old one fails with 401 at once, the new one keeps its scope."""
        with self._lock:
            scope = self._tokens.pop(self.token, None)
            self._tokens[new] = scope
            self.token = new

    def store(self, log_type: str) -> LogStore:
        """The records of ``log_type``, generated on first use (so unused types cost nothing)."""
        if log_type not in LOG_TYPE_NAMES:
            raise ValueError(f"Unknown Netskope log type {log_type!r}; expected one of: {', '.join(LOG_TYPE_NAMES)}")
        with self._stores_lock:  # not self._lock: building a big corpus must not stall authentication
            store = self._stores.get(log_type)
            if store is None:
                corpus = Corpus(log_type, self.volume[log_type], self.start, self.end, self.config.seed)
                store = self._stores[log_type] = LogStore(corpus)
            return store

    # -- request handling ------------------------------------------------------------------------

    def authorize(self, headers: Any, log_type: str | None) -> Response | None:
        """401 for a missing or wrong token, 403 when the token's scope lacks ``log_type`` (``None``: no scope check)."""
        token = headers.get("Netskope-Api-Token")
        if token is None:
            auth = headers.get("Authorization") or ""
            token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        if not token:
            return _json(401, {"message": "Missing Netskope-Api-Token header"})
        with self._lock:
            if token not in self._tokens:
                return _json(401, {"message": "Invalid or expired token"})
            allowed = self._tokens[token]
        if allowed is not None and log_type is not None and log_type not in allowed:
            return _json(403, {"message": "You cannot consume this service"})
        return None

    @staticmethod
    def route(path: str) -> tuple[str, str, str] | None:
        """``(kind, log_type, subtype)`` for an API path, ``None`` when the tenant has no such endpoint."""
        parts = path[len(API_PREFIX) :].strip("/").split("/") if path.startswith(API_PREFIX) else []
        match parts:
            case ["events", "data", name] if name in DATA_TYPES:
                return "data", name, ""
            case ["events", "datasearch", name] if name in DATASEARCH_TYPES:
                return "datasearch", name, ""
            case ["events", "dataexport", "events", name] if name in EXPORT_EVENT_TYPES:
                return "iterator", EXPORT_EVENT_TYPES[name], ""
            case ["events", "dataexport", "alerts", name] if name in EXPORT_ALERT_SUBTYPES:
                return "iterator", "alert", name
        return None

    def handle(self, kind: str, log_type: str, subtype: str, path: str, params: dict[str, str]) -> Response:
        try:
            if kind == "iterator":
                return self._iterator(path, log_type, subtype, params)
            return self._query(kind, log_type, params)
        except BadQuery as exc:
            return _query_error(str(exc))

    def _query(self, kind: str, log_type: str, params: dict[str, str]) -> Response:
        """``data/*`` (insertion and event time) and ``datasearch/*`` (event time only)."""
        unsupported = {"query", "timeperiod", "groupbys", "sortby", "acked"} & set(params)
        if unsupported:
            raise BadQuery(
                f"the simulator does not support {', '.join(sorted(unsupported))}; filter with the time parameters"
            )
        now = self.now()
        limit = _int_param(params, "limit", DEFAULT_LIMIT)
        offset = _int_param(params, "offset", 0)
        if limit < 0 or offset < 0:
            raise BadQuery("limit and offset must be zero or positive integers")
        if kind == "data" and limit > MAX_PAGE:
            raise BadQuery(f"limit must be at most {MAX_PAGE}; page with offset")
        limit = min(limit, MAX_PAGE)
        time_after = _int_param(params, "starttime", None)
        time_to = _int_param(params, "endtime", None)
        if kind == "datasearch":
            if "insertionstarttime" in params or "insertionendtime" in params:
                raise BadQuery("datasearch filters on event time only: use starttime/endtime, not insertion times")
            time_to = now if time_to is None else time_to
            time_after = time_to - DATASEARCH_DEFAULT_WINDOW if time_after is None else time_after
            ins_from, ins_to = None, now
        else:
            ins_from = _int_param(params, "insertionstarttime", None)
            ins_to = _int_param(params, "insertionendtime", None)
            if ins_from is not None and ins_to is not None and ins_from > ins_to:
                raise BadQuery(f"insertionstarttime ({ins_from}) is after insertionendtime ({ins_to})")
            ins_to = now if ins_to is None else min(ins_to, now)
        if time_after is not None and time_to is not None and time_after > time_to:
            raise BadQuery(f"starttime ({time_after}) is after endtime ({time_to})")
        subtype = normalise_alert_type(params.get("type", "")) if log_type == "alert" else ""
        store = self.store(log_type)
        selected = store.select(Filter(ins_from, ins_to, time_after, time_to, subtype))
        fields = params.get("fields")
        if fields:
            counted = _COUNT_FIELDS.fullmatch(fields)
            if counted:
                return _json(200, {"ok": 1, "result": [{counted.group(1): len(selected)}]})
        page = selected[offset : offset + limit]
        self.stats.count("records_served", log_type, len(page))
        if fields:
            names = [name.strip() for name in fields.split(",") if name.strip()]
            rows = [{name: record[name] for name in names if name in record} for record in map(store.item_record, page)]
            return _json(200, {"ok": 1, "result": rows})
        return Response(200, store.envelope(page))

    def _iterator(self, path: str, log_type: str, subtype: str, params: dict[str, str]) -> Response:
        """``dataexport``: a server-side cursor per (endpoint, index)."""
        index = params.get("index", "")
        operation = params.get("operation", "")
        if not index:
            return _json(400, {"message": "index is required: pass index=<a name unique to this consumer>"})
        now = self.now()
        key = (path.rstrip("/"), index)
        with self._lock:
            state = self._iterators.get(key)
            if operation == "resend":
                last = state.last if state is not None else None
            else:
                state = _moved(state, operation, now)
                if state is None:
                    return _json(400, {"message": "operation must be an epoch in seconds, next, resend, head or tail"})
                self._iterators[key] = state
                floor, after = state.floor, state.after
        store = self.store(log_type)
        if operation == "resend":
            # The previous page again, without moving; an empty page if this index served none yet.
            return Response(200, store.envelope(*last) if last else store.envelope((), _iterator_tail(0, now)))
        items, following = self._iterator_page(store, Filter(floor, now, subtype=subtype), after, operation == "tail")
        hwm = store.item_insertion(following) - 1 if following is not None else now
        wait = 0 if following is not None else self.config.iterator_wait_seconds
        tail = _iterator_tail(wait, hwm)
        with self._lock:
            if items:
                final = items[-1]
                state.after = store.corpus.key(final) if isinstance(final, int) else final.key
            compact = all(isinstance(item, int) for item in items)
            state.last = (array("q", items) if compact else items, tail)  # 8 bytes a record when it can
        self.stats.count("records_served", log_type, len(items))
        return Response(200, store.envelope(items, tail))

    def _iterator_page(
        self, store: LogStore, flt: Filter, after: tuple[int, str] | None, empty: bool
    ) -> tuple[list[Item], Item | None]:
        """Up to 10,000 records within one batch of insertion time, and the first record left over."""
        if empty:
            return [], None
        items: list[Item] = []
        batch_end: int | None = None
        for item in store.scan(flt, after):
            ins = store.item_insertion(item)
            if batch_end is None:
                batch_end = ins + self.config.iterator_batch_seconds
            if len(items) >= MAX_PAGE or ins >= batch_end:
                return items, item
            items.append(item)
        return items, None


def _moved(state: _IteratorState | None, operation: str, now: int) -> _IteratorState | None:
    """Where ``operation`` puts an index (``None``: not an operation)."""
    if operation.isascii() and operation.isdigit():
        return _IteratorState(floor=int(operation))
    if operation == "head":
        return _IteratorState(floor=0)
    if operation == "tail":
        return _IteratorState(floor=now + 1)
    if operation == "next":
        # Undocumented on a never-used index; the simulator starts it at "now".
        return state or _IteratorState(floor=now + 1)
    return None


def _iterator_tail(wait_time: int, hwm: int) -> bytes:
    return b',"wait_time":%d,"timestamp_hwm":%d' % (wait_time, hwm)


def _int_param(params: dict[str, str], name: str, default: int | None) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadQuery(f"{name} must be an integer (epoch seconds for times), got {raw[:40]!r}") from None


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
        left = getattr(self.faults, counter)
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

    def _method_not_allowed(self) -> None:
        self.server.owner._send(self, _json(405, {"message": "Only GET is supported by these endpoints"}), set())

    do_POST = do_PUT = do_DELETE = do_PATCH = _method_not_allowed


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
        self.tenant = Tenant(self.config)
        self._limiter = _RateLimiter(self.config.rate_limit_per_second) if self.config.rate_limit_per_second else None
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
        return self._httpd.server_address[1]

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
        self.tenant.set_now(epoch)

    def set_token(self, new: str) -> None:
        self.tenant.set_token(new)

    def ground_truth(self, log_type: str, start: int, end: int) -> list[dict[str, Any]]:
        """Every record of ``log_type`` with insertion time in ``[start, end)``, served yet or not."""
        return self.tenant.store(log_type).records_between(start, end)

    def inject(self, log_type: str, records: list[dict[str, Any]]) -> int:
        """Add records (late arrivals, edge cases); served once their insertion time is not after "now"."""
        return self.tenant.store(log_type).inject(records)

    # -- transport -------------------------------------------------------------------------------

    def _serve(self, handler: _Handler) -> None:
        split = urlsplit(handler.path)
        path = split.path
        params = {name: values[0] for name, values in parse_qs(split.query, keep_blank_values=True).items()}
        stats = self.tenant.stats
        stats.count("requests", path)
        stats.record("queries", (path, params))
        route = Tenant.route(path)
        iterator = route is not None and route[0] == "iterator"
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
        limit_headers: dict[str, str] = {}
        if self._limiter is not None:
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
                response = _json(
                    500, {"message": f"Netskope simulator internal error (a bug in the simulator): {exc!r}"}
                )
            response.headers.update(limit_headers)
            # Release the index before the answer goes out: a client that reads it may ask again at
            # once, and must not find its own finished request still holding the index (a 409).
            self._release(inflight)
            inflight = None  # released: the index may already belong to the client's next request
            self._send(handler, response, faults)
        finally:
            self._release(inflight)

    def _release(self, inflight: tuple[str, str] | None) -> None:
        if inflight is not None:
            with self._inflight_lock:
                self._inflight.discard(inflight)

    def _respond(
        self,
        handler: _Handler,
        path: str,
        params: dict[str, str],
        route: tuple[str, str, str] | None,
        faults: set[str],
        busy: bool,
    ) -> Response:
        if "error" in faults:
            status = self.faults.error_status
            return _json(status, {"message": f"Simulated server error {status}; retry later"})
        if "html" in faults:
            return Response(200, _HTML_LOGIN, content_type="text/html; charset=utf-8")
        if "throttle" in faults:
            self.tenant.stats.count("throttled")
            headers = {"Retry-After": "1"}
            return _json(429, {"message": "API rate limit exceeded"}, **headers)
        if route is None:
            denied = self.tenant.authorize(handler.headers, None)
            return denied or _json(404, {"message": f"Not found: {path}"})
        kind, log_type, subtype = route
        denied = self.tenant.authorize(handler.headers, log_type)
        if denied is not None:
            return denied
        if busy:
            self.tenant.stats.count("conflicts")
            message = (
                f"Concurrency conflict: index {params.get('index', '')!r} is in use by another request on this endpoint"
            )
            return _json(409, {"ok": 0, "message": message, "wait_time": 1}, **{"Retry-After": "1"})
        return self.tenant.handle(kind, log_type, subtype, path, params)

    def _send(self, handler: _Handler, response: Response, faults: set[str]) -> None:
        body = response.body
        self.tenant.stats.count("statuses", response.status)
        handler.send_response(response.status)
        handler.send_header("Content-Type", response.content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in response.headers.items():
            handler.send_header(name, value)
        if "truncate" in faults:
            handler.send_header("Connection", "close")
            handler.close_connection = True
            body = body[: len(body) // 2]
        handler.end_headers()
        try:
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True
