"""What a simulated tenant holds for one log type: the generated corpus plus records injected at run time.

Records are kept in the tenant's stable order (insertion time, then ``_id``). The common query (an
insertion-time window with no other filter and no injected record in it) is answered with index
arithmetic, so paging through a million records costs nothing per page; filtered queries build an
index list once and cache it for the following pages. Iterators walk either that order or the
event-time order (``timestamp``, then ``_id``), which the corpus builds on first use.
"""

from __future__ import annotations

import heapq
import threading
from array import array
from bisect import bisect_left, bisect_right, insort
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from netskope_provider.simulator.config import IteratorClock
from netskope_provider.simulator.records import INSERTION_TIME, Corpus, record_subtype

_CACHE_SIZE = 16
_FAR = 2**62
#: Sorts after every ``_id`` of one second (ids are ASCII).
_LAST_ID = "\U0010ffff"

#: A position in one of the two orders: (insertion time or event time, ``_id``).
Key = tuple[int, str]


@dataclass(frozen=True, order=True)
class Injected:
    """A record added at run time (a late arrival); ordered like the corpus records."""

    key: Key  #: (insertion time, ``_id``)
    timestamp: int = field(compare=False)
    subtype: str = field(compare=False)
    acked: Any = field(compare=False)
    body: bytes = field(compare=False)  #: the record as injected, with its insertion time
    bare: bytes = field(compare=False)  #: the record without ``_insertion_epoch_timestamp``

    @property
    def event_key(self) -> Key:
        return self.timestamp, self.key[1]


#: A corpus record (its index) or an injected one.
Item = int | Injected


@dataclass(frozen=True)
class Filter:
    """Which records a query wants; bounds as the API defines them (``None`` = unbounded)."""

    insertion_from: int | None = None  #: inclusive
    insertion_to: int | None = None  #: inclusive
    time_after: int | None = None  #: ``timestamp`` strictly greater (``starttime``)
    time_to: int | None = None  #: ``timestamp`` less or equal (``endtime``)
    subtype: str = ""  #: normalised alert type or ``epdlp``, "" for any
    acked: str | None = None  #: alerts: the ``acked`` value wanted ("true"/"false"), ``None`` for any


