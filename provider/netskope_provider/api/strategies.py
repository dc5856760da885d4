"""How each endpoint family is paged so that a window ``[start, end)`` yields exactly its records.

A record belongs to the window holding its insertion time. The strategies here only decide
which requests to send and which records to keep; transport (rate limits, retries, errors) is
the client's job, reached through the ``fetch`` callable each strategy receives.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

import orjson

from netskope_provider.exceptions import NetskopeError, NetskopePagingError, NetskopeResponseError

INSERTION_TIME = "_insertion_epoch_timestamp"
#: Records asked for by a window's first page, before their size is known (see ``offset_pages``).
FIRST_PAGE_RECORDS = 1_000
#: Records sampled per page to estimate the JSON bytes of one record.
SIZE_SAMPLE = 32


class PageFetcher(Protocol):
    def __call__(self, params: Mapping[str, Any], *, retry_params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Send one request and return the parsed JSON body; ``retry_params`` replace ``params`` on a re-send."""


def result_records(body: Mapping[str, Any], where: str) -> list[Any]:
    """The ``result`` list of a response, or an error: a missing list must not read as "no records"."""
    records = body.get("result")
    if not isinstance(records, list):
        raise NetskopeResponseError(
            f"{where} answered without a 'result' list (keys: {sorted(body)[:10]}); the API contract changed or a "
            "proxy rewrote the response."
        )
    return records


def insertion_time(record: Any) -> int | None:
    """Insertion time in epoch seconds, falling back to event ``timestamp`` when a record carries none."""
    if not isinstance(record, dict):
        return None
    for key in (INSERTION_TIME, "timestamp"):
        value = record.get(key)
        if isinstance(value, bool) or value is None:
            continue
        try:
            return int(float(value))
        except (TypeError, ValueError):
            continue
    return None


class WindowKeeper:
    """Keeps the records of ``[start, end)`` once each, for strategies whose queries overlap windows.

    Records without any usable time cannot be placed in a window; they are kept (and counted)
    rather than dropped, so downstream mapping rejects them with a reason instead of losing them.
    """

    def __init__(self, start: int, end: int) -> None:
        self.start = start
        self.end = end
        self._seen: set[Any] = set()
        self.duplicates = 0
        self.untimed = 0

    def keep(self, records: list[Any]) -> list[Any]:
        kept = []
        for record in records:
            when = insertion_time(record)
            if when is None:
                self.untimed += 1
            elif not self.start <= when < self.end:
                continue
            record_id = record.get("_id") if isinstance(record, dict) else None
            if record_id is not None:
                if record_id in self._seen:
                    self.duplicates += 1
                    continue
                self._seen.add(record_id)
            kept.append(record)
        return kept


