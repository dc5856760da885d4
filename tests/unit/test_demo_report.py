"""``make demo``'s closing table: one line per log type, then a total line under them."""

from __future__ import annotations

from netskope_provider.demo import Outcome, _print_report

HOUR = 3600


def outcome(log_type: str, fetched: int, raw: int, *, missing: int = 0) -> Outcome:
    summary = {
        "fetched": fetched,
        "ocsf_total": fetched - raw,
        "raw": raw,
        "rejected": 0,
        "delivered": fetched - missing,
        "ocsf": {"4001": fetched - raw},
    }
    return Outcome(log_type, "success", summary, expected=fetched, missing=missing)


def test_the_report_ends_its_table_with_totals_and_shows_the_window_in_iso_8601(capsys) -> None:
    start = 1_793_592_000  # 2026-11-02T04:00:00Z
    _print_report([outcome("page", 300, 0), outcome("network", 300, 49, missing=2)], start, start + HOUR)
    lines = capsys.readouterr().out.splitlines()
    assert any("window 2026-11-02T04:00:00Z/2026-11-02T05:00:00Z" in line for line in lines)
    rows = [line.split() for line in lines if line.split()[:1] in (["page"], ["network"], ["total"])]
    assert [row[0] for row in rows] == ["page", "network", "total"], "the total comes last, under the log types"
    assert rows[2][:7] == ["total", "600", "551", "49", "0", "598", "598"]
    assert rows[2][7:] == ["1/2", "ok"]
    assert rows[1][7] == "-2/+0", "the short log type is marked"
