"""One finishing path for every class: the same derived attributes, guards and yes/no reading.

Before, Authentication, Account Change, Entity Management and Device Inventory Info finished
through ``common.finalize`` and the other four through ``parts.finish``, with different results
(only the latter stated ``timezone_offset``, or kept the fields of a part they could not build).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from netskope_provider import exceptions
from netskope_provider.ocsf import common, map_record
from netskope_provider.ocsf.validate import validate_event
from netskope_provider.registry import CLASSES

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"
#: One golden record per class (file stem).
CASES = {
    3002: "application_login_successful",
    3004: "audit_created_inline_policy",
    3001: "audit_edit_admin_record",
    4001: "network_allow",
    2004: "alert_malware",
    2006: "incident_dlp",
    6006: "application_file_upload",
    5001: "infrastructure_metric",
}


def _case(uid: int, **changes: Any) -> tuple[dict[str, Any], str]:
    case = orjson.loads((GOLDEN / f"{CASES[uid]}.json").read_bytes())
    record = {**case["record"], **changes}
    return {key: value for key, value in record.items() if value is not None}, case["log_type"]


def _event(uid: int, **changes: Any) -> dict[str, Any]:
    record, log_type = _case(uid, **changes)
    mapped = map_record(record, log_type)
    assert (mapped.kind, mapped.class_uid) == ("ocsf", uid), mapped.reason
    assert validate_event(mapped.event) == []
    return mapped.event


def test_cases_cover_every_class() -> None:
    assert set(CASES) == set(CLASSES)


@pytest.mark.parametrize("uid", sorted(CASES))
def test_every_class_states_the_time_zone_offset_and_keeps_the_zone_name(uid: int) -> None:
    event = _event(uid, src_timezone="America/New_York", timestamp=1_719_792_000)  # July: EDT
    assert event["timezone_offset"] == -240
    assert event["unmapped"]["src_timezone"] == "America/New_York"
    assert "timezone_offset" not in _event(uid, src_timezone="Not/AZone")


@pytest.mark.parametrize("uid", [3002, 4001, 2004, 2006])
def test_every_class_keeps_the_port_of_an_endpoint_it_could_not_build(uid: int) -> None:
    event = _event(uid, dstip=None, dsthost=None, domain=None, srcip="192.0.2.7", dstport=8443)
    assert "dst_endpoint" not in event
    assert event["unmapped"]["dstport"] == 8443


def test_an_unreadable_endpoint_dlp_file_size_is_kept() -> None:
    record, log_type = orjson.loads((GOLDEN / "endpoint_epdlp_device_control.json").read_bytes()), "endpoint"
    event = map_record({**record["record"], "source_file_size": "N/A"}, log_type).event
    assert event["unmapped"]["source_file_size"] == "N/A"


@pytest.mark.parametrize(
    ("value", "said"),
    [("yes", True), ("Yes ", True), ("true", True), (True, True), (1, True), ("1", True)]
    + [("no", False), ("False", False), (False, False), (0, False), ("0", False)]
    + [("", None), (None, None), ("maybe", None), (2, None), ([], None)],
)
def test_one_yes_no_reader(value: Any, said: bool | None) -> None:
    assert common.flag(value) is said


def test_yes_no_fields_read_alike_in_every_class() -> None:
    assert _event(2006, alert=False)["is_alert"] is False
    assert _event(2006, alert="false")["is_alert"] is False
    assert _event(6006, alert="false")["is_alert"] is False
    assert _event(2004, acked="yes")["status_id"] == 4


def test_a_detection_findings_status_word_is_mapped_once() -> None:
    event = _event(2004, status="In Progress")
    assert (event["status_id"], event["status"]) == (2, "In Progress")
    assert "status" not in event.get("unmapped", {})


def test_mapping_errors_live_with_the_other_errors() -> None:
    assert common.MappingError is exceptions.MappingError
    assert issubclass(exceptions.MappingError, ValueError)
