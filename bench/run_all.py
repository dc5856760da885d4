"""Run every benchmark under bench/ in turn (``make bench``); each prints its own figures.

Figures only, no pass/fail. The issue-6 figures: (a) mapping vs a bare orjson round trip
(bench_mapping), (b) fetch against the simulator, unlimited and at 4 requests/s (bench_client),
(c) delivery to moto_server and to a no-op sink (bench_delivery), (d) one window end to end and
(e) peak RSS against window size (bench_memory). bench_simulator profiles the tenant itself;
bench_requests gives API requests per delivered record of each log type on an hourly schedule.
Pass ``--quick`` for smaller inputs (a smoke run of the scripts).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent

#: script -> (full arguments, quick arguments)
SCRIPTS: dict[str, tuple[list[str], list[str]]] = {
    "bench_mapping.py": ([], ["--records", "8000", "--repeat", "1"]),
    "bench_client.py": ([], ["--records", "20000"]),
    "bench_delivery.py": ([], ["--events", "50000", "--moto-events", "5000"]),
    # 10,000 and 100,000 keep make bench to minutes; the default 100,000 / 1,000,000 run takes ~10.
    "bench_memory.py": (["--records", "10000", "100000"], ["--records", "2000", "20000"]),
    "bench_simulator.py": ([], ["--records", "20000"]),
    "bench_requests.py": ([], ["--per-hour", "5000", "--hours", "2"]),
}


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    failed = []
    for script, (full, small) in SCRIPTS.items():
        command = [sys.executable, str(BENCH / script), *(small if quick else full)]
        print(f"\n=== {' '.join(command[1:])}", flush=True)
        if subprocess.run(command, check=False).returncode != 0:
            failed.append(script)
    if failed:
        print(f"\nbenchmarks that failed to run: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
