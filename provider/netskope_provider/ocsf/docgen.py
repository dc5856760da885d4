"""Generate ``docs/mapping.md`` from the code: routing lists, each class's MAPPED_FIELDS and ENUMS.

The document is rendered from the same tables the mappers run on, and a test compares the
committed file with ``render()``, so the published mapping cannot drift from the code.

    python -m netskope_provider.ocsf.docgen            # print
    python -m netskope_provider.ocsf.docgen -o docs/mapping.md
    python -m netskope_provider.ocsf.docgen --check docs/mapping.md   # exit 1 when stale
"""

from __future__ import annotations

import argparse
import ast
import inspect
import sys
from collections.abc import Sequence
from importlib import import_module
from pathlib import Path
from types import ModuleType

from netskope_provider.ocsf import cli, common, routing
from netskope_provider.registry import CLASSES, KIND_CLASSES, LOG_TYPE_KINDS

DOC_PATH = Path("docs") / "mapping.md"

#: Why ``severity_level`` numbers descend (``common.SEVERITY_LEVELS``): the sources, for the docs.
SEVERITY_LEVEL_SOURCES = """\
Netskope's scale descends, unlike OCSF's ids, so these numbers are not read as OCSF ids:

* Netskope's Audit Log documentation lists its severity levels as High, Medium, Low, Info
  (<https://docs.netskope.com/en/netskope-help/admin-console/administration/audit-log/>).
* Netskope's field dictionary describes `severity_level` as "High / Med / Low"
  (netskopeoss/Data-Schema, `schema/event_schema.json`, commit a4517ae).
* A published parser reads audit `severity_level` 1 as High, 2 as Medium, 3 as Low
  (SEKOIA-IO/intake-formats pull request 1424, Netskope `parser.yml`).
* Netskope's published audit records agree: Login Failed, Edit admin record and Password Change
  Successful carry 1; Login Successful, Logout Successful and Deleted inline policy carry 2
  (SEKOIA-IO/intake-formats, `Netskope/netskope_events/tests`).

4 (Info) is inferred from the Audit Log's fourth level; no published record carries it. Any other
number is severity_id 0 Unknown and stays under `unmapped`. Words (malsite alerts: `high`, `med`,
`low`) are read as in the table above.""".splitlines()


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: tuple[str, str], rows: Sequence[tuple[object, object]]) -> list[str]:
    lines = [f"| {header[0]} | {header[1]} |", "|---|---|"]
    lines += [f"| {_cell(left)} | {_cell(right)} |" for left, right in rows]
    return lines + [""]


def _docstring(module: ModuleType) -> list[str]:
    """The module's docstring, read from its source (compiled modules carry no ``__doc__``)."""
    source = Path(module.__file__ or "").with_name(f"{module.__name__.rpartition('.')[2]}.py")
    return [inspect.cleandoc(ast.get_docstring(ast.parse(source.read_text(encoding="utf-8"))) or ""), ""]


def _routing() -> list[str]:
    lists = (
        ("Application `activity` → Authentication 3002", routing.APPLICATION_AUTHENTICATION_ACTIVITIES),
        ("Audit `audit_log_event` → Authentication 3002", routing.AUDIT_AUTHENTICATION_EVENTS),
        ("Audit `audit_log_event` → Entity Management 3004", routing.AUDIT_ENTITY_MANAGEMENT_EVENTS),
        ("Audit `audit_log_event` → Account Change 3001", routing.AUDIT_ACCOUNT_CHANGE_EVENTS),
        ("Network `action` → Network Activity 4001", routing.NETWORK_ACTIONS),
        ("`alert_type` with `alert` = yes → Detection Finding 2004", routing.DETECTION_ALERT_TYPES),
        ("Application `activity` with `alert` = no → File Hosting Activity 6006", routing.FILE_HOSTING_ACTIVITIES),
    )
    lines = ["## Routing", "", *_docstring(routing)]
    lines += ["Log type → kind used when a record has no `record_type`:", ""]
    lines += _table(("log type", "kind"), [(f"`{k}`", f"`{v}`") for k, v in LOG_TYPE_KINDS.items()])
    if KIND_CLASSES:
        lines += ["Kinds a class takes whole (rule 8):", ""]
        lines += _table(
            ("kind", "class"), [(f"`{kind}`", f"{CLASSES[uid].name} {uid}") for kind, uid in KIND_CLASSES.items()]
        )
    for title, values in lists:
        lines += [f"### {title}", "", ", ".join(f"`{value}`" for value in values), ""]
    return lines


