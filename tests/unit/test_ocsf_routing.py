"""Routing follows the spec's lists exactly: every listed value reaches its class, others go raw."""

from __future__ import annotations

from typing import Any

import pytest

from netskope_provider.ocsf import classify
from netskope_provider.ocsf import routing as r
from netskope_provider.registry import CLASSES

CASINGS = (
    pytest.param(lambda v: v, id="spec"),
    pytest.param(str.lower, id="lower"),
    pytest.param(lambda v: f"  {v.upper()} ", id="upper-padded"),
)


def _cases(values: tuple[str, ...], make: Any, expected: int | None) -> list[Any]:
    return [pytest.param(value, make, expected, id=value) for value in values]


def _app(activity: str, **extra: Any) -> dict[str, Any]:
    return {"activity": activity, "alert": "no", "type": "nspolicy", **extra}


def _audit(event: str) -> dict[str, Any]:
    return {"audit_log_event": event, "type": "admin_audit_logs"}


def _alert(alert_type: str) -> dict[str, Any]:
    return {"alert": "yes", "alert_type": alert_type}


LISTED = [
    *_cases(r.APPLICATION_AUTHENTICATION_ACTIVITIES, lambda v: ("application", _app(v)), r.AUTHENTICATION),
    *_cases(r.AUDIT_AUTHENTICATION_EVENTS, lambda v: ("audit", _audit(v)), r.AUTHENTICATION),
    *_cases(r.AUDIT_ENTITY_MANAGEMENT_EVENTS, lambda v: ("audit", _audit(v)), r.ENTITY_MANAGEMENT),
    *_cases(r.AUDIT_ACCOUNT_CHANGE_EVENTS, lambda v: ("audit", _audit(v)), r.ACCOUNT_CHANGE),
    *_cases(r.NETWORK_ACTIONS, lambda v: ("network", {"record_type": "network", "action": v}), r.NETWORK_ACTIVITY),
    *_cases(r.DETECTION_ALERT_TYPES, lambda v: ("alert", _alert(v)), r.DETECTION_FINDING),
    *_cases(r.FILE_HOSTING_ACTIVITIES, lambda v: ("application", _app(v)), r.FILE_HOSTING_ACTIVITY),
]


@pytest.mark.parametrize("casing", CASINGS)
@pytest.mark.parametrize(("value", "make", "expected"), LISTED)
def test_every_listed_value_reaches_its_class(value: str, make: Any, expected: int, casing: Any) -> None:
    log_type, record = make(casing(value))
    assert classify(record, log_type) == expected


UNLISTED = [
    pytest.param("application", _app("Browse"), id="application Browse"),
    pytest.param("application", _app("FormPost"), id="application FormPost"),
    pytest.param("application", _app("Rename"), id="application Rename (not in the spec's list)"),
    pytest.param("application", _app("Upload", alert="yes", alert_type=""), id="file activity with alert=yes, no type"),
    pytest.param(
        "application", _app("Share", alert="yes", alert_type="watchlist"), id="file activity alert unlisted type"
    ),
    pytest.param("audit", _audit("Enabled REST API tokens"), id="audit unlisted"),
    pytest.param("audit", _audit("Created new inline policies"), id="audit near miss"),
    pytest.param("audit", _audit("Logout"), id="application-only value in audit"),
    pytest.param("network", {"record_type": "network", "action": "alert"}, id="network alert"),
    pytest.param("network", {"record_type": "network", "action": "Drop"}, id="network Drop"),
    pytest.param("network", {"record_type": "network"}, id="network without action"),
    pytest.param("alert", _alert("watchlist"), id="alert watchlist"),
    pytest.param("alert", _alert("ctep"), id="alert ctep"),
    pytest.param("alert", _alert("Security Assessment"), id="alert security assessment"),
    pytest.param("alert", _alert("quarantine"), id="alert quarantine"),
    pytest.param("alert", {"alert": "no", "alert_type": "Malware"}, id="listed type with alert=no"),
    pytest.param("alert", {"alert_type": "Malware"}, id="listed type without alert flag"),
    pytest.param("endpoint", {"record_type": "epdlp", "type": "device_control"}, id="epdlp not endpoint"),
    pytest.param("endpoint", {"type": "endpoint", "record_type": "clientstatus"}, id="clientstatus"),
    pytest.param("page", {"record_type": "page", "type": "nspolicy"}, id="page not connection"),
    pytest.param("application", {"record_type": "transaction"}, id="unknown record_type"),
    pytest.param("nonsense", {"activity": "Login Failed"}, id="unknown log type, no record_type"),
]


