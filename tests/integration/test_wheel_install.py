"""Issue 17 acceptance: the built wheel alone gives a deployment all its DAGs with the README's one step.

Build the wheel (uv build), install it into a fresh virtual environment (the locked versions, from
uv's cache), run ``netskope-provider install-dags`` into an empty DAGs folder, and parse that folder
with a ``DagBag`` in an isolated interpreter whose path holds no checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from netskope_provider.compat import AIRFLOW_V_3_0_PLUS
from netskope_provider.log_types import LOG_TYPES

PARSE = """
import json
import netskope_provider
from netskope_provider.compat import DagBag
bag = DagBag(dag_folder=__import__("os").environ["AIRFLOW__CORE__DAGS_FOLDER"])
print("BAG " + json.dumps({"ids": sorted(bag.dag_ids), "errors": bag.import_errors, "package": netskope_provider.__file__}))
"""


def find_uv() -> str:
    for folder in (Path(sys.executable).parent, REPO / ".venv" / "bin"):
        if (folder / "uv").is_file():
            return str(folder / "uv")
    found = shutil.which("uv")
    if found is None:
        pytest.skip("uv is not installed (make venv installs it into .venv)")
    return found


def run(*command: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(part) for part in command], env=env, cwd=cwd, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_the_wheel_and_the_readme_step_give_every_dag(tmp_path: Path) -> None:
    uv = find_uv()
    build_env = {**os.environ, "NETSKOPE_OCSF_COMPILE": "0"}  # a pure wheel builds in seconds; same DAGs
    run(uv, "build", "--wheel", "--quiet", "--out-dir", tmp_path / "dist", REPO, env=build_env)
    (wheel,) = (tmp_path / "dist").glob("airflow_provider_netskope-*.whl")

    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    run(uv, "venv", "--quiet", "--python", sys.executable, venv)
    locks = (
        ["-c", REPO / "ci" / "constraints-airflow-3.txt"]
        if AIRFLOW_V_3_0_PLUS
        else ["-r", REPO / "ci" / "airflow-2.11.txt", "-c", REPO / "ci" / "constraints-airflow-2.11.txt"]
    )
    run(uv, "pip", "install", "--quiet", "--python", python, wheel, *locks)

    home, dags = tmp_path / "airflow-home", tmp_path / "dags"
    dags.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "PYTHON", "NETSKOPE_", "VIRTUAL_ENV"))
    }
    env |= {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    # The README's install step, with the folder from Airflow's configuration ([core] dags_folder).
    printed = run(venv / "bin" / "netskope-provider", "install-dags", env=env, cwd=tmp_path)
    assert f"Wrote {dags / 'netskope_dags.py'}" in printed
    assert [path.name for path in dags.iterdir()] == ["netskope_dags.py"]

    out = run(python, "-I", "-c", PARSE, env=env, cwd=tmp_path)
    (line,) = [line for line in out.splitlines() if line.startswith("BAG ")]
    bag = json.loads(line.removeprefix("BAG "))
    assert bag["errors"] == {}
    assert bag["ids"] == sorted([*(f"netskope_{name}" for name in LOG_TYPES), "netskope_reconcile"])
    assert Path(bag["package"]).is_relative_to(venv), "the provider came from the wheel, not the checkout"
