"""Apache Airflow provider for Netskope: events and alerts to OCSF 1.5.0 in CloudWatch Logs."""

from __future__ import annotations

__version__ = "0.1.0"
