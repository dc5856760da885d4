"""How each endpoint family is paged so that a window ``[start, end)`` yields exactly its records.

A record belongs to the window holding its insertion time. The strategies here only decide
which requests to send, which records to keep and whether the tenant served all it counted;
transport (rate limits, retries, errors) is the client's job, reached through the ``fetch``
callable each strategy receives. Records stay raw JSON text throughout: a strategy that must
place records in a window decodes only the three fields it needs.
"""

from __future__ import annotations

import logging
import math
import re
import secrets
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final, Protocol

import msgspec

from netskope_provider.api.page import ParsedBody, RawPage
from netskope_provider.exceptions import (
    NetskopeError,
    NetskopePageTooLargeError,
    NetskopePagingError,
    NetskopeResponseError,
)

log = logging.getLogger(__name__)

INSERTION_TIME: Final = "_insertion_epoch_timestamp"
#: A short page before the counted end is asked again this many times before the pull fails.
SHORT_PAGE_RETRIES: Final = 2
UNPLACED: Final = "no usable _insertion_epoch_timestamp or timestamp, so it cannot be placed in a window"
#: For a record no parser accepts: its times read from the text, where they appear plainly.
_TIME_IN_TEXT: Final = {
    name: re.compile(rb'"' + name.encode() + rb'"\s*:\s*"?(-?\d+(?:\.\d+)?)"?[,}\s]')
    for name in (INSERTION_TIME, "timestamp")
}


class PageFetcher(Protocol):
    def __call__(self, params: Mapping[str, Any], *, retry_params: Mapping[str, Any] | None = None) -> ParsedBody:
        """Send one request and return its records; ``retry_params`` replace ``params`` on a re-send."""


#: ``(query params) -> records the tenant counts for that query``, or None where it gives no count.
Counter = Callable[[Mapping[str, Any]], "int | None"]


class _Placement(msgspec.Struct):
    """The only fields a strategy reads; msgspec skips the rest of the record without building it."""

    id: msgspec.Raw = msgspec.field(name="_id", default=msgspec.Raw(b""))
    insertion: Any = msgspec.field(name=INSERTION_TIME, default=None)
    timestamp: Any = None


_placement_decoder: Final = msgspec.json.Decoder(_Placement)


def epoch_seconds(value: Any) -> int | None:
    """Whole epoch seconds of a time value (number or numeric string); None when there is no finite one."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return None


class WindowKeeper:
    """Keeps the records of ``[start, end)`` once each, for strategies whose queries overlap windows.

    A record is placed by its insertion time, else by its event ``timestamp``. One with neither
    (or only ``"Infinity"``, an object...) cannot be placed: it is quarantined with that reason
    rather than delivered by every window whose query saw it.
    """

    def __init__(self, start: int, end: int) -> None:
        self.start = start
        self.end = end
        self._seen: set[bytes] = set()
        self.duplicates = 0
        self.untimed = 0

    def keep(self, page: ParsedBody) -> RawPage:
        kept: list[bytes] = []
        quarantined: list[tuple[str, bytes]] = []
        for raw in page.records or ():
            try:
                placement = _placement_decoder.decode(raw)
            except msgspec.ValidationError:
                quarantined.append(("not a JSON object, so it cannot be placed in a window", raw))
                continue
            except (msgspec.DecodeError, RecursionError):
                placement = None  # nested past msgspec's limit: read the times from the text
            when = _when(placement, raw)
            if when is None:
                self.untimed += 1
                quarantined.append((UNPLACED, raw))
            elif self.start <= when < self.end and not self._repeated(bytes(placement.id) if placement else b""):
                kept.append(raw)
        for reason, raw in page.quarantined:  # not JSON Python can hold: placed by the times in its text
            when = _when(None, raw)
            if when is None or self.start <= when < self.end:
                quarantined.append((reason, raw))
        return RawPage(kept, quarantined)

    def _repeated(self, record_id: bytes) -> bool:
        """Seen before in this pull (an iterator ``resend``, overlapping queries); ids compared as JSON text."""
        if not record_id:
            return False
        if record_id in self._seen:
            self.duplicates += 1
            return True
        self._seen.add(record_id)
        return False


def _when(placement: _Placement | None, raw: bytes) -> int | None:
    """Insertion time, else event time, of a decoded placement; else as read from the record's text."""
    if placement is not None:
        when = epoch_seconds(placement.insertion)
        return when if when is not None else epoch_seconds(placement.timestamp)
    for pattern in _TIME_IN_TEXT.values():
        found = pattern.search(raw)
        if found:
            return epoch_seconds(found.group(1).decode("ascii"))
    return None


