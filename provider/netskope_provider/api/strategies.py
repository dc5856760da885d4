"""How each endpoint family is paged so that every record is read (and delivered) exactly once.

``data/*``: a window ``[start, end)`` of insertion time yields exactly the records inserted in it.
``datasearch/*`` and the ``dataexport`` iterator filter on no per-record insertion time, so their
records are homed by event time and their pulls are built so that a record inserted late is still
read once (docs/hook.md gives the argument). The strategies here only decide which requests to
send and whether the tenant served all it counted; transport (rate limits, retries, errors) is the
client's job, reached through the ``fetch`` callable each strategy receives. Records stay raw JSON
text throughout: placing one decodes only its ``_id`` and ``timestamp``.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import math
import re
import secrets
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from typing import Any, Final, NamedTuple, Protocol

import msgspec

from netskope_provider.api.page import ParsedBody, RawPage
from netskope_provider.exceptions import (
    NetskopeError,
    NetskopePageTooLargeError,
    NetskopePagingError,
    NetskopeResponseError,
)
from netskope_provider.hashing import held_digest

log = logging.getLogger(__name__)

#: A short page before the counted end is asked again this many times before the pull fails.
SHORT_PAGE_RETRIES: Final = 2
UNPLACED: Final = "no usable event timestamp, so it has no home log stream"
#: For a record no parser accepts: its event time read from the text, where it appears plainly.
_TIMESTAMP_IN_TEXT: Final = re.compile(rb'"timestamp"\s*:\s*"?(-?\d+(?:\.\d+)?)"?[,}\s]')


class PageFetcher(Protocol):
    def __call__(self, params: Mapping[str, Any], *, retry_params: Mapping[str, Any] | None = None) -> ParsedBody:
        """Send one request and return its records; ``retry_params`` replace ``params`` on a re-send."""


#: ``(query params) -> records the tenant counts for that query``, or None where it gives no count.
Counter = Callable[[Mapping[str, Any]], "int | None"]


class _Placement(msgspec.Struct):
    """The only fields a strategy reads; msgspec skips the rest of the record without building it."""

    id: msgspec.Raw = msgspec.field(name="_id", default=msgspec.Raw(b""))
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


class EventTimeCursor(NamedTuple):
    """How far this deployment has read the tenant's answer to "incidents with event time from ``anchor`` on".

    ``position`` records of that answer are read; ``last`` is the ``_id`` (JSON text) of the one at
    ``position - 1`` (empty: unknown, so the next read starts over); ``homes`` counts the records
    read per home interval start, so the anchor can move forward by whole intervals and the position
    with it.
    """

    anchor: int
    position: int = 0
    last: str = ""
    homes: Mapping[int, int] = {}

    def moved_to(self, anchor: int) -> EventTimeCursor:
        """The same reading with the anchor moved forward: the answer loses the records before it."""
        if anchor <= self.anchor:
            return self
        dropped = sum(count for home, count in self.homes.items() if home < anchor)
        kept = {home: count for home, count in self.homes.items() if home >= anchor}
        return EventTimeCursor(anchor, self.position - dropped, self.last if self.position > dropped else "", kept)


class EventTimePlacer:
    """Passes the records that carry a usable event ``timestamp``; quarantines the rest with the reason.

    Incident and endpoint records are homed by their event time (docs/hook.md): a record without
    one (or only ``"Infinity"``, an object...) has no home, so it is quarantined rather than put
    in the stream of whichever window read it (the same record would land in two).
    """

    def __init__(self) -> None:
        self.untimed = 0
        #: Records dropped because a ``resend`` answered with a page already passed on.
        self.repeats = 0

    def place(self, page: ParsedBody) -> RawPage:
        kept: list[bytes] = []
        quarantined = list(page.quarantined)  # not JSON Python can hold: quarantined with the parser's reason
        for raw in page.records or ():
            try:
                placement = _placement_decoder.decode(raw)
            except msgspec.ValidationError:
                quarantined.append(("not a JSON object, so it cannot be placed in a window", raw))
                continue
            except (msgspec.DecodeError, RecursionError):
                placement = None  # nested past msgspec's limit: read the time from the text
            if _event_time(placement, raw) is None:
                self.untimed += 1
                quarantined.append((UNPLACED, raw))
            else:
                kept.append(raw)
        return RawPage(kept, quarantined)


def _event_time(placement: _Placement | None, raw: bytes) -> int | None:
    """The record's event ``timestamp`` in whole seconds, decoded or else read from its text."""
    if placement is not None:
        return epoch_seconds(placement.timestamp)
    found = _TIMESTAMP_IN_TEXT.search(raw)
    return epoch_seconds(found.group(1).decode("ascii")) if found else None