class LogStore:
    """Records of one log type, queried by insertion window, event time, subtype and ``acked``."""

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus
        self.log_type = corpus.log_type
        self._injected: list[Injected] = []  #: tenant order
        self._injected_by_event: list[Injected] = []  #: event-time order
        self._ids: set[str] = set()
        self._lock = threading.Lock()
        self._version = 0
        self._cache: OrderedDict[tuple[Any, ...], Sequence[Item]] = OrderedDict()

    @property
    def version(self) -> int:
        """Changes whenever records are injected (keys for caches of query results)."""
        return self._version

    # -- writing ---------------------------------------------------------------------------------

    def inject(self, records: Iterable[dict[str, Any]]) -> int:
        """Add records; each needs integer ``timestamp`` and ``_insertion_epoch_timestamp`` and a string ``_id``."""
        prepared = [self._prepare(record) for record in records]
        with self._lock:
            for item in prepared:
                if item.key[1] in self._ids:
                    raise ValueError(f"a record with _id {item.key[1]!r} was already injected into {self.log_type}")
                self._ids.add(item.key[1])
                insort(self._injected, item)
                insort(self._injected_by_event, item, key=lambda injected: injected.event_key)
            self._version += 1
            self._cache.clear()
        return len(prepared)

    def _prepare(self, record: dict[str, Any]) -> Injected:
        if not isinstance(record, dict):
            raise TypeError(f"inject() takes dicts (Netskope records), got {type(record).__name__}")
        ins, ts, rid = record.get(INSERTION_TIME), record.get("timestamp"), record.get("_id")
        if not isinstance(ins, int) or isinstance(ins, bool):
            raise ValueError(
                f"injected {self.log_type} record needs an integer {INSERTION_TIME} (epoch seconds, when the tenant "
                f"stores it), got {ins!r}"
            )
        if not isinstance(ts, int) or isinstance(ts, bool):
            raise ValueError(f"injected {self.log_type} record needs an integer timestamp (epoch seconds), got {ts!r}")
        if not isinstance(rid, str) or not rid:
            raise ValueError(f"injected {self.log_type} record needs a non-empty string _id, got {rid!r}")
        bare = {name: value for name, value in record.items() if name != INSERTION_TIME}
        return Injected(
            (ins, rid),
            ts,
            record_subtype(self.log_type, record),
            record.get("acked"),
            orjson.dumps(record),
            orjson.dumps(bare),
        )

    # -- reading ---------------------------------------------------------------------------------

    def item_parts(self, item: Item, insertion_time: bool) -> tuple[bytes, ...]:
        """The record's JSON as byte strings to concatenate (see ``Corpus.record_parts``)."""
        if isinstance(item, int):
            return self.corpus.record_parts(item, insertion_time)
        return (item.body if insertion_time else item.bare,)

    def envelope(self, items: Iterable[Item], tail: bytes = b"", insertion_time: bool = True) -> bytes:
        """``{"ok":1,"result":[...]<tail>}`` built with a single copy of the records' bytes."""
        chunks = [b'{"ok":1,"result":[']
        for item in items:
            chunks += self.item_parts(item, insertion_time)
            chunks.append(b",")
        if len(chunks) > 1:
            chunks.pop()
        chunks += (b"]", tail, b"}")
        return b"".join(chunks)

    def item_record(self, item: Item, insertion_time: bool = True) -> dict[str, Any]:
        if isinstance(item, int):
            return self.corpus.record(item, insertion_time)
        return orjson.loads(item.body if insertion_time else item.bare)

    def item_insertion(self, item: Item) -> int:
        return self.corpus.insertion[item] if isinstance(item, int) else item.key[0]

    def item_key(self, item: Item, clock: IteratorClock) -> Key:
        """The item's position in the insertion or the event-time order."""
        if isinstance(item, int):
            return self.corpus.key(item) if clock == "insertion" else self.corpus.event_key(item)
        return item.key if clock == "insertion" else item.event_key

    def select(self, flt: Filter) -> Sequence[Item]:
        """All records matching ``flt`` in tenant order, as a sequence that slices cheaply."""
        corpus = self.corpus
        ins_lo = flt.insertion_from if flt.insertion_from is not None else -_FAR
        ins_hi = flt.insertion_to if flt.insertion_to is not None else _FAR
        if ins_lo > ins_hi:
            return ()
        lo, hi = corpus.bisect_insertion(ins_lo, ins_hi)
        with self._lock:
            injected = self._between(self._injected, ins_lo, ins_hi, by_event=False)
            simple = flt.time_after is None and flt.time_to is None and not flt.subtype and flt.acked is None
            if simple and not injected:
                return range(lo, hi)
            cache_key = (self._version, lo, hi, flt)
            cached = self._cache.get(cache_key)
            if cached is not None:
                self._cache.move_to_end(cache_key)
                return cached
        matching = array("q", (i for i in range(lo, hi) if self._matches(i, flt)))  # 8 bytes a record, cached
        selected: Sequence[Item] = matching
        chosen = [item for item in injected if self._matches(item, flt)]
        if chosen:
            selected = list(self._merged(iter(matching), chosen, corpus.key, lambda item: item.key))
        with self._lock:
            self._cache[cache_key] = selected
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return selected

    def scan(self, flt: Filter, after: Key | None, clock: IteratorClock) -> Iterator[Item]:
        """Records matching ``flt`` after position ``after`` of ``clock``'s order, in that order, lazily (iterators)."""
        if clock == "insertion":
            return self._scan_insertion(flt, after)
        return self._scan_event(flt, after)

    def _scan_insertion(self, flt: Filter, after: Key | None) -> Iterator[Item]:
        corpus = self.corpus
        ins_lo = flt.insertion_from if flt.insertion_from is not None else -_FAR
        if after is not None:
            ins_lo = max(ins_lo, after[0])
        ins_hi = flt.insertion_to if flt.insertion_to is not None else _FAR
        lo, hi = corpus.bisect_insertion(ins_lo, ins_hi)
        with self._lock:
            injected = [
                item
                for item in self._between(self._injected, ins_lo, ins_hi, by_event=False)
                if (after is None or item.key > after) and self._matches(item, flt)
            ]

        def base() -> Iterator[int]:
            for i in range(lo, hi):
                if after is not None and corpus.insertion[i] == after[0] and corpus.record_id(i) <= after[1]:
                    continue
                if self._matches(i, flt):
                    yield i

        return self._merged(base(), injected, corpus.key, lambda item: item.key)

    def _scan_event(self, flt: Filter, after: Key | None) -> Iterator[Item]:
        corpus = self.corpus
        order, stamps = corpus.event_index()
        ins_lo = flt.insertion_from if flt.insertion_from is not None else -_FAR
        ins_hi = flt.insertion_to if flt.insertion_to is not None else _FAR
        ts_lo = flt.time_after + 1 if flt.time_after is not None else -_FAR
        if after is not None:
            ts_lo = max(ts_lo, after[0])
        ts_hi = flt.time_to if flt.time_to is not None else _FAR
        # A generated record happens before it is inserted: none inserted by ins_hi has a later
        # timestamp. (An injected one may, clock skew, so only the corpus range is cut.)
        lo, hi = bisect_left(stamps, ts_lo), bisect_right(stamps, min(ts_hi, ins_hi))
        insertion = corpus.insertion
        with self._lock:
            injected = [
                item
                for item in self._between(self._injected_by_event, ts_lo, ts_hi, by_event=True)
                if (after is None or item.event_key > after)
                and ins_lo <= item.key[0] <= ins_hi
                and self._matches(item, flt)
            ]

        def base() -> Iterator[int]:
            for position in range(lo, hi):
                i = order[position]
                if not ins_lo <= insertion[i] <= ins_hi:
                    continue
                if after is not None and stamps[position] == after[0] and corpus.record_id(i) <= after[1]:
                    continue
                if self._matches(i, flt):
                    yield i

        return self._merged(base(), injected, corpus.event_key, lambda item: item.event_key)

    @staticmethod
    def _merged(
        base: Iterator[int],
        injected: list[Injected],
        corpus_key: Callable[[int], Key],
        injected_key: Callable[[Injected], Key],
    ) -> Iterator[Item]:
        """Corpus and injected records in one order (both inputs are already in it)."""
        if not injected:
            return base
        keyed_base: Iterator[tuple[Key, Item]] = ((corpus_key(i), i) for i in base)
        keyed_injected: Iterator[tuple[Key, Item]] = ((injected_key(item), item) for item in injected)
        return (item for _, item in heapq.merge(keyed_base, keyed_injected, key=lambda pair: pair[0]))

    def records(self, flt: Filter, insertion_time: bool = True) -> list[dict[str, Any]]:
        """Ground truth: every record matching ``flt`` in tenant order, as dicts."""
        return [self.item_record(item, insertion_time) for item in self.select(flt)]

    # -- helpers ---------------------------------------------------------------------------------

    @staticmethod
    def _between(items: list[Injected], lo: int, hi: int, by_event: bool) -> list[Injected]:
        """The injected items whose insertion time (or event time) is in ``[lo, hi]``."""
        key = (lambda item: item.event_key) if by_event else (lambda item: item.key)
        return items[bisect_left(items, (lo, ""), key=key) : bisect_right(items, (hi, _LAST_ID), key=key)]

    def _matches(self, item: Item, flt: Filter) -> bool:
        """Event time, subtype and ``acked`` (insertion bounds are the caller's)."""
        if isinstance(item, int):
            ts = self.corpus.timestamp(item)
            subtype = self.corpus.subtype(item) if flt.subtype else ""
            acked = self.corpus.template_field(item, "acked") if flt.acked is not None else None
        else:
            ts, subtype, acked = item.timestamp, item.subtype, item.acked
        if flt.time_after is not None and ts <= flt.time_after:
            return False
        if flt.time_to is not None and ts > flt.time_to:
            return False
        if flt.acked is not None and acked != flt.acked:
            return False
        return not flt.subtype or subtype == flt.subtype
