"""Operators and staging, run outside a DAG: real staged files, real OCSF mapping, real moto_server."""

from __future__ import annotations

import gzip
import os
import re
import stat
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import deployment
import orjson
import pytest

from netskope_provider import delivery, staging
from netskope_provider.compat import AirflowFailException
from netskope_provider.exceptions import BalanceError
from netskope_provider.operators.cloudwatch import OcsfToCloudWatchLogsOperator
from netskope_provider.operators.fetch import NetskopeFetchOperator
from netskope_provider.operators.transform import NetskopeToOcsfOperator
from netskope_provider.pipeline import check_balance
from netskope_provider.simulator import SimulatorConfig, SimulatorServer
from netskope_provider.simulator.records import generate
from netskope_provider.windows import Window

START = int(datetime.now(UTC).replace(minute=0, second=0, microsecond=0).timestamp()) - 3 * 3600
END = START + 3600
NOT_A_RECORD = b"[1, 2, 3]"
NOT_JSON = b"{not json"


def task_context(
    dag_id: str = "netskope_audit", run_id: str = "manual__2026-11-02T05:00:00+00:00", try_number: int = 1
):
    return {"ti": SimpleNamespace(dag_id=dag_id, run_id=run_id, try_number=try_number)}


def mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def base(tmp_path: Path) -> str:
    return f"file://{tmp_path / 'staging'}"


def stage_raw(base: str, log_type: str, lines: list[bytes], context=None) -> dict:
    """What the fetch task hands over: a staged raw file and its manifest."""
    ti = (context or task_context(f"netskope_{log_type}"))["ti"]
    folder = staging.TaskStaging.of_task(ti, base, None).folder()
    staged = staging.write_lines(folder / "raw.ndjson.gz", lines)
    return {
        "log_type": log_type,
        "window": Window(START, END).as_dict(),
        "staging_base": base,
        "staging_conn_id": "",
        "fetched": staged.as_dict(),
    }


# --- staging -------------------------------------------------------------------------------------


def test_staged_files_are_private_and_round_trip(base: str) -> None:
    lines = [b'{"id":%d,"big":18446744073709551615}' % i for i in range(25_000)]
    folder = staging.run_folder(base, "netskope_page", "scheduled__2026-11-02T04:00:00+00:00", 2)
    staged = staging.write_lines(folder / "raw.ndjson.gz", lines)
    assert folder.path.endswith(f"/netskope_page/{staging.safe_name('scheduled__2026-11-02T04:00:00+00:00')}/2")
    assert "/scheduled__2026-11-02T04_00_00_00_00-" in folder.path, "readable, made unique by a hash"
    assert mode(folder.path) == 0o700 and mode(folder.parent.path) == 0o700
    assert mode((folder / "raw.ndjson.gz").path) == 0o600
    assert staged.records == 25_000 and staged.bytes == os.path.getsize((folder / "raw.ndjson.gz").path)
    assert list(staging.read_lines(folder / "raw.ndjson.gz")) == lines
    with gzip.open((folder / "raw.ndjson.gz").path) as plain:
        assert plain.read().count(b"\n") == 25_000


def staged_events(base: str, name: str) -> tuple[object, list[bytes]]:
    """A staged file of ~8 MB of lines: several of the reading thread's 1 MB blocks."""
    lines = [b'{"id":%d,"pad":"%s"}' % (i, b"x" * 400) for i in range(20_000)]
    path = staging.run_folder(base, "netskope_page", f"manual__{name}", 1) / "events.ndjson.gz"
    staging.write_lines(path, lines)
    return path, lines


