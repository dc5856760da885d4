"""Device Inventory Info (5001): Netskope infrastructure records (appliances, publishers, gateways).

Each infrastructure record reports a metric or an alarm of one Netskope-managed machine; the event
describes that machine (``device``, type Server) as logged by Netskope (activity 1 Log). The metric
or alarm itself has no OCSF home in this class: an alarm's name and description become ``message``
and ``status_detail``; a metric's name is copied to ``message`` and, with its values, stays under
``unmapped``. Records carry no severity of their own unless they are
alarms; without one the event is Informational.
"""

from __future__ import annotations

from typing import Any

from netskope_provider.ocsf.common import (
    BASE_FIELDS,
    MappingError,
    base_event,
    finalize,
    ip_text,
    observables,
    severity_id_from,
    text,
)

CLASS_UID = 5001
CLASS_NAME = "Device Inventory Info"
CATEGORY_UID = 5
CATEGORY_NAME = "Discovery"
ACTIVITY_ID = 1
SERVER = 1

ENUMS: dict[str, dict[str, int]] = {
    "activity_id": {"every infrastructure record (Log)": ACTIVITY_ID},
    "device.type_id": {"every infrastructure record (Server)": SERVER},
}

MAPPED_FIELDS: dict[str, str] = {
    **BASE_FIELDS,
    "hostname": "device.hostname",
    "device_name": "device.name",
    "serial": "device.hw_info.serial_number, device.uid",
    "ip": "device.ip",
    "package_version": "device.agent_list[].version",
    "alarm_name": "message",
    "alarm_description": "status_detail",
    "severity": "severity_id",
    "alarm_severity": "severity_id",
}
_CONSUMED = frozenset(MAPPED_FIELDS)


def build(record: dict[str, Any], log_type: str) -> dict[str, Any]:
    """OCSF Device Inventory Info event for an infrastructure record (see module docstring)."""
    get = record.get
    severity_id = severity_id_from(get("severity"), get("alarm_severity")) or 1  # none given: Informational
    event = base_event(
        record,
        log_type,
        CLASS_UID,
        CLASS_NAME,
        CATEGORY_UID,
        CATEGORY_NAME,
        ACTIVITY_ID,
        "Log",
        severity_id,
        severity=text(get("severity")) or text(get("alarm_severity")),
    )
    machine: dict[str, Any] = {"type_id": SERVER, "type": "Server"}
    hostname = text(get("hostname"))
    if hostname is not None:
        machine["hostname"] = hostname
    name = text(get("device_name"))
    if name is not None:
        machine["name"] = name
    ip = ip_text(get("ip"))
    if ip is not None:
        machine["ip"] = ip
    serial = text(get("serial"))
    if serial is not None:
        machine["uid"] = serial
        machine["hw_info"] = {"serial_number": serial}
    if len(machine) == 2:
        raise MappingError("Device Inventory Info needs the machine: the record has no hostname, device_name, ip or serial")
    machine["vendor_name"] = "Netskope"
    version = text(get("package_version"))
    if version is not None:
        machine["agent_list"] = [{"name": "Netskope", "vendor_name": "Netskope", "version": version}]
    event["device"] = machine
    message = text(get("alarm_name")) or text(get("metric_name"))
    if message is not None:
        event["message"] = message
    detail = text(get("alarm_description"))
    if detail is not None:
        event["status_detail"] = detail
    found = observables(
        [("device.hostname", "hostname", hostname), ("device.ip", "ip", ip), ("device.uid", "resource_uid", serial)]
    )
    if found:
        event["observables"] = found
    return finalize(event, record, _CONSUMED)
