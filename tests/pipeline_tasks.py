"""Run the three tasks of one log type's pipeline the way a worker does: ``execute`` with a context.

The fault and leak tests drive the real operators through these helpers, in-process or in a
forked worker process they SIGKILL mid-task.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any


def task_context(log_type: str, start: int, end: int, *, run_id: str, try_number: int) -> dict[str, Any]:
    """What a worker hands ``execute``: the task instance's identity and the run's data interval."""
    return {
        "ti": SimpleNamespace(dag_id=f"netskope_{log_type}", run_id=run_id, try_number=try_number),
        "data_interval_start": datetime.fromtimestamp(start, tz=UTC),
        "data_interval_end": datetime.fromtimestamp(end, tz=UTC),
    }


def run_task(
    task: str,
    *,
    log_type: str,
    start: int,
    end: int,
    run_id: str,
    try_number: int = 1,
    manifest: dict | None = None,
    aws_conn_id: str | None = None,
) -> dict:
    """Execute ``fetch``, ``to_ocsf`` or ``deliver`` (the latter two take the upstream task's manifest)."""
    from netskope_provider.operators.cloudwatch import OcsfToCloudWatchLogsOperator
    from netskope_provider.operators.fetch import NetskopeFetchOperator
    from netskope_provider.operators.transform import NetskopeToOcsfOperator

    context = task_context(log_type, start, end, run_id=run_id, try_number=try_number)
    if task == "fetch":
        operator = NetskopeFetchOperator(task_id="fetch", log_type=log_type)
    elif task == "to_ocsf":
        operator = NetskopeToOcsfOperator(task_id="to_ocsf", fetch_manifest=manifest)
    elif task == "deliver":
        operator = OcsfToCloudWatchLogsOperator(task_id="deliver", transform_manifest=manifest, aws_conn_id=aws_conn_id)
    else:
        raise ValueError(f"unknown task {task!r}; expected fetch, to_ocsf or deliver")
    return operator.execute(context)


def run_pipeline(
    log_type: str, start: int, end: int, *, run_id: str, try_number: int = 1, aws_conn_id: str | None = None
) -> dict:
    """fetch -> to_ocsf -> deliver for one window; returns the delivery summary."""
    window = {"log_type": log_type, "start": start, "end": end, "run_id": run_id, "try_number": try_number}
    fetched = run_task("fetch", **window)
    mapped = run_task("to_ocsf", **window, manifest=fetched)
    return run_task("deliver", **window, manifest=mapped, aws_conn_id=aws_conn_id)
