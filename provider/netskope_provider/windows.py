"""Windows: the half-open UTC intervals ``[start, end)`` a run pulls, checked, split and written out.

Pure (no Airflow import). Every bound is whole epoch seconds. A window from the schedule (the
run's data interval) is taken as it is; a custom window (``window_start``/``window_end``) is also
checked against the clock and a maximum span, so a typo cannot start a ten-year pull.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypedDict

import pendulum
from croniter import croniter
from pendulum.parsing.exceptions import ParserError

from netskope_provider.exceptions import WindowError

#: How far ahead of now (plus the settle delay) a custom window may end: it is pulled once it has settled.
OPEN_WINDOW_LEAD = 3600
#: Latest epoch second Python's datetime (and so every ISO-8601 stamp) can hold: 9999-12-31T23:59:59Z.
MAX_EPOCH = 253_402_300_799

NO_INTERVAL_HELP = (
    "This run has no data interval (it was triggered without a logical date), so there is no window "
    "to pull. Trigger it with a logical date (UI: keep 'Logical date' filled in; CLI: "
    "`airflow dags trigger {dag_id} --logical-date 2026-11-02T05:00:00+00:00` pulls [04:00, 05:00)), "
    "or set the param window to start/end (ISO-8601 UTC, whole seconds, e.g. "
    "2026-11-02T04:00:00Z/2026-11-02T05:00:00Z) in the trigger form or in --conf."
)


def iso(epoch: int) -> str:
    """``2026-11-02T04:00:00+00:00``: how windows are shown in logs, manifests and errors."""
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat()


def iso_ms(epoch_ms: int) -> str:
    """An epoch-milliseconds timestamp in ISO-8601, or ``<n> ms`` when no date can hold it."""
    try:
        return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds")
    except (OverflowError, OSError, ValueError):
        return f"{epoch_ms} ms"


def compact(epoch: int) -> str:
    """``20261102T040000Z``: a window bound inside a log stream name (which may not hold ``:``)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y%m%dT%H%M%SZ")


def parse_compact(text: str) -> int:
    """Inverse of :func:`compact`; ``ValueError`` for anything else."""
    return int(datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp())


class WindowDict(TypedDict):
    """A window as it travels in XCom manifests: epoch seconds plus readable UTC stamps."""

    start: int
    end: int
    start_iso: str
    end_iso: str


