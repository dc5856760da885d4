"""Property tests: the mapper never raises and accounts for every record, whatever the input.

Two sources of input: arbitrary JSON objects (mostly unrouted, so they exercise routing and the
raw path), and realistic records (the golden inputs) with fields deleted, retyped, re-cased or
filled with odd unicode (they reach every class builder). Every OCSF event produced must still
validate, and every NDJSON batch must come out as exactly one line per record.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netskope_provider.ocsf import classify, map_record
from netskope_provider.ocsf.mapper import MapCounts, dumps, map_lines
from netskope_provider.ocsf.validate import validate_event

LOG_TYPES = ("application", "page", "network", "infrastructure", "audit", "incident", "endpoint", "alert")
GOLDEN = sorted((Path(__file__).resolve().parents[1] / "data" / "golden").glob("*.json"))
BASES: list[tuple[str, dict[str, Any]]] = [
    (case["log_type"], case["record"]) for case in (orjson.loads(path.read_bytes()) for path in GOLDEN)
]
ROUTED_BASES = [base for base in BASES if classify(base[1], base[0]) is not None]

ODD_TEXT = st.sampled_from(
    [
        "",
        " ",
        "N/A",
        "\u200b",
        "\u202eevil",
        "e\u0301",
        "😀",
        "\x00",
        "a" * 5000,
        "-1",
        "1e309",
        "nan",
        "0x1F",
        "²",
        "８０",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | ODD_TEXT
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
FIELD_NAMES = st.sampled_from(
    [
        "timestamp", "_id", "record_type", "type", "alert", "alert_type", "activity", "action", "audit_log_event",
        "user", "srcip", "dstip", "srcport", "dstport", "url", "object", "md5", "sha256", "file_size", "app",
        "dlp_match_info", "dlp_incident_id", "severity", "severity_level", "hostname", "os", "device",
        "ip_protocol", "start_time", "supporting_data", "malware_type", "acked", "status", "src_latitude",
    ]
) | st.text(max_size=12)  # fmt: skip


def _assert_accounted(record: dict[str, Any], log_type: str) -> None:
    snapshot = copy.deepcopy(record)
    mapped = map_record(record, log_type)
    assert record == snapshot, "the mapper must not modify the source record"
    assert mapped.kind in ("ocsf", "raw")
    if mapped.kind == "raw":
        assert mapped.event is record
        assert mapped.class_uid is None
        # map_record turns any builder exception into a raw record; only a deliberate MappingError
        # (a record lacking what its class requires) may get there, never a crash.
        assert "mapper error" not in (mapped.reason or ""), mapped.reason
        return
    assert mapped.class_uid == classify(record, log_type)
    assert validate_event(mapped.event) == []
    assert json.loads(dumps(mapped.event)) == mapped.event  # stdlib: exact beyond 64 bits too


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=st.dictionaries(FIELD_NAMES, JSON_VALUES, max_size=12), log_type=st.sampled_from(LOG_TYPES))
def test_arbitrary_objects_never_raise_and_are_accounted(record: dict[str, Any], log_type: str) -> None:
    _assert_accounted(record, log_type)


#: Fields that together identify a part a class may require (endpoints, file, actor, finding id):
#: blanking a whole group reaches the "required part missing" paths that single edits rarely hit.
GROUPS = (
    ("srcip", "dstip", "dsthost", "domain", "userip", "hostname", "nsdeviceuid"),
    ("object", "dlp_file", "source_file_name"),
    ("user", "ur_normalized", "userkey", "user_id", "userPrincipalName", "sAMAccountName", "app"),
    ("_id", "alert_id", "dlp_incident_id", "incident_id"),
)


@st.composite
def mutated_records(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    log_type, base = draw(st.sampled_from(ROUTED_BASES))
    record = copy.deepcopy(base)
    keys = sorted(record)
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        key = draw(st.sampled_from(keys) | FIELD_NAMES)
        operation = draw(st.sampled_from(("delete", "retype", "odd", "recase", "blank group")))
        if operation == "blank group":
            record.update(dict.fromkeys(draw(st.sampled_from(GROUPS)), ""))
        elif operation == "delete":
            record.pop(key, None)
        elif operation == "retype":
            record[key] = draw(JSON_VALUES)
        elif operation == "odd":
            record[key] = draw(ODD_TEXT)
        elif isinstance(record.get(key), str):
            record[key] = f"  {record[key].upper()} "
    return log_type, record


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=mutated_records())
def test_mutated_realistic_records_never_raise_and_still_validate(case: tuple[str, dict[str, Any]]) -> None:
    log_type, record = case
    _assert_accounted(record, log_type)


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def _words(value: str) -> str:
    return " ".join(value.replace("_", " ").split()).casefold()


#: Fields stated in another form (booleans, times in ms), not as their source text.
CONVERTED = frozenset({"alert", "acked", "start_time", "end_time", "timestamp", "_insertion_epoch_timestamp"})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=mutated_records())
def test_mutated_records_lose_no_field(case: tuple[str, dict[str, Any]]) -> None:
    """Whatever the damage, a present field is kept in unmapped or its text shows in the event.

    For the network, finding and file-hosting classes; the IAM and inventory classes have their own check.
    """
    log_type, record = case
    mapped = map_record(record, log_type)
    if mapped.kind != "ocsf" or mapped.class_uid not in (4001, 2004, 2006, 6006):
        return
    unmapped = mapped.event.get("unmapped", {})
    shown = " | ".join(_words(text) for text in _strings({k: v for k, v in mapped.event.items() if k != "unmapped"}))
    for key, value in record.items():
        if not value or key in unmapped or key in CONVERTED:
            continue
        if isinstance(value, str) and _words(value) not in ("", "unknown"):
            assert _words(value) in shown, (mapped.class_uid, key, value)


@settings(max_examples=50, deadline=None)
@given(value=JSON_VALUES.filter(lambda v: not isinstance(v, dict)), log_type=st.sampled_from(LOG_TYPES))
def test_non_objects_are_rejected_with_a_reason(value: object, log_type: str) -> None:
    mapped = map_record(value, log_type)
    assert (mapped.kind, mapped.class_uid, mapped.event) == ("rejected", None, None)
    assert mapped.reason and "object" in mapped.reason


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(mutated_records(), min_size=1, max_size=20), junk=st.lists(st.binary(max_size=20), max_size=3))
def test_ndjson_batch_is_one_line_per_record_and_counted(
    batch: list[tuple[str, dict[str, Any]]], junk: list[bytes]
) -> None:
    log_type = batch[0][0]
    lines = [dumps(record) for _, record in batch] + [b"\xff" + item for item in junk]
    counts = MapCounts()
    output = list(map_lines(lines, log_type, counts))
    assert counts.total == len(lines)
    assert len(output) == counts.ocsf + counts.raw == len(batch)
    assert counts.rejected == len(junk) == len(counts.rejections)
    for line, (_, record) in zip(output, batch):
        event = json.loads(line)
        assert event == record or validate_event(event) == []
