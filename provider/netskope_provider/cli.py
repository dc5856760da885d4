"""``netskope-provider``: put the DAGs in a DAGs folder, and check a Netskope connection from a shell.

``install-dags`` writes the provider's two-statement DAG file (``dag_factory.DAG_FILE``) into the
DAGs folder. ``check`` is the connection test without the UI's button (Airflow 3.3.2's answers
"Bad Request" for every connection type): it prints the hook's own test message, then for each log
type the RBAC v3 permission it needs and whether the token has it (one cheap request per endpoint;
403 means the permission is missing).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from netskope_provider.log_types import LOG_TYPES

if TYPE_CHECKING:
    from netskope_provider.hooks.netskope import NetskopeHook

#: Exit codes of ``check``: every log type readable / a permission missing / the connection itself failed.
CHECK_OK, CHECK_MISSING, CHECK_FAILED = 0, 1, 2


@dataclass(frozen=True)
class Access:
    """What one probe of a log type's endpoint found: ``granted``, ``missing`` (403) or ``error``."""

    log_type: str
    state: str
    detail: str = ""


def probe_log_types(hook: NetskopeHook) -> list[Access]:
    """One request per log type through the hook's client; a 403 is a missing permission, not a failure."""
    from netskope_provider.exceptions import NetskopeError, NetskopePermissionError

    client = hook.get_client()
    found = []
    for name in LOG_TYPES:
        try:
            client.probe(name)
            found.append(Access(name, "granted"))
        except NetskopePermissionError:
            found.append(Access(name, "missing"))
        except NetskopeError as error:
            found.append(Access(name, "error", str(error)))
    return found


def access_table(found: list[Access]) -> str:
    """The log types, their endpoints and permissions, and what the token has, as aligned text."""
    rows = [("log type", "endpoint", "RBAC v3 permission needed", "token has it")]
    label = {"granted": "yes", "missing": "NO (HTTP 403)", "error": "unknown (error below)"}
    rows += [
        (a.log_type, f"/api/v2/{LOG_TYPES[a.log_type].path}", LOG_TYPES[a.log_type].rbac_permission, label[a.state])
        for a in found
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join([*(cell.ljust(w) for cell, w in zip(row[:3], widths)), row[3]]) for row in rows]
    errors: dict[str, list[str]] = {}
    for a in found:
        if a.state == "error":
            errors.setdefault(a.detail, []).append(a.log_type)
    lines += [f"\n{', '.join(names)}: {detail}" for detail, names in errors.items()]
    return "\n".join(lines)


def check(conn_id: str) -> int:
    """Print the connection test and the permission table; return the exit code."""
    from netskope_provider.hooks.netskope import NetskopeHook

    hook = NetskopeHook(netskope_conn_id=conn_id)
    ok, message = hook.test_connection()
    print(f"Connection {conn_id}: {message}\n")
    found = probe_log_types(hook)
    print(access_table(found))
    missing = [a.log_type for a in found if a.state == "missing"]
    if missing:
        print(
            f"\nThe token cannot read {', '.join(missing)}: add the permissions marked NO to the service account's "
            "role (Settings > Administration > Administrators & Roles), or leave those DAGs paused."
        )
    if not ok or any(a.state == "error" for a in found):
        return CHECK_FAILED
    if missing:
        return CHECK_MISSING
    print(f"\nThe token can read all {len(found)} log types.")
    return CHECK_OK


def default_dags_folder() -> Path:
    """Airflow's configured DAGs folder (``[core] dags_folder``)."""
    from airflow.configuration import conf

    return Path(conf.get("core", "dags_folder")).expanduser()


def install_dags(dags_folder: Path | None, force: bool) -> int:
    from netskope_provider.dag_factory import write_dag_file

    folder = dags_folder or default_dags_folder()
    try:
        target = write_dag_file(folder, force=force)
    except FileExistsError as error:
        print(error, file=sys.stderr)
        return 1
    print(
        f"Wrote {target}: the eight Netskope log-type DAGs and the reconciliation DAG, shaped by the NETSKOPE_* "
        "settings (docs/dags.md). Create the pool once: airflow pools set netskope_api 4 'Netskope API calls'"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="netskope-provider", description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    install = commands.add_parser("install-dags", help="write the provider's DAG file into the DAGs folder")
    install.add_argument(
        "--dags-folder", type=Path, default=None, help="target folder (default: Airflow's [core] dags_folder)"
    )
    install.add_argument("--force", action="store_true", help="replace a different file of the same name")
    probe = commands.add_parser("check", help="test a Netskope connection and the token's permission per log type")
    probe.add_argument("--conn-id", default="netskope_default", help="Airflow connection id (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.command == "install-dags":
        return install_dags(args.dags_folder, args.force)
    # Read connections as the `airflow` CLI and the api-server do, the metadata database included: outside
    # a task, Airflow 3's Task SDK otherwise looks only at environment variables and external secrets backends.
    # Set, not defaulted: a "client" inherited from a process Airflow marked (its DAG processor, triggerer and
    # connection test set it in os.environ) would hide the database's connections.
    os.environ["_AIRFLOW_PROCESS_CONTEXT"] = "server"
    return check(args.conn_id)


if __name__ == "__main__":
    sys.exit(main())