@dataclass(frozen=True, order=True)
class Window:
    """A half-open UTC window ``[start, end)`` in whole epoch seconds (``0 < start < end <= MAX_EPOCH``)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 < self.start < self.end <= MAX_EPOCH:
            raise WindowError(
                f"Window [{self.start}, {self.end}) is not a window: it needs 0 < start < end <= {MAX_EPOCH} "
                "(epoch seconds, years 1970-9999); a custom window_end must be after window_start, and a "
                "scheduled one needs a data-interval timetable (CronDataIntervalTimetable)"
            )

    @property
    def seconds(self) -> int:
        return self.end - self.start

    def __str__(self) -> str:
        return f"[{iso(self.start)}, {iso(self.end)})"

    def as_dict(self) -> WindowDict:
        return {"start": self.start, "end": self.end, "start_iso": iso(self.start), "end_iso": iso(self.end)}

    @classmethod
    def from_dict(cls, window: WindowDict) -> Window:
        return cls(int(window["start"]), int(window["end"]))

    def split(self, step_seconds: int) -> list[Window]:
        """Consecutive sub-windows ``step_seconds`` long (the last may be shorter) that partition this one."""
        if step_seconds <= 0:
            raise WindowError(f"sub-window length must be positive, got {step_seconds} s")
        return [
            Window(lower, min(lower + step_seconds, self.end)) for lower in range(self.start, self.end, step_seconds)
        ]


def parse_instant(value: object, name: str) -> int:
    """Epoch seconds of an ISO-8601 string or aware datetime; fractions of a second are refused, not rounded."""
    try:
        moment = value if isinstance(value, datetime) else pendulum.parse(str(value), tz="UTC")
    except (ValueError, ParserError, OverflowError):
        raise WindowError(
            f"{name}={value!r} is not an ISO-8601 date-time; write e.g. 2026-11-02T04:00:00+00:00"
        ) from None
    if not isinstance(moment, datetime):
        raise WindowError(f"{name}={value!r} is not a date-time; write e.g. 2026-11-02T04:00:00+00:00")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment.microsecond:
        raise WindowError(f"{name}={value!r} has a fraction of a second; windows are whole seconds")
    try:
        epoch = int(moment.timestamp())
    except (OverflowError, OSError, ValueError):
        raise WindowError(f"{name}={value!r} is outside the years 1970-9999 a window can have") from None
    if not 0 < epoch <= MAX_EPOCH:
        raise WindowError(f"{name}={value!r} is outside the years 1970-9999 a window can have")
    return epoch


def resolve(
    window_start: object,
    window_end: object,
    interval_start: object,
    interval_end: object,
    *,
    dag_id: str = "<dag_id>",
) -> tuple[Window, bool]:
    """The window to pull and whether it is custom: ``window_start``/``window_end`` if set, else the data interval."""
    if window_start or window_end:
        if not (window_start and window_end):
            raise WindowError("Set both window_start and window_end, or neither to use the data interval")
        start, end = parse_instant(window_start, "window_start"), parse_instant(window_end, "window_end")
        if start >= end:
            raise WindowError(f"window_end {iso(end)} must be after window_start {iso(start)}")
        return Window(start, end), True
    if interval_start is None or interval_end is None:
        raise WindowError(NO_INTERVAL_HELP.format(dag_id=dag_id))
    start = parse_instant(interval_start, "data_interval_start")
    end = parse_instant(interval_end, "data_interval_end")
    if start >= end:
        raise WindowError(
            f"Empty data interval [{iso(start)}, {iso(end)}): the schedule must be a data-interval timetable "
            "(CronDataIntervalTimetable)"
        )
    return Window(start, end), False


def check_custom(window: Window, *, now: int, settle_seconds: int, max_days: int) -> None:
    """Refuse a custom window that ends too far ahead or spans more than ``max_days``.

    A window still open is fine (the fetch waits until it has settled), up to ``OPEN_WINDOW_LEAD``
    plus the settle delay ahead; one that ends days ahead is a typo. The span limit keeps a slip
    such as a wrong year from starting a pull of years of records.
    """
    latest = now + OPEN_WINDOW_LEAD + settle_seconds
    if window.end > latest:
        raise WindowError(
            f"Custom window {window} ends after now + 1 h + the settle delay ({iso(latest)}): records cannot "
            "be pulled before they exist; end the window at most an hour ahead"
        )
    if window.seconds > max_days * 86_400:
        raise WindowError(
            f"Custom window {window} spans {window.seconds / 86_400:.1f} days, more than the {max_days} days "
            "allowed; pull it in parts, or raise the limit with Variable netskope_max_window_days "
            "(or env NETSKOPE_MAX_WINDOW_DAYS)"
        )


#: Intervals a ``Schedule`` remembers (a week of hours); past that it starts over.
KNOWN_INTERVALS = 168


class Schedule:
    """The intervals of a cron schedule in UTC, as ``CronDataIntervalTimetable`` cuts data intervals.

    ``interval_of(t)`` is the interval ``[start, end)`` holding ``t``: ``start`` the last fire time
    at or before ``t``, ``end`` the next one. These intervals are the records' homes: the log
    stream a record goes to is its interval's, whichever window fetched it.
    """

    def __init__(self, cron: str) -> None:
        self.cron = cron
        croniter(cron)  # refuses a bad expression now
        self._last: Window | None = None
        #: The intervals found so far, by start (disjoint): endpoint and incident records, homed by
        #: event time, move between a few hours record by record, and croniter costs ~0.2 ms a call
        #: (4.4 s of a 30,000-record endpoint fetch's 10.5 s of CPU when only the last one was kept).
        self._starts: list[int] = []
        self._known: list[Window] = []
        #: The incident read (its read-ahead thread) and the mapping (the task's thread) share one Schedule.
        self._lock = threading.Lock()

    def interval_of(self, epoch: int) -> Window:
        """The interval holding ``epoch``; the same object each time (records of a window share a few)."""
        last = self._last
        if last is not None and last.start <= epoch < last.end:
            return last
        with self._lock:
            at = bisect_right(self._starts, epoch)
            if at and epoch < self._known[at - 1].end:
                last = self._known[at - 1]
            else:
                start = int(croniter(self.cron, datetime.fromtimestamp(epoch + 1, UTC)).get_prev(float))
                end = int(croniter(self.cron, datetime.fromtimestamp(start, UTC)).get_next(float))
                last = Window(start, end)
                if len(self._starts) >= KNOWN_INTERVALS:
                    self._starts.clear()
                    self._known.clear()
                at = bisect_right(self._starts, start)
                self._starts.insert(at, start)
                self._known.insert(at, last)
        self._last = last
        return last

    def intervals(self, window: Window) -> list[Window]:
        """The intervals that overlap ``window``, in order."""
        found = [self.interval_of(window.start)]
        while found[-1].end < window.end:
            found.append(self.interval_of(found[-1].end))
        return found
