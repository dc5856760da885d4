"""The Netskope log types this provider collects, and how each one is pulled.

The table itself lives in ``netskope_provider.registry`` beside the OCSF classes; this module
keeps the names the client, hook and DAG factory import.
"""

from __future__ import annotations

from netskope_provider.registry import LOG_TYPES, LogType, Strategy, get_log_type

__all__ = ["LOG_TYPES", "LogType", "Strategy", "get_log_type"]
