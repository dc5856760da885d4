"""How far the scheduled incident pulls have read the tenant, so each record is read about once.

Incident records carry no insertion time and ``datasearch`` filters on event time only, so a
record inserted after its event-time window was pulled is found only by asking that event time
again. Each scheduled pull asks one query instead -- incidents with event time from the anchor
(the look-back before the window) up to now -- and resumes it where the last pull stopped
(``NetskopeClient.iter_new_pages``): only records inserted since come back, whatever their event
time. The ledger holds that cursor (``EventTimeCursor``) and the windows whose scheduled pulls
were delivered. The delivery writes it after every record read is in its home stream, so a pull
that fails leaves the ledger as it was and the next one reads those records again.

One small JSON document per DAG (a log type of one tenant), next to the stream leases on the
staging store, written with compare-and-swap (``lease.LeaseStore``): of two pulls that started
from the same cursor, the first delivered moves it; the other leaves it (its records are read
again by the next pull and delivered once, the home streams keeping one copy).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from netskope_provider import staging
from netskope_provider.api.strategies import EventTimeCursor
from netskope_provider.lease import LeaseStore

log = logging.getLogger(__name__)

#: Compare-and-swap attempts before a delivery gives up recording (the next pull reads again).
MAX_ATTEMPTS = 20

#: What a fetch hands on for the delivery to record: ``{"from": cursor | None, "to": cursor, "window": start}``.
MarksDict = dict[str, Any]


@dataclass(frozen=True)
class Ledger:
    cursor: EventTimeCursor | None = None
    #: Starts of the windows whose scheduled pulls were delivered (a run of one again reads it whole).
    delivered: frozenset[int] = field(default_factory=frozenset)


def store(base: str, conn_id: str | None, dag_id: str) -> LeaseStore:
    """The ledger document of one DAG on the staging store."""
    return staging.lease_store(base, conn_id, f"read-ledger\0{dag_id}")


def load(ledger: LeaseStore) -> Ledger:
    document, _, _ = ledger.read()
    return _decode(document or {})


def marks(before: EventTimeCursor | None, after: EventTimeCursor, window_start: int) -> MarksDict:
    return {"from": encode(before), "to": encode(after), "window": window_start}


def record(ledger: LeaseStore, marks: Mapping[str, Any]) -> bool:
    """Move the cursor to ``marks["to"]`` if it is still where this pull started; note the window delivered.

    Returns False when the cursor had moved (another pull from the same start was delivered first):
    it is left there, and whatever this pull read beyond it is read again by the next pull.
    """
    before, after = decode(marks["from"]), decode(marks["to"])
    assert after is not None
    for _ in range(MAX_ATTEMPTS):
        document, version, _ = ledger.read()
        current = _decode(document or {})
        moved = current.cursor == before
        cursor = after if moved else current.cursor
        delivered = {
            start for start in {*current.delivered, marks["window"]} if cursor is None or start >= cursor.anchor
        }
        new = {"cursor": encode(cursor), "delivered": sorted(delivered)}
        written = ledger.create(new) if version is None else ledger.replace(new, version)
        if written is not None:
            if not moved:
                log.info("The read ledger had moved since this pull started: left where the other pull put it")
            return moved
    log.warning("Could not record the read ledger after %d attempts; the next pull reads again", MAX_ATTEMPTS)
    return False


def encode(cursor: EventTimeCursor | None) -> dict[str, Any] | None:
    if cursor is None:
        return None
    homes = {str(home): count for home, count in sorted(cursor.homes.items())}
    return {"anchor": cursor.anchor, "position": cursor.position, "last": cursor.last, "homes": homes}


def decode(document: Mapping[str, Any] | None) -> EventTimeCursor | None:
    if not document:
        return None
    homes = {int(home): int(count) for home, count in document.get("homes", {}).items()}
    return EventTimeCursor(int(document["anchor"]), int(document["position"]), str(document["last"]), homes)


def _decode(document: Mapping[str, Any]) -> Ledger:
    return Ledger(decode(document.get("cursor")), frozenset(int(start) for start in document.get("delivered", ())))
