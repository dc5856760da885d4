"""Map a staged raw file to deliverable OCSF / raw events, with per-class, raw and rejected counts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from netskope_provider import pipeline, staging
from netskope_provider.compat import BaseOperator

if TYPE_CHECKING:
    from netskope_provider.compat import Context


class NetskopeToOcsfOperator(BaseOperator):
    """Hand the fetch task's deliverable events to the delivery, after checking its books.

    Each record becomes an OCSF 1.5.0 event (when its class is supported), the raw record unchanged
    (when not), or a rejection kept with its reason in the run's quarantine file. The fetch task
    maps each page as it arrives, so this task checks its counts and staged events and passes them
    on; a manifest without a mapping (fetched by earlier code) has its staged raw records mapped
    here. Returns (XCom) a manifest with the staged events file and the counts; fails when the
    counts do not balance.

    :param fetch_manifest: the fetch task's return value (usually ``fetch_task.output``).
    """

    template_fields: Sequence[str] = ("fetch_manifest",)
    ui_color = "#eef7ec"

    def __init__(self, *, fetch_manifest: pipeline.FetchManifest | Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fetch_manifest = fetch_manifest

    def execute(self, context: Context) -> pipeline.MapManifest:
        fetched = self.fetch_manifest
        area = staging.TaskStaging.of_task(context["ti"], fetched["staging_base"], fetched["staging_conn_id"])
        return pipeline.map_window(fetched, area)
