"""Entity Management (3004): policy, template, tunnel and API-connector changes from audit events.

The verb of ``audit_log_event`` gives the activity (created → Create, edited/updated/set → Update,
deleted → Delete, pushed/applied → Activate, stopped → Deactivate, paused → Suspend); its object
gives the managed entity's type (Policy, or Other with the object's own words). The entity's name is
the first text value of ``supporting_data``; when it names none (the published "Deleted inline
policy" record carries ``data_values: [false]``), the name is "Unknown" (OCSF requires a name or an
id) rather than words made up from the event. ``supporting_data`` itself is kept whole as
``entity.data``.
"""

from __future__ import annotations

from typing import Any, Final

from netskope_provider.ocsf.common import (
    BASE_FIELDS,
    admin_audit,
    admin_audit_fields,
    base_event,
    finalize,
    present,
    routing_key,
    severity_level_id,
    text,
)
from netskope_provider.registry import CLASSES

CLASS_UID: Final = 3004
EVENT_CLASS: Final = CLASSES[CLASS_UID]

ACTIVITY_CAPTIONS: Final = {1: "Create", 3: "Update", 4: "Delete", 10: "Activate", 11: "Deactivate", 12: "Suspend"}
POLICY: Final = 5
ENTITY_CAPTIONS: Final = {POLICY: "Policy", 99: "Other"}
#: The entity's name when the record names none (``supporting_data`` empty or without text).
UNKNOWN_NAME: Final = "Unknown"

#: Spec value → (activity_id, entity type_id, entity type text).
EVENTS: Final[dict[str, tuple[int, int, str]]] = {
    "Created new inline policy": (1, 5, "Inline Policy"),
    "Set dedicated egress ip policy": (3, 5, "Dedicated Egress IP Policy"),
    "Created new rbi template": (1, 99, "RBI Template"),
    "Created new tunnel group": (1, 99, "Tunnel Group"),
    "Created new introspection policy": (1, 5, "Introspection Policy"),
    "Next Gen CASB API instance created": (1, 99, "Next Gen CASB API Instance"),
    "Created a new Next Gen CASB API policy": (1, 5, "Next Gen CASB API Policy"),
    "Next Gen CASB API retroscan created": (1, 99, "Next Gen CASB API Retroscan"),
    "Edited inline policy": (3, 5, "Inline Policy"),
    "Update default actions for inline policies": (3, 5, "Inline Policy"),
    "Edited rbi template": (3, 99, "RBI Template"),
    "Edited tunnel group": (3, 99, "Tunnel Group"),
    "Edit introspection policy record": (3, 5, "Introspection Policy"),
    "Next Gen CASB API instance updated": (3, 99, "Next Gen CASB API Instance"),
    "Edited Next Gen CASB API policy": (3, 5, "Next Gen CASB API Policy"),
    "Next Gen CASB API retroscan edited": (3, 99, "Next Gen CASB API Retroscan"),
    "Deleted inline policy": (4, 5, "Inline Policy"),
    "Deleted rbi template": (4, 99, "RBI Template"),
    "Deleted tunnel group": (4, 99, "Tunnel Group"),
    "Deleted introspection policy": (4, 5, "Introspection Policy"),
    "Next Gen CASB API instance deleted": (4, 99, "Next Gen CASB API Instance"),
    "Deleted Next Gen CASB API policy": (4, 5, "Next Gen CASB API Policy"),
    "Next Gen CASB API retroscan deleted": (4, 99, "Next Gen CASB API Retroscan"),
    "Pushed inline policy": (10, 5, "Inline Policy"),
    "Pushed rbi template": (10, 99, "RBI Template"),
    "Pushed tunnel groups": (10, 99, "Tunnel Group"),
    "Applied Phoenix policy record(s)": (10, 5, "Phoenix Policy"),
    "Pushed Introspection policies": (10, 5, "Introspection Policy"),
    "Pushed Next Gen CASB API policies": (10, 5, "Next Gen CASB API Policy"),
    "Next Gen CASB API retroscan stopped": (11, 99, "Next Gen CASB API Retroscan"),
    "Next Gen CASB API retroscan paused": (12, 99, "Next Gen CASB API Retroscan"),
}
_EVENTS: Final = {routing_key(value): outcome for value, outcome in EVENTS.items()}

ENUMS: Final[dict[str, dict[str, int]]] = {
    "activity_id (from audit_log_event)": {value: activity for value, (activity, _, _) in EVENTS.items()},
    "entity.type_id": {value: type_id for value, (_, type_id, _) in EVENTS.items()},
    "status_id": {"every listed value (the console logs completed changes)": 1},
}

MAPPED_FIELDS: Final[dict[str, str]] = {
    **BASE_FIELDS,
    **admin_audit_fields("actor.user"),
    "supporting_data": "entity.data (whole), entity.name and entity.policy.name (first text value)",
}
READ_FIELDS: Final[dict[str, str]] = {}
_CONSUMED: Final = frozenset(MAPPED_FIELDS)
_STRUCTURED: Final = frozenset({"supporting_data"})


def build(record: dict[str, Any], log_type: str) -> dict[str, Any]:
    """OCSF Entity Management event for a configuration-change audit record (see module docstring)."""
    source_text = text(record.get("audit_log_event")) or ""
    activity_id, type_id, entity_type = _EVENTS.get(routing_key(source_text), (99, 99, source_text or "Unknown"))
    activity_name = ACTIVITY_CAPTIONS.get(activity_id, source_text)
    severity = record.get("severity_level")
    event = base_event(
        record, log_type, EVENT_CLASS, activity_id, activity_name, severity_level_id(severity),
        severity=text(severity), status_id=1,
    )  # fmt: skip
    _, names = admin_audit(record, event, "actor.user")
    entity: dict[str, Any] = {
        # Only a name the record gives; OCSF needs a name or an id, so without one it is "Unknown".
        "name": names[0] if names else UNKNOWN_NAME,
        "type_id": type_id,
        "type": ENTITY_CAPTIONS[type_id] if type_id != 99 else entity_type,
    }
    if type_id == POLICY and names:
        entity["policy"] = {"name": names[0]}
    data = record.get("supporting_data")
    if present(data):
        entity["data"] = data
    event["entity"] = entity
    return finalize(event, record, _CONSUMED, structured=_STRUCTURED)
