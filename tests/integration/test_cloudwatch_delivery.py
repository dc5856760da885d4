"""CloudWatch Logs delivery against a real ``moto_server`` and recording sinks.

moto enforces ordering and the 14 d / 2 h windows but not the batch limits, so batch rules are
also checked on the calls a recording sink receives.
"""

from __future__ import annotations

import random
import threading
import time
import tracemalloc
import uuid
from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError
from flaky_cloudwatch import FlakyCloudWatch
from hypothesis import given, settings
from hypothesis import strategies as st

from netskope_provider.delivery import (
    CHUNK_EVENTS,
    EVENT_OVERHEAD_BYTES,
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    MAX_BATCH_SPAN_MS,
    MAX_EVENT_BYTES,
    PIPELINE_EVENT_BYTES,
    TIMESTAMP_POLICIES,
    DeliveryReport,
    PresentMessages,
    deliver,
    ensure_log_group,
    message_digest,
    plan_batches,
    read_stream,
    stream_name,
)
from netskope_provider.exceptions import (
    CloudWatchDeliveryError,
    CloudWatchEventRejectedError,
    CloudWatchPermissionError,
)

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def ocsf_line(i: int, ts: int) -> bytes:
    """A small OCSF-like message; the uid exceeds 2**53 to show ids travel as exact strings."""
    return b'{"class_uid":4001,"time":%d,"metadata":{"uid":"%d"},"n":%d}' % (ts, 2**60 + i, i)


def window_events(count: int, *, base: int | None = None, spread_ms: int = HOUR_MS) -> list[tuple[int, bytes]]:
    """``count`` distinct events spread over ``spread_ms`` before ``base``, shuffled."""
    base = now_ms() if base is None else base
    rng = random.Random(count)
    events = [(ts, ocsf_line(i, ts)) for i in range(count) for ts in [base - rng.randrange(spread_ms)]]
    rng.shuffle(events)
    return events


def client_error(code: str, operation: str = "PutLogEvents") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"simulated {code}"}}, operation)


