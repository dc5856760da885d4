"""Golden tests: representative records of every log type and alert subtype map to reviewed events.

Each ``tests/data/golden/<case>.json`` holds a hand-written record, the log type it was pulled
from, and the expected outcome (kind, class, reason, event). To review a deliberate mapping
change, regenerate the expectations with ``UPDATE_GOLDEN=1 pytest tests/unit/test_ocsf_golden.py`` and
read the diff before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from netskope_provider.ocsf import map_record
from netskope_provider.ocsf.validate import validate_event
from netskope_provider.registry import CLASSES, LOG_TYPES

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"
CASES = sorted(path.stem for path in GOLDEN.glob("*.json"))
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def _load(case: str) -> dict[str, Any]:
    return orjson.loads((GOLDEN / f"{case}.json").read_bytes())


def _outcome(case: dict[str, Any]) -> dict[str, Any]:
    mapped = map_record(case["record"], case["log_type"])
    return {"kind": mapped.kind, "class_uid": mapped.class_uid, "reason": mapped.reason, "event": mapped.event}


@pytest.mark.parametrize("name", CASES)
def test_golden_case(name: str) -> None:
    case = _load(name)
    outcome = _outcome(case)
    if UPDATE:
        case["expected"] = outcome
        (GOLDEN / f"{name}.json").write_bytes(orjson.dumps(case, option=orjson.OPT_INDENT_2) + b"\n")
    assert outcome == case["expected"]
    if outcome["kind"] == "ocsf":
        assert validate_event(outcome["event"]) == []
    else:
        assert outcome["event"] is case["record"] or outcome["kind"] == "rejected"


def test_golden_cases_cover_every_log_type_class_and_alert_subtype() -> None:
    cases = [_load(name) for name in CASES]
    assert {case["log_type"] for case in cases} == set(LOG_TYPES)
    classes = {case["expected"]["class_uid"] for case in cases if case["expected"]["kind"] == "ocsf"}
    assert classes == set(CLASSES)
    subtypes = {case["record"].get("alert_type", "").casefold() for case in cases if case["log_type"] == "alert"}
    assert {"dlp", "compromised credential", "malsite", "malware", "policy", "uba", "c2"} <= subtypes
    assert any(case["expected"]["kind"] == "raw" and case["expected"]["reason"] for case in cases)
    assert any(case["expected"]["kind"] == "raw" and case["expected"]["reason"] is None for case in cases)


def test_big_ids_stay_exact_through_the_golden_corpus() -> None:
    """2**54 + 1 is not a double: it must come out as the exact digits (uid) or the exact int (unmapped)."""
    case = _load("incident_dlp")
    event = _outcome(case)["event"]
    assert event["finding_info"]["uid"] == "18014398509481985"
    assert event["unmapped"]["dlp_parent_id"] == 18014398509481985
    assert orjson.loads(orjson.dumps(event)) == event