def _common() -> list[str]:
    lines = ["## Shared conventions", "", *_docstring(common)]
    lines += ["Every event's envelope:", ""]
    lines += _table(("Netskope field", "OCSF attribute"), [(f"`{k}`", v) for k, v in common.BASE_FIELDS.items()])
    lines += ["Every event's finishing pass also reads (the field stays under `unmapped`):", ""]
    lines += _table(("Netskope field", "OCSF attribute"), [(f"`{k}`", v) for k, v in common.FINISH_FIELDS.items()])
    lines += [
        (
            f"`metadata.version` is `{common.OCSF_VERSION}`; `metadata.product` is "
            f'`{{name: "{common.PRODUCT_NAME}", vendor_name: "{common.VENDOR_NAME}", feature: {{name: <log type>}}}}`; '
            "`metadata.log_name` is the log type; `metadata.profiles` lists every profile whose attributes the "
            "event uses. Every source field that no attribute takes is kept, value unchanged, under `unmapped`."
        ),
        "",
        "### Severity words (`severity`, `severity_level`, …) → `severity_id`",
        "",
    ]
    lines += _table(("word", "severity_id"), list(common.SEVERITY_WORDS.items()))
    lines += ["Integers 1–6 are taken as OCSF ids; an unknown word is 99 with the word in `severity`.", ""]
    lines += ["### `severity_level` numbers (admin audit events) → `severity_id`", ""]
    lines += _table(
        ("severity_level", "severity_id"),
        [(level, f"{sid} {common.SEVERITY_CAPTIONS[sid]}") for level, sid in common.SEVERITY_LEVELS.items()],
    )
    lines += [*SEVERITY_LEVEL_SOURCES, ""]
    lines += ["### `action` → security_control profile", ""]
    lines += _table(
        ("action", "action_id / disposition_id"),
        [(word, f"{a} {a_name} / {d} {d_name}") for word, (a, a_name, d, d_name) in common.ACTIONS.items()],
    )
    lines += ["Any other action: 99 / 99 with the action's text.", "", "### `device` words → `device.type_id`", ""]
    lines += _table(
        ("word (contained)", "type_id"), [(word, f"{tid} {name}") for word, tid, name in common.DEVICE_TYPES]
    )
    lines += ["### `os` words → `device.os.type_id`", ""]
    lines += _table(("word (contained)", "type_id"), [(word, f"{tid} {name}") for word, tid, name in common.OS_TYPES])
    lines += ["### `device` words → `device.os.type_id` when the `os` name says no family (a release name)", ""]
    lines += _table(
        ("word (contained)", "type_id"), [(word, f"{tid} {name}") for word, tid, name in common.DEVICE_OS_TYPES]
    )
    return lines


def _class(uid: int) -> list[str]:
    module = import_module(CLASSES[uid].module)
    lines = [f"## {CLASSES[uid].name} ({uid})", "", *_docstring(module)]
    lines += _table(("Netskope field", "OCSF attribute"), [(f"`{k}`", v) for k, v in module.MAPPED_FIELDS.items()])
    if module.READ_FIELDS:
        lines += ["Read to build the event, and kept under `unmapped` as well:", ""]
        lines += _table(("Netskope field", "used for"), [(f"`{k}`", v) for k, v in module.READ_FIELDS.items()])
    for enum_name, values in module.ENUMS.items():
        lines += [f"### {enum_name}", ""]
        lines += _table(("source value", "OCSF id"), list(values.items()))
    return lines


def render() -> str:
    """The full text of docs/mapping.md."""
    lines = [
        "# Netskope → OCSF 1.5.0 mapping",
        "",
        "<!-- Generated by `python -m netskope_provider.ocsf.docgen -o docs/mapping.md`; do not edit by hand. -->",
        "",
        (
            "Records the routing does not send to a class are delivered raw: the original record, unchanged. "
            "A routed record whose class cannot be built from it (for example, no usable `timestamp`) is "
            "delivered raw too, with the reason counted; input that is not a JSON object is rejected with a reason."
        ),
        "",
        *_routing(),
        *_common(),
    ]
    for uid in CLASSES:
        lines += _class(uid)
    lines += [
        "## The `netskope-ocsf` command",
        "",
        "```text",
        *inspect.cleandoc(cli.__doc__ or "").splitlines(),
        "```",
        "",
    ]
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    options = argparse.ArgumentParser(
        prog="python -m netskope_provider.ocsf.docgen", description="Generate docs/mapping.md."
    )
    options.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    options.add_argument("--check", type=Path, metavar="FILE", help="exit 1 if FILE differs from the generated text")
    args = options.parse_args(argv)
    text = render()
    if args.check:
        if args.check.read_text(encoding="utf-8") != text:
            print(
                f"{args.check} is stale: run python -m netskope_provider.ocsf.docgen -o {args.check}", file=sys.stderr
            )
            return 1
        return 0
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
