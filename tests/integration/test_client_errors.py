"""Error paths of ``NetskopeClient``, one scripted reply at a time over a real socket."""

from __future__ import annotations

import gzip
import logging
import time
from email.utils import formatdate

import orjson
import pytest
from scripted_tenant import Reply, ScriptedTenant, counted, decoded, is_count, ok

from netskope_provider.api.client import TOKEN_HEADER, NetskopeClient
from netskope_provider.api.strategies import EventTimeCursor
from netskope_provider.exceptions import (
    NetskopeAuthError,
    NetskopeConfigError,
    NetskopeError,
    NetskopeNotFoundError,
    NetskopePagingError,
    NetskopePermissionError,
    NetskopeResponseError,
    NetskopeRetriesExhaustedError,
)
from netskope_provider.log_types import LOG_TYPES

TOKEN = "tok-SECRET-4f9a1c7e2b"
START, END = 1_700_000_000, 1_700_003_600
GZIP = {"Content-Encoding": "gzip"}


class Tokens:
    """A token source that can rotate: ``refresh=True`` returns the next token."""

    def __init__(self, *tokens: str) -> None:
        self.tokens = list(tokens)
        self.calls: list[bool] = []

    def __call__(self, refresh: bool) -> str:
        self.calls.append(refresh)
        if refresh and len(self.tokens) > 1:
            self.tokens.pop(0)
        return self.tokens[0]


@pytest.fixture
def tenant():
    with ScriptedTenant() as server:
        yield server


def make_client(tenant: ScriptedTenant, tokens=None, **options) -> NetskopeClient:
    options = {
        "backoff_base_seconds": 0.01,
        "backoff_cap_seconds": 0.05,
        "max_retries": 3,
        "rate_limit_per_second": 50,
        **options,
    }
    return NetskopeClient(tenant.host, tokens or Tokens(TOKEN), scheme="http", **options)


def pull(client: NetskopeClient, log_type: str = "application") -> list[dict]:
    return decoded(client.iter_window_pages(log_type, START, END))


def test_insertion_window_sends_inclusive_bounds_and_pages_by_offset(tenant):
    tenant.queue(ok([{"_id": "a"}, {"_id": "b"}]), ok([{"_id": "c"}, {"_id": "d"}]), ok([{"_id": "e"}]))
    records = pull(make_client(tenant, page_size=2))
    assert [r["_id"] for r in records] == ["a", "b", "c", "d", "e"]
    assert [s.path for s in tenant.pages_seen] == ["/api/v2/events/data/application"] * 3
    assert [s.params["offset"] for s in tenant.pages_seen] == ["0", "2", "4"]
    first = tenant.pages_seen[0].params
    assert (first["insertionstarttime"], first["insertionendtime"], first["limit"]) == (str(START), str(END - 1), "2")
    assert tenant.pages_seen[0].headers[TOKEN_HEADER] == TOKEN


def test_full_last_page_is_followed_by_an_empty_one(tenant):
    tenant.queue(ok([{"_id": "a"}, {"_id": "b"}]), ok([]))
    assert len(pull(make_client(tenant, page_size=2))) == 2
    assert len(tenant.pages_seen) == 2


def test_endpoint_ignoring_offset_and_time_bounds_is_an_error_not_a_loop(tenant):
    tenant.fallback = lambda seen: ok([{"_id": "same"}, {"_id": "other"}])
    with pytest.raises(NetskopePagingError, match=r"ignores 'offset', and a full page.*in the one second"):
        pull(make_client(tenant, page_size=2))
    # Two pages, then the hour halved down to its first second: 3,600 seconds, 12 halvings.
    assert len(tenant.pages_seen) == 2 + 13


class OffsetIgnoringTenant:
    """A ``data/*`` endpoint that honours the insertion bounds and ``limit`` but serves every page from the start.

    ``records`` are ``(insertion second, record)``, a record a dict or its raw JSON text; count
    requests are answered with the query's count.
    """

    def __init__(self, records: list[tuple[int, dict | bytes]]) -> None:
        self.records = [
            (second, record if isinstance(record, bytes) else orjson.dumps(record)) for second, record in records
        ]

    def _selected(self, seen) -> list[bytes]:
        low, high = int(seen.params["insertionstarttime"]), int(seen.params["insertionendtime"])
        return [record for second, record in self.records if low <= second <= high]

    def page(self, seen) -> Reply:
        return Reply(body=b'{"ok":1,"result":[' + b",".join(self._selected(seen)[: int(seen.params["limit"])]) + b"]}")

    def count(self, seen) -> Reply:
        return counted(len(self._selected(seen)))


