"""Staged files between the fetch, transform and delivery tasks.

Records never travel through XCom: each task streams them into a gzip NDJSON file under
``<base>/<dag_id>/<run_id>/<try_number>/`` and pushes only a small manifest. ``base`` is an
``ObjectStoragePath`` URL: a local folder by default, ``s3://bucket/prefix`` when tasks run on
several workers -- the code is the same. A per-try folder means a retry never overwrites the
files an earlier try (or a still-running zombie) is reading.

Local staging is private: folders are created 0700 and files 0600, because staged records hold
user names, IPs and file names. On S3 every object is written with server-side encryption
(SSE-S3, ``AES256``, or SSE-KMS with run setting ``staging_kms_key_id``), whatever the bucket's default.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from isal import igzip_threaded

from netskope_provider.compat import ObjectStoragePath
from netskope_provider.config import run_setting
from netskope_provider.exceptions import StagingError
from netskope_provider.lease import LeaseStore, LocalLeaseStore, S3LeaseStore

_LOCAL_PROTOCOLS = {"", "file", "local"}
_S3_PROTOCOLS = {"s3", "s3a"}
#: Extra arguments of every S3 PutObject / multipart upload: staged records are encrypted at rest.
S3_WRITE_OPTIONS = {"ServerSideEncryption": "AES256"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_DOTS = re.compile(r"\.{2,}")
#: Bytes buffered before one compressed write; keeps the per-line cost low.
_WRITE_CHUNK = 1 << 20
#: ISA-L gzip level 1 (of 0-3): ~5x faster than zlib level 3 for about the same size (6.2 vs 6.7 : 1
#: on application records); the files stay plain gzip, readable by ``gzip``/``zcat``.
_COMPRESS_LEVEL = 1
#: Quarantine folder for records that could not be delivered; never swept automatically.
REJECTED_FOLDER = "_rejected"
#: Folder of the log streams' leases (``lease``); outside the run folders, never swept.
LEASE_FOLDER = "_leases"
#: File that marks a run folder whose delivery succeeded.
DELIVERED_MARKER = "_delivered"
#: Minimum time the staged files of a run that never delivered are kept (for retries and inspection).
UNDELIVERED_KEEP = timedelta(hours=24)


@dataclass(frozen=True)
class StagedFile:
    """Where a staged file is and what it holds (small enough for XCom)."""

    location: str
    records: int
    bytes: int

    def as_dict(self) -> dict[str, object]:
        return {"location": self.location, "records": self.records, "bytes": self.bytes}


def staging_path(location: str, conn_id: str | None = None) -> ObjectStoragePath:
    """An ``ObjectStoragePath`` for ``location``; a bare local path is turned into ``file://``."""
    if "://" not in location:
        location = f"file://{os.path.abspath(location)}"
    return ObjectStoragePath(location, conn_id=conn_id or None)


def _is_local(path: ObjectStoragePath) -> bool:
    return path.protocol in _LOCAL_PROTOCOLS


def open_for_write(path: ObjectStoragePath) -> Any:
    """Open ``path`` for writing bytes, privately: local files are mode 0600, S3 objects encrypted."""
    if _is_local(path):
        make_private_dirs(path.parent)
        fd = os.open(path.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
        # Not path.open (nor path.stat): their first call loads every provider's filesystems (~0.5 s of CPU).
        return os.fdopen(fd, "wb")
    if path.protocol in _S3_PROTOCOLS:
        return path.open("wb", **s3_write_options())
    return path.open("wb")


def open_for_read(path: ObjectStoragePath) -> Any:
    """Open ``path`` for reading bytes; a local file directly (``open_for_write`` says why)."""
    return open(path.path, "rb") if _is_local(path) else path.open("rb")


def s3_write_options() -> dict[str, str]:
    """SSE-KMS with the key of run setting ``staging_kms_key_id`` when one is set, else ``S3_WRITE_OPTIONS``."""
    key_id = run_setting("staging_kms_key_id")
    return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key_id} if key_id else dict(S3_WRITE_OPTIONS)


