"""Compare what CloudWatch holds per window with what the Netskope tenant reports for it.

Pure logic (no Airflow import): it takes a ``NetskopeClient`` and a boto3 ``logs`` client, so the
reconciliation DAG, a notebook or a test can all run it. Every record has one home log stream
(``delivery.stream_name``): the schedule interval of its insertion time (``data/*`` types) or of
its event time (incident, endpoint). "Delivered" for a window is the exact number of events in
the streams whose window lies inside it; the tenant's side counts the same time: the ``data/*``
count query by insertion time, the ``datasearch`` count query by event time (incident), and for
the iterator (endpoint), which counts nothing, one read of the whole period bucketed by event time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

from netskope_provider import delivery
from netskope_provider.log_types import Strategy, get_log_type
from netskope_provider.windows import iso, parse_compact

HOUR = 3600


@dataclass(frozen=True)
class WindowCheck:
    """One log type's window: the tenant's count against the events in its log stream."""

    log_type: str
    start: int
    end: int
    #: records the tenant holds for the window (home time -- insertion or event -- in ``[start, end)``)
    source: int
    #: events in the window's log stream (OCSF + raw)
    delivered: int
    #: ``count`` (the endpoint's count query) or ``repull`` (records read again and counted)
    method: str

    @property
    def gap(self) -> int:
        """Records missing from CloudWatch (negative: the stream holds more than the tenant)."""
        return self.source - self.delivered

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy with the gap, small enough for an XCom summary."""
        return {**asdict(self), "gap": self.gap}


def windows(start: int, end: int, step: int = HOUR) -> list[tuple[int, int]]:
    """The ``step``-long windows that partition ``[start, end)``, as the hourly DAGs cut them."""
    if end <= start:
        raise ValueError(f"reconciliation period end {end} must be after its start {start} (epoch seconds)")
    if step <= 0 or start % step or end % step:
        raise ValueError(
            f"period [{start}, {end}) must start and end on a multiple of the window length {step} s "
            "(whole hours for the hourly DAGs)"
        )
    return [(lower, lower + step) for lower in range(start, end, step)]


def source_counts(client: Any, log_type: str, periods: Sequence[tuple[int, int]]) -> list[tuple[int, str]]:
    """The tenant's record count of each window: its count query where offered, else one re-read of them all."""
    if get_log_type(log_type).strategy is Strategy.ITERATOR:
        return [(counted, "repull") for counted in client.count_event_times(log_type, sorted(periods))]
    counts = []
    for start, end in periods:
        counted = client.count_window(log_type, start, end)
        if counted is None:
            pages = client.iter_window_pages(log_type, start, end)
            counts.append((sum(len(page.records) + len(page.quarantined) for page in pages), "repull"))
        else:
            counts.append((counted, "count"))
    return counts


def stream_window(name: str, log_type: str) -> tuple[int, int] | None:
    """The window ``[start, end)`` a stream named by ``delivery.stream_name`` holds; None for other names."""
    prefix = f"netskope/{log_type}/"
    bounds = name[len(prefix) :].split("-") if name.startswith(prefix) else ()
    if len(bounds) != 2:
        return None
    try:
        start, end = (parse_compact(bound) for bound in bounds)
    except ValueError:
        return None
    return (start, end) if delivery.stream_name(log_type, start, end) == name else None


def existing_streams(logs_client: Any, log_group: str, log_type: str) -> dict[str, tuple[int, int]]:
    """The log type's window streams in the group, name -> window (empty when the group does not exist)."""
    names: dict[str, tuple[int, int]] = {}
    args: dict[str, Any] = {"logGroupName": log_group, "logStreamNamePrefix": f"netskope/{log_type}/"}
    while True:
        try:
            page = logs_client.describe_log_streams(**args)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return names
            raise
        for stream in page.get("logStreams", ()):
            window = stream_window(stream["logStreamName"], log_type)
            if window is not None:
                names[stream["logStreamName"]] = window
        token = page.get("nextToken")
        if not token or token == args.get("nextToken"):
            return names
        args["nextToken"] = token


def delivered_count(logs_client: Any, log_group: str, log_stream: str) -> int:
    """Events in one stream, counted by reading it (stored-bytes metadata is not an event count)."""
    return sum(1 for _ in delivery.read_stream(logs_client, log_group, log_stream))


def check_log_type(
    client: Any, logs_client: Any, log_group: str, log_type: str, periods: Iterable[tuple[int, int]]
) -> list[WindowCheck]:
    """Every window of ``periods`` for one log type; a window without a stream counts as 0 delivered.

    A stream reaching beyond a window (e.g. a one-day custom window's) is counted in none of them.
    """
    present = existing_streams(logs_client, log_group, log_type)
    periods = sorted(periods)
    checks = []
    for (start, end), (source, method) in zip(periods, source_counts(client, log_type, periods), strict=True):
        delivered = sum(
            delivered_count(logs_client, log_group, stream) for stream in streams_within(present, start, end)
        )
        checks.append(WindowCheck(log_type, start, end, source, delivered, method))
    return checks


def streams_within(streams: dict[str, tuple[int, int]], start: int, end: int) -> list[str]:
    """Names of the streams whose window lies inside ``[start, end)``."""
    return sorted(name for name, (lower, upper) in streams.items() if start <= lower and upper <= end)


def mismatches(checks: Iterable[WindowCheck]) -> list[WindowCheck]:
    """The windows whose counts differ."""
    return [check for check in checks if check.gap]


def format_table(checks: Sequence[WindowCheck]) -> str:
    """A fixed-width table of the checks, mismatches marked, for the task log."""
    header = ("log type", "window start (UTC)", "tenant", "delivered", "gap", "method", "")
    rows = [header] + [
        (
            c.log_type,
            iso(c.start),
            str(c.source),
            str(c.delivered),
            f"{c.gap:+d}" if c.gap else "0",
            c.method,
            "MISSING" if c.gap > 0 else "SURPLUS" if c.gap < 0 else "ok",
        )
        for c in checks
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths).rstrip())
    return "\n".join(lines)
