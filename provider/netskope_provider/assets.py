"""The Airflow Asset (Dataset on Airflow 2) a delivery task updates: one per log group and log type.

Downstream DAGs schedule on ``delivered_asset("alert")`` to run whenever new Netskope alert
events landed in CloudWatch Logs. The URI is fixed when the DAG file is parsed, so it names the
log group of the parse-time settings (the tenant's ``log_group``, else ``NETSKOPE_LOG_GROUP``,
else the default); a Variable ``netskope_log_group`` set later changes where events go, not the URI.
"""

from __future__ import annotations

import os
from urllib.parse import quote

from netskope_provider.compat import Asset
from netskope_provider.config import RUN_SETTING_DEFAULTS

SCHEME = "netskope"


def delivered_asset(log_type: str, log_group: str | None = None) -> Asset:
    """``netskope://cloudwatch-logs/<log group>?log_type=<type>`` for a log type's log group (``{log_type}`` filled in)."""
    group = (log_group or os.environ.get("NETSKOPE_LOG_GROUP") or RUN_SETTING_DEFAULTS["log_group"]).replace(
        "{log_type}", log_type
    )
    return Asset(f"{SCHEME}://cloudwatch-logs/{quote(group.strip('/'), safe='/')}?log_type={quote(log_type, safe='')}")