def safe_name(value: str) -> str:
    """A DAG or run id as one folder name on any store, never ``.``, ``..``, empty or with a separator.

    An id that is already a plain name (letters, digits, ``._-``, starting with a letter or digit,
    no ``..``) is kept; any other (``manual__2026-11-02T05:00:00+00:00``, ``.``, ``a/../b``) becomes
    its readable part plus a hash of the whole id, so two different ids never share a folder.
    """
    if _PLAIN.fullmatch(value) and ".." not in value:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    readable = _DOTS.sub("_", _UNSAFE.sub("_", value)).strip("._-")[:80]
    return f"{readable}-{digest}" if readable else digest


def make_private_dirs(path: ObjectStoragePath) -> ObjectStoragePath:
    """Create ``path`` and any missing parents; locally every folder created here is mode 0700."""
    if not _is_local(path):
        path.mkdir(parents=True, exist_ok=True)
        return path
    missing: list[str] = []
    local = path.path
    while local and not os.path.isdir(local):
        missing.append(local)
        local = os.path.dirname(local.rstrip("/"))
    for folder in reversed(missing):
        os.makedirs(folder, mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)
    return path


def run_folder(
    base: str, dag_id: str, run_id: str, try_number: int, conn_id: str | None = None, *, map_index: int = -1
) -> ObjectStoragePath:
    """The private folder of one task try: ``<base>/<dag_id>/<run_id>/<try_number>``.

    A mapped task (one sub-window of a split window) gets ``m<map_index>-<try_number>``, so parallel
    sub-windows never write the same file.
    """
    leaf = str(try_number) if map_index < 0 else f"m{map_index}-{try_number}"
    return make_private_dirs(run_root(base, dag_id, run_id, conn_id) / leaf)


def run_root(base: str, dag_id: str, run_id: str, conn_id: str | None = None) -> ObjectStoragePath:
    """``<base>/<dag_id>/<run_id>``: every staged file of one DAG run (all tries) lies below it."""
    return staging_path(base, conn_id) / safe_name(dag_id) / safe_name(run_id)


@dataclass(frozen=True)
class TaskStaging:
    """Where one task try stages: the store (``base`` URL and connection) and the try's identity.

    The pipeline's stages take this instead of an Airflow context, so a DAG task, the
    reconciliation's heal and a test stage the same way. Every path is built with :func:`safe_name`.
    """

    base: str
    conn_id: str | None
    dag_id: str
    run_id: str
    try_number: int = 1
    map_index: int = -1

    @classmethod
    def of_task(cls, ti: Any, base: str, conn_id: str | None) -> TaskStaging:
        """The staging of a running task instance (``dag_id``, ``run_id``, ``try_number``, ``map_index``)."""
        return cls(base, conn_id or None, ti.dag_id, ti.run_id, ti.try_number, getattr(ti, "map_index", -1))

    @property
    def mapped(self) -> bool:
        """True for one sub-window of a split window (a mapped task): its siblings share the run folder."""
        return self.map_index >= 0

    def folder(self) -> ObjectStoragePath:
        """This try's private folder (created)."""
        return run_folder(self.base, self.dag_id, self.run_id, self.try_number, self.conn_id, map_index=self.map_index)

    def quarantine(self, stage: str) -> Quarantine:
        """The quarantine of records this try's ``stage`` could not deliver (file made on first use)."""
        return Quarantine(
            quarantine_file(
                self.base, self.dag_id, self.run_id, self.try_number, stage, self.conn_id, map_index=self.map_index
            )
        )

    def clean(self, retention: timedelta, own_files: Sequence[str]) -> list[str]:
        """After a successful delivery: remove the run's staged files (or mark them delivered), sweep expired runs.

        With ``retention`` the run is only marked delivered. A sub-window removes just ``own_files``
        (its siblings may still read theirs); otherwise the whole run folder goes. Nothing outside
        ``<base>/<dag_id>/<run_id>`` is ever removed. Returns the expired runs swept.
        """
        root = run_root(self.base, self.dag_id, self.run_id, self.conn_id)
        if retention:
            mark_delivered(self.base, self.dag_id, self.run_id, self.conn_id)
        elif self.mapped:
            remove_staged([confined(location, root, self.conn_id) for location in own_files])
        else:
            remove_run(self.base, self.dag_id, self.run_id, self.conn_id)
        return sweep_expired(self.base, self.dag_id, retention, self.conn_id)


