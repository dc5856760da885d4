"""Data Security Finding (2006): DLP alerts, DLP incidents and endpoint DLP (``epdlp``) records.

Each record is a new finding (activity 1 Create) identified by its DLP incident id. The DLP
profile is ``data_security.policy``; the matched rule is the finding's analytic (type 1 Rule),
further rules of an incident are ``related_analytics``. Incidents nest their matches in
``dlp_match_info[]``: the first match supplies the profile, policy and action when the record has
none of its own, the highest rule severity is the finding's severity when the record states none
(``dlp_rule_severity``, else the incident's ``severity``), and the whole list is also kept under
``unmapped`` because OCSF has no place for its per-identifier counts.

Where the data was caught decides ``data_security`` (``access_method`` and ``traffic_type`` only
steer this choice, so they also stay under ``unmapped``): endpoint DLP (``epdlp`` or
``access_method`` Endpoint) is 1 Endpoint / 3 Data in-Use; API connectors scan stored data,
8 Cloud Access Security Broker / 1 Data at-Rest; inline traffic is 2 Data in-Transit, seen by the
CASB (cloud apps) or by the Secure Web Gateway (``traffic_type`` Web).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from netskope_provider.ocsf.common import (
    ACTIONS,
    BASE_FIELDS,
    FILE_FIELDS,
    SECURITY_CONTROL_FIELDS,
    MappingError,
    base_event,
    device,
    file,
    finalize,
    flag,
    integer,
    normalise,
    observe_file,
    observe_part,
    prefixed,
    security_control,
    set_text,
    severity_id_from,
    text,
)
from netskope_provider.ocsf.parts import (
    ACTOR_USER_FIELDS,
    DST_ENDPOINT_FIELDS,
    HOST_DEVICE_FIELDS,
    HOST_DEVICE_READ_FIELDS,
    RESOURCE_FIELDS,
    SRC_ENDPOINT_FIELDS,
    action_word,
    actor,
    dst_endpoint,
    finding_status,
    first_text,
    put,
    resources,
    src_endpoint,
)
from netskope_provider.registry import CLASSES

CLASS_UID: Final = 2006
EVENT_CLASS: Final = CLASSES[CLASS_UID]

#: (detection_system_id, detection_system, data_lifecycle_state_id, data_lifecycle_state) per channel.
ENDPOINT_CHANNEL: Final = (1, "Endpoint", 3, "Data in-Use")
API_CHANNEL: Final = (8, "Cloud Access Security Broker", 1, "Data at-Rest")
INLINE_CASB_CHANNEL: Final = (8, "Cloud Access Security Broker", 2, "Data in-Transit")
INLINE_WEB_CHANNEL: Final = (5, "Secure Web Gateway", 2, "Data in-Transit")

#: Normalised ``access_method`` values that mean a channel other than inline traffic.
ACCESS_METHOD_CHANNELS: Final[dict[str, tuple[int, str, int, str]]] = {
    "endpoint": ENDPOINT_CHANNEL,
    "api connector": API_CHANNEL,
    "api": API_CHANNEL,
    "introspection": API_CHANNEL,
}

#: Rule severity order, to pick an incident's highest one.
_SEVERITY_RANK: Final[dict[int, int]] = {0: 0, 99: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6}

FINDING_FIELDS: Final[dict[str, str]] = {
    "dlp_incident_id": "finding_info.uid",
    "incident_id": "finding_info.uid",
    "alert_name": "finding_info.title",
    "alert_type": "finding_info.types",
    "dlp_rule": "finding_info.analytic.name",
    "dlp_match_info": "finding_info.analytic, finding_info.related_analytics, data_security.policy, policy, action_id"
    " (first match; whole list also under unmapped)",
}
DATA_SECURITY_FIELDS: Final[dict[str, str]] = {
    "dlp_profile": "data_security.policy.name",
    "url": "data_security.src_url",
}
#: ``dlp_file`` names the file only when ``object`` is empty, so it is also always kept under unmapped.
DLP_FILE_FIELDS: Final[dict[str, str]] = prefixed("file", FILE_FIELDS)
#: Endpoint DLP names the file copied to the device as ``source_file_*`` (used when there is no ``object``).
ENDPOINT_FILE_FIELDS: Final[dict[str, str]] = {
    "source_file_name": "file.name",
    "source_file_type": "file.mime_type",
    "source_file_size": "file.size",
}

MAPPED_FIELDS: Final[dict[str, str]] = {
    **BASE_FIELDS,
    **FINDING_FIELDS,
    **DATA_SECURITY_FIELDS,
    "dlp_rule_severity": "severity_id",
    "severity": "severity_id",
    "alert": "is_alert",
    "status": "status_id",
    "acked": "status_id",
    **SECURITY_CONTROL_FIELDS,
    "action": SECURITY_CONTROL_FIELDS["action"] + ", status_code",
    "policy_name": "policy.name",
    "policy_action": "action_id, disposition_id, status_code",
    **DLP_FILE_FIELDS,
    **ENDPOINT_FILE_FIELDS,
    "policy_name_enforced": "policy.name",
    **SRC_ENDPOINT_FIELDS,
    **DST_ENDPOINT_FIELDS,
    **RESOURCE_FIELDS,
    **ACTOR_USER_FIELDS,
    **HOST_DEVICE_FIELDS,
}
READ_FIELDS: Final[dict[str, str]] = {
    "record_type": "data_security.detection_system_id, data_lifecycle_state_id (epdlp: endpoint)",
    "type": "data_security.detection_system_id, data_lifecycle_state_id (endpoint)",
    "access_method": "data_security.detection_system_id, data_lifecycle_state_id",
    "traffic_type": "data_security.detection_system_id (Web: Secure Web Gateway)",
    "dlp_file": "file.name when object is empty",
    **HOST_DEVICE_READ_FIELDS,
}
_CONSUMED: Final = frozenset(MAPPED_FIELDS)

ENUMS: Final[dict[str, dict[str, int]]] = {
    "data_security.detection_system_id (from access_method / traffic_type)": {
        "endpoint (or record_type epdlp)": ENDPOINT_CHANNEL[0],
        "api connector / introspection": API_CHANNEL[0],
        "inline, traffic_type Web": INLINE_WEB_CHANNEL[0],
        "inline, other traffic": INLINE_CASB_CHANNEL[0],
    },
    "data_security.data_lifecycle_state_id (from access_method)": {
        "endpoint (or record_type epdlp)": ENDPOINT_CHANNEL[2],
        "api connector / introspection": API_CHANNEL[2],
        "inline": INLINE_CASB_CHANNEL[2],
    },
}


def _channel(record: dict[str, Any]) -> tuple[int, str, int, str]:
    if normalise(record.get("record_type")) == "epdlp" or normalise(record.get("type")) == "endpoint":
        return ENDPOINT_CHANNEL
    found = ACCESS_METHOD_CHANNELS.get(normalise(record.get("access_method")))
    if found is not None:
        return found
    return INLINE_WEB_CHANNEL if normalise(record.get("traffic_type")) == "web" else INLINE_CASB_CHANNEL


def _matches(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The incident's DLP matches that are objects (anything else stays only under unmapped)."""
    matches = record.get("dlp_match_info")
    if type(matches) is not list:
        return []
    return [match for match in matches if type(match) is dict]


