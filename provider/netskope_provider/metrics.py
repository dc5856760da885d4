"""Operational metrics through Airflow's own metrics facility (StatsD or OpenTelemetry, as the deployment configures).

Each task emits its metrics once, at its end, tagged with ``tenant`` (the Netskope host) and
``log_type``, so a dashboard can show per tenant and log type what was pulled, what it cost
(API calls, bytes sent to CloudWatch) and how far behind delivery runs. Names are listed in
docs/metrics.md; plain StatsD drops tags unless the Datadog or InfluxDB tag format is enabled.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from netskope_provider.compat import Stats

if TYPE_CHECKING:
    from netskope_provider.api.client import ClientStats

RECORDS_FETCHED = "netskope.records.fetched"
API_REQUESTS = "netskope.api.requests"
API_RATE_LIMITED = "netskope.api.rate_limited"
API_RETRIES = "netskope.api.retries"
RECORDS_OCSF = "netskope.records.ocsf"
RECORDS_RAW = "netskope.records.raw"
RECORDS_REJECTED = "netskope.records.rejected"
RECORDS_DELIVERED = "netskope.records.delivered"
BYTES_DELIVERED = "netskope.bytes.delivered"
LAG_SECONDS = "netskope.delivery.lag_seconds"
RECONCILE_WINDOWS_MISMATCHED = "netskope.reconcile.windows_mismatched"
RECONCILE_RECORDS_MISSING = "netskope.reconcile.records_missing"
RECONCILE_RECORDS_SURPLUS = "netskope.reconcile.records_surplus"
RECONCILE_WINDOWS_HEALED = "netskope.reconcile.windows_healed"


#: Characters Airflow accepts in a stat name, which InfluxDB-style tags become part of; it drops the
#: whole metric otherwise (a tenant host with a port, ``host:8443``, lost every metric).
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def _tags(tenant: str | None, log_type: str, **more: str) -> dict[str, str]:
    tags = {"tenant": tenant or "unknown", "log_type": log_type, **more}
    return {name: _TAG_UNSAFE.sub("_", value) for name, value in tags.items()}


def emit_fetch(tenant: str, log_type: str, records: int, api_stats: ClientStats) -> None:
    """The fetch task's counters: records staged and the API calls, 429s and retries the pull took."""
    tags = _tags(tenant, log_type)
    Stats.incr(RECORDS_FETCHED, records, tags=tags)
    Stats.incr(API_REQUESTS, int(api_stats.total("requests")), tags=tags)
    Stats.incr(API_RATE_LIMITED, int(api_stats.total("rate_limited")), tags=tags)
    Stats.incr(API_RETRIES, int(api_stats.total("retries")), tags=tags)


def emit_delivery(summary: Mapping[str, Any], delivered_at: float) -> None:
    """The delivery task's counters from its summary, and the lag: ``delivered_at`` minus the window end.

    ``delivered`` and ``bytes`` count only what this attempt wrote (not events already present
    from an earlier attempt), so summed over time they equal what CloudWatch ingested.
    """
    log_type, tenant = str(summary["log_type"]), summary.get("tenant")
    tags = _tags(tenant, log_type)
    for class_uid, count in summary["ocsf"].items():
        Stats.incr(RECORDS_OCSF, int(count), tags=_tags(tenant, log_type, class_uid=str(class_uid)))
    Stats.incr(RECORDS_RAW, int(summary["raw"]), tags=tags)
    Stats.incr(RECORDS_REJECTED, int(summary["rejected"]), tags=tags)
    Stats.incr(RECORDS_DELIVERED, int(summary["delivery"]["delivered"]), tags=tags)
    Stats.incr(BYTES_DELIVERED, int(summary["delivery"]["bytes"]), tags=tags)
    Stats.gauge(LAG_SECONDS, max(0.0, delivered_at - summary["window"]["end"]), tags=tags)


def emit_reconcile(tenant: str, log_type: str, *, mismatched: int, missing: int, surplus: int, healed: int) -> None:
    """The reconciliation of one log type's period: windows that differ from the tenant and by how much.

    Gauges for what still differs (a later reconciliation of the same period replaces the picture),
    a counter for the windows healed.
    """
    tags = _tags(tenant, log_type)
    Stats.gauge(RECONCILE_WINDOWS_MISMATCHED, mismatched, tags=tags)
    Stats.gauge(RECONCILE_RECORDS_MISSING, missing, tags=tags)
    Stats.gauge(RECONCILE_RECORDS_SURPLUS, surplus, tags=tags)
    Stats.incr(RECONCILE_WINDOWS_HEALED, healed, tags=tags)
