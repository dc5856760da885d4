"""The eight Netskope log types this provider collects, and how each one is pulled.

One table drives the hook, the simulator, the DAG factory and the docs, so a log type is
described in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Strategy(str, Enum):
    """How a log type's records are pulled for an exact insertion-time window."""

    #: ``/api/v2/events/data/{type}`` with insertionstarttime/insertionendtime + offset paging.
    INSERTION_WINDOW = "insertion_window"
    #: ``/api/v2/events/datasearch/{type}``: event-time query widened by a look-back, then
    #: filtered client-side on the insertion time each record carries.
    EVENT_TIME_LOOKBACK = "event_time_lookback"
    #: ``/api/v2/events/dataexport/events/{type}`` iterator: a fresh index per window, seeded
    #: with an epoch, read until ``timestamp_hwm`` passes the window end, filtered on insertion time.
    ITERATOR = "iterator"


@dataclass(frozen=True)
class LogType:
    name: str
    path: str
    strategy: Strategy
    #: The RBAC v3 role permission the user's spec lists for this log type (named in 403 errors).
    rbac_permission: str


LOG_TYPES: dict[str, LogType] = {
    lt.name: lt
    for lt in (
        LogType(
            "application", "events/data/application", Strategy.INSERTION_WINDOW, "Steering: Application Events (View)"
        ),
        LogType("page", "events/data/page", Strategy.INSERTION_WINDOW, "Steering: Page Events (View)"),
        LogType("network", "events/data/network", Strategy.INSERTION_WINDOW, "Steering: Network Events (View)"),
        LogType(
            "infrastructure",
            "events/data/infrastructure",
            Strategy.INSERTION_WINDOW,
            "Steering: Infrastructure Events (View) and Access Control: Infrastructure (View)",
        ),
        LogType("audit", "events/data/audit", Strategy.INSERTION_WINDOW, "Administration: Audit Log (View)"),
        LogType(
            "incident",
            "events/datasearch/incident",
            Strategy.EVENT_TIME_LOOKBACK,
            "Steering: Incident Events (View) and DLP: DLP Incident (View)",
        ),
        LogType("endpoint", "events/dataexport/events/endpoint", Strategy.ITERATOR, "Steering: Endpoint Events (View)"),
        LogType("alert", "events/data/alert", Strategy.INSERTION_WINDOW, "Steering: Alerts (View)"),
    )
}


def get_log_type(name: str) -> LogType:
    """Return the log type called ``name``, or fail with the list of valid names."""
    try:
        return LOG_TYPES[name.strip().lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"Unknown Netskope log type {name!r}; expected one of: {', '.join(LOG_TYPES)}") from None
