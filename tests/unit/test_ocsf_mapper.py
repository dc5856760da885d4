"""The mapper never breaks a batch: odd input is mapped, delivered raw with a reason, or rejected, and counted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netskope_provider.log_types import LOG_TYPES
from netskope_provider.ocsf import MapCounts, Mapped, common, map_lines, map_record, map_records, mapper
from netskope_provider.ocsf.validate import validate_event
from netskope_provider.registry import CLASSES

LOGIN = {"_id": "f00d", "timestamp": 1732700000, "activity": "Login Successful", "app": "Box", "user": "u@example.com"}
UNROUTED = {"_id": "beef", "timestamp": 1732700000, "activity": "Browse", "alert": "no"}


@pytest.mark.parametrize("value", [None, True, 0, 1.5, "text", [], [LOGIN], "{}"])
def test_a_value_that_is_not_an_object_is_rejected_with_a_reason(value: object) -> None:
    mapped = map_record(value, "application")
    assert (mapped.kind, mapped.class_uid, mapped.event) == ("rejected", None, None)
    assert "not a JSON object" in (mapped.reason or "")


@pytest.mark.parametrize(
    "timestamp",
    [None, "", "soon", True, -5, 0, float("nan"), float("inf"), {"s": 1}, [1732700000], 1e300, 10**25, "²"],
    ids=repr,
)
def test_a_routed_record_without_a_usable_timestamp_is_raw_with_a_reason(timestamp: object) -> None:
    record = {**LOGIN, "timestamp": timestamp}
    mapped = map_record(record, "application")
    assert mapped.kind == "raw"
    assert mapped.event is record  # the original object, unchanged
    assert "timestamp" in (mapped.reason or "")


def test_an_unrouted_record_is_raw_without_a_reason_even_without_a_timestamp() -> None:
    record = {"activity": "Browse"}
    assert map_record(record, "application") == Mapped("raw", None, record, None)


@pytest.mark.parametrize(
    ("timestamp", "expected_ms"),
    [
        (1732700000, 1732700000000),
        ("1732700000", 1732700000000),
        (1732700000.25, 1732700000250),
        (1732700000123, 1732700000123),
    ],
)
def test_timestamp_forms_become_milliseconds(timestamp: object, expected_ms: int) -> None:
    mapped = map_record({**LOGIN, "timestamp": timestamp}, "application")
    assert mapped.event["time"] == expected_ms


@pytest.mark.parametrize(
    ("overrides", "placed"),
    [
        ({"user": {"name": "x"}, "ur_normalized": "fallback@example.com"}, {}),
        ({"dstip": 12, "srcip": "999.1.1.1", "srcport": "http", "dstport": 70000}, {}),
        (
            {"supporting_data": "free text", "audit_log_event": "Login Failed", "record_type": "audit"},
            {"audit_log_event": ("message", "Login Failed")},
        ),
        ({"hostname": True, "os": {"name": "Windows"}, "device": 3, "userip": "::1"}, {"userip": ("device.ip", "::1")}),
        ({"_id": {"oid": "1"}, "count": "many", "_insertion_epoch_timestamp": "later"}, {}),
        ({"md5": "N/A", "sha256": 123, "object": ["a.txt"], "url": 5}, {"url": ("http_request.url.url_string", "5")}),
    ],
    ids=lambda o: ",".join(o) if o else "-",
)
def test_wrong_types_never_break_the_mapper_and_odd_values_are_kept(
    overrides: dict[str, Any], placed: dict[str, tuple[str, object]]
) -> None:
    """Each odd value is under ``unmapped`` exactly as sent, unless an attribute took it (``placed``)."""
    mapped = map_record({**LOGIN, **overrides}, "application")
    assert mapped.kind == "ocsf", mapped.reason
    assert validate_event(mapped.event) == []
    for key, (path, expected) in placed.items():
        value: Any = mapped.event
        for part in path.split("."):
            value = value[part]
        assert value == expected, f"{key} placed at {path}"
    kept = mapped.event.get("unmapped", {})
    odd = {key: value for key, value in overrides.items() if key not in placed}
    assert {key: kept.get(key) for key in odd} == odd


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"activity": ["Login"], "record_type": "application"}, None),  # not routable: raw without a reason
        ({"app": ["Box"]}, "3002: Authentication needs the service or destination"),
    ],
    ids=lambda o: ",".join(o) if isinstance(o, dict) else "",
)
def test_a_record_whose_odd_values_block_its_class_goes_raw_unchanged(
    overrides: dict[str, Any], reason: str | None
) -> None:
    record = {**LOGIN, **overrides}
    mapped = map_record(record, "application")
    assert (mapped.kind, mapped.event) == ("raw", {**LOGIN, **overrides})
    if reason is None:
        assert mapped.reason is None
    else:
        assert (mapped.reason or "").startswith(reason)


GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"


@pytest.mark.parametrize("golden", ["network_allow", "alert_malware", "incident_dlp", "application_file_upload"])
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("file_size", "²"),
        ("severity", "²"),
        ("dstport", "８０"),
        ("file_size", 2**64),
        ("client_bytes", 2**70),
        ("server_bytes", 1e300),
        ("score", -(2**64)),
        ("count", 10**30),
    ],
    ids=repr,
)
def test_non_ascii_digits_and_numbers_beyond_ocsf_integers_stay_in_unmapped(
    golden: str, field: str, value: object
) -> None:
    """``"²".isdigit()`` holds but ``int("²")`` fails; OCSF integers end at 2^63 - 1, JSON's do not."""
    case = orjson.loads((GOLDEN / f"{golden}.json").read_bytes())
    mapped = map_record({**case["record"], field: value}, case["log_type"])
    assert mapped.kind == "ocsf", mapped.reason
    assert validate_event(mapped.event) == []
    assert mapped.event["unmapped"][field] == value


