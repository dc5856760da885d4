"""Split windows: a day pulled as mapped sub-windows delivers exactly the simulator's ground truth, once."""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from conftest import REPO, airflow_with_simulator, expected_home_events
from hypothesis import given, settings
from hypothesis import strategies as st

from netskope_provider import staging
from netskope_provider.compat import AirflowFailException, DagBag, dag_test, task_return_value
from netskope_provider.demo import canonical, stream_documents
from netskope_provider.log_types import LOG_TYPES
from netskope_provider.operators.split import MAX_SUB_WINDOWS, NetskopeSplitWindowOperator
from netskope_provider.simulator import SimulatorConfig, SimulatorServer
from netskope_provider.windows import Window

HOUR = 3600
NOW_HOUR = int(datetime.now(UTC).timestamp()) // HOUR * HOUR
DAY = (NOW_HOUR - 25 * HOUR, NOW_HOUR - HOUR)
SPLIT_MINUTES = 360
SUB_WINDOWS = [(part.start, part.end) for part in Window(*DAY).split(SPLIT_MINUTES * 60)]
#: A data/* log type (homed by insertion time) and the event-time-searched incident type (by event time).
RUN_LOG_TYPES = ("audit", "incident")


def utc(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


@settings(deadline=None)
@given(start=st.integers(1, 2**33), length=st.integers(1, 10**6), step=st.integers(60, 10**5))
def test_sub_windows_partition_the_window(start: int, length: int, step: int) -> None:
    parts = [(part.start, part.end) for part in Window(start, start + length).split(step)]
    assert parts[0][0] == start and parts[-1][1] == start + length
    assert all(lower < upper <= lower + step for lower, upper in parts)
    assert all(previous[1] == following[0] for previous, following in itertools.pairwise(parts))


def test_last_sub_window_is_shorter_and_bad_length_is_refused() -> None:
    assert Window(1, 251).split(100) == [Window(1, 101), Window(101, 201), Window(201, 251)]
    with pytest.raises(ValueError, match="must be positive"):
        Window(1, 251).split(0)


def test_too_many_sub_windows_fail_and_say_what_to_change() -> None:
    operator = NetskopeSplitWindowOperator(
        task_id="split",
        split_seconds=60,
        window_start=utc(DAY[0]).isoformat(),
        window_end=utc(DAY[0] + 60 * (MAX_SUB_WINDOWS + 1)).isoformat(),
    )
    with pytest.raises(AirflowFailException, match="NETSKOPE_SPLIT_MINUTES"):
        operator.execute({})


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(seed=31, start=DAY[0], end=DAY[1], volume=dict.fromkeys(LOG_TYPES, 400))
    with SimulatorServer(config) as sim:
        yield sim


@pytest.fixture(scope="module")
def split_dags(simulator, moto_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The DAG file parsed with NETSKOPE_SPLIT_MINUTES set, a fresh metadata DB and the API pool."""
    moto_server.reset()  # records of one hour share its home stream: start from an empty endpoint
    with airflow_with_simulator(simulator, tmp_path_factory.mktemp("staging")) as patch:
        patch.setenv("NETSKOPE_SPLIT_MINUTES", str(SPLIT_MINUTES))
        patch.delenv("NETSKOPE_TENANTS", raising=False)
        bag = DagBag(dag_folder=str(REPO / "dags"))
        assert bag.import_errors == {}
        yield bag.dags


def test_split_dag_maps_fetch_transform_and_delivery_over_sub_windows(split_dags) -> None:
    dag = split_dags["netskope_audit"]
    assert {task.task_id for task in dag.tasks} == {"split", "fetch", "to_ocsf", "deliver"}
    assert dag.get_task("fetch").upstream_task_ids == {"split"}
    assert dag.get_task("fetch").pool == "netskope_api"
    assert all(type(dag.get_task(task_id)).__name__ == "MappedOperator" for task_id in ("fetch", "to_ocsf", "deliver"))


def delivery_summaries(dag_run) -> list[dict]:
    return [task_return_value(dag_run, "deliver", map_index) for map_index in range(len(SUB_WINDOWS))]


HOURS = [(start, start + HOUR) for start in range(*DAY, HOUR)]


def delivered_per_hour(moto_server, log_type: str) -> dict[tuple[int, int], Counter[bytes]]:
    """Each hour's stream: every sub-window delivers its records into their hour (their home)."""
    logs = moto_server.client("logs")
    return {hour: Counter(canonical(doc) for doc in stream_documents(logs, log_type, *hour)) for hour in HOURS}


@pytest.mark.parametrize("log_type", RUN_LOG_TYPES)
def test_split_day_delivers_exactly_the_ground_truth_and_a_rerun_keeps_one_copy(
    split_dags, simulator, moto_server, log_type
) -> None:
    conf = {"window": f"{utc(DAY[0]).isoformat()}/{utc(DAY[1]).isoformat()}"}
    dag = split_dags[f"netskope_{log_type}"]
    first = dag_test(dag, utc(NOW_HOUR), run_conf=conf)
    assert first.state == "success"
    expected = {hour: expected_home_events(simulator, log_type, *hour) for hour in HOURS}
    assert all(expected[hour] for hour in HOURS[:: SPLIT_MINUTES // 60]), "every sub-window holds records"
    total = sum(map(Counter.total, expected.values()))
    by = "event" if log_type == "incident" else "insertion"
    assert total == len(simulator.ground_truth(log_type, *DAY, by=by)) > 300
    assert delivered_per_hour(moto_server, log_type) == expected
    logs = moto_server.client("logs")
    assert stream_documents(logs, log_type, *DAY) == [], "no copy in a whole-day stream"
    assert all(stream_documents(logs, log_type, *part) == [] for part in SUB_WINDOWS), "nor in a sub-window stream"

    summaries = delivery_summaries(first)
    assert [(s["window"]["start"], s["window"]["end"]) for s in summaries] == SUB_WINDOWS
    labels = sorted(ti.rendered_map_index for ti in first.get_task_instances() if ti.task_id == "fetch")
    assert labels == [f"{utc(lower).isoformat()}/{utc(upper).isoformat()}" for lower, upper in SUB_WINDOWS], (
        "each mapped fetch is labelled with its sub-window"
    )
    assert sum(s["fetched"] for s in summaries) == sum(s["delivered"] for s in summaries) == total
    run_folder = (
        staging.staging_path(os.environ["NETSKOPE_STAGING_BASE"]) / dag.dag_id / staging.safe_name(first.run_id)
    )
    assert not run_folder.exists() or not [p for p in run_folder.rglob("*") if p.is_file()], "staged files are removed"

    second = dag_test(dag, utc(NOW_HOUR + 60), run_conf=conf)
    assert second.state == "success"
    assert delivered_per_hour(moto_server, log_type) == expected
    assert sum(s["delivery"]["already_present"] for s in delivery_summaries(second)) == total