def ignoring_offset(tenant: ScriptedTenant, records: list[tuple[int, dict | bytes]]) -> None:
    endpoint = OffsetIgnoringTenant(records)
    tenant.fallback, tenant.count_fallback = endpoint.page, endpoint.count


def test_an_endpoint_ignoring_offset_is_read_in_parts_of_the_window_each_record_once(tenant, caplog):
    # 24 records over the hour, bunched (seven in one second), the first page holding byte-identical
    # twins and a record the client quarantines (NaN): the parts hand each on once, the twins twice.
    seconds = [START, START, START + 1, START + 5, *[START + 600] * 7, START + 601, START + 1800, START + 1801]
    seconds += [START + 2400 + n for n in range(9)] + [END - 1]
    records: list[tuple[int, dict | bytes]] = [
        (second, {"_id": f"r{n:02d}", "s": second}) for n, second in enumerate(seconds)
    ]
    records[1] = (START, {"_id": "twin", "s": START})
    records[2] = (START + 1, {"_id": "twin", "s": START})
    records[4] = (START + 600, b'{"_id":"nan","v":NaN}')
    # Alike in their first 3,000 bytes (records are digested 2,047 bytes at a time): the first page
    # holds the later one; the earlier one, read first in parts, is not the first page's.
    records[7] = (START + 1000, {"_id": "long", "pad": "x" * 3000, "tail": 1})
    records[20] = (START, {"_id": "long", "pad": "x" * 3000, "tail": 2})
    ignoring_offset(tenant, records)
    with caplog.at_level(logging.WARNING, logger="netskope_provider.api.strategies"):
        pages = list(make_client(tenant, page_size=8).iter_window_pages("application", START, END))
    pulled = decoded(pages)
    assert sorted(map(repr, pulled)) == sorted(repr(record) for _, record in records if isinstance(record, dict))
    assert len(pulled) == len(records) - 1 == 23
    assert [raw for page in pages for _, raw in page.quarantined] == [b'{"_id":"nan","v":NaN}']
    assert "ignores 'offset' (its second page repeated the first)" in caplog.text
    assert "did not serve again" not in caplog.text
    offsets = {seen.params["offset"] for seen in tenant.pages_seen}
    assert offsets == {"0", "8"}, "the parts are asked from offset 0 only"


def test_a_part_whose_answer_never_came_is_asked_again_and_the_pull_stays_exact(tenant):
    """The connection drops on the first part asked after the fallback began; the client sends it again."""
    records: list[tuple[int, dict | bytes]] = [(START + 60 * n, {"_id": f"r{n:02d}"}) for n in range(20)]
    endpoint = OffsetIgnoringTenant(records)
    dropped = []

    def page(seen) -> Reply:
        parted = (seen.params["insertionstarttime"], seen.params["insertionendtime"]) != (str(START), str(END - 1))
        if parted and not dropped:
            dropped.append(seen.params)
            return Reply(reset=True)
        return endpoint.page(seen)

    tenant.fallback, tenant.count_fallback = page, endpoint.count
    pulled = pull(make_client(tenant, page_size=8))
    assert dropped, "no part was dropped"
    assert sorted(record["_id"] for record in pulled) == [f"r{n:02d}" for n in range(20)]
    retried = [seen for seen in tenant.pages_seen if seen.params == dropped[0]]
    assert len(retried) == 2, "the dropped part was asked again, once"


def test_an_endpoint_ignoring_offset_that_counts_more_than_it_serves_fails_the_pull(tenant):
    records = [(START + n, {"_id": f"r{n}"}) for n in range(12)]
    ignoring_offset(tenant, records)
    tenant.count_fallback = lambda seen: counted(99)  # every part counts more records than it serves
    with pytest.raises(NetskopePagingError, match=r"served \d+ of the 99 records it counts"):
        pull(make_client(tenant, page_size=8))


def test_offset_ignored_after_the_second_page_fails_the_pull_and_names_the_setting(tenant):
    records = [{"_id": f"r{n}"} for n in range(20)]
    # Offsets honoured up to 4, then every page is served from offset 4 again.
    tenant.fallback = lambda seen: ok(records[min(int(seen.params["offset"]), 4) :][: int(seen.params["limit"])])
    with pytest.raises(
        NetskopePagingError, match=r"ignores 'offset'.*fewer than 4 records each: NETSKOPE_SPLIT_MINUTES_"
    ):
        pull(make_client(tenant, page_size=4))
    assert [seen.params["offset"] for seen in tenant.pages_seen] == ["0", "4", "8"]


