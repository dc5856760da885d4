"""The API behaviour of a simulated Netskope tenant: routes, auth, parameters, queries, iterators; no sockets.

Every behaviour here is either documented by Netskope (or shown by published records) or a marked
assumption; docs/simulator.md lists which is which. A parameter the tenant documents but the
simulator does not model is refused with HTTP 400, never ignored: an ignored filter would silently
return the wrong records.
"""

from __future__ import annotations

import itertools
import random
import re
import threading
import time
from array import array
from collections import Counter, OrderedDict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

import orjson

from netskope_provider.simulator.config import IteratorClock, SimulatorConfig
from netskope_provider.simulator.records import (
    ENDPOINT_DLP,
    INSERTION_TIME,
    LOG_TYPE_NAMES,
    Corpus,
    normalise_alert_type,
)
from netskope_provider.simulator.store import Filter, Item, Key, LogStore

API_PREFIX = "/api/v2/"
#: The most records one ``data``/``datasearch`` response holds (documented for ``limit``).
MAX_PAGE = 10_000
#: Page size of ``data/*`` and ``datasearch/*`` when the request names no ``limit`` (assumed).
DEFAULT_LIMIT = 100
#: Window used by ``datasearch`` when the request has no ``starttime`` (Netskope applies a rolling default).
DATASEARCH_DEFAULT_WINDOW = 3600
#: The most records ``sortby`` sorts at once (the simulator builds every record to sort them).
SORT_LIMIT = 200_000

DATA_TYPES = ("application", "page", "network", "infrastructure", "audit", "alert")
#: ``datasearch/{name}``: (log type, subtype) it serves; ``clientstatus`` has no log type here (no records).
DATASEARCH_TYPES: dict[str, tuple[str | None, str]] = {
    **{name: (name, "") for name in ("alert", "application", "network", "page", "incident", "audit", "infrastructure")},
    "epdlp": ("endpoint", ENDPOINT_DLP),
    "clientstatus": (None, ""),
}
#: ``dataexport/events/{name}``: every log type, ``connection`` (an alias of page) and ``epdlp`` (endpoint DLP).
EXPORT_EVENT_TYPES: dict[str, tuple[str, str]] = {
    **{name: (name, "") for name in LOG_TYPE_NAMES},
    "connection": ("page", ""),
    "epdlp": ("endpoint", ENDPOINT_DLP),
}
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

#: Parameters each endpoint family models.
PARAMETERS: dict[str, frozenset[str]] = {
    "data": frozenset(
        {"insertionstarttime", "insertionendtime", "starttime", "endtime", "limit", "offset", "fields", "unsorted"}
    ),
    "datasearch": frozenset({"starttime", "endtime", "limit", "offset", "fields", "sortby", "sortorder"}),
    "iterator": frozenset({"index", "operation"}),
}
#: Modelled on ``data/alert`` only.
ALERT_PARAMETERS = frozenset({"type", "acked"})
#: Why a parameter is refused (HTTP 400), when there is more to say than "not modelled here".
_REFUSALS: dict[str, str] = {
    "query": "the query language (e.g. 'app eq Box') is not modelled by the simulator; filter with the time "
    "parameters (and type/acked on data/alert)",
    "groupby": "grouping (groupby/groupbys) is not modelled by the simulator",
    "groupbys": "grouping (groupby/groupbys) is not modelled by the simulator",
    "timeperiod": "timeperiod is documented for REST API v1 only; use starttime/endtime",
    "insertionstarttime": "datasearch filters on event time only: use starttime/endtime, not insertion times",
    "insertionendtime": "datasearch filters on event time only: use starttime/endtime, not insertion times",
    "type": "type filters alert subtypes on data/alert only",
    "acked": "acked filters alerts on data/alert only",
    "sortby": "sortby/sortorder are documented for datasearch only",
    "sortorder": "sortby/sortorder are documented for datasearch only",
    "unsorted": "unsorted is documented for data/* only",
}
_COUNT_FIELDS = re.compile(r"\s*(\w+)\s*:\s*count\(\s*(_id|id)\s*\)\s*")
_SORT = re.compile(r"\s*([\w.]+)(?:\s+(asc|desc))?\s*", re.IGNORECASE)
_BOOLEAN = {"true": True, "false": False, "1": True, "0": False}


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


def json_response(status: int, payload: Mapping[str, Any], **headers: str) -> Response:
    return Response(status, orjson.dumps(payload), dict(headers))


class BadQuery(ValueError):
    """A parameter value the tenant cannot use: HTTP 200 with ``ok: 0``, as the real datasearch answers."""


class Refused(ValueError):
    """A parameter the simulator does not model, or not on this endpoint: HTTP 400 ``{"message": ...}``."""


