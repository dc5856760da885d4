"""Device Inventory Info (5001): Netskope infrastructure records (appliances, publishers, gateways).

Each infrastructure record reports a metric or an alarm of one Netskope-managed machine; the event
describes that machine (``device``, type Server) as logged by Netskope (activity 1 Log). The metric
or alarm itself has no OCSF home in this class: an alarm's name and description become ``message``
and ``status_detail``; a metric's name is copied to ``message`` and, with its values, stays under
``unmapped``. Records carry no severity of their own unless they are
alarms; without one the event is Informational.
"""

from __future__ import annotations

from typing import Any, Final

from netskope_provider.ocsf.common import (
    BASE_FIELDS,
    MappingError,
    base_event,
    finalize,
    host_and_ip,
    observe,
    set_present,
    set_text,
    severity_id_from,
    text,
)
from netskope_provider.registry import CLASSES

CLASS_UID: Final = 5001
EVENT_CLASS: Final = CLASSES[CLASS_UID]
ACTIVITY_ID: Final = 1
SERVER: Final = 1

ENUMS: Final[dict[str, dict[str, int]]] = {
    "activity_id": {"every infrastructure record (Log)": ACTIVITY_ID},
    "device.type_id": {"every infrastructure record (Server)": SERVER},
}

MAPPED_FIELDS: Final[dict[str, str]] = {
    **BASE_FIELDS,
    "hostname": "device.hostname (an IP literal: device.ip)",
    "device_name": "device.name",
    "serial": "device.hw_info.serial_number, device.uid",
    "ip": "device.ip",
    "package_version": "device.agent_list[].version",
    "alarm_name": "message",
    "alarm_description": "status_detail",
    "severity": "severity_id",
    "alarm_severity": "severity_id",
}
READ_FIELDS: Final[dict[str, str]] = {"metric_name": "message when there is no alarm_name"}
_CONSUMED: Final = frozenset(MAPPED_FIELDS)


def build(record: dict[str, Any], log_type: str) -> dict[str, Any]:
    """OCSF Device Inventory Info event for an infrastructure record (see module docstring)."""
    severity_id = (
        severity_id_from(record.get("severity"), record.get("alarm_severity")) or 1
    )  # none given: Informational
    severity = text(record.get("severity")) or text(record.get("alarm_severity"))
    event = base_event(record, log_type, EVENT_CLASS, ACTIVITY_ID, "Log", severity_id, severity=severity)
    machine: dict[str, Any] = {"type_id": SERVER, "type": "Server"}
    hostname, ip = host_and_ip(record.get("hostname"), record.get("ip"))
    set_present(machine, "hostname", hostname)
    set_text(machine, "name", record.get("device_name"))
    set_present(machine, "ip", ip)
    serial = text(record.get("serial"))
    if serial is not None:
        machine["uid"] = serial
        machine["hw_info"] = {"serial_number": serial}
    if len(machine) == 2:
        raise MappingError(
            "Device Inventory Info needs the machine: the record has no hostname, device_name, ip or serial"
        )
    machine["vendor_name"] = "Netskope"
    version = text(record.get("package_version"))
    if version is not None:
        machine["agent_list"] = [{"name": "Netskope", "vendor_name": "Netskope", "version": version}]
    event["device"] = machine
    set_present(event, "message", text(record.get("alarm_name")) or text(record.get("metric_name")))
    set_text(event, "status_detail", record.get("alarm_description"))
    found: list[dict[str, Any]] = []
    observe(found, "device.hostname", "hostname", hostname)
    observe(found, "device.ip", "ip", ip)
    observe(found, "device.uid", "resource_uid", serial)
    if found:
        event["observables"] = found
    return finalize(event, record, _CONSUMED)