def test_a_page_serving_a_record_of_the_page_before_fails_the_pull(tenant):
    """The answer's order moved between requests: "b" comes again at offset 2, so another record never would."""
    tenant.queue(ok([{"_id": "a"}, {"_id": "b"}]), ok([{"_id": "b"}, {"_id": "d"}]), ok([{"_id": "e"}]))
    handed = []
    with pytest.raises(NetskopePagingError, match=r"served at offset 2 a record it had served on the page before"):
        for page in make_client(tenant, page_size=2).iter_window_pages("application", START, END):
            handed.append(page)
    assert decoded(handed) == [{"_id": "a"}, {"_id": "b"}], "the page with the repeat is not handed on"
    assert [seen.params["offset"] for seen in tenant.pages_seen] == ["0", "2"]


def test_twins_within_a_page_and_a_record_quarantined_on_each_page_are_not_repeats(tenant):
    tenant.queue(
        ok([{"_id": "a"}, {"_id": "a"}]),
        Reply(body=b'{"ok":1,"result":[{"_id":"n","v":NaN},{"_id":"c"}]}'),
        Reply(body=b'{"ok":1,"result":[{"_id":"m","v":NaN}]}'),
    )
    pages = list(make_client(tenant, page_size=2).iter_window_pages("application", START, END))
    assert decoded(pages) == [{"_id": "a"}, {"_id": "a"}, {"_id": "c"}]
    assert len([raw for page in pages for _, raw in page.quarantined]) == 2


def test_a_record_served_again_after_being_quarantined_on_the_page_before_fails_the_pull(tenant):
    tenant.queue(
        Reply(body=b'{"ok":1,"result":[{"_id":"n","v":NaN},{"_id":"c"}]}'),
        Reply(body=b'{"ok":1,"result":[{"_id":"n","v":NaN}]}'),
    )
    with pytest.raises(NetskopePagingError, match="order of its answer changed"):
        list(make_client(tenant, page_size=2).iter_window_pages("application", START, END))


def test_a_window_read_in_parts_asks_no_offset_and_says_why_a_full_second_fails(tenant):
    """``in_parts`` (after ``OrderMoved``): parts of the time range, each one page from offset 0."""
    ignoring_offset(tenant, [(START + 60 * n, {"_id": f"r{n:02d}"}) for n in range(20)])
    pulled = decoded(make_client(tenant, page_size=8).iter_window_pages("application", START, END, in_parts=True))
    assert sorted(record["_id"] for record in pulled) == [f"r{n:02d}" for n in range(20)]
    assert {seen.params["offset"] for seen in tenant.pages_seen} == {"0"}
    ignoring_offset(tenant, [(START, {"_id": f"s{n}"}) for n in range(8)])
    with pytest.raises(NetskopePagingError, match="orders its answer anew between requests, and a full page"):
        list(make_client(tenant, page_size=8).iter_window_pages("application", START, END, in_parts=True))
    with pytest.raises(ValueError, match="in_parts reads data/\\* windows only"):
        make_client(tenant).iter_window_pages("incident", START, END, in_parts=True)


def test_ids_beyond_2_53_stay_exact_and_gzip_is_decoded(tenant):
    big = 8024586225194723787
    tenant.queue(Reply(body=b'{"ok":1,"result":[{"_id":"x","connection_id":8024586225194723787}]}', gzip=True))
    [record] = pull(make_client(tenant))
    assert record["connection_id"] == big
    assert "gzip" in tenant.pages_seen[0].headers["Accept-Encoding"]


def test_http_204_is_an_empty_page(tenant):
    tenant.queue(Reply(status=204))
    assert pull(make_client(tenant)) == []


def test_401_rereads_the_token_once_then_succeeds(tenant):
    tokens = Tokens("old-token-1234", "new-token-5678")
    tenant.queue(Reply(status=401, body={"message": "Unauthorized"}), ok([{"_id": "a"}]))
    client = make_client(tenant, tokens)
    assert len(pull(client)) == 1
    assert tokens.calls == [False, True]
    assert [s.headers[TOKEN_HEADER] for s in tenant.pages_seen] == ["old-token-1234", "new-token-5678"]
    assert client.stats.total("token_refreshes") == 1


