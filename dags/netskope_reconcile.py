"""Airflow DAG ``netskope_reconcile``: each day, compare every hourly window's CloudWatch stream with the tenant.

With several tenants (``NETSKOPE_TENANTS``) there is one per tenant, ``netskope_<tenant>_reconcile``,
with that tenant's connection, API pool and log groups.

Parse-time settings come from the environment like the log-type DAGs' (``NETSKOPE_<NAME>`` or
``NETSKOPE_<NAME>_RECONCILE``), except the schedule: daily at midnight UTC unless
``NETSKOPE_SCHEDULE_RECONCILE`` is set. Healing is switched at run time; see docs/reconcile.md.
"""

from __future__ import annotations

import os

from netskope_provider.compat import DAG, CronDataIntervalTimetable, Param
from netskope_provider.config import DagSettings, Tenant, tenants
from netskope_provider.operators.reconcile import NetskopeReconcileOperator

DOC = """
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
* **Custom period**: params `window_start` / `window_end` (ISO-8601, whole hours); param
  `log_types` limits the check to some log types.
* Counting starts {settle} s after the period closed. Records the pipeline rejected (quarantined
  under `<staging_base>/_rejected/`) show as `MISSING` and stay so after a heal.
* Uses the pool `{pool}` (it calls the Netskope API) and reads every window's stream back
  (`logs:DescribeLogStreams`, `logs:GetLogEvents`).
"""

WINDOW_HELP = (
    "ISO-8601 UTC on a whole hour, e.g. 2026-11-02T00:00:00+00:00. Leave both empty to check the data interval."
)
#: The hourly default of the log-type DAGs (and a global NETSKOPE_SCHEDULE) would not suit a daily check.
DEFAULT_SCHEDULE = "0 0 * * *"

settings = DagSettings.for_log_type("reconcile")  # validates NETSKOPE_SCHEDULE_RECONCILE when set
schedule = settings.schedule if os.environ.get("NETSKOPE_SCHEDULE_RECONCILE", "").strip() else DEFAULT_SCHEDULE


def build_reconcile_dag(tenant: Tenant) -> DAG:
    """The reconciliation DAG of one tenant: its connection, API pool and log groups."""
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
                title="Log types",
                description='Empty: every log type; e.g. ["audit", "alert"].',
            ),
            "window_start": Param(None, type=["null", "string"], title="Period start", description=WINDOW_HELP),
            "window_end": Param(None, type=["null", "string"], title="Period end (exclusive)", description=WINDOW_HELP),
        },
        tags=["netskope", "reconcile", "cloudwatch", *tenant.tags],
        doc_md=DOC.format(
            schedule=schedule,
            settle=int(settings.settle.total_seconds()),
            pool=pool,
            tenant=tenant.doc_suffix,
        ),
    ) as dag:
        NetskopeReconcileOperator(
            task_id="reconcile",
            window_start="{{ params.window_start or '' }}",
            window_end="{{ params.window_end or '' }}",
            settle_seconds=int(settings.settle.total_seconds()),
            netskope_conn_id=tenant.conn_id,
            log_group=tenant.log_group,
            tenant=tenant.name,
            pool=pool,
        )
    return dag


for _tenant in tenants():
    globals()[_tenant.dag_id("reconcile")] = build_reconcile_dag(_tenant)
