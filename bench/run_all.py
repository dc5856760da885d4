"""Run every benchmark under bench/ in turn (``make bench``); each prints its own figures.

Figures only, no pass/fail. Issue #20's figures come from one run: (a) mapping vs a bare orjson
round trip (bench_mapping), (b) fetch against the simulator at 4 requests/s per log type as a
share of the 40,000 records/s ceiling (bench_client), (c) delivery to moto_server and to a no-op
sink (bench_delivery), (d) one application window end to end per worker and (e) peak RSS at
100,000 and 1,000,000 records of every log type (bench_memory, ~15 minutes of the run), and (d) again with the window recorded from the simulator
before the stages run, so the worker alone is on the clock (``--recorded``). bench_simulator profiles the
tenant itself; (f) bench_requests gives API requests per delivered record of each log type on an
hourly schedule. At the end the lines that state a target are printed again, with the machine's load
average and speed (a bare orjson round trip's rate) before and after: throughput moves with both,
and this virtual machine's speed alone has moved ~1.8x between days (compare runs of a similar speed).
Pass ``--quick`` for smaller inputs (a smoke run of the scripts).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent

#: (script, full arguments, quick arguments), in the order they run
SCRIPTS: list[tuple[str, list[str], list[str]]] = [
    ("bench_mapping.py", [], ["--records", "8000", "--repeat", "1"]),
    ("bench_client.py", [], ["--records", "20000"]),
    ("bench_delivery.py", [], ["--events", "50000", "--moto-events", "5000"]),
    ("bench_memory.py", ["--log-type", "all", "--records", "100000", "1000000"], ["--records", "2000", "20000"]),
    ("bench_memory.py", ["--recorded", "--records", "1000000"], ["--recorded", "--records", "20000"]),
    ("bench_simulator.py", [], ["--records", "20000"]),
    ("bench_requests.py", [], ["--per-hour", "5000", "--hours", "2"]),
]


def load() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def speed() -> str:
    """The bare orjson round trip's rate now (``bench_mapping.py --speed``): how fast this machine runs today."""
    command = [sys.executable, str(BENCH / "bench_mapping.py"), "--speed", "--records", "16000"]
    printed = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
    return printed.removeprefix("machine speed: bare orjson round trip ")


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    failed, targets = [], []
    before, speed_before = load(), speed()
    for script, full, small in SCRIPTS:
        command = [sys.executable, str(BENCH / script), *(small if quick else full)]
        print(f"\n=== {' '.join(command[1:])}  (load average {load()})", flush=True)
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as child:
            assert child.stdout is not None
            for line in child.stdout:
                print(line, end="", flush=True)
                if line.startswith("target:"):
                    targets.append(f"{script}: {line[len('target:') :].strip()}")
        if child.returncode != 0:
            failed.append(script)
    print(f"\n=== targets (load average 1/5/15 min: {before} at the start, {load()} at the end)")
    print(
        f"machine speed (bare orjson round trip, bench_mapping.py --speed): {speed_before} at the start, {speed()} at the end"
    )
    print("\n".join(targets) or "(none printed)")
    if failed:
        print(f"\nbenchmarks that failed to run: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