def test_401_after_reread_names_expiry_and_service_account(tenant):
    tokens = Tokens("expired-token-1234", "revoked-token-5678")
    tenant.fallback = lambda seen: Reply(status=401, body={"message": "Unauthorized"})
    with pytest.raises(NetskopeAuthError) as caught:
        pull(make_client(tenant, tokens))
    message = str(caught.value)
    assert "expired" in message and "service account" in message
    assert tokens.calls == [False, True], "read, then re-read once after the first 401: no more"
    assert [s.headers[TOKEN_HEADER] for s in tenant.pages_seen] == ["expired-token-1234", "revoked-token-5678"]
    assert "expired-token-1234" not in message and "revoked-token-5678" not in message


@pytest.mark.parametrize("log_type", ["incident", "audit", "infrastructure"])
def test_403_names_the_rbac_permission_of_the_log_type(tenant, log_type):
    tenant.fallback = lambda seen: Reply(status=403, body={"message": "You cannot consume this service"})
    with pytest.raises(NetskopePermissionError) as caught:
        pull(make_client(tenant), log_type)
    assert LOG_TYPES[log_type].rbac_permission in str(caught.value)
    assert caught.value.log_type == log_type
    assert len(tenant.pages_seen) == 1


def test_404_says_host_or_endpoint_is_wrong(tenant):
    tenant.fallback = lambda seen: Reply(status=404, body="Not Found", headers={"Content-Type": "text/plain"})
    with pytest.raises(NetskopeNotFoundError, match="tenant host or the endpoint is wrong"):
        pull(make_client(tenant))
    assert len(tenant.pages_seen) == 1


def test_400_fails_at_once_with_the_server_message(tenant):
    tenant.fallback = lambda seen: Reply(status=400, body={"message": "Invalid insertionstarttime"})
    with pytest.raises(NetskopeResponseError, match="Invalid insertionstarttime") as caught:
        pull(make_client(tenant))
    assert caught.value.status == 400
    assert len(tenant.pages_seen) == 1


@pytest.mark.parametrize(
    "failure",
    [
        Reply(status=500, body="oops"),
        Reply(status=503, body={"message": "busy"}),
        Reply(status=408, body="request timeout"),
        Reply(reset=True),
        Reply(body={"ok": 1, "result": [{"_id": "cut"}] * 50}, truncate_to=40),
        Reply(body=b'{"ok": 1, "result": [{"_id": "cut"'),  # complete HTTP message, cut JSON
        Reply(delay=0.6, body={"ok": 1, "result": []}),  # read timeout
        Reply(body={"ok": 1, "result": [{"_id": "cut"}] * 50}, truncate_to=30, gzip=True),
        Reply(body=gzip.compress(b'{"ok": 1, "result": [{"_id": "cut"}]}')[:-12], headers=GZIP),  # cut gzip stream
        Reply(body=b"not gzip at all", headers=GZIP),
    ],
    ids=[
        "500",
        "503",
        "408",
        "reset",
        "truncated-body",
        "truncated-json",
        "read-timeout",
        "truncated-gzip-body",
        "truncated-gzip-stream",
        "corrupt-gzip",
    ],
)
def test_transient_failures_are_retried_with_backoff(tenant, failure):
    tenant.queue(failure, failure, ok([{"_id": "a"}]))
    client = make_client(tenant, timeout=(2, 0.3))
    assert [r["_id"] for r in pull(client)] == ["a"]
    assert len(tenant.pages_seen) == 3
    assert client.stats.snapshot()["events/data/application"]["retries"] == 2


def test_retries_are_bounded(tenant):
    tenant.fallback = lambda seen: Reply(status=502, body="bad gateway")
    with pytest.raises(NetskopeRetriesExhaustedError, match="failed 4 times") as caught:
        pull(make_client(tenant, max_retries=3))
    assert caught.value.attempts == 4
    assert len(tenant.pages_seen) == 4


def test_ok_zero_on_http_200_fails_with_the_message(tenant):
    tenant.fallback = lambda seen: Reply(body={"ok": 0, "message": "Invalid query: unknown field foo"})
    with pytest.raises(NetskopeResponseError, match="unknown field foo"):
        pull(make_client(tenant), "incident")
    assert len(tenant.pages_seen) == 1


def test_missing_result_list_is_an_error_not_an_empty_window(tenant):
    tenant.fallback = lambda seen: Reply(body={"ok": 1, "data": []})
    with pytest.raises(NetskopeResponseError, match="without a 'result' list"):
        pull(make_client(tenant))


