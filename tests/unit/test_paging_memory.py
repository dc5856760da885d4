"""``strategies.insertion_window_pages`` holds no page of its own while the next one is fetched.

The fetch callables here stand in for the client's transport (strategies take one by design); the
pages they return are watched through weak references.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

from netskope_provider.api.page import Envelope, ParsedBody
from netskope_provider.api.strategies import insertion_window_pages


def test_a_page_handed_on_is_not_held_while_the_next_is_fetched() -> None:
    served: list[weakref.ref[ParsedBody]] = []
    alive_at_fetch: list[bool] = []

    def fetch(params: Mapping[str, Any], *, retry_params: Mapping[str, Any] | None = None) -> ParsedBody:
        alive_at_fetch.append(any(page() is not None for page in served))
        offset, limit = params["offset"], params["limit"]
        page = ParsedBody(Envelope(), [b'{"_id":"%d"}' % n for n in range(offset, min(offset + limit, 25))], [])
        served.append(weakref.ref(page))
        return page

    handed = 0
    for page in insertion_window_pages(fetch, 0, 3600, 10, "test", count=lambda params: 25):
        handed += len(page.records)
        del page  # the caller (the fetch's mapping) lets go of each page before asking for the next
    assert handed == 25
    assert alive_at_fetch == [False, False, False], "a page was still held when the next was fetched"


def test_nor_when_an_endpoint_ignoring_offset_is_read_in_parts() -> None:
    records = [(second, b'{"_id":"%d"}' % second) for second in range(0, 3600, 100)]  # 36, one per 100 s
    served: list[weakref.ref[ParsedBody]] = []
    alive_at_fetch: list[bool] = []

    def selected(params: Mapping[str, Any]) -> list[bytes]:
        low, high = params["insertionstarttime"], params["insertionendtime"]
        return [raw for second, raw in records if low <= second <= high]

    def fetch(params: Mapping[str, Any], *, retry_params: Mapping[str, Any] | None = None) -> ParsedBody:
        alive_at_fetch.append(any(page() is not None for page in served))
        page = ParsedBody(Envelope(), selected(params)[: params["limit"]], [])  # offset ignored
        served.append(weakref.ref(page))
        return page

    handed = []
    for page in insertion_window_pages(fetch, 0, 3600, 10, "test", count=lambda params: len(selected(params))):
        handed += page.records
        del page
    assert sorted(handed) == sorted(raw for _, raw in records)
    assert len(alive_at_fetch) > 4 and not any(alive_at_fetch), "a page was still held when the next was fetched"
