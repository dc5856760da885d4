"""OCSF that analysts can query (issue #19): each attribute where a Security Lake, Athena or Logs
Insights query looks for it, on records shaped like Netskope's published ones.

The records are the golden cases (``tests/data/golden``), written for the project in the shapes
of the published samples: audit records without ``record_type`` and with a numeric
``severity_level``, NPA network records with the address in ``dsthost``, application records whose
``user`` and ``ur_normalized`` differ in case, type defaults such as ``false`` and ``""``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from netskope_provider.ocsf import common, map_record
from netskope_provider.ocsf.validate import validate_event

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"


def _record(case: str, **changes: Any) -> tuple[dict[str, Any], str]:
    loaded = orjson.loads((GOLDEN / f"{case}.json").read_bytes())
    return {**loaded["record"], **changes}, loaded["log_type"]


def _event(case: str, **changes: Any) -> dict[str, Any]:
    record, log_type = _record(case, **changes)
    mapped = map_record(record, log_type)
    assert mapped.kind == "ocsf", mapped.reason
    assert validate_event(mapped.event) == []
    return mapped.event


def _observed(event: dict[str, Any]) -> set[tuple[str, int, str]]:
    return {(item["name"], item["type_id"], item["value"]) for item in event.get("observables", ())}


def test_1_a_logout_forced_by_login_failures_is_a_failed_logoff_with_the_reason() -> None:
    event = _event("audit_forced_logout_is_a_failure")
    assert (event["class_uid"], event["activity_id"], event["status_id"], event["status"]) == (3002, 2, 2, "Failure")
    assert event["status_detail"] == "Admin logged out because of successive login failures"


def test_2_an_address_in_a_host_field_is_an_ip() -> None:
    event = _event("network_npa_address_in_dsthost")
    assert event["dst_endpoint"] == {"ip": "10.40.2.17", "port": 8443}
    assert ("dst_endpoint.ip", 2, "10.40.2.17") in _observed(event)
    assert not any(name.endswith("hostname") and value == "10.40.2.17" for name, _, value in _observed(event))
    v6 = _event("network_npa_address_in_dsthost", dsthost="2001:db8::17")
    assert v6["dst_endpoint"]["ip"] == "2001:db8::17" and "hostname" not in v6["dst_endpoint"]
    both = _event("network_npa_address_in_dsthost", dstip="10.40.2.18")  # another address: kept, not lost
    assert both["dst_endpoint"]["ip"] == "10.40.2.18" and both["unmapped"]["dsthost"] == "10.40.2.17"
    named = _event("network_npa_address_in_dsthost", dsthost="erp.corp.example.com", dstip="10.40.2.17")
    assert named["dst_endpoint"]["hostname"] == "erp.corp.example.com" and "dsthost" not in named.get("unmapped", {})
    device = _event("network_npa_address_in_dsthost", hostname="10.9.8.7")["device"]
    assert device["ip"] == "10.9.8.7" and "hostname" not in device
    appliance = _event("infrastructure_metric", hostname="172.16.0.9")["device"]
    assert appliance["ip"] == "172.16.0.9" and "hostname" not in appliance


def test_3_findings_observe_their_file_hashes_names_and_evidence_addresses() -> None:
    malware = _observed(_event("alert_malware"))
    assert {
        ("evidences.src_endpoint.ip", 2, "198.51.100.23"),
        ("evidences.dst_endpoint.ip", 2, "203.0.113.80"),
    } <= malware
    assert any(name == "evidences.file.name" and type_id == 7 for name, type_id, _ in malware)
    assert {(name, type_id) for name, type_id, _ in malware} >= {("evidences.file.hashes.value", 8)}
    incident = _event("incident_dlp")
    hashes = {digest["value"] for digest in incident["file"]["hashes"]}
    assert hashes and hashes <= {value for name, type_id, value in _observed(incident) if name == "file.hashes.value"}


@pytest.mark.parametrize(("level", "severity_id", "caption"), [(1, 4, "High"), (2, 3, "Medium"), (3, 2, "Low")])
def test_4_audit_severity_level_is_read_on_netskopes_descending_scale(
    level: int, severity_id: int, caption: str
) -> None:
    for case in (
        "audit_login_failed_severity_level_1",
        "audit_deleted_policy_names_no_entity",
        "audit_edit_admin_record",
    ):
        event = _event(case, severity_level=level)
        assert (event["severity_id"], event["severity"]) == (severity_id, caption), case
        assert (_event(case, severity_level=str(level))["severity_id"]) == severity_id
    assert common.severity_level_id(4) == 1 and common.severity_level_id("med") == 3
    odd = _event("audit_login_failed_severity_level_1", severity_level=7)
    assert odd["severity_id"] == 0 and odd["unmapped"]["severity_level"] == 7


def test_5_the_lower_cased_user_is_kept_beside_the_user_as_written() -> None:
    event = _event("application_upload_mac_release_and_user_case")
    assert event["actor"]["user"]["name"] == "R.Sato@Example.jp"
    assert event["unmapped"]["ur_normalized"] == "r.sato@example.jp"
    same = _event("application_upload_mac_release_and_user_case", user="r.sato@example.jp")
    assert "ur_normalized" not in same.get("unmapped", {})


def test_6_a_netskope_id_lands_in_the_same_attribute_in_every_class() -> None:
    ids = {"transaction_id": 5555555555555555555, "connection_id": 4444444444444444444, "app_session_id": 1234567890}
    cases = ("application_login_successful", "application_upload_mac_release_and_user_case", "page_connection")
    cases += ("alert_dlp", "alert_malware", "incident_dlp")
    for case in cases:
        event = _event(case, **ids)
        assert event["metadata"]["correlation_uid"] == "5555555555555555555", case
        assert event["metadata"]["tags"] == [{"name": "connection_id", "value": "4444444444444444444"}], case
        assert event["actor"]["session"]["uid"] == "1234567890", case
        assert not set(ids) & set(event.get("unmapped", {})), case


def test_7_false_is_a_value_and_is_kept() -> None:
    event = _event("alert_dlp_false_flag_and_invalid_values")
    assert event["unmapped"]["file_cls_encrypted"] is False
    assert "file_cls_encrypted" not in _event("alert_dlp_false_flag_and_invalid_values", file_cls_encrypted="").get(
        "unmapped", {}
    )


@pytest.mark.parametrize("release", ["Ventura", "Sonoma", "Sequoia", "Monterey", "Big Sur", "Catalina"])
def test_8_a_mac_named_by_its_release_runs_macos(release: str) -> None:
    os = _event("application_upload_mac_release_and_user_case", os=release)["device"]["os"]
    assert (os["name"], os["type_id"], os["type"]) == (release, 300, "macOS")


def test_8_an_unknown_release_takes_the_family_of_its_device() -> None:
    record = ("application_upload_mac_release_and_user_case",)
    assert _event(*record, os="Quartz 99")["device"]["os"]["type_id"] == 300
    assert _event(*record, os="Fedora 40", device="Linux Device")["device"]["os"]["type_id"] == 200
    other = _event(*record, os="Plan 9", device="Unknown Device")["device"]["os"]
    assert (other["type_id"], other["type"]) == (99, "Plan 9")


def test_9_an_entity_the_record_does_not_name_is_not_named_from_the_event_text() -> None:
    entity = _event("audit_deleted_policy_names_no_entity")["entity"]
    assert entity["name"] == "Unknown" and (entity["type_id"], entity["type"]) == (5, "Policy")
    assert "policy" not in entity
    assert entity["data"] == {"data_type": "policy", "data_values": [False]}


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({}, "budget-2025.xlsx"),
        ({"file_path": ""}, "Plans"),
        ({"file_path": "", "dlp_file": "draft.docx"}, "draft.docx"),
        ({"file_path": "", "title": "Quarterly plan"}, "Quarterly plan"),
        ({"file_path": "C:\\Users\\rs\\notes.txt"}, "notes.txt"),
        ({"file_path": "", "url": "www.dropbox.com/"}, "Unknown"),
        ({"file_path": "", "url": ""}, "Unknown"),
    ],
)
def test_10_file_activity_without_an_object_is_file_hosting_named_by_its_best_identifier(
    fields: dict[str, Any], name: str
) -> None:
    event = _event("application_edit_without_object", **fields)
    assert (event["class_uid"], event["activity_id"], event["file"]["name"]) == (6006, 3, name)


def test_11_values_invalid_for_their_type_stay_in_unmapped() -> None:
    event = _event("alert_dlp_false_flag_and_invalid_values")
    assert [digest["algorithm"] for digest in event["file"]["hashes"]] == ["SHA-256"]
    assert event["unmapped"]["sha1"] == "3b30d5c68bfe" and event["unmapped"]["md5"] == "NotAvailable"
    assert "lat" not in event["src_endpoint"]["location"]
    assert (event["unmapped"]["src_latitude"], event["unmapped"]["src_longitude"]) == (238.7223, -9.1393)
    for field, digest in (("md5", "a" * 40), ("sha256", "b" * 40), ("sha1", "c" * 64), ("md5", "g" * 32)):
        wrong = _event("alert_dlp_false_flag_and_invalid_values", **{field: digest})
        assert wrong["unmapped"][field] == digest, field
        assert digest not in {item["value"] for item in wrong["file"].get("hashes", ())}
    assert _event("alert_dlp", dst_longitude=-190.5)["unmapped"]["dst_longitude"] == -190.5