def confined(location: str, root: ObjectStoragePath, conn_id: str | None = None) -> ObjectStoragePath:
    """``location`` as a path, after checking it lies strictly inside ``root`` (``StagingError`` otherwise)."""
    path = staging_path(location, conn_id)
    inner, outer = _normal(path), _normal(root)
    if path.protocol != root.protocol or not inner.startswith(outer.rstrip("/") + "/"):
        raise StagingError(f"Staged file {location} is outside its run folder {root}; refusing to touch it")
    return path


def _normal(path: ObjectStoragePath) -> str:
    """A path with ``.``/``..`` resolved (and symlinks, locally), for containment checks."""
    return os.path.realpath(path.path) if _is_local(path) else os.path.normpath("/" + path.path)


class LineWriter:
    """Streams lines into a private gzip NDJSON file.

    Use as a context manager; :attr:`staged` describes the file once it is closed. The file is
    compressed by a thread of its own (``isal.igzip_threaded``, which releases the GIL): the
    fetch stage writes raw records and events while it maps, and compressing in the caller's
    thread cost it ~0.5 s of its time per 100,000 application records and file. Lines are
    buffered and joined into blocks of about 1 MB, handed to that thread as they are (its buffered
    wrapper would copy each block once more).
    """

    def __init__(self, path: ObjectStoragePath) -> None:
        self.path = path
        self.records = 0
        self.staged: StagedFile | None = None
        self._raw = open_for_write(path)
        self._gz = igzip_threaded.open(
            self._raw, "wb", compresslevel=_COMPRESS_LEVEL, threads=1, block_size=2 * _WRITE_CHUNK
        )
        self._blocks = self._gz.raw
        self._buffer: list[bytes] = []
        self._buffered = 0

    def write(self, line: bytes) -> None:
        """One line, without its newline."""
        self._buffer += (line, b"\n")
        self._buffered += len(line) + 1
        self.records += 1
        if self._buffered >= _WRITE_CHUNK:
            self._flush()

    def write_line(self, head: bytes, line: bytes) -> None:
        """One line made of ``head`` and ``line``, which ends in its newline: neither is copied to join them."""
        self._buffer += (head, line)
        self._buffered += len(head) + len(line)
        self.records += 1
        if self._buffered >= _WRITE_CHUNK:
            self._flush()

    def write_lines(self, lines: Sequence[bytes]) -> None:
        """Many lines, each without its newline: a page of records joined ~1 MB at a time, no call per line."""
        if not lines:
            return
        self._flush()
        step = max(1, len(lines) * _WRITE_CHUNK // (sum(map(len, lines)) + len(lines)))
        for at in range(0, len(lines), step):
            block = list(lines[at : at + step])
            block.append(b"")  # the last line's newline
            self._blocks.write(b"\n".join(block))
        self.records += len(lines)

    def _flush(self) -> None:
        if self._buffer:
            self._blocks.write(b"".join(self._buffer))
            self._buffer.clear()
            self._buffered = 0

    def close(self) -> StagedFile:
        """Finish the file (idempotent) and describe it."""
        if self.staged is not None:
            return self.staged
        self._flush()
        self._gz.close()
        self._raw.close()
        local = _is_local(self.path)  # see open_for_write
        size = os.stat(self.path.path).st_size if local else self.path.stat().st_size
        self.staged = StagedFile(location=str(self.path), records=self.records, bytes=size)
        return self.staged

    def __enter__(self) -> LineWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_lines(path: ObjectStoragePath, lines: Iterable[bytes]) -> StagedFile:
    """Stream ``lines`` (no trailing newline) into a gzip NDJSON file; return its location and counts."""
    with LineWriter(path) as writer:
        for line in lines:
            writer.write(line)
    return writer.close()


def read_lines(path: ObjectStoragePath) -> Iterator[bytes]:
    """Stream the lines of a gzip NDJSON file written by :func:`write_lines` (newlines stripped)."""
    if not path.exists():
        raise FileNotFoundError(
            f"Staged file {path} is missing (removed after an earlier success, or staged on another "
            "worker's local disk). Clear the whole DAG run so the fetch task stages it again, and use "
            "an s3:// staging_base when tasks run on several workers."
        )
    # Inflated by a thread of its own (ISA-L, the GIL released): the caller splits and handles the
    # lines meanwhile. 100,000 application events (380 MB): 0.08 s of the caller's CPU instead of 0.38.
    with open_for_read(path) as raw, igzip_threaded.open(raw, "rb") as gz:
        for line in io.BufferedReader(gz, buffer_size=_WRITE_CHUNK):  # type: ignore[arg-type]
            yield line.rstrip(b"\n")


def encode_event(home: int, timestamp_ms: int, message: bytes) -> bytes:
    """One deliverable event as a staged line: ``<home start>\t<epoch ms>\t<message>`` (JSON never holds a raw tab).

    ``home`` is the start of the interval whose log stream the event belongs in.
    """
    return event_head(home, timestamp_ms) + message


def event_head(home: int, timestamp_ms: int) -> bytes:
    """What a staged event's line holds before its message (``encode_event``)."""
    return b"%d\t%d\t" % (home, timestamp_ms)


def decode_event(line: bytes) -> tuple[int, int, bytes]:
    """Inverse of :func:`encode_event`: ``(home, timestamp_ms, message)``."""
    home, _, rest = line.partition(b"\t")
    timestamp, _, message = rest.partition(b"\t")
    return int(home), int(timestamp), message


def lease_store(base: str, conn_id: str | None, name: str) -> LeaseStore:
    """Where the lease called ``name`` lives: ``<base>/_leases/<sha256 of name>.json``, locally or on S3.

    Leases need compare-and-swap writes: a local folder (``fcntl``) or S3 (conditional writes).
    """
    path = staging_path(base, conn_id) / LEASE_FOLDER / f"{hashlib.sha256(name.encode()).hexdigest()[:40]}.json"
    if _is_local(path):
        return LocalLeaseStore(Path(path.path))
    if path.protocol in _S3_PROTOCOLS:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        bucket, _, key = path.path.partition("/")
        return S3LeaseStore(S3Hook(aws_conn_id=conn_id or None).get_conn(), bucket, key)
    raise StagingError(
        f"Staging on {path.protocol}:// cannot hold the log streams' leases (one writer per stream needs "
        "compare-and-swap writes): use a local folder or s3:// for staging_base"
    )


def quarantine_file(
    base: str,
    dag_id: str,
    run_id: str,
    try_number: int,
    stage: str,
    conn_id: str | None = None,
    *,
    map_index: int = -1,
) -> ObjectStoragePath:
    """Where records rejected at ``stage`` are kept: ``<base>/_rejected/<dag_id>/<run_id>/<try>-<stage>.ndjson.gz``.

    This folder is outside the run folders, so cleanup after success never removes rejected records.
    A mapped task's file ends in ``-<map_index>`` so parallel sub-windows keep separate files.
    """
    folder = staging_path(base, conn_id) / REJECTED_FOLDER / safe_name(dag_id) / safe_name(run_id)
    suffix = "" if map_index < 0 else f"-{map_index}"
    return folder / f"{try_number}-{stage}{suffix}.ndjson.gz"  # folders are made with the first rejected record


def remove_staged(paths: Iterable[ObjectStoragePath]) -> None:
    """Delete staged files (one sub-window's), then their folders and the run folder if that left them empty.

    A sub-window may not remove its whole run: sibling sub-windows may still be reading their files.
    """
    folders = []
    for path in paths:
        if path.exists():
            path.unlink()
        folders.append(path.parent)
    for folder in [*dict.fromkeys(folders), *dict.fromkeys(folder.parent for folder in folders)]:
        if _is_local(folder):
            try:
                os.rmdir(folder.path)
            except OSError:  # not empty: a sibling's (or another try's) files are still there
                pass


def remove_run(base: str, dag_id: str, run_id: str, conn_id: str | None = None) -> None:
    """Delete every staged file of one DAG run (all tries)."""
    folder = run_root(base, dag_id, run_id, conn_id)
    confined(str(folder), staging_path(base, conn_id) / safe_name(dag_id), conn_id)
    if folder.exists():
        folder.fs.rm(folder.path, recursive=True)


def mark_delivered(base: str, dag_id: str, run_id: str, conn_id: str | None = None) -> None:
    """Mark a run's staged files as delivered, so :func:`sweep_expired` applies the success retention."""
    marker = run_root(base, dag_id, run_id, conn_id) / DELIVERED_MARKER
    with open_for_write(marker) as out:
        out.write(b"delivered\n")  # an empty S3 upload would skip the encryption arguments


def _newest_mtime(folder: ObjectStoragePath) -> datetime | None:
    """Newest modification time of any file below ``folder`` (local ``mtime`` or S3 ``LastModified``)."""
    newest: datetime | None = None
    for info in folder.fs.find(folder.path, detail=True).values():
        stamp = info.get("LastModified") or info.get("mtime")
        if stamp is None:
            continue
        mtime = stamp if isinstance(stamp, datetime) else datetime.fromtimestamp(float(stamp), tz=UTC)
        newest = mtime if newest is None or mtime > newest else newest
    return newest


def sweep_expired(base: str, dag_id: str, retention: timedelta, conn_id: str | None = None) -> list[str]:
    """Delete expired run folders of ``dag_id``; return their names.

    A delivered run expires ``retention`` after its last write; a run that never delivered (failed,
    or abandoned) is kept at least :data:`UNDELIVERED_KEEP` so it can still be retried or inspected.
    """
    dag_folder = staging_path(base, conn_id) / safe_name(dag_id)
    if not dag_folder.exists():
        return []
    now = datetime.now(UTC)
    removed: list[str] = []
    for run in dag_folder.iterdir():
        if not run.is_dir():
            continue
        keep = retention if (run / DELIVERED_MARKER).exists() else max(retention, UNDELIVERED_KEEP)
        newest = _newest_mtime(run)
        if newest is not None and newest < now - keep:  # a folder it cannot date is kept
            remove_run(base, dag_id, run.name, conn_id)
            removed.append(run.name)
    return removed


class Quarantine:
    """Keeps records a stage could not deliver, with the reason, in the run's quarantine file.

    The file is created on the first rejected record only, so clean runs leave nothing behind.
    """

    def __init__(self, path: ObjectStoragePath) -> None:
        self.path = path
        self._writer: LineWriter | None = None

    @property
    def count(self) -> int:
        return self._writer.records if self._writer else 0

    def add(self, reason: str, record: bytes) -> None:
        """Keep ``record`` exactly, with ``reason``: see :func:`quarantine_line` for the forms."""
        if self._writer is None:
            self._writer = LineWriter(self.path)
        self._writer.write(quarantine_line(reason, record))

    def close(self) -> str | None:
        """Finish the file; return its location, or None when nothing was rejected."""
        return self._writer.close().location if self._writer else None


def quarantine_line(reason: str, record: bytes) -> bytes:
    """One quarantine line holding ``record`` byte for byte, so a rejected record can be recovered as it came.

    ``record`` is the JSON embedded as is when it is one line orjson accepts (64-bit ids stay exact),
    else its exact text as a JSON string (NaN, numbers beyond 64 bits, lone surrogates, broken JSON),
    else, when its bytes are not UTF-8, ``record_base64`` holds them.
    """
    head = b'{"reason":%s,' % orjson.dumps(reason)
    if b"\n" not in record and b"\r" not in record:
        try:
            orjson.loads(record)
            return head + b'"record":' + record + b"}"
        except orjson.JSONDecodeError:
            pass
    try:
        return head + b'"record":' + orjson.dumps(record.decode("utf-8")) + b"}"
    except UnicodeDecodeError:
        return head + b'"record_base64":"' + base64.b64encode(record) + b'"}'
