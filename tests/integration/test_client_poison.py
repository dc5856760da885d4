"""Hostile values in one record of a page: the page is never refused whole, nothing is lost or rounded.

A scripted tenant serves five good records around one bad one over real HTTP. Each bad record has
a defined outcome: kept exactly (its values decode to what its text says) or quarantined with a
reason and its exact bytes, either by the client (a page the fast parser refuses is split record
by record) or by ``decode_record`` in the mapping stage. The good records always arrive as the
very bytes the tenant sent. The last test runs the real fetch and mapping tasks on such a page.
"""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import orjson
import pytest
from pipeline_tasks import run_task
from scripted_tenant import Reply, ScriptedTenant

from netskope_provider import staging
from netskope_provider.api.client import NetskopeClient
from netskope_provider.exceptions import PoisonRecordError
from netskope_provider.records import MAX_DEPTH, decode_record
from netskope_provider.simulator.records import generate

START, END = 1_790_000_000, 1_790_003_600
HOUR = 3600
GOOD = [
    orjson.dumps({"_id": f"good-{n}", "timestamp": START + n, "_insertion_epoch_timestamp": START + n, "n": n})
    for n in range(5)
]


def page_of(bad: bytes, *, extra: bytes = b"") -> bytes:
    """``{"ok":1,"result":[g0,g1,bad,g2,g3,g4]}`` as the exact bytes the tenant sends."""
    return b'{"ok":1,"result":[' + b",".join([*GOOD[:2], bad, *GOOD[2:]]) + b"]" + extra + b"}"


def record(body: bytes) -> bytes:
    """A record with the good records' times around ``body`` (the hostile field)."""
    return b'{"_id":"bad","timestamp":%d,"_insertion_epoch_timestamp":%d,%s}' % (START + 9, START + 9, body)


def client_for(tenant: ScriptedTenant) -> NetskopeClient:
    return NetskopeClient(
        tenant.host, lambda refresh: "poison-token", scheme="http", rate_limit_per_second=100, max_retries=1
    )


def outcome(tenant: ScriptedTenant, log_type: str = "audit") -> tuple[list[bytes], list[tuple[str, bytes]]]:
    """Records kept exactly (raw text) and quarantined ``(reason, raw)``, by the client or by ``decode_record``."""
    kept: list[bytes] = []
    quarantined: list[tuple[str, bytes]] = []
    for page in client_for(tenant).iter_window_pages(log_type, START, END):
        quarantined += page.quarantined
        for raw in page.records:
            assert b"\n" not in raw and b"\r" not in raw, "every record is a single line"
            try:
                decode_record(raw)
            except PoisonRecordError as poison:
                quarantined.append((poison.reason, raw))
            else:
                kept.append(raw)
    return kept, quarantined


DEEP_2000 = b"[" * 2000 + b"]" * 2000
DEEP_255 = b"[" * 254 + b"]" * 254
QUARANTINED = {
    "NaN": (record(b'"v":NaN'), "NaN is not a JSON number"),
    "Infinity": (record(b'"v":Infinity'), "Infinity is not a JSON number"),
    "-Infinity": (record(b'"v":-Infinity'), "-Infinity is not a JSON number"),
    "1e400": (record(b'"v":1e400'), "number 1e400 is beyond the range of a double"),
    "nesting 2,000 deep": (record(b'"v":' + DEEP_2000), f"deeper than {MAX_DEPTH} are not kept"),
    "nesting 255 deep": (record(b'"v":' + DEEP_255), f"deeper than {MAX_DEPTH} are not kept"),
    "duplicate keys": (record(b'"user":"alice","user":"mallory"'), "key 'user' appears twice"),
    "duplicate keys, nested": (record(b'"o":{"k":1,"k":2}'), "key 'k' appears twice"),
    "raw control character in a string": (record(b'"v":"a\x01b"'), "not valid JSON"),
    "not an object": (b"[1,2,3]", "not a JSON object but an array"),
}


