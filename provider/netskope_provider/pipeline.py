"""One window's pipeline: fetch -> map -> deliver, as plain functions the operators, the reconciliation and tests call.

Each stage streams records between staged files (``staging``) and returns a small typed manifest
for XCom; the next stage takes that manifest. The stages overlap: ``fetch`` maps each page while a
worker thread already fetches the next one, staging the raw records and the mapped events side by
side, so ``map_window`` only checks the books (it maps the staged raw records itself when the
manifest carries no mapping). ``run_window`` chains the three for one window (the reconciliation's
heal, tests). Every stage keeps the books: a record fetched is delivered as OCSF, delivered raw, or
quarantined with its reason, and a stage whose counts do not balance fails.

Errors a task retry cannot fix (:class:`~netskope_provider.exceptions.PermanentError`) leave the
stages as ``AirflowFailException``, so the task fails at once instead of retrying.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple, NotRequired, ParamSpec, TypedDict, TypeVar

from netskope_provider import config, delivery, metrics, read_ledger, staging
from netskope_provider.api.strategies import EventTimeCursor, OrderMoved
from netskope_provider.compat import AirflowFailException, AirflowRescheduleException
from netskope_provider.exceptions import BalanceError, NetskopeConfigError, PermanentError, WindowError
from netskope_provider.lease import StreamLease
from netskope_provider.log_types import Strategy, get_log_type
from netskope_provider.ocsf.common import epoch_ms
from netskope_provider.ocsf.mapper import MapCounts, map_outcomes
from netskope_provider.windows import MAX_EPOCH, Schedule, Window, WindowDict, check_custom, resolve

if TYPE_CHECKING:
    from netskope_provider.api.client import NetskopeClient
    from netskope_provider.api.page import RawPage

log = logging.getLogger(__name__)

RAW_FILE = "raw.ndjson.gz"
EVENTS_FILE = "events.ndjson.gz"
#: Distinct rejection reasons kept in a manifest; the rest are summed under "other reasons".
MAX_REASONS = 20
#: Record times after this (epoch seconds, a year before the last date Python holds) count as no time.
LATEST_HOME = MAX_EPOCH - 366 * 86_400

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class StagedFileDict(TypedDict):
    location: str
    records: int
    bytes: int


class HomeDict(TypedDict):
    """One log stream a window's events go to, and how many of them."""

    start: int
    end: int
    stream: str
    events: int


class FetchManifest(TypedDict):
    """What ``fetch`` hands to ``map_window``: the staged raw records of one window."""

    log_type: str
    tenant: str | None
    window: WindowDict
    staging_base: str
    staging_conn_id: str | None
    fetched: StagedFileDict
    #: Records the client could not keep exactly or place in the window: quarantined, not staged.
    fetch_quarantined: int
    fetch_quarantine_location: str | None
    #: The window's events, mapped while it was fetched; absent from manifests written by earlier code
    #: (a run fetched before an upgrade), whose staged raw records ``map_window`` then maps.
    mapped: NotRequired[MapManifest]
    #: Incident: the read cursor to record once this window is delivered (``read_ledger``); else empty.
    read_marks: read_ledger.MarksDict


class MapManifest(TypedDict):
    """What ``map_window`` hands to ``deliver``: the staged events and the window's counts."""

    log_type: str
    tenant: str | None
    window: WindowDict
    staging_base: str
    staging_conn_id: str | None
    fetched: int
    fetched_location: str
    ocsf: dict[str, int]
    ocsf_total: int
    raw: int
    raw_reasons: dict[str, int]
    rejected: int
    rejected_reasons: dict[str, int]
    rejected_location: str | None
    #: Records the fetch quarantined before mapping (not in ``fetched``), carried to the summary.
    fetch_quarantined: NotRequired[int]
    events: StagedFileDict
    #: Events without a usable time (placed in the stream of the window start).
    untimed: int
    homes: list[HomeDict]
    read_marks: read_ledger.MarksDict