def _rules(matches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        rule
        for match in matches
        if type(rules := match.get("dlp_rules")) is list
        for rule in rules
        if type(rule) is dict
    ]


def _file(record: dict[str, Any], missing: list[Iterable[str]]) -> dict[str, Any] | None:
    """The file: Netskope's ``object``, else the DLP file name, else endpoint DLP's source file."""
    found = file(record) or file(record, "dlp_file")
    if found is not None:
        if any(record.get(field) for field in ENDPOINT_FILE_FIELDS):
            missing.append(ENDPOINT_FILE_FIELDS)
        return found
    found = file(record, "source_file_name")
    if found is None:
        if any(record.get(field) for field in ENDPOINT_FILE_FIELDS):
            missing.append(ENDPOINT_FILE_FIELDS)
        return None
    kind = text(record.get("source_file_type"))
    if kind is not None:
        if "mime_type" not in found:
            found["mime_type"] = kind
        elif found["mime_type"] != kind:
            missing.append(("source_file_type",))
    size = integer(record.get("source_file_size"))
    if size is not None and "size" not in found:
        found["size"] = size
    elif record.get("source_file_size") and (
        size is None or size != found.get("size")
    ):  # unreadable, or not the file_size
        missing.append(("source_file_size",))
    return found


def build(record: dict[str, Any], log_type: str) -> dict[str, Any]:
    """The Data Security Finding event for a DLP alert, DLP incident or endpoint DLP record."""
    matches = _matches(record)
    missing: list[Iterable[str]] = [("dlp_match_info",)] if record.get("dlp_match_info") and not matches else []
    first = matches[0] if matches else {}
    rules = _rules(matches)
    rule_names = [name for rule in rules if (name := text(rule.get("dlp_rule_name"))) is not None]

    uid = first_text(record, ("dlp_incident_id", "incident_id"), missing) or text(record.get("_id"))
    if uid is None:
        raise MappingError("DLP record has no 'dlp_incident_id', 'incident_id' or '_id' to identify the finding")

    severity = first_text(record, ("dlp_rule_severity", "severity"), missing)
    if severity is None and rules:
        severity = max(
            (text(rule.get("dlp_rule_severity")) for rule in rules),
            key=lambda word: _SEVERITY_RANK[severity_id_from(word)] if word else -1,
        )
    event = base_event(record, log_type, EVENT_CLASS, 1, "Create", severity_id_from(severity), severity=severity)
    profiles: list[str] = []

    rule = text(record.get("dlp_rule")) or (rule_names[0] if rule_names else None)
    profile = text(record.get("dlp_profile")) or text(first.get("dlp_profile_name"))
    info: dict[str, Any] = {
        "uid": uid,
        "title": text(record.get("alert_name"))
        or rule
        or profile
        or text(record.get("policy_name_enforced"))
        or "DLP incident",
        "types": [text(record.get("alert_type")) or "DLP"],
    }
    if rule is not None:
        info["analytic"] = {"name": rule, "type_id": 1, "type": "Rule"}
        others = [name for name in rule_names if name != rule]
        if others:
            info["related_analytics"] = [{"name": name, "type_id": 1, "type": "Rule"} for name in others]
    event["finding_info"] = info

    system_id, system, state_id, state = _channel(record)
    data_security: dict[str, Any] = {
        "detection_system_id": system_id,
        "detection_system": system,
        "data_lifecycle_state_id": state_id,
        "data_lifecycle_state": state,
    }
    if profile is not None:
        data_security["policy"] = {"name": profile}
    set_text(data_security, "src_url", record.get("url"))
    event["data_security"] = data_security
    event["is_alert"] = flag(record.get("alert")) is not False
    finding_status(event, record, missing)

    if security_control(event, record):
        profiles.append("security_control")
    word = first_text(record, ("action", "policy_action"), missing) or text(first.get("dlp_action"))
    if word is not None and "action_id" not in event:
        known = ACTIONS.get(normalise(word), (99, word, 99, word))
        event["action_id"], event["action"], event["disposition_id"], event["disposition"] = known
        profiles.append("security_control")
    action_word(event, word)
    policy = first_text(record, ("policy", "policy_name_enforced", "policy_name"), missing) or text(
        first.get("dlp_policy")
    )
    if policy is not None and "name" not in event.get("policy", {}):
        event.setdefault("policy", {})["name"] = policy
        profiles.append("security_control")

    carried = put(event, "file", _file(record, missing), record, DLP_FILE_FIELDS, missing)
    source = put(event, "src_endpoint", src_endpoint(record), record, SRC_ENDPOINT_FIELDS, missing)
    destination = put(event, "dst_endpoint", dst_endpoint(record), record, DST_ENDPOINT_FIELDS, missing)
    put(event, "resources", resources(record), record, RESOURCE_FIELDS, missing)
    acting = put(event, "actor", actor(record, with_app=False), record, ACTOR_USER_FIELDS, missing)
    host = put(event, "device", device(record), record, HOST_DEVICE_FIELDS, missing)

    found: list[dict[str, Any]] = []
    observe_part(found, "actor.user", acting.get("user") if acting else None)
    observe_part(found, "src_endpoint", source)
    observe_part(found, "dst_endpoint", destination)
    observe_part(found, "device", host)
    observe_file(found, "file", carried)
    if found:
        event["observables"] = found
    return finalize(event, record, _CONSUMED, missing=missing, profiles=profiles)
