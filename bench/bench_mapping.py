"""Benchmark the OCSF mapping: records/s through the NDJSON path, against a bare orjson round trip.

The baseline is what any transform must pay at least: ``orjson.loads`` + ``orjson.dumps`` of
each line. The mapping does that too, plus routing and building the event, so the ratio
(mapping rate / round-trip rate) says how much the mapping itself costs; the target is >= 1/3.
A third figure, the floor, is a "mapper" that only wraps each record: it parses the line, puts
every field under ``unmapped`` with ``finalize`` (the pass every real event pays) and serialises
the result, which bounds what any mapping built on these pieces can reach.
Prints figures only (no pass/fail); timings are the best of ``--repeat`` rounds of process CPU
time, the three runs taking turns in each round, so other work on a shared machine disturbs them
(and their ratios) less than back-to-back wall-clock timings would.

    .venv/bin/python bench/bench_mapping.py [--records 40000] [--repeat 3] [--per-type]

It maps with the implementation installed (compiled after ``make``); ``NETSKOPE_OCSF_PURE=1``
measures the Python source instead.

``--speed`` prints only the round trip's rate: ``make bench`` prints it before and after the other
figures, to compare runs made on different days.

Timings on a shared virtual machine move from day to day, the mapping's more than the round
trip's (it runs far more code over more data). ``--instructions`` counts instead, under valgrind
(``cachegrind``, hash seed 0; a few minutes): each loop once in a fresh interpreter, minus an
interpreter that only builds the corpus, per record. Those counts do not move with the machine.

    .venv/bin/python bench/bench_mapping.py --instructions [--records 8000]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable

import orjson

from netskope_provider.ocsf import IMPLEMENTATION
from netskope_provider.ocsf.common import finalize
from netskope_provider.ocsf.mapper import MapCounts, map_lines
from netskope_provider.simulator.records import LOG_TYPE_NAMES, generate

START, END, SEED = 1_719_792_000, 1_719_878_400, 7


def best_of(repeat: int, *runs: Callable[[], object]) -> list[float]:
    """The fastest of ``repeat`` CPU-time timings of each of ``runs`` (seconds).

    The runs take turns within each round, so a change of load on a shared machine slows all of
    them alike instead of skewing their ratio.
    """
    best = [float("inf")] * len(runs)
    for _ in range(repeat):
        for index, run in enumerate(runs):
            began = time.process_time()
            run()
            best[index] = min(best[index], time.process_time() - began)
    return best


def round_trip(lines: list[bytes]) -> None:
    loads, dumps = orjson.loads, orjson.dumps
    for line in lines:
        dumps(loads(line))


def floor(lines: list[bytes]) -> None:
    loads, dumps, nothing = orjson.loads, orjson.dumps, frozenset()
    for line in lines:
        dumps(finalize({"metadata": {}}, loads(line), nothing))


def mapping(lines: list[bytes], log_type: str) -> MapCounts:
    counts = MapCounts()
    for _ in map_lines(lines, log_type, counts):
        pass
    return counts


def measure(corpus: dict[str, list[bytes]], repeat: int) -> tuple[float, float, float, MapCounts]:
    """(round-trip, floor and mapping seconds, counts) over every log type of ``corpus``."""
    baseline, wrapped, mapped = best_of(
        repeat,
        lambda: [round_trip(lines) for lines in corpus.values()],
        lambda: [floor(lines) for lines in corpus.values()],
        lambda: [mapping(lines, log_type) for log_type, lines in corpus.items()],
    )
    total = MapCounts()
    for log_type, lines in corpus.items():
        counts = mapping(lines, log_type)
        total.by_class.update(counts.by_class)
        total.raw += counts.raw
        total.rejected += counts.rejected
    return baseline, wrapped, mapped, total


def report(label: str, records: int, baseline: float, wrapped: float, mapped: float) -> None:
    print(
        f"{label:<16} {records:>7} records  round trip {records / baseline:>9,.0f}/s"
        f"  floor {records / wrapped:>9,.0f}/s ({baseline / wrapped:4.2f})"
        f"  mapping {records / mapped:>8,.0f}/s  ratio {baseline / mapped:5.3f}"
    )


#: ``--loop`` choices: what one interpreter runs once under valgrind (``none`` only builds the corpus).
LOOPS = {
    "none": lambda corpus: None,
    "round-trip": lambda corpus: [round_trip(lines) for lines in corpus.values()],
    "mapping": lambda corpus: [mapping(lines, log_type) for log_type, lines in corpus.items()],
}


def instructions(records: int) -> None:
    """Print instructions a record of the round trip and of the mapping, and their ratio (cachegrind)."""
    counted = {}
    for loop in LOOPS:
        run = subprocess.run(
            ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
            + [sys.executable, __file__, "--records", str(records), "--loop", loop],
            env={**os.environ, "PYTHONHASHSEED": "0"},
            capture_output=True,
            text=True,
            check=True,
        )
        found = re.search(r"I\s+refs:\s+([\d,]+)", run.stderr)
        if not found:
            raise SystemExit(f"valgrind printed no instruction count:\n{run.stderr[-2000:]}")
        counted[loop] = int(found.group(1).replace(",", ""))
    per_type = max(1, records // len(LOG_TYPE_NAMES))
    total = per_type * len(LOG_TYPE_NAMES)
    trip, mapped = ((counted[loop] - counted["none"]) / total for loop in ("round-trip", "mapping"))
    print(
        f"instructions a record ({total} records, {IMPLEMENTATION}, cachegrind, hash seed 0): round trip "
        f"{trip:,.0f}, mapping {mapped:,.0f}, ratio {trip / mapped:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=40_000, help="records in total, spread over every log type")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the best one counts")
    parser.add_argument("--per-type", action="store_true", help="also print one line per log type")
    parser.add_argument("--instructions", action="store_true", help="count instructions under valgrind instead")
    parser.add_argument(
        "--speed", action="store_true", help="print only the round trip's rate: this machine's speed right now"
    )
    parser.add_argument("--loop", choices=LOOPS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.instructions:
        instructions(args.records)
        return

    per_type = max(1, args.records // len(LOG_TYPE_NAMES))
    corpus = {
        log_type: [orjson.dumps(record) for record in generate(log_type, per_type, START, END, SEED)]
        for log_type in LOG_TYPE_NAMES
    }
    if args.loop:  # one loop once, for valgrind to count
        LOOPS[args.loop](corpus)
        return
    records = per_type * len(LOG_TYPE_NAMES)
    if args.speed:
        (seconds,) = best_of(args.repeat, lambda: [round_trip(lines) for lines in corpus.values()])
        print(f"machine speed: bare orjson round trip {records / seconds:,.0f} records/s")
        return
    size = sum(len(line) for lines in corpus.values() for line in lines)
    print(f"corpus: {records} records ({size / records:,.0f} bytes each on average), best of {args.repeat} runs")
    print(f"mapping implementation: {IMPLEMENTATION}")

    baseline, wrapped, mapped, counts = measure(corpus, args.repeat)
    if args.per_type:
        for log_type, lines in corpus.items():
            report(log_type, len(lines), *measure({log_type: lines}, args.repeat)[:3])
    report("all log types", records, baseline, wrapped, mapped)
    classes = ", ".join(f"{uid}: {count}" for uid, count in sorted(counts.by_class.items()))
    print(f"outcomes: ocsf {counts.ocsf} ({classes}), raw {counts.raw}, rejected {counts.rejected}")
    print(
        f"target: mapping >= 1/3 of a bare orjson round trip: ratio {baseline / mapped:.3f}: "
        f"{'met' if baseline / mapped >= 1 / 3 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