@pytest.mark.parametrize("case", sorted(QUARANTINED))
def test_a_record_that_cannot_be_kept_exactly_is_quarantined_and_the_rest_delivered(case: str) -> None:
    bad, reason = QUARANTINED[case]
    with ScriptedTenant() as tenant:
        tenant.queue(Reply(body=page_of(bad)))
        kept, quarantined = outcome(tenant)
    assert kept == GOOD, "the good records arrive byte for byte"
    assert [raw for _, raw in quarantined] == [bad], "the bad record is kept whole, byte for byte"
    assert reason in quarantined[0][0]
    assert len(tenant.pages_seen) == 1, "one request: a hostile record is not a transient failure"


KEPT = {
    "lone surrogate": (record(b'"v":"\\ud800"'), "\ud800"),
    "integer above 2^64 - 1": (record(b'"v":123456789012345678901234567890'), 123456789012345678901234567890),
    "integer below -2^63": (record(b'"v":-9223372036854775809'), -9223372036854775809),
    "_id an object": (b'{"_id":{"a":[1]},"timestamp":%d,"v":1}' % (START + 9), 1),
    "_id a list": (b'{"_id":[1,2],"timestamp":%d,"v":1}' % (START + 9), 1),
    'the string "Infinity" (stays a string)': (record(b'"v":"Infinity"'), "Infinity"),
    "nesting 254 deep": (record(b'"v":' + b"[" * 253 + b"]" * 253), None),
}


@pytest.mark.parametrize("case", sorted(KEPT))
def test_a_record_that_can_be_kept_exactly_is_delivered_with_its_exact_values(case: str) -> None:
    bad, value = KEPT[case]
    with ScriptedTenant() as tenant:
        tenant.queue(Reply(body=page_of(bad)))
        kept, quarantined = outcome(tenant)
    assert quarantined == []
    assert kept == [*GOOD[:2], bad, *GOOD[2:]], "byte for byte, in order"
    decoded = decode_record(bad)
    if value is not None:
        assert decoded["v"] == value and type(decoded["v"]) is type(value), "never rounded to a float"


def test_a_record_spread_over_several_lines_is_kept_on_one_line_with_the_same_values() -> None:
    pretty = b'{\n  "_id": "multi",\r\n  "timestamp": %d,\n  "text": "line\\nbreak"\n}' % (START + 9)
    with ScriptedTenant() as tenant:
        tenant.queue(Reply(body=page_of(pretty)))
        kept, quarantined = outcome(tenant)
    assert quarantined == []
    one_line = kept[2]
    assert b"\n" not in one_line and b"\r" not in one_line
    assert decode_record(one_line) == {"_id": "multi", "timestamp": START + 9, "text": "line\nbreak"}
    assert kept[:2] + kept[3:] == GOOD


def test_several_bad_records_on_one_page_are_each_judged_alone() -> None:
    bads = [QUARANTINED["NaN"][0], KEPT["lone surrogate"][0], QUARANTINED["nesting 2,000 deep"][0]]
    body = b'{"ok":1,"result":[' + b",".join([GOOD[0], *bads, *GOOD[1:]]) + b'],"wait_time":0}'
    with ScriptedTenant() as tenant:
        tenant.queue(Reply(body=body))
        kept, quarantined = outcome(tenant)
    assert kept == [GOOD[0], bads[1], *GOOD[1:]]
    assert [raw for _, raw in quarantined] == [bads[0], bads[2]]


# --- strategies that place records in a window by their own times (incident, endpoint) ----------


def incident_page(*records: bytes) -> Reply:
    return Reply(body=b'{"ok":1,"result":[' + b",".join(records) + b"]}")


def test_incident_times_that_are_not_numbers_are_homed_by_the_timestamp_or_quarantined() -> None:
    """Incident records are homed by their event ``timestamp``; an insertion time, usable or not, plays no part."""
    inf_insertion = b'{"_id":"i1","_insertion_epoch_timestamp":"inf","timestamp":%d}' % (START + 5)
    inf_both = b'{"_id":"i2","_insertion_epoch_timestamp":"inf","timestamp":"Infinity"}'
    object_id = b'{"_id":{"nested":[1]},"timestamp":%d}' % (START + 6)
    list_id = b'{"_id":[1,2],"timestamp":%d}' % (START + 7)
    with ScriptedTenant() as tenant:
        tenant.queue(incident_page(inf_insertion, inf_both, object_id, list_id))
        pages = list(client_for(tenant).iter_window_pages("incident", START, END))
    kept = [raw for page in pages for raw in page.records]
    quarantined = [entry for page in pages for entry in page.quarantined]
    assert kept == [inf_insertion, object_id, list_id], "homed by timestamp, whatever the _id"
    assert quarantined == [("no usable event timestamp, so it has no home log stream", inf_both)]