class Route(NamedTuple):
    """What an API path serves."""

    kind: str  #: "data", "datasearch" or "iterator"
    log_type: str | None  #: ``None``: an endpoint without records here (datasearch/clientstatus)
    subtype: str  #: alert subtype or ``epdlp``; "" for every record of the log type
    path: str  #: the path without a trailing slash (iterator state is kept per path)


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
    floor: int  #: serve records at or after this epoch on the iterator clock
    after: Key | None = None  #: position of the last record served
    #: The previous page (records and envelope tail), for ``resend``; kept as record references, not
    #: bytes, because every pull may use a fresh index and a page can be tens of megabytes.
    last: tuple[Sequence[Item], bytes] | None = None


class SimulatedTenant:
    """The API behaviour of a Netskope tenant: auth, scopes, queries, iterators; no sockets."""

    def __init__(self, config: SimulatorConfig) -> None:
        config.check()
        self.config = config
        self.start, self.end = config.resolved_span()
        self.volume = config.resolved_volume()
        self.lags = config.resolved_lags()
        self._tokens: dict[str, frozenset[str] | None] = {
            token: frozenset(allowed) for token, allowed in (config.scopes or {}).items()
        }
        self._tokens.setdefault(config.token, None)
        self.token = config.token
        self._now = config.now
        self._stores: dict[str, LogStore] = {}
        self._iterators: dict[tuple[str, str], _IteratorState] = {}
        self._sorted: OrderedDict[tuple[Any, ...], list[Item]] = OrderedDict()
        self._reorders = 0  # requests answered in a new order (``unstable_order``)
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
                corpus = Corpus(
                    log_type, self.volume[log_type], self.start, self.end, self.config.seed, self.lags.get(log_type)
                )
                store = self._stores[log_type] = LogStore(corpus)
            return store

    def insertion_time_served(self, kind: str) -> bool:
        """Whether records of an endpoint family carry ``_insertion_epoch_timestamp`` (only ``data/*`` does)."""
        return kind == "data" or self.config.insertion_time_everywhere

    # -- request handling ------------------------------------------------------------------------

    def authorize(self, headers: Any, log_type: str | None) -> Response | None:
        """401 for a missing or wrong token, 403 when the token's scope lacks ``log_type`` (``None``: no scope check)."""
        token = headers.get("Netskope-Api-Token")
        if token is None:
            auth = headers.get("Authorization") or ""
            token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        if not token:
            return json_response(401, {"message": "Missing Netskope-Api-Token header"})
        with self._lock:
            if token not in self._tokens:
                return json_response(401, {"message": "Invalid or expired token"})
            allowed = self._tokens[token]
        if allowed is not None and log_type is not None and log_type not in allowed:
            return json_response(403, {"message": "You cannot consume this service"})
        return None

    @staticmethod
    def route(path: str) -> Route | None:
        """What an API path serves, ``None`` when the tenant has no such endpoint (404)."""
        parts = path[len(API_PREFIX) :].strip("/").split("/") if path.startswith(API_PREFIX) else []
        clean = path.rstrip("/")
        match parts:
            case ["events", "data", name] if name in DATA_TYPES:
                return Route("data", name, "", clean)
            case ["events", "datasearch", name] if name in DATASEARCH_TYPES:
                return Route("datasearch", *DATASEARCH_TYPES[name], clean)
            case ["events", "dataexport", "events", name] if name in EXPORT_EVENT_TYPES:
                return Route("iterator", *EXPORT_EVENT_TYPES[name], clean)
            case ["events", "dataexport", "alerts", name] if name in EXPORT_ALERT_SUBTYPES:
                return Route("iterator", "alert", name, clean)
        return None

    def handle(self, route: Route, params: dict[str, str]) -> Response:
        try:
            self._check_parameters(route, params)
            if route.kind == "iterator":
                return self._iterator(route, params)
            return self._query(route, params)
        except Refused as exc:
            return json_response(400, {"message": str(exc)})
        except BadQuery as exc:
            return json_response(200, {"ok": 0, "message": str(exc)})

    @staticmethod
    def _check_parameters(route: Route, params: Mapping[str, str]) -> None:
        allowed = PARAMETERS[route.kind] | (
            ALERT_PARAMETERS if route.kind == "data" and route.log_type == "alert" else set()
        )
        refused = sorted(set(params) - allowed)
        if refused:
            reasons = dict.fromkeys(
                _REFUSALS.get(name, f"{name} is not a parameter of this endpoint") for name in refused
            )
            raise Refused(
                f"{', '.join(refused)}: {'; '.join(reasons)}. Parameters of {route.path}: {', '.join(sorted(allowed))}"
            )

    def _query(self, route: Route, params: dict[str, str]) -> Response:
        """``data/*`` (insertion and event time) and ``datasearch/*`` (event time only)."""
        now = self.now()
        limit = _int_param(params, "limit", DEFAULT_LIMIT)
        offset = _int_param(params, "offset", 0)
        if limit < 0 or offset < 0:
            raise BadQuery("limit and offset must be zero or positive integers")
        if route.kind == "data" and limit > MAX_PAGE:
            raise BadQuery(f"limit must be at most {MAX_PAGE}; page with offset")
        limit = min(limit, MAX_PAGE)
        time_after = _optional_int_param(params, "starttime")
        time_to = _optional_int_param(params, "endtime")
        ins_from: int | None = None
        if route.kind == "datasearch":
            time_to = now if time_to is None else time_to
            time_after = time_to - DATASEARCH_DEFAULT_WINDOW if time_after is None else time_after
            ins_to = now
        else:
            ins_from = _optional_int_param(params, "insertionstarttime")
            ins_end = _optional_int_param(params, "insertionendtime")
            if ins_from is not None and ins_end is not None and ins_from > ins_end:
                raise BadQuery(f"insertionstarttime ({ins_from}) is after insertionendtime ({ins_end})")
            ins_to = now if ins_end is None else min(ins_end, now)
            if params.get("unsorted", "false").lower() not in _BOOLEAN:
                raise BadQuery(f"unsorted must be true or false, got {params['unsorted'][:20]!r}")
        if time_after is not None and time_to is not None and time_after > time_to:
            raise BadQuery(f"starttime ({time_after}) is after endtime ({time_to})")
        sort = _sort_order(params) if route.kind == "datasearch" else None
        if route.log_type is None:  # an endpoint the tenant serves, with no records in the simulation
            return json_response(200, {"ok": 1, "result": []})
        subtype = route.subtype
        acked: str | None = None
        if "type" in params:
            subtype = normalise_alert_type(params["type"])
        if "acked" in params:
            flag = _BOOLEAN.get(params["acked"].lower())
            if flag is None:
                raise BadQuery(f"acked must be true or false, got {params['acked'][:20]!r}")
            acked = "true" if flag else "false"
        store = self.store(route.log_type)
        flt = Filter(ins_from, ins_to, time_after, time_to, subtype, acked)
        selected = self._sorted_selection(store, flt, *sort) if sort else store.select(flt)
        insertion_time = self.insertion_time_served(route.kind)
        fields = params.get("fields")
        if fields:
            counted = _COUNT_FIELDS.fullmatch(fields)
            if counted:
                return json_response(200, {"ok": 1, "result": [{counted.group(1): len(selected)}]})
        if route.kind == "data" and route.log_type in self.config.ignores_offset:
            offset = 0
        if route.kind == "data" and route.log_type in self.config.unstable_order:
            selected = self._ties_reordered(store, selected)
        page = selected[offset : offset + limit]
        self.stats.count("records_served", route.log_type, len(page))
        if fields:
            names = [name.strip() for name in fields.split(",") if name.strip()]
            if not insertion_time:
                names = [name for name in names if name != INSERTION_TIME]
            rows = [
                {name: record[name] for name in names if name in record}
                for record in (store.item_record(item, insertion_time) for item in page)
            ]
            return json_response(200, {"ok": 1, "result": rows})
        stated = route.kind == "data" and route.log_type in self.config.states_total
        tail = b',"total":%d' % len(selected) if stated else b""
        return Response(200, store.envelope(page, tail, insertion_time=insertion_time))

    def _ties_reordered(self, store: LogStore, selected: Sequence[Item]) -> list[Item]:
        """``unstable_order``: the records of each insertion second shuffled anew for this request (seeded)."""
        with self._lock:
            self._reorders += 1
            shuffle = random.Random(self.config.seed * 1_000_003 + self._reorders).shuffle
        reordered: list[Item] = []
        seconds = itertools.groupby(selected, store.item_insertion)  # in insertion order: a second's records together
        for _, tied in seconds:
            group = list(tied)
            shuffle(group)
            reordered += group
        return reordered

    def _sorted_selection(self, store: LogStore, flt: Filter, name: str, descending: bool) -> Sequence[Item]:
        """``sortby``: the selection ordered by one field (missing values first), ties in tenant order; cached."""
        selected = store.select(flt)
        if len(selected) > SORT_LIMIT:
            raise Refused(
                f"sortby: the simulator sorts at most {SORT_LIMIT:,} records and this query selects "
                f"{len(selected):,}; narrow starttime/endtime"
            )
        cache_key = (store.log_type, store.version, flt, name, descending)
        with self._lock:
            cached = self._sorted.get(cache_key)
        if cached is not None:
            return cached
        insertion_time = self.config.insertion_time_everywhere
        keys = [_sort_key(store.item_record(item, insertion_time).get(name)) for item in selected]
        order = sorted(range(len(keys)), key=keys.__getitem__, reverse=descending)
        result = [selected[k] for k in order]
        with self._lock:
            self._sorted[cache_key] = result
            while len(self._sorted) > 8:
                self._sorted.popitem(last=False)
        return result

    def _iterator(self, route: Route, params: dict[str, str]) -> Response:
        """``dataexport``: a server-side cursor per (endpoint, index) over the insertion or the event-time order."""
        index = params.get("index", "")
        operation = params.get("operation", "")
        if not index:
            raise Refused("index is required: pass index=<a name unique to this consumer>")
        assert route.log_type is not None  # every dataexport route names its log type
        now = self.now()
        key = (route.path, index)
        with self._lock:
            state = self._iterators.get(key)
            if operation == "resend":
                last = state.last if state is not None else None
            else:
                state = _moved(state, operation, now)
                if state is None:
                    raise Refused("operation must be an epoch in seconds, next, resend, head or tail")
                self._iterators[key] = state
                floor, after = state.floor, state.after
        store = self.store(route.log_type)
        insertion_time = self.insertion_time_served("iterator")
        if operation == "resend":
            # The previous page again, without moving; an empty page if this index served none yet.
            if last is None:
                return Response(200, store.envelope((), _iterator_tail(0, now), insertion_time))
            return Response(200, store.envelope(last[0], last[1], insertion_time))
        assert state is not None
        clock = self.config.iterator_clock
        if clock == "insertion":
            flt = Filter(insertion_from=floor, insertion_to=now, subtype=route.subtype)
        else:
            flt = Filter(insertion_to=now, time_after=floor - 1, subtype=route.subtype)
        items, following = self._iterator_page(store, flt, after, clock, operation == "tail")
        hwm = store.item_key(following, clock)[0] - 1 if following is not None else now
        wait = 0 if following is not None else self.config.iterator_wait_seconds
        tail = _iterator_tail(wait, hwm)
        with self._lock:
            if items:
                state.after = store.item_key(items[-1], clock)
            compact = all(isinstance(item, int) for item in items)
            state.last = (
                array("q", cast(list[int], items)) if compact else items,
                tail,
            )  # 8 bytes a record when it can
        self.stats.count("records_served", route.log_type, len(items))
        return Response(200, store.envelope(items, tail, insertion_time))

    def _iterator_page(
        self, store: LogStore, flt: Filter, after: Key | None, clock: IteratorClock, empty: bool
    ) -> tuple[list[Item], Item | None]:
        """Up to a page of records (and within one batch, if configured), and the first record left over."""
        if empty:
            return [], None
        page_records = self.config.iterator_page_records
        batch = self.config.iterator_batch_seconds
        items: list[Item] = []
        batch_end: int | None = None
        for item in store.scan(flt, after, clock):
            position = store.item_key(item, clock)[0]
            if batch is not None and batch_end is None:
                batch_end = position + batch
            if len(items) >= page_records or (batch_end is not None and position >= batch_end):
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


