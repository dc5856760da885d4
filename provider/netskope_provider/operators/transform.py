"""Map a staged raw file to deliverable OCSF / raw events, with per-class, raw and rejected counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from netskope_provider import staging

if TYPE_CHECKING:
    from airflow.sdk import Context

EVENTS_FILE = "events.ndjson.gz"
#: Distinct rejection reasons kept in a manifest; the rest are summed under "other reasons".
MAX_REASONS = 20


def record_time_ms(record: Mapping[str, Any], fallback_seconds: int) -> int:
    """A raw record's CloudWatch timestamp: event time, else insertion time, else the window start."""
    for key in ("timestamp", "_insertion_epoch_timestamp"):
        value = record.get(key)
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
        from netskope_provider.ocsf import map_record

        fetched = self.fetch_manifest
        log_type, window = fetched["log_type"], fetched["window"]
        base, store_conn = fetched["staging_base"], fetched["staging_conn_id"]
        ti = context["ti"]
        quarantine = staging.Quarantine(
            staging.quarantine_file(base, ti.dag_id, ti.run_id, ti.try_number, "transform", store_conn)
        )
        classes: Counter[int] = Counter()
        reasons: Counter[str] = Counter()
        read = raw = 0
        with staging.LineWriter(staging.task_folder(context, base, store_conn) / EVENTS_FILE) as out:
            for line in staging.read_lines(staging.staging_path(fetched["fetched"]["location"], store_conn)):
                read += 1
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError as error:
                    reason = f"staged line is not JSON: {error}"
                else:
                    mapped = map_record(record, log_type)
                    if mapped.kind == "ocsf":
                        classes[mapped.class_uid] += 1
                        time_ms = mapped.event.get("time") or record_time_ms(record, window["start"])
                        out.write(staging.encode_event(int(time_ms), orjson.dumps(mapped.event)))
                        continue
                    if mapped.kind == "raw":
                        raw += 1
                        out.write(staging.encode_event(record_time_ms(record, window["start"]), line))
                        continue
                    reason = mapped.reason or "rejected by the OCSF mapper"
                reasons[reason] += 1
                quarantine.add(reason, line)
        events = out.close()
        manifest: dict[str, object] = {
            "log_type": log_type,
            "window": window,
            "staging_base": base,
            "staging_conn_id": store_conn,
            "fetched": fetched["fetched"]["records"],
            "ocsf": {str(uid): count for uid, count in sorted(classes.items())},
            "ocsf_total": sum(classes.values()),
            "raw": raw,
            "rejected": quarantine.count,
            "rejected_reasons": _bounded(reasons),
            "rejected_location": quarantine.close(),
            "events": events.as_dict(),
        }
        self.log.info(
            "%s: fetched %d -> OCSF %d %s, raw %d, rejected %d", log_type, manifest["fetched"],
            manifest["ocsf_total"], manifest["ocsf"], raw, quarantine.count,
        )
        if read != manifest["fetched"]:
            raise AirflowFailException(
                f"Staged file holds {read} records but the fetch task staged {manifest['fetched']}; "
                "clear the whole DAG run so the window is fetched again"
            )
        if quarantine.count:
            self.log.warning("%d %s records rejected (%s); kept at %s", quarantine.count, log_type,
                             manifest["rejected_reasons"], manifest["rejected_location"])
        check_balance(manifest)
        return manifest
