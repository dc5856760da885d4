"""Every Airflow DAG of the provider, built from ``LOG_TYPES`` and the ``NETSKOPE_*`` settings.

A deployment gets them all with one DAG file of two statements (``DAG_FILE``, written by
``netskope-provider install-dags``): one DAG per Netskope log type and tenant (fetch -> OCSF ->
CloudWatch Logs) and one reconciliation DAG per tenant. Parse-time settings come from ``NETSKOPE_*``
environment variables, read on each call (tenants from ``NETSKOPE_TENANTS``; sub-windows from
``NETSKOPE_SPLIT_MINUTES``); run-time settings from Airflow Variables ``netskope_*`` or the
environment. See docs/dags.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from netskope_provider.assets import delivered_asset
from netskope_provider.compat import DAG, CronDataIntervalTimetable, Param
from netskope_provider.config import DagSettings, Tenant, tenants
from netskope_provider.log_types import LOG_TYPES, LogType
from netskope_provider.operators.cloudwatch import OcsfToCloudWatchLogsOperator
from netskope_provider.operators.fetch import NetskopeFetchOperator
from netskope_provider.operators.reconcile import NetskopeReconcileOperator
from netskope_provider.operators.split import NetskopeSplitWindowOperator
from netskope_provider.operators.transform import NetskopeToOcsfOperator

#: The DAG file a deployment puts in its DAGs folder (the repository's ``dags/`` holds exactly this).
#: Airflow's safe mode parses only files that mention both "airflow" and "dag": the docstring does.
DAG_FILE_NAME = "netskope_dags.py"
DAG_FILE = '''"""Airflow DAGs of airflow-provider-netskope: one per Netskope log type, and the reconciliation.

Written by `netskope-provider install-dags`; shaped by the NETSKOPE_* settings (docs/dags.md).
"""

from netskope_provider.dag_factory import netskope_dags

globals().update(netskope_dags())
'''

# --- the custom window param ------------------------------------------------------------------
# Airflow validates a trigger's conf against each param's JSON schema on its own, before the run is
# created (Airflow 3.3: SerializedParamsDict.validate in create_dagrun; 2.11: ParamsDict.validate),
# and never runs provider code there. Two params cannot be compared, so the window is one param,
# an ISO-8601 interval "start/end", and its order is a regular expression: both ends are fixed-width
# UTC stamps, so start < end is "equal up to some digit, where the end's digit is larger".
# ``format: date-time`` is not used: jsonschema checks it only when rfc3339-validator happens to be
# installed (Airflow 3 does not require it), and the UI would render a local-time picker.
_UTC_INSTANT = (
    r"20[0-9]{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):MM:SS(?:Z|\+00:00)"
)
_END_AFTER_START = "^([^/]*)(?:" + "|".join(f"{d}[^/]*/\\1[{d + 1}-9]" for d in range(9)) + ")"
WINDOW_EXAMPLE = "2026-11-02T04:00:00Z/2026-11-02T05:00:00Z"


def window_param(*, whole_hours: bool = False) -> Param:
    """The ``window`` param: empty for the data interval, else ``start/end`` checked before a run exists."""
    sixty = "00" if whole_hours else "[0-5][0-9]"
    instant = _UTC_INSTANT.replace("MM", sixty).replace("SS", sixty)
    unit = "whole hours" if whole_hours else "whole seconds"
    return Param(
        None,
        type=["null", "string"],
        title="Custom window (start/end, UTC)",
        description=(
            f"Empty: the run's data interval. Else an ISO-8601 interval in UTC, {unit}, start included, "
            f"end excluded, e.g. {WINDOW_EXAMPLE}. The end must be after the start; the window must not "
            "end in the future or be longer than the maximum span (both checked when the run starts)."
        ),
        allOf=[
            {
                # Short: Airflow's error shows it, and pprint would break a longer one across lines.
                "description": f"start/end: YYYY-MM-DDTHH:{'00:00' if whole_hours else 'MM:SS'}Z, years 2000-2099",
                "pattern": f"^{instant}/{instant}$",
            },
            {"description": "the end must be after the start", "pattern": _END_AFTER_START},
        ],
    )


#: The operators' window arguments, from the ``window`` param (empty strings: the data interval).
WINDOW_START = "{{ (params.window or '').partition('/')[0] }}"
WINDOW_END = "{{ (params.window or '').partition('/')[2] }}"
#: A task instance's label: the window it pulls (Airflow's rendered map index; no database write from the task).
WINDOW_LABEL = (
    "{% if task.window_start %}{{ task.window_start }}/{{ task.window_end }}"
    "{% elif data_interval_start is defined and data_interval_start %}"
    "{{ data_interval_start | ts }}/{{ data_interval_end | ts }}{% endif %}"
)

# --- the log-type DAGs ------------------------------------------------------------------------

DOC = """
### Netskope {name} events → OCSF 1.5.0 → CloudWatch Logs{tenant}