class DeliverySummary(TypedDict):
    """The delivery's result (the ``deliver`` task's XCom): every count of the window."""

    log_type: str
    tenant: str | None
    window: WindowDict
    log_group: str
    log_stream: str
    streams: list[str]
    fetched: int
    ocsf: dict[str, int]
    ocsf_total: int
    raw: int
    rejected: int
    #: Records the fetch could not keep exactly or place, quarantined with their reason (not in ``fetched``).
    fetch_quarantined: int
    delivered: int
    refused: int
    refused_location: str | None
    #: Seconds this delivery waited for streams another delivery was writing.
    lease_waited_seconds: float
    delivery: dict[str, Any]


def fails_fast(stage: Callable[P, R]) -> Callable[P, R]:
    """Turn errors a retry cannot fix into ``AirflowFailException`` (the task fails without retrying)."""

    @functools.wraps(stage)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return stage(*args, **kwargs)
        except PermanentError as error:
            raise AirflowFailException(str(error)) from error

    return run


# --- windows -------------------------------------------------------------------------------------


@fails_fast
def run_window_of(
    context: Mapping[str, Any],
    window_start: str | None,
    window_end: str | None,
    *,
    settle_seconds: int = 0,
    wait: bool = True,
) -> Window:
    """The window a task pulls: the custom window if set (checked), else the run's data interval.

    With ``wait``, a window that has not settled yet (``end + settle_seconds`` in the future)
    reschedules the task until then, freeing its worker and pool slot. Every run setting is read
    first, so a bad one fails the run's first task before anything is pulled or sent.
    """
    config.check_run_settings()
    ti = context.get("ti")
    window, custom = resolve(
        window_start,
        window_end,
        context.get("data_interval_start"),
        context.get("data_interval_end"),
        dag_id=getattr(ti, "dag_id", "<dag_id>"),
    )
    now = int(time.time())
    if custom:
        check_custom(window, now=now, settle_seconds=settle_seconds, max_days=config.max_window_days())
    log.info("Window %s (%s)", window, "custom window" if custom else "data interval")
    ready_at = window.end + settle_seconds
    if wait and now < ready_at:
        log.info("The window has not settled yet; waiting until %s (settle delay %d s)", window, settle_seconds)
        raise AirflowRescheduleException(datetime.fromtimestamp(ready_at, tz=UTC))
    return window


@fails_fast
def split(window: Window, step_seconds: int, *, max_parts: int) -> list[Window]:
    """``window`` cut into ``step_seconds`` sub-windows; more than ``max_parts`` is a mistake, not a plan."""
    parts = window.split(step_seconds)
    if len(parts) > max_parts:
        raise WindowError(
            f"Window {window} would split into {len(parts)} sub-windows of {step_seconds} s (limit {max_parts}); "
            "raise NETSKOPE_SPLIT_MINUTES or pull a shorter window"
        )
    log.info("Window %s split into %d sub-windows of %d s", window, len(parts), step_seconds)
    return parts


def task_staging(
    context: Mapping[str, Any], base: str | None = None, conn_id: str | None = None
) -> staging.TaskStaging:
    """The staging of the task try running in ``context``, on the configured store unless given."""
    return staging.TaskStaging.of_task(
        context["ti"], config.staging_base(base), config.run_setting("staging_conn_id", conn_id)
    )


# --- fetch ---------------------------------------------------------------------------------------


