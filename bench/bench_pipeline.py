"""Benchmark one window through the operators: fetch (simulator → staged file), transform, delivery read.

Prints records/s per stage and the staged sizes; no pass/fail. Delivery goes to a no-op sink, so
the figure is the staging read + batching cost, not CloudWatch's.

    .venv/bin/python bench/bench_pipeline.py [--records 100000] [--log-type application]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import datetime, timezone
from types import SimpleNamespace

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-pipeline-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from netskope_provider import cloudwatch, staging  # noqa: E402 - environment first
from netskope_provider.operators.fetch import NetskopeFetchOperator  # noqa: E402
from netskope_provider.operators.transform import NetskopeToOcsfOperator  # noqa: E402
from netskope_provider.simulator import SimulatorConfig, SimulatorServer  # noqa: E402


class NoOpSink:
    """Accepts every PutLogEvents call and keeps nothing."""

    def put_log_events(self, **kwargs: object) -> dict:
        return {}


def timed(label: str, count: int, run):
    started = time.perf_counter()
    result = run()
    elapsed = time.perf_counter() - started
    print(f"{label:<34} {count:>9,} records in {elapsed:7.2f} s = {count / elapsed:>9,.0f} records/s", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--log-type", default="application")
    args = parser.parse_args()

    end = int(time.time()) // 3600 * 3600 - 3600
    start = end - 3600
    base = f"file://{tempfile.mkdtemp(prefix='bench-pipeline-staging-')}"
    config = SimulatorConfig(seed=3, start=start, end=end, volume={args.log_type: args.records})
    with SimulatorServer(config) as sim:
        os.environ["AIRFLOW_CONN_NETSKOPE_DEFAULT"] = json.dumps({
            "conn_type": "netskope", "host": sim.host, "password": sim.token,
            "extra": {"allow_non_goskope_host": True, "scheme": "http", "rate_limit_per_second": 100},
        })
        context = {
            "ti": SimpleNamespace(dag_id=f"netskope_{args.log_type}", run_id="bench", try_number=1),
            "data_interval_start": datetime.fromtimestamp(start, timezone.utc),
            "data_interval_end": datetime.fromtimestamp(end, timezone.utc),
        }
        fetched = timed("fetch (API → raw.ndjson.gz)", args.records, lambda: NetskopeFetchOperator(
            task_id="fetch", log_type=args.log_type, staging_base=base).execute(context))
    mapped = timed("transform (raw → OCSF/raw lines)", args.records, lambda: NetskopeToOcsfOperator(
        task_id="to_ocsf", fetch_manifest=fetched).execute(context))
    events = (staging.decode_event(line) for line in staging.read_lines(staging.staging_path(mapped["events"]["location"])))
    timed("delivery read + batching (no-op sink)", mapped["events"]["records"],
          lambda: cloudwatch.deliver(events, NoOpSink(), "/bench", "bench"))
    print(f"staged raw {fetched['fetched']['bytes']:,} B, events {mapped['events']['bytes']:,} B (gzip); "
          f"OCSF {mapped['ocsf_total']:,} {mapped['ocsf']}, raw {mapped['raw']:,}, rejected {mapped['rejected']:,}")


if __name__ == "__main__":
    main()
