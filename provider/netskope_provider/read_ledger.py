"""How far each recent event-time interval of the incident log type has been read and delivered.

Incident records carry no insertion time and ``datasearch`` filters on event time only, so a
record inserted after its interval was pulled is found only by asking that interval again. The
ledger lets a scheduled pull ask cheaply: per interval, the number of records the tenant's answer
held when it was last read (and the ``_id`` of the last one). A pull counts each recent interval
(one request), reads only the intervals whose count grew, and only past the recorded position
(``NetskopeClient.iter_unread_pages``). The delivery writes the new marks after every record read
is in its home stream, so a pull that fails leaves the ledger as it was and the next one reads
those records again.

One small JSON document per DAG (a log type of one tenant), next to the stream leases on the
staging store, written with compare-and-swap (``lease.LeaseStore``) so concurrent deliveries
merge their marks instead of overwriting each other's.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from netskope_provider import staging
from netskope_provider.api.strategies import ReadMark
from netskope_provider.lease import LeaseStore
from netskope_provider.windows import Schedule, Window

log = logging.getLogger(__name__)

#: Compare-and-swap attempts before a delivery gives up recording its marks (the next pull re-reads).
MAX_ATTEMPTS = 20
#: Marks are kept this long before the window that records them, then dropped (longer than any sane look-back).
KEEP_SECONDS = 7 * 86_400

#: ``{interval start: mark}`` as XCom-ready JSON: ``{"<start>": [records, last_id]}``.
MarksDict = dict[str, list[Any]]


def store(base: str, conn_id: str | None, dag_id: str) -> LeaseStore:
    """The ledger document of one DAG on the staging store."""
    return staging.lease_store(base, conn_id, f"read-ledger\0{dag_id}")


def load(ledger: LeaseStore) -> dict[int, ReadMark]:
    """The recorded marks (empty when nothing was recorded yet)."""
    document, _, _ = ledger.read()
    return decode((document or {}).get("marks", {}))


def due(marks: Mapping[int, ReadMark], schedule: Schedule, window: Window, lookback_seconds: int) -> list[Window]:
    """The past intervals a pull of ``window`` checks for late records: those with a mark, ending within the look-back.

    Only a window starting on an interval boundary checks (the first sub-window of a split run),
    so the sub-windows of one run do not each count the same intervals.
    """
    if schedule.interval_of(window.start).start != window.start:
        return []
    return [
        interval
        for start in sorted(marks)
        if (interval := schedule.interval_of(start)).start == start
        and window.start - lookback_seconds <= interval.end <= window.start
    ]


def record(ledger: LeaseStore, marks: Mapping[int, ReadMark], *, now: int) -> bool:
    """Merge ``marks`` into the ledger (per interval the further read wins) and drop marks too old to matter.

    Returns False when other writers kept winning the compare-and-swap: then the marks are not
    recorded and the next pull reads those intervals again (more requests, no record lost).
    """
    horizon = now - KEEP_SECONDS
    for _ in range(MAX_ATTEMPTS):
        document, version, _ = ledger.read()
        merged = {start: mark for start, mark in decode((document or {}).get("marks", {})).items() if start >= horizon}
        for start, mark in marks.items():
            if start >= horizon and (start not in merged or mark.records > merged[start].records):
                merged[start] = mark
        new = {"marks": encode(merged)}
        written = ledger.create(new) if version is None else ledger.replace(new, version)
        if written is not None:
            return True
    log.warning("Could not record the read ledger after %d attempts; the next pull reads again", MAX_ATTEMPTS)
    return False


def encode(marks: Mapping[int, ReadMark]) -> MarksDict:
    return {str(start): [mark.records, mark.last] for start, mark in sorted(marks.items())}


def decode(marks: Mapping[str, Any]) -> dict[int, ReadMark]:
    return {int(start): ReadMark(int(records), str(last)) for start, (records, last) in marks.items()}