Pulls `/api/v2/{path}` for the run's data interval `[start, end)` (records whose insertion
time falls in it; strategy `{strategy}`), maps each record to OCSF 1.5.0 or keeps it raw, and
delivers to the log group (Variable `netskope_log_group`, default `/netskope/ocsf/{name}`),
one log stream per window.

* **Schedule** `{schedule}` (UTC) with a data-interval timetable; a window is queried
  {settle} s after it closed.
* **Custom window**: trigger with param `window` = `start/end` (ISO-8601 UTC, whole seconds, e.g.
  `{example}`); a malformed or reversed window is refused before the run exists. The `fetch` task's
  label (map index) shows the window pulled. A run triggered without a logical date and without
  a window fails and says how to trigger it.
* **Reruns are safe**: clearing a task or the run, a retry after a crash, or a backfill over
  delivered windows leaves exactly one copy of each record in CloudWatch.
* **Counts**: the `deliver` task's XCom holds fetched = OCSF + raw + rejected and the delivered
  count; a run whose counts do not balance fails. Rejected records are kept with their reason
  under `<staging_base>/_rejected/`.
* **Needs** the Netskope API token's RBAC v3 permission *{permission}*, and the pool
  `{pool}` (`airflow pools set {pool} 4 "Netskope API"`).
* **Knobs** at run time (Variable / environment): `netskope_conn_id`, `netskope_aws_conn_id`,
  `netskope_log_group`, `netskope_log_group_retention_days`, `netskope_timestamp_policy` (`ingest_time`
  restamps events older than CloudWatch takes, `reject` quarantines them, `fail` fails the task),
  `netskope_staging_base`, `netskope_staging_retention_hours`, `netskope_staging_kms_key_id`. At parse
  time (environment): `NETSKOPE_SCHEDULE`, `NETSKOPE_SETTLE_SECONDS`, `NETSKOPE_START_DATE`,
  `NETSKOPE_CATCHUP`, `NETSKOPE_RETRIES`, `NETSKOPE_MAX_ACTIVE_RUNS`, `NETSKOPE_POOL` (each also per
  log type, e.g. `NETSKOPE_SCHEDULE_{upper}`). See docs/dags.md.
* **Watch it**: the `deliver` log ends with a table of the window's counts; its
  *CloudWatch log stream* button opens the window's stream; metrics `netskope.*` (docs/metrics.md)
  go wherever Airflow's StatsD / OpenTelemetry metrics go.
* **Downstream DAGs** can schedule on the asset `{asset}`, updated by each successful delivery.
{split}"""

SPLIT_DOC = """* **Split**: the window is pulled as {minutes}-minute sub-windows by mapped `fetch` → `to_ocsf` →
  `deliver` tasks (one log stream per sub-window), in parallel as far as the pool allows.
"""


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
        params={"window": window_param()},
        tags=["netskope", "ocsf", "cloudwatch", log_type.name, *tenant.tags],
        doc_md=DOC.format(
            name=log_type.name,
            path=log_type.path,
            strategy=log_type.strategy.value,
            schedule=settings.schedule,
            settle=int(settings.settle.total_seconds()),
            example=WINDOW_EXAMPLE,
            permission=log_type.rbac_permission,
            pool=pool,
            tenant=tenant.doc_suffix,
            split=SPLIT_DOC.format(minutes=split_minutes) if split_minutes else "",
            upper=log_type.name.upper(),
            asset=landed.uri,
        ),
    ) as dag:
        fetch_args: dict[str, Any] = {
            "task_id": "fetch",
            "log_type": log_type.name,
            "netskope_conn_id": tenant.conn_id,
            "settle_seconds": int(settings.settle.total_seconds()),
            "pool": pool,
            "map_index_template": WINDOW_LABEL,
        }
        if settings.split:
            plan = NetskopeSplitWindowOperator(
                task_id="split",
                split_seconds=int(settings.split.total_seconds()),
                window_start=WINDOW_START,
                window_end=WINDOW_END,
            )
            fetch_parts = NetskopeFetchOperator.partial(**fetch_args).expand_kwargs(plan.output)
            map_parts = NetskopeToOcsfOperator.partial(task_id="to_ocsf").expand(fetch_manifest=fetch_parts.output)
            OcsfToCloudWatchLogsOperator.partial(
                task_id="deliver", log_group=tenant.log_group, outlets=[landed]
            ).expand(transform_manifest=map_parts.output)
        else:
            fetch = NetskopeFetchOperator(**fetch_args, window_start=WINDOW_START, window_end=WINDOW_END)
            to_ocsf = NetskopeToOcsfOperator(task_id="to_ocsf", fetch_manifest=fetch.output)
            OcsfToCloudWatchLogsOperator(
                task_id="deliver", transform_manifest=to_ocsf.output, log_group=tenant.log_group, outlets=[landed]
            )
    return dag


# --- the reconciliation DAG -------------------------------------------------------------------

RECONCILE_DOC = """
### Netskope reconciliation{tenant}: CloudWatch against the tenant, per log type and hourly window

