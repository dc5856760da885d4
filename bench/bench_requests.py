"""Benchmark API cost on an hourly schedule: requests and records read per delivered record, per log type.

Prints figures only (no pass/fail). A simulated tenant (its default, realistic mode: incident and
endpoint records carry no insertion time and arrive seconds to hours after they happen) receives
``--per-hour`` records of each log type every hour for ``--hours`` hours. The hourly schedule
runs ``pipeline.fetch`` for each window with the tenant clock a minute past the window end, and
records the incident read cursor as the delivery would (the delivery itself is left out: it sends
no API request). The second half of the hours is measured, once the incident ledger is warm: there,
each hour delivers the records inserted in it, once each, so

    requests per delivered record = requests in the measured windows / records inserted in them

and the minimum is one request per 10,000 records (the API's page); the target is <= 1.1 x that.
Requests are whole, so the figure also comes against the fewest whole pages, ceil(records / 10,000)
per window: what a pull that asked for nothing but full pages would need (the checked pull adds
one count per window, docs/hook.md).

    .venv/bin/python bench/bench_requests.py [--per-hour 100000] [--hours 4] [--log-types incident endpoint]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import tempfile
from contextlib import ExitStack

START = 1_790_006_400  # on the hour
HOUR = 3600
PAGE = 10_000
TARGET = 1.1


def measure(log_type: str, per_hour: int, hours: int, staging_base: str) -> dict[str, float]:
    from netskope_provider import pipeline, read_ledger, staging
    from netskope_provider.simulator import SimulatorConfig, SimulatorServer
    from netskope_provider.windows import Window

    end = START + hours * HOUR
    config = SimulatorConfig(
        seed=20, start=START, end=end, now=START, volume={log_type: per_hour * hours}, iterator_wait_seconds=0
    )
    with ExitStack() as stack:
        sim = stack.enter_context(SimulatorServer(config))
        os.environ["AIRFLOW_CONN_NETSKOPE_DEFAULT"] = json.dumps(
            {
                "conn_type": "netskope",
                "host": sim.host,
                "password": sim.token,
                "extra": {"allow_non_goskope_host": True, "scheme": "http", "rate_limit_per_second": 1000},
            }
        )
        measured_from = START + (hours // 2) * HOUR
        requests = reads = pages = 0
        for start in range(START, end, HOUR):
            window = Window(start, start + HOUR)
            sim.set_now(window.end + 60)
            area = staging.TaskStaging(staging_base, None, f"netskope_{log_type}", f"scheduled__{start}", 1)
            requests_before = sum(sim.stats.requests.values())
            read_before = sim.stats.records_served[log_type]
            fetched = pipeline.fetch(log_type, window, area)
            if fetched["read_marks"]:  # what the delivery records once the window is in CloudWatch
                ledger = read_ledger.store(staging_base, None, area.dag_id)
                read_ledger.record(ledger, fetched["read_marks"])
            if start >= measured_from:
                pages += math.ceil(len(sim.ground_truth(log_type, window.start, window.end)) / PAGE)
                requests += sum(sim.stats.requests.values()) - requests_before
                reads += sim.stats.records_served[log_type] - read_before
        delivered = len(sim.ground_truth(log_type, measured_from, end))
    minimum = delivered / PAGE
    return {
        "delivered": delivered,
        "requests": requests,
        "requests_per_record": requests / delivered,
        "of_minimum": requests / minimum,
        "of_pages": requests / pages,
        "reads_per_record": reads / delivered,
    }


def main() -> None:
    from netskope_provider.log_types import LOG_TYPES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-hour", type=int, default=100_000, help="records of each log type inserted per hour")
    parser.add_argument("--hours", type=int, default=4, help="hours of records; the second half is measured")
    parser.add_argument("--log-types", nargs="+", default=list(LOG_TYPES))
    args = parser.parse_args()
    logging.getLogger("netskope_provider").setLevel(logging.WARNING)  # a line per page would drown the figures
    print(
        f"hourly schedule, {args.per_hour:,} records/hour of each log type, last {args.hours - args.hours // 2} "
        f"of {args.hours} hours measured; minimum = 1 request per {PAGE:,} records, target <= {TARGET} x",
        flush=True,
    )
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="bench-requests-") as scratch:
        os.environ.setdefault("AIRFLOW_HOME", os.path.join(scratch, "airflow"))
        for log_type in args.log_types:
            figures = measure(log_type, args.per_hour, args.hours, f"file://{scratch}/{log_type}")
            worst = max(worst, figures["of_minimum"])
            print(
                f"{log_type:<15} {figures['requests']:>6,} requests for {figures['delivered']:>9,} records: "
                f"{figures['requests_per_record'] * PAGE:6.3f} per {PAGE:,} records = {figures['of_minimum']:5.3f} x "
                f"the minimum, {figures['of_pages']:5.3f} x the whole pages; {figures['reads_per_record']:5.3f} reads "
                "per record",
                flush=True,
            )
    print(f"worst: {worst:.3f} x the minimum (target <= {TARGET} x: {'met' if worst <= TARGET else 'NOT met'})")


if __name__ == "__main__":
    main()
