"""Without the ``netskope_api`` pool the scheduler leaves ``fetch`` waiting; it queues it once the pool exists.

Asked of Airflow's own scheduler (its queueing step, on a real metadata DB with the DAGs as the DAG
processor stores them), since the DAGs only name the pool: what a missing pool does is Airflow's rule.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import REPO

from netskope_provider.compat import AIRFLOW_V_3_0_PLUS, DagBag
from netskope_provider.config import DEFAULT_POOL

pytestmark = pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="the scheduler's Airflow 3 interface")


def scheduled_fetch(dag_id: str) -> None:
    """An empty metadata DB holding the DAG files' DAGs, ``dag_id`` unpaused with a run whose fetch is scheduled."""
    from airflow.dag_processing.dagbag import sync_bag_to_db
    from airflow.models.dag import DagModel
    from airflow.models.dagbundle import DagBundleModel
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.timetables.base import DataInterval
    from airflow.utils import db
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    db.resetdb()
    with create_session() as session:
        session.add(DagBundleModel(name="dags-folder"))
    sync_bag_to_db(DagBag(dag_folder=str(REPO / "dags")), "dags-folder", None)
    end = datetime(2026, 11, 2, 5, tzinfo=UTC)
    with create_session() as session:
        session.query(DagModel).filter(DagModel.dag_id == dag_id).update({"is_paused": False})
        run = SerializedDagModel.get_dag(dag_id, session=session).create_dagrun(
            run_id="pool-missing",
            logical_date=end,
            data_interval=DataInterval(datetime(2026, 11, 2, 4, tzinfo=UTC), end),
            run_after=end,
            run_type=DagRunType.MANUAL,
            triggered_by=DagRunTriggeredByType.TEST,
            state=DagRunState.RUNNING,
            session=session,
        )
        fetch = run.get_task_instance("fetch", session=session)
        assert fetch.pool == DEFAULT_POOL
        fetch.state = TaskInstanceState.SCHEDULED


def test_the_scheduler_does_not_start_fetch_until_the_pool_exists() -> None:
    from airflow.executors.local_executor import LocalExecutor
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    scheduled_fetch("netskope_audit")
    scheduler = SchedulerJobRunner(job=Job(), executors=[LocalExecutor()])

    def queued() -> list[str]:
        with create_session() as session:
            return [ti.task_id for ti in scheduler._executable_task_instances_to_queued(max_tis=32, session=session)]

    assert queued() == []
    Pool.create_or_update_pool(DEFAULT_POOL, slots=4, description="Netskope API calls", include_deferred=False)
    assert queued() == ["fetch"]
