"""Real Airflow processes for the integration tests: started here, each in its own process group, stopped by PID.

Used by test_backfill.py (SQLite, LocalExecutor), test_backfill_airflow2.py and test_distributed.py
(PostgreSQL, CeleryExecutor, two workers). Celery workers import :func:`worker_hostname` from this
module (``[core] hostname_callable``), so its top level imports the standard library only.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
#: Environment variable naming a worker for :func:`worker_hostname`.
WORKER_NAME_ENV = "NETSKOPE_TEST_WORKER_NAME"
CLI_BATCH = """
import json, sys
from airflow.cli import cli_parser
parser = cli_parser.get_parser()
for command in json.loads(sys.argv[1]):
    args = parser.parse_args(command)
    args.func(args)
"""


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat()


def worker_hostname() -> str:
    """The host name a worker records on its task instances: two workers on one machine stay apart."""
    return os.environ[WORKER_NAME_ENV]


#: Retries and waits in milliseconds, so tests that provoke them cost the suite little time.
FAST_CLIENT: dict[str, Any] = {
    "rate_limit_per_second": 50,
    "backoff_base_seconds": 0.01,
    "backoff_cap_seconds": 0.05,
    "max_wait_seconds": 0.05,
}


def netskope_connection(simulator: Any, *, with_token: bool = True, **extra: Any) -> str:
    """``AIRFLOW_CONN_NETSKOPE_DEFAULT`` for a simulator (plain HTTP on 127.0.0.1), with ``extra`` added
    to the connection's extras; ``with_token=False`` leaves the password empty (e.g. for ``secret_arn``)."""
    connection: dict[str, Any] = {
        "conn_type": "netskope",
        "host": simulator.host,
        "extra": {"allow_non_goskope_host": True, "scheme": "http", **extra},
    }
    if with_token:
        connection["password"] = simulator.token
    return json.dumps(connection)


def deployment_env(home: Path, simulator: Any, moto_server: Any, settings: dict[str, str]) -> dict[str, str]:
    """The environment of a deployment's processes: an own Airflow home, the project's DAGs, connections to
    the simulator and ``moto_server``, then ``settings`` (``AIRFLOW__*`` / ``NETSKOPE_*``)."""
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_NETSKOPE_DEFAULT": netskope_connection(simulator),
        "AIRFLOW_CONN_AWS_DEFAULT": moto_server.aws_conn_uri_json(),
        **settings,
    }
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    return env