@fails_fast
def fetch(
    log_type: str,
    window: Window,
    area: staging.TaskStaging,
    *,
    netskope_conn_id: str | None = None,
    schedule: str | None = None,
) -> FetchManifest:
    """Stream one log type's records of ``window`` from the tenant, mapping each page as the next one arrives.

    The try's folder gets the raw records as the tenant sent them and the events made from them
    (``map_window``'s work, done here while a worker thread fetches the next page); the manifest
    carries both, the mapping's counts under ``mapped``. The raw file stays staged so a run can be
    mapped again from it without asking the tenant twice (docs/performance.md, *Stages overlap*).
    A ``data/*`` answer whose order moved between requests (``OrderMoved``: offset paging would
    skip records) is pulled again from the start, in parts with no offset, into fresh files.
    """
    from netskope_provider.hooks.netskope import NetskopeHook

    log_type = _known_log_type(log_type)
    hook = NetskopeHook(netskope_conn_id=config.run_setting("conn_id", netskope_conn_id))
    log.info("Pulling %s records inserted in %s", log_type, window)
    with hook.get_client() as client:
        pulled: _Pulled | None = None
        try:
            try:
                pulled = _pull(client, log_type, window, area, schedule, in_parts=False)
            except OrderMoved as moved:
                if get_log_type(log_type).strategy is not Strategy.INSERTION_WINDOW:
                    raise OrderMoved(moved.where, moved.offset, moved.page_size, _event_time_advice(log_type)) from None
                log.warning(
                    "%s (the order of its answer moved between requests, so offset paging would skip records): "
                    "reading the window again from the start, in parts of its time range that fit one page each, "
                    "with no offset, into fresh staged files",
                    moved.found,
                )
                pulled = _pull(client, log_type, window, area, schedule, in_parts=True)
        finally:  # a failed pull's API calls, 429s and retries count too
            metrics.emit_fetch(client.host, log_type, pulled.staged.records if pulled else 0, client.stats)
    staged, quarantine = pulled.staged, pulled.quarantine
    log.info(
        "Staged %d %s records (%d bytes compressed) at %s", staged.records, log_type, staged.bytes, staged.location
    )
    if quarantine.count:
        log.warning(
            "%d %s records could not be kept exactly and were quarantined with their reasons at %s",
            quarantine.count,
            log_type,
            pulled.quarantined_location,
        )
    fetched: FetchManifest = {
        "log_type": log_type,
        "tenant": client.host,
        "window": window.as_dict(),
        "staging_base": area.base,
        "staging_conn_id": area.conn_id,
        "fetched": staged.as_dict(),  # type: ignore[typeddict-item]
        "fetch_quarantined": quarantine.count,
        "fetch_quarantine_location": pulled.quarantined_location,
        "read_marks": pulled.marks,
    }
    fetched["mapped"] = pulled.mapper.manifest(fetched, pulled.events, pulled.rejected_location)
    return fetched


class _Pulled(NamedTuple):
    """One pull of a window into the try's staged files: what ``fetch`` puts in its manifest."""

    staged: staging.StagedFile
    quarantine: staging.Quarantine
    quarantined_location: str | None
    mapper: WindowMapper
    events: staging.StagedFile
    rejected_location: str | None
    marks: read_ledger.MarksDict


def _pull(
    client: NetskopeClient,
    log_type: str,
    window: Window,
    area: staging.TaskStaging,
    schedule: str | None,
    *,
    in_parts: bool,
) -> _Pulled:
    """Pull ``window`` into the try's raw and events files (written afresh), mapping each page as the next arrives."""
    quarantine = area.quarantine("fetch")
    mapper = WindowMapper(log_type, window, area, schedule)
    marks: read_ledger.MarksDict = {}
    staged: staging.StagedFile | None = None
    try:
        with staging.LineWriter(area.folder() / RAW_FILE) as raw:
            pages = _pages(client, log_type, window, area, mapper.intervals, marks, in_parts=in_parts)
            for page in read_ahead(pages):
                for reason, record in page.quarantined:
                    quarantine.add(reason, record)
                raw.write_lines(page.records)
                mapper.add(page.records)
                del page
        staged = raw.close()
    finally:
        quarantined_location = quarantine.close()
        events, rejected_location = mapper.close()
    return _Pulled(staged, quarantine, quarantined_location, mapper, events, rejected_location, marks)


