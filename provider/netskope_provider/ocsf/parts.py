"""Composite parts shared by the network, finding and file-hosting mappers.

They combine ``common``'s builders into the pieces several classes fill the same way (the two
network endpoints, the acting user and app, the alert/incident status), and keep each part's
field table next to its builder so ``MAPPED_FIELDS`` and the docs follow the code.

A part that cannot be built (an endpoint with a port but no address, a device with only an OS
name) leaves its source fields unplaced: ``put`` notes them and ``common.finalize`` adds them to
``unmapped``, so they are not dropped as consumed. (Adding the few unplaced fields afterwards is
cheaper than building a smaller consumed set per record.)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

from netskope_provider.ocsf.common import (
    DEVICE_FIELDS,
    DEVICE_READ_FIELDS,
    USER_FIELDS,
    endpoint,
    flag,
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
    "dsthost": "dst_endpoint.hostname (an IP literal: dst_endpoint.ip)",
    **prefixed("dst_endpoint", location_fields("dst_")),
}
#: The acting user and their app session (Netskope's ``app_session_id``: the same attribute in every class).
ACTOR_USER_FIELDS: Final[dict[str, str]] = {
    **prefixed("actor.user", USER_FIELDS),
    "app_session_id": "actor.session.uid",
}
ACTOR_FIELDS: Final[dict[str, str]] = {**ACTOR_USER_FIELDS, "app": "actor.app_name"}
HOST_DEVICE_FIELDS: Final[dict[str, str]] = prefixed("device", DEVICE_FIELDS)
HOST_DEVICE_READ_FIELDS: Final[dict[str, str]] = prefixed("device", DEVICE_READ_FIELDS)


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


def app_session(record: dict[str, Any]) -> dict[str, Any] | None:
    """OCSF session of Netskope's ``app_session_id`` (a user's use of one app or site)."""
    uid = text(record.get("app_session_id"))
    return None if uid is None else {"uid": uid}


def actor(record: dict[str, Any], *, with_app: bool = True) -> dict[str, Any] | None:
    """The acting user, their app session (and cloud app, when ``with_app``); None when the record names none."""
    result: dict[str, Any] = {}
    acting = user(record)
    if acting is not None:
        result["user"] = acting
    session = app_session(record)
    if session is not None:
        result["session"] = session
    if with_app:
        set_text(result, "app_name", record.get("app"))
    return result or None


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
ACKED_STATUS: Final[dict[bool, tuple[int, str]]] = {False: (1, "New"), True: (4, "Resolved")}


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
    said = flag(acked)
    found = None if said is None else ACKED_STATUS[said]
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