def offset_pages(
    fetch: PageFetcher, params: Mapping[str, Any], page_size: int, where: str, count: Counter | None = None
) -> Iterator[ParsedBody]:
    """``limit``/``offset`` paging, checked against the tenant's own count of the query.

    The count comes from the page (``total``) or one extra request (``count``); with it a short
    or empty page before the counted end is asked again, then fails the pull rather than ending it
    with less, and a full page that reaches the count ends the pull without an empty trailing
    request (so the count costs at most one request per query). A body over the client's byte
    bound is asked again with half the records. An endpoint that ignores ``offset`` is refused.
    """
    offset = 0
    limit = page_size
    total: int | None = None
    counted = False
    previous_first: bytes | None = None
    short_retries = 0
    while True:
        try:
            page = fetch({**params, "limit": limit, "offset": offset})
        except NetskopePageTooLargeError as too_large:
            if limit == 1:
                raise
            limit = max(1, limit // 2)
            log.warning("%s; asking for %d records a page from offset %d on", too_large, limit, offset)
            continue
        records = page.records or []
        served = len(records) + len(page.quarantined)
        first = records[0] if records else (page.quarantined[0][1] if page.quarantined else None)
        if first is not None and offset and first == previous_first:
            raise NetskopePagingError(
                f"{where} returned the same first record at offset {offset} as at offset {offset - served}: "
                "the endpoint ignores 'offset', so paging would repeat records forever. Pull shorter windows "
                f"(fewer than {page_size} records each) or report the endpoint to Netskope support."
            )
        if not counted:
            counted = True
            total = _count_value(page.envelope.total)
            if total is None and count is not None:
                total = count(params)
            if total is None:
                log.info("%s gives no count for this query: its paging is not checked against one", where)
        reached = offset + served
        if served < limit and total is not None and reached < total:
            if short_retries < SHORT_PAGE_RETRIES:
                short_retries += 1
                log.warning(
                    "%s served %d records at offset %d although it counts %d: asking again (%d/%d)",
                    where,
                    served,
                    offset,
                    total,
                    short_retries,
                    SHORT_PAGE_RETRIES,
                )
                continue
            raise NetskopePagingError(
                f"{where} served {reached} of the {total} records it counts for this query: the page at offset "
                f"{offset} held {served} records where {min(limit, total - offset)} were due, also when asked "
                f"{SHORT_PAGE_RETRIES} more times. The tenant's paging is broken for this window; nothing was "
                "delivered from this try. Retry the task later (the window is pulled again exactly); if it "
                "persists, report the endpoint to Netskope support."
            )
        short_retries = 0
        if served:
            previous_first = first
            yield page
        del page, records  # a page is never held while the next one is fetched
        offset = reached
        if served < limit or (total is not None and reached == total):
            if total is not None and reached > total:
                log.warning("%s served %d records, more than the %d it counted", where, reached, total)
            return


def insertion_window_pages(
    fetch: PageFetcher, start: int, end: int, page_size: int, where: str, count: Counter | None = None
) -> Iterator[RawPage]:
    """``data/*``: the API's insertion bounds are inclusive seconds, so ``[start, end)`` is ``start..end-1``."""
    params = {"insertionstarttime": start, "insertionendtime": end - 1}
    for page in offset_pages(fetch, params, page_size, where, count):
        yield RawPage(page.records or [], page.quarantined)


def event_time_lookback_pages(
    fetch: PageFetcher,
    keeper: WindowKeeper,
    *,
    lookback_seconds: int,
    settle_seconds: int,
    page_size: int,
    where: str,
    count: Counter | None = None,
) -> Iterator[RawPage]:
    """``datasearch/*``: query event time ``(start - lookback, end + settle]``, keep by insertion time.

    A record is inserted after it happens, so every record inserted in the window has an event
    time before ``end``; ``lookback`` bounds how late it may have been inserted.
    """
    params = {"starttime": keeper.start - lookback_seconds, "endtime": keeper.end + settle_seconds}
    for page in offset_pages(fetch, params, page_size, where, count):
        kept = keeper.keep(page)
        del page  # released before the next fetch
        if kept.records or kept.quarantined:
            yield kept


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
) -> Iterator[RawPage]:
    """``dataexport`` iterator: seed a fresh index at ``start - lookback``, then ``next`` until
    ``timestamp_hwm >= end``, sleeping ``wait_time`` between calls.

    A failed ``next`` is re-sent as ``resend`` (same page, index not moved), so a page lost in
    transit is never skipped. The iterator gives no count: its end is ``timestamp_hwm``.
    """
    operation = str(keeper.start - lookback_seconds)
    idle_pages = 0
    last_hwm: int | None = None
    while True:
        params = {"index": index, "operation": operation}
        retry_params = {"index": index, "operation": "resend"} if operation == "next" else None
        page = fetch(params, retry_params=retry_params)
        hwm = _as_int(page.envelope.timestamp_hwm)
        wait = _as_float(page.envelope.wait_time) or 0.0
        idle = not page.records and not page.quarantined
        kept = keeper.keep(page)
        del page  # released before the next fetch
        if kept.records or kept.quarantined:
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


def _count_value(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _as_int(value: Any) -> int | None:
    try:
        return None if value is None or isinstance(value, bool) else int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _as_float(value: Any) -> float | None:
    try:
        number = None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number is not None and math.isfinite(number) else None
