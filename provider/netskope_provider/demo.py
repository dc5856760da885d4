"""``make demo``: run every log type's DAG once against a simulated tenant and a local CloudWatch, then check.

Starts the Netskope simulator and ``moto_server`` on 127.0.0.1, runs each DAG with ``dag.test()`` for
the same closed hour, reads every log stream back and compares it with the simulator's ground
truth, prints a table per log type and one OCSF event, and exits non-zero when anything is missing
or extra. Every process it starts is stopped on the way out. The Airflow home is ``.airflow-demo``
in the current directory (recreated on each run), so task logs can be read afterwards.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from netskope_provider.log_types import LOG_TYPES

HOUR = 3600
DEMO_HOME = Path.cwd() / ".airflow-demo"


@dataclass
class Outcome:
    """What one DAG run did, and what CloudWatch holds afterwards."""

    log_type: str
    state: str
    summary: dict[str, Any] = field(default_factory=dict)
    expected: int = 0
    missing: int = 0
    extra: int = 0
    sample: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.state == "success" and self.expected > 0 and not self.missing and not self.extra


#: moto's start-up line, which names the port the system gave it.
_LISTENING = re.compile(rb"Running on http://127\.0\.0\.1:(\d+)")


@contextmanager
def moto_server(timeout: float = 60.0) -> Iterator[str]:
    """A ``moto_server`` process on a loopback port; yields its URL and always stops it.

    moto binds a port the system picks (``-p 0``) and says which: a port found free beforehand could
    be taken by another process before moto binds it, and the caller would then talk to that one.
    """
    executable = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
    process = subprocess.Popen(
        [executable, "-H", "127.0.0.1", "-p", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        yield f"http://127.0.0.1:{_listening_port(process, timeout)}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _listening_port(process: subprocess.Popen[bytes], timeout: float) -> int:
    """The port moto's start-up line names; a thread then drains its log so moto never blocks writing it."""
    found: queue.Queue[int | None] = queue.Queue()

    def read_log() -> None:
        waiting = True
        for line in process.stderr or ():
            listening = _LISTENING.search(line) if waiting else None
            if listening:
                found.put(int(listening.group(1)))
                waiting = False
        if waiting:
            found.put(None)  # the process ended before it listened

    threading.Thread(target=read_log, name="moto-server-log", daemon=True).start()
    try:
        port = found.get(timeout=timeout)
    except queue.Empty:
        raise RuntimeError(f"moto_server did not listen on 127.0.0.1 within {timeout:.0f} s") from None
    if port is None:
        raise RuntimeError(f"moto_server exited with code {process.wait()}; is moto[server] installed in .venv?")
    return port


def _prepare_environment(dags_folder: Path) -> None:
    """Isolated Airflow home and fake AWS credentials; must run before Airflow is imported."""
    shutil.rmtree(DEMO_HOME, ignore_errors=True)
    DEMO_HOME.mkdir(mode=0o700)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(DEMO_HOME),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
            "AWS_ACCESS_KEY_ID": "demo-access-key",
            "AWS_SECRET_ACCESS_KEY": "demo-secret-key",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    for name in [
        *(n for n in os.environ if n.startswith(("NETSKOPE_", "AIRFLOW_VAR_NETSKOPE_"))),
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_PROFILE",
    ]:
        os.environ.pop(name, None)  # the demo uses its own settings, whatever the shell has
    os.environ["NETSKOPE_STAGING_BASE"] = f"file://{DEMO_HOME / 'staging'}"


def _iso(epoch: int) -> str:
    return f"{datetime.fromtimestamp(epoch, UTC):%Y-%m-%dT%H:%M:%SZ}"


def say(message: str) -> None:
    """One progress line, at once (the demo's phases take seconds each)."""
    print(message, flush=True)


