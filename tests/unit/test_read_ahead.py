"""``pipeline.read_ahead``: the fetch maps page n while page n+1 is produced, one page ahead at most."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from netskope_provider.pipeline import read_ahead


def test_the_next_item_is_produced_while_the_caller_handles_this_one_and_no_further() -> None:
    started: list[int] = []
    second_started = threading.Event()

    def pages() -> Iterator[int]:
        for n in range(4):
            started.append(n)
            if n == 1:
                second_started.set()
            yield n

    seen = []
    for page in read_ahead(pages()):
        if page == 0:  # without overlap the second page would only start after this returns
            assert second_started.wait(10), "page 1 was not requested while page 0 was handled"
            assert started == [0, 1], "more than one page ahead"
        seen.append(page)
    assert seen == [0, 1, 2, 3]


def test_a_producer_error_is_raised_in_the_caller() -> None:
    def pages() -> Iterator[int]:
        yield 0
        raise RuntimeError("page 1 failed")

    seen = []
    with pytest.raises(RuntimeError, match="page 1 failed"):
        for page in read_ahead(pages()):
            seen.append(page)
    assert seen == [0]


def test_a_caller_stopping_early_closes_the_producer() -> None:
    closed = threading.Event()

    def pages() -> Iterator[int]:
        try:
            yield from range(10)
        finally:
            closed.set()

    with pytest.raises(ValueError, match="mapping failed"):
        for page in read_ahead(pages()):
            if page == 2:
                raise ValueError("mapping failed")
    assert closed.is_set(), "the page generator's finally (stats, connection) ran"
