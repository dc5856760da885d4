"""One writer per log stream: a lease with expiry, renewal and a fence, kept on the staging store.

A delivery takes the lease of a stream before it reads the stream back and holds it until its last
put, so two deliveries of the same stream (a manual run beside the scheduled one, a zombie task
and its retry, overlapping windows on several Celery workers) never write at the same time: the
second waits, then reads back what the first wrote and sends only what is missing.

The lease is a small JSON document written with compare-and-swap: on S3 staging with conditional
writes (``If-None-Match: *`` to create, ``If-Match: <ETag>`` to renew, take over or release), on
local staging with an ``fcntl`` lock held only for the read-modify-write. It expires ``ttl``
seconds after its holder last wrote it, measured on one clock: the S3 server's (its
``Last-Modified`` against the response's ``Date``) or the one machine's (file mtime). A crashed
holder therefore blocks a stream for at most ``ttl``; on local staging a holder whose process is
gone on this machine is taken over at once. Every takeover raises the fence number.

The holder renews every ``ttl / 4`` from a thread, and ``check()`` (called before every put)
refuses to write unless the lease it last renewed still has ``put_budget`` seconds to run: longer
than a put can take (the put client's timeouts), so no put of a holder can land after its lease
could have passed to someone else. docs/delivery.md explains the choice.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import ClientError

from netskope_provider.exceptions import LeaseLostError, StreamBusyError

log = logging.getLogger(__name__)

#: Seconds between two looks at a busy lease while waiting for it (jittered).
POLL_S = 1.0


class LeaseStore(Protocol):
    """Compare-and-swap storage of one lease document. Versions are opaque strings."""

    #: True when all holders run on this machine (so a holder whose process is gone can be recognised).
    local: bool

    def read(self) -> tuple[dict[str, Any] | None, str | None, float]:
        """The document, its version and its age in seconds; ``(None, None, 0)`` when there is none."""

    def create(self, document: dict[str, Any]) -> str | None:
        """Write the document if none exists; its version, or None when one exists already."""

    def replace(self, document: dict[str, Any], version: str) -> str | None:
        """Overwrite the document if it is still at ``version``; the new version, or None."""


@dataclass
class LocalLeaseStore:
    """A lease file on this machine's disk; ``<file>.lock`` serialises each read-modify-write."""

    path: Path
    local: bool = True

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # closing releases the lock

    def _read(self) -> tuple[dict[str, Any] | None, str | None, float]:
        try:
            text = self.path.read_text()
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return None, None, 0.0
        document = json.loads(text)
        return document, str(document.get("revision")), age

    def _write(self, document: dict[str, Any], revision: int) -> str:
        temporary = self.path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            json.dump({**document, "revision": revision}, out)
        os.replace(temporary, self.path)
        return str(revision)

    def read(self) -> tuple[dict[str, Any] | None, str | None, float]:
        with self._locked():
            return self._read()

    def create(self, document: dict[str, Any]) -> str | None:
        with self._locked():
            current, _, _ = self._read()
            return None if current is not None else self._write(document, 1)

    def replace(self, document: dict[str, Any], version: str) -> str | None:
        with self._locked():
            current, current_version, _ = self._read()
            if current is None or current_version != version:
                return None
            return self._write(document, int(version) + 1)