class Wrapper:
    """Forwards to a real client; subclasses alter chosen calls."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


class RecordingSink:
    """A stand-in client that records every PutLogEvents call and accepts everything."""

    def __init__(self) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.lock = threading.Lock()

    def put_log_events(self, *, logGroupName: str, logStreamName: str, logEvents: list[dict]) -> dict:
        with self.lock:
            self.calls.append(logEvents)
        return {}


@pytest.fixture
def logs(moto_server):
    return moto_server.client("logs")


@pytest.fixture
def group(logs) -> str:
    name = f"/netskope/test/{uuid.uuid4().hex}"
    ensure_log_group(logs, name)
    return name


def stored(logs, group: str, stream: str) -> list[tuple[int, str]]:
    return list(read_stream(logs, group, stream))


def assert_batch_is_valid(batch: list[dict[str, Any]]) -> None:
    timestamps = [event["timestamp"] for event in batch]
    assert 1 <= len(batch) <= MAX_BATCH_EVENTS
    assert sum(len(e["message"].encode()) + EVENT_OVERHEAD_BYTES for e in batch) <= MAX_BATCH_BYTES
    assert timestamps == sorted(timestamps)
    assert timestamps[-1] - timestamps[0] < MAX_BATCH_SPAN_MS


# --- naming and group set-up ------------------------------------------------------------------


def test_stream_name_is_deterministic_and_valid():
    name = stream_name("application", 1_764_201_600, 1_764_205_200)
    assert name == "netskope/application/20251127T000000Z-20251127T010000Z"
    assert name == stream_name("application", 1_764_201_600, 1_764_205_200)
    assert ":" not in name and "*" not in name
    assert stream_name("page", 0, 60, prefix="tenant-a") == "tenant-a/page/19700101T000000Z-19700101T000100Z"


@pytest.mark.parametrize(("log_type", "start", "end"), [("app", 10, 10), ("a:b", 0, 1), ("", 0, 1), ("a*", 0, 1)])
def test_stream_name_refuses_bad_input(log_type, start, end):
    with pytest.raises(ValueError, match="must"):
        stream_name(log_type, start, end)


def test_ensure_log_group_creates_with_retention_and_is_idempotent(logs):
    name = f"/netskope/test/{uuid.uuid4().hex}"
    ensure_log_group(logs, name, retention_days=30)
    ensure_log_group(logs, name, retention_days=30)
    groups = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    assert [(g["logGroupName"], g.get("retentionInDays")) for g in groups] == [(name, 30)]


@pytest.mark.parametrize(("name", "retention"), [("aws/reserved", None), ("bad name!", None), ("/ok", 31)])
def test_ensure_log_group_refuses_bad_input(logs, name, retention):
    with pytest.raises(ValueError, match="use"):
        ensure_log_group(logs, name, retention_days=retention)


# --- the batcher ------------------------------------------------------------------------------


def staged(ts: int, size: int) -> tuple[int, str, int, int]:
    return (ts, "x" * size, size, ts)


def test_batcher_caps_event_count():
    batches = list(plan_batches([staged(1000, 1)] * (MAX_BATCH_EVENTS + 1)))
    assert [len(b) for b in batches] == [MAX_BATCH_EVENTS, 1]


def test_batcher_counts_26_bytes_per_event():
    per_event = MAX_BATCH_BYTES // 4 - EVENT_OVERHEAD_BYTES
    exact = [staged(1000, per_event)] * 4
    assert [len(b) for b in plan_batches(exact)] == [4]
    one_byte_more = exact[:3] + [staged(1000, per_event + 1)]
    assert [len(b) for b in plan_batches(one_byte_more)] == [3, 1]
    assert [len(b) for b in plan_batches([staged(1000, MAX_EVENT_BYTES)] * 2)] == [1, 1]


def test_batcher_keeps_span_under_24_hours():
    day = MAX_BATCH_SPAN_MS
    events = [staged(ts, 1) for ts in (0, day - 1, day, day + 5)]
    assert [[e[0] for e in b] for b in plan_batches(events)] == [[0, day - 1], [day, day + 5]]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5 * DAY_MS), st.integers(1, 300_000)), min_size=1, max_size=60))
def test_batcher_output_is_always_valid(pairs):
    events = sorted((staged(ts, size) for ts, size in pairs), key=lambda e: e[0])
    batches = list(plan_batches(events))
    assert [e for b in batches for e in b] == events
    for batch in batches:
        assert_batch_is_valid([{"timestamp": e[0], "message": e[1]} for e in batch])


def test_recording_sink_receives_only_valid_batches_holding_every_event_once():
    base = now_ms()
    rng = random.Random(7)
    events = [
        (base - rng.randrange(3 * DAY_MS), ocsf_line(i, 0) + b" " * rng.choice((0, 200, 5_000))) for i in range(25_000)
    ]
    sink = RecordingSink()
    report = deliver(events, sink, "/g", "s", now_ms=base)
    for batch in sink.calls:
        assert_batch_is_valid(batch)
    sent = Counter((e["timestamp"], e["message"].encode()) for batch in sink.calls for e in batch)
    assert sent == Counter(events)
    assert (report.events, report.delivered) == (25_000, 25_000)
    assert report.puts == report.batches == len(sink.calls)
    assert report.bytes == sum(len(m) for _, m in events)
    assert len(sink.calls) > 3  # count, bytes and span all had to cut


def test_input_is_streamed_in_bounded_chunks():
    consumed = 0
    consumed_at_first_put: list[int] = []

    def events():
        nonlocal consumed
        base = now_ms()
        for i in range(CHUNK_EVENTS * 2 + 10):
            consumed += 1
            yield base - i, ocsf_line(i, 0)

    class Sink(RecordingSink):
        def put_log_events(self, **kwargs):
            consumed_at_first_put.append(consumed)
            return super().put_log_events(**kwargs)

    report = deliver(events(), Sink(), "/g", "s")
    assert report.delivered == CHUNK_EVENTS * 2 + 10
    assert consumed_at_first_put[0] <= CHUNK_EVENTS


def test_memory_stays_bounded_for_a_window_larger_than_it():
    """120 MB of input passes through well under 40 MB (chunks of at most 8 MiB are staged)."""
    padding = b"p" * 8_000

    def events():
        base = now_ms()
        for i in range(15_000):
            yield base - i * 211 % HOUR_MS, b'{"n":%d,"pad":"%s"}' % (i, padding)

    tracemalloc.start()
    try:
        report = deliver(events(), NoOpSink(), "/g", "s")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.delivered == 15_000
    assert report.bytes > 120_000_000
    assert peak < 40_000_000


class NoOpSink:
    """Keeps nothing, so the test measures the delivery path only."""

    def put_log_events(self, **kwargs):
        return {}


def test_puts_run_in_parallel():
    active = 0
    peak = 0
    lock = threading.Lock()

    class SlowSink:
        def put_log_events(self, **kwargs):
            nonlocal active, peak
            with lock:
                active += 1
                peak = max(peak, active)
            time.sleep(0.05)
            with lock:
                active -= 1
            return {}

    report = deliver(window_events(8 * MAX_BATCH_EVENTS), SlowSink(), "/g", "s", max_workers=4)
    assert report.puts == report.batches >= 8
    assert peak > 1


# --- against moto_server ----------------------------------------------------------------------


def test_delivers_exact_content_in_timestamp_order(logs, group):
    events = window_events(2_500)
    events.append((now_ms() - 5, 'ünïcode ✓ {"uid":"18446744073709551615"}'.encode()))
    report = deliver(events, logs, group, "s1")
    assert report.as_dict() == {
        "events": 2_501,
        "delivered": 2_501,
        "already_present": 0,
        "restamped": 0,
        "rejected": 0,
        "bytes": sum(len(m) for _, m in events),
        "batches": 1,
        "puts": 1,
        "throttled": 0,
        "unanswered_puts": 0,
        "landed_unanswered": 0,
        "resent": 0,
        "read_backs": 0,
        "rejected_reasons": {},
    }
    back = stored(logs, group, "s1")
    assert Counter(back) == Counter((ts, m.decode()) for ts, m in events)
    assert [ts for ts, _ in back] == sorted(ts for ts, _ in events)


def test_old_events_are_restamped_under_ingest_time(logs, group):
    delivery_time = now_ms()
    old = window_events(50, base=delivery_time - 20 * DAY_MS)
    fresh = window_events(30, base=delivery_time)
    report = deliver(old + fresh, logs, group, "s", now_ms=delivery_time)
    assert (report.delivered, report.restamped, report.rejected) == (80, 50, 0)
    back = {m: ts for ts, m in stored(logs, group, "s")}
    assert len(back) == 80
    for _ts, message in old:
        assert back[message.decode()] == delivery_time  # the message still carries the true time
    for ts, message in fresh:
        assert back[message.decode()] == ts


def test_future_events_are_restamped_under_ingest_time(logs, group):
    delivery_time = now_ms()
    future = window_events(5, base=delivery_time + 3 * HOUR_MS, spread_ms=10)
    report = deliver(future, logs, group, "s", now_ms=delivery_time)
    assert (report.delivered, report.restamped) == (5, 5)
    assert {ts for ts, _ in stored(logs, group, "s")} == {delivery_time}


#: Event times CloudWatch Logs refuses, relative to now: older than 14 days, more than 2 hours ahead.
OUTSIDE_CLOUDWATCH = {"old": -20 * DAY_MS, "future": 3 * HOUR_MS}


@pytest.mark.parametrize("age", sorted(OUTSIDE_CLOUDWATCH))
def test_old_and_future_events_are_rejected_with_reason_under_reject(logs, group, age):
    outside = window_events(10, base=now_ms() + OUTSIDE_CLOUDWATCH[age], spread_ms=10)
    fresh = window_events(5)
    seen: list[tuple[int, bytes, str]] = []
    report = deliver(
        outside + fresh, logs, group, "s", timestamp_policy="reject", on_rejected=lambda *a: seen.append(a)
    )
    assert (report.delivered, report.rejected, report.rejected_reasons) == (5, 10, {"timestamp": 10})
    assert sorted((ts, m) for ts, m, _ in seen) == sorted(outside)
    assert all("outside what CloudWatch Logs accepts" in reason for _, _, reason in seen)
    assert Counter(stored(logs, group, "s")) == Counter((ts, m.decode()) for ts, m in fresh)


@pytest.mark.parametrize("age", sorted(OUTSIDE_CLOUDWATCH))
def test_old_and_future_events_raise_under_fail(logs, group, age):
    events = window_events(5) + window_events(1, base=now_ms() + OUTSIDE_CLOUDWATCH[age], spread_ms=10)
    with pytest.raises(
        CloudWatchEventRejectedError,
        match=r"is outside what CloudWatch Logs accepts now.*timestamp_policy='ingest_time'",
    ):
        deliver(events, logs, group, "s", timestamp_policy="fail")


def test_group_retention_narrows_what_counts_as_too_old(logs):
    name = f"/netskope/test/{uuid.uuid4().hex}"
    ensure_log_group(logs, name, retention_days=1)
    events = window_events(4, base=now_ms() - 2 * DAY_MS)
    report = deliver(events, logs, name, "s")
    assert (report.delivered, report.restamped) == (4, 4)


def test_cloudwatch_refusals_in_a_successful_call_are_resent(logs, group):
    """A skewed delivery clock lets events through that moto then refuses; they are re-sent."""
    real_now = now_ms()
    too_old = window_events(3, base=real_now - 14 * DAY_MS - HOUR_MS, spread_ms=1000)
    too_new = window_events(2, base=real_now + 5 * HOUR_MS, spread_ms=1000)
    # fine by both the skewed and the real clock, and in the same batch as the refused ones
    fine_then = window_events(4, base=real_now - 14 * DAY_MS + 3 * HOUR_MS)
    report = deliver(too_old + fine_then, logs, group, "old", now_ms=real_now - 10 * DAY_MS)
    assert (report.delivered, report.restamped, report.puts) == (7, 3, 2)
    fine_soon = window_events(4, base=real_now + HOUR_MS)
    report = deliver(too_new + fine_soon, logs, group, "new", now_ms=real_now + 4 * HOUR_MS)
    assert (report.delivered, report.restamped, report.puts) == (6, 2, 2)
    for stream, expected in (("old", too_old + fine_then), ("new", too_new + fine_soon)):
        assert Counter(m for _, m in stored(logs, group, stream)) == Counter(m.decode() for _, m in expected)


def test_cloudwatch_refusals_follow_reject_and_fail_policies(logs, group):
    too_old = window_events(3, base=now_ms() - 16 * DAY_MS, spread_ms=1000)
    skewed = now_ms() - 10 * DAY_MS
    fine = window_events(2, base=skewed)
    seen: list[str] = []
    report = deliver(
        too_old + fine,
        logs,
        group,
        "r",
        timestamp_policy="reject",
        now_ms=skewed,
        on_rejected=lambda ts, m, reason: seen.append(reason),
    )
    assert (report.delivered, report.rejected) == (2, 3)
    assert seen == ["CloudWatch refused it: older than CloudWatch accepts"] * 3
    with pytest.raises(CloudWatchEventRejectedError, match="CloudWatch Logs refused"):
        deliver(too_old, logs, group, "f", timestamp_policy="fail", now_ms=skewed)


class RefusingSink(RecordingSink):
    """Refuses events outside [now - 14 d, now + 2 h] like CloudWatch, and reports the indexes the
    AWS way (``aws``: exclusive old end, inclusive new start) or the moto way (last refused index)."""

    def __init__(self, semantics: str) -> None:
        super().__init__()
        self.semantics = semantics
        self.accepted: Counter[str] = Counter()

    def put_log_events(self, **kwargs):
        super().put_log_events(**kwargs)
        events = kwargs["logEvents"]
        old = [i for i, e in enumerate(events) if e["timestamp"] < now_ms() - 14 * DAY_MS]
        new = [i for i, e in enumerate(events) if e["timestamp"] > now_ms() + 2 * HOUR_MS]
        self.accepted.update(e["message"] for i, e in enumerate(events) if i not in old and i not in new)
        info = {}
        if old:
            info["tooOldLogEventEndIndex"] = old[-1] + 1 if self.semantics == "aws" else old[-1]
        if new:
            info["tooNewLogEventStartIndex"] = new[0] if self.semantics == "aws" else new[-1]
        return {"rejectedLogEventsInfo": info} if info else {}


@pytest.mark.parametrize("semantics", ["aws", "moto"])
def test_refused_index_semantics_settle_every_event_once(semantics):
    """AWS documents tooOld as an exclusive end and tooNew as an inclusive start; moto differs."""
    real_now = now_ms()
    old_case = window_events(5, base=real_now - 14 * DAY_MS - HOUR_MS, spread_ms=10)
    old_case += window_events(4, base=real_now - 14 * DAY_MS + 3 * HOUR_MS)  # same batch: the boundary is inside
    new_case = window_events(6, base=real_now + 5 * HOUR_MS, spread_ms=10)
    new_case += window_events(4, base=real_now + HOUR_MS)
    for events, skewed_now, restamped in ((old_case, real_now - 12 * DAY_MS, 5), (new_case, real_now + 4 * HOUR_MS, 6)):
        sink = RefusingSink(semantics)
        report = deliver(events, sink, "/g", "s", now_ms=skewed_now)
        assert (report.delivered, report.restamped) == (len(events), restamped)
        assert sink.accepted == Counter(m.decode() for _, m in events)


def test_oversized_events_follow_the_oversize_policy(logs, group):
    big = (now_ms(), b'{"x":"' + b"a" * PIPELINE_EVENT_BYTES + b'"}')
    largest = (now_ms(), b"b" * MAX_EVENT_BYTES)
    too_big = (now_ms(), b"c" * (MAX_EVENT_BYTES + 1))
    seen: list[str] = []
    report = deliver([big, largest, too_big], logs, group, "s", on_rejected=lambda ts, m, reason: seen.append(reason))
    assert (report.delivered, report.rejected, report.rejected_reasons) == (2, 1, {"oversize": 1})
    assert seen == [f"message has {MAX_EVENT_BYTES + 1} bytes, over the {MAX_EVENT_BYTES}-byte event limit"]
    report = deliver([big], logs, group, "p", max_event_bytes=PIPELINE_EVENT_BYTES)
    assert report.rejected == 1
    with pytest.raises(CloudWatchEventRejectedError, match="oversize_policy='reject'"):
        deliver([too_big], logs, group, "f", oversize_policy="fail")


@pytest.mark.parametrize("policy", TIMESTAMP_POLICIES)
def test_malformed_events_are_rejected_with_reasons(logs, group, policy):
    seen: list[str] = []
    events = [(now_ms(), b"\xff\xfe"), (now_ms(), b""), ("yesterday", b"{}"), (now_ms(), b"{}")]
    report = deliver(
        events, logs, group, "s", timestamp_policy=policy, on_rejected=lambda ts, m, reason: seen.append(reason)
    )
    assert (report.events, report.delivered, report.rejected, report.rejected_reasons) == (4, 1, 3, {"malformed": 3})
    assert seen == [
        "message is not valid UTF-8",
        "message is empty (CloudWatch needs at least 1 byte)",
        "timestamp is not an integer of epoch milliseconds",
    ]


# --- idempotency ------------------------------------------------------------------------------


def test_rerun_leaves_one_copy(logs, group):
    events = window_events(3_000) + window_events(20, base=now_ms() - 20 * DAY_MS)
    first = deliver(events, logs, group, "s")
    second = deliver(events, logs, group, "s")
    assert (first.delivered, second.delivered, second.already_present, second.puts) == (3_020, 0, 3_020, 0)
    assert Counter(m for _, m in stored(logs, group, "s")) == Counter(m.decode() for _, m in events)


def test_crash_mid_delivery_then_rerun_leaves_one_copy(logs, group):
    class CrashAfter(Wrapper):
        def __init__(self, client, puts):
            super().__init__(client)
            self.left = puts
            self.lock = threading.Lock()

        def put_log_events(self, **kwargs):
            with self.lock:
                self.left -= 1
                if self.left < 0:
                    raise ConnectionError("worker killed")
            return self.client.put_log_events(**kwargs)

    padding = b" " * 4_000  # ~4 KB events: the byte limit cuts ~250-event batches, cheap for moto
    events = [(ts, message + padding) for ts, message in window_events(1_000)]
    with pytest.raises(ConnectionError):
        deliver(events, CrashAfter(logs, 2), group, "s", max_workers=2)
    partial = len(stored(logs, group, "s"))
    assert 0 < partial < len(events)
    report = deliver(events, logs, group, "s")
    assert (report.already_present, report.delivered) == (partial, len(events) - partial)
    assert Counter(m for _, m in stored(logs, group, "s")) == Counter(m.decode() for _, m in events)


def test_identical_messages_are_counted_as_a_multiset(logs, group):
    same = (now_ms(), b'{"same":true}')
    deliver([same], logs, group, "s")
    report = deliver([same, same, (now_ms(), b'{"other":1}')], logs, group, "s")
    assert (report.already_present, report.delivered) == (1, 2)
    assert Counter(m for _, m in stored(logs, group, "s")) == {'{"same":true}': 2, '{"other":1}': 1}


def test_present_messages_consume_each_copy_once():
    present = PresentMessages(["a", "b", "a"])
    assert [present.take(message_digest(m)) for m in (b"a", b"a", b"a", b"c", b"b")] == [True, True, False, False, True]


def test_read_stream_pages_through_everything(logs, group):
    events = window_events(12_345, spread_ms=DAY_MS // 2)
    deliver(events, logs, group, "s")
    assert len(stored(logs, group, "s")) == 12_345


# --- AWS errors -------------------------------------------------------------------------------


@pytest.fixture
def via_proxy(flaky: FlakyCloudWatch) -> tuple[Any, Any]:
    """Clients through the proxy as the pipeline builds them: reads retried by botocore, puts never."""
    import boto3
    from botocore.config import Config

    flaky.set(**dict.fromkeys(("throttle_next", "throttle_reads_next", "drop_replies_next", "error_next"), 0))

    def client(retries: dict) -> Any:
        return boto3.client("logs", endpoint_url=flaky.url, region_name="us-east-1", config=Config(retries=retries))

    return client({"mode": "standard", "max_attempts": 10}), client({"mode": "standard", "total_max_attempts": 1})


def padded_events(count: int) -> list[tuple[int, bytes]]:
    """~4 KB events: the byte limit cuts ~250-event batches, so a delivery makes several puts."""
    return [(ts, message + b" " * 4_000) for ts, message in window_events(count)]


def test_throttled_puts_are_read_back_and_only_what_is_missing_is_sent(flaky, via_proxy, group, logs):
    flaky.set(throttle_next=3)
    events = window_events(100)
    report = deliver(events, via_proxy[0], group, "s", put_client=via_proxy[1], verify_wait_seconds=0)
    assert (report.throttled, report.unanswered_puts, report.landed_unanswered) == (3, 3, 0)
    assert report.read_backs == 3 and report.delivered == 100 and report.resent == 300
    assert Counter(m for _, m in stored(logs, group, "s")) == Counter(m.decode() for _, m in events)


@pytest.mark.parametrize("fault", ["drop_replies_next", "error_next"])
def test_puts_stored_without_an_answer_are_never_sent_twice(flaky, via_proxy, group, logs, fault):
    """The put lands but its answer is lost (reset) or is a 500: the read-back finds it, nothing is re-sent."""
    flaky.set(**{fault: 3})
    events = padded_events(1_000)
    report = deliver(events, via_proxy[0], group, "s", put_client=via_proxy[1], verify_wait_seconds=0)
    assert flaky.state()[fault] == 0
    assert report.unanswered_puts == 3 and report.read_backs == 1 and report.resent == 0
    assert 0 < report.landed_unanswered < 1_000 and report.delivered == 1_000
    assert Counter(m for _, m in stored(logs, group, "s")) == Counter(m.decode() for _, m in events)


def test_puts_that_never_get_an_answer_fail_after_bounded_read_backs(flaky, via_proxy, group, logs):
    flaky.set(throttle_next=100)
    with pytest.raises(CloudWatchDeliveryError, match="no answer after 4 read-backs; the task retry reads"):
        deliver(window_events(10), via_proxy[0], group, "s", put_client=via_proxy[1], verify_wait_seconds=0)
    assert stored(logs, group, "s") == []
    flaky.set(throttle_next=0)
    assert deliver(window_events(10), logs, group, "s").delivered == 10


def test_a_lost_answer_with_events_that_cannot_be_read_again_leaves_it_to_the_task_retry(flaky, via_proxy, group):
    flaky.set(drop_replies_next=1)
    events = window_events(10)
    with pytest.raises(CloudWatchDeliveryError, match="cannot be read again"):
        deliver(iter(events), via_proxy[0], group, "s", put_client=via_proxy[1], verify_wait_seconds=0)


def test_a_throttled_read_back_is_retried_by_botocore(flaky, via_proxy, group):
    events = window_events(50)
    deliver(events, via_proxy[0], group, "s", put_client=via_proxy[1])
    flaky.set(throttle_reads_next=2)
    report = deliver(events, via_proxy[0], group, "s", put_client=via_proxy[1])
    assert flaky.state()["throttle_reads_next"] == 0
    assert (report.already_present, report.delivered) == (50, 0)


def test_a_sink_without_read_back_fails_on_a_lost_answer():
    class AlwaysThrottled:
        def put_log_events(self, **kwargs):
            raise client_error("ThrottlingException")

    with pytest.raises(CloudWatchDeliveryError, match="cannot be read back"):
        deliver(window_events(3), AlwaysThrottled(), "/g", "s", verify_wait_seconds=0)


@pytest.mark.parametrize(
    ("operation", "permission"),
    [
        ("put_log_events", "logs:PutLogEvents"),
        ("create_log_stream", "logs:CreateLogStream"),
    ],
)
def test_missing_permission_names_it(logs, group, operation, permission):
    class Denied(Wrapper):
        def __getattr__(self, name):
            if name == operation:

                def deny(**kwargs):
                    raise client_error("AccessDeniedException", operation)

                return deny
            return getattr(self.client, name)

    with pytest.raises(CloudWatchPermissionError, match=permission) as info:
        deliver(window_events(3), Denied(logs), group, "s")
    assert info.value.permission == permission
    assert group in str(info.value)


def test_missing_create_log_group_permission_names_it(logs):
    class Denied(Wrapper):
        def create_log_group(self, **kwargs):
            raise client_error("AccessDeniedException", "CreateLogGroup")

    with pytest.raises(CloudWatchPermissionError, match="logs:CreateLogGroup"):
        ensure_log_group(Denied(logs), "/netskope/denied")


def test_missing_group_says_how_to_create_it(logs):
    with pytest.raises(CloudWatchDeliveryError, match="ensure_log_group"):
        deliver(window_events(1), logs, f"/netskope/missing/{uuid.uuid4().hex}", "s")


def test_stream_deleted_during_delivery_says_to_rerun(logs, group):
    class DeletesStream(Wrapper):
        def put_log_events(self, **kwargs):
            self.client.delete_log_stream(logGroupName=kwargs["logGroupName"], logStreamName=kwargs["logStreamName"])
            return self.client.put_log_events(**kwargs)

    with pytest.raises(CloudWatchDeliveryError, match="rerun"):
        deliver(window_events(3), DeletesStream(logs), group, "s")


def test_refused_batch_explains_the_event_size_setting(logs, group):
    class SmallEventRegion(Wrapper):
        def put_log_events(self, **kwargs):
            raise client_error("InvalidParameterException")

    with pytest.raises(CloudWatchDeliveryError, match="max_event_bytes=PIPELINE_EVENT_BYTES"):
        deliver(window_events(3), SmallEventRegion(logs), group, "s")


def test_explicit_retention_applies_without_describe_permission():
    sink = RecordingSink()
    report = deliver(window_events(3, base=now_ms() - 2 * DAY_MS), sink, "/g", "s", retention_days=1)
    assert (report.delivered, report.restamped) == (3, 3)


def test_ensure_log_group_passes_the_kms_key(logs):
    name = f"/netskope/test/{uuid.uuid4().hex}"
    key = "arn:aws:kms:us-east-1:123456789012:key/12345678-1234-1234-1234-123456789012"
    ensure_log_group(logs, name, kms_key_id=key)
    assert logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"][0].get("kmsKeyId") == key


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["fresh", "old", "future", "huge", "empty", "not_utf8", "bad_ts"]), st.integers(0, 10**6)
        ),
        max_size=40,
    ),
    st.sampled_from(TIMESTAMP_POLICIES),
)
def test_every_event_is_delivered_or_rejected_with_a_reason(kinds, policy):
    """Malformed and oversized events are rejected under every policy; old and future ones follow it."""
    base = now_ms()
    shapes = {
        "fresh": lambda n: (base - n, b'{"n":%d}' % n),
        "old": lambda n: (base - 20 * DAY_MS - n, b'{"old":%d}' % n),
        "future": lambda n: (base + 3 * HOUR_MS + n, b'{"future":%d}' % n),
        "huge": lambda n: (base, b"h" * (MAX_EVENT_BYTES + 1)),
        "empty": lambda n: (base, b""),
        "not_utf8": lambda n: (base, b"\xc3\x28"),
        "bad_ts": lambda n: (float(base), b"{}"),
    }
    events = [shapes[kind](n) for kind, n in kinds]
    rejected: list[bytes] = []
    sink = RecordingSink()

    def run() -> DeliveryReport:
        return deliver(
            events,
            sink,
            "/g",
            "s",
            timestamp_policy=policy,
            now_ms=base,
            on_rejected=lambda ts, message, reason: rejected.append(message),
        )

    movable = sum(kind in ("old", "future") for kind, _ in kinds)
    if policy == "fail" and movable:
        with pytest.raises(CloudWatchEventRejectedError, match="outside what CloudWatch Logs accepts"):
            run()
        return
    report = run()
    delivered = [e["message"].encode() for batch in sink.calls for e in batch]
    assert report.events == len(events) == report.delivered + report.rejected
    assert Counter(delivered) + Counter(rejected) == Counter(m for _, m in events)
    assert sum(report.rejected_reasons.values()) == report.rejected == len(rejected)
    assert report.restamped == (movable if policy == "ingest_time" else 0)


def test_bad_credentials_are_not_reported_as_a_missing_permission(logs, group):
    class BadKeys(Wrapper):
        def create_log_stream(self, **kwargs):
            raise client_error("UnrecognizedClientException", "CreateLogStream")

    with pytest.raises(CloudWatchDeliveryError, match="credentials") as info:
        deliver(window_events(1), BadKeys(logs), group, "s")
    assert not isinstance(info.value, CloudWatchPermissionError)


def test_read_stream_follows_empty_pages_until_the_token_repeats():
    """AWS may return an empty page with a new token before more events; the end is a repeated token."""
    pages = {None: ([(1, "a")], "f/1"), "f/1": ([], "f/2"), "f/2": ([(2, "b"), (3, "c")], "f/3"), "f/3": ([], "f/3")}

    class ScriptedLogs:
        def get_log_events(self, *, nextToken=None, **kwargs):
            events, token = pages[nextToken]
            return {"events": [{"timestamp": ts, "message": m} for ts, m in events], "nextForwardToken": token}

    assert list(read_stream(ScriptedLogs(), "/g", "s")) == [(1, "a"), (2, "b"), (3, "c")]


def test_a_concurrent_update_of_the_group_that_set_the_retention_is_accepted(logs):
    """OperationAborted: another task changed the group at that moment; fine if the retention is now right."""

    class Busy(Wrapper):
        def __init__(self, client, applies):
            super().__init__(client)
            self.applies = applies

        def put_retention_policy(self, **kwargs):
            if self.applies:  # the other task's identical change went through
                self.client.put_retention_policy(**kwargs)
            raise client_error("OperationAbortedException", "PutRetentionPolicy")

    name = f"/netskope/test/{uuid.uuid4().hex}"
    ensure_log_group(Busy(logs, applies=True), name, retention_days=7)
    assert logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"][0]["retentionInDays"] == 7
    with pytest.raises(ClientError, match="OperationAborted"):
        ensure_log_group(Busy(logs, applies=False), f"{name}-other", retention_days=14)
    ensure_log_group(Busy(logs, applies=False), name, retention_days=14)  # existing: its retention is not touched
    assert logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"][0]["retentionInDays"] == 7
