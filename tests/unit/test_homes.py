"""A record's home: the schedule interval holding its time, cut exactly as the DAG's timetable cuts runs."""

from __future__ import annotations

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netskope_provider.compat import CronDataIntervalTimetable
from netskope_provider.windows import Schedule, Window

CRONS = ["0 * * * *", "*/5 * * * *", "0 0 * * *", "15 */6 * * 1-5", "0 0 1 * *"]


def timetable_interval(cron: str, end: int) -> tuple[int, int]:
    """The data interval Airflow's CronDataIntervalTimetable gives a manual run after ``end``."""
    from airflow_helpers import core_timetable

    table = core_timetable(CronDataIntervalTimetable(cron, timezone="UTC"))
    interval = table.infer_manual_data_interval(run_after=pendulum.from_timestamp(end, tz="UTC"))
    return int(interval.start.timestamp()), int(interval.end.timestamp())


@settings(max_examples=60, deadline=None)
@given(cron=st.sampled_from(CRONS), epoch=st.integers(946_684_800, 4_102_444_800))
def test_the_home_of_a_time_is_the_timetables_data_interval_holding_it(cron: str, epoch: int) -> None:
    home = Schedule(cron).interval_of(epoch)
    assert home.start <= epoch < home.end
    assert (home.start, home.end) == timetable_interval(cron, home.end)


def test_the_intervals_of_a_window_cover_it_in_order() -> None:
    hourly = Schedule("0 * * * *")
    h = 1_800_000_000  # a whole hour
    assert hourly.intervals(Window(h, h + 7200)) == [Window(h, h + 3600), Window(h + 3600, h + 7200)]
    assert hourly.intervals(Window(h + 300, h + 600)) == [Window(h, h + 3600)], "a 5-minute window lives in its hour"
    assert hourly.intervals(Window(h - 1, h + 1)) == [Window(h - 3600, h), Window(h, h + 3600)]


def test_a_bad_cron_is_refused() -> None:
    with pytest.raises(ValueError):
        Schedule("hourly")


@settings(max_examples=40, deadline=None)
@given(
    cron=st.sampled_from(CRONS),
    epochs=st.lists(st.integers(1_790_000_000 - 3 * 86_400, 1_790_000_000 + 3 * 86_400), min_size=2, max_size=300),
)
def test_one_schedule_asked_again_and_again_gives_each_time_the_interval_a_fresh_one_gives(
    cron: str, epochs: list[int]
) -> None:
    """Records homed by event time move between intervals record by record: the remembered ones must stay exact."""
    schedule = Schedule(cron)
    seen: dict[Window, Window] = {}
    for epoch in epochs:
        home = schedule.interval_of(epoch)
        assert home == Schedule(cron).interval_of(epoch)
        assert seen.setdefault(home, home) is home, "an interval found again is the same object"


def test_past_the_intervals_it_remembers_a_schedule_starts_over_and_stays_exact(monkeypatch) -> None:
    import netskope_provider.windows as windows

    monkeypatch.setattr(windows, "KNOWN_INTERVALS", 3)
    hourly = Schedule("0 * * * *")
    h = 1_800_000_000
    for epoch in [h + 10, h + 3600 * 5 + 1, h - 3600 * 2, h + 3600 * 9, h + 3600 * 5 + 7, h + 20, h + 3599]:
        home = hourly.interval_of(epoch)
        assert home.start == epoch - epoch % 3600 and home.end == home.start + 3600
    assert len(hourly._known) <= 3


def test_two_threads_asking_one_schedule_at_once_each_get_the_interval_holding_their_time() -> None:
    """The incident read (read-ahead thread) and the mapping (task thread) place records with one Schedule."""
    import sys
    import threading

    hourly = Schedule("0 * * * *")
    h = 1_800_000_000
    wrong: list[tuple[int, Window]] = []

    def place(offset: int) -> None:
        for i in range(1_500):
            epoch = h + ((i * 7919 + offset) % 400) * 3600 + i % 3600  # hours in no order, most new at first
            home = hourly.interval_of(epoch)
            if not home.start <= epoch < home.end:
                wrong.append((epoch, home))

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # preempt as often as the interpreter allows
    try:
        threads = [threading.Thread(target=place, args=(offset,)) for offset in (0, 201)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(switch)
    assert not wrong, wrong[:3]
