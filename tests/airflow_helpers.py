"""Airflow calls only the tests need, for Airflow 2.11 and 3.x alike (kept out of the provider's wheel)."""

from __future__ import annotations

from typing import Any

from netskope_provider.compat import AIRFLOW_V_3_0_PLUS


def core_timetable(timetable: Any) -> Any:
    """The scheduler-side timetable of a DAG's timetable (Airflow 3 DAGs hold an SDK one; 2.x DAGs the core one)."""
    if not AIRFLOW_V_3_0_PLUS:
        return timetable
    from airflow.serialization.encoders import coerce_to_core_timetable

    return coerce_to_core_timetable(timetable)


def stored_xcom_values() -> list[Any]:
    """Every XCom value in the metadata database, deserialised (for audits such as the token-leak scan)."""
    from airflow.utils.session import create_session

    with create_session() as session:
        if AIRFLOW_V_3_0_PLUS:
            from airflow.models.xcom import XComModel

            return [XComModel.deserialize_value(row) for row in session.query(XComModel)]
        from airflow.models.xcom import BaseXCom

        return [row.value for row in session.query(BaseXCom)]  # 2.x deserialises on load (init_on_load)
