"""Smoke test: the memory benchmark runs one tiny window through all three stages (no timing asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "bench_memory.py"


@pytest.mark.parametrize("served", [[], ["--recorded"]], ids=["simulator", "recorded"])
def test_bench_memory_runs_a_tiny_window_end_to_end(served: list[str]) -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--records", "30", "--log-type", "audit", *served],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    # The script exits non-zero when the window was not fetched whole or the sink lost events.
    line = re.search(r"window\s+30 records: peak\s+(\d+) MB .*fetch .*transform .*deliver", run.stdout)
    assert line, run.stdout
    assert int(line.group(1)) > 0
