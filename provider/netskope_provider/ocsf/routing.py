"""Which OCSF class (if any) a Netskope record maps to, following the user's spec lists.

Values are compared by ``common.routing_key``: casefolded with every space dropped, so ``Allow``,
``allow`` and `` allow ``, ``Malware`` and ``malware``, ``Compromised Credential`` and
``compromisedcredential`` (all seen from real tenants) are the same value. The record's own
``record_type`` decides its kind; when it is missing, the log type it was pulled from stands in
(``endpoint`` → ``epdlp``, every other log type → its own name).

Rules, first match wins (the order only matters where the spec's rules overlap):

1. kind ``infrastructure`` → Device Inventory Info 5001.
2. Data Security Finding 2006: kind ``alert`` with ``alert_type`` DLP; kind ``incident``; kind
   ``epdlp`` with ``type`` endpoint. (Before 3, so a DLP incident flagged ``alert: yes`` stays a
   data-security finding.)
3. ``alert`` = yes and ``alert_type`` in the Detection Finding list → Detection Finding 2004,
   whatever the kind (application-side copies of alerts are alerts too).
4. kind ``audit``: ``audit_log_event`` in the Authentication list → 3002, in the Entity Management
   list → 3004, in the Account Change list → 3001 (the three lists are disjoint).
5. kind ``application``: ``activity`` in the Authentication list or containing "login" → 3002;
   else ``activity`` in the File Hosting list with ``alert`` = no → File Hosting Activity 6006.
   A record with no ``alert`` flag at all counts as ``alert`` = no (it is not an alert).
6. kind ``network`` with ``action`` in the Network Activity list → Network Activity 4001.
7. kind ``connection``, or kind ``page`` whose ``type`` is connection or missing (Netskope's
   page events are its connection records) → Network Activity 4001.
8. A kind no rule above handles that a registered class claims whole (``registry.OcsfClass.kinds``)
   → that class.
9. Anything else → None: delivered raw, unchanged.
"""

from __future__ import annotations

from typing import Any, Final

from netskope_provider.ocsf.common import flag, routing_key
from netskope_provider.registry import CLASSES, KIND_CLASSES, LOG_TYPE_KINDS

AUTHENTICATION: Final = 3002
ENTITY_MANAGEMENT: Final = 3004
ACCOUNT_CHANGE: Final = 3001
NETWORK_ACTIVITY: Final = 4001
DETECTION_FINDING: Final = 2004
DATA_SECURITY_FINDING: Final = 2006
FILE_HOSTING_ACTIVITY: Final = 6006
DEVICE_INVENTORY_INFO: Final = 5001


def class_names() -> dict[int, str]:
    """Class uid → name of every registered class (for messages and summaries)."""
    return {uid: cls.name for uid, cls in CLASSES.items()}


# The spec's lists, in the spec's own casing and order (docs and tests read these).
APPLICATION_AUTHENTICATION_ACTIVITIES: Final[tuple[str, ...]] = (
    "Login Attempt",
    "Login Failed",
    "Login Successful",
    "Logout",
)
AUDIT_AUTHENTICATION_EVENTS: Final[tuple[str, ...]] = (
    "Login Failed",
    "Login Successful",
    "Logout Successful",
    "SSO Login Failed",
    "SSO Login Successful",
    "SSO Login Successful by Netskope Support",
    "SSO Login Failed by Netskope Support",
    "Admin logged out because of successive login failures",
)
AUDIT_ENTITY_MANAGEMENT_EVENTS: Final[tuple[str, ...]] = (
    "Created new inline policy",
    "Set dedicated egress ip policy",
    "Created new rbi template",
    "Created new tunnel group",
    "Created new introspection policy",
    "Next Gen CASB API instance created",
    "Created a new Next Gen CASB API policy",
    "Next Gen CASB API retroscan created",
    "Edited inline policy",
    "Update default actions for inline policies",
    "Edited rbi template",
    "Edited tunnel group",
    "Edit introspection policy record",
    "Next Gen CASB API instance updated",
    "Edited Next Gen CASB API policy",
    "Next Gen CASB API retroscan edited",
    "Deleted inline policy",
    "Deleted rbi template",
    "Deleted tunnel group",
    "Deleted introspection policy",
    "Next Gen CASB API instance deleted",
    "Deleted Next Gen CASB API policy",
    "Next Gen CASB API retroscan deleted",
    "Pushed inline policy",
    "Pushed rbi template",
    "Pushed tunnel groups",
    "Applied Phoenix policy record(s)",
    "Pushed Introspection policies",
    "Pushed Next Gen CASB API policies",
    "Next Gen CASB API retroscan stopped",
    "Next Gen CASB API retroscan paused",
)
AUDIT_ACCOUNT_CHANGE_EVENTS: Final[tuple[str, ...]] = (
    "Created new admin",
    "Added SSO Admin",
    "Created new support admin",
    "Enabled admin",
    "Password Change Failed Attempt",
    "Password Change Successful",
    "Reset password",
    "Disabled admin",
    "Deleted admin",
    "Deleted Netskope SSO admin",
    "Enabled Netskope Support SSO",
    "Disabled Netskope Support SSO",
    "Unlocked admin",
    "Edited SSO Admin Record",
    "Edit admin record",
    "Updated admin settings",
)
NETWORK_ACTIONS: Final[tuple[str, ...]] = ("Allow", "Block", "Bypass", "Closed", "Idle Timeout", "Proceed")
DETECTION_ALERT_TYPES: Final[tuple[str, ...]] = ("Compromised Credential", "Malsite", "Malware", "Policy", "UBA", "C2")
FILE_HOSTING_ACTIVITIES: Final[tuple[str, ...]] = (
    "Browser File Upload",
    "Attach",
    "Create",
    "Download",
    "Download All",
    "Download Installer",
    "Edit",
    "Quick Edit",
    "Insert",
    "Delete",
    "Delete All",
    "Copy",
    "Move",
    "Preview",
    "Formshare",
    "File Share Access",
    "Upload",
    "Share",
    "Post",
    "View",
    "Archive",
    "Bluetooth File Transfer",
    "Detach",
    "Print",
    "Publish",
)

