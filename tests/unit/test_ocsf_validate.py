"""The project's OCSF validator passes good events of all eight classes and catches every defect kind."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netskope_provider.ocsf.validate import validate_event, validate_lines
from netskope_provider.registry import CLASSES

_META = {"version": "1.5.0", "product": {"name": "Netskope Security Cloud", "vendor_name": "Netskope"}, "uid": "1"}


def _event(class_uid: int, activity_id: int, category_uid: int, **rest: Any) -> dict[str, Any]:
    return {
        "class_uid": class_uid,
        "category_uid": category_uid,
        "activity_id": activity_id,
        "type_uid": class_uid * 100 + activity_id,
        "severity_id": 1,
        "time": 1735689600000,
        "metadata": copy.deepcopy(_META),
        **rest,
    }


USER = {"name": "jdoe@example.com", "email_addr": "jdoe@example.com"}

GOOD: dict[int, dict[str, Any]] = {
    3002: _event(3002, 1, 3, user=USER, service={"name": "Box"}, status_id=1),
    3004: _event(3004, 1, 3, entity={"name": "inline policy", "type_id": 5}, actor={"user": USER}),
    3001: _event(3001, 3, 3, user={"name": "admin@example.com"}, actor={"user": USER}),
    4001: _event(
        4001,
        6,
        4,
        src_endpoint={"ip": "10.0.0.1", "port": 60916},
        dst_endpoint={"hostname": "example.com", "port": 443},
        connection_info={"direction_id": 2, "protocol_num": 6, "protocol_name": "tcp"},
        action_id=1,
        metadata={**copy.deepcopy(_META), "profiles": ["security_control"]},
        observables=[{"name": "src_endpoint.ip", "type_id": 2, "value": "10.0.0.1"}],
    ),
    2004: _event(
        2004,
        1,
        2,
        finding_info={"uid": "18446744073709551615", "title": "Malware"},
        malware=[{"name": "EICAR", "classification_ids": [99]}],
        is_alert=True,
    ),
    2006: _event(
        2006,
        1,
        2,
        finding_info={"uid": "3418413930156140790"},
        data_security={"policy": {"name": "DLP-PII"}, "data_lifecycle_state_id": 2},
        file={
            "name": "a.pdf",
            "type_id": 1,
            "hashes": [{"algorithm_id": 1, "value": "68b329da9893e34099c7d8ad5cb9c940"}],
        },
    ),
    6006: _event(
        6006, 1, 6, actor={"user": USER}, file={"name": "a.txt", "type_id": 1}, src_endpoint={"ip": "1.2.3.4"}
    ),
    5001: _event(
        5001,
        1,
        5,
        device={"type_id": 1, "hostname": "publisher-1"},
        metadata={**copy.deepcopy(_META), "profiles": ["host"]},
        actor={"user": USER},
    ),
}


@pytest.mark.parametrize("class_uid", sorted(GOOD))
def test_good_event_of_every_class_passes(class_uid: int) -> None:
    assert validate_event(GOOD[class_uid]) == []


def test_good_events_cover_every_registered_class() -> None:
    assert set(GOOD) == set(CLASSES)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(event: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = event
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[last] = value

    return mutate


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(event: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = event
        for part in parents:
            node = node[part]
        del node[last]

    return mutate


# (base class, mutation, text the error list must contain)
DEFECTS: dict[str, tuple[int, Callable[[dict[str, Any]], None], str]] = {
    "missing required base attribute": (4001, _delete("time"), "'time' is a required property"),
    "missing required class attribute": (3002, _delete("user"), "'user' is a required property"),
    "missing required object attribute": (2004, _delete("finding_info.uid"), "finding_info: 'uid' is a required"),
    "null counts as missing": (6006, _set("file", None), "file: None is not of type 'object'"),
    "activity_id outside its enum": (4001, _set("activity_id", 42), "activity_id: 42 is not one of"),
    "type_uid arithmetic": (4001, _set("type_uid", 400101), "type_uid: 400101 != class_uid 4001 * 100 + activity_id 6"),
    "category_uid of another class": (4001, _set("category_uid", 2), "category_uid: 4 was expected"),
    "severity_id outside its enum": (2006, _set("severity_id", 7), "severity_id: 7 is not one of"),
    "nested enum value unknown": (
        4001,
        _set("connection_info.direction_id", 5),
        "connection_info.direction_id: 5 is not one of",
    ),
    "timestamp as text": (3002, _set("time", "2025-01-01T00:00:00Z"), "time: '2025-01-01T00:00:00Z' is not of type"),
    "integer as text": (6006, _set("file.size", "1MB"), "file.size: '1MB' is not of type 'integer'"),
    "ip as number": (4001, _set("src_endpoint.ip", 3232235777), "src_endpoint.ip: 3232235777 is not of type 'string'"),
    "ip not an address": (4001, _set("src_endpoint.ip", "not-an-ip"), "src_endpoint.ip: 'not-an-ip' does not match"),
    "email not an address": (3002, _set("user.email_addr", "student13"), "user.email_addr: 'student13' does not match"),
    "hash not hex": (2006, _set("file.hashes.0.value", "zz"), "file.hashes[0].value: 'zz' does not match"),
    "boolean as text": (2004, _set("is_alert", "yes"), "is_alert: 'yes' is not of type 'boolean'"),
    "port out of range": (
        4001,
        _set("dst_endpoint.port", 70000),
        "dst_endpoint.port: 70000 is greater than the maximum",
    ),
    "object where array expected": (
        2004,
        _set("malware", {"name": "x", "classification_ids": [1]}),
        "malware: {'name': 'x', 'classification_ids': [1]} is not of type 'array'",
    ),
    "unknown attribute at top level": (
        4001,
        _set("srcip", "1.2.3.4"),
        "<event>: 'srcip' is not an OCSF 1.5.0 attribute",
    ),
    "unknown attribute nested": (
        6006,
        _set("file.owner_email", "x"),
        "file: 'owner_email' is not an OCSF 1.5.0 attribute",
    ),
    "profile attribute without its profile": (
        6006,
        _set("device", {"type_id": 2, "hostname": "pc"}),
        "<event>: 'device' needs profile 'host' in metadata.profiles",
    ),
    "profile attribute after its profile is removed": (
        4001,
        _set("metadata.profiles", []),
        "<event>: 'action_id' needs profile 'security_control' in metadata.profiles",
    ),
    "unknown profile name": (
        4001,
        _set("metadata.profiles", ["security_control", "netskope"]),
        "'netskope' is not an OCSF",
    ),
    "profile that does not apply to the class": (
        3002,
        _set("metadata.profiles", ["network_proxy"]),
        "profile 'network_proxy' does not apply to authentication",
    ),
    "profile listed twice": (
        5001,
        _set("metadata.profiles", ["host", "host"]),
        "metadata.profiles: lists a profile more than once",
    ),
    "declared profile's required attribute missing": (
        3002,
        _set("metadata.profiles", ["cloud"]),
        "<event>: 'cloud' is a required property",
    ),
    "metadata.version earlier": (
        2006,
        _set("metadata.version", "1.3.0"),
        "metadata.version: must be '1.5.0', got '1.3.0'",
    ),
    "metadata.version later": (
        2006,
        _set("metadata.version", "1.6.0"),
        "metadata.version: must be '1.5.0', got '1.6.0'",
    ),
    "metadata.version missing": (2006, _delete("metadata.version"), "metadata.version: must be '1.5.0', got None"),
    "constraint at_least_one": (
        3002,
        _delete("service"),
        "<event>: needs at least one of: service, dst_endpoint",
    ),
    "constraint on an object": (
        4001,
        _set("dst_endpoint", {"port": 443}),
        "dst_endpoint: needs at least one of:",
    ),
    "enum caption sibling wrong": (
        4001,
        _set("activity_name", "Close"),
        "activity_name: 'Close' is not the caption 'Traffic' of activity_id=6",
    ),
    "nested enum caption sibling wrong": (
        4001,
        _set("connection_info.direction", "Inbound"),
        "connection_info.direction: 'Inbound' is not the caption 'Outbound' of direction_id=2",
    ),
    "class not registered": (4001, _set("class_uid", 1001), "class_uid: 1001 is not one of this provider's classes"),
    "class_uid as text": (4001, _set("class_uid", "4001"), "class_uid: '4001' is not one of this provider's classes"),
    "observable naming no attribute": (
        4001,
        _set("observables.0.name", "srcip"),
        "observables[0].name: 'srcip' is not an attribute path of network_activity",
    ),
    "observable naming a gated attribute": (
        6006,
        _set("observables", [{"name": "device.hostname", "type_id": 1, "value": "pc"}]),
        "observables[0].name: 'device.hostname' is not an attribute path of file_hosting",
    ),
}


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_each_defect_kind_is_caught(defect: str) -> None:
    class_uid, mutate, expected = DEFECTS[defect]
    event = copy.deepcopy(GOOD[class_uid])
    mutate(event)
    errors = validate_event(event)
    assert any(expected in error for error in errors), errors


@pytest.mark.parametrize("not_an_event", [None, [], "text", 4001, 1.5])
def test_non_objects_are_invalid(not_an_event: object) -> None:
    assert validate_event(not_an_event) == [
        f"<event>: an OCSF event must be a JSON object, got {type(not_an_event).__name__}"
    ]


def test_other_carries_the_source_word_as_its_caption() -> None:
    event = copy.deepcopy(GOOD[4001])
    event.update(activity_id=99, activity_name="Idle Timeout", type_uid=400199)
    assert validate_event(event) == []


def test_big_integer_uid_must_be_a_string() -> None:
    event = copy.deepcopy(GOOD[2004])
    event["finding_info"]["uid"] = 18446744073709551615
    assert any(e.startswith("finding_info.uid:") for e in validate_event(event))


def test_integers_beyond_ocsf_long_are_invalid_except_under_unmapped() -> None:
    event = copy.deepcopy(GOOD[4001])
    event["time"] = 10**303
    event["traffic"] = {"bytes_in": 2**127}
    event["unmapped"] = {"huge": 2**200}
    assert validate_event(event) == [
        "time: " + str(10**303) + " is beyond OCSF long_t (128 bits)",
        "traffic.bytes_in: " + str(2**127) + " is beyond OCSF long_t (128 bits)",
    ]


def test_unmapped_is_open() -> None:
    event = copy.deepcopy(GOOD[4001])
    event["unmapped"] = {"anything": {"goes": [1, "two", None]}, "big": 18446744073709551615}
    assert validate_event(event) == []


def test_validate_lines_counts_classes_invalid_and_unparsable() -> None:
    bad = copy.deepcopy(GOOD[4001])
    bad["type_uid"] = 1
    lines = [orjson.dumps(event) for event in GOOD.values()] + [b"", orjson.dumps(bad), b"{not json"]
    report = validate_lines(lines)
    assert (report.events, report.invalid, report.ok) == (10, 2, False)
    assert report.per_class == {uid: 2 if uid == 4001 else 1 for uid in GOOD}
    assert report.problems[0].startswith("line 10: type_uid:")
    assert report.problems[-1].startswith("line 11: <line>: not JSON")


# The compiled fast check must agree with jsonschema (the judge) on good events, every defect kind,
# and random damage anywhere in an event.
@pytest.mark.parametrize("case", sorted(DEFECTS) + [f"good {uid}" for uid in sorted(GOOD)])
def test_fast_check_agrees_with_jsonschema_on_known_cases(case: str) -> None:
    if case.startswith("good "):
        event = GOOD[int(case.split()[1])]
    else:
        class_uid, mutate, _ = DEFECTS[case]
        event = copy.deepcopy(GOOD[class_uid])
        mutate(event)
    assert validate_event(event) == validate_event(event, thorough=True)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_fast_check_agrees_with_jsonschema_on_random_damage(data: st.DataObject) -> None:
    event = copy.deepcopy(GOOD[data.draw(st.sampled_from(sorted(GOOD)))])
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        path = data.draw(st.sampled_from(_paths(event)))
        parent = event
        for part in path[:-1]:
            parent = parent[part]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(JSON_VALUES | st.sampled_from([0, 1, 99, -1, 70000, 1.0, "10.0.0.1", "x@y.z"]))
    assert validate_event(event) == validate_event(event, thorough=True)
