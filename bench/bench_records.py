"""Benchmark ``decode_record`` (exact values or a reason) against bare ``orjson.loads`` per log type.

Prints figures only: records/s of each on the simulator's corpus, best of several rounds, and
their ratio measured in the same run (the machine may be busy; the ratio moves less than either
figure). ``orjson.loads`` is what the mapping stage used before: fast, but it turns integers
beyond 64 bits into floats and lets a repeated key win silently, which ``decode_record`` refuses.

    .venv/bin/python bench/bench_records.py [--records 5000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import orjson

from netskope_provider.log_types import LOG_TYPES
from netskope_provider.records import decode_record
from netskope_provider.simulator.records import generate

START = 1_790_000_000


def best_rate(decode: Callable[[bytes], object], lines: list[bytes], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()  # CPU time: a busy machine moves it less than the wall clock
        for line in lines:
            decode(line)
        best = min(best, time.process_time() - started)
    return len(lines) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5_000, help="records per log type")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    for log_type in LOG_TYPES:
        lines = [orjson.dumps(record) for record in generate(log_type, args.records, START, START + 3600, seed=3)]
        before = best_rate(orjson.loads, lines, args.rounds)
        exact = best_rate(decode_record, lines, args.rounds)  # between two orjson rounds: the same spell
        plain = max(before, best_rate(orjson.loads, lines, args.rounds))
        print(
            f"{log_type:<15} {args.records} records  orjson.loads {plain:>9,.0f}/s  decode_record {exact:>9,.0f}/s"
            f"  ratio {exact / plain:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
