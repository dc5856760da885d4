"""Deliver a window's staged events to CloudWatch Logs through the amazon provider's ``AwsLogsHook``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from netskope_provider import pipeline, staging
from netskope_provider.compat import BaseOperator
from netskope_provider.links import CloudWatchWindowLink

if TYPE_CHECKING:
    from netskope_provider.compat import Context


class OcsfToCloudWatchLogsOperator(BaseOperator):
    """Put the transform task's events into their log streams, exactly once.

    Each event's stream is fixed by the event itself (docs/delivery.md), and delivery reads a
    stream back and sends only what it lacks, so a retry, a cleared task or a backfill over
    delivered windows leaves exactly one copy of each event. Events CloudWatch cannot take (under
    the timestamp policy) are kept with their reason in the run's quarantine file. The task fails
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
    :param staging_retention_hours: keep the run's staged files this long after success (default: setting).
    """

    template_fields: Sequence[str] = ("transform_manifest", "aws_conn_id", "log_group", "timestamp_policy")
    ui_color = "#fdf1e3"
    operator_extra_links = (CloudWatchWindowLink(),)

    def __init__(
        self,
        *,
        transform_manifest: pipeline.MapManifest | Any,
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

    def execute(self, context: Context) -> pipeline.DeliverySummary:
        mapped = self.transform_manifest
        return pipeline.deliver(
            mapped,
            staging.TaskStaging.of_task(context["ti"], mapped["staging_base"], mapped["staging_conn_id"]),
            aws_conn_id=self.aws_conn_id,
            log_group=self.log_group,
            timestamp_policy=self.timestamp_policy,
            log_group_retention_days=self.log_group_retention_days,
            staging_retention_hours=self.staging_retention_hours,
            link=lambda **parts: CloudWatchWindowLink.persist(context, self, **parts),
        )
