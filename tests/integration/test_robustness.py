"""Bad input the other suites do not cover, and a check that docs/robustness.md links only real tests.

docs/robustness.md is the catalogue: each case there names the behaviour and the test proving it.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from conftest import REPO, all_stream_events
from pipeline_tasks import run_task
from scripted_tenant import Reply, ScriptedTenant, decoded, ok

from netskope_provider import delivery, staging
from netskope_provider.api.client import NetskopeClient
from netskope_provider.compat import AirflowFailException
from netskope_provider.ocsf import map_record
from netskope_provider.simulator import SimulatorConfig, SimulatorServer
from netskope_provider.simulator.records import generate
from netskope_provider.windows import Window

HOUR = 3600
NOW_HOUR = int(datetime.now(UTC).timestamp()) // HOUR * HOUR
WINDOW = (NOW_HOUR - 3 * HOUR, NOW_HOUR - 2 * HOUR)
CATALOGUE = REPO / "docs" / "robustness.md"
LINK = re.compile(
    r"\[(tests/(?:unit|integration)/test_\w+\.py)::(test_\w+)\]\(\.\./tests/(?:unit|integration)/test_\w+\.py\)"
)


def client_for(host: str) -> NetskopeClient:
    return NetskopeClient(
        host,
        lambda refresh: "robustness-token",
        scheme="http",
        max_retries=1,
        backoff_base_seconds=0.01,
        rate_limit_per_second=100,
    )


# --- the API sends odd pages ---------------------------------------------------------------------


def test_a_page_with_invalid_utf8_keeps_its_records_with_replacement_characters(caplog) -> None:
    """Retrying cannot fix such a page and refusing it would block the window: the records are kept."""
    page = b'{"ok":1,"result":[{"_id":"a1","user":"caf\xe9 \xff","timestamp":1790000001},{"_id":"a2"}]}'
    with ScriptedTenant() as tenant:
        tenant.queue(Reply(body=page))
        records = decoded(client_for(tenant.host).iter_window_pages("audit", 1790000000, 1790003600))
    assert [r["_id"] for r in records] == ["a1", "a2"]
    assert records[0]["user"] == "caf\ufffd \ufffd"
    assert "not UTF-8" in caplog.text
    assert len(tenant.pages_seen) == 1, "not retried: the tenant would send the same bytes again"


def test_a_truncated_body_is_still_retried_not_repaired() -> None:
    whole = orjson.dumps({"ok": 1, "result": [{"_id": "b1", "user": "\u00e9l\u00e8ve"}]})
    with ScriptedTenant() as tenant:
        tenant.queue(Reply(body=whole, truncate_to=whole.index("\u00e8".encode()) + 1), Reply(body=whole))
        records = decoded(client_for(tenant.host).iter_window_pages("audit", 1790000000, 1790003600))
    assert records == [{"_id": "b1", "user": "\u00e9l\u00e8ve"}]
    assert len(tenant.pages_seen) == 2


def test_the_same_record_twice_on_a_data_endpoint_is_passed_on_twice() -> None:
    """data/* pages are exact offset slices: two equal rows are two rows (CloudWatch keeps both, see the multiset test)."""
    row = {"_id": "dup-1", "timestamp": 1790000001, "_insertion_epoch_timestamp": 1790000001}
    with ScriptedTenant() as tenant:
        tenant.queue(ok([row, row]))
        records = decoded(client_for(tenant.host).iter_window_pages("audit", 1790000000, 1790003600))
    assert records == [row, row]


def test_a_window_of_several_days_is_pulled_exactly_page_by_page() -> None:
    start, end = 1_790_000_000, 1_790_000_000 + 3 * 86400
    config_ = SimulatorConfig(seed=5, start=start, end=end, now=end + HOUR, volume={"network": 25_000})
    with SimulatorServer(config_) as sim:
        client = NetskopeClient(sim.host, lambda refresh: sim.token, scheme="http", rate_limit_per_second=100)
        pages = list(client.iter_window_pages("network", start, end))
        ids = [r["_id"] for r in decoded(pages)]
        assert len(pages) >= 3 and max(len(page.records) for page in pages) <= 10_000
        assert len(ids) == len(set(ids)) == len(sim.ground_truth("network", start, end)) == 25_000


# --- records the mapper and CloudWatch cannot take as they are -----------------------------------


def test_an_iso_timestamp_is_delivered_raw_with_the_reason() -> None:
    login = generate("application", 1, 1790000000, 1790000600, seed=3)[0] | {"activity": "Login Successful"}
    mapped = map_record({**login, "timestamp": "2026-11-27T00:00:00Z"}, "application")
    assert mapped.kind == "raw" and "timestamp" in mapped.reason


@pytest.fixture
def base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    location = f"file://{tmp_path / 'staging'}"
    monkeypatch.setenv("NETSKOPE_STAGING_BASE", location)
    return location


def staged_fetch(base: str, log_type: str, lines: list[bytes]) -> dict:
    folder = staging.run_folder(base, f"netskope_{log_type}", "robustness", 1)
    staged = staging.write_lines(folder / "raw.ndjson.gz", lines)
    return {
        "log_type": log_type,
        "window": Window(*WINDOW).as_dict(),
        "staging_base": base,
        "staging_conn_id": "",
        "fetched": staged.as_dict(),
    }


def test_an_oversized_record_is_quarantined_with_its_reason_and_the_rest_delivered(moto_server, base: str) -> None:
    moto_server.reset()
    records = generate("audit", 20, *WINDOW, seed=8)
    records[7]["supporting_data"] = {"blob": "x" * 1_100_000}  # over CloudWatch's 1 MB event limit
    window = {"log_type": "audit", "start": WINDOW[0], "end": WINDOW[1], "run_id": "robustness"}
    mapped = run_task("to_ocsf", **window, manifest=staged_fetch(base, "audit", [orjson.dumps(r) for r in records]))
    summary = run_task("deliver", **window, manifest=mapped)
    assert summary["delivered"] == 19 and summary["refused"] == 1
    assert summary["delivery"]["rejected_reasons"] == {"oversize": 1}
    kept = [orjson.loads(line) for line in staging.read_lines(staging.staging_path(summary["refused_location"]))]
    assert (
        len(kept) == 1 and "event limit" in kept[0]["reason"] and "x" * 1000 in orjson.dumps(kept[0]["record"]).decode()
    )
    stream = list(delivery.read_stream(moto_server.client("logs"), summary["log_group"], summary["log_stream"]))
    assert len(stream) == 19


def test_a_staged_line_with_invalid_utf8_is_rejected_with_its_reason(base: str) -> None:
    lines = [orjson.dumps(r) for r in generate("network", 5, *WINDOW, seed=2)] + [b'{"_id": "bad", "user": "\xff"}']
    window = {"log_type": "network", "start": WINDOW[0], "end": WINDOW[1], "run_id": "robustness"}
    mapped = run_task("to_ocsf", **window, manifest=staged_fetch(base, "network", lines))
    assert mapped["fetched"] == 6 and mapped["rejected"] == 1 and mapped["ocsf_total"] + mapped["raw"] == 5
    assert [reason for reason in mapped["rejected_reasons"] if "not valid JSON" in reason]


# --- settings ------------------------------------------------------------------------------------


def assert_delivery_refused_before_any_put(moto_server, base: str, log_group: str, match: str, **arguments) -> None:
    """The deliver task of a mapped window of 3 audit events, given ``arguments``, fails at once (no retry)
    with a message matching ``match``, and ``log_group`` holds no event."""
    from pipeline_tasks import task_context

    from netskope_provider.operators.cloudwatch import OcsfToCloudWatchLogsOperator

    window = {"log_type": "audit", "start": WINDOW[0], "end": WINDOW[1], "run_id": "robustness"}
    lines = [orjson.dumps(r) for r in generate("audit", 3, *WINDOW, seed=1)]
    mapped = run_task("to_ocsf", **window, manifest=staged_fetch(base, "audit", lines))
    deliver = OcsfToCloudWatchLogsOperator(
        task_id="deliver", transform_manifest=mapped, log_group=log_group, **arguments
    )
    with pytest.raises(AirflowFailException, match=match):
        deliver.execute(task_context("audit", *WINDOW, run_id="robustness", try_number=1))
    assert all_stream_events(moto_server.client("logs"), "audit", log_group) == Counter()


def test_an_unknown_timestamp_policy_names_the_choices(moto_server, base: str) -> None:
    assert_delivery_refused_before_any_put(
        moto_server,
        base,
        "/robustness/policy",
        "timestamp_policy='sometimes' is not a timestamp policy: use one of ingest_time, reject, fail; "
        "fix the operator's argument",
        timestamp_policy="sometimes",
    )


def test_a_staging_retention_that_is_not_a_number_fails_delivery_before_any_put(
    moto_server, base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read before the first put, not after the last (set here after the fetch, which checks it too)."""
    monkeypatch.setenv("NETSKOPE_STAGING_RETENTION_HOURS", "two days")
    assert_delivery_refused_before_any_put(
        moto_server,
        base,
        "/robustness/retention",
        "netskope_staging_retention_hours='two days' is not a whole number; fix Airflow Variable "
        "netskope_staging_retention_hours or environment variable NETSKOPE_STAGING_RETENTION_HOURS",
    )


# --- the catalogue -------------------------------------------------------------------------------


def catalogue_links() -> list[tuple[str, str]]:
    return [(match[1], match[2]) for match in LINK.finditer(CATALOGUE.read_text())]


def test_the_catalogue_has_at_least_30_cases_each_linked_to_a_test() -> None:
    rows = [line for line in CATALOGUE.read_text().splitlines() if re.match(r"\|\s*\d+\s*\|", line)]
    assert len(rows) >= 30
    numbers = [int(row.split("|")[1]) for row in rows]
    assert numbers == list(range(1, len(rows) + 1)), "rows are numbered 1, 2, 3, ... once each (other docs cite them)"
    unlinked = [row for row in rows if not LINK.search(row)]
    assert unlinked == []


def test_every_test_the_catalogue_links_exists() -> None:
    links = catalogue_links()
    assert links
    defined: dict[str, set[str]] = {}
    missing = []
    for path, name in links:
        if path not in defined:
            tree = ast.parse((REPO / path).read_text())
            defined[path] = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
        if name not in defined[path]:
            missing.append(f"{path}::{name}")
    assert missing == []
