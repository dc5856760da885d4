"""Split a run's window into sub-windows, so a busy tenant's day is pulled by parallel mapped tasks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from netskope_provider.compat import AirflowFailException, BaseOperator
from netskope_provider.operators.fetch import resolve_window

if TYPE_CHECKING:
    from netskope_provider.compat import Context

#: More sub-windows than this is a mistake (e.g. 1-minute splits of a month), not a plan.
MAX_SUB_WINDOWS = 1024


def split_window(start: int, end: int, step_seconds: int) -> list[tuple[int, int]]:
    """Consecutive half-open sub-windows of ``[start, end)``, ``step_seconds`` long (the last may be shorter).

    They partition the window exactly, so each record (by insertion time) lands in one sub-window.
    """
    if step_seconds <= 0:
        raise ValueError(f"sub-window length must be positive, got {step_seconds} s")
    return [(lower, min(lower + step_seconds, end)) for lower in range(start, end, step_seconds)]


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat()


class NetskopeSplitWindowOperator(BaseOperator):
    """Return the run's window cut into sub-windows, as ``expand_kwargs`` input for the fetch task.

    Each item is ``{"window_start": iso, "window_end": iso}``; the mapped fetch, transform and
    delivery tasks then handle one sub-window each (its own log stream), bounded by the pool.

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
        start, end = resolve_window(context, self.window_start, self.window_end)
        parts = split_window(start, end, self.split_seconds)
        if len(parts) > MAX_SUB_WINDOWS:
            raise AirflowFailException(
                f"Window [{_iso(start)}, {_iso(end)}) would split into {len(parts)} sub-windows of "
                f"{self.split_seconds} s (limit {MAX_SUB_WINDOWS}); raise NETSKOPE_SPLIT_MINUTES or pull a shorter window"
            )
        self.log.info(
            "Window [%s, %s) split into %d sub-windows of %d s", _iso(start), _iso(end), len(parts), self.split_seconds
        )
        return [{"window_start": _iso(lower), "window_end": _iso(upper)} for lower, upper in parts]