def test_html_login_page_fails_with_a_short_redacted_snippet(tenant):
    page = (
        "<html><head><title>Netskope Login</title></head><body>" + f"<!-- {TOKEN} -->" + "x" * 5000 + "</body></html>"
    )
    tenant.fallback = lambda seen: Reply(body=page, headers={"Content-Type": "text/html"})
    with pytest.raises(NetskopeResponseError, match="login or proxy page") as caught:
        pull(make_client(tenant))
    assert "Netskope Login" in caught.value.snippet
    assert len(caught.value.snippet) <= 200
    assert TOKEN not in str(caught.value) and TOKEN not in caught.value.snippet
    assert len(tenant.pages_seen) == 1


def test_429_waits_for_retry_after_and_counts_it(tenant):
    tenant.queue(Reply(status=429, body={"message": "API rate limit exceeded"}, headers={"Retry-After": "1"}))
    tenant.queue(ok([{"_id": "a"}]))
    client = make_client(tenant)
    assert len(pull(client)) == 1
    first, second = tenant.pages_seen
    assert second.at - first.at >= 1.0
    assert client.stats.snapshot()["events/data/application"]["rate_limited"] == 1


def test_ratelimit_remaining_zero_pauses_until_reset(tenant):
    tenant.queue(
        Reply(body={"ok": 1, "result": [{"_id": "a"}]}, headers={"RateLimit-Remaining": "0", "RateLimit-Reset": "1"})
    )
    tenant.queue(ok([{"_id": "b"}]))
    assert len(pull(make_client(tenant, page_size=1, rate_limit_per_second=100))) == 2
    first, second = tenant.pages_seen[:2]
    assert second.at - first.at >= 1.0


def test_429_is_never_hammered_but_bounded(tenant):
    tenant.fallback = lambda seen: Reply(status=429, headers={"Retry-After": "0"})
    with pytest.raises(NetskopeRetriesExhaustedError, match="rate limit"):
        pull(make_client(tenant, max_throttled_waits=3, rate_limit_per_second=100))
    assert len(tenant.pages_seen) == 4
    gaps = [b.at - a.at for a, b in zip(tenant.pages_seen, tenant.pages_seen[1:])]
    assert min(gaps) >= 0.05


def test_iterator_seeds_a_fresh_index_at_the_window_start_honours_wait_time_and_resends_a_failed_page(tenant):
    early = {"_id": "early", "timestamp": START - 3000}  # inserted in the window, happened before it
    inside = {"_id": "in", "timestamp": START + 5}
    after = {"_id": "after", "timestamp": END}  # read again by the next window: delivery keeps one copy
    tenant.queue(
        ok([early, inside], wait_time=1, timestamp_hwm=START + 10),
        Reply(status=500, body="transient"),
        ok([after], wait_time=0, timestamp_hwm=END + 3),
    )
    client = make_client(tenant, lookback_seconds=600)
    assert [r["_id"] for r in pull(client, "endpoint")] == ["early", "in", "after"]
    seed, failed, resent = tenant.pages_seen
    assert seed.path == "/api/v2/events/dataexport/events/endpoint"
    assert seed.params["operation"] == str(START)
    assert seed.params["index"].startswith(f"nsaf_endpoint_{START}_{END}_")
    assert (failed.params["operation"], resent.params["operation"]) == ("next", "resend")
    assert failed.params["index"] == resent.params["index"] == seed.params["index"]
    assert failed.at - seed.at >= 1.0  # wait_time honoured


def test_a_resend_answered_with_the_page_already_read_is_dropped(tenant):
    """A ``next`` refused before processing leaves the index where it was: ``resend`` repeats the page before."""
    a, b, c = ({"_id": i, "timestamp": START + 1} for i in "abc")
    tenant.queue(
        ok([a, b], wait_time=0, timestamp_hwm=START + 10),
        Reply(status=503, body="not processed"),
        ok([a, b], wait_time=0, timestamp_hwm=START + 10),
        ok([c], wait_time=0, timestamp_hwm=END),
    )
    client = make_client(tenant)
    assert [r["_id"] for r in pull(client, "endpoint")] == ["a", "b", "c"]
    assert [seen.params["operation"] for seen in tenant.pages_seen[1:]] == ["next", "resend", "next"]
    assert client.stats.snapshot()["events/dataexport/events/endpoint"]["duplicates_dropped"] == 2


def test_an_event_clock_iterator_is_seeded_the_look_back_earlier_and_a_clock_it_does_not_know_is_refused(tenant):
    tenant.queue(ok([], timestamp_hwm=END))
    list(make_client(tenant, lookback_seconds=7200, iterator_clock="event").iter_window_pages("endpoint", START, END))
    assert tenant.pages_seen[0].params["operation"] == str(START - 7200)
    with pytest.raises(NetskopeConfigError, match="iterator_clock must be one of insertion, event"):
        make_client(tenant, iterator_clock="insertion time")


