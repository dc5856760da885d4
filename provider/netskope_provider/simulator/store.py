"""What a simulated tenant holds for one log type: the generated corpus plus records injected at run time.

Records are kept in the tenant's stable order (insertion time, then ``_id``). The common query (an
insertion-time window with no other filter and no injected record in it) is answered with index
arithmetic, so paging through a million records costs nothing per page; filtered queries build an
index list once and cache it for the following pages.
"""

from __future__ import annotations

import heapq
import threading
from array import array
from bisect import bisect_left, bisect_right, insort
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from netskope_provider.simulator.records import Corpus, normalise_alert_type

_CACHE_SIZE = 16


@dataclass(frozen=True, order=True)
class Injected:
    """A record added at run time (a late arrival); ordered like the corpus records."""

    key: tuple[int, str]
    timestamp: int = field(compare=False)
    subtype: str = field(compare=False)
    body: bytes = field(compare=False)


#: A corpus record (its index) or an injected one.
Item = int | Injected


@dataclass(frozen=True)
class Filter:
    """Which records a query wants; bounds as the API defines them (``None`` = unbounded)."""

    insertion_from: int | None = None  #: inclusive
    insertion_to: int | None = None  #: inclusive
    time_after: int | None = None  #: ``timestamp`` strictly greater (``starttime``)
    time_to: int | None = None  #: ``timestamp`` less or equal (``endtime``)
    subtype: str = ""  #: normalised alert type, "" for any


class LogStore:
    """Records of one log type, queried by insertion window, event time and alert subtype."""

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus
        self.log_type = corpus.log_type
        self._injected: list[Injected] = []
        self._ids: set[str] = set()
        self._lock = threading.Lock()
        self._version = 0
        self._cache: OrderedDict[tuple[Any, ...], Sequence[Item]] = OrderedDict()

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
            self._version += 1
            self._cache.clear()
        return len(prepared)

    def _prepare(self, record: dict[str, Any]) -> Injected:
        if not isinstance(record, dict):
            raise TypeError(f"inject() takes dicts (Netskope records), got {type(record).__name__}")
        ins, ts, rid = record.get("_insertion_epoch_timestamp"), record.get("timestamp"), record.get("_id")
        for name, value in (("_insertion_epoch_timestamp", ins), ("timestamp", ts)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(
                    f"injected {self.log_type} record needs an integer {name} (epoch seconds), got {value!r}"
                )
        if not isinstance(rid, str) or not rid:
            raise ValueError(f"injected {self.log_type} record needs a non-empty string _id, got {rid!r}")
        return Injected((ins, rid), ts, normalise_alert_type(str(record.get("alert_type", ""))), orjson.dumps(record))

    # -- reading ---------------------------------------------------------------------------------

    def item_parts(self, item: Item) -> tuple[bytes, ...]:
        """The record's JSON as byte strings to concatenate (see ``Corpus.record_parts``)."""
        return self.corpus.record_parts(item) if isinstance(item, int) else (item.body,)

    def envelope(self, items: Iterable[Item], tail: bytes = b"") -> bytes:
        """``{"ok":1,"result":[...]<tail>}`` built with a single copy of the records' bytes."""
        chunks = [b'{"ok":1,"result":[']
        for item in items:
            chunks += self.item_parts(item)
            chunks.append(b",")
        if len(chunks) > 1:
            chunks.pop()
        chunks += (b"]", tail, b"}")
        return b"".join(chunks)

    def item_record(self, item: Item) -> dict[str, Any]:
        return self.corpus.record(item) if isinstance(item, int) else orjson.loads(item.body)

    def item_insertion(self, item: Item) -> int:
        return self.corpus.insertion[item] if isinstance(item, int) else item.key[0]

    def select(self, flt: Filter) -> Sequence[Item]:
        """All records matching ``flt`` in tenant order, as a sequence that slices cheaply."""
        corpus = self.corpus
        ins_lo = flt.insertion_from if flt.insertion_from is not None else -(2**62)
        ins_hi = flt.insertion_to if flt.insertion_to is not None else 2**62
        if ins_lo > ins_hi:
            return ()
        lo, hi = corpus.bisect_insertion(ins_lo, ins_hi)
        with self._lock:
            injected = self._injected_between(ins_lo, ins_hi)
            simple = flt.time_after is None and flt.time_to is None and not flt.subtype
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
            keyed = ((corpus.key(i), i) for i in matching)
            selected = [item for _, item in heapq.merge(keyed, ((item.key, item) for item in chosen))]
        with self._lock:
            self._cache[cache_key] = selected
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return selected

    def scan(self, flt: Filter, after: tuple[int, str] | None) -> Iterator[Item]:
        """Records matching ``flt`` whose key is greater than ``after``, in order, produced lazily (iterator pages)."""
        corpus = self.corpus
        ins_lo = flt.insertion_from if flt.insertion_from is not None else -(2**62)
        if after is not None:
            ins_lo = max(ins_lo, after[0])
        ins_hi = flt.insertion_to if flt.insertion_to is not None else 2**62
        lo, hi = corpus.bisect_insertion(ins_lo, ins_hi)
        with self._lock:
            injected = [item for item in self._injected_between(ins_lo, ins_hi) if after is None or item.key > after]

        def base() -> Iterator[Item]:
            for i in range(lo, hi):
                if after is not None and corpus.insertion[i] == after[0] and corpus.record_id(i) <= after[1]:
                    continue
                if self._matches(i, flt):
                    yield i

        if not injected:
            yield from base()
            return
        keyed_base = ((corpus.key(i), i) for i in base())
        keyed_injected = ((item.key, item) for item in injected if self._matches(item, flt))
        for _, item in heapq.merge(keyed_base, keyed_injected):
            yield item

    def records_between(self, start: int, end: int) -> list[dict[str, Any]]:
        """Ground truth: every record with insertion time in ``[start, end)``, visible or not."""
        return [self.item_record(item) for item in self.select(Filter(insertion_from=start, insertion_to=end - 1))]

    # -- helpers ---------------------------------------------------------------------------------

    def _injected_between(self, ins_lo: int, ins_hi: int) -> list[Injected]:
        keys = self._injected
        lo = bisect_left(keys, (ins_lo,), key=lambda item: item.key)
        hi = bisect_right(keys, (ins_hi, "\U0010ffff"), key=lambda item: item.key)
        return keys[lo:hi]

    def _matches(self, item: Item, flt: Filter) -> bool:
        if isinstance(item, int):
            ts = self.corpus.timestamp(item)
            subtype = self.corpus.subtype(item) if flt.subtype else ""
        else:
            ts, subtype = item.timestamp, item.subtype
        if flt.time_after is not None and ts <= flt.time_after:
            return False
        if flt.time_to is not None and ts > flt.time_to:
            return False
        return not flt.subtype or subtype == flt.subtype