#: The registry's live tables (registering a log type or class updates them in place).
_LOG_TYPE_KINDS: Final = LOG_TYPE_KINDS
_KIND_CLASSES: Final = KIND_CLASSES


def _keys(values: tuple[str, ...]) -> frozenset[str]:
    return frozenset(routing_key(value) for value in values)


_APP_AUTH: Final = _keys(APPLICATION_AUTHENTICATION_ACTIVITIES)
_FILE_HOSTING: Final = _keys(FILE_HOSTING_ACTIVITIES)
_NETWORK_ACTIONS: Final = _keys(NETWORK_ACTIONS)
_DETECTION_TYPES: Final = _keys(DETECTION_ALERT_TYPES)
_AUDIT_CLASSES: Final[dict[str, int]] = {
    **dict.fromkeys(_keys(AUDIT_ACCOUNT_CHANGE_EVENTS), ACCOUNT_CHANGE),
    **dict.fromkeys(_keys(AUDIT_ENTITY_MANAGEMENT_EVENTS), ENTITY_MANAGEMENT),
    **dict.fromkeys(_keys(AUDIT_AUTHENTICATION_EVENTS), AUTHENTICATION),
}


def record_kind(record: dict[str, Any], log_type: str) -> str:
    """The record's normalised ``record_type``, or the one its log type implies when it has none."""
    kind = routing_key(record.get("record_type"))
    return kind or _LOG_TYPE_KINDS.get(routing_key(log_type), "")


def classify(record: dict[str, Any], log_type: str) -> int | None:
    """OCSF class uid for a Netskope record pulled from ``log_type``, or None to deliver it raw."""
    kind = record_kind(record, log_type)
    if kind == "infrastructure":
        return DEVICE_INVENTORY_INFO
    alert_type = routing_key(record.get("alert_type"))
    if kind == "alert" and alert_type == "dlp":
        return DATA_SECURITY_FINDING
    if kind == "incident":
        return DATA_SECURITY_FINDING
    if kind == "epdlp" and routing_key(record.get("type")) == "endpoint":
        return DATA_SECURITY_FINDING
    raw_alert = record.get("alert")
    alert = flag(raw_alert)
    if alert is True and alert_type in _DETECTION_TYPES:
        return DETECTION_FINDING
    if kind == "audit":
        return _AUDIT_CLASSES.get(routing_key(record.get("audit_log_event")))
    if kind == "application":
        activity = routing_key(record.get("activity"))
        if activity in _APP_AUTH or "login" in activity:
            return AUTHENTICATION
        if activity in _FILE_HOSTING and (alert is False or not routing_key(raw_alert)):
            return FILE_HOSTING_ACTIVITY
        return None
    if kind == "network":
        return NETWORK_ACTIVITY if routing_key(record.get("action")) in _NETWORK_ACTIONS else None
    if kind == "connection":
        return NETWORK_ACTIVITY
    if kind == "page" and routing_key(record.get("type")) in ("connection", ""):
        return NETWORK_ACTIVITY
    return _KIND_CLASSES.get(kind)
