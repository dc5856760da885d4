"""Benchmark one window end to end: peak RSS and records/s of fetch, transform and delivery.

Prints figures only (no pass/fail). For each window size, a simulated tenant serves the window
from its own process; then each stage runs in a fresh interpreter, as an Airflow task would:
the fetch operator pulls the window, mapping each page to OCSF while the next one is fetched, into
staged raw and events files, the transform operator checks its books and hands the events on, and
the delivery streams the events file to a no-op sink (``delivery.deliver``, as the
delivery operator calls it, without the AWS round trip). Each stage reports its ``ru_maxrss``
(the interpreter with Airflow imported is the floor), its records/s and its CPU seconds (all its
threads) per 100,000 records, which a busy machine moves less than the rate; the end-to-end rate is
records / (fetch + transform + delivery seconds), i.e. per worker. Streaming means the peak must
not grow with the window: the target is peak(1,000,000) <= 1.3 x peak(100,000) and < 300 MB;
end to end the target is >= 20,000 records/s per worker.

With ``--recorded`` the stages pull the window through ``bench/recorded_tenant.py``, which
records it from the simulator in one pull before the stages run: the simulator's rendering (~0.2 s
of CPU a 10,000-record application page, on the same two cores) is then off the clock and off the
cores, and the figures are the worker's alone, as with a tenant that is another machine.

    .venv/bin/python bench/bench_memory.py [--records 100000 1000000] [--log-type application | all | TYPE ...] [--recorded]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import recorded_tenant
import requests

START = 1_790_000_000
SPAN = 3600
NOW = START + SPAN + 3600
TOKEN = "bench-memory-token"
#: The simulator's default seed (its records are known without asking it).
SEED = 7
STAGES = ("fetch", "transform", "deliver")
TARGET_RATIO = 1.3
TARGET_MB = 300


class NoOpSink:
    """Accepts every PutLogEvents call and keeps nothing."""

    def put_log_events(self, **kwargs: object) -> dict:
        return {}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """This process's CPU time, every thread's (less sensitive to a busy machine than the wall clock)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def task_context(log_type: str) -> dict[str, object]:
    ti = SimpleNamespace(dag_id=f"netskope_{log_type}", run_id="bench_memory", try_number=1)
    return {
        "ti": ti,
        "data_interval_start": datetime.fromtimestamp(START, UTC),
        "data_interval_end": datetime.fromtimestamp(START + SPAN, UTC),
    }


def run_stage(stage: str, log_type: str, staging_base: str, previous: dict | None) -> dict[str, object]:
    """One stage in this interpreter; returns its output manifest, seconds and peak RSS."""
    from netskope_provider import delivery, staging
    from netskope_provider.operators.fetch import NetskopeFetchOperator
    from netskope_provider.operators.transform import NetskopeToOcsfOperator

    floor = peak_mb()
    context = task_context(log_type)
    began, cpu = time.perf_counter(), cpu_seconds()
    if stage == "fetch":
        manifest = NetskopeFetchOperator(task_id="fetch", log_type=log_type, staging_base=staging_base).execute(context)
        records = manifest["fetched"]["records"]
    elif stage == "transform":
        manifest = NetskopeToOcsfOperator(task_id="to_ocsf", fetch_manifest=previous).execute(context)
        records = manifest["fetched"]
    else:  # what OcsfToCloudWatchLogsOperator does, with a sink in place of AwsLogsHook().conn
        location = staging.staging_path(previous["events"]["location"], previous["staging_conn_id"])
        events = (staging.decode_event(line)[1:] for line in staging.read_lines(location))
        report = delivery.deliver(events, NoOpSink(), "/bench/netskope", "bench", retention_days=14)
        if report.delivered + report.rejected != previous["events"]["records"]:
            raise SystemExit(f"delivery lost events: {report.as_dict()} for {previous['events']['records']} staged")
        manifest, records = report.as_dict(), previous["fetched"]
    seconds, cpu = time.perf_counter() - began, cpu_seconds() - cpu
    return {
        "manifest": manifest,
        "records": records,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_mb": peak_mb(),
        "floor_mb": floor,
    }


def start_tenant(log_type: str, records: int) -> tuple[subprocess.Popen, str]:
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
        "--volume",
        f"{log_type}={records}",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    found = re.search(r"http://(127\.0\.0\.1:\d+)", process.stdout.readline())
    if not found:
        process.terminate()
        raise SystemExit("the simulator did not print its URL")
    host = found.group(1)
    # The tenant builds its corpus on first use: not on the clock.
    requests.get(
        f"http://{host}/api/v2/events/data/{log_type}",
        params={"fields": "n:count(_id)"},
        headers={"Netskope-Api-Token": TOKEN},
        timeout=600,
    )
    return process, host


def one_window(log_type: str, records: int, *, recorded: bool = False) -> dict[str, dict]:
    """Run the three stages for one window; each in a fresh interpreter. Returns their results."""
    process, host = start_tenant(log_type, records)
    proxy: subprocess.Popen | None = None
    results: dict[str, dict] = {}
    try:
        if recorded:
            proxy, host = record_window(host, log_type)
        with tempfile.TemporaryDirectory(prefix="bench-memory-") as scratch:
            env = {
                **os.environ,
                "AIRFLOW_HOME": os.path.join(scratch, "airflow"),
                "AIRFLOW_CONN_NETSKOPE_DEFAULT": json.dumps(
                    {
                        "conn_type": "netskope",
                        "host": host,
                        "password": TOKEN,
                        "extra": {"allow_non_goskope_host": True, "scheme": "http"},
                    }
                ),
            }
            previous: dict | None = None
            for stage in STAGES:
                handover = Path(scratch, f"{stage}.json")
                handover.write_text(json.dumps(previous))
                child = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--stage",
                        stage,
                        "--log-type",
                        log_type,
                        "--staging-base",
                        os.path.join(scratch, "staging"),
                        "--handover",
                        str(handover),
                    ],
                    env=env,
                    capture_output=True,
                    text=True,
                )
                if child.returncode:  # the task logs are noise unless the stage failed
                    raise SystemExit(f"{stage} of a {records:,}-record window failed:\n{child.stderr[-4000:]}")
                results[stage] = json.loads(handover.read_text())
                previous = results[stage]["manifest"]
    finally:
        for child_process in (proxy, process):
            if child_process is not None:
                child_process.terminate()
                child_process.wait(timeout=30)
    fetched, due = results["fetch"]["records"], window_records(log_type, records)
    if fetched != due:
        raise SystemExit(f"fetched {fetched:,} records of a window that holds {due:,}")
    return results


