"""The real ``netskope-ocsf`` console script, run as a subprocess."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from netskope_provider.log_types import LOG_TYPES
from netskope_provider.simulator.records import generate

CLI = Path(sys.executable).with_name("netskope-ocsf")
LOGIN = {"_id": "f00d", "timestamp": 1732700000, "activity": "Login Successful", "app": "Box", "user": "u@example.com"}
UNROUTED_LINE = b'{"activity": "Browse",  "alert": "no", "_id": 18446744073709551615}'


def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(CLI), *args], input=stdin, capture_output=True, timeout=120, check=False)


def _ndjson(records: list[Any]) -> bytes:
    return b"".join(orjson.dumps(record) + b"\n" for record in records)


def test_the_console_script_is_installed() -> None:
    assert CLI.exists(), f"{CLI} missing: reinstall the project (uv pip install -e '.[test]')"


def test_map_writes_one_line_per_record_and_a_summary(tmp_path: Path) -> None:
    source = tmp_path / "in.ndjson"
    source.write_bytes(orjson.dumps(LOGIN) + b"\n\n" + UNROUTED_LINE + b"\n")
    done = run("map", "--log-type", "application", str(source))
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert orjson.loads(first)["class_uid"] == 3002
    assert second == UNROUTED_LINE  # raw: unchanged, 64-bit id included
    summary = done.stderr.decode()
    assert "2 application records: 1 OCSF (3002 Authentication 1), 1 raw, 0 rejected" in summary


def test_map_reads_a_whole_api_response_from_stdin() -> None:
    response = orjson.dumps({"ok": 1, "result": [LOGIN, {"activity": "Browse"}, LOGIN], "wait_time": 0})
    done = run("map", "--log-type", "application", "-", "--json", stdin=response)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 3
    summary = orjson.loads(done.stderr)
    assert (summary["total"], summary["by_class"], summary["raw"]) == (3, {"3002": 2}, 1)


def test_map_reads_a_pretty_printed_api_response(tmp_path: Path) -> None:
    source = tmp_path / "response.json"
    source.write_bytes(orjson.dumps({"ok": 1, "result": [LOGIN, {"activity": "Browse"}]}, option=orjson.OPT_INDENT_2))
    done = run("map", "--log-type", "application", str(source))
    assert done.returncode == 0, done.stderr
    assert [orjson.loads(line).get("class_uid") for line in done.stdout.splitlines()] == [3002, None]


def test_map_reads_gzip_and_reports_rejected_inputs(tmp_path: Path) -> None:
    source = tmp_path / "in.ndjson.gz"
    source.write_bytes(gzip.compress(_ndjson([LOGIN]) + b"not json\n[1]\n" + _ndjson([{**LOGIN, "timestamp": None}])))
    rejected = tmp_path / "rejected.ndjson"
    done = run("map", "--log-type", "application", str(source), "--rejected", str(rejected))
    assert done.returncode == 1  # some inputs were not records
    assert len(done.stdout.splitlines()) == 2  # the OCSF event and the raw record without a time
    stderr = done.stderr.decode()
    assert "rejected line 2: not valid JSON" in stderr and "rejected line 3: not a JSON object" in stderr
    assert "raw x1: 3002: record has no usable 'timestamp'" in stderr
    saved = [orjson.loads(line) for line in rejected.read_bytes().splitlines()]
    assert [(s["line"], s["input"]) for s in saved] == [(2, "not json"), (3, "[1]")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("map", "--log-type", "webtx", "-"), "invalid choice: 'webtx'"),
        (("map", "-"), "the following arguments are required: --log-type"),
        (
            ("map", "--log-type", "audit", "/nonexistent/records.ndjson"),
            "cannot read or write /nonexistent/records.ndjson",
        ),
        (("validate",), "the following arguments are required: file"),
    ],
)
def test_usage_and_io_errors_exit_2_with_a_clear_message(args: tuple[str, ...], message: str) -> None:
    done = run(*args)
    assert done.returncode == 2
    assert message in done.stderr.decode()


def test_a_truncated_gzip_is_a_clear_error(tmp_path: Path) -> None:
    source = tmp_path / "cut.gz"
    source.write_bytes(gzip.compress(_ndjson([LOGIN] * 50))[:40])
    done = run("map", "--log-type", "application", str(source))
    assert done.returncode == 2
    assert "not a readable gzip file" in done.stderr.decode()


def test_validate_reports_invalid_events(tmp_path: Path) -> None:
    good = run("map", "--log-type", "application", "-", stdin=_ndjson([LOGIN])).stdout
    broken = orjson.loads(good)
    broken["type_uid"] = 300299
    del broken["user"]
    events = tmp_path / "events.ndjson"
    events.write_bytes(good + orjson.dumps(broken) + b"\n")
    done = run("validate", str(events))
    assert done.returncode == 1
    stderr = done.stderr.decode()
    assert "2 events (3002 Authentication 2): 1 invalid" in stderr
    assert "line 2:" in stderr and "type_uid" in stderr


def test_every_log_type_maps_and_validates_end_to_end(tmp_path: Path) -> None:
    """Simulator records of all eight log types → map → validate (raw lines skipped) is clean."""
    mapped_total = 0
    for log_type in sorted(LOG_TYPES):
        records = generate(log_type, 120, 1732700000, 1732786400, seed=5)
        done = run("map", "--log-type", log_type, "--json", "-", stdin=_ndjson(records))
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert len(lines) == len(records)
        summary = orjson.loads(done.stderr)
        assert summary["raw_reasons"] == {}, summary["raw_reasons"]
        mapped_total += summary["ocsf"]
        with (tmp_path / "all.ndjson").open("ab") as sink:
            sink.write(done.stdout)
    assert mapped_total > 600
    done = run("validate", str(tmp_path / "all.ndjson"), "--ocsf-only")
    assert done.returncode == 0, done.stderr.decode()
    assert f"{mapped_total} events" in done.stderr.decode()


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path) -> None:
    source = tmp_path / "many.ndjson"
    source.write_bytes(_ndjson([{"activity": "Browse", "padding": "x" * 200}] * 3000))  # > a pipe buffer
    with subprocess.Popen(
        [str(CLI), "map", "--log-type", "application", str(source)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert orjson.loads(proc.stdout.readline())["activity"] == "Browse"
        proc.stdout.close()  # like `| head -1`
        stderr = proc.stderr.read()
        assert proc.wait(timeout=60) == 1
    assert b"Traceback" not in stderr
