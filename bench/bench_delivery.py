"""Benchmark CloudWatch delivery: events/s to a no-op sink and to a local ``moto_server``.

Prints figures only (no pass/fail): the no-op sink measures the batching path itself, moto the
full boto3 round trip, including a rerun that reads the stream back and sends nothing.

    .venv/bin/python bench/bench_delivery.py [--events 1000000] [--moto-events 50000]
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3

from netskope_provider.delivery import DeliveryReport, deliver, ensure_log_group

WINDOW_MS = 3_600_000


class NoOpSink:
    """Accepts every PutLogEvents call and keeps nothing."""

    def put_log_events(self, **kwargs: object) -> dict:
        return {}


def ocsf_like_events(count: int, now: int, seed: int = 1) -> Iterator[tuple[int, bytes]]:
    """``count`` ~400-byte OCSF-shaped lines with timestamps scattered over the hour before ``now`` (ms)."""
    rng = random.Random(seed)
    padding = b"x" * 200
    for i in range(count):
        ts = now - rng.randrange(WINDOW_MS)
        yield (
            ts,
            (
                b'{"class_uid":4001,"category_uid":4,"time":%d,"metadata":{"uid":"%d","version":"1.5.0",'
                b'"product":{"name":"Netskope","vendor_name":"Netskope"}},"src_endpoint":{"ip":"10.0.%d.%d"},'
                b'"message":"%s"}' % (ts, 2**60 + i, i % 256, i // 256 % 256, padding)
            ),
        )


def timed(label: str, count: int, run) -> DeliveryReport:
    started = time.perf_counter()
    report = run()
    elapsed = time.perf_counter() - started
    print(
        f"{label:<44} {count:>9,} events in {elapsed:7.2f} s = {count / elapsed:>10,.0f} events/s "
        f"({report.puts} puts, {report.delivered:,} delivered, {report.already_present:,} already present)"
    )
    return report


def start_moto() -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
    process = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError("moto_server did not start within 30 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events sent to the no-op sink")
    parser.add_argument("--moto-events", type=int, default=50_000, help="events sent to moto_server")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    now = time.time_ns() // 1_000_000
    started = time.perf_counter()
    for _ in ocsf_like_events(args.events, now):
        pass
    print(f"{'input generation alone':<44} {args.events:>9,} events in {time.perf_counter() - started:7.2f} s")
    timed(
        "no-op sink (generation included)",
        args.events,
        lambda: deliver(ocsf_like_events(args.events, now), NoOpSink(), "/bench", "s", max_workers=args.workers),
    )
    print(f"{'peak RSS of this process':<44} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:9,.0f} MB")

    process, url = start_moto()
    try:
        logs = boto3.client(
            "logs",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        ensure_log_group(logs, "/bench/netskope")
        for label in ("moto_server, fresh stream", "moto_server, rerun (read back, nothing sent)"):
            timed(
                label,
                args.moto_events,
                lambda: deliver(
                    ocsf_like_events(args.moto_events, now), logs, "/bench/netskope", "s", max_workers=args.workers
                ),
            )
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()