def _pages(
    client: NetskopeClient,
    log_type: str,
    window: Window,
    area: staging.TaskStaging,
    schedule: Schedule,
    marks: read_ledger.MarksDict,
    *,
    in_parts: bool = False,
) -> Iterator[RawPage]:
    """The pages that bring a window's records: its own pull, or for a scheduled incident window the cursor's.

    Incident (event time only, docs/hook.md): the newest scheduled window (its schedule's interval,
    or the first sub-window of it, after every window delivered so far) reads what the tenant
    inserted since the last pull, with event time from the look-back before the window on
    (``read_ledger``); any other window (a re-run, a heal, a backfill, a custom window longer than
    the interval, a later sub-window) reads its own event time whole, leaving the cursor alone. One
    pull never reads a record twice. ``marks`` receives what the delivery records.
    """
    if get_log_type(log_type).strategy is not Strategy.EVENT_TIME:
        yield from client.iter_window_pages(log_type, window.start, window.end, in_parts=in_parts)
        return
    ledger = read_ledger.load(read_ledger.store(area.base, area.conn_id, area.dag_id))
    cursor = ledger.cursor
    interval = schedule.interval_of(window.start)
    newest = (interval.start == window.start and window.end <= interval.end) and (
        not ledger.delivered or window.start > max(ledger.delivered)
    )
    if not newest:  # a re-run, heal, backfill or longer custom window, a later sub-window: its own event time, whole
        yield from client.iter_window_pages(log_type, window.start, window.end)
        return
    anchor = schedule.interval_of(window.start - client.lookback_seconds).start
    start = cursor.moved_to(anchor) if cursor is not None else EventTimeCursor(window.start)
    read: list[EventTimeCursor] = []
    yield from client.iter_new_pages(log_type, start, home_of=lambda when: schedule.interval_of(when).start, read=read)
    marks.update(read_ledger.marks(cursor, read[0], window.start))


def _event_time_advice(log_type: str) -> str:
    """What to do when an event-time query's order moved: which of its pulls splitting helps, which it does not."""
    setting = f"NETSKOPE_SPLIT_MINUTES_{log_type.upper()}"
    return (
        f"The scheduled {log_type} pull reads event time from its look-back up to now and cannot be split: "
        "Airflow retries the task, and a pull that is not delivered leaves the read cursor where it was. A window "
        f"read whole (a re-run, a heal, a backfill) needs no offset when it fits one page: {setting} pulls it as "
        "sub-windows of that many minutes (docs/scaling.md). Report the endpoint to Netskope support."
    )