For each log type and each hour of the run's data interval (schedule `{schedule}`,
UTC), counts the events in the hour's log stream (`netskope/<type>/<start>-<end>`) and asks the
tenant how many records it holds for the same hour (its count query on `data/*` endpoints; a
re-pull of the ids for incident and endpoint). The `reconcile` task's log shows a table of every
window; windows that differ are marked `MISSING` or `SURPLUS` and listed in its XCom.

* **Heal** (off by default): param `heal`, else Variable `netskope_reconcile_heal`, else env
  `NETSKOPE_RECONCILE_HEAL`. When on, every `MISSING` window is re-run (fetch → OCSF → deliver,
  the log type's own operators); delivery adds only what the stream lacks, so each missing record
  lands once. `SURPLUS` windows are reported only.
* **Custom period**: param `window` = `start/end` (ISO-8601 UTC, whole hours); param
  `log_types` limits the check to some log types.
* Counting starts {settle} s after the period closed. Records the pipeline rejected (quarantined
  under `<staging_base>/_rejected/`) show as `MISSING` and stay so after a heal.
* Uses the pool `{pool}` (it calls the Netskope API) and reads every window's stream back
  (`logs:DescribeLogStreams`, `logs:GetLogEvents`).
"""

#: The hourly default of the log-type DAGs (and a global NETSKOPE_SCHEDULE) would not suit a daily check.
RECONCILE_SCHEDULE = "0 0 * * *"


def build_reconcile_dag(tenant: Tenant | None = None) -> DAG:
    """The reconciliation DAG of one tenant: its connection, API pool and log groups.

    Parse-time settings are the log-type DAGs' (``NETSKOPE_<NAME>`` or ``NETSKOPE_<NAME>_RECONCILE``),
    except the schedule: daily at midnight UTC unless ``NETSKOPE_SCHEDULE_RECONCILE`` is set.
    """
    tenant = tenant or Tenant()
    settings = DagSettings.for_log_type("reconcile")  # validates NETSKOPE_SCHEDULE_RECONCILE when set
    schedule = settings.schedule if os.environ.get("NETSKOPE_SCHEDULE_RECONCILE", "").strip() else RECONCILE_SCHEDULE
    pool = tenant.pool or settings.pool
    with DAG(
        dag_id=tenant.dag_id("reconcile"),
        description="Compare delivered Netskope windows in CloudWatch with the tenant's counts; optionally re-run gaps",
        schedule=CronDataIntervalTimetable(schedule, timezone="UTC"),
        start_date=settings.start_date,
        catchup=settings.catchup,
        max_active_runs=1,
        default_args=settings.default_args,
        params={
            "heal": Param(
                None,
                type=["null", "boolean"],
                title="Re-run windows that miss records",
                description="Empty: Variable netskope_reconcile_heal (default off).",
            ),
            "log_types": Param(
                None,
                type=["null", "array"],
                items={"type": "string", "enum": list(LOG_TYPES)},
                title="Log types",
                description='Empty: every log type; e.g. ["audit", "alert"].',
            ),
            "window": window_param(whole_hours=True),
        },
        tags=["netskope", "reconcile", "cloudwatch", *tenant.tags],
        doc_md=RECONCILE_DOC.format(
            schedule=schedule, settle=int(settings.settle.total_seconds()), pool=pool, tenant=tenant.doc_suffix
        ),
    ) as dag:
        NetskopeReconcileOperator(
            task_id="reconcile",
            window_start=WINDOW_START,
            window_end=WINDOW_END,
            settle_seconds=int(settings.settle.total_seconds()),
            netskope_conn_id=tenant.conn_id,
            log_group=tenant.log_group,
            tenant=tenant.name,
            pool=pool,
            map_index_template=WINDOW_LABEL,
        )
    return dag


def netskope_dags() -> dict[str, DAG]:
    """Every DAG of the deployment by id: eight log-type DAGs and a reconciliation DAG per tenant.

    Reads the parse-time settings afresh on each call; a bad value raises ``ValueError`` naming
    the variable, which Airflow shows as the DAG file's import error.
    """
    dags: dict[str, DAG] = {}
    for tenant in tenants():
        for log_type in LOG_TYPES.values():
            dags[tenant.dag_id(log_type.name)] = build_dag(log_type, tenant)
        dags[tenant.dag_id("reconcile")] = build_reconcile_dag(tenant)
    return dags


def write_dag_file(dags_folder: Path, *, force: bool = False) -> Path:
    """Write ``DAG_FILE`` into ``dags_folder`` (created if missing); an existing different file needs ``force``."""
    target = dags_folder / DAG_FILE_NAME
    if target.exists() and target.read_text(encoding="utf-8") != DAG_FILE and not force:
        raise FileExistsError(f"{target} exists with other content; pass --force to replace it")
    dags_folder.mkdir(parents=True, exist_ok=True)
    target.write_text(DAG_FILE, encoding="utf-8")
    return target
