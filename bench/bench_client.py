"""Benchmark ``NetskopeClient`` window pulls against the simulator in its own process.

Prints figures only (no pass/fail): records/s and requests per strategy (``data/*`` offset paging,
``datasearch`` look-back, ``dataexport`` iterator), at the default 4 requests/s per endpoint, and
the client's overhead against bare ``requests`` + orjson paging of the same window. ``data/*`` is
also pulled without a rate limit, and both figures are given as a share of the rate-limited
ceiling: 4 requests/s x 10,000-record pages = 40,000 records/s per endpoint. Application records
(~3.5 KB) show the cost of parsing; audit records (~0.4 KB) show the limiter.

    .venv/bin/python bench/bench_client.py [--records 100000]
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import time

import orjson
import requests

from netskope_provider.api.client import NetskopeClient

START = 1_790_000_000
CEILING = 4 * 10_000
#: A rate no client reaches against a local tenant: "unlimited".
UNLIMITED = 1_000.0
SPAN = 86_400
NOW = START + SPAN + 3600
TOKEN = "bench-token"
#: One cheap request per benchmarked log type, sent before timing starts.
WARM_UP = {
    "application": ("events/data/application", {"fields": "n:count(_id)"}),
    "audit": ("events/data/audit", {"fields": "n:count(_id)"}),
    "incident": ("events/datasearch/incident", {"fields": "n:count(_id)", "starttime": START, "endtime": NOW}),
    "endpoint": ("events/dataexport/events/endpoint", {"index": "bench-warm-up", "operation": "tail"}),
}


def bare_pull(url: str, token: str = TOKEN) -> int:
    """The floor: one session, offset paging, orjson, nothing else; returns the records seen."""
    session = requests.Session()
    session.headers["Netskope-Api-Token"] = token
    seen = offset = 0
    while True:
        params = {"insertionstarttime": START, "insertionendtime": START + SPAN - 1, "limit": 10_000, "offset": offset}
        page = orjson.loads(session.get(f"{url}/api/v2/events/data/application", params=params, timeout=120).content)[
            "result"
        ]
        seen += len(page)
        offset += len(page)
        if len(page) < 10_000:
            return seen


def client_pull(client: NetskopeClient, log_type: str) -> int:
    """Records of the window, as raw JSON text straight off each page (what the fetch stage stages)."""
    return sum(len(page.records) for page in client.iter_window_pages(log_type, START, START + SPAN))


def report(label: str, run) -> None:
    started = time.perf_counter()
    records = run()
    elapsed = time.perf_counter() - started
    rate = records / elapsed
    print(
        f"{label:<50} {records:>9,} records in {elapsed:7.2f} s = {rate:>9,.0f} records/s"
        f" = {rate / CEILING:4.0%} of {CEILING:,}/s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="records per log type")
    args = parser.parse_args()
    command = [
        sys.executable,
        "-m",
        "netskope_provider.simulator",
        "--port",
        "0",
        "--token",
        TOKEN,
        "--start",
        str(START),
        "--end",
        str(START + SPAN),
        "--now",
        str(NOW),
        "--iterator-wait",
        "0",
    ]
    for log_type in WARM_UP:
        command += ["--volume", f"{log_type}={args.records}"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        url = re.search(r"http://(127\.0\.0\.1:\d+)", process.stdout.readline())
        host = url.group(1)
        for path, params in WARM_UP.values():  # the tenant builds each corpus on first use: not on the clock
            requests.get(
                f"http://{host}/api/v2/{path}", params=params, headers={"Netskope-Api-Token": TOKEN}, timeout=300
            )
        report("bare requests + orjson, data/application", lambda: bare_pull(f"http://{host}"))
        unlimited = NetskopeClient(host, lambda refresh: TOKEN, scheme="http", rate_limit_per_second=UNLIMITED)
        for log_type in ("application", "audit"):
            report(f"NetskopeClient unlimited, {log_type}", lambda log_type=log_type: client_pull(unlimited, log_type))
        client = NetskopeClient(host, lambda refresh: TOKEN, scheme="http")
        for log_type in WARM_UP:
            report(f"NetskopeClient at 4 req/s, {log_type}", lambda log_type=log_type: client_pull(client, log_type))
        for endpoint, stats in client.stats.snapshot().items():
            print(
                f"  {endpoint:<40} requests={stats['requests']:.0f} "
                f"({stats['requests'] / max(stats['records'], 1) * 10_000:.2f} per 10,000 records) "
                f"limiter wait={stats['wait_seconds']:.2f} s repeats dropped={stats['duplicates_dropped']:.0f}"
            )
        print(f"peak RSS of the client process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()