def event_times(records: Iterable[bytes]) -> Iterator[int | None]:
    """The event ``timestamp`` of each record, or None where it has no usable one."""
    for raw in records:
        try:
            placement: _Placement | None = _placement_decoder.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
            placement = None
        yield _event_time(placement, raw)


def _first_key(page: ParsedBody) -> bytes | str | None:
    """What identifies a page: its first record's ``_id``, else that record's text."""
    raw = page.records[0] if page.records else page.quarantined[0][1] if page.quarantined else None
    return None if raw is None else record_id(raw) or raw


def record_id(raw: bytes) -> str:
    """A record's ``_id`` as JSON text (empty when it has none or is not an object)."""
    try:
        return bytes(_placement_decoder.decode(raw).id).decode()
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return ""


class OffsetIgnored(NetskopePagingError):
    """The endpoint served the same first record at a later ``offset``: paging by offset would loop."""


#: Why a window is read in parts (:func:`bisected_pages`), as its errors say it.
IGNORED_OFFSET: Final = "ignores 'offset'"
MOVING_ORDER: Final = "orders its answer anew between requests"


class OrderMoved(NetskopePagingError):
    """A page served a record of the page before it: the answer's order moved between requests.

    Paging by offset would then skip as many records as it repeats while the count still matches;
    a pull that can start over reads the window in parts that fit one page each (``in_parts``).
    """

    def __init__(self, where: str, offset: int, page_size: int, advice: str | None = None) -> None:
        #: What happened, in words a log line can use.
        self.found = f"{where} served at offset {offset} a record it had served on the page before"
        self.where, self.offset, self.page_size = where, offset, page_size
        if advice is None:
            advice = (
                f"Pull windows that fit one page (fewer than {page_size} records each: "
                "NETSKOPE_SPLIT_MINUTES_<LOG_TYPE> pulls a window as sub-windows of that many minutes, "
                "docs/scaling.md), which need no offset, and report the endpoint to Netskope support."
            )
        super().__init__(
            f"{self.found}: the order of its answer changed between requests, so paging by offset would skip as "
            f"many records as it repeats while the count still matched. Nothing was delivered from this try. {advice}"
        )


class _FullPage(Exception):
    """A query asked as ``whole`` filled its page, so it may hold more records than one page."""


