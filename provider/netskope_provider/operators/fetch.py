"""Pull one log type's records for the run's window into staged files, mapping them as they arrive."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from netskope_provider import pipeline
from netskope_provider.compat import BaseOperator

if TYPE_CHECKING:
    from netskope_provider.compat import Context


class NetskopeFetchOperator(BaseOperator):
    """Stream one log type's records for ``[start, end)`` into staged gzip NDJSON files.

    Each page is mapped to OCSF while the next one is fetched: the try's folder gets the raw
    records as sent and the deliverable events made from them. Returns (XCom) a small manifest --
    staged locations, counts, bytes, window, the mapping's counts -- never the records. The window is the run's data interval, or ``window_start``/``window_end`` when set (the
    DAGs fill them from the trigger form). A window is queried only ``settle_seconds`` after it
    closed, so late-inserted records are in; until then the task is rescheduled, freeing its pool slot.

    :param log_type: one of ``netskope_provider.log_types.LOG_TYPES``.
    :param netskope_conn_id: Netskope connection (default: setting ``conn_id``).
    :param staging_base: ``ObjectStoragePath`` URL for staged files (default: setting ``staging_base``).
    :param staging_conn_id: connection of the staging store (default: setting ``staging_conn_id``).
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

    def execute(self, context: Context) -> pipeline.FetchManifest:
        window = pipeline.run_window_of(context, self.window_start, self.window_end, settle_seconds=self.settle_seconds)
        area = pipeline.task_staging(context, self.staging_base, self.staging_conn_id)
        return pipeline.fetch(self.log_type, window, area, netskope_conn_id=self.netskope_conn_id)
