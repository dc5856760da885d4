"""Deliver a staged events file to CloudWatch Logs through the amazon provider's ``AwsLogsHook``."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from netskope_provider import config, metrics, staging
from netskope_provider.compat import AirflowFailException, BaseOperator
from netskope_provider.links import CloudWatchWindowLink
from netskope_provider.operators.transform import check_balance

if TYPE_CHECKING:
    from netskope_provider.compat import Context


def summary_table(summary: Mapping[str, Any]) -> str:
    """The window's counts as a small aligned table, the last thing a person reads in the task log."""
    delivery = summary["delivery"]
    rows = [
        ("fetched", summary["fetched"]),
        *((f"OCSF class {uid}", count) for uid, count in summary["ocsf"].items()),
        ("raw", summary["raw"]),
        ("rejected", summary["rejected"]),
        ("delivered", summary["delivered"]),
        ("  new", delivery["delivered"]),
        ("  already present", delivery["already_present"]),
        ("  restamped", delivery["restamped"]),
        ("refused by CloudWatch", summary["refused"]),
    ]
    window = summary["window"]
    header = f"{summary['log_type']} [{window['start_iso']}, {window['end_iso']}) -> {summary['log_group']} / {summary['log_stream']}"
    width = max(len(label) for label, _ in rows)
    return "\n".join([header, *(f"  {label:<{width}}  {count:>10,}" for label, count in rows)])