@pytest.mark.parametrize("casing", CASINGS)
@pytest.mark.parametrize(("log_type", "record"), UNLISTED)
def test_unlisted_values_are_delivered_raw(log_type: str, record: dict[str, Any], casing: Any) -> None:
    varied = {key: casing(value) if isinstance(value, str) else value for key, value in record.items()}
    assert classify(varied, log_type) is None


@pytest.mark.parametrize(
    "activity", ["SAML Login", "Login via SSO", "Admin Login Failed", "Relogin", "login", "LOGIN Successful (MFA)"]
)
def test_other_application_activities_containing_login_are_authentication(activity: str) -> None:
    assert classify(_app(activity, alert="yes"), "application") == r.AUTHENTICATION


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"record_type": "connection"}, r.NETWORK_ACTIVITY),
        ({"record_type": "Connection", "type": "whatever"}, r.NETWORK_ACTIVITY),
        ({"record_type": "page", "type": "connection"}, r.NETWORK_ACTIVITY),
        ({"type": "connection"}, r.NETWORK_ACTIVITY),
        ({}, r.NETWORK_ACTIVITY),
    ],
)
def test_every_connection_record_is_network_activity(record: dict[str, Any], expected: int) -> None:
    assert classify(record, "page") == expected


@pytest.mark.parametrize(
    ("log_type", "record", "expected"),
    [
        ("alert", {"record_type": "alert", "alert_type": "DLP", "alert": "yes"}, r.DATA_SECURITY_FINDING),
        ("alert", {"alert_type": "dlp"}, r.DATA_SECURITY_FINDING),
        ("incident", {}, r.DATA_SECURITY_FINDING),
        ("incident", {"record_type": "incident", "alert": "yes", "alert_type": "Malware"}, r.DATA_SECURITY_FINDING),
        ("endpoint", {"type": "endpoint"}, r.DATA_SECURITY_FINDING),
        ("endpoint", {"record_type": "epdlp", "type": "Endpoint"}, r.DATA_SECURITY_FINDING),
        ("infrastructure", {}, r.DEVICE_INVENTORY_INFO),
        (
            "infrastructure",
            {"record_type": "infrastructure", "alert": "yes", "alert_type": "malware"},
            r.DEVICE_INVENTORY_INFO,
        ),
    ],
)
def test_data_security_and_inventory_rules(log_type: str, record: dict[str, Any], expected: int) -> None:
    assert classify(record, log_type) == expected


@pytest.mark.parametrize(
    ("record", "pulled_from", "expected"),
    [
        ({"audit_log_event": "Login Failed"}, "audit", r.AUTHENTICATION),
        ({"audit_log_event": "Login Failed"}, "application", None),  # no activity: not an app login
        ({"record_type": "audit", "audit_log_event": "Login Failed"}, "application", r.AUTHENTICATION),
        ({"activity": "Upload", "alert": "no"}, "application", r.FILE_HOSTING_ACTIVITY),
        ({"activity": "Upload", "alert": "no"}, "page", r.NETWORK_ACTIVITY),  # the page rule, not the app one
        ({"record_type": "application", "activity": "Upload", "alert": "no"}, "page", r.FILE_HOSTING_ACTIVITY),
        ({"action": "allow"}, "network", r.NETWORK_ACTIVITY),
        ({"record_type": "network", "action": "allow"}, "application", r.NETWORK_ACTIVITY),
        ({"record_type": "", "action": "allow"}, "network", r.NETWORK_ACTIVITY),
        ({"record_type": "  "}, "infrastructure", r.DEVICE_INVENTORY_INFO),
    ],
)
def test_missing_record_type_falls_back_to_the_log_type(
    record: dict[str, Any], pulled_from: str, expected: int | None
) -> None:
    assert classify(record, pulled_from) == expected


