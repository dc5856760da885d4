"""Run every benchmark under bench/ in turn (``make bench``); each prints its own figures.

Figures only, no pass/fail. Pass ``--quick`` for smaller inputs (a smoke run of the scripts).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent

#: script -> (full arguments, quick arguments)
SCRIPTS: dict[str, tuple[list[str], list[str]]] = {
    "bench_mapping.py": ([], ["--records", "8000", "--repeat", "1"]),
    "bench_simulator.py": ([], ["--records", "20000"]),
    "bench_client.py": ([], ["--records", "20000"]),
    "bench_delivery.py": ([], ["--events", "50000", "--moto-events", "5000"]),
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
