"""Engineer A's classes: Authentication 3002, Entity Management 3004, Account Change 3001, Device Inventory Info 5001."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netskope_provider.ocsf import account_change, authentication, device_inventory_info, entity_management, map_record
from netskope_provider.ocsf import routing as r
from netskope_provider.ocsf.common import FALLBACK_FIELDS, present
from netskope_provider.ocsf.validate import validate_event
from netskope_provider.simulator.records import generate

FIXTURES: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "ocsf_iam_records.json").read_text()
)
MODULES = {m.CLASS_UID: m for m in (authentication, entity_management, account_change, device_inventory_info)}
EXPECTED_CLASS = {
    "application_login": 3002,
    "application_other_login": 3002,
    "application_logout_no_app": 3002,
    "audit_sso_login": 3002,
    "audit_forced_logout": 3002,
    "audit_entity_edit": 3004,
    "audit_entity_push": 3004,
    "audit_account_password": 3001,
    "audit_account_support_sso": 3001,
    "infrastructure_alarm": 5001,
    "infrastructure_metric": 5001,
}


def _event(name: str) -> dict[str, Any]:
    fixture = FIXTURES[name]
    mapped = map_record(fixture["record"], fixture["log_type"])
    assert mapped.kind == "ocsf", mapped.reason
    assert mapped.class_uid == EXPECTED_CLASS[name]
    return mapped.event


def _at(event: dict[str, Any], path: str) -> Any:
    value: Any = event
    for part in path.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def test_fixture_table_matches_the_data_file() -> None:
    assert set(FIXTURES) == set(EXPECTED_CLASS)


@pytest.mark.parametrize("name", sorted(EXPECTED_CLASS))
def test_fixture_maps_to_a_valid_event_with_the_envelope(name: str) -> None:
    record = FIXTURES[name]["record"]
    event = _event(name)
    assert validate_event(event) == []
    assert event["type_uid"] == event["class_uid"] * 100 + event["activity_id"]
    assert event["time"] == int(record["timestamp"]) * 1000
    assert event["metadata"]["uid"] == record["_id"]
    assert event["metadata"]["original_time"] == str(record["timestamp"])
    assert event["metadata"]["product"] == {
        "name": "Netskope Security Cloud",
        "vendor_name": "Netskope",
        "feature": {"name": FIXTURES[name]["log_type"]},
    }
    if "_insertion_epoch_timestamp" in record:
        assert event["metadata"]["logged_time"] == record["_insertion_epoch_timestamp"] * 1000


@pytest.mark.parametrize("name", sorted(EXPECTED_CLASS))
def test_no_source_field_is_lost(name: str) -> None:
    """Every present field is either taken by an attribute (and its text shows in the event) or kept in unmapped."""
    record = FIXTURES[name]["record"]
    event = _event(name)
    consumed = MODULES[event["class_uid"]].MAPPED_FIELDS
    unmapped = event.get("unmapped", {})
    serialised = orjson.dumps({k: v for k, v in event.items() if k != "unmapped"}).decode().casefold()
    for key, value in record.items():
        if not present(value) and value is not False:
            assert key not in unmapped, f"{key}: an absent default is noise in unmapped"
        elif key in unmapped:
            assert unmapped[key] == value and type(unmapped[key]) is type(value), key
        else:
            assert key in consumed, f"{key} is neither mapped nor in unmapped"
            if isinstance(value, str):  # "allow" shows as "Allowed": compare casefolded
                assert value.strip().casefold() in serialised, f"{key}={value!r} was consumed but appears nowhere"
        kept = key in FALLBACK_FIELDS or isinstance(value, (dict, list, bool))  # a fallback that lost, or a shape
        assert not (key in unmapped and key in consumed and not kept), key


def test_application_login_fills_user_service_endpoints_device_http_and_policy() -> None:
    event = _event("application_login")
    assert (event["activity_id"], event["status_id"], event["message"]) == (1, 1, "Login Successful")
    assert event["user"]["email_addr"] == "Ana.Lopez@example.com"
    assert event["user"]["account"] == {"name": "alopez", "type_id": 1, "type": "LDAP Account"}
    assert event["user"]["org"]["ou_name"] == "example.com/Staff/Sales"
    assert event["service"] == {"name": "Microsoft Office 365 Outlook.com"}
    assert event["src_endpoint"] == {
        "ip": "203.0.113.45",
        "location": {
            "city": "Lisbon",
            "country": "PT",
            "region": "Lisboa",
            "postal_code": "1000-001",
            "lat": 38.7223,
            "long": -9.1393,
        },
    }
    assert "port" not in event["src_endpoint"]  # srcport 0 is Netskope's "absent"
    assert (event["dst_endpoint"]["ip"], event["dst_endpoint"]["port"]) == ("52.96.0.10", 443)
    assert event["device"]["os"] == {"name": "Windows 11", "type_id": 100, "type": "Windows"}
    assert (event["device"]["type_id"], event["device"]["is_managed"], event["device"]["ip"]) == (2, True, "10.1.2.3")
    assert event["http_request"]["url"]["hostname"] == "login.microsoftonline.com"
    assert event["http_request"]["user_agent"] == "Mozilla/5.0 (Windows NT 10.0)"
    assert (event["action_id"], event["disposition_id"], event["policy"]["name"]) == (1, 1, "Allow Sanctioned SaaS")
    assert event["metadata"]["profiles"] == ["host", "security_control"]
    assert event["session"] == event["actor"]["session"] == {"uid": "9223372036854775806"}
    # 64-bit ids stay exact: as digits where OCSF holds them, as integers in unmapped.
    assert event["metadata"]["tags"] == [{"name": "connection_id", "value": "18446744073709551615"}]
    assert {"name": "user.email_addr", "type_id": 5, "value": "Ana.Lopez@example.com"} in event["observables"]


def test_other_login_activity_reads_its_status_from_the_words() -> None:
    event = _event("application_other_login")
    assert (event["activity_id"], event["status_id"], event["severity_id"]) == (1, 2, 3)
    assert (event["auth_protocol_id"], event["auth_protocol"]) == (6, "OAUTH 2.0")
    assert "profiles" not in event["metadata"]  # no device, action or policy: no profile attributes


def test_logout_without_app_names_the_site_and_keeps_it() -> None:
    event = _event("application_logout_no_app")
    assert (event["activity_id"], event["activity_name"], event["service"]) == (2, "Logoff", {"name": "Dropbox"})
    assert event["unmapped"]["site"] == "Dropbox"
    assert event["time"] == 1732700600000  # a digit-string timestamp is accepted


def test_fields_only_the_other_kind_of_login_reads_stay_in_unmapped() -> None:
    audit = {**FIXTURES["audit_sso_login"]["record"], "srcip": "198.51.100.1", "app": "Box", "severity": "high"}
    application = {**FIXTURES["application_other_login"]["record"], "severity_level": 2, "audit_log_event": "x"}
    audit_event = map_record(audit, "audit").event
    application_event = map_record(application, "application").event
    assert {"srcip": "198.51.100.1", "app": "Box", "severity": "high"}.items() <= audit_event["unmapped"].items()
    assert {"severity_level": 2, "audit_log_event": "x"}.items() <= application_event["unmapped"].items()


def test_audit_sso_login_is_an_admin_console_saml_logon() -> None:
    event = _event("audit_sso_login")
    assert event["service"] == {"name": "Netskope Admin Console"}
    assert (event["auth_protocol_id"], event["auth_protocol"]) == (5, "SAML")
    assert event["user"] == {
        "name": "admin@example.com",
        "email_addr": "admin@example.com",
        "type_id": 2,
        "type": "Admin",
    }
    assert event["src_endpoint"] == {"ip": "192.0.2.10"}
    assert event["unmapped"]["supporting_data"] == FIXTURES["audit_sso_login"]["record"]["supporting_data"]


def test_forced_logout_is_a_failed_logoff_with_the_reason() -> None:
    event = _event("audit_forced_logout")
    assert (event["activity_id"], event["status_id"]) == (2, 2)
    assert event["status_detail"] == "Too many failed attempts"


def test_entity_edit_names_the_policy_and_keeps_supporting_data() -> None:
    event = _event("audit_entity_edit")
    assert (event["activity_id"], event["activity_name"]) == (3, "Update")
    assert event["entity"] == {
        "name": "Quarantine public links",
        "type_id": 5,
        "type": "Policy",
        "policy": {"name": "Quarantine public links"},
        "data": {"data_type": "policy", "data_values": ["Quarantine public links"]},
    }
    assert event["actor"]["user"]["name"] == "secops@example.com"
    assert "supporting_data" not in event.get("unmapped", {})


def test_entity_push_is_an_activation_of_an_other_entity() -> None:
    event = _event("audit_entity_push")
    assert (event["activity_id"], event["activity_name"]) == (10, "Activate")
    assert (event["entity"]["type_id"], event["entity"]["type"], event["entity"]["name"]) == (
        99,
        "Tunnel Group",
        "pub-3.example.org",
    )


def test_failed_password_change_targets_the_named_account() -> None:
    event = _event("audit_account_password")
    assert (event["activity_id"], event["status_id"]) == (3, 2)
    assert event["user"]["name"] == "helpdesk@example.com"
    assert event["actor"]["user"]["name"] == "root@example.com"
    assert event["src_endpoint"] == {"ip": "198.51.100.23"}


def test_support_sso_change_targets_the_netskope_support_account() -> None:
    event = _event("audit_account_support_sso")
    assert (event["activity_id"], event["user"]["name"]) == (2, "Netskope Support")


def test_infrastructure_alarm_describes_the_server() -> None:
    event = _event("infrastructure_alarm")
    assert event["device"] == {
        "type_id": 1,
        "type": "Server",
        "hostname": "pub-fra-02",
        "name": "Publisher Frankfurt",
        "uid": "A1B2C3D4E5F6",
        "hw_info": {"serial_number": "A1B2C3D4E5F6"},
        "vendor_name": "Netskope",
        "agent_list": [{"name": "Netskope", "vendor_name": "Netskope", "version": "120.1.0.1234"}],
    }
    assert (event["message"], event["status_detail"], event["severity_id"]) == (
        "High CPU",
        "CPU above 95% for 5 minutes",
        4,
    )
    assert event["unmapped"]["metric_value"] == 97


def test_an_unknown_severity_word_is_other_with_its_text() -> None:
    record = {**FIXTURES["infrastructure_alarm"]["record"], "severity": "Sev-A"}
    event = map_record(record, "infrastructure").event
    assert (event["severity_id"], event["severity"]) == (99, "Sev-A")
    assert validate_event(event) == []


def test_infrastructure_metric_without_severity_is_informational() -> None:
    event = _event("infrastructure_metric")
    assert (event["severity_id"], event["message"]) == (1, "tunnel_up")
    assert event["unmapped"]["metric_name"] == "tunnel_up"
    assert event["unmapped"]["boolean_metric_value"] is True


def _audit_record(value: str) -> dict[str, Any]:
    return {
        "_id": "0123456789abcdef0123456789abcdef",
        "timestamp": 1732700000,
        "type": "admin_audit_logs",
        "user": "admin@example.com",
        "severity_level": 2,
        "audit_log_event": value,
        "supporting_data": {"data_type": "user", "data_values": ["192.0.2.1", "someone@example.com"]},
    }


AUDIT_VALUES = [
    *[pytest.param(v, 3002, authentication.ACTIVITIES[v][0], id=v) for v in r.AUDIT_AUTHENTICATION_EVENTS],
    *[pytest.param(v, 3004, entity_management.EVENTS[v][0], id=v) for v in r.AUDIT_ENTITY_MANAGEMENT_EVENTS],
    *[pytest.param(v, 3001, account_change.ACTIVITIES[v], id=v) for v in r.AUDIT_ACCOUNT_CHANGE_EVENTS],
]


@pytest.mark.parametrize(("value", "class_uid", "activity_id"), AUDIT_VALUES)
def test_every_audit_value_builds_a_valid_event_with_its_activity(value: str, class_uid: int, activity_id: int) -> None:
    mapped = map_record(_audit_record(value.lower()), "audit")
    assert (mapped.kind, mapped.class_uid) == ("ocsf", class_uid), mapped.reason
    assert mapped.event["activity_id"] == activity_id
    captions = MODULES[class_uid].ACTIVITY_CAPTIONS
    assert mapped.event["activity_name"] == (value.lower() if activity_id == 99 else captions[activity_id])
    assert validate_event(mapped.event) == []


@pytest.mark.parametrize("value", r.APPLICATION_AUTHENTICATION_ACTIVITIES)
def test_every_application_login_value_builds_a_valid_event(value: str) -> None:
    record = {
        "_id": "a1",
        "timestamp": 1732700000,
        "activity": value,
        "alert": "no",
        "app": "Box",
        "user": "u@example.com",
    }
    mapped = map_record(record, "application")
    assert mapped.kind == "ocsf"
    activity_id, status_id = authentication.ACTIVITIES[value]
    assert (mapped.event["activity_id"], mapped.event.get("status_id")) == (activity_id, status_id)
    assert validate_event(mapped.event) == []


def test_enum_tables_use_only_valid_ids() -> None:
    """The ids the docs publish are the ids OCSF defines (validated through real events above, listed here)."""
    assert set(authentication.ACTIVITY_CAPTIONS) | {99} >= {a for a, _ in authentication.ACTIVITIES.values()}
    assert set(account_change.ACTIVITY_CAPTIONS) | {99} >= set(account_change.ACTIVITIES.values())
    assert set(entity_management.ACTIVITY_CAPTIONS) | {99} >= {a for a, _, _ in entity_management.EVENTS.values()}
    assert set(entity_management.EVENTS) == set(r.AUDIT_ENTITY_MANAGEMENT_EVENTS)
    assert set(account_change.ACTIVITIES) == set(r.AUDIT_ACCOUNT_CHANGE_EVENTS)
    assert set(authentication.ACTIVITIES) >= set(r.AUDIT_AUTHENTICATION_EVENTS) | set(
        r.APPLICATION_AUTHENTICATION_ACTIVITIES
    )


@pytest.mark.parametrize(
    ("log_type", "record", "reason"),
    [
        ("application", {"timestamp": 1, "activity": "Login Failed", "app": "Box"}, "needs a user"),
        ("application", {"timestamp": 1, "activity": "Login Failed", "user": "u"}, "needs the service or destination"),
        ("audit", {"timestamp": 1, "audit_log_event": "Deleted admin"}, "needs the account changed"),
        ("infrastructure", {"timestamp": 1, "metric_name": "cpu"}, "needs the machine"),
        ("audit", {"audit_log_event": "Deleted admin", "user": "a@b.c"}, "no usable 'timestamp'"),
    ],
)
def test_records_missing_required_data_are_delivered_raw_with_a_reason(
    log_type: str, record: dict[str, Any], reason: str
) -> None:
    mapped = map_record(record, log_type)
    assert mapped.kind == "raw"
    assert mapped.event is record
    assert reason in (mapped.reason or "")


def _assert_no_text_lost(record: dict[str, Any], event: dict[str, Any]) -> None:
    """Every present text field is kept in unmapped or shows (case aside) somewhere in the event."""
    unmapped = event.get("unmapped", {})
    shown = orjson.dumps({k: v for k, v in event.items() if k != "unmapped"}).decode().casefold()
    for key, value in record.items():
        if isinstance(value, str) and value.strip() and key not in unmapped:
            assert value.strip().casefold() in shown, f"{key}={value!r} is neither mapped nor kept"


def test_simulator_corpus_of_my_classes_is_valid_and_complete() -> None:
    """Every application/audit/infrastructure record the simulator makes routes as the spec says and validates."""
    counts: dict[int | None, int] = {}
    for log_type in ("application", "audit", "infrastructure"):
        for record in generate(log_type, 600, 1732700000, 1732786400, seed=11):
            mapped = map_record(record, log_type)
            assert mapped.reason is None, (log_type, mapped.reason, record)
            assert mapped.class_uid == r.classify(record, log_type)
            counts[mapped.class_uid] = counts.get(mapped.class_uid, 0) + 1
            if mapped.class_uid in MODULES:
                problems = validate_event(mapped.event)
                assert problems == [], (log_type, problems[:3], record)
                _assert_no_text_lost(record, mapped.event)
    assert all(counts.get(uid, 0) > 20 for uid in MODULES), counts
    assert counts.get(None, 0) > 0, "the corpus carries unlisted values, which must stay raw"


# --- property: whatever text and numbers the fields carry, an event of these classes stays valid ----

ANY_SCALAR = st.one_of(
    st.text(max_size=30),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(),
    st.booleans(),
    st.none(),
    st.sampled_from(["1.2.3.4", "::1", "999.0.0.1", "a@b.co", "x@", "Windows 11", "iPhone", "65536", "443", " "]),
)
AUDIT_EVENTS = st.sampled_from(
    r.AUDIT_AUTHENTICATION_EVENTS + r.AUDIT_ENTITY_MANAGEMENT_EVENTS + r.AUDIT_ACCOUNT_CHANGE_EVENTS
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    event=AUDIT_EVENTS,
    user=ANY_SCALAR,
    data_type=ANY_SCALAR,
    values=st.lists(ANY_SCALAR, max_size=3),
    extras=st.dictionaries(
        st.sampled_from(["severity_level", "_id", "count", "organization_unit", "sAMAccountName"]), ANY_SCALAR
    ),
)
def test_audit_events_stay_valid_whatever_the_values(
    event: str, user: Any, data_type: Any, values: list[Any], extras: dict[str, Any]
) -> None:
    record = {
        "timestamp": 1732700000,
        "audit_log_event": event,
        "user": user,
        "supporting_data": {"data_type": data_type, "data_values": values},
        **extras,
    }
    mapped = map_record(record, "audit")
    assert mapped.kind in ("ocsf", "raw")
    if mapped.kind == "ocsf":
        assert validate_event(mapped.event) == []
    else:
        assert "needs" in (mapped.reason or "")


LOGIN_FIELDS = [
    "user",
    "app",
    "srcip",
    "srcport",
    "dstip",
    "dstport",
    "dsthost",
    "hostname",
    "userip",
    "device",
    "os",
    "os_version",
    "url",
    "useragent",
    "action",
    "policy",
    "severity",
    "logintype",
    "src_country",
    "src_latitude",
    "app_session_id",
    "device_classification",
    "nsdeviceuid",
    "userkey",
]
INFRA_FIELDS = [
    "hostname",
    "device_name",
    "serial",
    "ip",
    "package_version",
    "alarm_name",
    "alarm_description",
    "severity",
    "metric_name",
    "metric_value",
]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=st.dictionaries(st.sampled_from(LOGIN_FIELDS), ANY_SCALAR, max_size=len(LOGIN_FIELDS)))
def test_application_logins_stay_valid_whatever_the_values(fields: dict[str, Any]) -> None:
    mapped = map_record({"timestamp": 1732700000, "activity": "Login Failed", **fields}, "application")
    if mapped.kind == "ocsf":
        assert validate_event(mapped.event) == []
    else:
        assert mapped.kind == "raw" and "needs" in (mapped.reason or "")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=st.dictionaries(st.sampled_from(INFRA_FIELDS), ANY_SCALAR, max_size=len(INFRA_FIELDS)))
def test_infrastructure_events_stay_valid_whatever_the_values(fields: dict[str, Any]) -> None:
    mapped = map_record({"timestamp": 1732700000, **fields}, "infrastructure")
    if mapped.kind == "ocsf":
        assert validate_event(mapped.event) == []
    else:
        assert mapped.kind == "raw" and "needs the machine" in (mapped.reason or "")
