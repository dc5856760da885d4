"""Account Change (3001): admin-account changes from Netskope admin-console audit events.

The acting admin is the record's ``user`` (``actor.user``); the account changed is the non-IP value
of ``supporting_data`` when it names an admin or user, else the acting admin (a password change of
one's own account); the Netskope Support SSO events change the "Netskope Support" account. All are Admin users: these events only concern console administrators.
"""

from __future__ import annotations

from typing import Any, Final

from netskope_provider.ocsf.common import (
    BASE_FIELDS,
    MappingError,
    admin_audit,
    admin_audit_fields,
    admin_audit_read_fields,
    base_event,
    finalize,
    routing_key,
    severity_level_id,
    text,
)
from netskope_provider.registry import CLASSES

CLASS_UID: Final = 3001
EVENT_CLASS: Final = CLASSES[CLASS_UID]

ACTIVITY_CAPTIONS: Final = {
    1: "Create",
    2: "Enable",
    3: "Password Change",
    4: "Password Reset",
    5: "Disable",
    6: "Delete",
    12: "Unlock",
}

#: Spec value → activity_id (99 Other where OCSF has no verb: edits of an admin record).
ACTIVITIES: Final[dict[str, int]] = {
    "Created new admin": 1,
    "Added SSO Admin": 1,
    "Created new support admin": 1,
    "Enabled admin": 2,
    "Password Change Failed Attempt": 3,
    "Password Change Successful": 3,
    "Reset password": 4,
    "Disabled admin": 5,
    "Deleted admin": 6,
    "Deleted Netskope SSO admin": 6,
    "Enabled Netskope Support SSO": 2,
    "Disabled Netskope Support SSO": 5,
    "Unlocked admin": 12,
    "Edited SSO Admin Record": 99,
    "Edit admin record": 99,
    "Updated admin settings": 99,
}
_ACTIVITIES: Final = {routing_key(value): activity for value, activity in ACTIVITIES.items()}

ENUMS: Final[dict[str, dict[str, int]]] = {
    "activity_id (from audit_log_event)": ACTIVITIES,
    "status_id": {"Password Change Failed Attempt": 2, "every other listed value": 1},
    "user.type_id, actor.user.type_id": {"every listed value (console admins)": 2},
}

MAPPED_FIELDS: Final[dict[str, str]] = {
    **BASE_FIELDS,
    **admin_audit_fields("actor.user"),
}
READ_FIELDS: Final[dict[str, str]] = admin_audit_read_fields("user.name, user.email_addr (the account changed)")
_CONSUMED: Final = frozenset(MAPPED_FIELDS)
_TARGET_TYPES: Final = frozenset({"admin", "user", "users", "admins"})


def build(record: dict[str, Any], log_type: str) -> dict[str, Any]:
    """OCSF Account Change event for an admin-account audit record (see module docstring)."""
    source_text = text(record.get("audit_log_event")) or ""
    key = routing_key(source_text)
    activity_id = _ACTIVITIES.get(key, 99)
    activity_name = ACTIVITY_CAPTIONS.get(activity_id, source_text)
    severity = record.get("severity_level")
    status_id = 2 if "fail" in key else 1
    event = base_event(
        record, log_type, EVENT_CLASS, activity_id, activity_name, severity_level_id(severity),
        severity=text(severity), status_id=status_id,
    )  # fmt: skip
    data_type, names = admin_audit(record, event, "actor.user")
    if names and data_type in _TARGET_TYPES:
        target: dict[str, Any] = {"name": names[-1], "type_id": 2, "type": "Admin"}
        if "@" in names[-1]:
            target["email_addr"] = names[-1]
        event["user"] = target
        event.setdefault("observables", []).append({"name": "user.name", "type_id": 4, "value": names[-1]})
    elif "netskopesupport" in key:
        event["user"] = {"name": "Netskope Support", "type_id": 2, "type": "Admin"}
    elif "actor" in event:
        event["user"] = dict(event["actor"]["user"])
    else:
        raise MappingError("Account Change needs the account changed: the record has no user or supporting_data")
    return finalize(event, record, _CONSUMED)
