"""Pull one log type's records for the run's window into a staged file."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pendulum
from pendulum.parsing.exceptions import ParserError

from netskope_provider import config, metrics, staging
from netskope_provider.compat import AirflowFailException, AirflowRescheduleException, BaseOperator
from netskope_provider.exceptions import NetskopeConfigError, NetskopeNotFoundError, NetskopePermissionError
from netskope_provider.log_types import get_log_type

if TYPE_CHECKING:
    from netskope_provider.compat import Context

RAW_FILE = "raw.ndjson.gz"
#: Failures a task retry cannot fix (the connection or the role must change first): fail at once.
NOT_RETRYABLE = (NetskopeConfigError, NetskopePermissionError, NetskopeNotFoundError)

NO_INTERVAL_HELP = (
    "This run has no data interval (it was triggered without a logical date), so there is no window "
    "to pull. Trigger it with a logical date (UI: keep 'Logical date' filled in; CLI: "
    "`airflow dags trigger {dag_id} --logical-date 2026-11-02T05:00:00+00:00` pulls [04:00, 05:00)), "
    "or set the param window to start/end (ISO-8601 UTC, whole seconds, e.g. "
    "2026-11-02T04:00:00Z/2026-11-02T05:00:00Z) in the trigger form or in --conf."
)


def _parse_instant(value: str | datetime, name: str) -> int:
    """Epoch seconds of an ISO-8601 string or datetime; fractions of a second are refused, not rounded."""
    try:
        moment = value if isinstance(value, datetime) else pendulum.parse(str(value), tz="UTC")
    except (ValueError, ParserError):
        raise AirflowFailException(
            f"{name}={value!r} is not an ISO-8601 date-time; write e.g. 2026-11-02T04:00:00+00:00"
        ) from None
    if not isinstance(moment, datetime):
        raise AirflowFailException(f"{name}={value!r} is not a date-time; write e.g. 2026-11-02T04:00:00+00:00")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment.microsecond:
        raise AirflowFailException(f"{name}={value!r} has a fraction of a second; windows are whole seconds")
    return int(moment.timestamp())


def resolve_window(context: Mapping[str, Any], window_start: str | None, window_end: str | None) -> tuple[int, int]:
    """The half-open window ``[start, end)`` in epoch seconds: a custom window if given, else the data interval."""
    if window_start or window_end:
        if not (window_start and window_end):
            raise AirflowFailException("Set both window_start and window_end, or neither to use the data interval")
        start, end = _parse_instant(window_start, "window_start"), _parse_instant(window_end, "window_end")
    else:
        interval_start, interval_end = context.get("data_interval_start"), context.get("data_interval_end")
        if interval_start is None or interval_end is None:
            dag_id = context["ti"].dag_id if "ti" in context else "<dag_id>"
            raise AirflowFailException(NO_INTERVAL_HELP.format(dag_id=dag_id))
        start = _parse_instant(interval_start, "data_interval_start")
        end = _parse_instant(interval_end, "data_interval_end")
    if start >= end:
        raise AirflowFailException(
            f"Empty window [{start}, {end}): the schedule must be a data-interval timetable "
            "(CronDataIntervalTimetable), and a custom window_end must be after window_start"
        )
    return start, end


def window_manifest(start: int, end: int) -> dict[str, object]:
    """The window as it travels in manifests: epoch seconds plus readable UTC stamps."""
    iso = lambda epoch: datetime.fromtimestamp(epoch, tz=UTC).isoformat()
    return {"start": start, "end": end, "start_iso": iso(start), "end_iso": iso(end)}


def _record_lines(pages: Iterator[list[dict]], dumps: Callable[[object], bytes]) -> Iterator[bytes]:
    """Each record of each page as a JSON line, releasing a page before the next is fetched.

    A parsed 10,000-record page is ~100 MB for application records: holding the previous one
    while the client fetches the next (as a nested generator expression does) doubles the peak.
    """
    for page in pages:
        yield from map(dumps, page)
        del page


class NetskopeFetchOperator(BaseOperator):
    """Stream one log type's records for ``[start, end)`` into a staged gzip NDJSON file.

    Returns (XCom) a small manifest -- staged location, record count, bytes, window -- never the
    records. The window is the run's data interval, or ``window_start``/``window_end`` when set (the
    DAGs fill them from the trigger form). A window is queried only ``settle_seconds`` after it
    closed, so late-inserted records are in; until then the task is rescheduled, freeing its pool slot.

    :param log_type: one of ``netskope_provider.log_types.LOG_TYPES``.
    :param netskope_conn_id: Netskope connection (default: setting ``conn_id``).
    :param staging_base: ``ObjectStoragePath`` URL for staged files (default: setting ``staging_base``).
    :param window_start: custom window start, ISO-8601 (templated).
    :param window_end: custom window end, ISO-8601 (templated).
    :param settle_seconds: how long after the window end to wait before querying it.
    """

    template_fields: Sequence[str] = ("log_type", "netskope_conn_id", "staging_base", "window_start", "window_end")
    ui_color = "#e8f1fb"

    def __init__(
        self,
        *,
        log_type: str,
        netskope_conn_id: str | None = None,
        staging_base: str | None = None,
        staging_conn_id: str | None = None,
        window_start: str | None = None,
        window_end: str | None = None,
        settle_seconds: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.log_type = log_type
        self.netskope_conn_id = netskope_conn_id
        self.staging_base = staging_base
        self.staging_conn_id = staging_conn_id
        self.window_start = window_start
        self.window_end = window_end
        self.settle_seconds = settle_seconds

    def execute(self, context: Context) -> dict[str, object]:
        from netskope_provider.hooks.netskope import NetskopeHook
        from netskope_provider.ocsf.mapper import dumps

        try:
            log_type = get_log_type(self.log_type).name
        except ValueError as error:
            raise AirflowFailException(str(error)) from None
        start, end = resolve_window(context, self.window_start, self.window_end)
        ready_at = datetime.fromtimestamp(end, tz=UTC) + timedelta(seconds=self.settle_seconds)
        if datetime.now(UTC) < ready_at:
            self.log.info("Window ends at %s; waiting until %s (settle delay) before querying it", end, ready_at)
            raise AirflowRescheduleException(ready_at)

        base = config.staging_base(self.staging_base)
        staging_conn_id = config.run_setting("staging_conn_id", self.staging_conn_id)
        hook = NetskopeHook(netskope_conn_id=config.run_setting("conn_id", self.netskope_conn_id))
        self.log.info("Pulling %s records inserted in [%s, %s)", log_type, start, end)
        try:
            with hook.get_client() as client:
                staged = None
                try:
                    records = _record_lines(client.iter_window_pages(log_type, start, end), dumps)
                    staged = staging.write_lines(
                        staging.task_folder(context, base, staging_conn_id) / RAW_FILE, records
                    )
                finally:  # a failed pull's API calls, 429s and retries count too
                    metrics.emit_fetch(client.host, log_type, staged.records if staged is not None else 0, client.stats)
        except NOT_RETRYABLE as error:
            raise AirflowFailException(str(error)) from error
        self.log.info(
            "Staged %d %s records (%d bytes compressed) at %s", staged.records, log_type, staged.bytes, staged.location
        )
        return {
            "log_type": log_type,
            "tenant": client.host,
            "window": window_manifest(start, end),
            "staging_base": base,
            "staging_conn_id": staging_conn_id,
            "fetched": staged.as_dict(),
        }
