"""``NetskopeClient``: the REST API v2 transport and the window API, without any Airflow import.

One ``requests.Session`` (pooling, gzip, timeouts, TLS verification), a process-wide rate limiter
per endpoint, bounded retries with jitter (tenacity), and one error class per failure the
operator can act on. The token comes from a ``token_provider`` callable so the caller decides
where it lives and can re-read it after a rotation (HTTP 401); it is sent only to the tenant host
(redirects are never followed) and redacted, in every encoding, from every text the client makes.
"""

from __future__ import annotations

import email.utils
import logging
import random
import re
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import orjson
import requests
import tenacity
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from netskope_provider import __version__
from netskope_provider.api import options, strategies
from netskope_provider.api.host import check_tenant_host
from netskope_provider.api.page import BodyError, Envelope, ParsedBody, RawPage, gunzip, parse_body
from netskope_provider.api.ratelimit import RateLimiter, shared_limiter
from netskope_provider.api.redact import check_token, redact, token_forms
from netskope_provider.exceptions import (
    NetskopeAuthError,
    NetskopeConfigError,
    NetskopeError,
    NetskopeNotFoundError,
    NetskopePageTooLargeError,
    NetskopePermissionError,
    NetskopeRedirectError,
    NetskopeResponseError,
    NetskopeRetriesExhaustedError,
)
from netskope_provider.log_types import LogType, Strategy, get_log_type

log = logging.getLogger(__name__)

#: ``(refresh) -> token``: ``refresh=True`` means the last token was refused, read the source again.
TokenProvider = Callable[[bool], str]

TOKEN_HEADER: Final = "Netskope-Api-Token"
#: Records a page asks for: the API's maximum, so each request of the 4/s budget carries the most.
PAGE_SIZE: Final = 10_000
#: Bytes one response body may reach before it is dropped (and, on offset paging, asked again with
#: half the records): bounds memory whatever the records weigh. 10,000 application records are ~35 MB.
MAX_PAGE_BYTES: Final = 256 * 1024 * 1024
#: (connect, read) seconds; a 10,000-record page can take a while to build on a busy tenant.
DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 120.0)
SNIPPET_CHARS: Final = 200
#: Bytes read from the socket at a time; requests' default (10 KB) made reading a 35 MB page cost as much as parsing half of it.
BODY_CHUNK_BYTES: Final = 1 << 20
#: An error body is read this far at most (for its message and ``wait_time``).
ERROR_BODY_BYTES: Final = 64 * 1024
COUNT_FIELDS: Final = "event_count:count(_id)"
#: Default longest lag between an incident or endpoint record's event and its insertion (6 h).
MAX_LAG_SECONDS: Final = 6 * 3600
#: What the dataexport iterator's epoch and ``timestamp_hwm`` may count in; the first is assumed.
ITERATOR_CLOCKS: Final = ("insertion", "event")
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
# http.client's words when a proxy answers CONNECT with a status; only its 407 asks for credentials (a bare
# "407" also matches a proxy on port 34071, as one in CI was).
_TUNNEL_407: Final = re.compile(r"Tunnel connection failed: 407\b")
#: Transport failures worth another try; TLS errors are excluded (retrying cannot fix a bad CA).
_TRANSIENT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
#: OpenSSL's words for "the other side answered in plain text" (versions 1.1 to 3.x).
_NOT_TLS: Final = ("WRONG_VERSION_NUMBER", "wrong version number", "record layer failure", "http request")
# OpenSSL's reasons for a certificate issued to another name (the error also names the host, so a bare
# "match" would hit a tenant such as matchgroup.goskope.com).
_NAME_MISMATCH: Final = ("Hostname mismatch", "IP address mismatch")


@dataclass
class EndpointStats:
    requests: int = 0
    rate_limited: int = 0
    conflicts: int = 0
    retries: int = 0
    token_refreshes: int = 0
    records: int = 0
    duplicates_dropped: int = 0
    untimed_records: int = 0
    quarantined: int = 0
    repaired_records: int = 0
    tolerant_pages: int = 0
    wait_seconds: float = 0.0