def next_limit(records: list[Any], page_size: int, max_page_bytes: int) -> int:
    """Records to ask for next so that a page holds about ``max_page_bytes`` of JSON (at most ``page_size``)."""
    sample = records[:: max(1, len(records) // SIZE_SAMPLE)][:SIZE_SAMPLE]
    per_record = sum(len(orjson.dumps(record)) for record in sample) / len(sample)
    return max(1, min(page_size, int(max_page_bytes // per_record)))


def offset_pages(
    fetch: PageFetcher, params: Mapping[str, Any], page_size: int, where: str, max_page_bytes: int | None = None
) -> Iterator[list[Any]]:
    """``limit``/``offset`` paging until a short page, refusing an endpoint that ignores ``offset``.

    With ``max_page_bytes``, memory is bounded in bytes rather than records: a parsed page costs
    about six times its JSON (body, parser document, objects), so 10,000 application records
    (~35 MB) would need ~215 MB at once. The first page asks for ``FIRST_PAGE_RECORDS``, each later
    one for as many records as fit ``max_page_bytes`` judging by the page before it.
    """
    offset = 0
    limit = page_size if max_page_bytes is None else min(page_size, FIRST_PAGE_RECORDS)
    previous_first: Any = None
    while True:
        records = result_records(fetch({**params, "limit": limit, "offset": offset}), where)
        if records and offset and records[0] == previous_first:
            raise NetskopePagingError(
                f"{where} returned the same first record at offset {offset} as at offset {offset - len(records)}: "
                "the endpoint ignores 'offset', so paging would repeat records forever. Pull shorter windows "
                f"(fewer than {page_size} records each) or report the endpoint to Netskope support."
            )
        last_page = len(records) < limit
        if records:
            previous_first = records[0]
            offset += len(records)
            if max_page_bytes is not None:
                limit = next_limit(records, page_size, max_page_bytes)
            yield records
        del records  # a parsed page is ~3x its JSON: never hold it while the next one is fetched
        if last_page:
            return


def insertion_window_pages(
    fetch: PageFetcher, start: int, end: int, page_size: int, where: str, max_page_bytes: int | None = None
) -> Iterator[list[Any]]:
    """``data/*``: the API's insertion bounds are inclusive seconds, so ``[start, end)`` is ``start..end-1``."""
    params = {"insertionstarttime": start, "insertionendtime": end - 1}
    yield from offset_pages(fetch, params, page_size, where, max_page_bytes)


def event_time_lookback_pages(
    fetch: PageFetcher,
    keeper: WindowKeeper,
    *,
    lookback_seconds: int,
    settle_seconds: int,
    page_size: int,
    where: str,
    max_page_bytes: int | None = None,
) -> Iterator[list[Any]]:
    """``datasearch/*``: query event time ``(start - lookback, end + settle]``, keep by insertion time.

    A record is inserted after it happens, so every record inserted in the window has an event
    time before ``end``; ``lookback`` bounds how late it may have been inserted.
    """
    params = {"starttime": keeper.start - lookback_seconds, "endtime": keeper.end + settle_seconds}
    for records in offset_pages(fetch, params, page_size, where, max_page_bytes):
        kept = keeper.keep(records)
        del records  # the page is released before the next fetch (see offset_pages)
        if kept:
            yield kept
        del kept


def iterator_index_name(log_type: str, start: int, end: int) -> str:
    """A fresh index per pull: concurrent and repeated pulls of a window never share a cursor (409)."""
    return f"nsaf_{log_type}_{start}_{end}_{secrets.token_hex(4)}"


def iterator_pages(
    fetch: PageFetcher,
    keeper: WindowKeeper,
    *,
    index: str,
    lookback_seconds: int,
    sleep: Callable[[float], None],
    max_wait_seconds: float,
    max_idle_pages: int,
    where: str,
) -> Iterator[list[Any]]:
    """``dataexport`` iterator: seed a fresh index at ``start - lookback``, then ``next`` until
    ``timestamp_hwm >= end``, sleeping ``wait_time`` between calls.

    A failed ``next`` is re-sent as ``resend`` (same page, index not moved), so a page lost in
    transit is never skipped.
    """
    operation = str(keeper.start - lookback_seconds)
    idle_pages = 0
    last_hwm: int | None = None
    while True:
        params = {"index": index, "operation": operation}
        retry_params = {"index": index, "operation": "resend"} if operation == "next" else None
        body = fetch(params, retry_params=retry_params)
        records = result_records(body, where)
        kept = keeper.keep(records)
        hwm = _as_int(body.get("timestamp_hwm"))
        wait = _as_float(body.get("wait_time")) or 0.0
        idle = not records
        del body, records  # the page is released before the next fetch (see offset_pages)
        if kept:
            yield kept
        del kept
        if hwm is None:
            raise NetskopeResponseError(
                f"{where} answered without 'timestamp_hwm', so the end of the window cannot be detected; "
                "check that the tenant serves the dataexport iterator API."
            )
        if hwm >= keeper.end:
            return
        idle_pages = idle_pages + 1 if idle and hwm == last_hwm else 0
        if idle_pages > max_idle_pages:
            raise NetskopeError(
                f"{where} stopped advancing at timestamp_hwm={hwm}, before the window end {keeper.end}: "
                "the window has probably not settled yet; pull it again later (end windows a few minutes in the past)."
            )
        last_hwm = hwm
        if wait > 0:
            sleep(min(wait, max_wait_seconds))
        operation = "next"


def _as_int(value: Any) -> int | None:
    try:
        return None if value is None or isinstance(value, bool) else int(value)
    except (TypeError, ValueError):
        return None


def _as_float(value: Any) -> float | None:
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None
