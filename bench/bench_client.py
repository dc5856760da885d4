"""Benchmark ``NetskopeClient`` window pulls against the simulator in its own process.

Prints figures only (no pass/fail), per log type at the default 4 requests/s per endpoint: records/s
as a share of the ceiling (4 requests/s x 10,000-record pages = 40,000 records/s per endpoint), the
client process's CPU seconds for the pull (less sensitive to a busy machine than the wall clock:
at 4 requests/s a page's CPU must stay under 0.25 s), API requests per 10,000 records (the
minimum is 1) and the process's peak RSS so far. Then ``data/application`` and ``data/audit``
without a rate limit, and last bare ``requests`` + orjson paging of the same window (the floor,
run last because parsing whole pages into objects sets the process's peak RSS). Application
records (~3.5 KB) show the cost of moving bytes; audit records (~0.4 KB) show the limiter.

The simulator renders and gzips each page in its own process, under one GIL, on the two cores
the client uses too: a 35 MB application page costs it ~0.2 s of CPU, most of a 4 requests/s slot.
So each ``data/*`` type is also pulled through ``bench/recorded_tenant.py`` (a proxy that answers
each request from the simulator once, then with the same bytes from memory): the first pull
records, the second, at 4 requests/s, is the client alone (``recorded``).

    .venv/bin/python bench/bench_client.py [--records 100000] [--types application,audit]
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import time

import orjson
import recorded_tenant
import requests

from netskope_provider.api.client import NetskopeClient

START = 1_790_000_000
CEILING = 4 * 10_000
#: A rate no client reaches against a local tenant: "unlimited".
UNLIMITED = 1_000.0
SPAN = 86_400
NOW = START + SPAN + 3600
TOKEN = "bench-token"
DATA_TYPES = ("application", "page", "network", "infrastructure", "audit", "alert")
#: One cheap request per benchmarked log type, sent before timing starts (the tenant builds each corpus then).
WARM_UP = {
    **{name: (f"events/data/{name}", {"fields": "n:count(_id)"}) for name in DATA_TYPES},
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


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def report(label: str, run, client: NetskopeClient | None = None) -> float:
    """Run and print one pull; return its records/s."""
    requests_before = client.stats.total("requests") if client else 0
    started, cpu = time.perf_counter(), cpu_seconds()
    records = run()
    elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    rate = records / elapsed
    sent = f" {(client.stats.total('requests') - requests_before) / records * 10_000:4.2f} req/10k" if client else ""
    print(
        f"{label:<42} {records:>9,} records in {elapsed:6.2f} s = {rate:>7,.0f} records/s"
        f" = {rate / CEILING:4.0%} of {CEILING:,}/s, CPU {cpu:5.2f} s{sent},"
        f" peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:4.0f} MB",
        flush=True,
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="records per log type")
    parser.add_argument("--types", default=",".join(WARM_UP), help="log types pulled at 4 requests/s")
    args = parser.parse_args()
    types = [name.strip() for name in args.types.split(",") if name.strip()]
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
    for log_type in {*types, "application", "audit"}:
        command += ["--volume", f"{log_type}={args.records}"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        url = re.search(r"http://(127\.0\.0\.1:\d+)", process.stdout.readline())
        host = url.group(1)
        for log_type in {*types, "application", "audit"}:
            path, params = WARM_UP[log_type]
            requests.get(
                f"http://{host}/api/v2/{path}", params=params, headers={"Netskope-Api-Token": TOKEN}, timeout=600
            )
        client = NetskopeClient(host, lambda refresh: TOKEN, scheme="http")
        shares = {
            log_type: report(f"at 4 req/s, {log_type}", lambda log_type=log_type: client_pull(client, log_type), client)
            / CEILING
            for log_type in types
        }
        unlimited = NetskopeClient(host, lambda refresh: TOKEN, scheme="http", rate_limit_per_second=UNLIMITED)
        for log_type in ("application", "audit"):
            report(f"unlimited, {log_type}", lambda log_type=log_type: client_pull(unlimited, log_type), unlimited)
        recorded = recorded_shares(host, [log_type for log_type in types if log_type in DATA_TYPES])
        report("bare requests + orjson, data/application", lambda: bare_pull(f"http://{host}"))
        print_target("from the simulator", {name: share for name, share in shares.items() if name in DATA_TYPES})
        print_target("recorded (the client alone)", recorded)
    finally:
        process.terminate()
        process.wait(timeout=10)


def recorded_shares(simulator: str, types: list[str]) -> dict[str, float]:
    """Each type pulled once through the recording proxy, then again at 4 requests/s from what it recorded."""
    proxy, host = recorded_tenant.start(simulator)
    try:
        recording = NetskopeClient(host, lambda refresh: TOKEN, scheme="http", rate_limit_per_second=UNLIMITED)
        client = NetskopeClient(host, lambda refresh: TOKEN, scheme="http")
        shares = {}
        for log_type in types:
            client_pull(recording, log_type)
            rate = report(
                f"at 4 req/s, recorded {log_type}", lambda log_type=log_type: client_pull(client, log_type), client
            )
            shares[log_type] = rate / CEILING
        return shares
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)


def print_target(source: str, shares: dict[str, float]) -> None:
    if shares:
        low = min(shares, key=shares.__getitem__)
        print(
            f"target: fetch at 4 req/s >= 90 % of {CEILING:,} records/s for every data/* type, {source}: lowest "
            f"{low} {shares[low]:.0%} ({', '.join(f'{name} {share:.0%}' for name, share in shares.items())}): "
            f"{'met' if shares[low] >= 0.9 else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