def test_a_record_without_a_usable_event_time_is_quarantined_not_homed(tenant):
    tenant.queue(
        ok([{"_id": "a", "timestamp": START}, {"_id": "b"}, {"_id": "c", "timestamp": "soon"}], timestamp_hwm=END)
    )
    pages = list(make_client(tenant).iter_window_pages("endpoint", START, END))
    assert [r["_id"] for r in decoded(pages)] == ["a"]
    assert [(reason, raw) for page in pages for reason, raw in page.quarantined] == [
        ("no usable event timestamp, so it has no home log stream", b'{"_id":"b"}'),
        ("no usable event timestamp, so it has no home log stream", b'{"_id":"c","timestamp":"soon"}'),
    ]


def test_iterator_conflict_409_is_waited_out(tenant):
    tenant.queue(Reply(status=409, body={"ok": 0, "message": "conflict", "wait_time": 1}))
    tenant.queue(ok([{"_id": "a", "timestamp": START}], timestamp_hwm=END))
    client = make_client(tenant)
    assert len(pull(client, "endpoint")) == 1
    assert tenant.pages_seen[1].at - tenant.pages_seen[0].at >= 1.0
    assert client.stats.snapshot()["events/dataexport/events/endpoint"]["conflicts"] == 1


def test_iterator_without_progress_stops_with_advice(tenant):
    """The client's default: the 30th empty page in a row at one ``timestamp_hwm`` fails the pull, asking no 31st."""
    tenant.fallback = lambda seen: ok([], timestamp_hwm=START + 1, wait_time=0)
    with pytest.raises(NetskopeError, match=rf"timestamp_hwm={START + 1} \(30 empty pages in a row\).*not settled"):
        pull(make_client(tenant), "endpoint")
    assert len(tenant.pages_seen) == 30


def test_incident_reads_the_event_time_of_the_window(tenant):
    records = [{"_id": "first", "timestamp": START}, {"_id": "last", "timestamp": END - 1}]
    tenant.queue_counts(counted(2))
    tenant.queue(ok(records))
    assert [r["_id"] for r in pull(make_client(tenant), "incident")] == ["first", "last"]
    params = tenant.pages_seen[0].params
    assert tenant.pages_seen[0].path == "/api/v2/events/datasearch/incident"
    # starttime is exclusive, endtime inclusive: event time in [START, END).
    assert (params["starttime"], params["endtime"]) == (str(START - 1), str(END - 1))


def at(record_id: str) -> dict:
    return {"_id": record_id, "timestamp": START + 1}