def _group_members(group: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    import psutil

    members = []
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == group and process.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(process.pid)
        except (ProcessLookupError, psutil.Error):
            continue
    return members


def _signal_group(group: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group has already exited
        os.killpg(group, signum)


class Deployment:
    """An isolated Airflow home plus the processes a test starts (and must stop).

    ``database_url`` is the metadata database (the home's SQLite file when not given).
    """

    def __init__(self, home: Path, env: dict[str, str], database_url: str | None = None) -> None:
        self.home = home
        self.env = env
        self.database_url = database_url or f"sqlite:///file:{home / 'airflow.db'}?mode=ro&uri=true"
        self.processes: list[tuple[str, subprocess.Popen]] = []
        #: Every process group started, stopped or not: :meth:`survivors` checks them all.
        self.groups: dict[str, int] = {}

    def cli(self, *commands: list[str]) -> None:
        """Run Airflow CLI commands in order, in one interpreter (each ``airflow`` start costs seconds)."""
        done = subprocess.run(
            [sys.executable, "-c", CLI_BATCH, json.dumps(commands)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode:
            raise AssertionError(f"airflow {commands} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        """Start ``airflow <args>`` in a new session (its own process group), logging to ``<home>/<name>.log``.

        ``env`` adds to the deployment's environment for this process only.
        """
        with open(self.home / f"{name}.log", "ab") as log:  # the child keeps its own descriptor
            process = subprocess.Popen(
                [str(BIN / "airflow"), *args],
                env={**self.env, **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append((name, process))
        self.groups[f"{name} (pid {process.pid})"] = process.pid

    def start_api_server(self, timeout: float = 180.0) -> int:
        """Start the api-server on a port the system picks; return it once it listens.

        The port is read from uvicorn's start-up line and set as the Execution API's URL of every
        process started afterwards (workers call it): a port found free first could be taken by
        another process before the api-server bound it.
        """
        log = self.home / "api-server.log"
        seen = log.stat().st_size if log.exists() else 0  # a restart appends to the same log
        self.start("api-server", "api-server", "--host", "127.0.0.1", "--port", "0")
        process = self.processes[-1][1]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(log, "rb") as lines:
                lines.seek(seen)
                listening = re.search(rb"Uvicorn running on http://127\.0\.0\.1:(\d+)", lines.read())
            if listening:
                port = int(listening.group(1))
                self.env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"http://127.0.0.1:{port}/execution/"
                return port
            if process.poll() is not None:
                raise AssertionError(f"the api-server exited with code {process.returncode}:\n{self.logs()}")
            time.sleep(0.2)
        raise AssertionError(f"the api-server did not listen within {timeout:.0f} s:\n{self.logs()}")

    def stop(self, names: tuple[str, ...] | None = None) -> None:
        """SIGTERM each started process's own group (it includes executors' and workers' children), then SIGKILL.

        ``names`` limits this to those processes (by the name given to :meth:`start`).
        """
        chosen = [(n, p) for n, p in self.processes if names is None or n in names]
        for _, process in chosen:
            _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for _, process in chosen:
            try:
                process.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            while _group_members(process.pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _group_members(process.pid):
                _signal_group(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        self.processes = [(n, p) for n, p in self.processes if (n, p) not in chosen]

    def survivors(self) -> dict[str, list[int]]:
        """Processes still alive in any group this deployment started (empty once all are stopped)."""
        return {name: members for name, group in self.groups.items() if (members := _group_members(group))}

    def query(self, sql: str, **params: object) -> list[tuple]:
        """Rows of ``sql`` (``:name`` parameters) from the metadata database."""
        import sqlalchemy
        from sqlalchemy.pool import NullPool

        engine = sqlalchemy.create_engine(self.database_url, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                return [tuple(row) for row in connection.execute(sqlalchemy.text(sql), params)]
        finally:
            engine.dispose()

    def wait_for_backfills(self, dag_ids: list[str], timeout: float) -> None:
        """Until the newest backfill of each DAG is completed and its runs ended; fail with the states and logs otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            exited = [f"{name} (exit code {p.returncode})" for name, p in self.processes if p.poll() is not None]
            assert not exited, f"{', '.join(exited)} stopped while the backfills ran\n{self.report()}"
            rows = self.query(
                "SELECT b.dag_id, b.completed_at, r.state FROM backfill b LEFT JOIN dag_run r ON r.backfill_id = b.id "
                "WHERE b.id IN (SELECT max(id) FROM backfill GROUP BY dag_id)",
            )
            rows = [row for row in rows if row[0] in dag_ids]
            ended = all(done and state in ("success", "failed") for _, done, state in rows)
            if ended and {dag_id for dag_id, *_ in rows} == set(dag_ids):
                assert [state for *_, state in rows] == ["success"] * len(rows), self.report()
                return
            time.sleep(2)
        raise AssertionError(f"the backfills of {dag_ids} did not finish in {timeout:.0f} s\n{self.report()}")

    def report(self) -> str:
        """Task instances that did not succeed, then the tail of each process log."""
        unfinished = self.query(
            "SELECT dag_id, run_id, task_id, state, hostname, try_number FROM task_instance "
            "WHERE state IS NULL OR state != 'success' ORDER BY dag_id, run_id, task_id",
        )
        table = "\n".join(" ".join(str(value) for value in row) for row in unfinished) or "(none)"
        return f"--- task instances not in success\n{table}\n{self.logs()}"

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(self.home.glob("*.log"))
        )