@pytest.mark.parametrize(
    ("log_type", "record", "expected", "why"),
    [
        (
            "application",
            _app("Login Failed", alert="yes", alert_type="UBA"),
            r.DETECTION_FINDING,
            "alert rule before app login",
        ),
        (
            "application",
            _app("Upload", alert="yes", alert_type="Policy"),
            r.DETECTION_FINDING,
            "alert rule before file hosting",
        ),
        (
            "application",
            _app("Upload", alert="yes", alert_type="DLP"),
            None,
            "DLP needs kind alert; not 6006 (alert=yes)",
        ),
        (
            "audit",
            {**_audit("Login Failed"), "alert": "yes", "alert_type": "uba"},
            r.DETECTION_FINDING,
            "alert rule before audit",
        ),
        ("alert", {"alert": "yes", "alert_type": "DLP"}, r.DATA_SECURITY_FINDING, "DLP before detection"),
        ("application", _app("Login Download"), r.AUTHENTICATION, "login rule before file hosting"),
        (
            "network",
            {"record_type": "network", "action": "allow", "alert": "yes", "alert_type": "c2"},
            r.DETECTION_FINDING,
            "C2 alert",
        ),
        ("application", {"activity": "Upload"}, r.FILE_HOSTING_ACTIVITY, "no alert flag counts as alert=no"),
        ("application", {"activity": "Upload", "alert": False}, r.FILE_HOSTING_ACTIVITY, "JSON false is no"),
        ("alert", {"alert": True, "alert_type": "malsite"}, r.DETECTION_FINDING, "JSON true is yes"),
        ("alert", {"alert": "Yes", "alert_type": "compromisedcredential"}, r.DETECTION_FINDING, "spaces ignored"),
    ],
)
def test_overlaps_follow_the_documented_order(
    log_type: str, record: dict[str, Any], expected: int | None, why: str
) -> None:
    assert classify(record, log_type) == expected, why


@pytest.mark.parametrize(
    "record",
    [
        {"activity": 7, "alert": ["no"]},
        {"record_type": {"a": 1}, "audit_log_event": None},
        {"record_type": 3, "action": 1.5},
        {"alert": 1, "alert_type": ["Malware"]},
        {"activity": "\u202eLogin\u0000", "alert_type": "\ud800"},
    ],
)
def test_odd_values_route_without_error(record: dict[str, Any]) -> None:
    assert classify(record, "application") in (None, *CLASSES)


def test_spec_lists_are_complete_and_disjoint() -> None:
    lists = {
        "app auth": r.APPLICATION_AUTHENTICATION_ACTIVITIES,
        "audit auth": r.AUDIT_AUTHENTICATION_EVENTS,
        "entity": r.AUDIT_ENTITY_MANAGEMENT_EVENTS,
        "account": r.AUDIT_ACCOUNT_CHANGE_EVENTS,
        "network": r.NETWORK_ACTIONS,
        "detection": r.DETECTION_ALERT_TYPES,
        "file hosting": r.FILE_HOSTING_ACTIVITIES,
    }
    # The counts of the user's spec; a value dropped from a list would pass the per-value tests.
    assert {name: len(values) for name, values in lists.items()} == {
        "app auth": 4,
        "audit auth": 8,
        "entity": 31,
        "account": 16,
        "network": 6,
        "detection": 6,
        "file hosting": 25,
    }
    audit_keys = [r.routing_key(v) for v in lists["audit auth"] + lists["entity"] + lists["account"]]
    assert len(audit_keys) == len(set(audit_keys)), "an audit value would be claimed by two classes"
    assert set(r.class_names()) == set(CLASSES)
