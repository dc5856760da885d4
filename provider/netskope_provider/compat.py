"""Every Airflow import that differs between Airflow 2.11 and 3.x, in one module.

The provider and the DAGs import these names from here, so supporting one more Airflow version
means editing this file only. Most names come from the common-compat provider's shims
(``airflow.sdk`` on 3.x, the old ``airflow.models`` / ``airflow.io`` / ``airflow.utils`` homes on
2.x); the few it does not cover are switched here on the same version flag.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.providers.common.compat.sdk import (
    AIRFLOW_V_3_0_PLUS,
    DAG,
    AirflowFailException,
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
    from airflow.timetables.interval import CronDataIntervalTimetable  # type: ignore[no-redef]

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

__all__ = [
    "AIRFLOW_V_3_0_PLUS",
    "DAG",
    "AirflowFailException",
    "AirflowRescheduleException",
    "BaseHook",
    "BaseOperator",
    "Connection",
    "Context",
    "CronDataIntervalTimetable",
    "ObjectStoragePath",
    "Param",
    "Variable",
    "mask_secret",
    "redact",
]