def offset_pages(
    fetch: PageFetcher,
    params: Mapping[str, Any],
    page_size: int,
    where: str,
    count: Counter | None = None,
    *,
    start_offset: int = 0,
    whole: bool = False,
) -> Generator[ParsedBody]:
    """``limit``/``offset`` paging, checked against the tenant's own count of the query.

    The count comes from the page (``total``) or one extra request (``count``); with it a short
    or empty page before the counted end is asked again, then fails the pull rather than ending it
    with less, and a full page that reaches the count ends the pull without an empty trailing
    request (so the count costs at most one request per query). A total the page states is a
    claim whose meaning no Netskope document gives: it ends no pull early, and before a short page
    fails the pull on it, one count request checks it. A full first page is handed on before the
    count is asked (the caller maps it meanwhile; a short one is checked first). A body over the
    client's byte bound is asked again with half the records. An endpoint that ignores ``offset``
    is refused (:class:`OffsetIgnored`). So is an answer whose order moved between requests
    (:class:`OrderMoved`): a page serving a record of the page before it (offset paging would then
    skip as many records as it repeats, and the count would still match). With ``whole``, the
    query must fit one page: a full page is not handed on but raises :class:`_FullPage`.
    """
    offset = start_offset
    limit = page_size
    total: int | None = None
    counted = False
    confirmed = False  # the total is the answer to a count request, not a page's claim
    previous_first: bytes | None = None
    previous: set[int] = set()  # hash() of the previous full page's records: none may be served again
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
            raise OffsetIgnored(
                f"{where} returned the same first record at offset {offset} as at offset {offset - served}: "
                "the endpoint ignores 'offset', so paging would repeat records forever. Pull shorter windows "
                f"(fewer than {page_size} records each: NETSKOPE_SPLIT_MINUTES_<LOG_TYPE> pulls a window as "
                "sub-windows of that many minutes, docs/scaling.md) or report the endpoint to Netskope support."
            )
        if previous and _repeats(page, previous):
            raise OrderMoved(where, offset, page_size)
        if whole and served >= limit:
            raise _FullPage
        if not counted and served < limit:  # a short page is checked against the count before it is handed on
            counted, (total, confirmed) = True, _total(page.envelope.total, params, count, where)
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
            if not confirmed:
                total, confirmed = _checked(total, params, count, where)
            if reached < total:
                raise NetskopePagingError(
                    f"{where} served {reached} of the {total} records it counts for this query: the page at "
                    f"offset {offset} held {served} records where {min(limit, total - offset)} were due, also when "
                    f"asked {SHORT_PAGE_RETRIES} more times. The tenant's paging is broken for this window; nothing "
                    "was delivered from this try. Retry the task later (the window is pulled again exactly); if it "
                    "persists, report the endpoint to Netskope support."
                )
        short_retries = 0
        stated = page.envelope.total
        if served:
            previous_first = first
            yield page
        # Only a full page is followed by another (hash() of bytes is cached: each record is hashed once).
        previous = _hashes(page) if served >= limit else set()
        del page, records  # a page is never held while the next one is fetched
        if not counted:  # a full first page went on first: its count is asked while the caller maps it
            counted, (total, confirmed) = True, _total(stated, params, count, where)
        offset = reached
        if served < limit or (confirmed and reached == total):
            if total is not None and reached > total:
                log.warning("%s served %d records, more than the %d it counted", where, reached, total)
            return


def insertion_window_pages(
    fetch: PageFetcher,
    start: int,
    end: int,
    page_size: int,
    where: str,
    count: Counter | None = None,
    *,
    in_parts: bool = False,
) -> Iterator[RawPage]:
    """``data/*``: the API's insertion bounds are inclusive seconds, so ``[start, end)`` is ``start..end-1``.

    Should the endpoint ignore ``offset`` (Netskope's CLI reads ``data/infrastructure`` as a single
    page), its second page repeats the first: the window is then read in parts of its time range
    that fit one page each (:func:`bisected_pages`), passing over the first page's records, already
    handed on. Detected at a later page, it fails the pull (:class:`OffsetIgnored`). ``in_parts``
    reads the window that way from the start, with no offset: for a window whose answer's order
    moved between requests (:class:`OrderMoved`), which a caller cannot take back page by page.
    """
    if in_parts:
        yield from bisected_pages(fetch, start, end - 1, page_size, where, count, collections.Counter(), MOVING_ORDER)
        return
    params = {"insertionstarttime": start, "insertionendtime": end - 1}
    handed: collections.Counter[bytes] | None = None  # the first page's records while the second may repeat it
    pages = 0
    try:
        for page in offset_pages(fetch, params, page_size, where, count):
            pages += 1
            yield RawPage(page.records or [], page.quarantined)
            # Only a full first page is followed by a request that could repeat it. Digested when the
            # next page is asked for (a short first page has ended the pull by then).
            handed = _digests(page) if pages == 1 and _served(page) >= page_size else None
            del page  # not held while the next page is fetched
    except OffsetIgnored:
        if handed is None:
            raise
    else:
        return
    # Read outside the handler: the exception's traceback holds the repeated page.
    log.warning(
        "%s ignores 'offset' (its second page repeated the first): reading the window in parts of its time "
        "range that fit one page each, passing over the %d records already handed on",
        where,
        handed.total(),
    )
    yield from bisected_pages(fetch, start, end - 1, page_size, where, count, handed, IGNORED_OFFSET)