def _optional_int_param(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadQuery(f"{name} must be an integer (epoch seconds for times), got {raw[:40]!r}") from None


def _int_param(params: Mapping[str, str], name: str, default: int) -> int:
    value = _optional_int_param(params, name)
    return default if value is None else value


def _sort_order(params: Mapping[str, str]) -> tuple[str, bool] | None:
    """``sortby=field`` or ``sortby="field desc"``, with ``sortorder=asc|desc``: (field, descending)."""
    raw = params.get("sortby")
    if raw is None:
        if "sortorder" in params:
            raise BadQuery("sortorder needs sortby=<field>")
        return None
    match = _SORT.fullmatch(raw)
    if match is None:
        raise BadQuery(f"sortby must be a field name, optionally followed by asc or desc, got {raw[:40]!r}")
    order = (params.get("sortorder") or match.group(2) or "asc").lower()
    if order not in ("asc", "desc"):
        raise BadQuery(f"sortorder must be asc or desc, got {order[:20]!r}")
    return match.group(1), order == "desc"


def _sort_key(value: Any) -> tuple[int, Any]:
    """Missing and null first, then numbers, then strings, then anything else by its JSON."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (3, orjson.dumps(value))
    if isinstance(value, int | float):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, orjson.dumps(value, option=orjson.OPT_SORT_KEYS))


__all__ = [
    "API_PREFIX",
    "DATASEARCH_TYPES",
    "DATA_TYPES",
    "EXPORT_ALERT_SUBTYPES",
    "EXPORT_EVENT_TYPES",
    "MAX_PAGE",
    "PARAMETERS",
    "Response",
    "Route",
    "SimulatedTenant",
    "SimulatorStats",
    "json_response",
]