@pytest.mark.parametrize(
    ("geo", "kept"),
    [
        ({"src_latitude": 48.1, "src_longitude": 2.3}, {"src_latitude", "src_longitude"}),  # no city/country
        ({"src_latitude": 48.1, "src_country": "FR"}, {"src_latitude"}),  # no partner
        ({"src_latitude": 48.1, "src_longitude": 2.3, "src_country": "FR"}, set()),  # placed
        ({"src_latitude": 48, "src_longitude": -2, "src_region": "Bretagne"}, set()),  # integers placed too
        ({"src_latitude": float("nan"), "src_longitude": 2.3, "src_country": "FR"}, {"src_latitude", "src_longitude"}),
    ],
)
def test_coordinates_location_cannot_place_stay_in_unmapped(geo: dict[str, Any], kept: set[str]) -> None:
    event = map_record({**LOGIN, "srcip": "192.0.2.1", **geo}, "application").event
    assert {key for key in event.get("unmapped", {}) if key.startswith("src_")} == kept
    placed = event["src_endpoint"].get("location", {})
    assert ("lat" in placed) == (not kept and "src_longitude" in geo)


@pytest.mark.parametrize(
    ("extra", "kept"),
    [
        ({"os_version": "11.0.22631", "hostname": "WS-1"}, {"os_version"}),  # no os name: no device.os
        ({"os_version": "11.0.22631", "os": "Windows 11", "hostname": "WS-1"}, set()),
        (
            {"src_latitude": "48.1", "src_longitude": "2.3", "src_country": "FR", "srcip": "192.0.2.1"},
            {"src_latitude", "src_longitude"},
        ),
    ],
)
def test_details_the_builders_could_not_place_stay_in_unmapped(extra: dict[str, Any], kept: set[str]) -> None:
    event = map_record({**LOGIN, **extra}, "application").event
    assert set(event.get("unmapped", {})) & set(extra) == kept
    assert validate_event(event) == []


def test_an_object_type_other_than_file_or_folder_is_kept() -> None:
    for object_type, kept in (("File", False), ("Folder", False), ("Email Attachment", True)):
        record = {"object": "a.pdf", "object_type": object_type}
        event = common.finalize({"metadata": {}, "file": common.file(record)}, record, frozenset(common.FILE_FIELDS))
        assert ("object_type" in event.get("unmapped", {})) is kept, object_type


ODD_TEXT = [
    "Ωmega ☃ 𝄞 😀",
    "\u202eevil\u202c",
    "nul\u0000byte",
    "e\u0301\u0301",
    "\ufeffbom",
    "line\nbreak\ttab",
    "\u2028sep",
]


@pytest.mark.parametrize("odd", ODD_TEXT, ids=range(len(ODD_TEXT)))
def test_odd_unicode_survives_mapping_and_serialisation(odd: str) -> None:
    record = {**LOGIN, "user": odd, "app": odd, "extra": odd}
    mapped = map_record(record, "application")
    assert mapped.kind == "ocsf"
    line = mapper.dumps(mapped.event)
    assert b"\n" not in line
    back = orjson.loads(line)
    assert back["unmapped"]["extra"] == odd
    assert back["service"]["name"] == odd.strip() or odd.strip() == ""


