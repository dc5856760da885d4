"""Benchmark the Netskope simulator: record generation, and records/s served over HTTP.

Prints figures only (no pass/fail). Serving is measured with the tenant in this process (server
and client share one GIL, as in the tests) and in its own process via the command line (as a fetch
benchmark would run it). The client pages ``events/data/application`` with ``limit=10000`` over
one ``requests.Session`` and parses every page with orjson, once asking for gzip (what
``NetskopeClient`` and Netskope's SDKs send; the tenant then compresses) and once not, alternately,
so the ratio between the two is measured in one spell of the machine. It also drains the same
records through the ``dataexport`` iterator (10,000-record pages) on both iterator clocks.

    .venv/bin/python bench/bench_simulator.py [--records 200000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import orjson
import requests
from bench_client import NOW, SPAN, START

from netskope_provider.simulator import SimulatorConfig, SimulatorServer, generate
from netskope_provider.simulator.records import Corpus

TOKEN = "bench-token"


def timed(label: str, count: int, unit: str, run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    elapsed = time.perf_counter() - started
    print(f"{label:<58} {count:>10,} {unit} in {elapsed:7.2f} s = {count / elapsed:>10,.0f} {unit}/s", flush=True)
    return elapsed


def pull(url: str, records: int, encoding: str) -> None:
    """Page through one day of application records with offset paging; fail loudly if any are missing."""
    session = requests.Session()
    session.headers.update({"Netskope-Api-Token": TOKEN, "Accept-Encoding": encoding})
    seen = offset = 0
    while True:
        params = {"insertionstarttime": START, "insertionendtime": START + SPAN - 1, "limit": 10_000, "offset": offset}
        answer = session.get(f"{url}/api/v2/events/data/application", params=params, timeout=300)
        page = orjson.loads(answer.content)["result"]
        seen += len(page)
        offset += len(page)
        if len(page) < 10_000:
            break
    if seen != records:
        raise SystemExit(f"served {seen:,} records, expected {records:,}")


def drain_iterator(url: str, records: int) -> None:
    """Every record through a fresh dataexport index: an epoch, then ``next`` until caught up."""
    session = requests.Session()
    session.headers["Netskope-Api-Token"] = TOKEN
    path = f"{url}/api/v2/events/dataexport/events/application"
    index, operation, seen = f"bench-{time.monotonic_ns()}", str(START - SPAN), 0
    while True:
        page = orjson.loads(session.get(path, params={"index": index, "operation": operation}, timeout=300).content)
        seen += len(page["result"])
        operation = "next"
        if page["timestamp_hwm"] >= NOW:
            break
    if seen != records:
        raise SystemExit(f"the iterator served {seen:,} records, expected {records:,}")


@contextmanager
def tenant_process(records: int, *options: str) -> Iterator[str]:
    """``netskope-simulator`` in its own process, its corpus built; yields its URL."""
    command = [sys.executable, "-m", "netskope_provider.simulator", "--port", "0", "--token", TOKEN]
    command += ["--start", str(START), "--end", str(START + SPAN), "--now", str(NOW), "--iterator-wait", "0"]
    command += ["--volume", f"application={records}", *options]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        found = re.search(r"http://127\.0\.0\.1:\d+", line)
        if found is None:
            raise SystemExit(f"the simulator did not print its URL: {line!r}")
        # A count query makes the tenant build its corpus before the clock starts.
        requests.get(
            f"{found.group(0)}/api/v2/events/data/application",
            params={"fields": "n:count(_id)"},
            headers={"Netskope-Api-Token": TOKEN},
            timeout=300,
        ).raise_for_status()
        yield found.group(0)
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000, help="application records to serve")
    parser.add_argument("--rounds", type=int, default=2, help="alternating gzip / identity pulls")
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
        "Corpus.record_bytes (data/* form)",
        sample,
        "records",
        lambda: [corpus[0].record_bytes(i) for i in range(sample)],
    )
    timed(
        "Corpus.record_bytes (dataexport/datasearch form)",
        sample,
        "records",
        lambda: [corpus[0].record_bytes(i, insertion_time=False) for i in range(sample)],
    )
    timed("Corpus.event_index (event-time order, first use)", args.records, "records", corpus[0].event_index)

    config = SimulatorConfig(
        seed=7, token=TOKEN, start=START, end=START + SPAN, now=NOW, volume={"application": args.records}
    )
    with SimulatorServer(config) as sim:
        sim.tenant.store("application")  # build the corpus before the clock starts
        timed(
            "served in-process, client in the same interpreter (gzip)",
            args.records,
            "records",
            lambda: pull(sim.url, args.records, "gzip"),
        )

    with tenant_process(args.records) as url:
        spent: dict[str, list[float]] = {"gzip": [], "identity": []}
        for _ in range(args.rounds):
            for encoding in spent:
                label = f"served by netskope-simulator in its own process ({encoding})"
                spent[encoding].append(
                    timed(label, args.records, "records", lambda e=encoding: pull(url, args.records, e))
                )
        ratio = statistics.median(spent["gzip"]) / statistics.median(spent["identity"])
        print(f"{'gzip / identity, median of the alternating pulls':<58} {ratio:>10.2f} x", flush=True)
    for clock in ("insertion", "event"):
        with tenant_process(args.records, "--iterator-clock", clock) as url:
            label = f"dataexport iterator, {clock} clock (10,000-record pages)"
            timed(label, args.records, "records", lambda: drain_iterator(url, args.records))


if __name__ == "__main__":
    main()
