"""Engineer B's classes: Network Activity 4001, Detection Finding 2004, Data Security Finding 2006, File Hosting 6006."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from netskope_provider.ocsf import (
    data_security_finding,
    detection_finding,
    file_hosting_activity,
    map_record,
    network_activity,
    routing,
)
from netskope_provider.ocsf.validate import validate_event
from netskope_provider.simulator.records import generate

MODULES = {m.CLASS_UID: m for m in (network_activity, detection_finding, data_security_finding, file_hosting_activity)}
GOLDEN = sorted((Path(__file__).resolve().parents[1] / "data" / "golden").glob("*.json"))

#: Fields whose value the event states in another form, not as the source text.
CONVERTED = {
    "alert",  # "yes" -> is_alert: true
    "acked",  # "true"/"false" -> status New/Resolved
    "start_time",  # ISO-8601 -> epoch ms
    "end_time",
}


def _records_of_my_classes() -> list[tuple[str, str, dict[str, Any]]]:
    cases = []
    for path in GOLDEN:
        case = orjson.loads(path.read_bytes())
        if case["expected"]["class_uid"] in MODULES:
            cases.append((path.stem, case["log_type"], case["record"]))
    for log_type in ("application", "page", "network", "incident", "endpoint", "alert"):
        for index, record in enumerate(generate(log_type, 300, 1_719_792_000, 1_719_878_400, 99)):
            if routing.classify(record, log_type) in MODULES:
                cases.append((f"{log_type}-{index}", log_type, record))
    return cases


CASES = _records_of_my_classes()


def _words(value: str) -> str:
    return " ".join(value.replace("_", " ").split()).casefold()


def test_no_source_field_is_lost() -> None:
    """Every present field is kept in unmapped (exactly) or taken by an attribute whose text shows in the event."""
    for name, log_type, record in CASES:
        mapped = map_record(record, log_type)
        assert mapped.kind == "ocsf", (name, mapped.reason)
        event = mapped.event
        consumed = MODULES[mapped.class_uid].MAPPED_FIELDS
        unmapped = event.get("unmapped", {})
        shown = _words(orjson.dumps({k: v for k, v in event.items() if k != "unmapped"}).decode())
        for key, value in record.items():
            if not value and value is not False:  # false is a value (kept), "" / 0 / {} are not
                assert key not in unmapped, (name, key, "an absent default is noise in unmapped")
            elif key in unmapped:
                assert unmapped[key] == value and type(unmapped[key]) is type(value), (name, key)
            else:
                assert key in consumed, (name, key, "neither mapped nor in unmapped")
                if isinstance(value, str) and key not in CONVERTED and _words(value) != "unknown":
                    assert _words(value) in shown, (name, key, value, "consumed but appears nowhere")


def test_every_event_validates_and_keeps_its_identity() -> None:
    for name, log_type, record in CASES:
        event = map_record(record, log_type).event
        assert validate_event(event) == [], name
        assert event["metadata"]["uid"] == str(record["_id"])
        assert event["metadata"]["product"]["feature"] == {"name": log_type}
        assert event["time"] == int(record["timestamp"]) * 1000


# --------------------------------------------------------------------------- Network Activity


def _network(**fields: Any) -> dict[str, Any]:
    return {"_id": "n1", "timestamp": 1_719_830_400, "record_type": "network", "srcip": "198.51.100.7", **fields}


SPELLINGS = [str, str.lower, lambda word: f"  {word.upper()} ", lambda word: word.replace(" ", "").lower()]


@pytest.mark.parametrize("action", routing.NETWORK_ACTIONS)
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_network_action_has_its_activity_and_status(action: str, spelling: Any) -> None:
    mapped = map_record(_network(action=spelling(action)), "network")
    activity_id, _, status_id = network_activity.ACTIVITIES[_words(action)]
    assert (mapped.class_uid, mapped.event["activity_id"], mapped.event["status_id"]) == (4001, activity_id, status_id)
    assert mapped.event["status_code"] == spelling(action).strip()
    assert validate_event(mapped.event) == []


def test_protocol_session_traffic_and_times_fill_connection_info_and_traffic() -> None:
    event = network_activity.build(
        _network(
            action="allow", ip_protocol="UDP", network_session_id="42", client_bytes=10, server_bytes=20, numbytes=30,
            start_time="2024-07-01T10:00:00+00:00", end_time="2024-07-01T10:00:05+00:00",
        ),
        "network",
    )  # fmt: skip
    assert event["connection_info"] == {
        "direction_id": 2, "direction": "Outbound", "protocol_name": "udp", "protocol_num": 17, "uid": "42",
    }  # fmt: skip
    assert event["traffic"] == {"bytes_out": 10, "bytes_in": 20, "bytes": 30}
    assert (event["start_time"], event["end_time"], event["duration"]) == (1_719_828_000_000, 1_719_828_005_000, 5000)


def test_unreadable_counts_and_times_stay_in_unmapped() -> None:
    event = network_activity.build(
        _network(action="allow", client_bytes="N/A", server_bytes=-5, numbytes=7, start_time="yesterday",
                 conn_starttime=1_719_830_000, end_time="2024-07-01T10:40:00+00:00", conn_endtime=1_719_830_999),
        "network",
    )  # fmt: skip
    assert event["traffic"] == {"bytes": 7}
    assert event["start_time"] == 1_719_830_000_000 and event["end_time"] == 1_719_830_400_000
    assert {k: event["unmapped"][k] for k in ("client_bytes", "server_bytes", "start_time", "conn_endtime")} == {
        "client_bytes": "N/A", "server_bytes": -5, "start_time": "yesterday", "conn_endtime": 1_719_830_999,
    }  # fmt: skip


def test_endpoint_parts_without_an_address_stay_in_unmapped() -> None:
    event = network_activity.build(
        _network(action="allow", srcip="", srcport=51514, src_location="Lisbon", dsthost="erp"), "network"
    )
    assert "src_endpoint" not in event
    assert event["unmapped"]["srcport"] == 51514 and event["unmapped"]["src_location"] == "Lisbon"
    assert event["dst_endpoint"] == {"hostname": "erp"}


def test_network_record_without_any_endpoint_is_raw_with_a_reason() -> None:
    record = _network(action="allow", srcip="", srcport=51514)
    mapped = map_record(record, "network")
    assert mapped.kind == "raw" and mapped.event is record and "requires one" in (mapped.reason or "")


def test_page_connection_without_action_is_traffic_of_unknown_status() -> None:
    mapped = map_record({"_id": "p1", "timestamp": 1, "type": "connection", "srcip": "198.51.100.7"}, "page")
    assert (mapped.class_uid, mapped.event["activity_id"]) == (4001, 6)
    assert "status_id" not in mapped.event and "action_id" not in mapped.event


def test_invalid_addresses_and_ports_are_kept_raw_not_emitted() -> None:
    event = network_activity.build(
        _network(action="block", srcip="not-an-ip", dstip="10.0.0.1", dstport=70000), "network"
    )
    assert event["dst_endpoint"] == {"ip": "10.0.0.1"}
    assert event["unmapped"]["srcip"] == "not-an-ip" and event["unmapped"]["dstport"] == 70000
    assert validate_event(event) == []


# --------------------------------------------------------------------------- Detection Finding


def _alert(alert_type: str, **fields: Any) -> dict[str, Any]:
    return {
        "_id": "a1",
        "timestamp": 1_719_830_400,
        "record_type": "alert",
        "alert": "yes",
        "alert_type": alert_type,
        **fields,
    }


@pytest.mark.parametrize("alert_type", routing.DETECTION_ALERT_TYPES)
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_detection_alert_type_names_its_analytic(alert_type: str, spelling: Any) -> None:
    mapped = map_record(_alert(spelling(alert_type), alert_name="x"), "alert")
    type_id = detection_finding.ANALYTICS[_words(alert_type)][0]
    info = mapped.event["finding_info"]
    assert (mapped.class_uid, info["uid"], info["analytic"]["type_id"]) == (2004, "a1", type_id)
    assert info["types"] == [spelling(alert_type).strip()]
    assert mapped.event["is_alert"] is True
    assert validate_event(mapped.event) == []


def test_malware_alert_carries_the_malware_and_evidence_file() -> None:
    event = detection_finding.build(
        _alert(
            "Malware", malware_name="EICAR", malware_id="m1", malware_type="Remote Access Trojan", malware_severity="HIGH",
            object="e.zip", md5="44d88612fea8a8f36de82e1278abb02f", detection_engine="Sandbox",
        ),
        "alert",
    )  # fmt: skip
    assert event["malware"] == [
        {
            "name": "EICAR", "uid": "m1", "classification_ids": [11], "classifications": ["Remote-Access-Trojan"],
            "severity_id": 4, "severity": "High", "provider": "Sandbox",
        }
    ]  # fmt: skip
    assert event["severity_id"] == 4
    assert event["unmapped"]["malware_type"] == "Remote Access Trojan"
    assert event["evidences"][0]["file"]["hashes"] == [
        {"algorithm_id": 1, "algorithm": "MD5", "value": "44d88612fea8a8f36de82e1278abb02f"}
    ]


@pytest.mark.parametrize(("acked", "status_id"), [("false", 1), ("true", 4), (False, 1), (True, 4)])
def test_acknowledgement_is_the_finding_status(acked: Any, status_id: int) -> None:
    assert detection_finding.build(_alert("policy", acked=acked), "alert")["status_id"] == status_id


def test_an_unreadable_acknowledgement_stays_in_unmapped() -> None:
    event = detection_finding.build(_alert("policy", acked="maybe"), "alert")
    assert "status_id" not in event and event["unmapped"]["acked"] == "maybe"


def test_alert_id_is_preferred_and_a_finding_needs_some_id() -> None:
    assert detection_finding.build(_alert("uba", alert_id=18446744073709551615), "alert")["finding_info"]["uid"] == (
        "18446744073709551615"
    )
    mapped = map_record({k: v for k, v in _alert("uba").items() if k != "_id"}, "alert")
    assert mapped.kind == "raw" and "identify the finding" in (mapped.reason or "")


def test_another_alert_types_fields_stay_in_unmapped() -> None:
    event = detection_finding.build(
        _alert("policy", policy="P", signature="ET X", anomaly_type="rare", detection_engine="E"), "alert"
    )
    assert event["finding_info"]["analytic"]["name"] == "P"
    assert {key: event["unmapped"][key] for key in ("signature", "anomaly_type", "detection_engine")} == {
        "signature": "ET X", "anomaly_type": "rare", "detection_engine": "E",
    }  # fmt: skip


def test_remediation_and_risk_are_filled_where_present() -> None:
    event = detection_finding.build(
        _alert("Compromised Credential", remediation="Reset the password", breach_score=87), "alert"
    )
    assert event["remediation"] == {"desc": "Reset the password"}
    assert event["risk_score"] == 87


# --------------------------------------------------------------------------- Data Security Finding


def test_incident_severity_is_its_own_else_its_highest_rule_and_every_rule_is_listed() -> None:
    record = orjson.loads((Path(__file__).resolve().parents[1] / "data" / "golden" / "incident_dlp.json").read_bytes())[
        "record"
    ]
    event = data_security_finding.build(record, "incident")
    assert (event["severity_id"], event["finding_info"]["analytic"]["name"]) == (3, "Credit card numbers")
    assert data_security_finding.build({**record, "severity": ""}, "incident")["severity_id"] == 4
    assert [a["name"] for a in event["finding_info"]["related_analytics"]] == ["IBAN"]
    assert event["unmapped"]["dlp_match_info"] == record["dlp_match_info"]


@pytest.mark.parametrize(
    ("fields", "system_id", "state_id"),
    [
        ({"access_method": "Client", "traffic_type": "CloudApp"}, 8, 2),
        ({"access_method": "Client", "traffic_type": "Web"}, 5, 2),
        ({"access_method": "API Connector"}, 8, 1),
        ({"access_method": "Endpoint"}, 1, 3),
        ({"record_type": "epdlp", "type": "endpoint"}, 1, 3),
    ],
)
def test_where_dlp_caught_the_data(fields: dict[str, Any], system_id: int, state_id: int) -> None:
    event = data_security_finding.build({"_id": "d1", "timestamp": 1, "dlp_incident_id": 7, **fields}, "alert")
    security = event["data_security"]
    assert (security["detection_system_id"], security["data_lifecycle_state_id"]) == (system_id, state_id)
    assert validate_event(event) == []


def test_incident_workflow_status() -> None:
    for status, status_id in (("new", 1), ("in_progress", 2), ("resolved", 4), ("escalated", 99)):
        event = data_security_finding.build({"_id": "d1", "timestamp": 1, "status": status}, "incident")
        assert event["status_id"] == status_id
    assert event["status"] == "escalated"


# --------------------------------------------------------------------------- File Hosting Activity


def _file_event(activity: str, **fields: Any) -> dict[str, Any]:
    return {
        "_id": "f1", "timestamp": 1_719_830_400, "record_type": "application", "alert": "no", "activity": activity,
        "user": "ana@example.com", "app": "Box", "object": "a.txt", "srcip": "198.51.100.7", **fields,
    }  # fmt: skip


@pytest.mark.parametrize("activity", routing.FILE_HOSTING_ACTIVITIES)
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_file_activity_has_its_activity_id(activity: str, spelling: Any) -> None:
    mapped = map_record(_file_event(spelling(activity)), "application")
    activity_id, caption = file_hosting_activity.ACTIVITIES[_words(activity)]
    assert (mapped.class_uid, mapped.event["activity_id"], mapped.event["activity_name"]) == (
        6006,
        activity_id,
        caption,
    )
    assert validate_event(mapped.event) == []


@pytest.mark.parametrize(
    ("missing", "reason"),
    [("srcip", "requires a source endpoint"), ("user", "requires an actor")],
)
def test_file_activity_without_a_required_part_is_raw_with_a_reason(missing: str, reason: str) -> None:
    record = _file_event("Upload")
    del record[missing]
    if missing == "user":
        del record["app"]
    mapped = map_record(record, "application")
    assert mapped.kind == "raw" and mapped.event is record and reason in (mapped.reason or "")


def test_device_address_stands_in_for_a_missing_egress_address() -> None:
    event = file_hosting_activity.build(_file_event("Upload", srcip="", userip="10.1.2.3"), "application")
    assert event["src_endpoint"] == {"ip": "10.1.2.3"}


def test_blocked_file_activity_failed() -> None:
    event = file_hosting_activity.build(_file_event("Download", action="block", url="box.com/f/1"), "application")
    assert (event["status_id"], event["action_id"], event["status_code"]) == (2, 2, "block")
    assert event["file"]["url"]["url_string"] == "box.com/f/1"


@pytest.mark.parametrize(
    ("zone", "timestamp", "offset"),
    [("Europe/Paris", 1_719_830_400, 120), ("Europe/Paris", 1_704_067_200, 60), ("Asia/Kolkata", 1_719_830_400, 330),
     ("America/Los_Angeles", 1_719_830_400, -420), ("N/A", 1_719_830_400, None), ("../../etc/passwd", 1_719_830_400, None)],
)  # fmt: skip
def test_time_zone_name_gives_the_offset_and_stays_in_unmapped(zone: str, timestamp: int, offset: int | None) -> None:
    event = file_hosting_activity.build(_file_event("Upload", timestamp=timestamp, src_timezone=zone), "application")
    assert event.get("timezone_offset") == offset
    assert event["unmapped"]["src_timezone"] == zone
    assert validate_event(event) == []


def test_file_activity_says_it_is_not_an_alert_and_alerts_carry_their_name_as_message() -> None:
    assert file_hosting_activity.build(_file_event("Upload"), "application")["is_alert"] is False
    assert (
        detection_finding.build(_alert("policy", alert_name="Upload blocked"), "alert")["message"] == "Upload blocked"
    )


# --------------------------------------------------------------------------- enum tables


def test_enum_tables_only_use_ids_ocsf_defines() -> None:
    """Every id a table publishes is accepted by the validator in the attribute it fills."""
    base = _file_event("Upload")
    for activity_id, caption in set(file_hosting_activity.ACTIVITIES.values()):
        event = file_hosting_activity.build(base, "application")
        event.update(activity_id=activity_id, activity_name=caption, type_uid=600600 + activity_id)
        assert validate_event(event) == [], caption
    for activity_id, name, _ in network_activity.ACTIVITIES.values():
        event = network_activity.build(_network(action="allow"), "network")
        event.update(activity_id=activity_id, activity_name=name, type_uid=400100 + activity_id)
        assert validate_event(event) == [], name
    malware = detection_finding.build(_alert("Malware", malware_name="m", malware_type="x"), "alert")
    for type_id, caption, _ in detection_finding.ANALYTICS.values():
        event = copy.deepcopy(malware)
        event["finding_info"]["analytic"].update(type_id=type_id, type=caption)
        assert validate_event(event) == [], type_id
    for _, class_id in detection_finding.MALWARE_CLASSES:
        event = copy.deepcopy(malware)
        event["malware"][0].update(
            classification_ids=[class_id], classifications=[detection_finding.MALWARE_CAPTIONS[class_id]]
        )
        assert validate_event(event) == [], class_id
    for risk_id, caption in detection_finding.RISK_LEVELS.values():
        event = copy.deepcopy(malware)
        event.update(risk_level_id=risk_id, risk_level=caption)
        assert validate_event(event) == [], risk_id


def test_captions_are_the_ocsf_ones_and_a_wrong_caption_is_caught() -> None:
    event = detection_finding.build(_alert("Malware", malware_name="m", malware_type="Trojan.Downloader"), "alert")
    assert event["malware"][0]["classifications"] == ["Trojan"]
    event["malware"][0]["classifications"] = ["Trojan.Downloader"]
    assert validate_event(event) == [
        "malware[0].classifications[0]: 'Trojan.Downloader' is not the caption 'Trojan' of 18"
    ]


def test_mapped_fields_name_real_netskope_fields() -> None:
    """Every documented source field is a plain field name (the docs table and ``unmapped`` use it)."""
    for module in MODULES.values():
        for field in module.MAPPED_FIELDS:
            assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", field) or " (" in field, (module.__name__, field)