TARGET_RATE = 20_000


def record_window(simulator: str, log_type: str) -> tuple[subprocess.Popen, str]:
    """The recording proxy in front of ``simulator``, holding the window's answers (one pull, not timed)."""
    from netskope_provider.api.client import NetskopeClient
    from netskope_provider.log_types import Strategy, get_log_type

    if get_log_type(log_type).strategy is not Strategy.INSERTION_WINDOW:
        raise SystemExit("--recorded replays offset-paged data/* windows only")
    proxy, host = recorded_tenant.start(simulator)
    recording = NetskopeClient(host, lambda refresh: TOKEN, scheme="http", rate_limit_per_second=1000)
    for _page in recording.iter_window_pages(log_type, START, START + SPAN):
        pass
    return proxy, host


def window_records(log_type: str, records: int) -> int:
    """What a pull of the window reads: every record inserted in it; for incident, those that happened in it."""
    from netskope_provider.log_types import Strategy, get_log_type
    from netskope_provider.simulator.records import Corpus

    if get_log_type(log_type).strategy is not Strategy.EVENT_TIME:
        return records
    corpus = Corpus(log_type, records, START, START + SPAN, SEED)
    return sum(START <= corpus.timestamp(i) < START + SPAN for i in range(records))


def report(log_type: str, records: int, results: dict[str, dict], source: str) -> float:
    """Print one window's line (and the end-to-end target's); return its peak RSS (MB) over all stages."""
    parts = "  ".join(
        f"{stage} {result['peak_mb']:5.0f} MB {result['records'] / result['seconds']:>7,.0f}/s"
        f" CPU {result['cpu_seconds'] / result['records'] * 100_000:5.2f} s/100k"
        for stage, result in results.items()
    )
    total = sum(result["seconds"] for result in results.values())
    peak = max(result["peak_mb"] for result in results.values())
    floor = min(result["floor_mb"] for result in results.values())
    print(
        f"{log_type:<14} window {records:>9,} records: peak {peak:5.0f} MB (interpreter alone {floor:.0f} MB)  end to end "
        f"{results['fetch']['records'] / total:>7,.0f} records/s per worker ({total:6.1f} s)  |  {parts}",
        flush=True,
    )
    rate = results["fetch"]["records"] / total
    if log_type == "application":  # the target's log type
        print(
            f"target: one window of {records:,} records end to end >= {TARGET_RATE:,} records/s per worker, {source}: "
            f"{rate:,.0f}: {'met' if rate >= TARGET_RATE else 'NOT met'}",
            flush=True,
        )
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[100_000, 1_000_000], help="window sizes")
    parser.add_argument(
        "--log-type", nargs="+", default=["application"], help="log types, one window each in turn; 'all' for the eight"
    )
    parser.add_argument("--recorded", action="store_true", help="pull the window through the recording proxy")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--staging-base", help=argparse.SUPPRESS)
    parser.add_argument("--handover", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:  # a child: one stage, manifests in and out through the handover file
        handover = Path(args.handover)
        result = run_stage(args.stage, args.log_type[0], args.staging_base, json.loads(handover.read_text()))
        handover.write_text(json.dumps(result))
        return

    from netskope_provider.log_types import LOG_TYPES

    source = "recorded (the worker alone)" if args.recorded else "from the simulator"
    log_types = list(LOG_TYPES) if args.log_type == ["all"] else args.log_type
    print(
        f"one {SPAN // 60}-minute window of each of {', '.join(log_types)}; each stage in a fresh interpreter "
        f"(Airflow imported); delivery to a no-op sink; served {source}",
        flush=True,
    )
    verdicts = {}
    for log_type in log_types:
        peaks = {
            records: report(log_type, records, one_window(log_type, records, recorded=args.recorded), source)
            for records in args.records
        }
        smallest, largest = min(peaks), max(peaks)
        if largest > smallest:
            ratio = peaks[largest] / peaks[smallest]
            verdicts[log_type] = (peaks[largest], ratio)
            print(
                f"{log_type}: peak RSS {peaks[largest]:.0f} MB at {largest:,} records, {peaks[smallest]:.0f} MB at "
                f"{smallest:,}: {ratio:.2f}x",
                flush=True,
            )
    if verdicts:
        met = all(peak < TARGET_MB and ratio <= TARGET_RATIO for peak, ratio in verdicts.values())
        worst_peak = max(verdicts, key=lambda name: verdicts[name][0])
        worst_ratio = max(verdicts, key=lambda name: verdicts[name][1])
        print(
            f"target: peak RSS < {TARGET_MB} MB at {largest:,} records and <= {TARGET_RATIO}x the {smallest:,}-record "
            f"figure, {source}, for {', '.join(verdicts)}: highest {worst_peak} {verdicts[worst_peak][0]:.0f} MB, "
            f"largest ratio {worst_ratio} {verdicts[worst_ratio][1]:.2f}x: {'met' if met else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
