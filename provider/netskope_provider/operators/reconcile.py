"""Reconcile delivered windows with the tenant, and optionally re-run the windows that fall short."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from netskope_provider import config, delivery, metrics, pipeline, reconciliation, staging
from netskope_provider.compat import AirflowFailException, BaseOperator, Variable
from netskope_provider.config import DagSettings, Tenant
from netskope_provider.exceptions import NetskopeConfigError
from netskope_provider.log_types import LOG_TYPES, Strategy, get_log_type
from netskope_provider.windows import Schedule, Window

if TYPE_CHECKING:
    from netskope_provider.compat import Context


def heal_setting(value: object, source: str) -> bool:
    """A heal switch from a param, Variable or env value; empty is off, anything but a clear yes/no is an error."""
    if value in (None, ""):
        return False
    try:
        return config.parse_bool(value, source)
    except NetskopeConfigError as error:
        raise AirflowFailException(str(error)) from None


class NetskopeReconcileOperator(BaseOperator):
    """Compare each window's log stream with the tenant's count; report mismatches; heal when asked.

    The period is the run's data interval (or params ``window_start``/``window_end``), cut into
    ``window_seconds`` windows as the log-type DAGs cut them. Healing re-runs fetch -> OCSF ->
    deliver (``pipeline.run_window``) for each window that misses records; delivery puts each
    record in its home stream and sends only what that stream lacks, so a heal adds each missing
    record once. Then it checks those windows again. Windows holding *more* than the
    tenant are reported, never healed: removing events means deleting the stream first (see
    docs/reconcile.md).

    :param log_types: log types to check; ``None`` reads param ``log_types``, else all eight.
    :param heal: re-run short windows; ``None`` reads param ``heal``, then Variable
        ``netskope_reconcile_heal``, then env ``NETSKOPE_RECONCILE_HEAL`` (default off).
    :param window_seconds: window length of the log-type DAGs (hourly by default).
    :param settle_seconds: wait this long after the period closed, so the tenant's counts are final.
    :param tenant: the configured tenant (``NETSKOPE_TENANTS``) whose DAGs this checks; a heal stages
        under that tenant's DAG folders. Empty for the single-tenant configuration.
    """

    template_fields: Sequence[str] = ("netskope_conn_id", "aws_conn_id", "log_group", "window_start", "window_end")
    ui_color = "#eef7e8"

    def __init__(
        self,
        *,
        log_types: Sequence[str] | None = None,
        heal: bool | None = None,
        window_seconds: int = reconciliation.HOUR,
        settle_seconds: int = 0,
        netskope_conn_id: str | None = None,
        aws_conn_id: str | None = None,
        log_group: str | None = None,
        window_start: str | None = None,
        window_end: str | None = None,
        tenant: str = "",
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
        self.tenant = tenant

    def execute(self, context: Context) -> dict[str, object]:
        from netskope_provider.hooks.netskope import NetskopeHook

        period = pipeline.run_window_of(context, self.window_start, self.window_end, settle_seconds=self.settle_seconds)
        try:
            periods = reconciliation.windows(period.start, period.end, self.window_seconds)
        except ValueError as error:
            raise AirflowFailException(str(error)) from None
        heal = self._heal_enabled(context)
        log_types = self._log_types(context)
        _, logs, _ = pipeline.logs_clients(self.aws_conn_id)
        hook = NetskopeHook(netskope_conn_id=config.run_setting("conn_id", self.netskope_conn_id))
        with hook.get_client() as client:
            checks = self._check(client, logs, dict.fromkeys(log_types, periods))
            found = reconciliation.mismatches(checks)
            self.log.info(
                "Reconciliation of %d windows x %d log types:\n%s",
                len(periods),
                len(log_types),
                reconciliation.format_table(checks),
            )
            short = [check for check in found if check.gap > 0]
            rerun = [
                check
                for check in short
                if heal and self._heal(context["ti"], logs, check, self._heal_window(client, check, period))
            ]
            healed = self._check(client, logs, _by_log_type(rerun)) if rerun else []
            if healed:
                self.log.info("After re-running %d windows:\n%s", len(rerun), reconciliation.format_table(healed))
            tenant = client.host
        remaining = reconciliation.mismatches(healed) + [check for check in found if check not in rerun]
        if remaining:
            self.log.warning(
                "%d windows do not match the tenant%s; see the table above and docs/reconcile.md",
                len(remaining),
                "" if heal else " (healing is off: set param heal or Variable netskope_reconcile_heal)",
            )
        for log_type in log_types:
            mine = [check for check in remaining if check.log_type == log_type]
            metrics.emit_reconcile(
                tenant,
                log_type,
                mismatched=len(mine),
                missing=sum(check.gap for check in mine if check.gap > 0),
                surplus=sum(-check.gap for check in mine if check.gap < 0),
                healed=sum(1 for check in healed if check.log_type == log_type and not check.gap),
            )
        return {
            "period": {"start": period.start, "end": period.end},
            "windows": len(checks),
            "mismatches": [check.as_dict() for check in found],
            "healed": [check.as_dict() for check in healed if not check.gap],
            "remaining": [check.as_dict() for check in remaining],
        }

    def _check(
        self, client: Any, logs: Any, periods: Mapping[str, Sequence[tuple[int, int]]]
    ) -> list[reconciliation.WindowCheck]:
        return [
            check
            for log_type, windows in periods.items()
            for check in reconciliation.check_log_type(
                client, logs, config.log_group_for(log_type, self.log_group), log_type, windows
            )
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

    @staticmethod
    def _heal_window(client: Any, check: reconciliation.WindowCheck, period: Window) -> Window:
        """What a heal re-runs: the window; for the iterator also the look-back after it, up to the period end.

        An endpoint record is homed by its event time but read by the window of its insertion
        (docs/hook.md), which may come up to ``lookback_seconds`` later.
        """
        if get_log_type(check.log_type).strategy is not Strategy.ITERATOR:
            return Window(check.start, check.end)
        return Window(check.start, max(check.end, min(check.end + client.lookback_seconds, period.end)))

    def _heal(self, ti: Any, logs: Any, check: reconciliation.WindowCheck, window: Window) -> bool:
        """Re-run a short window; False (and a warning) when its records sit in streams of another layout.

        A heal delivers each record into its home stream (the log type's schedule interval), reading
        each back first, so it adds only what is missing there. Streams of an older layout (the
        sub-window or custom-window streams of releases before homes) are not read by it: re-running
        such a window would copy their records again.
        """
        group = config.log_group_for(check.log_type, self.log_group)
        present = reconciliation.streams_within(
            reconciliation.existing_streams(logs, group, check.log_type), check.start, check.end
        )
        homes = Schedule(DagSettings.for_log_type(check.log_type).schedule).intervals(Window(check.start, check.end))
        expected = {delivery.stream_name(check.log_type, home.start, home.end) for home in homes}
        if not set(present) <= expected:
            self.log.warning(
                "Not re-running %s %s: its records sit in streams %s, not in the streams of its schedule's "
                "intervals; re-run those windows by hand (docs/reconcile.md)",
                check.log_type,
                window,
                sorted(set(present) - expected),
            )
            return False
        self.log.info("Re-running %s %s: %d records missing", check.log_type, window, check.gap)
        area = staging.TaskStaging(
            config.staging_base(),
            config.run_setting("staging_conn_id") or None,
            dag_id=Tenant(self.tenant).dag_id(check.log_type),
            run_id=f"reconcile__{ti.run_id}__{window.start}",
            try_number=ti.try_number,
        )
        pipeline.run_window(
            check.log_type,
            window,
            area,
            netskope_conn_id=self.netskope_conn_id,
            aws_conn_id=self.aws_conn_id,
            log_group=self.log_group,
        )
        return True


def _by_log_type(checks: Sequence[reconciliation.WindowCheck]) -> dict[str, list[tuple[int, int]]]:
    grouped: dict[str, list[tuple[int, int]]] = {}
    for check in checks:
        grouped.setdefault(check.log_type, []).append((check.start, check.end))
    return grouped