def bisected_pages(
    fetch: PageFetcher,
    first: int,
    last: int,
    page_size: int,
    where: str,
    count: Counter | None,
    handed: collections.Counter[bytes],
    why: str,
) -> Iterator[RawPage]:
    """``data/*`` records inserted in the seconds ``first..last``, read without ``offset`` (``why`` says why).

    Each part of the range is asked for one page (checked against its count like any short page);
    a full page may hide more, so its part is halved and asked again, earlier half first. A second
    holding a full page cannot be halved: the pull fails. Records whose digest is in ``handed``
    (already handed on) are passed over, once per time they were handed on.
    """
    parts = [(first, last)]
    while parts:
        low, high = parts.pop()
        params = {"insertionstarttime": low, "insertionendtime": high}
        try:
            pages = list(offset_pages(fetch, params, page_size, where, count, whole=True))
        except _FullPage:
            if low == high:
                raise NetskopePagingError(
                    f"{where} {why}, and a full page of records ({page_size} or more) was inserted in "
                    f"the one second {low}: a second cannot be split, so they cannot all be read. Nothing was "
                    "delivered from this try; report the endpoint to Netskope support."
                ) from None
            middle = (low + high) // 2
            parts += [(middle + 1, high), (low, middle)]
            continue
        while pages:
            kept = _not_handed(pages.pop(), handed)
            if kept.records or kept.quarantined:
                yield kept
            del kept  # not held while the next part is fetched
    if handed:
        log.warning(
            "%s did not serve again %d of the records it served first, when read in parts: they were handed on "
            "once, from its first page",
            where,
            handed.total(),
        )


def _hashes(page: ParsedBody) -> set[int]:
    """Each record's ``hash()``: which records a page served, in 8 bytes each (~0.7 ms per 1,000 records of 3.5 KB)."""
    found = set(map(hash, page.records or ()))
    found.update(hash(raw) for _, raw in page.quarantined)
    return found


def _repeats(page: ParsedBody, previous: set[int]) -> bool:
    """Whether ``page`` serves a record whose hash is in ``previous`` (an equal hash of other bytes: odds 2^-64 a pair)."""
    return not previous.isdisjoint(map(hash, page.records or ())) or not previous.isdisjoint(
        hash(raw) for _, raw in page.quarantined
    )


def _served(page: ParsedBody) -> int:
    return len(page.records or ()) + len(page.quarantined)


def _digests(page: ParsedBody) -> collections.Counter[bytes]:
    """Each record's SHA-256, counted (32 bytes a record instead of its text)."""
    found = collections.Counter(_digest(raw) for raw in page.records or ())
    found.update(_digest(raw) for _, raw in page.quarantined)
    return found


def _digest(raw: bytes) -> bytes:
    """SHA-256 of a record, holding the GIL: this runs in the read-ahead thread, beside the mapping."""
    return held_digest(hashlib.sha256(), raw)


def _not_handed(page: ParsedBody, handed: collections.Counter[bytes]) -> RawPage:
    """The page without the records in ``handed``."""
    return RawPage(
        [raw for raw in page.records or () if not _passed_over(raw, handed)],
        [(reason, raw) for reason, raw in page.quarantined if not _passed_over(raw, handed)],
    )