def canonical(document: object) -> bytes:
    """One JSON document as comparable bytes (sorted keys, exact integers)."""
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def expected_messages(sim: Any, log_type: str, start: int, end: int) -> Counter[bytes]:
    """What the streams of ``[start, end)`` must hold: each record homed there as OCSF, or raw when it has no class.

    ``data/*`` records are homed by insertion time; incident and endpoint records by event time, in
    the shape their endpoints serve them (no insertion time).
    """
    from netskope_provider.log_types import Strategy, get_log_type

    strategy = get_log_type(log_type).strategy
    if strategy is Strategy.INSERTION_WINDOW:
        records = sim.ground_truth(log_type, start, end)
    else:
        served = "datasearch" if strategy is Strategy.EVENT_TIME else "dataexport"
        records = sim.ground_truth(log_type, start, end, by="event", served_by=served)
    return mapped_messages(records, log_type)


def mapped_messages(records: Iterable[Any], log_type: str) -> Counter[bytes]:
    """Each record as the message CloudWatch holds for it: its OCSF event, or itself when it has no class."""
    from netskope_provider.ocsf import map_record

    messages: Counter[bytes] = Counter()
    for record in records:
        mapped = map_record(record, log_type)
        messages[canonical(mapped.event if mapped.kind == "ocsf" else record)] += 1
    return messages


def stream_documents(logs: Any, log_type: str, start: int, end: int, log_group: str | None = None) -> list[Any]:
    """Every message of a window's log stream, parsed; empty when the stream does not exist."""
    from netskope_provider import delivery
    from netskope_provider.exceptions import CloudWatchDeliveryError

    group = log_group or f"/netskope/ocsf/{log_type}"
    try:
        return [
            orjson.loads(m) for _, m in delivery.read_stream(logs, group, delivery.stream_name(log_type, start, end))
        ]
    except CloudWatchDeliveryError:
        return []


def _deliver_result(dag_run: Any) -> dict[str, Any]:
    from netskope_provider.compat import task_return_value

    return task_return_value(dag_run, "deliver") or {}


def _check(log_type: str, sim: Any, logs: Any, start: int, end: int, outcome: Outcome) -> None:
    """Compare the log stream with the simulator's ground truth mapped to OCSF / raw."""
    expected = expected_messages(sim, log_type, start, end)
    documents = stream_documents(logs, log_type, start, end)
    held = Counter(canonical(document) for document in documents)
    outcome.sample = next((d for d in documents if isinstance(d, dict) and "class_uid" in d and "metadata" in d), None)
    outcome.expected = sum(expected.values())
    outcome.missing = sum((expected - held).values())
    outcome.extra = sum((held - expected).values())


def _print_report(outcomes: list[Outcome], start: int, end: int) -> None:
    from netskope_provider.ocsf import IMPLEMENTATION
    from netskope_provider.ocsf.routing import class_names

    say(f"\nNetskope → OCSF 1.5.0 → CloudWatch Logs, window {_iso(start)}/{_iso(end)} (mapping: {IMPLEMENTATION})\n")
    header = f"{'log type':<15}{'fetched':>8}{'OCSF':>7}{'raw':>6}{'rejected':>9}{'delivered':>10}{'in CW':>7}  {'check':<7} OCSF per class"
    say(header)
    say("-" * len(header))
    totals: Counter[str] = Counter()
    names = class_names()
    for o in outcomes:
        s = o.summary
        per_class = ", ".join(f"{uid} {names.get(int(uid), '?')}: {n}" for uid, n in s.get("ocsf", {}).items()) or "-"
        check = "ok" if o.ok else (o.state if o.state != "success" else f"-{o.missing}/+{o.extra}")
        held = o.expected - o.missing + o.extra
        totals.update({key: int(s.get(key, 0)) for key in ("fetched", "ocsf_total", "raw", "rejected", "delivered")})
        totals["held"] += held
        say(
            f"{o.log_type:<15}{s.get('fetched', '-'):>8}{s.get('ocsf_total', '-'):>7}{s.get('raw', '-'):>6}"
            f"{s.get('rejected', '-'):>9}{s.get('delivered', '-'):>10}{held:>7}  {check:<7} {per_class}"
        )
    say("-" * len(header))
    passed = sum(o.ok for o in outcomes)
    say(
        f"{'total':<15}{totals['fetched']:>8}{totals['ocsf_total']:>7}{totals['raw']:>6}{totals['rejected']:>9}"
        f"{totals['delivered']:>10}{totals['held']:>7}  {f'{passed}/{len(outcomes)} ok':<7}"
    )
    say(
        "'in CW': the window's own log stream. Incident and endpoint records go to the stream of their event "
        "time, so some records fetched here live in the previous hour's stream (docs/hook.md)."
    )
    sample = next((o.sample for o in outcomes if o.sample and o.log_type == "audit"), None) or next(
        (o.sample for o in outcomes if o.sample), None
    )
    if sample is not None:
        say(f"\nOne OCSF event ({sample.get('class_name')}, class_uid {sample.get('class_uid')}):")
        say(json.dumps(sample, indent=2, sort_keys=True))


