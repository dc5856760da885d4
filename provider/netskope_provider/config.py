"""Settings for the Netskope DAGs and operators, read from Airflow Variables or the environment.

Two kinds of settings, read at two different moments:

* **DAG shape** (schedule, settle delay, start date, catchup, retries, ...) is read when the DAG
  file is parsed. Parsing must stay cheap and must not query the metadata database, so these come
  from environment variables only: ``NETSKOPE_<NAME>`` for all eight DAGs, or
  ``NETSKOPE_<NAME>_<LOG_TYPE>`` (e.g. ``NETSKOPE_SCHEDULE_AUDIT``) for one of them.
* **Run settings** (connection ids, log group, staging location, retention, timestamp policy) are
  read inside the task, so they may live in Airflow Variables: Variable ``netskope_<name>`` first,
  then the environment variable ``NETSKOPE_<NAME>``, then the default. An operator argument, when
  given, wins over both.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pendulum
from croniter import CroniterBadCronError, CroniterBadDateError, croniter
from pendulum.parsing.exceptions import ParserError

from netskope_provider.compat import RETRY_EXPONENTIAL_BACKOFF
from netskope_provider.exceptions import NetskopeConfigError

#: Pool that bounds concurrent Netskope API calls across all eight DAGs.
DEFAULT_POOL = "netskope_api"

#: name -> default, for settings read at task run time (Variable ``netskope_<name>`` / env ``NETSKOPE_<NAME>``).
RUN_SETTING_DEFAULTS: dict[str, str] = {
    "conn_id": "netskope_default",
    "aws_conn_id": "aws_default",
    #: ``{log_type}`` is replaced by the log type's name.
    "log_group": "/netskope/ocsf/{log_type}",
    #: Empty means ``file://$AIRFLOW_HOME/netskope-staging``; use ``s3://bucket/prefix`` with several workers.
    "staging_base": "",
    #: Connection for the staging store (e.g. an AWS connection for ``s3://``); empty for local folders.
    "staging_conn_id": "",
    #: KMS key (id, ARN or alias) for S3 staging: SSE-KMS with that key, for buckets whose policy requires
    #: ``aws:kms``. Empty: SSE-S3 (``AES256``). Local staging ignores it.
    "staging_kms_key_id": "",
    #: Hours a successful run's staged files are kept; 0 deletes them as soon as delivery succeeded.
    "staging_retention_hours": "0",
    #: Days of retention given to a log group the provider creates (a CloudWatch retention value, e.g. 30,
    #: 365, 3653); 0 leaves it without one (never expire). An existing group is not changed.
    "log_group_retention_days": "365",
    #: ``cloudwatch.deliver``'s policy for events outside CloudWatch's accepted time range:
    #: ``ingest_time`` (deliver, stamped with the delivery time), ``reject`` (quarantine) or ``fail``.
    "timestamp_policy": "ingest_time",
    #: Seconds to wait before reading a stream back after PutLogEvents calls without an answer
    #: (GetLogEvents is eventually consistent; see docs/delivery.md).
    "verify_wait_seconds": "15",
    #: Seconds a delivery's lease on a log stream lasts after each renewal: a crashed delivery blocks
    #: its streams at most this long (docs/delivery.md). PutLogEvents timeouts are derived from it.
    "lease_seconds": "120",
    #: Seconds a delivery waits for a stream another delivery is writing before its try fails (and retries).
    "lease_wait_seconds": "900",
    #: Longest custom window (``window_start``/``window_end``) a run accepts, in days.
    "max_window_days": "31",
}

#: name -> default, for settings read when the DAG file is parsed (environment only).
DAG_SETTING_DEFAULTS: dict[str, str] = {
    "schedule": "0 * * * *",
    #: Seconds to wait after a window closed before querying it, so late-inserted records are in.
    "settle_seconds": "900",
    "start_date": "2026-01-01T00:00:00+00:00",
    "catchup": "false",
    "retries": "3",
    "retry_delay_seconds": "60",
    "max_retry_delay_seconds": "1800",
    "max_active_runs": "4",
    "pool": DEFAULT_POOL,
    #: Minutes per sub-window; 0 pulls a window in one task, N splits it into N-minute sub-windows pulled in parallel.
    "split_minutes": "0",
}

#: Environment variable naming the tenants (JSON object); unset means one tenant with today's DAG ids.
TENANTS_ENV = "NETSKOPE_TENANTS"
_TENANT_NAME = re.compile(r"^[a-z0-9][a-z0-9_]{0,39}$")
_TENANT_KEYS = {"conn_id", "pool", "log_group"}

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _env_name(name: str, log_type: str | None = None) -> str:
    suffix = f"_{log_type.upper()}" if log_type else ""
    return f"NETSKOPE_{name.upper()}{suffix}"


def dag_setting(name: str, log_type: str) -> str:
    """Return a parse-time setting: per-log-type env var, then global env var, then the default."""
    default = DAG_SETTING_DEFAULTS[name]
    for env in (_env_name(name, log_type), _env_name(name)):
        value = os.environ.get(env, "").strip()
        if value:
            return value
    return default


def parse_bool(value: object, source: str) -> bool:
    """A yes/no setting (a bool, or ``true``/``false``, ``1``/``0``, ``yes``/``no``, ``on``/``off``).

    Anything else is a ``NetskopeConfigError`` (a ``ValueError``) naming ``source``.
    """
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise NetskopeConfigError(f"{source}={value!r} is not a boolean: it must be true or false")


def _parse_cron(value: str, source: str) -> str:
    try:
        croniter(value)
    except (CroniterBadCronError, CroniterBadDateError, ValueError) as error:
        raise ValueError(f"{source}={value!r} is not a cron expression ({error}); hourly is '0 * * * *'") from None
    return value


def _parse_int(value: str, source: str, minimum: int = 0) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{source}={value!r} is not a whole number") from None
    if number < minimum:
        raise ValueError(f"{source}={number} must be at least {minimum}")
    return number


@dataclass(frozen=True)
class DagSettings:
    """The shape of one log type's DAG."""

    schedule: str
    settle: timedelta
    start_date: pendulum.DateTime
    catchup: bool
    retries: int
    retry_delay: timedelta
    max_retry_delay: timedelta
    max_active_runs: int
    pool: str
    split: timedelta | None

    @classmethod
    def for_log_type(cls, log_type: str) -> DagSettings:
        """Read the settings of ``log_type``'s DAG from the environment; bad values fail the DAG import."""

        def read(name: str) -> tuple[str, str]:
            return dag_setting(name, log_type), f"{_env_name(name)}[_{log_type.upper()}]"

        start_raw, start_src = read("start_date")
        try:
            start_date = pendulum.parse(start_raw, tz="UTC")
        except (ValueError, ParserError):
            raise ValueError(f"{start_src}={start_raw!r} is not an ISO-8601 date") from None
        if not isinstance(start_date, pendulum.DateTime):  # a bare time or a duration parses too
            raise ValueError(f"{start_src}={start_raw!r} is not an ISO-8601 date (e.g. 2026-01-01)")
        return cls(
            schedule=_parse_cron(*read("schedule")),
            settle=timedelta(seconds=_parse_int(*read("settle_seconds"))),
            start_date=start_date,
            catchup=parse_bool(*read("catchup")),
            retries=_parse_int(*read("retries")),
            retry_delay=timedelta(seconds=_parse_int(*read("retry_delay_seconds"), minimum=1)),
            max_retry_delay=timedelta(seconds=_parse_int(*read("max_retry_delay_seconds"), minimum=1)),
            max_active_runs=_parse_int(*read("max_active_runs"), minimum=1),
            pool=read("pool")[0],
            split=timedelta(minutes=_parse_int(*read("split_minutes"))) or None,
        )

    @property
    def default_args(self) -> dict[str, object]:
        """Every task's retry arguments: the configured count and delays, doubling between tries."""
        return {
            "retries": self.retries,
            "retry_delay": self.retry_delay,
            "retry_exponential_backoff": RETRY_EXPONENTIAL_BACKOFF,
            "max_retry_delay": self.max_retry_delay,
        }


