"""Authentication (3002): logins and logouts, from application events and admin-console audit events.

Application events describe a user signing in to a cloud app through Netskope: the app is the
``service``, the user's machine the ``device`` (host profile). Audit events describe an admin
signing in to the Netskope admin console itself: the console ("Netskope Admin Console") is the
``service`` and the user an Admin. Activity and status come from the spec's values; any other
application activity containing "login" is a Logon whose status is read from its words ("fail",
"success"). Without ``app`` the record's ``site`` names the service (and stays under ``unmapped``
too).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from netskope_provider.ocsf.common import (
    ADMIN_CONSOLE,
    BASE_FIELDS,
    HTTP_FIELDS,
    SECURITY_CONTROL_FIELDS,
    USER_FIELDS,
    MappingError,
    admin_audit,
    admin_audit_fields,
    admin_audit_read_fields,
    base_event,
    device,
    finalize,
    http_request,
    observe,
    observe_part,
    prefixed,
    routing_key,
    security_control,
    set_text,
    severity_id_from,
    severity_level_id,
    text,
    user,
)
from netskope_provider.ocsf.parts import (
    DST_ENDPOINT_FIELDS,
    HOST_DEVICE_FIELDS,
    HOST_DEVICE_READ_FIELDS,
    SRC_ENDPOINT_FIELDS,
    app_session,
    dst_endpoint,
    put,
    src_endpoint,
)
from netskope_provider.ocsf.routing import record_kind
from netskope_provider.registry import CLASSES

CLASS_UID: Final = 3002
EVENT_CLASS: Final = CLASSES[CLASS_UID]

ACTIVITY_CAPTIONS: Final = {1: "Logon", 2: "Logoff"}

#: Spec value → (activity_id, status_id or None when the value does not say).
ACTIVITIES: Final[dict[str, tuple[int, int | None]]] = {
    "Login Attempt": (1, None),
    "Login Failed": (1, 2),
    "Login Successful": (1, 1),
    "Logout": (2, 1),
    "Logout Successful": (2, 1),
    "SSO Login Failed": (1, 2),
    "SSO Login Successful": (1, 1),
    "SSO Login Successful by Netskope Support": (1, 1),
    "SSO Login Failed by Netskope Support": (1, 2),
    "Admin logged out because of successive login failures": (2, 2),  # forced out: a failure signal
}
_ACTIVITIES: Final = {routing_key(value): outcome for value, outcome in ACTIVITIES.items()}

#: ``logintype`` word → (auth_protocol_id, caption); any other word is 99 with its own text.
AUTH_PROTOCOLS: Final[dict[str, tuple[int, str]]] = {
    "ntlm": (1, "NTLM"),
    "kerberos": (2, "Kerberos"),
    "digest": (3, "Digest"),
    "openid": (4, "OpenID"),
    "oidc": (4, "OpenID"),
    "saml": (5, "SAML"),
    "oauth": (6, "OAUTH 2.0"),
    "oauth2": (6, "OAUTH 2.0"),
    "oauth2.0": (6, "OAUTH 2.0"),
    "pap": (7, "PAP"),
    "chap": (8, "CHAP"),
    "eap": (9, "EAP"),
    "radius": (10, "RADIUS"),
    "basic": (11, "Basic Authentication"),
    "ldap": (12, "LDAP"),
}
AUTH_PROTOCOLS_DOC: Final = {word: protocol_id for word, (protocol_id, _) in AUTH_PROTOCOLS.items()}

ENUMS: Final[dict[str, dict[str, int]]] = {
    "activity_id (from activity / audit_log_event)": {
        **{value: activity for value, (activity, _) in ACTIVITIES.items()},
        'any other activity containing "login"': 1,
        '… containing "logout" or "logged out"': 2,
    },
    "status_id": {
        **{value: status for value, (_, status) in ACTIVITIES.items() if status is not None},
        '… containing "fail"': 2,
        '… containing "success"': 1,
    },
    "auth_protocol_id (from logintype; SSO audit events are SAML)": {**AUTH_PROTOCOLS_DOC, "SSO … (audit)": 5},
    "user.type_id": {"audit events (admin console)": 2},
}

_APPLICATION_FIELDS: Final[dict[str, str]] = {
    **prefixed("user", USER_FIELDS),
    "activity": "message, activity_id, status_id",
    "app": "service.name",
    "severity": "severity_id",
    **SRC_ENDPOINT_FIELDS,
    **DST_ENDPOINT_FIELDS,
    **HOST_DEVICE_FIELDS,
    **prefixed("http_request", HTTP_FIELDS),
    **SECURITY_CONTROL_FIELDS,
    "action": SECURITY_CONTROL_FIELDS["action"] + ", status_code",
    "app_session_id": "session.uid, actor.session.uid",
    "logintype": "auth_protocol_id, auth_protocol",
}

_AUDIT_FIELDS: Final[dict[str, str]] = admin_audit_fields("user")
MAPPED_FIELDS: Final[dict[str, str]] = {**BASE_FIELDS, **_APPLICATION_FIELDS, **_AUDIT_FIELDS}
READ_FIELDS: Final[dict[str, str]] = {
    "record_type": "which path builds the event (application login or admin-console audit)",
    "site": "service.name when there is no app",
    **HOST_DEVICE_READ_FIELDS,
    **admin_audit_read_fields("status_detail (a reason)"),
}
_APPLICATION_CONSUMED: Final = frozenset({**BASE_FIELDS, **_APPLICATION_FIELDS})
_AUDIT_CONSUMED: Final = frozenset({**BASE_FIELDS, **_AUDIT_FIELDS})
#: Each kind of record consumes only the fields its own path reads; the rest stays in unmapped.
CONSUMED_BY_KIND: Final[dict[str, frozenset[str]]] = {"application": _APPLICATION_CONSUMED, "audit": _AUDIT_CONSUMED}


def _outcome(value: str) -> tuple[int, int | None]:
    key = routing_key(value)
    known = _ACTIVITIES.get(key)
    if known is not None:
        return known
    activity = 2 if ("logout" in key or "loggedout" in key) else 1
    status = 2 if "fail" in key else 1 if "success" in key else None
    return activity, status


def build(record: dict[str, Any], log_type: str) -> dict[str, Any]:
    """OCSF Authentication event for a login/logout record (see module docstring)."""
    audit = record_kind(record, log_type) == "audit"
    source_text = text(record.get("audit_log_event" if audit else "activity")) or ""
    activity_id, status_id = _outcome(source_text)
    severity = record.get("severity_level" if audit else "severity")
    severity_id = severity_level_id(severity) if audit else severity_id_from(severity)
    event = base_event(
        record, log_type, EVENT_CLASS, activity_id, ACTIVITY_CAPTIONS[activity_id], severity_id,
        severity=text(severity), status_id=status_id,
    )  # fmt: skip
    profiles: list[str] = []
    missing: list[Iterable[str]] = []
    if audit:
        data_type, details = admin_audit(record, event, "user")
        if data_type == "reason" and details:
            event["status_detail"] = details[0]
        elif activity_id == 2 and status_id == 2:  # a forced logoff: the event's own words say why
            event["status_detail"] = source_text
        event["service"] = {"name": ADMIN_CONSOLE}
        if routing_key(source_text).startswith("sso"):
            event["auth_protocol_id"], event["auth_protocol"] = 5, "SAML"
    else:
        _application(record, event, profiles, missing)
    if "user" not in event:
        raise MappingError("Authentication needs a user: the record has no user, ur_normalized, userkey or user_id")
    consumed = _AUDIT_CONSUMED if audit else _APPLICATION_CONSUMED
    return finalize(event, record, consumed, missing=missing, profiles=profiles)


def _application(
    record: dict[str, Any], event: dict[str, Any], profiles: list[str], missing: list[Iterable[str]]
) -> None:
    subject = user(record)
    if subject is not None:
        event["user"] = subject
    set_text(event, "message", record.get("activity"))
    app = text(record.get("app")) or text(record.get("site"))
    src, dst = src_endpoint(record), dst_endpoint(record)
    if app is not None:
        event["service"] = {"name": app}
    elif dst is None:
        raise MappingError(
            "Authentication needs the service or destination: the record has no app, site, dstip or dsthost"
        )
    put(event, "src_endpoint", src, record, SRC_ENDPOINT_FIELDS, missing)
    put(event, "dst_endpoint", dst, record, DST_ENDPOINT_FIELDS, missing)
    machine = put(event, "device", device(record), record, HOST_DEVICE_FIELDS, missing)
    if machine is not None:
        profiles.append("host")
    request = http_request(record)
    if request is not None:
        event["http_request"] = request
    protocol = text(record.get("logintype"))
    if protocol is not None:
        event["auth_protocol_id"], event["auth_protocol"] = AUTH_PROTOCOLS.get(routing_key(protocol), (99, protocol))
    session = app_session(record)
    if session is not None:
        event["session"] = session
        event["actor"] = {"session": dict(session)}  # where every class puts the app session
    if security_control(event, record):
        profiles.append("security_control")
    set_text(event, "status_code", record.get("action"))  # the Netskope word itself: bypass and allow are both Allowed
    found: list[dict[str, Any]] = []
    observe_part(found, "user", subject)
    observe_part(found, "src_endpoint", src)
    observe_part(found, "dst_endpoint", dst)
    observe(found, "device.hostname", "hostname", machine.get("hostname") if machine else None)
    observe(found, "http_request.user_agent", "user_agent", request.get("user_agent") if request else None)
    if found:
        event["observables"] = found