def test_an_incident_record_no_parser_accepts_is_quarantined_with_the_reason() -> None:
    refused = b'{"_id":"n1","timestamp":%d,"v":NaN}' % (START + 5)
    with ScriptedTenant() as tenant:
        tenant.queue(incident_page(GOOD[0], refused))
        pages = list(client_for(tenant).iter_window_pages("incident", START, END))
    assert [raw for page in pages for raw in page.records] == [GOOD[0]]
    assert [(reason.split(":")[0], raw) for page in pages for reason, raw in page.quarantined] == [
        ("NaN is not a JSON number and has no exact JSON form", refused)
    ]


# --- the real fetch and mapping tasks: quarantine files hold every refused record exactly --------


def quarantined_file(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]


def run_fetch_and_mapping(body: bytes, start: int, end: int, run_id: str) -> tuple[dict, dict]:
    with ScriptedTenant() as tenant:
        tenant.queue(Reply(body=body))
        connection = {
            "conn_type": "netskope",
            "host": tenant.host,
            "password": "poison-token",
            "extra": {"allow_non_goskope_host": True, "scheme": "http", "max_retries": 1},
        }
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AIRFLOW_CONN_NETSKOPE_DEFAULT", orjson.dumps(connection).decode())
            window = {"log_type": "audit", "start": start, "end": end, "run_id": run_id}
            fetched = run_task("fetch", **window)
            return fetched, run_task("to_ocsf", **window, manifest=fetched)


def local(location: str) -> Path:
    return Path(location.removeprefix("file://"))