@dataclass(frozen=True)
class Tenant:
    """One Netskope tenant: its own eight DAGs, connection, API pool and log groups.

    The unnamed tenant (``name == ""``) is the single-tenant configuration: DAG ids ``netskope_<log_type>``
    and connection, pool and log group from the ordinary settings.
    """

    name: str = ""
    conn_id: str | None = None
    pool: str | None = None
    log_group: str | None = None

    def dag_id(self, log_type: str) -> str:
        return f"netskope_{self.name}_{log_type}" if self.name else f"netskope_{log_type}"

    @property
    def tags(self) -> list[str]:
        """DAG tags that name the tenant (none for the single tenant), to filter one tenant's DAGs in the UI."""
        return [f"tenant:{self.name}"] if self.name else []

    @property
    def doc_suffix(self) -> str:
        """What a DAG's doc heading adds to say whose DAG it is."""
        return f" (tenant `{self.name}`, connection `{self.conn_id}`)" if self.name else ""


def tenants() -> list[Tenant]:
    """The configured tenants, from env ``NETSKOPE_TENANTS`` (read at parse time; no database query).

    ``{"acme": {"conn_id": "netskope_acme"}, "globex": {}}`` gives each tenant the connection
    ``netskope_<tenant>`` (unless set), the pool ``netskope_api_<tenant>`` and the log groups
    ``/netskope/<tenant>/ocsf/{log_type}``, so tenants never share a stream or a rate budget.
    """
    raw = os.environ.get(TENANTS_ENV, "").strip()
    if not raw:
        return [Tenant()]
    help_text = f'{TENANTS_ENV} must be a JSON object like {{"acme": {{"conn_id": "netskope_acme"}}, "globex": {{}}}}'
    try:
        configured = json.loads(raw)
    except ValueError as error:
        raise ValueError(f"{help_text}; it is not JSON ({error})") from None
    if not isinstance(configured, dict) or not configured:
        raise ValueError(f"{help_text}; it is not a non-empty object")
    result = []
    for name, options in configured.items():
        if not _TENANT_NAME.match(name):
            raise ValueError(
                f"{TENANTS_ENV}: tenant name {name!r} must be 1-40 of a-z, 0-9 and _, starting with a letter or digit"
            )
        if not isinstance(options, dict) or not set(options) <= _TENANT_KEYS:
            raise ValueError(f"{TENANTS_ENV}: tenant {name!r} takes an object with keys among {sorted(_TENANT_KEYS)}")
        if not all(isinstance(value, str) and value for value in options.values()):
            raise ValueError(f"{TENANTS_ENV}: tenant {name!r}: every option must be a non-empty string")
        result.append(
            Tenant(
                name=name,
                conn_id=options.get("conn_id", f"netskope_{name}"),
                pool=options.get("pool", f"{DEFAULT_POOL}_{name}"),
                log_group=options.get("log_group", f"/netskope/{name}/ocsf/{{log_type}}"),
            )
        )
    return result