def _passed_over(raw: bytes, handed: collections.Counter[bytes]) -> bool:
    """Whether ``raw`` was handed on already; if so, one of its times is used up."""
    if not handed:
        return False
    digest = _digest(raw)
    left = handed.get(digest)
    if not left:
        return False
    if left == 1:
        del handed[digest]
    else:
        handed[digest] = left - 1
    return True


def event_time_params(start: int, end: int) -> dict[str, int]:
    """``datasearch`` bounds for event time in ``[start, end)``: ``starttime`` is exclusive, ``endtime`` inclusive."""
    return {"starttime": start - 1, "endtime": end - 1}


def whole_event_time_pages(
    fetch: PageFetcher,
    count: Counter,
    start: int,
    end: int,
    *,
    placer: EventTimePlacer,
    page_size: int,
    where: str,
) -> Iterator[RawPage]:
    """``datasearch/*``: every record of event time ``[start, end)`` the tenant holds now, checked against its count."""
    for page in offset_pages(fetch, event_time_params(start, end), page_size, where, count):
        placed = placer.place(page)
        del page
        if placed.records or placed.quarantined:
            yield placed


def new_event_time_pages(
    fetch: PageFetcher,
    cursor: EventTimeCursor,
    *,
    home_of: Callable[[int], int],
    placer: EventTimePlacer,
    page_size: int,
    where: str,
    read: list[EventTimeCursor],
) -> Iterator[RawPage]:
    """``datasearch/*``: the records with event time from ``cursor.anchor`` up to now that ``cursor`` has not read.

    The query's end is the tenant's "now", so every record it held at the last read was in that
    answer (a record is inserted after it happens). The read resumes at ``cursor.position - 1``:
    when the record there is still ``cursor.last``, no new record sorts before it -- the answer's
    order is stable and puts new records after it (insertion order does) -- so the rest are exactly
    the ones inserted since. Otherwise the answer is read again from the start (delivery sends only
    what each home stream lacks). No count is asked: a page shorter than asked ends this read, and
    whatever it did not reach is read by the next one, from the position reached. ``read``
    receives the cursor after the last page.
    """
    params = {"starttime": cursor.anchor - 1}
    resume = cursor.position > 0 and bool(cursor.last)
    position = cursor.position - 1 if resume else 0
    homes = dict(cursor.homes) if resume else {}
    last = cursor.last if resume else ""
    pages = offset_pages(fetch, params, page_size, where, start_offset=position)
    for page in pages:
        records = page.records or []
        if resume:
            resume = False
            if records and not page.quarantined and record_id(records[0]) == last:
                records = records[1:]
                position += 1
            else:
                log.warning(
                    "%s: the record at position %d of event time from %d on is not the one read there before; "
                    "reading the answer again from the start (delivery sends only what each stream lacks)",
                    where,
                    position,
                    cursor.anchor,
                )
                pages.close()
                yield from new_event_time_pages(
                    fetch,
                    EventTimeCursor(cursor.anchor),
                    home_of=home_of,
                    placer=placer,
                    page_size=page_size,
                    where=where,
                    read=read,
                )
                return
        position += len(records) + len(page.quarantined)
        for when in event_times([*records, *(raw for _, raw in page.quarantined)]):
            home = home_of(when or cursor.anchor)  # one without a readable time counts at the anchor
            homes[home] = homes.get(home, 0) + 1
        if records and not page.quarantined:
            last = record_id(records[-1])
        elif records or page.quarantined:
            last = ""  # the page's order is not known past a quarantined record: start over next time
        placed = placer.place(ParsedBody(page.envelope, records, page.quarantined))
        del page, records
        if placed.records or placed.quarantined:
            yield placed
    read.append(EventTimeCursor(cursor.anchor, position, last, homes))


def iterator_index_name(log_type: str, start: int, end: int) -> str:
    """A fresh index per pull: concurrent and repeated pulls of a window never share a cursor (409)."""
    return f"nsaf_{log_type}_{start}_{end}_{secrets.token_hex(4)}"


