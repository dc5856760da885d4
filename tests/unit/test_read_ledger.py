"""The incident read ledger: the delivery moves the cursor only from where its pull started."""

from __future__ import annotations

from pathlib import Path

from netskope_provider import read_ledger
from netskope_provider.api.strategies import EventTimeCursor

H = 1_790_006_400


def test_of_two_pulls_from_one_cursor_the_first_delivered_moves_it_and_the_other_leaves_it(tmp_path: Path) -> None:
    ledger = read_ledger.store(f"file://{tmp_path}", None, "netskope_incident")
    assert read_ledger.load(ledger) == read_ledger.Ledger()
    first = EventTimeCursor(H, 10, '"j"', {H: 10})
    assert read_ledger.record(ledger, read_ledger.marks(None, first, H))
    assert read_ledger.load(ledger) == read_ledger.Ledger(first, frozenset({H}))

    scheduled = EventTimeCursor(H, 25, '"y"', {H: 20, H + 3600: 5})
    manual = EventTimeCursor(H, 30, '"z"', {H: 20, H + 3600: 10})
    assert read_ledger.record(ledger, read_ledger.marks(first, scheduled, H + 3600))
    assert not read_ledger.record(ledger, read_ledger.marks(first, manual, H + 3600)), "started from a moved cursor"
    assert read_ledger.load(ledger) == read_ledger.Ledger(scheduled, frozenset({H, H + 3600}))


def test_windows_before_the_anchor_are_forgotten(tmp_path: Path) -> None:
    ledger = read_ledger.store(f"file://{tmp_path}", None, "netskope_incident")
    start = EventTimeCursor(H)
    assert read_ledger.record(ledger, read_ledger.marks(None, start, H))
    later = start.moved_to(H + 7200)
    assert read_ledger.record(ledger, read_ledger.marks(start, later, H + 7200))
    assert read_ledger.load(ledger).delivered == frozenset({H + 7200})
