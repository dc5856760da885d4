"""Hostile windows and run ids: checked at run time, never an OverflowError, never a path outside the run."""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from netskope_provider import pipeline, staging
from netskope_provider.compat import AirflowFailException
from netskope_provider.exceptions import StagingError, WindowError
from netskope_provider.windows import MAX_EPOCH, Window, iso, parse_instant

HOUR = 3600
NOW_HOUR = int(time.time()) // HOUR * HOUR


def custom(start: str, end: str, settle: int = 900) -> Window:
    context = {"ti": SimpleNamespace(dag_id="netskope_audit")}
    return pipeline.run_window_of(context, start, end, settle_seconds=settle, wait=False)


# --- windows -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "hint"),
    [
        ("9999-12-31T00:00:00+00:00", "9999-12-31T23:59:59+00:00", "ends after now"),
        ("9999-12-31T22:00:00-14:00", "9999-12-31T23:00:00-14:00", "outside the years 1970-9999"),
        ("10000-01-01T00:00:00Z", "10000-01-01T01:00:00Z", "not an ISO-8601 date-time"),
        ("1969-12-31T00:00:00Z", "1970-01-01T01:00:00Z", "outside the years 1970-9999"),
        ("2016-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "spans 3653.0 days, more than the 31 days"),
    ],
)
def test_hostile_custom_windows_fail_with_a_clear_error(start: str, end: str, hint: str) -> None:
    with pytest.raises(AirflowFailException, match=hint) as failure:
        custom(start, end)
    assert isinstance(failure.value.__cause__, WindowError), "a task retry cannot fix it: no retries"


def test_a_custom_window_may_end_an_hour_plus_the_settle_delay_ahead_but_not_beyond() -> None:
    """A window still open is waited for (the fetch reschedules); one ending further ahead is a typo."""
    later = NOW_HOUR + 3 * HOUR
    assert custom(iso(later - HOUR), iso(later), settle=2 * HOUR) == Window(later - HOUR, later)
    with pytest.raises(AirflowFailException, match="ends after now"):
        custom(iso(later - HOUR), iso(later), settle=0)


def test_the_span_limit_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    start, end = NOW_HOUR - 40 * 86_400, NOW_HOUR
    with pytest.raises(AirflowFailException, match="netskope_max_window_days"):
        custom(iso(start), iso(end))
    monkeypatch.setenv("NETSKOPE_MAX_WINDOW_DAYS", "60")
    assert custom(iso(start), iso(end)) == Window(start, end)


def test_a_data_interval_is_not_held_to_the_custom_window_limits() -> None:
    """A monthly schedule gives 31-day intervals; only typed-in windows are capped."""
    start = datetime.fromtimestamp(NOW_HOUR, UTC) - timedelta(days=62)
    context = {"data_interval_start": start, "data_interval_end": start + timedelta(days=40)}
    assert pipeline.run_window_of(context, None, None).seconds == 40 * 86_400


def test_the_task_log_opens_with_the_window_in_iso_8601(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="netskope_provider.pipeline")
    custom("2026-11-02T04:00:00Z", "2026-11-02T05:00:00Z")
    # Only the pipeline's lines: on Airflow 2.11 a worker whose test files left no metadata database
    # also logs the settings' Variable lookup falling through to the next secrets backend.
    pipeline_lines = [record.getMessage() for record in caplog.records if record.name == "netskope_provider.pipeline"]
    assert pipeline_lines[0] == "Window [2026-11-02T04:00:00+00:00, 2026-11-02T05:00:00+00:00) (custom window)"


def test_instants_beyond_what_a_date_holds_are_window_errors() -> None:
    assert parse_instant("9999-12-31T23:59:59Z", "window_end") == MAX_EPOCH
    for value in ("+275760-09-13T00:00:00Z", "0000-01-01T00:00:00Z", "1e400", "NaN"):
        with pytest.raises(WindowError):
            parse_instant(value, "window_start")


# --- staging paths -------------------------------------------------------------------------------


@pytest.mark.parametrize("run_id", [".", "..", "../netskope_audit", "a/../../b", "", "x" * 400, "_rejected"])
def test_every_run_id_becomes_one_folder_inside_its_dag_folder(tmp_path: Path, run_id: str) -> None:
    base = f"file://{tmp_path}"
    folder = staging.run_folder(base, "netskope_audit", run_id, 1)
    dag_folder = os.path.realpath(tmp_path / "netskope_audit")
    assert os.path.dirname(os.path.dirname(os.path.realpath(folder.path))) == dag_folder
    name = staging.safe_name(run_id)
    assert name not in (".", "..", "") and "/" not in name and ".." not in name and len(name) <= 200


def test_distinct_run_ids_never_share_a_folder() -> None:
    ids = ["manual__2026-11-02T05:00:00+00:00", "manual__2026-11-02T05_00_00_00_00", ".", "..", "_", "-"]
    assert len({staging.safe_name(run_id) for run_id in ids}) == len(ids)


def test_cleanup_of_run_dot_leaves_other_runs_alone(tmp_path: Path) -> None:
    """Run id ``.`` once made cleanup remove ``<base>/<dag>/.``: every other run's files."""
    base = f"file://{tmp_path}"
    other = staging.write_lines(
        staging.run_folder(base, "netskope_audit", "scheduled_other", 1) / "raw.ndjson.gz", [b"{}"]
    )
    dot = staging.TaskStaging(base, None, "netskope_audit", ".", 1)
    staging.write_lines(dot.folder() / "raw.ndjson.gz", [b"{}"])
    dot.clean(timedelta(0), own_files=())
    assert Path(staging.staging_path(other.location).path).exists()
    assert not Path(staging.run_root(base, "netskope_audit", ".").path).exists()


def test_a_sub_window_never_removes_files_outside_its_run(tmp_path: Path) -> None:
    base = f"file://{tmp_path}"
    victim = staging.write_lines(staging.run_folder(base, "netskope_audit", "victim", 1) / "raw.ndjson.gz", [b"{}"])
    mapped = staging.TaskStaging(base, None, "netskope_audit", "attacker", 1, map_index=0)
    for location in (victim.location, f"{base}/netskope_audit/attacker/../victim/1/raw.ndjson.gz"):
        with pytest.raises(StagingError, match="outside its run folder"):
            mapped.clean(timedelta(0), own_files=[location])
    assert Path(staging.staging_path(victim.location).path).exists()