def test_a_lone_surrogate_escape_is_parsed_and_written_back_as_json() -> None:
    line = b'{"_id":"x","timestamp":1732700000,"activity":"Login Failed","app":"Box","user":"bad\\ud800name"}'
    counts = MapCounts()
    (out,) = list(map_lines([line], "application", counts))
    event = json.loads(out)  # stdlib json: orjson refuses lone surrogates
    assert event["user"]["name"] == "bad\ud800name"
    assert counts.by_class == {3002: 1}


@pytest.mark.parametrize("big", [2**53 + 1, 2**63 - 1, 2**63 + 12345, 2**64 - 1])
def test_ids_beyond_2_53_stay_exact(big: int) -> None:
    line = (
        b'{"_id":%d,"timestamp":1732700000,"activity":"Login Successful","app":"Box","user":"u",'
        b'"app_session_id":%d,"connection_id":%d,"request_id":%d}' % (big, big, big, big)
    )
    counts = MapCounts()
    (out,) = list(map_lines([line], "application", counts))
    event = orjson.loads(out)
    assert event["metadata"]["uid"] == str(big)
    assert event["session"]["uid"] == event["actor"]["session"]["uid"] == str(big)
    assert event["metadata"]["tags"] == [{"name": "connection_id", "value": str(big)}]
    assert event["unmapped"]["request_id"] == big
    assert b'"request_id":%d' % big in out


def test_integers_beyond_64_bits_from_python_callers_are_serialised_exactly() -> None:
    huge = 2**70 + 3
    mapped = map_record({**LOGIN, "_id": huge, "ticket": huge}, "application")
    assert mapped.event["metadata"]["uid"] == str(huge)
    assert json.loads(mapper.dumps(mapped.event))["unmapped"]["ticket"] == huge


def test_map_lines_gives_one_output_per_record_and_accounts_for_every_line() -> None:
    unrouted_line = b'{ "activity" : "Browse",   "alert":"no", "z": 1 }'
    lines = [
        orjson.dumps(LOGIN),
        b"",
        unrouted_line + b"\r\n",
        b"   ",
        b"not json at all",
        b"[1, 2, 3]",
        orjson.dumps({**LOGIN, "timestamp": "never"}),
        b'"just a string"',
    ]
    counts = MapCounts()
    out = list(map_lines(lines, "application", counts))
    assert len(out) == 3 and all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in out)
    assert orjson.loads(out[0])["class_uid"] == 3002
    assert out[1] == unrouted_line + b"\n"  # raw: byte for byte as read
    assert out[2] == orjson.dumps({**LOGIN, "timestamp": "never"}) + b"\n"
    assert (counts.ocsf, counts.raw, counts.rejected, counts.total) == (1, 2, 3, 6)
    assert [r.line for r in counts.rejections] == [5, 6, 8]
    assert counts.rejections[0].original == b"not json at all"
    assert "not valid JSON" in counts.rejections[0].reason
    assert "not a JSON object but an array" in counts.rejections[1].reason
    assert sum(counts.raw_reasons.values()) == 1
    summary = counts.as_dict()
    assert summary["by_class"] == {"3002": 1} and summary["rejected"] == 3
    assert orjson.loads(orjson.dumps(summary)) == summary


def test_str_lines_are_accepted_like_bytes() -> None:
    counts = MapCounts()
    out = list(map_lines([orjson.dumps(LOGIN).decode(), json.dumps(UNROUTED)], "application", counts))
    assert len(out) == 2 and counts.ocsf == 1 and counts.raw == 1
    assert out[1] == json.dumps(UNROUTED).encode() + b"\n"


def test_map_records_handles_parsed_pages_with_positions_for_rejections() -> None:
    counts = MapCounts()
    out = list(map_records([LOGIN, 42, UNROUTED, {1, 2}], "application", counts))
    assert len(out) == 2
    assert orjson.loads(out[1]) == UNROUTED
    assert [(r.line, r.original) for r in counts.rejections] == [(2, b"42"), (4, b"{1, 2}")]  # non-JSON: its repr


def test_a_builder_that_raises_delivers_the_record_raw_with_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(record: dict[str, Any], log_type: str) -> dict[str, Any]:
        raise KeyError("surprise")

    monkeypatch.setitem(mapper._builders, CLASSES[3002].module, broken)
    mapped = map_record(LOGIN, "application")
    assert (mapped.kind, mapped.event) == ("raw", LOGIN)
    assert mapped.reason == "3002: mapper error KeyError: 'surprise'"


