"""Composite parts shared by the network, finding and file-hosting mappers.

They combine ``common``'s builders into the pieces several classes fill the same way (the two
network endpoints, the acting user and app, the alert/incident status), and keep each part's
field table next to its builder so ``MAPPED_FIELDS`` and the docs follow the code.

A part that cannot be built (an endpoint with a port but no address, a device with only an OS
name) leaves its source fields unplaced: ``put`` notes them and ``finish`` adds them to
``unmapped`` after ``finalize``, so they are not dropped as consumed. (Adding the few unplaced
fields afterwards is cheaper than building a smaller consumed set per record.)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any, Final
from zoneinfo import ZoneInfo

from netskope_provider.ocsf.common import (
    DEVICE_FIELDS,
    USER_FIELDS,
    endpoint,
    finalize,
    location,
    location_fields,
    normalise,
    prefixed,
    set_text,
    text,
    user,
)

SRC_ENDPOINT_FIELDS: Final[dict[str, str]] = {
    "srcip": "src_endpoint.ip",
    "srcport": "src_endpoint.port",
    **prefixed("src_endpoint", location_fields("src_")),
}
DST_ENDPOINT_FIELDS: Final[dict[str, str]] = {
    "dstip": "dst_endpoint.ip",
    "dstport": "dst_endpoint.port",
    "dsthost": "dst_endpoint.hostname",
    **prefixed("dst_endpoint", location_fields("dst_")),
}
ACTOR_USER_FIELDS: Final[dict[str, str]] = prefixed("actor.user", USER_FIELDS)
ACTOR_FIELDS: Final[dict[str, str]] = {**ACTOR_USER_FIELDS, "app": "actor.app_name"}
HOST_DEVICE_FIELDS: Final[dict[str, str]] = prefixed("device", DEVICE_FIELDS)


def src_endpoint(record: dict[str, Any]) -> dict[str, Any] | None:
    """Where the user's traffic came from: Netskope's egress ``srcip`` with its geo-location."""
    return endpoint(record.get("srcip"), record.get("srcport"), geo=location(record, "src_"))


def dst_endpoint(record: dict[str, Any], svc_name: object = None, domain: object = None) -> dict[str, Any] | None:
    """The server the traffic went to; ``svc_name`` names the cloud app when the class has no better place."""
    return endpoint(
        record.get("dstip"),
        record.get("dstport"),
        record.get("dsthost"),
        geo=location(record, "dst_"),
        domain=domain,
        svc_name=svc_name,
    )


def actor(record: dict[str, Any], *, with_app: bool = True) -> dict[str, Any] | None:
    """The acting user (and cloud app, when ``with_app``); None when the record names neither."""
    result: dict[str, Any] = {}
    acting = user(record)
    if acting is not None:
        result["user"] = acting
    if with_app:
        set_text(result, "app_name", record.get("app"))
    return result or None


def finish(
    event: dict[str, Any],
    record: dict[str, Any],
    consumed: frozenset[str],
    missing: list[Iterable[str]],
    profiles: Iterable[str],
) -> dict[str, Any]:
    """``finalize`` the event, keep the present fields of the parts that could not be built, and
    state the user's UTC offset at the event time when the record names its time zone."""
    zone = text(record.get("src_timezone"))  # an IANA name; the name itself stays in unmapped
    if zone is not None:
        minutes = _offset_minutes(zone, event["time"] // 900_000)
        if minutes is not None:
            event["timezone_offset"] = minutes
    finalize(event, record, consumed, profiles=profiles)
    if missing:
        unmapped = event.get("unmapped") or {}
        for fields in missing:
            for field in fields:
                value = record.get(field)
                if value:  # finalize's rule: falsy values are absent defaults
                    unmapped[field] = value
        if unmapped:
            event["unmapped"] = unmapped
    return event


@lru_cache(maxsize=4096)
def _offset_minutes(zone: str, quarter_hour: int) -> int | None:
    """UTC offset (minutes) of an IANA time zone during one quarter hour; None for an unknown zone.

    Offsets only change on quarter-hour boundaries, so the cache key loses nothing.
    """
    try:
        moment = datetime.fromtimestamp(quarter_hour * 900, ZoneInfo(zone))
    except (ValueError, KeyError, OSError, OverflowError):  # not a zone name, or a time out of range
        return None
    offset = moment.utcoffset()
    return None if offset is None else int(offset.total_seconds()) // 60


def iso_ms(value: object) -> int | None:
    """An ISO-8601 time (network events' ``start_time``/``end_time``) as epoch milliseconds."""
    stamp = text(value)
    if stamp is None:
        return None
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return int(moment.timestamp() * 1000)


#: Netskope alert/incident workflow words → OCSF finding status_id (2004/2006 share the enum).
FINDING_STATUS: Final[dict[str, tuple[int, str]]] = {
    "new": (1, "New"),
    "open": (1, "New"),
    "in progress": (2, "In Progress"),
    "in_progress": (2, "In Progress"),
    "inprogress": (2, "In Progress"),
    "suppressed": (3, "Suppressed"),
    "dismissed": (3, "Suppressed"),
    "resolved": (4, "Resolved"),
    "closed": (4, "Resolved"),
    "archived": (5, "Archived"),
}

#: ``acked`` ("true"/"false" strings or booleans) → finding status: an acknowledged alert is handled.
ACKED_STATUS: Final[dict[str, tuple[int, str]]] = {"false": (1, "New"), "true": (4, "Resolved")}


def finding_status(event: dict[str, Any], record: dict[str, Any], missing: list[Iterable[str]]) -> None:
    """Set the finding's status from incident ``status`` (99 + text if unknown) or alert ``acked``.

    An ``acked`` the status does not reflect (another word, or beside a ``status``) stays unplaced.
    """
    acked = record.get("acked")
    raw = text(record.get("status"))
    if raw is not None:
        event["status_id"], event["status"] = FINDING_STATUS.get(normalise(raw), (99, raw))
        if acked:
            missing.append(("acked",))
        return
    key = ("true" if acked else "false") if type(acked) is bool else normalise(acked)
    found = ACKED_STATUS.get(key)
    if found is not None:
        event["status_id"], event["status"] = found
    elif acked:
        missing.append(("acked",))


def action_word(event: dict[str, Any], value: object) -> None:
    """Keep the source's own action word as ``status_code``.

    The security_control ids say allowed/denied; the word says which Netskope action it was
    (``bypass`` and ``allow`` are both Allowed), so it is the status code "as reported by the source".
    """
    set_text(event, "status_code", value)


RESOURCE_FIELDS: Final[dict[str, str]] = {
    "app": "resources[].name",
    "instance_id": "resources[].uid",
    "appcategory": "resources[].type",
}


def resources(record: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The cloud app (and its instance) a finding is about, as OCSF resource_details."""
    name, uid = text(record.get("app")), text(record.get("instance_id"))
    if name is None and uid is None:
        return None
    resource: dict[str, Any] = {}
    if name is not None:
        resource["name"] = name
    if uid is not None:
        resource["uid"] = uid
    set_text(resource, "type", record.get("appcategory"))
    return [resource]


def first_text(
    record: dict[str, Any],
    fields: tuple[str, ...],
    missing: list[Iterable[str]],
    kept_elsewhere: frozenset[str] = frozenset(),
) -> str | None:
    """The first present text of ``fields`` (in order of preference).

    A later field that says something else is noted unplaced (unless ``kept_elsewhere`` names it),
    so e.g. an incident's own severity survives when a rule severity wins.
    """
    chosen = None
    for field in fields:
        value = text(record.get(field))
        if value is None:
            continue
        if chosen is None:
            chosen = value
        elif value.casefold() != chosen.casefold() and field not in kept_elsewhere:
            missing.append((field,))
    return chosen


def put(
    target: dict[str, Any],
    key: str,
    part: Any,
    record: dict[str, Any],
    fields: Iterable[str],
    missing: list[Iterable[str]],
) -> Any:
    """Set ``target[key] = part``; when the part could not be built, note its fields as unplaced."""
    if part is not None:
        target[key] = part
    elif any(record.get(field) for field in fields):
        missing.append(fields)
    return part