def test_fetch_and_mapping_tasks_deliver_the_good_records_and_quarantine_each_bad_one_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path stages what it can split (the mapping stage quarantines what it cannot decode
    exactly); a page it refuses is judged record by record at fetch. Either way: once, whole, with a reason."""
    now_hour = int(time.time()) // HOUR * HOUR
    start, end = now_hour - 3 * HOUR, now_hour - 2 * HOUR
    monkeypatch.setenv("NETSKOPE_STAGING_BASE", f"file://{tmp_path / 'staging'}")
    good = [
        orjson.dumps({"_id": f"g{n}", "timestamp": start + n, "_insertion_epoch_timestamp": start + n, "type": "audit"})
        for n in range(5)
    ]
    deep = b'{"_id":"deep","timestamp":%d,"v":%s}' % (start + 8, DEEP_255)
    duplicate = b'{"_id":"dup","timestamp":%d,"user":"a","user":"b"}' % (start + 9)
    huge = b'{"_id":"huge","timestamp":%d,"v":123456789012345678901234567890}' % (start + 10)
    nan = b'{"_id":"nan","timestamp":%d,"v":NaN}' % (start + 7)

    # Page 1: valid JSON throughout, so the fast path stages every record as sent.
    body = b'{"ok":1,"result":[' + b",".join([*good[:3], deep, duplicate, huge, *good[3:]]) + b"]}"
    fetched, mapped = run_fetch_and_mapping(body, start, end, "fast-path")
    assert fetched["fetch_quarantined"] == 0 and fetched["fetch_quarantine_location"] is None
    staged = gzip.decompress(local(fetched["fetched"]["location"]).read_bytes()).splitlines()
    assert staged == [*good[:3], deep, duplicate, huge, *good[3:]], "staged byte for byte"
    assert mapped["rejected"] == 2 and mapped["ocsf_total"] + mapped["raw"] == 6
    at_mapping = quarantined_file(local(mapped["rejected_location"]))
    assert sorted(entry["record"]["_id"] for entry in at_mapping) == ["deep", "dup"]
    assert any("appears twice" in reason for reason in mapped["rejected_reasons"])
    events = gzip.decompress(local(mapped["events"]["location"]).read_bytes())
    assert b"123456789012345678901234567890" in events, "the huge integer is delivered exactly"
    assert b"1.2345678901234568e+29" not in events

    # Page 2: a NaN makes the page invalid JSON: split and judged record by record at fetch.
    body = b'{"ok":1,"result":[' + b",".join([*good[:3], nan, duplicate, huge, *good[3:]]) + b"]}"
    fetched, mapped = run_fetch_and_mapping(body, start, end, "tolerant-path")
    assert fetched["fetched"]["records"] == 6 and fetched["fetch_quarantined"] == 2
    at_fetch = quarantined_file(local(fetched["fetch_quarantine_location"]))
    assert at_fetch[0]["record"] == nan.decode() and "NaN" in at_fetch[0]["reason"], "kept as its exact text"
    assert at_fetch[1]["record"]["_id"] == "dup" and "appears twice" in at_fetch[1]["reason"]
    assert mapped["fetched"] == 6 and mapped["rejected"] == 0
    assert mapped["fetch_quarantined"] == 2, "the window's summary shows what the fetch quarantined"


def test_a_data_record_whose_timestamp_is_the_string_infinity_is_delivered_raw_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``data/*`` record is placed by its insertion time, so ``timestamp: "Infinity"`` costs it only its OCSF form:
    staged and delivered as its exact bytes, the reason naming the timestamp."""
    now_hour = int(time.time()) // HOUR * HOUR
    start, end = now_hour - 3 * HOUR, now_hour - 2 * HOUR
    monkeypatch.setenv("NETSKOPE_STAGING_BASE", f"file://{tmp_path / 'staging'}")
    [login] = generate("audit", 1, start, end, seed=4)
    good = orjson.dumps(login)
    infinite = orjson.dumps(login | {"_id": "infinite", "timestamp": "Infinity"})
    fetched, mapped = run_fetch_and_mapping(b'{"ok":1,"result":[' + good + b"," + infinite + b"]}", start, end, "inf")
    assert fetched["fetch_quarantined"] == 0
    assert gzip.decompress(local(fetched["fetched"]["location"]).read_bytes()).splitlines() == [good, infinite]
    assert (mapped["ocsf_total"], mapped["raw"], mapped["rejected"]) == (1, 1, 0)
    [reason] = mapped["raw_reasons"]
    assert "no usable 'timestamp'" in reason
    events = gzip.decompress(local(mapped["events"]["location"]).read_bytes()).splitlines()
    good_event, infinite_event = (staging.decode_event(line)[2] for line in events)
    assert infinite_event == infinite, "delivered raw, byte for byte"
    assert orjson.loads(good_event)["class_uid"], "the same record with a numeric timestamp is OCSF"


def test_bytes_that_are_not_utf8_are_marked_in_their_record_also_on_a_page_split_record_by_record(caplog) -> None:
    latin1 = b'{"_id":"l1","timestamp":%d,"user":"caf\xe9"}' % (START + 3)
    with ScriptedTenant() as tenant:
        tenant.queue(Reply(body=page_of(QUARANTINED["NaN"][0], extra=b',"note":"x"').replace(GOOD[4], latin1)))
        kept, quarantined = outcome(tenant)
    assert [raw for _, raw in quarantined] == [QUARANTINED["NaN"][0]]
    assert decode_record(kept[-1])["user"] == "caf\ufffd" and kept[:-1] == GOOD[:4]
    assert "not UTF-8" in caplog.text


def test_an_error_message_that_is_not_utf8_is_still_reported() -> None:
    from netskope_provider.exceptions import NetskopeResponseError

    with ScriptedTenant() as tenant:
        tenant.queue(Reply(body=b'{"ok":0,"message":"requ\xeate refus\xe9e","result":[]}'))
        with pytest.raises(NetskopeResponseError, match="ok=0") as caught:
            outcome(tenant)
    assert "requ\ufffdte refus\ufffde" in str(caught.value)