def test_raw_reasons_stay_a_small_table(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(record: dict[str, Any], log_type: str) -> dict[str, Any]:
        raise ValueError(f"odd value {record['_id']}")  # a different text for every record

    monkeypatch.setitem(mapper._builders, CLASSES[3002].module, broken)
    counts = MapCounts()
    for number in range(200):
        counts.add(map_record({**LOGIN, "_id": number}, "application"))
    assert counts.raw == 200
    assert len(counts.raw_reasons) == mapper.MAX_REASONS + 1
    assert counts.raw_reasons[mapper.OTHER_REASONS] == 200 - mapper.MAX_REASONS


def test_map_record_does_not_modify_the_record() -> None:
    record = json.loads(json.dumps({**LOGIN, "supporting_data": {"data_values": [1]}, "other_categories": ["a"]}))
    snapshot = json.dumps(record, sort_keys=True)
    map_record(record, "application")
    assert json.dumps(record, sort_keys=True) == snapshot


# --- property: any JSON object, shaped like a Netskope record or not, maps without raising ----------

FIELDS = [
    "_id",
    "timestamp",
    "_insertion_epoch_timestamp",
    "record_type",
    "type",
    "activity",
    "alert",
    "alert_type",
    "audit_log_event",
    "action",
    "user",
    "ur_normalized",
    "userkey",
    "user_id",
    "sAMAccountName",
    "userPrincipalName",
    "organization_unit",
    "app",
    "site",
    "srcip",
    "srcport",
    "dstip",
    "dstport",
    "dsthost",
    "src_location",
    "src_country",
    "src_latitude",
    "src_longitude",
    "hostname",
    "device",
    "os",
    "os_version",
    "userip",
    "nsdeviceuid",
    "device_classification",
    "url",
    "useragent",
    "referer",
    "policy",
    "policy_id",
    "severity",
    "severity_level",
    "supporting_data",
    "serial",
    "device_name",
    "package_version",
    "alarm_name",
    "metric_name",
    "object",
    "md5",
    "sha256",
    "file_size",
    "count",
    "app_session_id",
    "\u0000",
    "",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(
        [
            "Login Failed",
            "Upload",
            "allow",
            "Malware",
            "yes",
            "no",
            "audit",
            "application",
            "infrastructure",
            "Created new admin",
            "1.2.3.4",
            "1732700000",
        ]
    ),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
RECORDS = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), JSON, max_size=14).map(
    lambda d: {**d, "timestamp": d.get("timestamp", 1732700000)}
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=RECORDS, log_type=st.sampled_from(sorted(LOG_TYPES)))
def test_map_record_never_raises_and_its_events_serialise(record: dict[str, Any], log_type: str) -> None:
    mapped = map_record(record, log_type)
    assert mapped.kind in ("ocsf", "raw")
    if mapped.kind == "ocsf":
        event = orjson.loads(mapper.dumps(mapped.event))
        assert event["type_uid"] == event["class_uid"] * 100 + event["activity_id"]
        assert isinstance(event["time"], int) and event["metadata"]["version"] == "1.5.0"
    else:
        assert mapped.event is record


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(RECORDS | JSON, max_size=6), log_type=st.sampled_from(sorted(LOG_TYPES)))
def test_map_lines_accounts_for_every_input(records: list[Any], log_type: str) -> None:
    lines = [json.dumps(record).encode() for record in records]
    counts = MapCounts()
    out = list(map_lines(lines, log_type, counts))
    assert counts.total == len(lines)
    assert len(out) == counts.ocsf + counts.raw
    for line in out:
        json.loads(line)


def test_events_never_share_an_observable_with_each_other_or_the_templates() -> None:
    """Observables are copied from per-path templates: changing one event's must not reach another's."""
    first, second = (
        map_record({**LOGIN, "_id": uid, "srcip": "192.0.2.7"}, "application").event for uid in ("a1", "b2")
    )
    expected = [dict(observable) for observable in second["observables"]]
    assert len(expected) >= 2 and first["observables"] == expected
    for observable in first["observables"]:
        observable["value"] = "changed"
    assert second["observables"] == expected
    assert map_record({**LOGIN, "_id": "c3", "srcip": "192.0.2.7"}, "application").event["observables"] == expected