def new(client: NetskopeClient, cursor: EventTimeCursor) -> tuple[list[str], EventTimeCursor]:
    read: list[EventTimeCursor] = []
    pages = client.iter_new_pages("incident", cursor, home_of=lambda when: when // 3600 * 3600, read=read)
    return [r["_id"] for r in decoded(pages)], *read


HOME = (START + 1) // 3600 * 3600


def test_incidents_with_nothing_new_cost_one_request_that_checks_the_order(tenant):
    tenant.queue(ok([at("b")]))
    cursor = EventTimeCursor(START, 2, '"b"', {HOME: 2})
    assert new(make_client(tenant), cursor) == ([], cursor)
    (seen,) = tenant.seen
    assert seen.path.endswith("datasearch/incident") and "endtime" not in seen.params, "up to the tenant's now"
    assert (seen.params["starttime"], seen.params["offset"]) == (str(START - 1), "1")


def test_incidents_inserted_since_are_read_from_where_the_last_read_ended(tenant):
    tenant.queue(ok([at("b"), at("c"), at("d")]))
    got = new(make_client(tenant), EventTimeCursor(START, 2, '"b"', {HOME: 2}))
    assert got == (["c", "d"], EventTimeCursor(START, 4, '"d"', {HOME: 4}))


def test_an_answer_whose_order_moved_is_read_again_from_the_start(tenant, caplog):
    tenant.queue(ok([at("new"), at("b")]), ok([at("a"), at("new"), at("b")]))
    got = new(make_client(tenant), EventTimeCursor(START, 2, '"b"', {HOME: 2}))
    assert got == (["a", "new", "b"], EventTimeCursor(START, 3, '"b"', {HOME: 3}))
    assert [seen.params["offset"] for seen in tenant.pages_seen] == ["1", "0"]
    assert "reading the answer again from the start" in caplog.text


def test_moving_the_anchor_drops_the_records_before_it_from_the_position():
    cursor = EventTimeCursor(START, 5, '"e"', {START: 2, START + 3600: 3})
    assert cursor.moved_to(START + 3600) == EventTimeCursor(START + 3600, 3, '"e"', {START + 3600: 3})
    assert cursor.moved_to(START + 7200) == EventTimeCursor(START + 7200, 0, "", {})
    assert cursor.moved_to(START - 3600) == cursor


def test_token_never_appears_in_logs_or_errors(tenant, caplog, capsys):
    """A pull that fails every way the token could leak: echoed in bodies, 401 loop, HTML page."""
    echo = f"token {TOKEN} is invalid"
    tenant.queue(
        Reply(status=500, body=echo),
        Reply(status=401, body=echo),
        Reply(status=503, body={"message": echo}),
        Reply(body=f"<html>{echo}</html>", headers={"Content-Type": "text/html"}),
    )
    caplog.set_level(logging.DEBUG)
    client = make_client(tenant, Tokens(TOKEN, TOKEN))
    with pytest.raises(NetskopeResponseError) as caught:
        pull(client)
    tenant.fallback = lambda seen: Reply(status=401, body=echo)
    with pytest.raises(NetskopeAuthError) as caught_auth:
        pull(client)
    captured = capsys.readouterr()
    everything = "\n".join(
        [caplog.text, captured.out, captured.err, str(caught.value), repr(caught.value), repr(client)]
        + [str(caught_auth.value), repr(caught_auth.value), repr(client.stats.snapshot())]
    )
    assert "is invalid" in everything  # the echoed bodies did reach the logs/errors...
    assert TOKEN not in everything  # ...but never the token itself


@pytest.mark.parametrize(
    ("log_type", "start", "end", "error", "match"),
    [
        ("applications", START, END, ValueError, "Unknown Netskope log type"),
        ("audit", END, START, ValueError, "start must be before end"),
        ("audit", START, START, ValueError, "start must be before end"),
        ("audit", float(START), END, TypeError, "whole epoch seconds"),
    ],
)
def test_bad_window_arguments_fail_at_call_time_without_a_request(tenant, log_type, start, end, error, match):
    with pytest.raises(error, match=match):
        make_client(tenant).iter_window_pages(log_type, start, end)
    assert tenant.pages_seen == []


def test_iterator_next_refused_with_429_is_sent_again_as_next(tenant):
    """A 429 means the server did not process the request, so the index did not move: no resend."""
    tenant.queue(
        ok([], timestamp_hwm=START + 10, wait_time=0),
        Reply(status=429, headers={"Retry-After": "0"}),
        ok([], timestamp_hwm=END),
    )
    list(make_client(tenant).iter_window_pages("endpoint", START, END))
    assert [seen.params["operation"] for seen in tenant.pages_seen[1:]] == ["next", "next"]


def test_retry_after_as_an_http_date_is_honoured(tenant):
    tenant.queue(Reply(status=429, headers={"Retry-After": formatdate(time.time() + 2, usegmt=True)}), ok([]))
    pull(make_client(tenant))
    first, second = tenant.pages_seen
    assert second.at - first.at >= 1.0


# --- the paging contract: a pull never ends quietly with less than the tenant counts --------------


def rows(*ids: str) -> list[dict]:
    return [{"_id": i} for i in ids]


def test_a_short_page_before_the_counted_end_is_asked_again_then_fails_the_pull(tenant):
    tenant.queue_counts(counted(5))
    tenant.queue(ok(rows("a", "b")), ok(rows("c")), ok(rows("c")), ok(rows("c")))
    with pytest.raises(NetskopePagingError, match=r"served 3 of the 5 records it counts.*Retry the task") as caught:
        pull(make_client(tenant, page_size=2))
    assert "offset 2 held 1 records where 2 were due" in str(caught.value)
    assert [seen.params["offset"] for seen in tenant.pages_seen] == ["0", "2", "2", "2"]
    count_query = [seen for seen in tenant.seen if seen not in tenant.pages_seen]
    assert len(count_query) == 1 and count_query[0].params["fields"] == "event_count:count(_id)"
    assert count_query[0].params["insertionendtime"] == str(END - 1)


def test_a_short_page_that_is_whole_when_asked_again_is_not_an_error(tenant):
    tenant.queue_counts(counted(3))
    tenant.queue(ok(rows("a", "b")), ok([]), ok(rows("c")))
    assert [r["_id"] for r in pull(make_client(tenant, page_size=2))] == ["a", "b", "c"]


def test_an_empty_page_that_states_a_total_is_not_an_empty_window(tenant):
    tenant.queue(*[ok([], total=500)] * 3)
    tenant.queue_counts(counted(500))
    with pytest.raises(NetskopePagingError, match="served 0 of the 500"):
        pull(make_client(tenant))
    assert len(tenant.pages_seen) == 3, "the page's own total, asked again twice"
    assert [is_count(seen) for seen in tenant.seen] == [False] * 3 + [True], "then checked by one count"


def test_a_stated_total_the_count_contradicts_gives_way_to_the_count(tenant, caplog):
    """Should a tenant's ``total`` mean more than the query holds, the pull ends whole instead of failing for good."""
    tenant.queue(ok(rows("a", "b"), total=9), *[ok(rows("c"), total=9)] * 3)
    tenant.queue_counts(counted(3))
    assert [r["_id"] for r in pull(make_client(tenant, page_size=2))] == ["a", "b", "c"]
    assert "states 9 records for this query where its count is 3" in caplog.text
    assert [is_count(seen) for seen in tenant.seen] == [False] * 4 + [True]


def test_a_stated_total_ends_no_pull_early(tenant, caplog):
    """Should a tenant's ``total`` count only a page's rows, every page is still read: nothing is lost on its word."""
    tenant.queue(ok(rows("a", "b"), total=2), ok(rows("c", "d"), total=2), ok(rows("e"), total=1))
    assert [r["_id"] for r in pull(make_client(tenant, page_size=2))] == ["a", "b", "c", "d", "e"]
    assert "served 5 records, more than the 2 it counted" in caplog.text
    assert not [seen for seen in tenant.seen if is_count(seen)]


def test_a_full_page_that_reaches_the_count_ends_the_pull_without_an_empty_request(tenant):
    tenant.queue_counts(counted(4))
    tenant.queue(ok(rows("a", "b")), ok(rows("c", "d")))
    assert len(pull(make_client(tenant, page_size=2))) == 4
    assert len(tenant.pages_seen) == 2 and len(tenant.seen) == 3


def test_a_full_first_page_is_handed_on_before_the_count_is_asked_a_short_one_after(tenant):
    """The caller maps a full first page while its count is asked; a short one is checked before it is handed on."""
    tenant.queue_counts(counted(3))
    tenant.queue(ok(rows("a", "b")), ok(rows("c")))
    pages = make_client(tenant, page_size=2).iter_window_pages("application", START, END)
    assert len(next(pages).records) == 2
    assert len(tenant.seen) == 1, "the full first page came before the count query"
    assert len(next(pages).records) == 1
    assert [seen.params.get("fields") for seen in tenant.seen] == [None, "event_count:count(_id)", None]
    assert next(pages, None) is None

    tenant.queue_counts(counted(1))
    tenant.queue(ok(rows("a")))
    seen_before = len(tenant.seen)
    pages = make_client(tenant, page_size=2).iter_window_pages("application", START, END)
    assert len(next(pages).records) == 1
    assert [seen.params.get("fields") for seen in tenant.seen[seen_before:]] == [None, "event_count:count(_id)"]


def test_records_beyond_the_count_are_pulled_too(tenant, caplog):
    tenant.queue_counts(counted(1))
    tenant.queue(ok(rows("a", "b")), ok(rows("c")))
    assert [r["_id"] for r in pull(make_client(tenant, page_size=2))] == ["a", "b", "c"]
    assert "more than the 1 it counted" in caplog.text


def test_a_tenant_that_cannot_count_a_query_is_paged_without_the_check(tenant, caplog):
    tenant.queue_counts(Reply(status=400, body={"message": "aggregation is not supported here"}))
    tenant.queue(ok(rows("a")))
    assert len(pull(make_client(tenant))) == 1
    assert "could not count the query" in caplog.text and "paging is not checked" in caplog.text


def test_incident_paging_is_checked_against_the_count_of_its_event_time_query(tenant):
    tenant.queue_counts(counted(3))
    tenant.queue(ok([{"_id": "i1", "timestamp": START + 1}, {"_id": "i2", "timestamp": START + 2}]), *[ok([])] * 3)
    with pytest.raises(NetskopePagingError, match="served 2 of the 3"):
        pull(make_client(tenant, page_size=2), "incident")
    count_query = next(seen for seen in tenant.seen if seen not in tenant.pages_seen)
    assert count_query.path.endswith("datasearch/incident")
    assert (count_query.params["starttime"], count_query.params["endtime"]) == (str(START - 1), str(END - 1))
