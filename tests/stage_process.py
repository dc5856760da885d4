"""Run one pipeline stage in this interpreter, as a separate worker would: ``python tests/stage_process.py deliver
<manifest.json> <dag_id> <run_id> <try_number>``. Prints the stage's result as JSON on the last line.

Settings and connections come from the environment the test hands over (``NETSKOPE_*``, ``AIRFLOW_CONN_*``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from netskope_provider import config, pipeline, staging


def main(stage: str, manifest_file: str, dag_id: str, run_id: str, try_number: str) -> None:
    manifest = json.loads(Path(manifest_file).read_text())
    area = staging.TaskStaging(manifest["staging_base"], manifest["staging_conn_id"], dag_id, run_id, int(try_number))
    if stage != "deliver":
        raise SystemExit(f"unknown stage {stage!r}")
    result = pipeline.deliver(manifest, area, aws_conn_id=config.run_setting("aws_conn_id"))
    print(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:])