@dataclass
class S3LeaseStore:
    """A lease object on S3, written with conditional requests (``If-None-Match`` / ``If-Match``)."""

    client: Any
    bucket: str
    key: str
    local: bool = False

    def read(self) -> tuple[dict[str, Any] | None, str | None, float]:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key)
        except self.client.exceptions.NoSuchKey:
            return None, None, 0.0
        document = json.loads(response["Body"].read())
        server_now = parsedate_to_datetime(response["ResponseMetadata"]["HTTPHeaders"]["date"])
        # Both stamps are whole seconds of the server's clock: the age may read up to 1 s short.
        age = (server_now - response["LastModified"]).total_seconds() - 1
        return document, response["ETag"], age

    def _put(self, document: dict[str, Any], **condition: str) -> str | None:
        try:
            response = self.client.put_object(
                Bucket=self.bucket,
                Key=self.key,
                Body=json.dumps(document).encode(),
                ContentType="application/json",
                ServerSideEncryption="AES256",
                **condition,
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in (
                "PreconditionFailed",
                "ConditionalRequestConflict",
                "NoSuchKey",
            ):
                return None
            raise
        return str(response["ETag"])

    def create(self, document: dict[str, Any]) -> str | None:
        return self._put(document, IfNoneMatch="*")

    def replace(self, document: dict[str, Any], version: str) -> str | None:
        return self._put(document, IfMatch=version)


class StreamLease:
    """The lease of one stream, held as a context manager around its delivery.

    :param store: where the lease document lives.
    :param owner: who holds it, for the messages of those who wait (e.g. the task instance).
    :param ttl: seconds the lease lasts after each renewal.
    :param wait: seconds to wait for a busy lease before failing with ``StreamBusyError``.
    :param put_budget: seconds a put may take at most; ``check`` refuses to start one with less left.
    """

    def __init__(self, store: LeaseStore, *, owner: str, ttl: float, wait: float, put_budget: float) -> None:
        if not 0 < put_budget < ttl * 3 / 4:
            raise ValueError(f"put_budget {put_budget} s must be below 3/4 of the lease's {ttl} s")
        self.store = store
        self.owner = owner
        self.ttl = ttl
        self.wait = wait
        self.put_budget = put_budget
        self.fence = 0
        self.waited = 0.0
        self._announced = False
        self._version: str | None = None
        self._valid_until = 0.0  # monotonic
        self._lost: str | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def __enter__(self) -> StreamLease:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _document(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "fence": self.fence,
            "ttl": self.ttl,
            "host": socket.gethostname(),
            "boot": _boot_id(),
            "pid": os.getpid(),
        }

    def acquire(self) -> None:
        """Take the lease, waiting while a live holder has it; ``StreamBusyError`` after ``wait`` seconds."""
        began = time.monotonic()
        while True:
            sent = time.monotonic()
            document, version, age = self.store.read()
            if document is None:
                self.fence = 1
                self._version = self.store.create(self._document())
            elif age > float(document.get("ttl", self.ttl)) or self._holder_is_gone(document):
                self.fence = int(document.get("fence", 0)) + 1
                if age <= float(document.get("ttl", self.ttl)):
                    log.warning(
                        "Taking over the lease of %s from %s: its process is gone", self.owner, document["owner"]
                    )
                self._version = self.store.replace(self._document(), version or "")
            if self._version is not None:
                self._valid_until = sent + self.ttl
                self.waited = time.monotonic() - began
                self._start_renewing()
                return
            if document is not None and time.monotonic() - began > self.wait:
                raise StreamBusyError(
                    f"{document.get('owner')} has been writing this log stream for over {self.wait:.0f} s "
                    f"(lease fence {document.get('fence')}); this try gives up so that its retry reads the stream "
                    "back later. Raise netskope_lease_wait_seconds if deliveries of one stream take longer"
                )
            if document is not None and not self._announced:
                log.info(
                    "Log stream busy: %s holds its lease; waiting (up to %.0f s)", document.get("owner"), self.wait
                )
                self._announced = True
            time.sleep(POLL_S * random.uniform(0.5, 1.5))

    def _holder_is_gone(self, document: dict[str, Any]) -> bool:
        """On local staging: the holder ran on this machine (since its last boot) and its process has ended."""
        if not self.store.local or document.get("host") != socket.gethostname() or document.get("boot") != _boot_id():
            return False
        try:
            os.kill(int(document["pid"]), 0)
        except ProcessLookupError:
            return True
        except (PermissionError, KeyError, ValueError):
            return False
        return False

    def _start_renewing(self) -> None:
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew_until_stopped, name="stream-lease", daemon=True)
        self._renewer.start()

    def _renew_until_stopped(self) -> None:
        while not self._stop.wait(self.ttl / 4):
            sent = time.monotonic()
            try:
                version = self.store.replace(self._document(), self._version or "")
            except Exception as error:  # a failed renewal is retried next tick; check() sees the deadline
                log.warning("Could not renew the lease of %s (%s); retrying", self.owner, error)
                continue
            if version is None:
                self._lost = "another delivery took the lease over (it expired or its holder was taken for dead)"
                return
            self._version = version
            self._valid_until = sent + self.ttl

    def check(self) -> None:
        """Raise ``LeaseLostError`` unless the lease is held with enough time left for one more put."""
        if self._lost:
            raise LeaseLostError(
                f"Lost the lease of {self.owner}'s log stream: {self._lost}; the task retry reads back"
            )
        left = self._valid_until - time.monotonic()
        if left < self.put_budget:
            raise LeaseLostError(
                f"The lease of {self.owner}'s log stream has {left:.1f} s left, less than a put may take "
                f"({self.put_budget:.1f} s): renewals did not get through; stopping before another writer may start. "
                "The task retry reads the stream back and sends only what is missing"
            )

    def release(self) -> None:
        """Stop renewing and let the lease expire at once (best effort: it expires by itself anyway)."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        if self._version is not None and not self._lost:
            with contextlib.suppress(Exception):
                self.store.replace({**self._document(), "ttl": -1}, self._version)
        self._version = None


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""