class OcsfToCloudWatchLogsOperator(BaseOperator):
    """Put the transform task's events into one log stream per log type and window.

    The stream name is fixed by the window, and ``cloudwatch.deliver`` reads an existing stream
    back and sends only what is missing, so a retry, a cleared task or a backfill over delivered
    windows leaves exactly one copy of each event. Events CloudWatch cannot take (under the
    timestamp policy) are kept with their reason in the run's quarantine file. The task fails
    unless fetched = OCSF + raw + rejected and every OCSF/raw event is delivered or quarantined.
    After success the run's staged files are removed (or kept for ``staging_retention_hours``).
    Each attempt emits the ``netskope.*`` delivery metrics once, logs the window's summary table
    and stores the data of its *CloudWatch log stream* extra link (docs/metrics.md).

    :param transform_manifest: the transform task's return value (usually ``transform_task.output``).
    :param aws_conn_id: AWS connection (default: setting ``aws_conn_id``).
    :param log_group: log group; ``{log_type}`` is filled in (default: setting ``log_group``).
    :param timestamp_policy: ``ingest_time``, ``reject`` or ``fail`` (default: setting ``timestamp_policy``).
    :param log_group_retention_days: retention of a group the provider creates (default: setting
        ``log_group_retention_days``, 365; 0: never expire).
    """

    template_fields: Sequence[str] = ("transform_manifest", "aws_conn_id", "log_group", "timestamp_policy")
    ui_color = "#fdf1e3"
    operator_extra_links = (CloudWatchWindowLink(),)

    def __init__(
        self,
        *,
        transform_manifest: Mapping[str, Any] | Any,
        aws_conn_id: str | None = None,
        log_group: str | None = None,
        timestamp_policy: str | None = None,
        log_group_retention_days: int | None = None,
        staging_retention_hours: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.transform_manifest = transform_manifest
        self.aws_conn_id = aws_conn_id
        self.log_group = log_group
        self.timestamp_policy = timestamp_policy
        self.log_group_retention_days = log_group_retention_days
        self.staging_retention_hours = staging_retention_hours

    def execute(self, context: Context) -> dict[str, object]:
        from airflow.providers.amazon.aws.hooks.logs import AwsLogsHook

        from netskope_provider import cloudwatch

        mapped = self.transform_manifest
        check_balance(mapped)
        log_type, window = mapped["log_type"], mapped["window"]
        base, store_conn = mapped["staging_base"], mapped["staging_conn_id"]
        ti = context["ti"]
        group = config.log_group_for(log_type, self.log_group)
        stream = cloudwatch.stream_name(log_type, window["start"], window["end"])
        policy = config.run_setting("timestamp_policy", self.timestamp_policy)
        quarantine = staging.Quarantine(
            staging.quarantine_file(
                base,
                ti.dag_id,
                ti.run_id,
                ti.try_number,
                "delivery",
                store_conn,
                map_index=getattr(ti, "map_index", -1),
            )
        )
        aws = AwsLogsHook(aws_conn_id=config.run_setting("aws_conn_id", self.aws_conn_id))
        logs = aws.conn
        CloudWatchWindowLink.persist(
            context,
            self,
            region_name=aws.conn_region_name,
            aws_partition=aws.conn_partition,
            log_group=group,
            log_stream=stream,
            endpoint_url=logs.meta.endpoint_url,
        )
        cloudwatch.ensure_log_group(
            logs, group, retention_days=config.log_group_retention_days(self.log_group_retention_days)
        )
        events = (
            staging.decode_event(line)
            for line in staging.read_lines(staging.staging_path(mapped["events"]["location"], store_conn))
        )
        self.log.info(
            "Delivering %d %s events to %s / %s (timestamp policy %s)",
            mapped["events"]["records"],
            log_type,
            group,
            stream,
            policy,
        )
        try:
            report = cloudwatch.deliver(
                events,
                logs,
                group,
                stream,
                timestamp_policy=policy,
                on_rejected=lambda _ts, message, reason: quarantine.add(reason, message),
            )
        finally:
            refused_location = quarantine.close()
        summary: dict[str, object] = {
            "log_type": log_type,
            "tenant": mapped.get("tenant"),
            "window": window,
            "log_group": group,
            "log_stream": stream,
            "fetched": mapped["fetched"],
            "ocsf": mapped["ocsf"],
            "ocsf_total": mapped["ocsf_total"],
            "raw": mapped["raw"],
            "rejected": mapped["rejected"],
            "delivered": report.delivered + report.already_present,
            "refused": report.rejected,
            "refused_location": refused_location,
            "delivery": report.as_dict(),
        }
        metrics.emit_delivery(summary, time.time())
        self.log.info("Summary\n%s", summary_table(summary))
        expected = mapped["ocsf_total"] + mapped["raw"]
        if report.events != expected or report.delivered + report.already_present + report.rejected != expected:
            raise AirflowFailException(
                f"Delivery does not balance for {log_type} {window['start_iso']}: {expected} OCSF+raw events staged, "
                f"{report.events} read, {summary['delivered']} delivered, {report.rejected} refused. "
                "Clear the whole DAG run to redo the window."
            )
        if report.rejected:
            self.log.warning(
                "CloudWatch could not take %d events under timestamp policy %r (%s); kept with their reason at %s",
                report.rejected,
                policy,
                report.rejected_reasons,
                refused_location,
            )
        own_files = (
            (mapped["fetched_location"], mapped["events"]["location"]) if getattr(ti, "map_index", -1) >= 0 else None
        )
        self._clean_staging(base, store_conn, ti.dag_id, ti.run_id, own_files)
        return summary

    def _clean_staging(
        self, base: str, store_conn: str | None, dag_id: str, run_id: str, own_files: Sequence[str] | None
    ) -> None:
        """Remove this run's staged files now (retention 0) or mark them done, and sweep expired runs.

        A sub-window of a split window (``own_files`` given) removes only its own files: its siblings may still run.
        """
        retention = config.staging_retention(self.staging_retention_hours)
        if retention:
            staging.mark_delivered(base, dag_id, run_id, store_conn)
        elif own_files:
            staging.remove_staged(own_files, store_conn)
        else:
            staging.remove_run(base, dag_id, run_id, store_conn)
        removed = staging.sweep_expired(base, dag_id, retention, store_conn)
        if removed:
            self.log.info("Removed staged files of %d expired runs of %s", len(removed), dag_id)