def iterator_pages(
    fetch: PageFetcher,
    placer: EventTimePlacer,
    *,
    index: str,
    seed: int,
    end: int,
    sleep: Callable[[float], None],
    max_wait_seconds: float,
    max_idle_pages: int,
    where: str,
    until_caught_up: bool = False,
) -> Iterator[RawPage]:
    """``dataexport`` iterator: seed a fresh index at ``seed``, then ``next`` until ``timestamp_hwm >= end``,
    sleeping ``wait_time`` between calls; every record read is passed on (the caller homes it).
    With ``until_caught_up``, an empty page (nothing more to read now) ends it too.

    A failed ``next`` is re-sent as ``resend`` (same page, index not moved), so a page lost in
    transit is never skipped; when the failed ``next`` had not been processed, ``resend`` answers
    with the page before, which is recognised by its first record and dropped (only that one
    record is remembered, not the window's ids). The iterator gives no count: its end is
    ``timestamp_hwm``. The ``max_idle_pages``-th empty page in a row at one ``timestamp_hwm`` short
    of ``end`` fails the pull (the window has not settled), so a stalled cursor is never polled forever.
    """
    operation = str(seed)
    idle_pages = 0  # empty pages in a row at ``last_hwm``
    last_hwm: int | None = None
    previous_first: bytes | str | None = None
    while True:
        params = {"index": index, "operation": operation}
        retry_params = {"index": index, "operation": "resend"} if operation == "next" else None
        page = fetch(params, retry_params=retry_params)
        hwm = _as_int(page.envelope.timestamp_hwm)
        wait = _as_float(page.envelope.wait_time) or 0.0
        idle = not page.records and not page.quarantined
        first = _first_key(page)
        if first is not None and first == previous_first:  # the page already passed on, sent again
            placer.repeats += len(page.records or ()) + len(page.quarantined)
            page = ParsedBody(page.envelope, [], [])
        elif first is not None:
            previous_first = first
        placed = placer.place(page)
        del page  # released before the next fetch
        if placed.records or placed.quarantined:
            yield placed
        del placed
        if hwm is None:
            raise NetskopeResponseError(
                f"{where} answered without 'timestamp_hwm', so the end of the window cannot be detected; "
                "check that the tenant serves the dataexport iterator API."
            )
        if hwm >= end or (idle and until_caught_up):
            return
        idle_pages = (idle_pages + 1 if hwm == last_hwm else 1) if idle else 0
        if idle_pages >= max_idle_pages:
            raise NetskopeError(
                f"{where} stopped advancing at timestamp_hwm={hwm} ({idle_pages} empty pages in a row), before the "
                f"window end {end}: the window has probably not settled yet; pull it again later (end windows a few "
                "minutes in the past)."
            )
        last_hwm = hwm
        if wait > 0:
            sleep(min(wait, max_wait_seconds))
        operation = "next"


def _total(stated: Any, params: Mapping[str, Any], count: Counter | None, where: str) -> tuple[int | None, bool]:
    """The query's count and whether a count request gave it: the page's own ``total``, else one ``count`` request.

    None when the tenant gives neither.
    """
    total = _count_value(stated)
    if total is not None:
        return total, False
    total = None if count is None else count(params)
    if total is None:
        log.info("%s gives no count for this query: its paging is not checked against one", where)
    return total, total is not None


def _checked(stated: int, params: Mapping[str, Any], count: Counter | None, where: str) -> tuple[int, bool]:
    """A total a page stated, checked by one count request before a short page fails the pull on it.

    Netskope's CLI reads ``data/audit``'s ``total`` as the query's count; should it mean something
    else on a tenant, the count decides, and the pull neither fails for good nor ends short.
    """
    total = None if count is None else count(params)
    if total is None:
        return stated, False  # nothing to check it with: the page's total stands
    if total != stated:
        log.warning(
            "%s states %d records for this query where its count is %d: paging follows the count", where, stated, total
        )
    return total, True


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
