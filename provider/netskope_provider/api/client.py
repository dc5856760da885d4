"""``NetskopeClient``: the REST API v2 transport and the window API, without any Airflow import.

One ``requests.Session`` (pooling, gzip, timeouts, TLS verification), a process-wide rate limiter
per endpoint, bounded retries with jitter, and one error class per failure the operator can act
on. The token comes from a ``token_provider`` callable so the caller decides where it lives and
can re-read it after a rotation (HTTP 401).
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import orjson
import requests
from requests.adapters import HTTPAdapter

from netskope_provider import __version__
from netskope_provider.api import strategies
from netskope_provider.api.host import check_tenant_host
from netskope_provider.api.ratelimit import RateLimiter, shared_limiter
from netskope_provider.exceptions import (
    NetskopeAuthError,
    NetskopeConfigError,
    NetskopeError,
    NetskopeNotFoundError,
    NetskopePermissionError,
    NetskopeResponseError,
    NetskopeRetriesExhaustedError,
)
from netskope_provider.log_types import LogType, Strategy, get_log_type

log = logging.getLogger(__name__)

#: ``(refresh) -> token``: ``refresh=True`` means the last token was refused, read the source again.
TokenProvider = Callable[[bool], str]

TOKEN_HEADER = "Netskope-Api-Token"
PAGE_SIZE = 10_000
#: JSON bytes a ``data/*`` or ``datasearch`` page aims at: parsed, a page costs ~6x this at its peak.
MAX_PAGE_BYTES = 16 * 1024 * 1024
#: (connect, read) seconds; a 10,000-record page can take a while to build on a busy tenant.
DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 120.0)
SNIPPET_CHARS = 200
#: Bytes read from the socket at a time; requests' default (10 KB) made reading a 35 MB page cost as much as parsing half of it.
BODY_CHUNK_BYTES = 1 << 20
_REDACTED = "***"
#: Transport failures worth another try; TLS errors are excluded (retrying cannot fix a bad CA).
_TRANSIENT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


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

    def __init__(self, reason: str, *, wait: float | None = None, throttled: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait
        self.throttled = throttled


class _Unauthorized(Exception):
    """Internal: HTTP 401."""


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
        lookback_seconds: int = 86400,
        scheme: str = "https",
        iterator_lookback_seconds: int | None = None,
        backoff_base_seconds: float = 1.0,
        backoff_cap_seconds: float = 60.0,
        max_wait_seconds: float = 300.0,
        max_throttled_waits: int = 100,
        settle_seconds: int = 60,
        max_idle_pages: int = 30,
        page_size: int = PAGE_SIZE,
        max_page_bytes: int | None = MAX_PAGE_BYTES,
    ) -> None:
        if not rate_limit_per_second > 0:
            raise NetskopeConfigError(f"rate_limit_per_second must be > 0, got {rate_limit_per_second!r}.")
        if verify is False:
            raise NetskopeConfigError(
                "TLS verification cannot be disabled; give a CA bundle path (extra ca_bundle) instead."
            )
        self.host = check_tenant_host(host, scheme=scheme, allow_non_goskope_host=True)
        self.base_url = f"{scheme}://{self.host}/api/v2/"
        self.rate_limit_per_second = float(rate_limit_per_second)
        self.timeout = timeout
        self.max_retries = max_retries
        self.lookback_seconds = lookback_seconds
        #: How far before ``start`` an iterator index is seeded; every page before ``start`` is read and
        #: discarded, so a tenant whose iterator epoch is insertion time can lower this to cut the cost.
        self.iterator_lookback_seconds = (
            lookback_seconds if iterator_lookback_seconds is None else iterator_lookback_seconds
        )
        self.settle_seconds = settle_seconds
        self.backoff_base_seconds = backoff_base_seconds
        self.backoff_cap_seconds = backoff_cap_seconds
        self.max_wait_seconds = max_wait_seconds
        self.max_throttled_waits = max_throttled_waits
        self.max_idle_pages = max_idle_pages
        self.page_size = page_size
        #: Offset-paged requests ask for fewer than ``page_size`` records when records are large (None: never).
        self.max_page_bytes = max_page_bytes
        self.stats = ClientStats()

        self._token_provider = token_provider
        self._token_lock = threading.Lock()
        self._token: str | None = None
        #: Every token seen, for redaction; a tuple swapped whole so other threads can read it unlocked.
        self._known_tokens: tuple[str, ...] = ()

        #: Passed with each request: a session-level setting would lose to REQUESTS_CA_BUNDLE.
        self.verify = verify
        self._session = requests.Session()
        self._session.trust_env = proxies is None
        if proxies:
            self._session.proxies.update(proxies)
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

    def iter_window_pages(self, log_type: str, start: int, end: int) -> Iterator[list[dict]]:
        """Yield the records inserted in ``[start, end)`` (epoch seconds) page by page.

        Consecutive windows partition a log type's records; pulling a past window again yields
        the same records. Pages hold at most ``page_size`` records; the window is never held in
        memory as a whole.
        """
        kind = get_log_type(log_type)
        start, end = _check_window(start, end)
        where = f"{self.host}/api/v2/{kind.path}"
        fetch = self._fetcher(kind)
        keeper = strategies.WindowKeeper(start, end)
        if kind.strategy is Strategy.INSERTION_WINDOW:
            pages = strategies.insertion_window_pages(fetch, start, end, self.page_size, where, self.max_page_bytes)
        elif kind.strategy is Strategy.EVENT_TIME_LOOKBACK:
            pages = strategies.event_time_lookback_pages(
                fetch,
                keeper,
                lookback_seconds=self.lookback_seconds,
                settle_seconds=self.settle_seconds,
                page_size=self.page_size,
                max_page_bytes=self.max_page_bytes,
                where=where,
            )
        else:
            pages = strategies.iterator_pages(
                fetch,
                keeper,
                index=strategies.iterator_index_name(kind.name, start, end),
                lookback_seconds=self.iterator_lookback_seconds,
                sleep=self._sleep,
                max_wait_seconds=self.max_wait_seconds,
                max_idle_pages=self.max_idle_pages,
                where=where,
            )
        log.info("Pulling %s records inserted in [%d, %d) from %s", kind.name, start, end, self.host)
        return self._counted(kind, pages, keeper)

    def _counted(
        self, kind: LogType, pages: Iterator[list[Any]], keeper: strategies.WindowKeeper
    ) -> Iterator[list[dict]]:
        """Pass pages through, counting them (a separate generator so bad arguments fail at call time)."""
        records = 0
        try:
            for page in pages:
                records += len(page)
                self.stats.add(kind.path, records=len(page))
                yield page
                del page  # not held while the strategy fetches the next page
            log.info(
                "Pulled %d %s records in [%d, %d) (%d repeats dropped)",
                records,
                kind.name,
                keeper.start,
                keeper.end,
                keeper.duplicates,
            )
        finally:
            self.stats.add(kind.path, duplicates_dropped=keeper.duplicates, untimed_records=keeper.untimed)

    def count_window(self, log_type: str, start: int, end: int) -> int | None:
        """The server's count of a window's records, where the endpoint offers one; else ``None``.

        Only ``data/*`` endpoints count by insertion time (``fields=event_count:count(_id)``); the
        other strategies filter client-side, so a server count would not match the window.
        """
        kind = get_log_type(log_type)
        start, end = _check_window(start, end)
        if kind.strategy is not Strategy.INSERTION_WINDOW:
            return None
        body = self._fetcher(kind)(
            {"insertionstarttime": start, "insertionendtime": end - 1, "fields": "event_count:count(_id)"}
        )
        result = body.get("result")
        if isinstance(result, list) and result and isinstance(result[0], dict):
            count = result[0].get("event_count")
            if isinstance(count, int) and not isinstance(count, bool):
                return count
        return None

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
        elif kind.strategy is Strategy.EVENT_TIME_LOOKBACK:
            params = {"starttime": now - 60, "endtime": now, "limit": 1, "offset": 0}
        else:
            params = {"index": strategies.iterator_index_name(kind.name, now, now), "operation": str(now)}
        body = self._get_json(kind, params, max_retries=1)
        strategies.result_records(body, f"{self.host}/api/v2/{kind.path}")
        return f"Connected to {self.host}: the API token was accepted."

    # ------------------------------------------------------------------ transport

    def _fetcher(self, kind: LogType) -> strategies.PageFetcher:
        def fetch(params: Mapping[str, Any], *, retry_params: Mapping[str, Any] | None = None) -> dict[str, Any]:
            return self._get_json(kind, params, retry_params=retry_params)

        return fetch

    def _get_json(
        self,
        kind: LogType,
        params: Mapping[str, Any],
        *,
        retry_params: Mapping[str, Any] | None = None,
        max_retries: int | None = None,
    ) -> dict[str, Any]:
        """GET one page: paced, retried, 401 answered by one token re-read, errors mapped."""
        limiter = shared_limiter(f"{self.base_url}{kind.path}", self.rate_limit_per_second)
        retry_budget = self.max_retries if max_retries is None else max_retries
        retries = throttled_waits = 0
        refreshed = False
        send = params
        while True:
            waited = limiter.acquire()
            token = self._current_token()
            self.stats.add(kind.path, requests=1, wait_seconds=waited)
            try:
                return self._attempt(kind, limiter, send, token)
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
                self._refresh_token(token)
                self.stats.add(kind.path, token_refreshes=1)
                log.warning("HTTP 401 from %s for %s: re-reading the API token once", self.host, kind.path)
                continue
            except _Retry as retry:
                failure = retry
            if failure.throttled:
                throttled_waits += 1
                exhausted = throttled_waits > self.max_throttled_waits
            else:
                retries += 1
                exhausted = retries > retry_budget
            if exhausted:
                attempts = retries + throttled_waits
                raise NetskopeRetriesExhaustedError(
                    f"{kind.path} on {self.host} failed {attempts} times, last: {failure.reason}. The tenant or the "
                    "network is unhealthy; the task can be retried later (the window will be pulled again exactly).",
                    attempts=attempts,
                ) from None
            self.stats.add(kind.path, retries=1)
            if failure.throttled:  # refused before processing: re-send as is, once the server allows
                limiter.hold_until(time.monotonic() + (failure.wait or 0.0))
                log.warning("%s on %s: %s; waiting %.2f s", kind.path, self.host, failure.reason, failure.wait)
                continue
            delay = self._backoff(retries)
            log.warning(
                "%s on %s: %s; retry %d/%d in %.2f s",
                kind.path,
                self.host,
                failure.reason,
                retries,
                retry_budget,
                delay,
            )
            self._sleep(delay)
            if retry_params is not None:
                # The server may have processed the failed request (moved an iterator): re-send differently.
                send = retry_params

    def _attempt(self, kind: LogType, limiter: RateLimiter, params: Mapping[str, Any], token: str) -> dict[str, Any]:
        url = self.base_url + kind.path
        try:
            response = self._session.get(
                url, params=params, headers={TOKEN_HEADER: token}, timeout=self.timeout, verify=self.verify, stream=True
            )
            try:
                body = b"".join(response.iter_content(BODY_CHUNK_BYTES))
            finally:
                response.close()
        except requests.exceptions.SSLError as exc:
            reason = "certificate verify failed" if "CERTIFICATE_VERIFY_FAILED" in str(exc) else type(exc).__name__
            raise NetskopeConfigError(
                f"TLS with {self.host} failed ({reason}): if a TLS-inspecting proxy sits in between, set the connection "
                "extra ca_bundle to the path of its CA bundle."
            ) from None
        except _TRANSIENT_ERRORS as exc:
            raise _Retry(f"{type(exc).__name__}: {self._redact(str(exc))}") from None
        except requests.RequestException as exc:
            raise NetskopeError(f"Request to {self.host} could not be sent: {self._redact(str(exc))}") from None
        status = response.status_code
        log.debug("GET %s %s -> HTTP %d (%d bytes)", kind.path, dict(params), status, len(body))
        self._honour_rate_headers(limiter, response)

        if status == 204:
            return {"ok": 1, "result": []}
        if status == 200:
            return self._parse_ok(kind, response, body)
        if status == 401:
            raise _Unauthorized
        if status == 403:
            raise NetskopePermissionError(
                f"HTTP 403 from {self.host} for {kind.path}: the service account's role lacks the permission "
                f"'{kind.rbac_permission}' needed for {kind.name} records. Add it to the role (Settings > "
                "Administration > Administrators & Roles > Roles), or stop pulling this log type.",
                log_type=kind.name,
                rbac_permission=kind.rbac_permission,
            )
        if status == 404:
            raise NetskopeNotFoundError(
                f"HTTP 404 from {self.host} for /api/v2/{kind.path}: the tenant host or the endpoint is wrong. Check the "
                "connection host (e.g. mytenant.goskope.com, or mytenant.eu.goskope.com for a regional tenant)."
            )
        if status in (409, 429):
            what = "rate limit (429)" if status == 429 else "iterator conflict (409)"
            self.stats.add(kind.path, **{"rate_limited" if status == 429 else "conflicts": 1})
            raise _Retry(f"HTTP {what}", wait=self._server_wait(response, body), throttled=True)
        if status >= 500 or status == 408:
            raise _Retry(f"HTTP {status}: {self._snippet(body)!r}")
        raise NetskopeResponseError(
            f"HTTP {status} from {self.host} for {kind.path}: {self._snippet(body)!r}. The request was "
            "refused as malformed; check the client version against the tenant's API.",
            status=status,
            snippet=self._snippet(body),
        )

    def _parse_ok(self, kind: LogType, response: requests.Response, body: bytes) -> dict[str, Any]:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = _loads_repairing_utf8(body)
            if data is None:
                if body.lstrip()[:1] in (b"{", b"[") or not body.strip():
                    raise _Retry(f"truncated or empty JSON body ({len(body)} bytes)") from None
                snippet = self._snippet(body)
                raise NetskopeResponseError(
                    f"{self.host} answered {kind.path} with HTTP 200 but not JSON "
                    f"(Content-Type {response.headers.get('Content-Type', '?')!r}): {snippet!r}. This is usually a "
                    "login or proxy page: check the tenant host and the proxy settings.",
                    status=200,
                    snippet=snippet,
                ) from None
            log.warning(
                "%s page of %s held bytes that are not UTF-8; they were replaced by U+FFFD so its records are kept",
                kind.path,
                self.host,
            )
        if not isinstance(data, dict):
            raise NetskopeResponseError(
                f"{self.host} answered {kind.path} with a JSON {type(data).__name__}, not an object.", status=200
            )
        ok = data.get("ok", 1)
        if str(ok).lower() not in ("1", "true"):
            message = data.get("message") or data.get("error") or data.get("errors") or ""
            snippet = self._snippet(orjson.dumps(message) if not isinstance(message, str) else message.encode())
            raise NetskopeResponseError(
                f"{self.host} refused the {kind.path} query with HTTP 200 and ok={ok!r}: {snippet!r}. The API "
                "rejected the request parameters; check the window bounds.",
                status=200,
                snippet=snippet,
            )
        return data

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
        if wait is None:
            wait = self._backoff(1)
        # A small margin so a whole-second Retry-After is never undercut by clock granularity.
        return min(max(wait, 0.0), self.max_wait_seconds) + 0.05

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter, capped: spreads retries of many threads apart."""
        ceiling = min(self.backoff_cap_seconds, self.backoff_base_seconds * 2 ** (attempt - 1))
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

    def _refresh_token(self, refused: str) -> None:
        """Re-read the token once per rotation, however many threads saw the 401 at the same time."""
        with self._token_lock:
            if self._token == refused:
                self._token = self._read_token(refresh=True)

    def _read_token(self, *, refresh: bool) -> str:
        token = self._token_provider(refresh)
        if not isinstance(token, str) or not token.strip():
            raise NetskopeConfigError(
                "The API token is empty: set the connection password, or the extra secret_arn of a Secrets Manager "
                "secret holding the token (plain string or JSON with key api_token)."
            )
        token = token.strip()
        if token not in self._known_tokens:
            self._known_tokens = (*self._known_tokens, token)
        return token

    def _redact(self, text: str) -> str:
        for token in self._known_tokens:
            text = text.replace(token, _REDACTED)
        return text

    def _snippet(self, body: bytes) -> str:
        # Redact the whole body before cutting, so a token straddling the cut cannot leak a prefix.
        text = self._redact(body.decode("utf-8", "replace"))
        return " ".join(text.split())[:SNIPPET_CHARS]


def _check_window(start: int, end: int) -> tuple[int, int]:
    if isinstance(start, bool) or isinstance(end, bool) or not isinstance(start, int) or not isinstance(end, int):
        raise TypeError(f"Window bounds must be whole epoch seconds (int), got {start!r} and {end!r}.")
    if start >= end:
        raise ValueError(f"Empty or reversed window [{start}, {end}): start must be before end.")
    return start, end


def _header_number(response: requests.Response, name: str) -> float | None:
    try:
        return float(response.headers[name])
    except (KeyError, TypeError, ValueError):
        return None


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


def _loads_repairing_utf8(body: bytes) -> Any:
    """A complete JSON body with invalid UTF-8 inside strings, parsed with the bad bytes as U+FFFD; else None.

    Retrying cannot fix such a page (the tenant serves the same bytes again), and refusing it would
    block the whole window, so its records are kept with the undecodable bytes marked.
    """
    try:
        body.decode("utf-8")
        return None  # valid UTF-8: the body is broken in another way
    except UnicodeDecodeError:
        pass
    try:
        return orjson.loads(body.decode("utf-8", "replace"))
    except orjson.JSONDecodeError:
        return None
