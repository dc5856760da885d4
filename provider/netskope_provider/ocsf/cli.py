"""``netskope-ocsf``: map Netskope records to OCSF, or validate OCSF events, from the shell.

    netskope-ocsf map --log-type application records.ndjson > out.ndjson
    netskope-ocsf map --log-type audit - < api-response.json
    netskope-ocsf validate out.ndjson --ocsf-only

``map`` reads NDJSON records (or one whole API response ``{"ok": 1, "result": [...]}``; ``.gz``
files are read transparently) and writes exactly one NDJSON line per record: its OCSF event, or the
record unchanged when it is delivered raw. Inputs that are not records (a line that is not JSON, a
JSON value that is not an object) are rejected: not written, but listed on stderr with the line
number and the reason, and optionally saved with ``--rejected FILE``. The per-class / raw /
rejected summary goes to stderr. Exit status: 0 all inputs were records, 1 some were rejected (or
invalid, for ``validate``), 2 usage or I/O error.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from typing import IO, Any, BinaryIO

import orjson

from netskope_provider.ocsf.mapper import MapCounts, map_lines, map_records
from netskope_provider.registry import CLASSES, LOG_TYPES

SHOWN_PROBLEMS = 20


@contextmanager
def _open(path: str) -> Iterator[BinaryIO]:
    """The input as a stream of lines: a file or stdin ("-"), gunzipped when it starts with gzip's magic."""
    raw: BinaryIO = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    try:
        if raw.peek(2)[:2] == b"\x1f\x8b":  # type: ignore[attr-defined]
            with gzip.GzipFile(fileobj=raw) as unzipped:
                yield io.BufferedReader(unzipped)  # type: ignore[arg-type]
        else:
            yield raw
    finally:
        if raw is not sys.stdin.buffer:
            raw.close()


def _records_or_lines(source: BinaryIO) -> tuple[list[Any] | None, Iterable[bytes]]:
    """(API ``result`` list, no lines) for one whole API response, else (None, the NDJSON lines).

    NDJSON streams line by line; only an input whose first line is not a complete JSON document
    (a pretty-printed response) is read whole to look for ``result``.
    """
    first = source.readline()
    head = first.strip()
    if head[:1] != b"{":
        return None, chain((first,), source)
    try:
        document = orjson.loads(head)
    except orjson.JSONDecodeError:
        rest = source.read()
        try:
            document = orjson.loads(first + rest)
        except orjson.JSONDecodeError:
            return None, chain((first,), rest.splitlines())
    if type(document) is dict and type(document.get("result")) is list:
        return document["result"], ()
    return None, chain((first,), source)


def summary(counts: MapCounts, log_type: str) -> str:
    """Human summary of a mapping run (stderr)."""
    classes = ", ".join(f"{uid} {CLASSES[uid].name} {n}" for uid, n in sorted(counts.by_class.items()))
    lines = [
        f"netskope-ocsf: {counts.total} {log_type} records: {counts.ocsf} OCSF"
        + (f" ({classes})" if classes else "")
        + f", {counts.raw} raw, {counts.rejected} rejected"
    ]
    lines += [f"  raw x{n}: {reason}" for reason, n in counts.raw_reasons.most_common(SHOWN_PROBLEMS)]
    lines += [f"  rejected line {r.line}: {r.reason}" for r in counts.rejections[:SHOWN_PROBLEMS]]
    if len(counts.rejections) > SHOWN_PROBLEMS:
        lines.append(f"  ... and {len(counts.rejections) - SHOWN_PROBLEMS} more rejected")
    return "\n".join(lines)


def _map(args: argparse.Namespace, out: IO[bytes]) -> int:
    counts = MapCounts()
    with _open(args.file) as source:
        records, lines = _records_or_lines(source)
        if records is None:
            produced: Iterator[bytes] = map_lines(lines, args.log_type, counts)
        else:
            produced = map_records(records, args.log_type, counts)
        for line in produced:
            out.write(line)
    out.flush()
    if args.rejected:
        with open(args.rejected, "wb") as sink:
            for rejection in counts.rejections:
                sink.write(
                    orjson.dumps(
                        {
                            "line": rejection.line,
                            "reason": rejection.reason,
                            "input": rejection.original.decode("utf-8", "replace"),
                        }
                    )
                    + b"\n"
                )
    print(orjson.dumps(counts.as_dict()).decode() if args.json else summary(counts, args.log_type), file=sys.stderr)
    return 1 if counts.rejected else 0


def _ocsf_lines(lines: Iterable[bytes]) -> Iterator[bytes]:
    """Only the lines that are OCSF events (carry ``class_uid``): skips raw records in mixed output."""
    for line in lines:
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            yield line  # let the validator report it
            continue
        if type(value) is not dict or "class_uid" in value:
            yield line


def _validate(args: argparse.Namespace) -> int:
    from netskope_provider.ocsf.validate import validate_lines  # jsonschema is only needed here

    with _open(args.file) as source:
        report = validate_lines(_ocsf_lines(source) if args.ocsf_only else source, max_problems=args.max_errors)
    per_class = ", ".join(
        f"{uid} {CLASSES[uid].name if uid in CLASSES else '?'} {n}" for uid, n in sorted(report.per_class.items())
    )
    print(f"netskope-ocsf: {report.events} events ({per_class or 'none'}): {report.invalid} invalid", file=sys.stderr)
    for problem in report.problems:
        print(f"  {problem}", file=sys.stderr)
    return 0 if report.ok else 1


def parser() -> argparse.ArgumentParser:
    commands = argparse.ArgumentParser(prog="netskope-ocsf", description=__doc__.split("\n\n")[0])
    sub = commands.add_subparsers(dest="command", required=True)
    mapping = sub.add_parser("map", help="map Netskope records (NDJSON or an API response) to OCSF NDJSON on stdout")
    mapping.add_argument(
        "--log-type", required=True, choices=sorted(LOG_TYPES), help="the log type the records were pulled from"
    )
    mapping.add_argument("file", nargs="?", default="-", help="input file (.gz ok); '-' or nothing for stdin")
    mapping.add_argument(
        "--rejected", metavar="FILE", help="also write rejected inputs here as NDJSON {line, reason, input}"
    )
    mapping.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    checking = sub.add_parser("validate", help=f"validate OCSF NDJSON against OCSF 1.5.0 ({len(CLASSES)} classes)")
    checking.add_argument("file", help="NDJSON file of OCSF events (.gz ok); '-' for stdin")
    checking.add_argument(
        "--ocsf-only", action="store_true", help="skip lines without class_uid (raw records in map output)"
    )
    checking.add_argument("--max-errors", type=int, default=SHOWN_PROBLEMS, help="how many problems to print")
    return commands


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "map":
            return _map(args, sys.stdout.buffer)
        return _validate(args)
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, no traceback at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (EOFError, gzip.BadGzipFile) as error:
        print(
            f"netskope-ocsf: {args.file} is not a readable gzip file ({error}); pass plain NDJSON or a complete .gz",
            file=sys.stderr,
        )
        return 2
    except OSError as error:
        print(
            f"netskope-ocsf: cannot read or write {error.filename or args.file}: {error.strerror or error}",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