def read_ahead(items: Iterator[T]) -> Iterator[T]:
    """``items``, each next one already being produced by a worker thread while the caller handles this one.

    The fetch maps page n while page n+1 is requested, read and split: the socket, gzip and the
    staged files' compression release the GIL, so both cores work. At most two pages are alive.
    An error of the producer is raised here, in the caller's thread; when the caller stops early
    (an error, a task timeout) the page in flight is awaited, which the client's timeouts and retry
    budget bound, and ``items`` closed (its ``finally`` clauses run).
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="netskope-read-ahead") as producer:
        pending = producer.submit(next, items, None)
        try:
            while (item := pending.result()) is not None:
                pending = producer.submit(next, items, None)
                yield item
                del item  # not held while the next one is produced
        finally:
            wait([pending])
            if isinstance(items, Generator):
                producer.submit(items.close).result()


# --- map -----------------------------------------------------------------------------------------


class WindowMapper:
    """Maps one window's raw records into its staged events file and keeps its books.

    Each event is staged with its CloudWatch timestamp (the OCSF ``time``, else the record's
    ``timestamp``, else its insertion time, else the window start) and its home: the interval of
    ``schedule`` (default: the log type's DAG schedule) holding the record's insertion time, else
    its event time, else the window start; incident and endpoint records by their event time
    alone, the time their pulls are cut on. The home's log stream is where the event belongs,
    whichever window fetched it (docs/delivery.md). Records the mapper rejects go to the
    ``transform`` quarantine with their reason.
    """

    def __init__(self, log_type: str, window: Window, area: staging.TaskStaging, schedule: str | None) -> None:
        self.log_type = log_type
        self.window = window
        self.intervals = Schedule(schedule or config.DagSettings.for_log_type(log_type).schedule)
        self.by_insertion = get_log_type(log_type).strategy is Strategy.INSERTION_WINDOW
        self.quarantine = area.quarantine("transform")
        self.counts = MapCounts()
        self.rejected_reasons: Counter[str] = Counter()
        self.homes: Counter[Window] = Counter()
        self.untimed = 0
        self.out = staging.LineWriter(area.folder() / EVENTS_FILE)

    def add(self, lines: Iterable[bytes]) -> None:
        """Map ``lines`` (raw records, one JSON text each) and stage their events."""
        intervals, homes, by_insertion = self.intervals, self.homes, self.by_insertion
        window_start_ms = self.window.start * 1000
        write, head = self.out.write_line, staging.event_head
        # Most records of a window share a home: while they do, they are counted in ``run`` and placed
        # by comparing their time (ms) with the home's bounds [low, high); a Window's hash is Python code.
        home: Window | None = None
        run = low = high = 0
        try:
            for outcome in map_outcomes(lines, self.log_type, self.counts):
                if outcome.kind == "rejected":
                    reason = outcome.reason or "rejected by the OCSF mapper"
                    self.rejected_reasons[reason] += 1
                    self.quarantine.add(reason, outcome.line)
                    continue
                record = outcome.record if isinstance(outcome.record, dict) else {}
                logged_ms = epoch_ms(record.get("_insertion_epoch_timestamp"))
                event_ms = outcome.time_ms or epoch_ms(record.get("timestamp"))
                # Incident and endpoint records are homed by the event time their pulls are cut on.
                placed_ms = logged_ms or event_ms if by_insertion else epoch_ms(record.get("timestamp"))
                if home is None or placed_ms is None or not low <= placed_ms < high:
                    placed = _home(intervals, placed_ms)
                    if placed is None:
                        self.untimed += 1
                        placed = intervals.interval_of(self.window.start)
                        low = high = 0  # the next record is placed afresh
                    else:
                        low, high = placed.start * 1000, placed.end * 1000
                    if placed is not home:
                        if home is not None:
                            homes[home] += run
                        home, run = placed, 0
                run += 1
                write(head(home.start, event_ms or logged_ms or window_start_ms), outcome.line)
        finally:
            if home is not None:
                homes[home] += run

    def close(self) -> tuple[staging.StagedFile, str | None]:
        """Finish the events file and the quarantine (also after a failure): the events and the quarantine's location."""
        try:
            events = self.out.close()
        finally:
            rejected_location = self.quarantine.close()
        return events, rejected_location

    def manifest(
        self, fetched: FetchManifest, events: staging.StagedFile, rejected_location: str | None
    ) -> MapManifest:
        """The mapping's manifest (logged, and checked: it fails unless its counts balance)."""
        counts, log_type, homes = self.counts, self.log_type, self.homes
        manifest: MapManifest = {
            "log_type": log_type,
            "tenant": fetched.get("tenant"),
            "window": self.window.as_dict(),
            "staging_base": fetched["staging_base"],
            "staging_conn_id": fetched["staging_conn_id"],
            "fetched": fetched["fetched"]["records"],
            "fetched_location": fetched["fetched"]["location"],
            "ocsf": {str(uid): count for uid, count in sorted(counts.by_class.items())},
            "ocsf_total": counts.ocsf,
            "raw": counts.raw,
            "raw_reasons": _bounded(counts.raw_reasons),
            "rejected": counts.rejected,
            "rejected_reasons": _bounded(self.rejected_reasons),
            "rejected_location": rejected_location,
            "events": events.as_dict(),  # type: ignore[typeddict-item]
            "fetch_quarantined": fetched.get("fetch_quarantined", 0),
            "untimed": self.untimed,
            "read_marks": fetched.get("read_marks", {}),
            "homes": [
                {
                    "start": home.start,
                    "end": home.end,
                    "stream": delivery.stream_name(log_type, home.start, home.end),
                    "events": n,
                }
                for home, n in sorted(homes.items())
            ],
        }
        log.info(
            "%s: fetched %d -> OCSF %d %s, raw %d, rejected %d",
            log_type,
            manifest["fetched"],
            counts.ocsf,
            manifest["ocsf"],
            counts.raw,
            counts.rejected,
        )
        if counts.raw_reasons:
            log.info("Records kept raw although their class is supported: %s", manifest["raw_reasons"])
        if self.untimed:
            log.warning(
                "%d %s records carry no usable insertion time or timestamp: they go to the stream of the window start %s",
                self.untimed,
                log_type,
                manifest["homes"][0]["stream"] if len(homes) == 1 else "",
            )
        if counts.rejected:
            log.warning(
                "%d %s records rejected (%s); kept at %s",
                counts.rejected,
                log_type,
                manifest["rejected_reasons"],
                rejected_location,
            )
        check_balance(manifest)
        return manifest


@fails_fast
def map_window(fetched: FetchManifest, area: staging.TaskStaging, *, schedule: str | None = None) -> MapManifest:
    """The window's deliverable events: OCSF, raw, or quarantined with the reason (see ``WindowMapper``).

    A fetch that mapped its pages as they arrived hands its mapping over: it is checked (counts,
    staged events present) and passed on. A manifest without one (fetched by earlier code) has its
    staged raw records mapped here.
    """
    mapped = fetched.get("mapped")
    if mapped is not None:
        check_balance(mapped)
        if mapped["fetched"] != fetched["fetched"]["records"]:
            raise BalanceError(
                f"The fetch of {fetched['log_type']} window {fetched['window']['start_iso']} staged "
                f"{fetched['fetched']['records']} records but mapped {mapped['fetched']}. Clear the whole DAG run to "
                "redo it and report the run's logs."
            )
        staged_events = staging.staging_path(mapped["events"]["location"], area.conn_id)
        if not staged_events.exists():
            raise FileNotFoundError(
                f"Staged events {staged_events} are missing (removed after an earlier success, or staged on another "
                "worker's local disk). Clear the whole DAG run so the fetch task stages them again, and use an "
                "s3:// staging_base when tasks run on several workers."
            )
        log.info(
            "%s: mapped while fetching: OCSF %d %s, raw %d, rejected %d of %d",
            mapped["log_type"],
            mapped["ocsf_total"],
            mapped["ocsf"],
            mapped["raw"],
            mapped["rejected"],
            mapped["fetched"],
        )
        return mapped
    window = Window.from_dict(fetched["window"])
    mapper = WindowMapper(fetched["log_type"], window, area, schedule)
    try:
        mapper.add(staging.read_lines(staging.staging_path(fetched["fetched"]["location"], area.conn_id)))
    finally:
        events, rejected_location = mapper.close()
    return mapper.manifest(fetched, events, rejected_location)


def _home(intervals: Schedule, placed_ms: int | None) -> Window | None:
    """The schedule interval holding a record's time (ms), or None when it has no usable one."""
    if placed_ms is None or not 0 < placed_ms // 1000 < LATEST_HOME:
        return None
    return intervals.interval_of(placed_ms // 1000)


def _bounded(reasons: Counter[str]) -> dict[str, int]:
    top = dict(reasons.most_common(MAX_REASONS))
    rest = sum(reasons.values()) - sum(top.values())
    return {**top, "other reasons": rest} if rest else top


def check_balance(manifest: Mapping[str, Any]) -> None:
    """Fail unless fetched = OCSF + raw + rejected and the staged events are OCSF + raw (no record vanished)."""
    fetched, ocsf, raw, rejected = (manifest[key] for key in ("fetched", "ocsf_total", "raw", "rejected"))
    homed = sum(home["events"] for home in manifest["homes"])
    if fetched != ocsf + raw + rejected or manifest["events"]["records"] != ocsf + raw or homed != ocsf + raw:
        raise BalanceError(
            f"Counts do not balance for {manifest['log_type']} window {manifest['window']['start_iso']}: "
            f"fetched {fetched} != OCSF {ocsf} + raw {raw} + rejected {rejected}, or {manifest['events']['records']} "
            f"events staged ({homed} placed in streams). Records were lost; clear the whole DAG run to redo it and "
            "report the run's logs."
        )


# --- deliver -------------------------------------------------------------------------------------


class StagedEvents:
    """The staged events of one home, readable as often as needed (delivery re-reads after lost answers)."""

    def __init__(self, location: str, conn_id: str | None, home_start: int) -> None:
        self.path = staging.staging_path(location, conn_id)
        self.home_start = home_start

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        for line in staging.read_lines(self.path):
            home, time_ms, message = staging.decode_event(line)
            if home == self.home_start:
                yield time_ms, message


def logs_clients(aws_conn_id: str | None = None, *, put_timeout: float = 30.0) -> tuple[Any, Any, Any]:
    """The ``AwsLogsHook`` and two ``logs`` clients: one with botocore retries, one without for PutLogEvents.

    A retried put whose first answer was lost stores its events twice (PutLogEvents has no
    idempotency key), so puts are never retried by botocore: ``delivery.deliver`` reads the
    stream back instead. Every other call retries (standard mode, 10 attempts, unless the AWS
    connection's ``config_kwargs`` set retries). A put waits at most ``put_timeout`` seconds to
    connect plus as long for each read (so it ends within its stream lease).
    """
    from airflow.providers.amazon.aws.hooks.logs import AwsLogsHook
    from botocore.config import Config

    hook = AwsLogsHook(aws_conn_id=config.run_setting("aws_conn_id", aws_conn_id))
    logs = hook.get_client_type(config=Config(retries={"mode": "standard", "max_attempts": 10}).merge(hook.config))
    no_retries = Config(
        retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=put_timeout, read_timeout=put_timeout
    )
    return hook, logs, hook.get_client_type(config=hook.config.merge(no_retries))


LinkSink = Callable[..., None]


@fails_fast
def deliver(
    mapped: MapManifest,
    area: staging.TaskStaging,
    *,
    aws_conn_id: str | None = None,
    log_group: str | None = None,
    timestamp_policy: str | None = None,
    log_group_retention_days: int | None = None,
    staging_retention_hours: int | None = None,
    link: LinkSink | None = None,
) -> DeliverySummary:
    """Put a window's staged events into their log streams, exactly once; then clean the run's staging.

    Events CloudWatch cannot take (under the timestamp policy) are quarantined with their reason.
    Fails unless every staged event is delivered, already present or quarantined. ``link``
    receives the console link's parts (region, partition, group, stream, endpoint) before the first put.
    """
    check_balance(mapped)
    log_type, window = mapped["log_type"], Window.from_dict(mapped["window"])
    group = config.log_group_for(log_type, log_group)
    policy = config.timestamp_policy(timestamp_policy)
    retention = config.staging_retention(staging_retention_hours)  # read before the first put, not after the last
    verify_wait = config.verify_wait_seconds()
    lease_seconds, lease_wait = config.lease_seconds(), config.lease_wait_seconds()
    put_timeout = lease_seconds / 8  # connect + read within a quarter of the lease: it renews every quarter
    hook, logs, puts = logs_clients(aws_conn_id, put_timeout=put_timeout)
    streams = [home["stream"] for home in mapped["homes"]]
    if link is not None:
        link(
            region_name=hook.conn_region_name,
            aws_partition=hook.conn_partition,
            log_group=group,
            log_stream=streams[0] if streams else delivery.stream_name(log_type, window.start, window.end),
            endpoint_url=logs.meta.endpoint_url,
        )
    delivery.ensure_log_group(logs, group, retention_days=config.log_group_retention_days(log_group_retention_days))
    quarantine = area.quarantine("delivery")
    report = delivery.DeliveryReport()
    waited = 0.0
    try:
        for home in mapped["homes"]:
            log.info(
                "Delivering %d %s events to %s / %s (timestamp policy %s)",
                home["events"],
                log_type,
                group,
                home["stream"],
                policy,
            )
            lease = StreamLease(
                staging.lease_store(area.base, area.conn_id, f"{group}\0{home['stream']}"),
                owner=f"{area.dag_id} run {area.run_id} try {area.try_number}"
                + (f" map {area.map_index}" if area.mapped else ""),
                ttl=lease_seconds,
                wait=lease_wait,
                put_budget=2 * put_timeout + 1,
            )
            with lease:
                waited += lease.waited
                if lease.waited > 1:
                    log.info("Waited %.0f s for %s: another delivery was writing it", lease.waited, home["stream"])
                report.add(
                    delivery.deliver(
                        StagedEvents(mapped["events"]["location"], area.conn_id, home["start"]),
                        logs,
                        group,
                        home["stream"],
                        put_client=puts,
                        guard=lease.check,
                        timestamp_policy=policy,
                        verify_wait_seconds=verify_wait,
                        on_rejected=lambda _ts, message, reason: quarantine.add(reason, message),
                    )
                )
    finally:
        refused_location = quarantine.close()
    summary: DeliverySummary = {
        "log_type": log_type,
        "tenant": mapped.get("tenant"),
        "window": window.as_dict(),
        "log_group": group,
        "log_stream": streams[0] if streams else "",
        "streams": streams,
        "fetched": mapped["fetched"],
        "ocsf": mapped["ocsf"],
        "ocsf_total": mapped["ocsf_total"],
        "raw": mapped["raw"],
        "rejected": mapped["rejected"],
        "fetch_quarantined": mapped.get("fetch_quarantined", 0),
        "delivered": report.delivered + report.already_present,
        "refused": report.rejected,
        "refused_location": refused_location,
        "lease_waited_seconds": round(waited, 3),
        "delivery": report.as_dict(),
    }
    metrics.emit_delivery(summary, time.time())
    log.info("Summary\n%s", summary_table(summary))
    expected = mapped["ocsf_total"] + mapped["raw"]
    if report.events != expected or report.delivered + report.already_present + report.rejected != expected:
        raise BalanceError(
            f"Delivery does not balance for {log_type} {window}: {expected} OCSF+raw events staged, "
            f"{report.events} read, {summary['delivered']} delivered, {report.rejected} refused. "
            "Clear the whole DAG run to redo the window."
        )
    if mapped.get("read_marks"):  # every record read is in its home stream: later pulls may skip them
        read_ledger.record(read_ledger.store(area.base, area.conn_id, area.dag_id), mapped["read_marks"])
    if report.rejected:
        log.warning(
            "CloudWatch could not take %d events under timestamp policy %r (%s); kept with their reason at %s",
            report.rejected,
            policy,
            report.rejected_reasons,
            refused_location,
        )
    swept = area.clean(
        retention,
        own_files=(mapped["fetched_location"], mapped["events"]["location"]),
    )
    if swept:
        log.info("Removed staged files of %d expired runs of %s", len(swept), area.dag_id)
    return summary


def summary_table(summary: Mapping[str, Any]) -> str:
    """The window's counts as a small aligned table, the last thing a person reads in the task log."""
    report = summary["delivery"]
    rows = [
        ("fetched", summary["fetched"]),
        *((f"OCSF class {uid}", count) for uid, count in summary["ocsf"].items()),
        ("raw", summary["raw"]),
        ("rejected", summary["rejected"]),
        ("quarantined at fetch", summary["fetch_quarantined"]),
        ("delivered", summary["delivered"]),
        ("  new", report["delivered"]),
        ("  already present", report["already_present"]),
        ("  restamped", report["restamped"]),
        ("refused by CloudWatch", summary["refused"]),
    ]
    if report.get("unanswered_puts"):
        rows += [
            ("puts without answer", report["unanswered_puts"]),
            ("  stored anyway", report["landed_unanswered"]),
            ("  sent again", report["resent"]),
        ]
    window = summary["window"]
    streams = summary.get("streams") or [summary["log_stream"]]
    target = streams[0] if len(streams) == 1 else f"{len(streams)} streams {streams[0]} .. {streams[-1]}"
    header = f"{summary['log_type']} [{window['start_iso']}, {window['end_iso']}) -> {summary['log_group']} / {target}"
    width = max(len(label) for label, _ in rows)
    return "\n".join([header, *(f"  {label:<{width}}  {count:>10,}" for label, count in rows)])


# --- the whole window ----------------------------------------------------------------------------


def run_window(
    log_type: str,
    window: Window,
    area: staging.TaskStaging,
    *,
    netskope_conn_id: str | None = None,
    aws_conn_id: str | None = None,
    log_group: str | None = None,
    timestamp_policy: str | None = None,
) -> DeliverySummary:
    """fetch -> map -> deliver for one window, staged under ``area`` (the reconciliation's heal, tests)."""
    fetched = fetch(log_type, window, area, netskope_conn_id=netskope_conn_id)
    mapped = map_window(fetched, area)
    return deliver(mapped, area, aws_conn_id=aws_conn_id, log_group=log_group, timestamp_policy=timestamp_policy)


def _known_log_type(name: str) -> str:
    try:
        return get_log_type(name).name
    except ValueError as error:
        raise NetskopeConfigError(str(error)) from None
