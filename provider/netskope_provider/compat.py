"""Every Airflow import that differs between Airflow 2.11 and 3.x, in one module.

The provider and the DAGs import these names from here, so supporting one more Airflow version
means editing this file only. Most names come from the common-compat provider's shims
(``airflow.sdk`` on 3.x, the old ``airflow.models`` / ``airflow.io`` / ``airflow.utils`` homes on
2.x); the few it does not cover are switched here on the same version flag.
"""

from __future__ import annotations

import inspect
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AIRFLOW_V_3_0_PLUS,
    DAG,
    AirflowFailException,
    Asset,
    BaseHook,
    BaseOperator,
    Connection,
    ObjectStoragePath,
    Param,
    Variable,
    mask_secret,
    redact,
)

if AIRFLOW_V_3_0_PLUS:
    from airflow.sdk import CronDataIntervalTimetable
    from airflow.sdk.exceptions import AirflowRescheduleException
else:  # Airflow 2.11
    from airflow.exceptions import AirflowRescheduleException  # type: ignore[no-redef]
    from airflow.timetables.interval import CronDataIntervalTimetable  # type: ignore[no-redef,assignment]

try:  # the task SDK's metrics facade (Airflow 3.2+); airflow.stats is its deprecated alias there
    from airflow.sdk.observability.stats import Stats
except ImportError:  # Airflow 2.11 and early 3.x
    from airflow.stats import Stats  # type: ignore[no-redef]

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

#: ``retry_exponential_backoff`` that doubles the delay between retries: Airflow 2.x and early 3.x
#: take a flag (always base 2), newer 3.x a multiplier (where ``True`` would mean 1, no growth).
RETRY_EXPONENTIAL_BACKOFF: bool | float = (
    True
    if inspect.signature(BaseOperator.__init__).parameters["retry_exponential_backoff"].annotation in (bool, "bool")
    else 2.0
)

#: Metadata-database classes (scheduler side), imported only when asked for: task code never needs them.
_LAZY_CORE = {
    "DagBag": ("airflow.dag_processing.dagbag", "airflow.models.dagbag"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY_CORE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    airflow3_home, airflow2_home = _LAZY_CORE[name]
    return getattr(importlib.import_module(airflow3_home if AIRFLOW_V_3_0_PLUS else airflow2_home), name)


def dag_test(dag: Any, logical_date: datetime | None = None, **kwargs: Any) -> Any:
    """``dag.test()`` for one logical date (Airflow 2.x calls it ``execution_date``); returns the DagRun."""
    if AIRFLOW_V_3_0_PLUS:
        return dag.test(logical_date=logical_date, **kwargs)
    return dag.test(execution_date=logical_date, **kwargs)


def task_return_value(dag_run: Any, task_id: str, map_index: int = -1) -> Any:
    """A finished task's return value (its ``return_value`` XCom) read from the metadata database; None when absent.

    ``map_index`` picks one instance of a mapped task (e.g. one sub-window of a split window).
    """
    if not AIRFLOW_V_3_0_PLUS:
        from airflow.models.xcom import XCom

        return XCom.get_one(
            run_id=dag_run.run_id, dag_id=dag_run.dag_id, task_id=task_id, key="return_value", map_index=map_index
        )
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(
            run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id, key="return_value", map_indexes=map_index
        )
        row = session.scalars(query).first()
        return XComModel.deserialize_value(row) if row is not None else None


__all__ = [
    "AIRFLOW_V_3_0_PLUS",
    "DAG",
    "RETRY_EXPONENTIAL_BACKOFF",
    "AirflowFailException",
    "AirflowRescheduleException",
    "Asset",
    "BaseHook",
    "BaseOperator",
    "Connection",
    "Context",
    "CronDataIntervalTimetable",
    "DagBag",  # noqa: F822 (lazy: see __getattr__)
    "ObjectStoragePath",
    "Param",
    "Stats",
    "Variable",
    "dag_test",
    "mask_secret",
    "redact",
    "task_return_value",
]