def run_setting(name: str, override: str | None = None) -> str:
    """Return a run-time setting: explicit ``override``, Variable ``netskope_<name>``, env ``NETSKOPE_<NAME>``, default.

    Call this inside a task only: it may ask the Airflow API for the Variable.
    """
    if override not in (None, ""):
        return str(override)
    from netskope_provider.compat import Variable

    value = Variable.get(
        f"netskope_{name}", None
    )  # positional: the keyword is "default" on Airflow 3, "default_var" on 2.x
    if value in (None, ""):
        value = os.environ.get(_env_name(name), "")
    return str(value).strip() or RUN_SETTING_DEFAULTS[name]


def staging_base(override: str | None = None) -> str:
    """The staging location; when none is configured, ``$AIRFLOW_HOME/netskope-staging`` on local disk."""
    configured = run_setting("staging_base", override)
    if configured:
        return configured
    home = os.environ.get("AIRFLOW_HOME") or str(Path.home() / "airflow")
    return f"file://{Path(home).resolve() / 'netskope-staging'}"


def _run_value(name: str, override: str | int | float | None, parse: Callable[[str, str], T]) -> T:
    """Read run setting ``name`` and ``parse`` it; a bad value is a ``NetskopeConfigError`` saying where to set it."""
    raw = run_setting(name, None if override is None else str(override))
    try:
        return parse(raw, f"netskope_{name}")
    except ValueError as error:
        source = (
            "the operator's argument"
            if override not in (None, "")
            else f"Airflow Variable netskope_{name} or environment variable {_env_name(name)}"
        )
        raise NetskopeConfigError(f"{error}; fix {source} (default {RUN_SETTING_DEFAULTS[name]})") from None


