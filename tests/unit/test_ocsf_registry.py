"""One registry of log types and OCSF classes: adding either is one entry plus the class's module.

A test-only ninth log type (``clientstatus``) and ninth class (Device Config State 5002, built by
``ocsf_ninth_class.py``) are registered for one test; routing, the mapper, the CLI, the validator
and the doc generator pick them up with no other change, and forget them afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import import_module
from pathlib import Path

import orjson
import pytest

from netskope_provider import registry
from netskope_provider.log_types import LOG_TYPES, get_log_type
from netskope_provider.ocsf import MapCounts, classify, cli, docgen, map_lines, map_record, native
from netskope_provider.ocsf.validate import validate_event
from netskope_provider.registry import CLASSES, LogType, Strategy

CLIENT_STATUS = LogType(
    "clientstatus", "events/dataexport/events/clientstatus", Strategy.ITERATOR, "Steering: Client Status (View)"
)
RECORD = {"_id": "c1", "timestamp": 1_719_792_000, "hostname": "LAPTOP-7", "client_version": "118.1.0", "os": "x"}


@pytest.fixture
def ninth(monkeypatch: pytest.MonkeyPatch) -> Iterator[registry.OcsfClass]:
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    entry = import_module("ocsf_ninth_class").EVENT_CLASS
    with registry.registered(CLIENT_STATUS, entry):
        yield entry


def test_routing_and_mapper_take_the_ninth_log_type_to_the_ninth_class(ninth: registry.OcsfClass) -> None:
    assert get_log_type("ClientStatus") is LOG_TYPES["clientstatus"] is CLIENT_STATUS
    assert classify(RECORD, "clientstatus") == 5002
    assert classify({**RECORD, "record_type": "clientstatus"}, "alert") == 5002
    mapped = map_record(RECORD, "clientstatus")
    assert (mapped.kind, mapped.class_uid) == ("ocsf", 5002)
    assert mapped.event["device"]["agent_list"][0]["version"] == "118.1.0"
    assert mapped.event["unmapped"] == {"os": "x"}
    counts = MapCounts()
    lines = list(map_lines([orjson.dumps(RECORD), orjson.dumps({"timestamp": 1})], "clientstatus", counts))
    assert (counts.by_class[5002], counts.raw, len(lines)) == (1, 1, 2)
    assert counts.raw_reasons == {"5002: client status names no device: the record has no hostname": 1}


def test_validator_cli_and_docs_know_the_ninth_class(ninth: registry.OcsfClass) -> None:
    event = map_record(RECORD, "clientstatus").event
    assert validate_event(event) == []
    assert any(error.startswith("device") for error in validate_event({**event, "device": {"hostname": 7}}))
    assert cli.parser().parse_args(["map", "--log-type", "clientstatus"]).log_type == "clientstatus"
    text = docgen.render()
    assert "## Device Config State (5002)" in text
    assert "| `client_version` | device.agent_list[].version |" in text
    assert "| `clientstatus` | `clientstatus` |" in text and "| `clientstatus` | Device Config State 5002 |" in text


def test_a_taken_uid_or_name_cannot_be_registered_twice(ninth: registry.OcsfClass) -> None:
    with pytest.raises(ValueError, match="already registered"):
        registry.register(ninth)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(CLIENT_STATUS)
    assert CLASSES[5002] is ninth and LOG_TYPES["clientstatus"] is CLIENT_STATUS


def test_without_the_entries_nothing_knows_them() -> None:
    assert "clientstatus" not in LOG_TYPES and 5002 not in CLASSES
    assert classify(RECORD, "clientstatus") is None
    assert map_record(RECORD, "clientstatus").kind == "raw"
    assert validate_event({"class_uid": 5002})[0].startswith("class_uid: 5002 is not one of this provider's classes")
    assert "(5002)" not in docgen.render()


def test_built_in_classes_and_log_types_come_from_the_registry() -> None:
    assert len(LOG_TYPES) == 8 and len(CLASSES) == 8
    for uid, cls in CLASSES.items():
        module = import_module(cls.module)
        assert module.EVENT_CLASS is cls, uid
        assert cls.module.rpartition(".")[2] in native.COMPILED_MODULES
