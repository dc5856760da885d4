"""Reconcile delivered windows with the tenant, and optionally re-run the windows that fall short."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from netskope_provider import config, reconcile
from netskope_provider.compat import AirflowFailException, AirflowRescheduleException, BaseOperator, Variable
from netskope_provider.log_types import LOG_TYPES, get_log_type
from netskope_provider.operators.fetch import resolve_window

if TYPE_CHECKING:
    from netskope_provider.compat import Context

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def heal_setting(value: object, source: str) -> bool:
    """A heal switch from a param, Variable or env value; anything but a clear yes/no is an error."""
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise AirflowFailException(f"{source}={value!r} is not a boolean; use true or false")


class NetskopeReconcileOperator(BaseOperator):
    """Compare each window's log stream with the tenant's count; report mismatches; heal when asked.

    The period is the run's data interval (or params ``window_start``/``window_end``), cut into
    ``window_seconds`` windows as the log-type DAGs cut them. Healing re-runs fetch -> OCSF ->
    deliver for each window that misses records, with the same operators as the log type's DAG
    (delivery sends only what the stream lacks, so a heal adds each missing record once), then
    checks those windows again. Windows holding *more* than the tenant are reported, never healed:
    removing events means deleting the stream first (see docs/reconcile.md).

    :param log_types: log types to check; ``None`` reads param ``log_types``, else all eight.
    :param heal: re-run short windows; ``None`` reads param ``heal``, then Variable
        ``netskope_reconcile_heal``, then env ``NETSKOPE_RECONCILE_HEAL`` (default off).
    :param window_seconds: window length of the log-type DAGs (hourly by default).
    :param settle_seconds: wait this long after the period closed, so the tenant's counts are final.
    """

    template_fields: Sequence[str] = ("netskope_conn_id", "aws_conn_id", "log_group", "window_start", "window_end")
    ui_color = "#eef7e8"

    def __init__(
        self,
        *,
        log_types: Sequence[str] | None = None,
        heal: bool | None = None,
        window_seconds: int = reconcile.HOUR,
        settle_seconds: int = 0,
        netskope_conn_id: str | None = None,
        aws_conn_id: str | None = None,
        log_group: str | None = None,
        window_start: str | None = None,
        window_end: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.log_types = log_types
        self.heal = heal
        self.window_seconds = window_seconds
        self.settle_seconds = settle_seconds
        self.netskope_conn_id = netskope_conn_id
        self.aws_conn_id = aws_conn_id
        self.log_group = log_group
        self.window_start = window_start
        self.window_end = window_end

    def execute(self, context: Context) -> dict[str, object]:
        from airflow.providers.amazon.aws.hooks.logs import AwsLogsHook

        from netskope_provider.hooks.netskope import NetskopeHook

        start, end = resolve_window(context, self.window_start, self.window_end)
        ready_at = datetime.fromtimestamp(end, tz=timezone.utc) + timedelta(seconds=self.settle_seconds)
        if datetime.now(timezone.utc) < ready_at:
            self.log.info("Period ends at %s; waiting until %s (settle delay) before counting it", end, ready_at)
            raise AirflowRescheduleException(ready_at)
        try:
            periods = reconcile.windows(start, end, self.window_seconds)
        except ValueError as error:
            raise AirflowFailException(str(error)) from None
        heal = self._heal_enabled(context)
        log_types = self._log_types(context)
        logs = AwsLogsHook(aws_conn_id=config.run_setting("aws_conn_id", self.aws_conn_id)).conn
        hook = NetskopeHook(netskope_conn_id=config.run_setting("conn_id", self.netskope_conn_id))
        with hook.get_client() as client:
            checks = self._check(client, logs, {name: periods for name in log_types})
            found = reconcile.mismatches(checks)
            self.log.info("Reconciliation of %d windows x %d log types:\n%s",
                          len(periods), len(log_types), reconcile.format_table(checks))
            healed: list[reconcile.WindowCheck] = []
            short = [check for check in found if check.gap > 0]
            if short and heal:
                for check in short:
                    self._rerun(context, check)
                healed = self._check(client, logs, _by_log_type(short))
                self.log.info("After re-running %d windows:\n%s", len(short), reconcile.format_table(healed))
        surplus = [check for check in found if check.gap < 0]
        remaining = reconcile.mismatches(healed) + surplus if heal else found
        if remaining:
            self.log.warning(
                "%d windows do not match the tenant%s; see the table above and docs/reconcile.md",
                len(remaining), "" if heal else " (healing is off: set param heal or Variable netskope_reconcile_heal)",
            )
        return {
            "period": {"start": start, "end": end},
            "windows": len(checks),
            "mismatches": [check.as_dict() for check in found],
            "healed": [check.as_dict() for check in healed if not check.gap],
            "remaining": [check.as_dict() for check in remaining],
        }

    def _check(self, client: Any, logs: Any, periods: Mapping[str, Sequence[tuple[int, int]]]) -> list[reconcile.WindowCheck]:
        return [
            check
            for log_type, windows in periods.items()
            for check in reconcile.check_log_type(client, logs, config.log_group_for(log_type, self.log_group), log_type, windows)
        ]

    def _log_types(self, context: Context) -> list[str]:
        names = self.log_types or (context.get("params") or {}).get("log_types") or list(LOG_TYPES)
        try:
            return [get_log_type(name).name for name in names]
        except ValueError as error:
            raise AirflowFailException(str(error)) from None

    def _heal_enabled(self, context: Context) -> bool:
        if self.heal is not None:
            return self.heal
        param = (context.get("params") or {}).get("heal")
        if param is not None:
            return heal_setting(param, "param heal")
        variable = Variable.get("netskope_reconcile_heal", None)
        if variable not in (None, ""):
            return heal_setting(variable, "Variable netskope_reconcile_heal")
        return heal_setting(os.environ.get("NETSKOPE_RECONCILE_HEAL", ""), "NETSKOPE_RECONCILE_HEAL")

    def _rerun(self, context: Context, check: reconcile.WindowCheck) -> None:
        """fetch -> to_ocsf -> deliver for one window, staged under the log type's DAG folder."""
        from netskope_provider.operators.cloudwatch import OcsfToCloudWatchLogsOperator
        from netskope_provider.operators.fetch import NetskopeFetchOperator, window_manifest
        from netskope_provider.operators.transform import NetskopeToOcsfOperator

        ti = context["ti"]
        window = window_manifest(check.start, check.end)
        rerun_context = {"ti": SimpleNamespace(
            dag_id=f"netskope_{check.log_type}",
            run_id=f"reconcile__{ti.run_id}__{check.start}",
            try_number=ti.try_number,
        )}
        self.log.info("Re-running %s [%s, %s): %d records missing", check.log_type,
                      window["start_iso"], window["end_iso"], check.gap)
        fetched = NetskopeFetchOperator(
            task_id=f"heal_fetch_{check.log_type}", log_type=check.log_type, netskope_conn_id=self.netskope_conn_id,
            window_start=window["start_iso"], window_end=window["end_iso"],
        ).execute(rerun_context)
        mapped = NetskopeToOcsfOperator(task_id=f"heal_to_ocsf_{check.log_type}", fetch_manifest=fetched).execute(rerun_context)
        OcsfToCloudWatchLogsOperator(
            task_id=f"heal_deliver_{check.log_type}", transform_manifest=mapped, aws_conn_id=self.aws_conn_id,
            log_group=self.log_group,
        ).execute(rerun_context)


def _by_log_type(checks: Sequence[reconcile.WindowCheck]) -> dict[str, list[tuple[int, int]]]:
    grouped: dict[str, list[tuple[int, int]]] = {}
    for check in checks:
        grouped.setdefault(check.log_type, []).append((check.start, check.end))
    return grouped
