"""A custom window is checked when the run is triggered: a bad one never becomes a run (issue 17 item 4, 16 item 4).

``airflow dags trigger`` in its own Airflow home, on the serialized DAGs (what the api-server / webserver
and the CLI hold): the trigger form and the REST API go through the same param validation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO

from netskope_provider.compat import AIRFLOW_V_3_0_PLUS

TRIGGERS = """
import json, sys
from airflow.cli import cli_parser
from airflow.models import DagRun
from airflow.utils.session import create_session

parser = cli_parser.get_parser()
for command in (["db", "migrate"], ["dags", "reserialize"]):
    args = parser.parse_args(command)
    args.func(args)
outcome = {}
for hour, (name, conf) in enumerate(json.loads(sys.argv[1]).items()):
    # One logical date each: Airflow 2.11 allows one run per DAG and logical date (here: per second).
    logical_date = f"2026-11-02T{hour:02d}:00:00+00:00"
    args = parser.parse_args(["dags", "trigger", "netskope_audit", sys.argv[2], logical_date, "--conf", json.dumps(conf)])
    try:
        args.func(args)
        outcome[name] = "created"
    except BaseException as error:  # the CLI may also exit
        outcome[name] = f"{type(error).__name__}: {error}"
with create_session() as session:
    runs = [run.conf for run in session.query(DagRun).filter(DagRun.dag_id == "netskope_audit")]
print("OUTCOME " + json.dumps({"triggers": outcome, "runs": runs}))
"""

CONFS = {
    "good": {"window": "2026-11-02T04:00:00Z/2026-11-02T05:00:00Z"},
    "reversed": {"window": "2026-11-02T05:00:00Z/2026-11-02T04:00:00Z"},
    "year 9999": {"window": "9999-01-01T00:00:00Z/9999-01-01T01:00:00Z"},
    "not a window": {"window": "yesterday"},
}


def test_cli_trigger_refuses_a_reversed_window_and_creates_no_run(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")},
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    done = subprocess.run(
        [sys.executable, "-c", TRIGGERS, json.dumps(CONFS), "--logical-date" if AIRFLOW_V_3_0_PLUS else "--exec-date"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("OUTCOME ")]
    outcome = json.loads(line.removeprefix("OUTCOME "))
    assert outcome["triggers"]["good"] == "created"
    assert "the end must be after the start" in outcome["triggers"]["reversed"]
    assert "years 2000-2099" in outcome["triggers"]["year 9999"]
    assert "Invalid input for param window" in outcome["triggers"]["not a window"]
    assert outcome["runs"] == [CONFS["good"]], "only the good window became a run"
