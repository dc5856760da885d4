"""One DAG per Netskope log type and tenant: fetch -> OCSF -> CloudWatch Logs, built from ``LOG_TYPES``.

Each run covers its data interval ``[start, end)`` (hourly by default). Parse-time settings come
from ``NETSKOPE_*`` environment variables (tenants from ``NETSKOPE_TENANTS``; sub-windows from
``NETSKOPE_SPLIT_MINUTES``), run-time settings from Airflow Variables ``netskope_*`` or the
environment; see docs/dags.md.
"""

from __future__ import annotations

from netskope_provider.assets import delivered_asset
from netskope_provider.compat import DAG, CronDataIntervalTimetable, Param
from netskope_provider.config import DagSettings, Tenant, tenants
from netskope_provider.log_types import LOG_TYPES, LogType
from netskope_provider.operators.cloudwatch import OcsfToCloudWatchLogsOperator
from netskope_provider.operators.fetch import NetskopeFetchOperator
from netskope_provider.operators.split import NetskopeSplitWindowOperator
from netskope_provider.operators.transform import NetskopeToOcsfOperator

DOC = """
### Netskope {name} events → OCSF 1.5.0 → CloudWatch Logs{tenant}

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
* **Knobs** at run time (Variable / environment): `netskope_conn_id`, `netskope_aws_conn_id`,
  `netskope_log_group`, `netskope_timestamp_policy` (`ingest_time` restamps events older than
  CloudWatch takes, `reject` quarantines them, `fail` fails the task), `netskope_staging_base`,
  `netskope_staging_retention_hours`, `netskope_staging_kms_key_id`. At parse time (environment): `NETSKOPE_SCHEDULE`,
  `NETSKOPE_SETTLE_SECONDS`, `NETSKOPE_START_DATE`, `NETSKOPE_CATCHUP`, `NETSKOPE_RETRIES`,
  `NETSKOPE_MAX_ACTIVE_RUNS`, `NETSKOPE_POOL` (each also per log type, e.g. `NETSKOPE_SCHEDULE_{upper}`).
  See docs/dags.md.
* **Watch it**: the `deliver` log ends with a table of the window's counts; its
  *CloudWatch log stream* button opens the window's stream; metrics `netskope.*` (docs/metrics.md)
  go wherever Airflow's StatsD / OpenTelemetry metrics go.
* **Downstream DAGs** can schedule on the asset `{asset}`, updated by each successful delivery.
{split}"""

SPLIT_DOC = """* **Split**: the window is pulled as {minutes}-minute sub-windows by mapped `fetch` → `to_ocsf` →
  `deliver` tasks (one log stream per sub-window), in parallel as far as the pool allows.
"""

WINDOW_HELP = "ISO-8601 UTC, whole seconds, e.g. 2026-11-02T04:00:00+00:00. Leave both empty to pull the data interval."


def build_dag(log_type: LogType, tenant: Tenant | None = None) -> DAG:
    """The DAG of one log type (of one tenant), shaped by ``DagSettings.for_log_type``."""
    tenant = tenant or Tenant()
    settings = DagSettings.for_log_type(log_type.name)
    pool = tenant.pool or settings.pool
    split_minutes = int(settings.split.total_seconds()) // 60 if settings.split else 0
    landed = delivered_asset(log_type.name, tenant.log_group)
    with DAG(
        dag_id=tenant.dag_id(log_type.name),
        description=f"Netskope {log_type.name} events{f' of tenant {tenant.name}' if tenant.name else ''} "
        "to OCSF 1.5.0 in CloudWatch Logs",
        schedule=CronDataIntervalTimetable(settings.schedule, timezone="UTC"),
        start_date=settings.start_date,
        catchup=settings.catchup,
        max_active_runs=settings.max_active_runs,
        default_args=settings.default_args,
        params={
            "window_start": Param(None, type=["null", "string"], title="Window start", description=WINDOW_HELP),
            "window_end": Param(None, type=["null", "string"], title="Window end (exclusive)", description=WINDOW_HELP),
        },
        tags=["netskope", "ocsf", "cloudwatch", log_type.name, *tenant.tags],
        doc_md=DOC.format(
            name=log_type.name,
            path=log_type.path,
            strategy=log_type.strategy.value,
            schedule=settings.schedule,
            settle=int(settings.settle.total_seconds()),
            permission=log_type.rbac_permission,
            pool=pool,
            tenant=tenant.doc_suffix,
            split=SPLIT_DOC.format(minutes=split_minutes) if split_minutes else "",
            upper=log_type.name.upper(),
            asset=landed.uri,
        ),
    ) as dag:
        fetch_args = {
            "task_id": "fetch",
            "log_type": log_type.name,
            "netskope_conn_id": tenant.conn_id,
            "settle_seconds": int(settings.settle.total_seconds()),
            "pool": pool,
        }
        window = {"window_start": "{{ params.window_start or '' }}", "window_end": "{{ params.window_end or '' }}"}
        if settings.split:
            plan = NetskopeSplitWindowOperator(
                task_id="split", split_seconds=int(settings.split.total_seconds()), **window
            )
            fetch = NetskopeFetchOperator.partial(**fetch_args).expand_kwargs(plan.output)
            to_ocsf = NetskopeToOcsfOperator.partial(task_id="to_ocsf").expand(fetch_manifest=fetch.output)
            OcsfToCloudWatchLogsOperator.partial(
                task_id="deliver", log_group=tenant.log_group, outlets=[landed]
            ).expand(transform_manifest=to_ocsf.output)
        else:
            fetch = NetskopeFetchOperator(**fetch_args, **window)
            to_ocsf = NetskopeToOcsfOperator(task_id="to_ocsf", fetch_manifest=fetch.output)
            OcsfToCloudWatchLogsOperator(
                task_id="deliver", transform_manifest=to_ocsf.output, log_group=tenant.log_group, outlets=[landed]
            )
    return dag


for _tenant in tenants():
    for _log_type in LOG_TYPES.values():
        globals()[_tenant.dag_id(_log_type.name)] = build_dag(_log_type, _tenant)