def main() -> int:
    dags_folder = DEMO_HOME / "dags"
    _prepare_environment(dags_folder)
    say("[1/5] Loading Airflow and the provider ...")
    from netskope_provider.dag_factory import write_dag_file
    from netskope_provider.simulator import SimulatorConfig, SimulatorServer

    write_dag_file(dags_folder)  # the README's install step: `netskope-provider install-dags`
    end = int(time.time()) // HOUR * HOUR - HOUR
    start = end - HOUR
    say("[2/5] Starting a simulated Netskope tenant and moto_server (local CloudWatch Logs) on 127.0.0.1 ...")
    config = SimulatorConfig(seed=2026, start=start, end=end)
    with moto_server() as aws_url, SimulatorServer(config) as sim:
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(
            {
                "conn_type": "aws",
                "login": "demo-access-key",
                "password": "demo-secret-key",
                "extra": {"region_name": "us-east-1", "endpoint_url": aws_url},
            }
        )
        os.environ["AIRFLOW_CONN_NETSKOPE_DEFAULT"] = json.dumps(
            {
                "conn_type": "netskope",
                "host": sim.host,
                "password": sim.token,
                "extra": {"allow_non_goskope_host": True, "scheme": "http"},
            }
        )
        say(f"      simulator up on {sim.url}, moto_server on {aws_url}")

        import boto3
        from airflow.models.pool import Pool
        from airflow.utils import db

        from netskope_provider.compat import DagBag, dag_test

        say(f"[3/5] Creating the Airflow metadata database in {DEMO_HOME} and parsing {dags_folder} ...")
        db.resetdb()
        Pool.create_or_update_pool("netskope_api", slots=4, description="Netskope API calls", include_deferred=False)
        bag = DagBag(dag_folder=str(dags_folder))
        if bag.import_errors:
            print(f"DAG import errors: {bag.import_errors}", file=sys.stderr)
            return 1
        logs = boto3.client("logs", endpoint_url=aws_url, region_name="us-east-1")
        say(f"[4/5] Running the eight DAGs for the window {_iso(start)}/{_iso(end)} (dag.test(), one after another):")
        outcomes = []
        for number, log_type in enumerate(LOG_TYPES, 1):
            began = time.monotonic()
            say(f"      ({number}/{len(LOG_TYPES)}) netskope_{log_type:<15} running ...")
            dag_run = dag_test(bag.dags[f"netskope_{log_type}"], datetime.fromtimestamp(end, UTC))
            outcome = Outcome(log_type, str(dag_run.state), _deliver_result(dag_run))
            _check(log_type, sim, logs, start, end, outcome)
            outcomes.append(outcome)
            summary = outcome.summary
            say(
                f"      ({number}/{len(LOG_TYPES)}) netskope_{log_type:<15} {outcome.state}: fetched "
                f"{summary.get('fetched', 0)}, delivered {summary.get('delivered', 0)} "
                f"(OCSF {summary.get('ocsf_total', 0)}, raw {summary.get('raw', 0)}) "
                f"in {time.monotonic() - began:.1f} s"
            )
        say("[5/5] Every log stream was read back and compared with the tenant's own records:")
    _print_report(outcomes, start, end)
    failed = [o.log_type for o in outcomes if not o.ok]
    if failed:
        print(f"\nFAILED: {', '.join(failed)} (task logs under {DEMO_HOME / 'logs'})", file=sys.stderr)
        return 1
    say(f"\nAll {len(outcomes)} log types delivered exactly (OCSF + raw), counts balance.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