@pytest.mark.parametrize("damage", ["cut in half", "one byte changed"])  # EOFError, BadGzipFile (CRC)
def test_a_damaged_staged_file_fails_the_read_instead_of_ending_it_short(base: str, damage: str) -> None:
    """The file is inflated by a thread of its own: its error must reach the reader, never a quiet end."""
    path, lines = staged_events(base, damage.replace(" ", "_"))
    data = bytearray(Path(path.path).read_bytes())
    if damage == "cut in half":
        del data[len(data) // 2 :]
    else:
        data[len(data) // 2] ^= 0xFF
    Path(path.path).write_bytes(data)
    read: list[bytes] = []
    with pytest.raises((EOFError, gzip.BadGzipFile), match=r"ended before the end-of-stream|CRC check failed"):
        read.extend(staging.read_lines(path))
    assert len(read) < len(lines)


def test_a_read_stopped_midway_stops_its_inflating_thread(base: str) -> None:
    path, _ = staged_events(base, "stopped")
    before = threading.active_count()
    reader = staging.read_lines(path)
    next(reader)
    assert threading.active_count() == before + 1, "the file is inflated by a thread of its own"
    reader.close()
    assert threading.active_count() == before


def test_sweep_keeps_undelivered_runs_longer_than_delivered_ones(base: str) -> None:
    for run_id in ("delivered_old", "failed_old", "delivered_new"):
        staging.write_lines(staging.run_folder(base, "netskope_page", run_id, 1) / "raw.ndjson.gz", [b"{}"])
    for run_id in ("delivered_old", "delivered_new"):
        staging.mark_delivered(base, "netskope_page", run_id)
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).timestamp()
    for run_id in ("delivered_old", "failed_old"):
        folder = staging.staging_path(base) / "netskope_page" / run_id
        for path in Path(folder.path).rglob("*"):
            os.utime(path, (two_hours_ago, two_hours_ago))
    removed = staging.sweep_expired(base, "netskope_page", timedelta(hours=1))
    assert removed == ["delivered_old"]
    remaining = {p.name for p in Path((staging.staging_path(base) / "netskope_page").path).iterdir()}
    assert remaining == {"failed_old", "delivered_new"}


# --- fetch ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulator():
    config = SimulatorConfig(
        seed=21,
        start=START,
        end=END,
        volume={"application": 80, "page": 10},
        scopes={"application-only-token": {"application"}},
        token="application-only-token",
    )
    with SimulatorServer(config) as sim:
        yield sim


@pytest.fixture
def netskope_connection(simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_NETSKOPE_DEFAULT", deployment.netskope_connection(simulator))


def interval_context(**ti):
    return {
        **task_context(**ti),
        "data_interval_start": datetime.fromtimestamp(START, UTC),
        "data_interval_end": datetime.fromtimestamp(END, UTC),
    }


def test_fetch_stages_the_window_exactly_and_pushes_only_a_manifest(simulator, netskope_connection, base: str) -> None:
    fetch = NetskopeFetchOperator(task_id="fetch", log_type="application", staging_base=base)
    manifest = fetch.execute(interval_context(dag_id="netskope_application"))
    truth = simulator.ground_truth("application", START, END)
    assert manifest["window"]["start"] == START and manifest["window"]["end"] == END
    assert manifest["fetched"]["records"] == len(truth) == 80
    assert len(orjson.dumps(manifest)) < 2048, "XCom carries a manifest, never the records"
    staged = [orjson.loads(line) for line in staging.read_lines(staging.staging_path(manifest["fetched"]["location"]))]
    assert sorted(staged, key=lambda r: r["_id"]) == sorted(truth, key=lambda r: r["_id"])
    big_ids = [v for r in staged for v in r.values() if isinstance(v, int) and v > 2**53]
    assert big_ids, "64-bit ids survive staging exactly"
    assert mode(staging.staging_path(manifest["fetched"]["location"]).path) == 0o600
    mapped = manifest["mapped"]  # mapped while fetched: the transform task hands it on without re-reading
    assert mapped["fetched"] == 80 and mapped["ocsf_total"] + mapped["raw"] == mapped["events"]["records"] == 80
    staging.staging_path(manifest["fetched"]["location"]).unlink()
    transform = NetskopeToOcsfOperator(task_id="to_ocsf", fetch_manifest=manifest)
    assert transform.execute(interval_context(dag_id="netskope_application")) == mapped


def test_fetch_without_the_rbac_permission_fails_at_once_without_the_token(
    simulator, netskope_connection, base: str
) -> None:
    fetch = NetskopeFetchOperator(task_id="fetch", log_type="page", staging_base=base)
    with pytest.raises(AirflowFailException) as error:
        fetch.execute(interval_context(dag_id="netskope_page"))
    assert "Page Events" in str(error.value)
    assert simulator.token not in str(error.value)


def test_fetch_of_an_unknown_log_type_fails_with_the_valid_names(base: str) -> None:
    with pytest.raises(
        AirflowFailException,
        match=r"expected one of: application, page, network, infrastructure, audit, incident, endpoint, alert$",
    ):
        NetskopeFetchOperator(task_id="fetch", log_type="pages", staging_base=base).execute(interval_context())


# --- transform -----------------------------------------------------------------------------------


@pytest.mark.parametrize("log_type", ["audit", "application", "network", "alert", "incident", "endpoint"])
def test_transform_accounts_for_every_record(base: str, log_type: str) -> None:
    records = generate(log_type, 300, START, END, seed=7)
    raw_lines = [orjson.dumps(record) for record in records] + [NOT_A_RECORD, NOT_JSON]
    context = task_context(f"netskope_{log_type}")
    manifest = NetskopeToOcsfOperator(task_id="to_ocsf", fetch_manifest=stage_raw(base, log_type, raw_lines)).execute(
        context
    )

    assert manifest["fetched"] == 302 and manifest["rejected"] == 2
    assert manifest["ocsf_total"] + manifest["raw"] == 300
    assert manifest["ocsf_total"] > 0
    events = [
        staging.decode_event(line) for line in staging.read_lines(staging.staging_path(manifest["events"]["location"]))
    ]
    assert len(events) == manifest["events"]["records"] == 300
    classes = Counter()
    raw_delivered = []
    for home, timestamp_ms, message in events:
        if log_type in ("incident", "endpoint"):  # no insertion time: homed by the event time (docs/delivery.md)
            assert home == timestamp_ms // 1000 // 3600 * 3600, "an event belongs in the stream of its hour"
        else:
            assert home == START, "a window's events belong in its stream"
        document = orjson.loads(message)
        if "class_uid" in document and "metadata" in document:
            classes[str(document["class_uid"])] += 1
            assert timestamp_ms == document["time"]
        else:
            raw_delivered.append(message)
            assert timestamp_ms == document["timestamp"] * 1000
    assert dict(classes) == manifest["ocsf"]
    assert len(raw_delivered) == manifest["raw"]
    assert set(raw_delivered) <= set(raw_lines), "raw records are delivered byte for byte as fetched"

    quarantined = [
        orjson.loads(line) for line in staging.read_lines(staging.staging_path(manifest["rejected_location"]))
    ]
    assert [q["record"] for q in quarantined] == [[1, 2, 3], NOT_JSON.decode()]
    assert all(q["reason"] for q in quarantined)
    assert mode(staging.staging_path(manifest["rejected_location"]).path) == 0o600


def test_transform_fails_when_the_staged_file_lost_records(base: str) -> None:
    handed_over = stage_raw(base, "audit", [orjson.dumps(r) for r in generate("audit", 10, START, END, seed=1)])
    handed_over["fetched"]["records"] = 11  # the fetch task staged one more than the file now holds
    with pytest.raises(
        AirflowFailException,
        match=r"do not balance .*: fetched 11 != OCSF 9 \+ raw 1 \+ rejected 0, or 10 events staged \(10 placed in streams\)",
    ):
        NetskopeToOcsfOperator(task_id="to_ocsf", fetch_manifest=handed_over).execute(task_context())


def test_balance_check_names_the_numbers() -> None:
    manifest = {
        "log_type": "page",
        "window": Window(START, END).as_dict(),
        "fetched": 10,
        "ocsf_total": 5,
        "raw": 3,
        "rejected": 1,
        "events": {"records": 8},
        "homes": [{"start": START, "end": END, "stream": "s", "events": 8}],
    }
    with pytest.raises(BalanceError, match=r"fetched 10 != OCSF 5 \+ raw 3 \+ rejected 1"):
        check_balance(manifest)
    check_balance({**manifest, "rejected": 2})
    with pytest.raises(BalanceError, match="7 placed in streams"):
        check_balance({**manifest, "rejected": 2, "homes": [{"start": START, "end": END, "stream": "s", "events": 7}]})


# --- delivery ------------------------------------------------------------------------------------


@pytest.fixture
def mapped_audit(base: str) -> dict:
    lines = [orjson.dumps(r) for r in generate("audit", 200, START, END, seed=3)] + [NOT_A_RECORD]
    return NetskopeToOcsfOperator(task_id="to_ocsf", fetch_manifest=stage_raw(base, "audit", lines)).execute(
        task_context()
    )


def stream_messages(moto_server, summary: dict) -> list[str]:
    return [m for _, m in delivery.read_stream(moto_server.client("logs"), summary["log_group"], summary["log_stream"])]


def test_delivery_puts_every_event_once_and_reruns_add_nothing(moto_server, mapped_audit: dict, base: str) -> None:
    moto_server.reset()
    deliver = OcsfToCloudWatchLogsOperator(
        task_id="deliver", transform_manifest=mapped_audit, staging_retention_hours=1
    )
    summary = deliver.execute(task_context())
    assert summary["log_group"] == "/netskope/ocsf/audit"
    assert summary["log_stream"] == delivery.stream_name("audit", START, END)
    assert summary["delivered"] == 200 == summary["ocsf_total"] + summary["raw"]
    assert summary["fetched"] == 201 and summary["rejected"] == 1
    staged = {
        staging.decode_event(line)[2].decode()
        for line in staging.read_lines(staging.staging_path(mapped_audit["events"]["location"]))
    }
    assert sorted(stream_messages(moto_server, summary)) == sorted(staged)

    again = deliver.execute(task_context(try_number=2))
    assert again["delivery"]["already_present"] == 200 and again["delivery"]["delivered"] == 0
    assert len(stream_messages(moto_server, summary)) == 200


def test_delivery_killed_midway_then_retried_leaves_one_copy(moto_server, mapped_audit: dict) -> None:
    moto_server.reset()
    events = [
        staging.decode_event(line)[1:]
        for line in staging.read_lines(staging.staging_path(mapped_audit["events"]["location"]))
    ]
    logs = moto_server.client("logs")
    group, stream = "/netskope/ocsf/audit", delivery.stream_name("audit", START, END)
    delivery.ensure_log_group(logs, group)
    delivery.deliver(events[:77], logs, group, stream)  # what the crashed try got out

    summary = OcsfToCloudWatchLogsOperator(task_id="deliver", transform_manifest=mapped_audit).execute(
        task_context(try_number=2)
    )
    assert summary["delivery"]["already_present"] == 77 and summary["delivery"]["delivered"] == 123
    assert Counter(stream_messages(moto_server, summary)) == Counter(m.decode() for _, m in events)


def test_successful_delivery_removes_the_runs_staged_files(moto_server, mapped_audit: dict, base: str) -> None:
    moto_server.reset()
    run_folder = Path(
        (staging.staging_path(base) / "netskope_audit" / staging.safe_name(task_context()["ti"].run_id)).path
    )
    assert run_folder.exists()
    OcsfToCloudWatchLogsOperator(task_id="deliver", transform_manifest=mapped_audit).execute(task_context())
    assert not run_folder.exists()
    assert Path(staging.staging_path(mapped_audit["rejected_location"]).path).exists(), "rejected records are kept"


def test_missing_staged_file_says_what_to_do(moto_server, mapped_audit: dict) -> None:
    """A deliver task cleared alone after its run's staging was removed, or run on another worker's disk."""
    staging.staging_path(mapped_audit["events"]["location"]).unlink()
    with pytest.raises(
        FileNotFoundError,
        match=r"Clear the whole DAG run so the fetch task stages it again, "
        r"and use an s3:// staging_base when tasks run on several workers",
    ):
        OcsfToCloudWatchLogsOperator(task_id="deliver", transform_manifest=mapped_audit).execute(task_context())


def test_events_cloudwatch_cannot_take_are_quarantined_under_the_reject_policy(moto_server, base: str) -> None:
    moto_server.reset()
    old_start = START - 20 * 86400
    lines = [orjson.dumps(r) for r in generate("audit", 30, old_start, old_start + 3600, seed=4)]
    handed_over = {**stage_raw(base, "audit", lines), "window": Window(old_start, old_start + 3600).as_dict()}
    mapped = NetskopeToOcsfOperator(task_id="to_ocsf", fetch_manifest=handed_over).execute(task_context())
    summary = OcsfToCloudWatchLogsOperator(
        task_id="deliver", transform_manifest=mapped, timestamp_policy="reject"
    ).execute(task_context())
    assert summary["refused"] == 30 and summary["delivered"] == 0
    kept = [orjson.loads(line) for line in staging.read_lines(staging.staging_path(summary["refused_location"]))]
    assert len(kept) == 30 and all("outside what CloudWatch Logs accepts" in k["reason"] for k in kept)


def test_delivery_refuses_unbalanced_counts(moto_server, mapped_audit: dict) -> None:
    ocsf, raw = mapped_audit["ocsf_total"], mapped_audit["raw"]
    assert (mapped_audit["fetched"], ocsf + raw, mapped_audit["rejected"]) == (201, 200, 1)
    numbers = f"fetched 201 != OCSF {ocsf} + raw {raw + 1} + rejected 1, or 200 events staged (200 placed in streams)"
    with pytest.raises(AirflowFailException, match=re.escape(numbers)):
        OcsfToCloudWatchLogsOperator(task_id="deliver", transform_manifest={**mapped_audit, "raw": raw + 1}).execute(
            task_context()
        )
