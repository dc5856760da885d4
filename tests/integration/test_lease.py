"""Stream leases on both staging stores: a local folder (fcntl) and S3 (conditional writes on moto_server)."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from netskope_provider.exceptions import LeaseLostError, StreamBusyError
from netskope_provider.lease import LeaseStore, LocalLeaseStore, S3LeaseStore, StreamLease

BUCKET = "netskope-lease-tests"


@pytest.fixture(params=["local", "s3"])
def new_store(request, tmp_path: Path) -> Callable[[], LeaseStore]:
    """A factory of handles on one lease document (each process or task opens its own)."""
    name = uuid.uuid4().hex
    if request.param == "local":
        return lambda: LocalLeaseStore(tmp_path / "_leases" / f"{name}.json")
    moto_server = request.getfixturevalue("moto_server")
    s3 = moto_server.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    return lambda: S3LeaseStore(moto_server.client("s3"), BUCKET, f"staging/_leases/{name}.json")


def lease(store: LeaseStore, owner: str, *, ttl: float = 8, wait: float = 10) -> StreamLease:
    return StreamLease(store, owner=owner, ttl=ttl, wait=wait, put_budget=1)


def test_one_holder_at_a_time_and_the_next_waits_for_the_release(new_store) -> None:
    first = lease(new_store(), "first")
    first.acquire()
    second = lease(new_store(), "second")
    taken = threading.Event()
    waiter = threading.Thread(target=lambda: (second.acquire(), taken.set()))
    waiter.start()
    assert not taken.wait(2), "the second delivery waits while the first holds the stream"
    first.check()
    first.release()
    assert taken.wait(10)
    waiter.join()
    assert second.waited >= 2 and second.fence == first.fence + 1
    second.check()
    second.release()


def test_a_busy_stream_fails_the_try_after_the_wait_naming_the_holder(new_store) -> None:
    with lease(new_store(), "netskope_audit run manual__1 try 1"):
        began = time.monotonic()
        with pytest.raises(StreamBusyError, match="netskope_audit run manual__1 try 1 has been writing"):
            lease(new_store(), "second", wait=1.5).acquire()
        assert 1.5 <= time.monotonic() - began < 6


def test_a_silent_holder_is_taken_over_after_expiry_and_can_no_longer_put(new_store) -> None:
    """A holder that stops renewing (hung, or its host lost): the next delivery waits out the ttl, then takes over."""
    hung = lease(new_store(), "hung", ttl=4)
    hung.acquire()
    hung._stop.set()  # renewals stop, as in a frozen process
    began = time.monotonic()
    with lease(new_store(), "next", ttl=4) as taker:
        assert 2.5 <= time.monotonic() - began < 12, "waited for the expiry, not for ever"
        assert taker.fence == hung.fence + 1
    with pytest.raises(LeaseLostError, match="less than a put may take"):
        hung.check()


def test_a_holder_whose_lease_was_taken_notices_at_its_next_renewal(new_store) -> None:
    store = new_store()
    holder = lease(store, "holder", ttl=4)
    holder.acquire()
    document, version, _ = store.read()
    assert store.replace({**document, "owner": "usurper", "fence": document["fence"] + 1}, version)
    time.sleep(1.5)  # one renewal tick (ttl / 4)
    with pytest.raises(LeaseLostError, match="took the lease over"):
        holder.check()
    holder.release()
    assert store.read()[0]["owner"] == "usurper", "the loser does not touch the new holder's lease"


def _hold_and_die(path: str) -> None:
    StreamLease(LocalLeaseStore(Path(path)), owner="killed", ttl=60, wait=5, put_budget=1).acquire()
    os._exit(0)  # gone without releasing, like a SIGKILL


def test_on_local_staging_a_holder_whose_process_is_gone_is_taken_over_at_once(tmp_path: Path) -> None:
    path = tmp_path / "_leases" / "stream.json"
    worker = multiprocessing.get_context("fork").Process(target=_hold_and_die, args=(str(path),))
    worker.start()
    worker.join(30)
    assert LocalLeaseStore(path).read()[0]["owner"] == "killed"
    with lease(LocalLeaseStore(path), "retry", ttl=60, wait=5) as retry:
        assert retry.waited < 1 and retry.fence == 2