def _seconds_up_to_600(raw: str, source: str) -> float:
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"{source}={raw!r} is not a number of seconds") from None
    if not 0 <= seconds <= 600:
        raise ValueError(f"{source}={seconds} must be between 0 and 600")
    return seconds


def _at_least(minimum: int) -> Callable[[str, str], int]:
    return lambda raw, source: _parse_int(raw, source, minimum)


def staging_retention(override: str | int | None = None) -> timedelta:
    """How long a successful run's staged files are kept."""
    return timedelta(hours=_run_value("staging_retention_hours", override, _parse_int))


def verify_wait_seconds(override: str | float | None = None) -> float:
    """Seconds to wait before reading a stream back after puts without an answer."""
    return _run_value("verify_wait_seconds", override, _seconds_up_to_600)


def lease_seconds(override: str | int | None = None) -> int:
    """How long a stream lease lasts after each renewal."""
    return _run_value("lease_seconds", override, _at_least(4))


def lease_wait_seconds(override: str | int | None = None) -> int:
    """How long a delivery waits for a busy stream."""
    return _run_value("lease_wait_seconds", override, _parse_int)


def max_window_days(override: str | int | None = None) -> int:
    """The longest custom window a run accepts, in days."""
    return _run_value("max_window_days", override, _at_least(1))


def timestamp_policy(override: str | None = None) -> str:
    """What delivery does with events outside CloudWatch's time range: ``ingest_time``, ``reject`` or ``fail``."""
    from netskope_provider.delivery import TIMESTAMP_POLICIES

    def known(raw: str, source: str) -> str:
        if raw not in TIMESTAMP_POLICIES:
            raise ValueError(f"{source}={raw!r} is not a timestamp policy: use one of {', '.join(TIMESTAMP_POLICIES)}")
        return raw

    return _run_value("timestamp_policy", override, known)


def check_run_settings() -> None:
    """Read every run setting a later task of the run reads, so a bad one fails the run's first task.

    Nothing has been pulled or sent by then. The operators' arguments, which win over these
    settings, are checked where they are used (each before its task's first request).
    """
    staging_retention()
    verify_wait_seconds()
    lease_seconds()
    lease_wait_seconds()
    max_window_days()
    log_group_retention_days()
    timestamp_policy()


def log_group_for(log_type: str, override: str | None = None) -> str:
    """The CloudWatch log group a log type is delivered to (``{log_type}`` is filled in)."""
    return run_setting("log_group", override).replace("{log_type}", log_type)


def log_group_retention_days(override: str | int | None = None) -> int | None:
    """Retention in days for a log group the provider creates; None (setting 0) for never expire."""
    return _run_value("log_group_retention_days", override, _parse_int) or None
