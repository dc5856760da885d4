"""One DAG per Netskope log type: fetch -> OCSF -> CloudWatch Logs, built from ``LOG_TYPES``.

Each run covers its data interval ``[start, end)`` (hourly by default). Parse-time settings come
from ``NETSKOPE_*`` environment variables, run-time settings from Airflow Variables
``netskope_*`` or the environment; see docs/dags.md.
"""

from __future__ import annotations

from netskope_provider.compat import DAG, RETRY_EXPONENTIAL_BACKOFF, CronDataIntervalTimetable, Param
from netskope_provider.config import DagSettings
from netskope_provider.log_types import LOG_TYPES, LogType
from netskope_provider.operators.cloudwatch import OcsfToCloudWatchLogsOperator
from netskope_provider.operators.fetch import NetskopeFetchOperator
from netskope_provider.operators.transform import NetskopeToOcsfOperator

DOC = """
### Netskope {name} events → OCSF 1.5.0 → CloudWatch Logs

Pulls `/api/v2/{path}` for the run's data interval `[start, end)` (records whose insertion
time falls in it; strategy `{strategy}`), maps each record to OCSF 1.5.0 or keeps it raw, and
delivers to the log group (Variable `netskope_log_group`, default `/netskope/ocsf/{name}`),
one log stream per window.

* **Schedule** `{schedule}` (UTC) with a data-interval timetable; a window is queried
  {settle} s after it closed.
* **Custom window**: trigger with params `window_start` / `window_end` (ISO-8601, whole seconds).
  A run triggered without a logical date and without these params fails and says how to trigger it.
* **Reruns are safe**: clearing a task or the run, a retry after a crash, or a backfill over
  delivered windows leaves exactly one copy of each record in CloudWatch.
* **Counts**: the `deliver` task's XCom holds fetched = OCSF + raw + rejected and the delivered
  count; a run whose counts do not balance fails. Rejected records are kept with their reason
  under `<staging_base>/_rejected/`.
* **Needs** the Netskope API token's RBAC v3 permission *{permission}*, and the pool
  `{pool}` (`airflow pools set {pool} 4 "Netskope API"`).
"""

WINDOW_HELP = "ISO-8601 UTC, whole seconds, e.g. 2026-11-02T04:00:00+00:00. Leave both empty to pull the data interval."


def build_dag(log_type: LogType) -> DAG:
    """The DAG of one log type, shaped by ``DagSettings.for_log_type``."""
    settings = DagSettings.for_log_type(log_type.name)
    with DAG(
        dag_id=f"netskope_{log_type.name}",
        description=f"Netskope {log_type.name} events to OCSF 1.5.0 in CloudWatch Logs",
        schedule=CronDataIntervalTimetable(settings.schedule, timezone="UTC"),
        start_date=settings.start_date,
        catchup=settings.catchup,
        max_active_runs=settings.max_active_runs,
        default_args={
            "retries": settings.retries,
            "retry_delay": settings.retry_delay,
            "retry_exponential_backoff": RETRY_EXPONENTIAL_BACKOFF,
            "max_retry_delay": settings.max_retry_delay,
        },
        params={
            "window_start": Param(None, type=["null", "string"], title="Window start", description=WINDOW_HELP),
            "window_end": Param(None, type=["null", "string"], title="Window end (exclusive)", description=WINDOW_HELP),
        },
        tags=["netskope", "ocsf", "cloudwatch", log_type.name],
        doc_md=DOC.format(
            name=log_type.name, path=log_type.path, strategy=log_type.strategy.value, schedule=settings.schedule,
            settle=int(settings.settle.total_seconds()), permission=log_type.rbac_permission, pool=settings.pool,
        ),
    ) as dag:
        fetch = NetskopeFetchOperator(
            task_id="fetch",
            log_type=log_type.name,
            window_start="{{ params.window_start or '' }}",
            window_end="{{ params.window_end or '' }}",
            settle_seconds=int(settings.settle.total_seconds()),
            pool=settings.pool,
        )
        to_ocsf = NetskopeToOcsfOperator(task_id="to_ocsf", fetch_manifest=fetch.output)
        OcsfToCloudWatchLogsOperator(task_id="deliver", transform_manifest=to_ocsf.output)
    return dag


for _log_type in LOG_TYPES.values():
    globals()[f"netskope_{_log_type.name}"] = build_dag(_log_type)
