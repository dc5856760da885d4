"""Benchmark the Netskope simulator: record generation, and records/s served over HTTP.

Prints figures only (no pass/fail). Serving is measured twice: with the tenant in this process
(server and client share one GIL, as in the tests) and in its own process via the command line
(as a fetch benchmark would run it). The client pages ``events/data/application`` with
``limit=10000`` over one ``requests.Session`` and parses every page with orjson.

    .venv/bin/python bench/bench_simulator.py [--records 200000]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from collections.abc import Callable

import requests
from bench_client import NOW, SPAN, START, bare_pull

from netskope_provider.simulator import SimulatorConfig, SimulatorServer, generate
from netskope_provider.simulator.records import Corpus


def timed(label: str, count: int, unit: str, run: Callable[[], object]) -> None:
    started = time.perf_counter()
    run()
    elapsed = time.perf_counter() - started
    print(f"{label:<52} {count:>10,} {unit} in {elapsed:7.2f} s = {count / elapsed:>10,.0f} {unit}/s", flush=True)


def pull_all(url: str, token: str, records: int) -> None:
    """Page through one day of application records; fail loudly if any are missing."""
    seen = bare_pull(url, token)
    if seen != records:
        raise SystemExit(f"served {seen:,} records, expected {records:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000, help="application records to serve")
    args = parser.parse_args()

    timed(
        "generate() 25,000 application dicts",
        25_000,
        "records",
        lambda: generate("application", 25_000, START, START + 3600, 7),
    )
    corpus: list[Corpus] = []
    timed(
        f"Corpus of {args.records:,} (insertion + delay arrays)",
        args.records,
        "records",
        lambda: corpus.append(Corpus("application", args.records, START, START + SPAN, 7)),
    )
    sample = min(args.records, 50_000)
    timed(
        "Corpus.record_bytes (served form)",
        sample,
        "records",
        lambda: [corpus[0].record_bytes(i) for i in range(sample)],
    )

    config = SimulatorConfig(seed=7, start=START, end=START + SPAN, now=NOW, volume={"application": args.records})
    with SimulatorServer(config) as sim:
        sim.tenant.store("application")  # build the corpus before the clock starts
        timed(
            "served in-process, client in the same interpreter",
            args.records,
            "records",
            lambda: pull_all(sim.url, sim.token, args.records),
        )

    command = [
        sys.executable,
        "-m",
        "netskope_provider.simulator",
        "--port",
        "0",
        "--token",
        "bench-token",
        "--start",
        str(START),
        "--end",
        str(START + SPAN),
        "--now",
        str(NOW),
        "--volume",
        f"application={args.records}",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        url = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline()).group(0)
        # A count query makes the tenant build its corpus before the clock starts.
        requests.get(
            f"{url}/api/v2/events/data/application",
            params={"fields": "n:count(_id)"},
            headers={"Netskope-Api-Token": "bench-token"},
            timeout=300,
        ).raise_for_status()
        timed(
            "served by netskope-simulator in its own process",
            args.records,
            "records",
            lambda: pull_all(url, "bench-token", args.records),
        )
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()
