"""Map a staged raw file to deliverable OCSF / raw events, with per-class, raw and rejected counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from netskope_provider import staging
from netskope_provider.compat import AirflowFailException, BaseOperator
from netskope_provider.exceptions import PoisonRecordError

if TYPE_CHECKING:
    from netskope_provider.compat import Context

EVENTS_FILE = "events.ndjson.gz"
#: Distinct rejection reasons kept in a manifest; the rest are summed under "other reasons".
MAX_REASONS = 20


def record_time_ms(record: Mapping[str, Any], fallback_seconds: int) -> int:
    """A raw record's CloudWatch timestamp: event time, else insertion time, else the window start."""
    for key in ("timestamp", "_insertion_epoch_timestamp"):
        value: Any = record.get(key)
        try:
            return int(float(value) * 1000)
        except (TypeError, ValueError):
            continue
    return fallback_seconds * 1000


def _bounded(reasons: Counter[str]) -> dict[str, int]:
    top = dict(reasons.most_common(MAX_REASONS))
    rest = sum(reasons.values()) - sum(top.values())
    return {**top, "other reasons": rest} if rest else top


def check_balance(manifest: Mapping[str, Any]) -> None:
    """Fail unless fetched = OCSF + raw + rejected (no record may vanish between stages)."""
    fetched, ocsf, raw, rejected = (manifest[key] for key in ("fetched", "ocsf_total", "raw", "rejected"))
    if fetched != ocsf + raw + rejected:
        raise AirflowFailException(
            f"Counts do not balance for {manifest['log_type']} window {manifest['window']['start_iso']}: "
            f"fetched {fetched} != OCSF {ocsf} + raw {raw} + rejected {rejected}. Records were lost; "
            "clear the whole DAG run to redo it and report the run's logs."
        )


class NetskopeToOcsfOperator(BaseOperator):
    """Turn the fetch task's staged records into deliverable events.

    Each record becomes an OCSF 1.5.0 event (when its class is supported), the raw record unchanged
    (when not), or a rejection kept with its reason in the run's quarantine file. Returns (XCom) a
    manifest with the staged events file and the counts; fails when the counts do not balance.

    :param fetch_manifest: the fetch task's return value (usually ``fetch_task.output``).
    """

    template_fields: Sequence[str] = ("fetch_manifest",)
    ui_color = "#eef7ec"

    def __init__(self, *, fetch_manifest: Mapping[str, Any] | Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fetch_manifest = fetch_manifest

    def execute(self, context: Context) -> dict[str, object]:
        from netskope_provider.ocsf.mapper import MapCounts, Mapped, dumps, map_record
        from netskope_provider.records import decode_record

        fetched = self.fetch_manifest
        log_type, window = fetched["log_type"], fetched["window"]
        base, store_conn = fetched["staging_base"], fetched["staging_conn_id"]
        ti = context["ti"]
        quarantine = staging.Quarantine(
            staging.quarantine_file(
                base,
                ti.dag_id,
                ti.run_id,
                ti.try_number,
                "transform",
                store_conn,
                map_index=getattr(ti, "map_index", -1),
            )
        )
        counts = MapCounts()
        rejected_reasons: Counter[str] = Counter()
        try:
            with staging.LineWriter(staging.task_folder(context, base, store_conn) / EVENTS_FILE) as out:
                for line in staging.read_lines(staging.staging_path(fetched["fetched"]["location"], store_conn)):
                    try:
                        record = decode_record(line)
                    except PoisonRecordError as poison:
                        mapped = Mapped(
                            "rejected", None, None, f"staged record cannot be kept exactly: {poison.reason}"
                        )
                    else:
                        mapped = map_record(record, log_type)
                    counts.add(mapped)
                    if mapped.kind == "ocsf":
                        time_ms = mapped.event.get("time") or record_time_ms(record, window["start"])
                        out.write(staging.encode_event(int(time_ms), dumps(mapped.event)))
                    elif mapped.kind == "raw":
                        out.write(staging.encode_event(record_time_ms(record, window["start"]), line))
                    else:
                        reason = mapped.reason or "rejected by the OCSF mapper"
                        rejected_reasons[reason] += 1
                        quarantine.add(reason, line)
        finally:
            rejected_location = quarantine.close()
        events = out.close()
        manifest: dict[str, object] = {
            "log_type": log_type,
            "tenant": fetched.get("tenant"),
            "window": window,
            "staging_base": base,
            "staging_conn_id": store_conn,
            "fetched": fetched["fetched"]["records"],
            "fetched_location": fetched["fetched"]["location"],
            "ocsf": {str(uid): count for uid, count in sorted(counts.by_class.items())},
            "ocsf_total": counts.ocsf,
            "raw": counts.raw,
            "raw_reasons": _bounded(counts.raw_reasons),
            "rejected": counts.rejected,
            "rejected_reasons": _bounded(rejected_reasons),
            "rejected_location": rejected_location,
            "events": events.as_dict(),
        }
        self.log.info(
            "%s: fetched %d -> OCSF %d %s, raw %d, rejected %d",
            log_type,
            manifest["fetched"],
            counts.ocsf,
            manifest["ocsf"],
            counts.raw,
            counts.rejected,
        )
        if counts.raw_reasons:
            self.log.info("Records kept raw although their class is supported: %s", manifest["raw_reasons"])
        if counts.rejected:
            self.log.warning(
                "%d %s records rejected (%s); kept at %s",
                counts.rejected,
                log_type,
                manifest["rejected_reasons"],
                manifest["rejected_location"],
            )
        check_balance(manifest)
        return manifest
