"""Split a run's window into sub-windows, so a busy tenant's day is pulled by parallel mapped tasks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from netskope_provider import pipeline
from netskope_provider.compat import BaseOperator
from netskope_provider.windows import iso

if TYPE_CHECKING:
    from netskope_provider.compat import Context

#: More sub-windows than this is a mistake (e.g. 1-minute splits of a month), not a plan.
MAX_SUB_WINDOWS = 1024


class NetskopeSplitWindowOperator(BaseOperator):
    """Return the run's window cut into sub-windows, as ``expand_kwargs`` input for the fetch task.

    Each item is ``{"window_start": iso, "window_end": iso}``; the mapped fetch, transform and
    delivery tasks then handle one sub-window each, bounded by the pool.

    :param split_seconds: sub-window length.
    :param window_start: custom window start, ISO-8601 (templated); empty for the data interval.
    :param window_end: custom window end, ISO-8601 (templated).
    """

    template_fields: Sequence[str] = ("window_start", "window_end")
    ui_color = "#f3eefb"

    def __init__(
        self, *, split_seconds: int, window_start: str | None = None, window_end: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.split_seconds = split_seconds
        self.window_start = window_start
        self.window_end = window_end

    def execute(self, context: Context) -> list[dict[str, str]]:
        window = pipeline.run_window_of(context, self.window_start, self.window_end, wait=False)
        parts = pipeline.split(window, self.split_seconds, max_parts=MAX_SUB_WINDOWS)
        return [{"window_start": iso(part.start), "window_end": iso(part.end)} for part in parts]
