"""Network Activity (4001): Netskope network events (Cloud Firewall / NPA) and page connection records.

The ``action`` decides the activity: a session's ``Closed``/``Idle Timeout`` record is 2 Close, a
``Block`` is 5 Refuse, and every other record (``Allow``, ``Bypass``, ``Proceed``, page connection
records without an action) reports traffic, 6 Traffic. Network logs carry no threat severity, so
``severity_id`` is 1 Informational unless the record's own ``severity`` says otherwise. The
connection is outbound (2): Netskope sees user traffic on its way to the app or site. A record
with neither a usable source nor destination (address, host name or domain) is delivered raw.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from netskope_provider.ocsf.common import (
    BASE_FIELDS,
    SECURITY_CONTROL_FIELDS,
    MappingError,
    base_event,
    device,
    epoch_ms,
    finalize,
    integer,
    observe,
    observe_part,
    routing_key,
    security_control,
    set_present,
    set_text,
    severity_id_from,
    text,
    url,
)
from netskope_provider.ocsf.parts import (
    ACTOR_USER_FIELDS,
    DST_ENDPOINT_FIELDS,
    HOST_DEVICE_FIELDS,
    HOST_DEVICE_READ_FIELDS,
    SRC_ENDPOINT_FIELDS,
    action_word,
    actor,
    dst_endpoint,
    iso_ms,
    put,
    src_endpoint,
)
from netskope_provider.registry import CLASSES

CLASS_UID: Final = 4001
EVENT_CLASS: Final = CLASSES[CLASS_UID]

#: Netskope ``action`` → (activity_id, activity_name, status_id).
ACTIVITIES: Final[dict[str, tuple[int, str, int]]] = {
    "allow": (6, "Traffic", 1),
    "bypass": (6, "Traffic", 1),
    "proceed": (6, "Traffic", 1),
    "block": (5, "Refuse", 2),
    "closed": (2, "Close", 1),
    "idle timeout": (2, "Close", 1),
}
#: The same table keyed the way routing matches the spec's values (case and spaces ignored).
_ACTIVITY_BY_KEY: Final = {routing_key(action): ids for action, ids in ACTIVITIES.items()}
#: A record without an action (page connection records) reports traffic; its status is not known.
NO_ACTION: Final = (6, "Traffic", None)

#: IANA protocol numbers for Netskope's ``ip_protocol`` names.
PROTOCOL_NUMBERS: Final[dict[str, int]] = {
    "icmp": 1,
    "igmp": 2,
    "tcp": 6,
    "udp": 17,
    "gre": 47,
    "esp": 50,
    "ah": 51,
    "icmpv6": 58,
    "sctp": 132,
}

CONNECTION_FIELDS: Final[dict[str, str]] = {
    "ip_protocol": "connection_info.protocol_name, connection_info.protocol_num",
    "network_session_id": "connection_info.uid",
}
TRAFFIC_FIELDS: Final[dict[str, str]] = {
    "client_bytes": "traffic.bytes_out",
    "server_bytes": "traffic.bytes_in",
    "numbytes": "traffic.bytes",
    "client_packets": "traffic.packets_out",
    "server_packets": "traffic.packets_in",
    "total_packets": "traffic.packets",
}
#: (source field, traffic attribute), in the order the event lists them.
_TRAFFIC: Final = tuple((field, path.split(".", 1)[1]) for field, path in TRAFFIC_FIELDS.items())

MAPPED_FIELDS: Final[dict[str, str]] = {
    **BASE_FIELDS,
    "action": "activity_id, status_id, action_id, disposition_id, status_code",
    "policy": SECURITY_CONTROL_FIELDS["policy"],
    "policy_id": SECURITY_CONTROL_FIELDS["policy_id"],
    "severity": "severity_id",
    **SRC_ENDPOINT_FIELDS,
    **DST_ENDPOINT_FIELDS,
    "domain": "dst_endpoint.domain",
    "app": "app_name",
    **CONNECTION_FIELDS,
    **TRAFFIC_FIELDS,
    "start_time": "start_time",
    "end_time": "end_time",
    "conn_starttime": "start_time",
    "conn_endtime": "end_time",
    "url": "url",
    "bypass_reason": "status_detail",
    **ACTOR_USER_FIELDS,
    **HOST_DEVICE_FIELDS,
}
READ_FIELDS: Final[dict[str, str]] = HOST_DEVICE_READ_FIELDS
_CONSUMED: Final = frozenset(MAPPED_FIELDS)

ENUMS: Final[dict[str, dict[str, int]]] = {
    "activity_id (from action)": {action: ids[0] for action, ids in ACTIVITIES.items()} | {"(none)": NO_ACTION[0]},
    "status_id (from action)": {action: ids[2] for action, ids in ACTIVITIES.items()},
    "connection_info.protocol_num (from ip_protocol)": dict(PROTOCOL_NUMBERS),
}


def _moment(record: dict[str, Any], iso_field: str, epoch_field: str, missing: list[Iterable[str]]) -> int | None:
    """A time from network events' ISO field or page events' epoch-seconds field, in ms.

    A present value that cannot be read, or an epoch time that disagrees with the ISO one, stays
    under ``unmapped``.
    """
    iso_value, epoch_value = record.get(iso_field), record.get(epoch_field)
    from_iso = iso_ms(iso_value) if iso_value else None
    from_epoch = epoch_ms(epoch_value) if epoch_value else None
    if iso_value and from_iso is None:
        missing.append((iso_field,))
    if epoch_value and (from_epoch is None or (from_iso is not None and from_epoch != from_iso)):
        missing.append((epoch_field,))
    return from_iso if from_iso is not None else from_epoch


def build(record: dict[str, Any], log_type: str) -> dict[str, Any]:
    """The Network Activity event for a network event or page connection record."""
    activity_id, activity_name, status_id = _ACTIVITY_BY_KEY.get(routing_key(record.get("action")), NO_ACTION)
    severity = record.get("severity")
    event = base_event(
        record, log_type, EVENT_CLASS, activity_id, activity_name, severity_id_from(severity) or 1,
        severity=text(severity), status_id=status_id,
    )  # fmt: skip
    missing: list[Iterable[str]] = []
    profiles: list[str] = []

    source = put(event, "src_endpoint", src_endpoint(record), record, SRC_ENDPOINT_FIELDS, missing)
    destination = put(
        event, "dst_endpoint", dst_endpoint(record, domain=record.get("domain")), record, DST_ENDPOINT_FIELDS, missing
    )
    if source is None and destination is None:
        raise MappingError("network record has no usable source or destination (OCSF 4001 requires one)")
    set_text(event, "app_name", record.get("app"))

    connection: dict[str, Any] = {"direction_id": 2, "direction": "Outbound"}
    protocol = text(record.get("ip_protocol"))
    if protocol is not None:
        protocol = connection["protocol_name"] = protocol.lower()
        set_present(connection, "protocol_num", PROTOCOL_NUMBERS.get(protocol))
    set_text(connection, "uid", record.get("network_session_id"))
    event["connection_info"] = connection

    traffic = {}
    for field, attribute in _TRAFFIC:
        value = record.get(field)
        if value:
            count = integer(value)
            if count is not None and count > 0:
                traffic[attribute] = count
            else:  # a count that is not one ("N/A", -1) stays as it came
                missing.append((field,))
    if traffic:
        event["traffic"] = traffic

    start = _moment(record, "start_time", "conn_starttime", missing)
    end = _moment(record, "end_time", "conn_endtime", missing)
    set_present(event, "start_time", start)
    if end is not None:
        event["end_time"] = end
        if start is not None and end >= start:
            event["duration"] = end - start

    web = url(record.get("url"))
    set_present(event, "url", web)
    set_text(event, "status_detail", record.get("bypass_reason"))

    action_word(event, record.get("action"))
    if activity_id == 2:
        # A session-end record logs traffic that was allowed; it is not a new policy decision.
        if security_control(event, record):
            event["action_id"], event["action"] = 1, "Allowed"
            event["disposition_id"], event["disposition"] = 17, "Logged"
            profiles.append("security_control")
    elif security_control(event, record):
        profiles.append("security_control")

    acting = put(event, "actor", actor(record, with_app=False), record, ACTOR_USER_FIELDS, missing)
    host = put(event, "device", device(record), record, HOST_DEVICE_FIELDS, missing)
    if acting is not None or host is not None:
        profiles.append("host")

    found: list[dict[str, Any]] = []
    observe_part(found, "src_endpoint", source)
    observe_part(found, "dst_endpoint", destination)
    observe_part(found, "actor.user", acting.get("user") if acting else None)
    observe(found, "url.url_string", "url", web["url_string"] if web else None)
    if found:
        event["observables"] = found
    return finalize(event, record, _CONSUMED, missing=missing, profiles=profiles)
