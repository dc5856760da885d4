"""Detection Finding (2004): Netskope alerts of type Compromised Credential, Malsite, Malware, Policy, UBA, C2.

Each alert is a new finding (activity 1 Create). ``finding_info.uid`` is the alert's ``alert_id``
(else the record ``_id``); its analytic says how Netskope detected it (a policy rule, a malware
fingerprint, a threat-intel tag, user behaviour, an IPS/C2 signature). The severity comes from the
alert type's own field: ``severity_level`` (malsite), ``malware_severity`` (malware), ``risk_level``
(UBA), else ``severity``. Where the traffic went and what was carried (URL, endpoints, file) are
the finding's ``evidences``; the cloud app is its resource. ``acked`` gives the status (false → 1
New, true → 4 Resolved).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from netskope_provider.ocsf.common import (
    BASE_FIELDS,
    FILE_FIELDS,
    HTTP_FIELDS,
    SECURITY_CONTROL_FIELDS,
    SEVERITY_CAPTIONS,
    MappingError,
    base_event,
    device,
    file,
    finalize,
    flag,
    http_request,
    integer,
    normalise,
    observe,
    observe_file,
    observe_part,
    prefixed,
    routing_key,
    security_control,
    set_present,
    set_text,
    severity_id_from,
    severity_level_id,
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

CLASS_UID: Final = 2004
EVENT_CLASS: Final = CLASSES[CLASS_UID]

#: Normalised ``alert_type`` → (analytic.type_id, analytic.type, field naming the analytic).
ANALYTICS: Final[dict[str, tuple[int, str, str | None]]] = {
    "compromised credential": (99, "Breach Intelligence", None),
    "malsite": (6, "Tagging", None),
    "malware": (5, "Fingerprinting", "detection_engine"),
    "policy": (1, "Rule", "policy"),
    "uba": (2, "Behavioral", "anomaly_type"),
    "c2": (1, "Rule", "signature"),
}

#: The same table keyed the way routing matches alert types ("compromisedcredential" too).
_ANALYTIC_BY_KEY: Final = {routing_key(kind): ids for kind, ids in ANALYTICS.items()}

#: ``malware_type`` words → OCSF malware classification_id (first match wins; "remote access" before "trojan").
MALWARE_CLASSES: Final[tuple[tuple[str, int], ...]] = (
    ("ransom", 10),
    ("remote access", 11),
    ("trojan", 18),
    ("virus", 19),
    ("worm", 22),
    ("adware", 1),
    ("backdoor", 2),
    ("bootkit", 4),
    ("rootkit", 15),
    ("bot", 3),
    ("ddos", 5),
    ("downloader", 6),
    ("dropper", 7),
    ("exploit", 8),
    ("keylogger", 9),
    ("rogue", 14),
    ("screen", 16),
    ("spyware", 17),
    ("webshell", 20),
    ("wiper", 21),
    ("miner", 13),
)

#: OCSF captions of the classification ids above (the ``classifications`` sibling).
MALWARE_CAPTIONS: Final[dict[int, str]] = {
    1: "Adware", 2: "Backdoor", 3: "Bot", 4: "Bootkit", 5: "DDOS", 6: "Downloader", 7: "Dropper",
    8: "Exploit-Kit", 9: "Keylogger", 10: "Ransomware", 11: "Remote-Access-Trojan", 13: "Resource-Exploitation",
    14: "Rogue-Security-Software", 15: "Rootkit", 16: "Screen-Capture", 17: "Spyware", 18: "Trojan",
    19: "Virus", 20: "Webshell", 21: "Wiper", 22: "Worm",
}  # fmt: skip

#: UBA ``risk_level`` words → OCSF risk_level_id.
RISK_LEVELS: Final[dict[str, tuple[int, str]]] = {
    "info": (0, "Info"),
    "informational": (0, "Info"),
    "low": (1, "Low"),
    "medium": (2, "Medium"),
    "med": (2, "Medium"),
    "high": (3, "High"),
    "critical": (4, "Critical"),
}

FINDING_FIELDS: Final[dict[str, str]] = {
    "alert_id": "finding_info.uid",
    "alert_name": "finding_info.title, message",
    "alert_type": "finding_info.types, finding_info.analytic.type_id",
    "incident_id": "finding_info.uid_alt",
    "url": "finding_info.src_url, evidences[].url",
    "breach_description": "finding_info.desc",
    "detection_engine": "finding_info.analytic.name, malware[].provider",
    "anomaly_type": "finding_info.analytic.name",
    "signature": "finding_info.analytic.name",
    "signature_id": "finding_info.analytic.uid",
}
MALWARE_FIELDS: Final[dict[str, str]] = {
    "malware_name": "malware[].name",
    "malware_id": "malware[].uid",
    "malware_type": "malware[].classification_ids, malware[].classifications",
    "malware_severity": "malware[].severity_id, severity_id",
}
#: The HTTP request details other than the URL (the URL is the evidence's own ``url``).
_REQUEST_FIELDS: Final = {field: path for field, path in HTTP_FIELDS.items() if field != "url"}
#: An OCSF evidence must hold one of these (among others the class does not fill).
_EVIDENCE_SUBJECTS: Final = ("src_endpoint", "dst_endpoint", "url", "file")
EVIDENCE_FIELDS: Final[dict[str, str]] = {
    **{field: f"evidences[].{path}" for field, path in SRC_ENDPOINT_FIELDS.items()},
    **{field: f"evidences[].{path}" for field, path in DST_ENDPOINT_FIELDS.items()},
    **prefixed("evidences[].http_request", _REQUEST_FIELDS),
    **prefixed("evidences[].file", FILE_FIELDS),
}

MAPPED_FIELDS: Final[dict[str, str]] = {
    **BASE_FIELDS,
    **FINDING_FIELDS,
    **MALWARE_FIELDS,
    **EVIDENCE_FIELDS,
    "alert": "is_alert",
    "acked": "status_id",
    "status": "status_id, status",
    "severity": "severity_id",
    "severity_level": "severity_id",
    "risk_level": "risk_level_id, severity_id",
    "score": "risk_score",
    "breach_score": "risk_score",
    "remediation": "remediation.desc",
    **SECURITY_CONTROL_FIELDS,
    "action": SECURITY_CONTROL_FIELDS["action"] + ", status_code",
    **RESOURCE_FIELDS,
    **ACTOR_USER_FIELDS,
    **HOST_DEVICE_FIELDS,
}
READ_FIELDS: Final[dict[str, str]] = HOST_DEVICE_READ_FIELDS
_CONSUMED: Final = frozenset(MAPPED_FIELDS)

ENUMS: Final[dict[str, dict[str, int]]] = {
    "finding_info.analytic.type_id (from alert_type)": {kind: ids[0] for kind, ids in ANALYTICS.items()},
    "malware[].classification_ids (from malware_type, substring)": dict(MALWARE_CLASSES),
    "risk_level_id (from risk_level)": {word: ids[0] for word, ids in RISK_LEVELS.items()},
}


#: Severity fields in order of preference; the malware's and UBA's also have their own attributes.
_SEVERITY_FIELDS: Final = ("severity_level", "malware_severity", "risk_level", "severity")
_SEVERITY_KEPT_ELSEWHERE: Final = frozenset({"malware_severity", "risk_level"})
_ANALYTIC_NAME_FIELDS: Final = tuple(
    field for _, _, field in ANALYTICS.values() if field is not None and field != "policy"
)


def _malware(record: dict[str, Any]) -> dict[str, Any] | None:
    name, uid = text(record.get("malware_name")), text(record.get("malware_id"))
    if name is None and uid is None:
        return None
    result: dict[str, Any] = {}
    if name is not None:
        result["name"] = name
    if uid is not None:
        result["uid"] = uid
    kind = text(record.get("malware_type"))
    if kind is None:
        result["classification_ids"] = [0]
    else:
        key = kind.casefold()
        found = next((class_id for word, class_id in MALWARE_CLASSES if word in key), 99)
        result["classification_ids"] = [found]
        result["classifications"] = [MALWARE_CAPTIONS.get(found, kind)]
    severity = text(record.get("malware_severity"))
    if severity is not None:
        severity_id = severity_id_from(severity)
        result["severity_id"] = severity_id
        result["severity"] = severity if severity_id == 99 else SEVERITY_CAPTIONS[severity_id]
    set_text(result, "provider", record.get("detection_engine"))
    return result


def build(record: dict[str, Any], log_type: str) -> dict[str, Any]:
    """The Detection Finding event for a Netskope threat or policy alert."""
    uid = text(record.get("alert_id")) or text(record.get("_id"))
    if uid is None:
        raise MappingError("alert has neither 'alert_id' nor '_id' to identify the finding")
    alert_type = text(record.get("alert_type")) or "alert"
    missing: list[Iterable[str]] = []
    severity = first_text(record, _SEVERITY_FIELDS, missing, kept_elsewhere=_SEVERITY_KEPT_ELSEWHERE)
    level = record.get("severity_level")  # the first choice, on Netskope's own scale when a number
    severity_id = severity_level_id(level) if text(level) is not None else severity_id_from(severity)
    event = base_event(record, log_type, EVENT_CLASS, 1, "Create", severity_id, severity=severity)
    profiles: list[str] = []

    analytic_type_id, analytic_type, name_field = _ANALYTIC_BY_KEY.get(routing_key(alert_type), (99, alert_type, None))
    analytic: dict[str, Any] = {
        "name": (text(record.get(name_field)) if name_field else None) or alert_type,
        "type_id": analytic_type_id,
        "type": analytic_type,
    }
    set_text(analytic, "uid", record.get("signature_id"))
    info: dict[str, Any] = {
        "uid": uid,
        "title": text(record.get("alert_name")) or f"{alert_type} alert",
        "types": [alert_type],
        "analytic": analytic,
    }
    set_text(info, "uid_alt", record.get("incident_id"))
    src_url = text(record.get("url"))
    set_present(info, "src_url", src_url)
    set_text(info, "desc", record.get("breach_description"))
    event["finding_info"] = info
    if "title" in info and text(record.get("alert_name")) is not None:
        event["message"] = info["title"]
    event["is_alert"] = flag(record.get("alert")) is not False  # routed here: an alert
    finding_status(event, record, missing)

    malware = _malware(record)
    if malware is not None:
        event["malware"] = [malware]
        if "classifications" in malware and malware["classifications"][0] != text(record.get("malware_type")):
            missing.append(("malware_type",))  # "Trojan.Downloader" is classified Trojan: keep the words
    else:
        if record.get("malware_severity") and text(record.get("malware_severity")) != severity:
            missing.append(("malware_severity",))
        if record.get("malware_type"):  # a type without a malware name or id: no malware object to carry it
            missing.append(("malware_type",))
    for field in _ANALYTIC_NAME_FIELDS:  # another alert type's analytic field: nothing took it
        if field != name_field and record.get(field) and not (field == "detection_engine" and malware is not None):
            missing.append((field,))
    risk = text(record.get("risk_level"))
    if risk is not None:
        event["risk_level_id"], event["risk_level"] = RISK_LEVELS.get(normalise(risk), (99, risk))
    for field in ("score", "breach_score"):
        score = integer(record.get(field))
        if score is not None and "risk_score" not in event:
            event["risk_score"] = score
        elif record.get(field):
            missing.append((field,))
    remedy = text(record.get("remediation"))
    if remedy is not None:
        event["remediation"] = {"desc": remedy}

    evidence: dict[str, Any] = {}
    put(evidence, "src_endpoint", src_endpoint(record), record, SRC_ENDPOINT_FIELDS, missing)
    put(evidence, "dst_endpoint", dst_endpoint(record), record, DST_ENDPOINT_FIELDS, missing)
    request = http_request(record)
    if request is not None:
        web = request.pop("url", None)
        if web is not None:
            evidence["url"] = web
        if request:
            evidence["http_request"] = request
    put(evidence, "file", file(record), record, FILE_FIELDS, missing)
    if any(subject in evidence for subject in _EVIDENCE_SUBJECTS):
        event["evidences"] = [evidence]
    elif evidence:  # only request details: not an evidence on its own, so they stay in unmapped
        missing.append(_REQUEST_FIELDS)

    put(event, "resources", resources(record), record, RESOURCE_FIELDS, missing)
    if security_control(event, record):
        profiles.append("security_control")
    action_word(event, record.get("action"))
    acting = put(event, "actor", actor(record, with_app=False), record, ACTOR_USER_FIELDS, missing)
    if acting is not None:
        profiles.append("host")
    host = put(event, "device", device(record), record, HOST_DEVICE_FIELDS, missing)

    found: list[dict[str, Any]] = []
    observe_part(found, "actor.user", acting.get("user") if acting else None)
    observe_part(found, "device", host)
    observe(found, "finding_info.src_url", "url", src_url)
    observe_part(found, "evidences.src_endpoint", evidence.get("src_endpoint"))
    observe_part(found, "evidences.dst_endpoint", evidence.get("dst_endpoint"))
    observe_file(found, "evidences.file", evidence.get("file"))
    if found:
        event["observables"] = found
    return finalize(event, record, _CONSUMED, missing=missing, profiles=profiles)
