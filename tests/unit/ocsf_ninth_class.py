"""Device Config State (5002) from Netskope Client status records: a test-only class.

``test_ocsf_registry.py`` registers it, with a ``clientstatus`` log type, to show that adding a
class and a log type takes one registry entry each plus this module: routing, the mapper, the
validator and the doc generator find it without any other change.
"""

from __future__ import annotations

from typing import Any, Final

from netskope_provider.ocsf.common import BASE_FIELDS, MappingError, base_event, finalize, text
from netskope_provider.registry import OcsfClass

EVENT_CLASS: Final = OcsfClass(5002, "Device Config State", 5, "Discovery", __name__, "config_state", ("clientstatus",))

MAPPED_FIELDS: Final[dict[str, str]] = {
    **BASE_FIELDS,
    "hostname": "device.hostname",
    "client_version": "device.agent_list[].version",
}
READ_FIELDS: Final[dict[str, str]] = {}
ENUMS: Final[dict[str, dict[str, int]]] = {"activity_id": {"every client status record (Log)": 1}}
_CONSUMED: Final = frozenset(MAPPED_FIELDS)


def build(record: dict[str, Any], log_type: str) -> dict[str, Any]:
    """The Device Config State event of one Netskope Client's status."""
    hostname = text(record.get("hostname"))
    if hostname is None:
        raise MappingError("client status names no device: the record has no hostname")
    event = base_event(record, log_type, EVENT_CLASS, 1, "Log", 1)
    device: dict[str, Any] = {"hostname": hostname, "type_id": 0, "type": "Unknown"}
    version = text(record.get("client_version"))
    if version is not None:
        device["agent_list"] = [{"name": "Netskope Client", "vendor_name": "Netskope", "version": version}]
    event["device"] = device
    return finalize(event, record, _CONSUMED)
