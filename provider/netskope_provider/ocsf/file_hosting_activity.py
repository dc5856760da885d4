"""File Hosting Activity (6006): application events that act on a file in a cloud app (``alert`` = no).

The ``activity`` verb picks the activity (Upload, Download, Update, Delete, Copy, Move, Preview,
Open, Share); verbs OCSF has no activity for (Create, Archive, Print, Bluetooth File Transfer)
are 99 Other with the verb as ``activity_name``. The class requires an actor, a file and a source
endpoint: the user and the cloud app act, the file is Netskope's ``object`` (its URL is
``file.url``, since the class has no HTTP request), the source is the user's egress ``srcip`` or,
failing that, the device's ``userip``. A record lacking an actor or a source is delivered raw. The
spec routes every listed activity here, so a record without ``object`` still is File Hosting
Activity: its file is named by the best identifier it has (``NAME_FIELDS``: the file path's last
segment, the DLP file, ``filename``, the document title, the URL path's last segment), else
"Unknown".
File activity logs carry no threat severity, so ``severity_id`` is 1 Informational unless the
record's own ``severity`` says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from netskope_provider.ocsf.common import (
    BASE_FIELDS,
    FILE_FIELDS,
    SECURITY_CONTROL_FIELDS,
    MappingError,
    base_event,
    device,
    endpoint,
    file,
    finalize,
    flag,
    location,
    named_file,
    normalise,
    observe_file,
    observe_part,
    prefixed,
    routing_key,
    security_control,
    severity_id_from,
    text,
    url,
)
from netskope_provider.ocsf.parts import (
    ACTOR_FIELDS,
    DST_ENDPOINT_FIELDS,
    HOST_DEVICE_FIELDS,
    HOST_DEVICE_READ_FIELDS,
    SRC_ENDPOINT_FIELDS,
    action_word,
    actor,
    dst_endpoint,
    put,
)
from netskope_provider.registry import CLASSES

CLASS_UID: Final = 6006
EVENT_CLASS: Final = CLASSES[CLASS_UID]

#: Normalised ``activity`` (the spec's list) → (activity_id, activity_name); 99 keeps the verb.
ACTIVITIES: Final[dict[str, tuple[int, str]]] = {
    "upload": (1, "Upload"),
    "browser file upload": (1, "Upload"),
    "attach": (1, "Upload"),
    "post": (1, "Upload"),
    "download": (2, "Download"),
    "download all": (2, "Download"),
    "download installer": (2, "Download"),
    "edit": (3, "Update"),
    "quick edit": (3, "Update"),
    "insert": (3, "Update"),
    "delete": (4, "Delete"),
    "delete all": (4, "Delete"),
    "detach": (4, "Delete"),
    "copy": (6, "Copy"),
    "move": (7, "Move"),
    "preview": (9, "Preview"),
    "view": (14, "Open"),
    "file share access": (14, "Open"),
    "share": (12, "Share"),
    "formshare": (12, "Share"),
    "publish": (12, "Share"),
    "create": (99, "Create"),
    "archive": (99, "Archive"),
    "print": (99, "Print"),
    "bluetooth file transfer": (99, "Bluetooth File Transfer"),
}

#: The same table keyed the way routing matches the spec's values (case and spaces ignored).
_ACTIVITY_BY_KEY: Final = {routing_key(verb): ids for verb, ids in ACTIVITIES.items()}

#: Netskope ``action`` → event status: a blocked activity failed, an allowed one succeeded.
STATUSES: Final[dict[str, int]] = {
    "": 1,
    "allow": 1,
    "bypass": 1,
    "proceed": 1,
    "block": 2,
    "restrictaccess": 2,
    "quarantine": 2,
}

#: Where the file's name comes from when ``object`` is empty, in order of preference. The spec
#: routes every listed activity with ``alert`` = no here, and OCSF 6006 requires ``file.name``.
NAME_FIELDS: Final[dict[str, str]] = {
    "file_path": "its last segment",
    "dlp_file": "the file DLP inspected",
    "filename": "the file's own name",
    "title": "the document's title",
    "url": "the last segment of its path",
}
#: ``file.name`` when nothing above names the file.
UNKNOWN_NAME: Final = "Unknown"


def _last_segment(path: str) -> str:
    return path.rstrip("/\\").rpartition("/")[2].rpartition("\\")[2]


def _file_name(record: dict[str, Any]) -> str:
    """The best name the record gives a file it does not name in ``object`` (see ``NAME_FIELDS``)."""
    for field in NAME_FIELDS:
        value = text(record.get(field))
        if value is None:
            continue
        if field == "url":
            value = _last_segment((url(value) or {}).get("path", ""))
        elif field == "file_path":
            value = _last_segment(value)
        if value:
            return value
    return UNKNOWN_NAME


#: The user's device address stands in for the source endpoint when there is no egress ``srcip``.
FALLBACK_SRC_FIELDS: Final[dict[str, str]] = {"userip": "src_endpoint.ip (when srcip is empty), device.ip"}

MAPPED_FIELDS: Final[dict[str, str]] = {
    **BASE_FIELDS,
    "activity": "activity_id, activity_name, message",
    "action": "status_id, action_id, disposition_id, status_code",
    "alert": "is_alert",
    "policy": SECURITY_CONTROL_FIELDS["policy"],
    "policy_id": SECURITY_CONTROL_FIELDS["policy_id"],
    "severity": "severity_id",
    **ACTOR_FIELDS,
    "app": "actor.app_name, dst_endpoint.svc_name",
    **prefixed("file", FILE_FIELDS),
    "url": "file.url (and file.name when nothing else names the file)",
    **SRC_ENDPOINT_FIELDS,
    **DST_ENDPOINT_FIELDS,
    **HOST_DEVICE_FIELDS,
    **FALLBACK_SRC_FIELDS,
}
READ_FIELDS: Final[dict[str, str]] = {
    **dict.fromkeys(("dlp_file", "filename", "title"), "file.name when object is empty"),
    **HOST_DEVICE_READ_FIELDS,
}
_CONSUMED: Final = frozenset(MAPPED_FIELDS)

ENUMS: Final[dict[str, dict[str, int]]] = {
    "activity_id (from activity)": {verb: ids[0] for verb, ids in ACTIVITIES.items()},
    "status_id (from action)": {action or "(none)": status for action, status in STATUSES.items()},
}


def build(record: dict[str, Any], log_type: str) -> dict[str, Any]:
    """The File Hosting Activity event for an application file event."""
    acting = actor(record)
    if acting is None:
        raise MappingError("file activity names no user and no app (OCSF 6006 requires an actor)")
    carried = file(record) or named_file(record, _file_name(record))
    source = endpoint(record.get("srcip") or record.get("userip"), record.get("srcport"), geo=location(record, "src_"))
    if source is None:
        raise MappingError("file activity has neither 'srcip' nor 'userip' (OCSF 6006 requires a source endpoint)")

    verb = text(record.get("activity")) or ""
    activity_id, activity_name = _ACTIVITY_BY_KEY.get(routing_key(verb), (99, verb or "Other"))
    action = normalise(record.get("action"))
    status_id = STATUSES.get(action, 99)
    severity = text(record.get("severity"))
    severity_id = severity_id_from(severity) or 1
    event = base_event(
        record, log_type, EVENT_CLASS, activity_id, activity_name, severity_id, severity=severity, status_id=status_id
    )
    if status_id == 99:
        event["status"] = text(record.get("action"))
    action_word(event, record.get("action"))
    if verb:
        event["message"] = verb  # the source's own verb: "Download All" and "Download" are both 2 Download
    profiles: list[str] = []
    missing: list[Iterable[str]] = []

    event["actor"] = acting
    web = url(record.get("url"))
    if web is not None:
        carried["url"] = web
    event["file"] = carried
    event["src_endpoint"] = source
    destination = put(
        event, "dst_endpoint", dst_endpoint(record, record.get("app")), record, DST_ENDPOINT_FIELDS, missing
    )
    if security_control(event, record):
        profiles.append("security_control")
    if flag(record.get("alert")) is False:  # routed file activity is not an alert; say so
        event["is_alert"] = False
        profiles.append("security_control")
    host = put(event, "device", device(record), record, HOST_DEVICE_FIELDS, missing)
    if host is not None:
        profiles.append("host")

    found: list[dict[str, Any]] = []
    observe_part(found, "actor.user", acting.get("user"))
    observe_part(found, "src_endpoint", source)
    observe_part(found, "dst_endpoint", destination)
    observe_file(found, "file", carried)
    if found:
        event["observables"] = found
    return finalize(event, record, _CONSUMED, missing=missing, profiles=profiles)