class ClientStats:
    """Counters per endpoint path, safe to update from many threads (exported as metrics later)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_endpoint: dict[str, EndpointStats] = {}

    def add(self, endpoint: str, **increments: float) -> None:
        with self._lock:
            stats = self._by_endpoint.setdefault(endpoint, EndpointStats())
            for name, amount in increments.items():
                setattr(stats, name, getattr(stats, name) + amount)

    def snapshot(self) -> dict[str, dict[str, float]]:
        with self._lock:
            return {endpoint: asdict(stats) for endpoint, stats in self._by_endpoint.items()}

    def total(self, counter: str) -> float:
        with self._lock:
            return sum(getattr(stats, counter) for stats in self._by_endpoint.values())


class _Retry(Exception):
    """Internal: this attempt failed in a way another attempt may fix."""

    def __init__(self, reason: str, *, wait: float | None = None, throttled: bool = False, reauth: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.wait = wait
        self.throttled = throttled  # refused before processing (409/429): wait as told, own budget
        self.reauth = reauth  # HTTP 401 once: the token was re-read, send again at once


class _RetryPolicy:
    """One request's retry state for tenacity: which failures are retried, when to stop, how long to wait.

    Throttling (429/409) and transient failures (5xx, resets, truncated bodies) have separate
    budgets; a throttled request is re-sent as is once the limiter allows, a failed one after an
    exponential backoff with jitter, and with ``retry_params`` (an iterator ``resend``) when given.
    """

    def __init__(self, client: NetskopeClient, kind: LogType, limiter: RateLimiter, budget: int) -> None:
        self.client = client
        self.kind = kind
        self.limiter = limiter
        self.budget = budget
        self.retries = 0
        self.throttled_waits = 0
        self.failure: _Retry | None = None
        self.exhausted = False

    def should_retry(self, error: BaseException) -> bool:
        """Counts each failed attempt once (tenacity asks this first, then for the wait and the stop)."""
        if not isinstance(error, _Retry):
            return False
        self.failure = error
        if error.reauth:
            return True
        if error.throttled:
            self.throttled_waits += 1
            self.exhausted = self.throttled_waits > self.client.max_throttled_waits
        else:
            self.retries += 1
            self.exhausted = self.retries > self.budget
        return True

    def stop(self, state: tenacity.RetryCallState) -> bool:
        return self.exhausted

    def wait(self, state: tenacity.RetryCallState) -> float:
        failure = self.failure
        if failure is None or failure.reauth or failure.throttled:
            return 0.0  # a throttled request waits in the limiter, where other threads wait too
        return self.client._backoff(self.retries)

    def before_sleep(self, state: tenacity.RetryCallState) -> None:
        failure, client, path = self.failure, self.client, self.kind.path
        assert failure is not None
        if failure.reauth:
            log.warning("HTTP 401 from %s for %s: re-reading the API token once", client.host, path)
            return
        client.stats.add(path, retries=1)
        if failure.throttled:
            self.limiter.hold_until(time.monotonic() + (failure.wait or 0.0))
            log.warning("%s on %s: %s; waiting %.2f s", path, client.host, failure.reason, failure.wait)
        else:
            log.warning(
                "%s on %s: %s; retry %d/%d in %.2f s",
                path,
                client.host,
                failure.reason,
                self.retries,
                self.budget,
                state.upcoming_sleep,
            )


class NetskopeClient:
    """Talks to one tenant. Thread-safe: many threads may pull different windows at once."""

    def __init__(
        self,
        host: str,
        token_provider: TokenProvider,
        *,
        verify: bool | str = True,
        proxies: dict | None = None,
        rate_limit_per_second: float = 4.0,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        max_retries: int = 8,
        lookback_seconds: int = MAX_LAG_SECONDS,
        scheme: str = "https",
        iterator_clock: str = "insertion",
        backoff_base_seconds: float = 1.0,
        backoff_cap_seconds: float = 60.0,
        max_wait_seconds: float = 300.0,
        max_throttled_waits: int = 100,
        max_idle_pages: int = 30,
        page_size: int = PAGE_SIZE,
        max_page_bytes: int | None = MAX_PAGE_BYTES,
    ) -> None:
        if verify is not True:
            verify = options.ca_bundle(verify, "ca_bundle (verify)")
        self.host = check_tenant_host(host, scheme=scheme, allow_non_goskope_host=True)
        self.base_url = f"{scheme}://{self.host}/api/v2/"
        self.rate_limit_per_second = options.number(
            rate_limit_per_second, float, "rate_limit_per_second", exclusive=True
        )
        self.timeout = options.timeout(timeout, "timeout")
        self.max_retries = options.number(max_retries, int, "max_retries")
        #: The longest an incident or endpoint record may be inserted after its event time: how far back a
        #: scheduled incident pull looks for intervals that grew, and an event-clock iterator is seeded.
        self.lookback_seconds = options.number(lookback_seconds, int, "lookback_seconds")
        if iterator_clock not in ITERATOR_CLOCKS:
            raise NetskopeConfigError(
                f"iterator_clock must be one of {', '.join(ITERATOR_CLOCKS)}, got {iterator_clock!r}: what the "
                "dataexport iterator's epoch and timestamp_hwm count in (docs/hook.md)"
            )
        #: What the iterator's epoch and ``timestamp_hwm`` count in (undocumented; docs/hook.md).
        self.iterator_clock = iterator_clock
        self.backoff_base_seconds = options.number(backoff_base_seconds, float, "backoff_base_seconds")
        self.backoff_cap_seconds = options.number(backoff_cap_seconds, float, "backoff_cap_seconds")
        self.max_wait_seconds = options.number(max_wait_seconds, float, "max_wait_seconds")
        self.max_throttled_waits = options.number(max_throttled_waits, int, "max_throttled_waits")
        #: How many empty iterator pages in a row at one ``timestamp_hwm`` short of the window end fail the pull.
        self.max_idle_pages = options.number(max_idle_pages, int, "max_idle_pages", minimum=1)
        self.page_size = options.number(page_size, int, "page_size", minimum=1)
        self.max_page_bytes = None if max_page_bytes is None else options.number(max_page_bytes, int, "max_page_bytes")
        self.stats = ClientStats()

        self._token_provider = token_provider
        self._token_lock = threading.Lock()
        self._token: str | None = None
        #: Every form of every token seen, for redaction; a tuple swapped whole so other threads read it unlocked.
        self._redactions: tuple[str, ...] = ()

        #: Passed with each request: a session-level setting would lose to REQUESTS_CA_BUNDLE.
        self.verify = verify
        self._session = requests.Session()
        self._session.trust_env = proxies is None
        self._proxied = proxies is not None
        if proxies is not None:
            self._session.proxies.update(options.proxies(proxies, "proxies"))
        self._session.headers.update(
            {
                "Accept": "application/json",
                "Accept-Encoding": "gzip",
                "User-Agent": f"airflow-provider-netskope/{__version__}",
            }
        )
        adapter = HTTPAdapter(pool_connections=16, pool_maxsize=16)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)

    def __repr__(self) -> str:
        return f"NetskopeClient(host={self.host!r})"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> NetskopeClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ window API

    def iter_window_pages(self, log_type: str, start: int, end: int, *, in_parts: bool = False) -> Iterator[RawPage]:
        """Yield a window's records page by page, as raw JSON text (epoch seconds, ``[start, end)``).

        ``data/*`` types: the records inserted in the window; consecutive windows partition them and
        pulling a past window again yields the same records. Incident: the records whose event time
        is in the window, as the tenant holds them now (``iter_new_pages`` finds the ones that
        arrive later). Endpoint: a fresh iterator index seeded at ``start`` and read until
        ``timestamp_hwm`` passes ``end`` -- with the insertion clock, every record inserted in the
        window, and at most a page of later ones (which the next window reads again: delivery keeps
        one copy); with ``iterator_clock="event"`` seeded ``lookback_seconds`` earlier, so records
        inserted late are read again while they are within that lag. Incident and endpoint records
        belong in the stream of their event time (docs/hook.md).

        Each record is its exact JSON text on one line (decode it with
        ``netskope_provider.records.decode_record``); a record the client cannot keep exactly or
        cannot place is in ``quarantined`` with the reason. Pages hold at most ``page_size``
        records; the window is never held in memory as a whole.

        A ``data/*`` answer whose order moves between requests raises ``strategies.OrderMoved``
        (offset paging would skip records); ``in_parts=True`` then reads the window again in parts of
        its time range that fit one page each, with no offset (``data/*`` only; more requests).
        """
        kind = get_log_type(log_type)
        start, end = _check_window(start, end)
        if in_parts and kind.strategy is not Strategy.INSERTION_WINDOW:
            raise ValueError(f"in_parts reads data/* windows only, not {kind.name}")
        where = f"{self.host}/api/v2/{kind.path}"
        fetch = self._fetcher(kind)
        placer = strategies.EventTimePlacer()
        pages: Iterator[RawPage]
        if kind.strategy is Strategy.INSERTION_WINDOW:
            pages = strategies.insertion_window_pages(
                fetch, start, end, self.page_size, where, self._counter(kind), in_parts=in_parts
            )
        elif kind.strategy is Strategy.EVENT_TIME:
            pages = strategies.whole_event_time_pages(
                fetch, self._counter(kind), start, end, placer=placer, page_size=self.page_size, where=where
            )
        else:
            pages = strategies.iterator_pages(
                fetch,
                placer,
                index=strategies.iterator_index_name(kind.name, start, end),
                seed=start - (self.lookback_seconds if self.iterator_clock == "event" else 0),
                end=end,
                sleep=self._sleep,
                max_wait_seconds=self.max_wait_seconds,
                max_idle_pages=self.max_idle_pages,
                where=where,
            )
        log.info("Pulling %s records of [%d, %d) from %s", kind.name, start, end, self.host)
        return self._counted(kind, pages, placer, f"of [{start}, {end})")

    def iter_new_pages(
        self,
        log_type: str,
        cursor: strategies.EventTimeCursor,
        *,
        home_of: Callable[[int], int],
        read: list[strategies.EventTimeCursor],
    ) -> Iterator[RawPage]:
        """Incident: the records with event time from ``cursor.anchor`` up to now not read before (``cursor``).

        About one read per record: only what the tenant inserted since the cursor's read, plus the
        one record that checks the answer's order (``strategies.new_event_time_pages``). ``home_of``
        names a record's home interval (by its event time); ``read`` receives the new cursor.
        """
        kind = get_log_type(log_type)
        if kind.strategy is not Strategy.EVENT_TIME:
            raise ValueError(f"{kind.name} records are not pulled by event time; use iter_window_pages")
        placer = strategies.EventTimePlacer()
        pages = strategies.new_event_time_pages(
            self._fetcher(kind),
            cursor,
            home_of=home_of,
            placer=placer,
            page_size=self.page_size,
            where=f"{self.host}/api/v2/{kind.path}",
            read=read,
        )
        return self._counted(kind, pages, placer, f"new since the last read, event time from {cursor.anchor}")

    def _counted(
        self, kind: LogType, pages: Iterator[RawPage], placer: strategies.EventTimePlacer, what: str
    ) -> Iterator[RawPage]:
        """Pass pages through, counting them (a separate generator so bad arguments fail at call time)."""
        records = quarantined = 0
        try:
            for page in pages:
                records += len(page.records)
                quarantined += len(page.quarantined)
                self.stats.add(kind.path, records=len(page.records), quarantined=len(page.quarantined))
                yield page
                del page  # not held while the strategy fetches the next page
            log.info("Pulled %d %s records %s (%d quarantined)", records, kind.name, what, quarantined)
        finally:
            self.stats.add(kind.path, untimed_records=placer.untimed, duplicates_dropped=placer.repeats)

    def count_window(self, log_type: str, start: int, end: int) -> int | None:
        """The server's count of a window's records, where the endpoint offers one; else ``None``.

        ``data/*`` count by insertion time, incident (``datasearch``) by event time -- each the time
        its records are homed by. The iterator counts nothing: see ``count_event_times``.
        """
        kind = get_log_type(log_type)
        start, end = _check_window(start, end)
        if kind.strategy is Strategy.INSERTION_WINDOW:
            return self._count(kind, {"insertionstarttime": start, "insertionendtime": end - 1})
        if kind.strategy is Strategy.EVENT_TIME:
            return self._count(kind, strategies.event_time_params(start, end))
        return None

    def count_event_times(self, log_type: str, windows: Sequence[tuple[int, int]]) -> list[int]:
        """How many records the tenant holds with event time in each of ``windows`` (sorted, disjoint), read once.

        For the iterator, which counts nothing: a fresh index seeded at the first start and read
        until ``timestamp_hwm`` passes the last end plus ``lookback_seconds`` (every record of the
        windows is inserted by then) or the index has caught up. Only counts are kept in memory.
        """
        kind = get_log_type(log_type)
        if not windows:
            return []
        first, last = windows[0][0], windows[-1][1]
        _check_window(first, last)
        starts = [lower for lower, _ in windows]
        counts = [0] * len(windows)
        placer = strategies.EventTimePlacer()
        pages = strategies.iterator_pages(
            self._fetcher(kind),
            placer,
            index=strategies.iterator_index_name(kind.name, first, last),
            seed=first,
            end=last + self.lookback_seconds,
            sleep=self._sleep,
            max_wait_seconds=self.max_wait_seconds,
            max_idle_pages=self.max_idle_pages,
            where=f"{self.host}/api/v2/{kind.path}",
            until_caught_up=True,
        )
        for page in pages:
            for when in strategies.event_times(page.records):
                slot = -1 if when is None else bisect_right(starts, when) - 1
                if when is not None and slot >= 0 and when < windows[slot][1]:
                    counts[slot] += 1
        return counts

    def probe(self, log_type: str = "application") -> str:
        """One cheap authenticated request to ``log_type``'s endpoint; return a summary.

        At most one record of the last minute (the iterator: a fresh index seeded now, so its first page
        holds only what was inserted since). Raises the same errors as a pull (403:
        ``NetskopePermissionError`` naming the RBAC permission), with at most one retry, so a check is quick.
        """
        kind = get_log_type(log_type)
        now = int(time.time())
        params: dict[str, Any]
        if kind.strategy is Strategy.INSERTION_WINDOW:
            params = {"insertionstarttime": now - 60, "insertionendtime": now, "limit": 1, "offset": 0}
        elif kind.strategy is Strategy.EVENT_TIME:
            params = {"starttime": now - 60, "endtime": now, "limit": 1, "offset": 0}
        else:
            params = {"index": strategies.iterator_index_name(kind.name, now, now), "operation": str(now)}
        self._request(kind, params, max_retries=1)
        return f"Connected to {self.host}: the API token was accepted."

    # ------------------------------------------------------------------ transport

    def _fetcher(self, kind: LogType) -> strategies.PageFetcher:
        def fetch(params: Mapping[str, Any], *, retry_params: Mapping[str, Any] | None = None) -> ParsedBody:
            return self._request(kind, params, retry_params=retry_params)

        return fetch

    def _counter(self, kind: LogType) -> strategies.Counter:
        def count(params: Mapping[str, Any]) -> int | None:
            try:
                return self._count(kind, params)
            except NetskopeResponseError as refused:  # the tenant cannot count this query: page unchecked
                log.warning("%s could not count the query (%s): paging is not checked", self.host, refused)
                return None

        return count

    def _count(self, kind: LogType, params: Mapping[str, Any]) -> int | None:
        """``fields=event_count:count(_id)`` for ``params``: the tenant's own total, one request."""
        body = self._request(kind, {**params, "fields": COUNT_FIELDS})
        if not body.records:
            return None
        try:
            row = orjson.loads(body.records[0])
        except orjson.JSONDecodeError:
            return None
        count = row.get("event_count") if isinstance(row, dict) else None
        return count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else None

    def _request(
        self,
        kind: LogType,
        params: Mapping[str, Any],
        *,
        retry_params: Mapping[str, Any] | None = None,
        max_retries: int | None = None,
    ) -> ParsedBody:
        """GET one page: paced, retried (tenacity), 401 answered by one token re-read, errors mapped.

        A hand-written loop did the same before; tenacity holds the budgets and waits in one place
        at no measurable cost (a request takes milliseconds to seconds, a retry decision microseconds).
        """
        limiter = shared_limiter(f"{self.base_url}{kind.path}", self.rate_limit_per_second)
        policy = _RetryPolicy(self, kind, limiter, self.max_retries if max_retries is None else max_retries)
        sending = dict(params)
        refreshed = False

        def attempt() -> ParsedBody:
            nonlocal sending, refreshed
            failure = policy.failure
            if failure is not None and not (failure.throttled or failure.reauth) and retry_params is not None:
                sending = dict(retry_params)  # the server may have processed the failed request: re-send differently
            waited = limiter.acquire()
            token = self._current_token()
            self.stats.add(kind.path, requests=1, wait_seconds=waited)
            try:
                return self._attempt(kind, limiter, sending, token)
            except _Unauthorized:
                if refreshed:
                    raise NetskopeAuthError(
                        f"HTTP 401 from {self.host} for {kind.path}, also after re-reading the API token: the token "
                        "has expired or was revoked (rotating a service account's token invalidates the old one at "
                        "once). Create a new token for the Netskope service account (Settings > Administration > "
                        "Administrators & Roles > Service Accounts) and store it in the connection password or its "
                        "Secrets Manager secret."
                    ) from None
                refreshed = True
                if self._refresh_token(token):
                    self.stats.add(kind.path, token_refreshes=1)
                raise _Retry("HTTP 401", reauth=True) from None

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(policy.should_retry),
            stop=policy.stop,
            wait=policy.wait,
            sleep=self._sleep,
            before_sleep=policy.before_sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _Retry as last:
            attempts = policy.retries + policy.throttled_waits
            raise NetskopeRetriesExhaustedError(
                self._redact(
                    f"{kind.path} on {self.host} failed {attempts} times, last: {last.reason}. The tenant or the "
                    "network is unhealthy; the task can be retried later (the window will be pulled again exactly)."
                ),
                attempts=attempts,
            ) from None
        except NetskopeError as error:  # a last guard: whatever an error quotes, it carries no token
            error.args = tuple(self._redact(arg) if isinstance(arg, str) else arg for arg in error.args)
            raise

    def _attempt(self, kind: LogType, limiter: RateLimiter, params: Mapping[str, Any], token: str) -> ParsedBody:
        url = self.base_url + kind.path
        try:
            response = self._session.get(
                url,
                params=params,
                headers={TOKEN_HEADER: token},
                timeout=self.timeout,
                verify=self.verify,
                stream=True,
                allow_redirects=False,
            )
        except requests.exceptions.ProxyError as exc:
            raise self._proxy_failure(exc) from None
        except requests.exceptions.SSLError as exc:
            raise self._tls_failure(exc) from None
        except _TRANSIENT_ERRORS as exc:
            raise _Retry(f"{type(exc).__name__}: {self._redact(str(exc))}") from None
        except requests.RequestException as exc:
            raise NetskopeError(f"Request to {self.host} could not be sent: {self._redact(str(exc))}") from None
        try:
            status = response.status_code
            self._honour_rate_headers(limiter, response)
            if status == 204:
                return ParsedBody(Envelope(), [], [])
            if status == 200:
                body = self._read_body(response, kind)
                log.debug("GET %s %s -> HTTP 200 (%d bytes)", kind.path, dict(params), len(body))
                return self._parse_ok(kind, response, body)
            error_body = self._read_error_body(response)
        finally:
            response.close()
        log.debug("GET %s %s -> HTTP %d (%d bytes)", kind.path, dict(params), status, len(error_body))
        raise self._status_error(kind, response, status, error_body)

    def _read_body(self, response: requests.Response, kind: LogType) -> bytes | bytearray:
        """The whole body, read in 1 MB chunks, never past ``max_page_bytes``.

        A gzip body is read as sent and inflated whole (``page.gunzip``: ISA-L, the GIL released);
        other encodings are decoded by urllib3 as they are read.
        """
        cap = self.max_page_bytes
        declared = _header_number(response, "Content-Length")
        if cap is not None and declared is not None and declared > cap and not response.headers.get("Content-Encoding"):
            raise self._too_large(kind, int(declared))
        gzipped = response.headers.get("Content-Encoding", "").strip().lower() == "gzip"
        chunks = (
            response.raw.stream(BODY_CHUNK_BYTES, decode_content=False)
            if gzipped
            else response.iter_content(BODY_CHUNK_BYTES)
        )
        body = bytearray()
        try:
            for chunk in chunks:
                body += chunk
                if cap is not None and len(body) > cap:
                    raise self._too_large(kind, len(body))
        except (*_TRANSIENT_ERRORS, ProtocolError, ReadTimeoutError) as exc:
            raise _Retry(f"{type(exc).__name__} while reading the body: {self._redact(str(exc))}") from None
        if not gzipped:
            return body
        try:
            inflated = gunzip(body, cap)
        except BodyError as broken:
            raise _Retry(f"ContentDecodingError while reading the body: {broken.reason}") from None
        if cap is not None and len(inflated) > cap:
            raise self._too_large(kind, len(inflated))
        return inflated

    def _too_large(self, kind: LogType, size: int) -> NetskopePageTooLargeError:
        return NetskopePageTooLargeError(
            f"A {kind.path} page from {self.host} exceeded max_page_bytes={self.max_page_bytes} ({size} bytes so "
            "far): raise the client option max_page_bytes (memory for one page is about twice it)."
        )

    def _read_error_body(self, response: requests.Response) -> bytes:
        try:
            return response.raw.read(ERROR_BODY_BYTES, decode_content=True) or b""
        except Exception:  # the status says enough: a broken error body must not hide it
            return b""

    def _status_error(self, kind: LogType, response: requests.Response, status: int, body: bytes) -> Exception:
        if status == 401:
            return _Unauthorized()
        if status in _REDIRECTS:
            return self._redirect_refused(kind, response, status)
        if status == 407:
            return self._proxy_auth_required()
        if status == 403:
            return NetskopePermissionError(
                f"HTTP 403 from {self.host} for {kind.path}: the service account's role lacks the permission "
                f"'{kind.rbac_permission}' needed for {kind.name} records. Add it to the role (Settings > "
                "Administration > Administrators & Roles > Roles), or stop pulling this log type.",
                log_type=kind.name,
                rbac_permission=kind.rbac_permission,
            )
        if status == 404:
            return NetskopeNotFoundError(
                f"HTTP 404 from {self.host} for /api/v2/{kind.path}: the tenant host or the endpoint is wrong. Check the "
                "connection host (e.g. mytenant.goskope.com, or mytenant.eu.goskope.com for a regional tenant)."
            )
        if status in (409, 429):
            what = "rate limit (429)" if status == 429 else "iterator conflict (409)"
            self.stats.add(kind.path, **{"rate_limited" if status == 429 else "conflicts": 1})
            return _Retry(f"HTTP {what}", wait=self._server_wait(response, body), throttled=True)
        if status >= 500 or status == 408:
            return _Retry(f"HTTP {status}: {self._snippet(body)!r}")
        return NetskopeResponseError(
            f"HTTP {status} from {self.host} for {kind.path}: {self._snippet(body)!r}. The request was "
            "refused as malformed; check the client version against the tenant's API.",
            status=status,
            snippet=self._snippet(body),
        )

    def _redirect_refused(self, kind: LogType, response: requests.Response, status: int) -> NetskopeRedirectError:
        location = response.headers.get("Location", "")
        try:
            target = urlsplit(location)
            where = f"{target.scheme}://{target.hostname}" if target.hostname else "another path on the same host"
        except ValueError:
            where = "an address that is not a URL"
        return NetskopeRedirectError(
            self._redact(
                f"{self.host} answered {kind.path} with HTTP {status}, a redirect to {where}. Redirects are never "
                "followed, because the API token would be sent along. Set the connection host to the host that "
                "serves the API (e.g. a regional tenant such as mytenant.eu.goskope.com), or check the proxy settings."
            )
        )

    def _tls_failure(self, exc: requests.exceptions.SSLError) -> NetskopeConfigError:
        """TLS failed: the server speaks no TLS, its certificate is not trusted, or a proxy is in the way."""
        text = str(exc)
        through = " through the proxy" if self._proxied else ""
        if any(marker in text for marker in _NOT_TLS):
            return NetskopeConfigError(
                f"TLS with {self.host}{through} failed: the server does not speak TLS on this port (it answered in "
                "plain text). Check the connection host and port; the Netskope API is served over HTTPS on 443. Only "
                'a local simulator on a loopback host may use plain HTTP, with the extra "scheme": "http".'
            )
        if "CERTIFICATE_VERIFY_FAILED" in text:
            if any(marker in text for marker in _NAME_MISMATCH):
                return NetskopeConfigError(
                    f"TLS with {self.host} failed (certificate verify failed: the certificate is for another host "
                    "name). Set the connection host to the name on the tenant's certificate (mytenant.goskope.com)."
                )
            return NetskopeConfigError(
                f"TLS with {self.host}{through} failed (certificate verify failed: the certificate is not trusted). "
                "If a TLS-inspecting proxy or a private CA signs it, set the connection extra ca_bundle to the path "
                "of that CA bundle (PEM)."
            )
        return NetskopeConfigError(
            f"TLS with {self.host}{through} failed ({type(exc).__name__}: {self._redact(text)[:SNIPPET_CHARS]}). "
            "Check the host and port, the proxy settings (extra proxies or HTTPS_PROXY) and the extra ca_bundle."
        )

    def _proxy_label(self) -> str:
        proxy = self._session.proxies.get(self.base_url.split(":", 1)[0]) if self._proxied else None
        return options.proxy_label(proxy) if proxy else "set by HTTPS_PROXY/HTTP_PROXY"

    def _proxy_auth_required(self) -> NetskopeConfigError:
        return NetskopeConfigError(
            f"The proxy ({self._proxy_label()}) refused the request to {self.host} with HTTP 407 (proxy "
            "authentication required): put the proxy's credentials in the proxy URL of the connection extra proxies "
            "(http://user:password@proxy.example.com:3128)."
        )

    def _proxy_failure(self, exc: requests.exceptions.ProxyError) -> Exception:
        """The proxy refused or could not be reached: a 407 needs credentials, the rest may pass."""
        label = self._proxy_label()
        text = self._redact(str(exc))
        if _TUNNEL_407.search(text):
            return self._proxy_auth_required()
        return _Retry(
            f"could not reach {self.host} through the proxy ({label}): {text[:SNIPPET_CHARS]}. Check the connection "
            "extra proxies (or HTTPS_PROXY/NO_PROXY) and that the proxy is up"
        )

    def _parse_ok(self, kind: LogType, response: requests.Response, body: bytes | bytearray) -> ParsedBody:
        try:
            parsed = parse_body(body)
        except BodyError as broken:
            if broken.truncated:
                raise _Retry(f"truncated or empty JSON body ({len(body)} bytes: {broken.reason})") from None
            snippet = self._snippet(bytes(body[:ERROR_BODY_BYTES]))
            raise NetskopeResponseError(
                f"{self.host} answered {kind.path} with HTTP 200 but not a JSON object with a 'result' list "
                f"({broken.reason}; Content-Type {response.headers.get('Content-Type', '?')!r}): {snippet!r}. This is "
                "usually a login or proxy page: check the tenant host and the proxy settings.",
                status=200,
                snippet=snippet,
            ) from None
        del body
        envelope = parsed.envelope
        if str(envelope.ok).lower() not in ("1", "true"):
            message = envelope.message or envelope.error or envelope.errors or ""
            snippet = self._snippet(orjson.dumps(message) if not isinstance(message, str) else message.encode())
            raise NetskopeResponseError(
                f"{self.host} refused the {kind.path} query with HTTP 200 and ok={envelope.ok!r}: {snippet!r}. The "
                "API rejected the request parameters; check the window bounds.",
                status=200,
                snippet=snippet,
            )
        if parsed.records is None:
            raise NetskopeResponseError(
                f"{self.host}/api/v2/{kind.path} answered without a 'result' list; the API contract changed or a "
                "proxy rewrote the response."
            )
        if parsed.repaired:
            self.stats.add(kind.path, repaired_records=parsed.repaired)
            log.warning(
                "%d records of a %s page of %s held bytes that are not UTF-8; they were replaced by U+FFFD so the "
                "records are kept",
                parsed.repaired,
                kind.path,
                self.host,
            )
        if parsed.tolerant:
            self.stats.add(kind.path, tolerant_pages=1)
            log.warning(
                "%s page of %s was refused by the fast parser and split record by record: %d kept, %d quarantined (%s)",
                kind.path,
                self.host,
                len(parsed.records),
                len(parsed.quarantined),
                "; ".join(sorted({reason for reason, _ in parsed.quarantined}))[:SNIPPET_CHARS] or "none",
            )
        return parsed

    def _honour_rate_headers(self, limiter: RateLimiter, response: requests.Response) -> None:
        """``RateLimit-Remaining: 0`` means the next request would be refused: pause until the reset."""
        remaining = _header_number(response, "RateLimit-Remaining")
        reset = _header_number(response, "RateLimit-Reset")
        if remaining is not None and remaining <= 0 and reset is not None and reset > 0:
            limiter.hold_until(time.monotonic() + min(reset, self.max_wait_seconds))

    def _server_wait(self, response: requests.Response, body: bytes) -> float:
        """Seconds the server asks us to wait: ``Retry-After``, else ``RateLimit-Reset``, else body ``wait_time``."""
        wait = _retry_after_seconds(response.headers.get("Retry-After"))
        if wait is None:
            wait = _header_number(response, "RateLimit-Reset")
        if wait is None:
            try:
                wait = float(orjson.loads(body).get("wait_time"))
            except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
                wait = None
        if wait is None or wait != wait:  # NaN
            wait = self._backoff(1)
        # A small margin so a whole-second Retry-After is never undercut by clock granularity.
        return min(max(wait, 0.0), self.max_wait_seconds) + 0.05

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter, capped: spreads retries of many threads apart."""
        ceiling = min(self.backoff_cap_seconds, self.backoff_base_seconds * 2 ** min(attempt - 1, 60))
        return random.uniform(ceiling / 2, ceiling)

    @staticmethod
    def _sleep(seconds: float) -> None:
        time.sleep(seconds)

    # ------------------------------------------------------------------ token

    def _current_token(self) -> str:
        with self._token_lock:
            if self._token is None:
                self._token = self._read_token(refresh=False)
            return self._token

    def _refresh_token(self, refused: str) -> bool:
        """Re-read the token once per rotation, however many threads saw the 401 at the same time; True if read."""
        with self._token_lock:
            if self._token != refused:
                return False  # another thread has read the new one
            self._token = self._read_token(refresh=True)
            return True

    def _read_token(self, *, refresh: bool) -> str:
        token = self._token_provider(refresh)
        if not isinstance(token, str) or not token.strip():
            raise NetskopeConfigError(
                "The API token is empty: set the connection password, or the extra secret_arn of a Secrets Manager "
                "secret holding the token (plain string or JSON with key api_token)."
            )
        token = token.strip()
        if token not in self._redactions:
            self._redactions = tuple(sorted({*self._redactions, *token_forms(token)}, key=len, reverse=True))
        check_token(token, "the token source")
        return token

    def _redact(self, text: str) -> str:
        return redact(text, self._redactions)

    def _snippet(self, body: bytes) -> str:
        # Redact the whole body before cutting, so a token straddling the cut cannot leak a prefix.
        text = self._redact(body.decode("utf-8", "replace"))
        return " ".join(text.split())[:SNIPPET_CHARS]


class _Unauthorized(Exception):
    """Internal: HTTP 401."""


def _check_window(start: int, end: int) -> tuple[int, int]:
    if isinstance(start, bool) or isinstance(end, bool) or not isinstance(start, int) or not isinstance(end, int):
        raise TypeError(f"Window bounds must be whole epoch seconds (int), got {start!r} and {end!r}.")
    if start >= end:
        raise ValueError(f"Empty or reversed window [{start}, {end}): start must be before end.")
    return start, end


def _header_number(response: requests.Response, name: str) -> float | None:
    try:
        value = float(response.headers[name])
    except (KeyError, TypeError, ValueError):
        return None
    return value if value == value and abs(value) != float("inf") else None


def _retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` is either seconds or an HTTP date."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - time.time()
