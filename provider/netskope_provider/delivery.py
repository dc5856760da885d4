"""Deliver events to one CloudWatch Logs stream: batching, ordering, refusals, exactly-once reruns.

Pure module (no Airflow import): callers pass boto3 ``logs`` clients, e.g. from ``AwsLogsHook``.
CloudWatch's ``PutLogEvents`` has strict batch rules, refuses events outside [now - 14 d (or the
group's retention), now + 2 h] *inside a successful call*, and has no idempotency key. This module
turns a stream of ``(timestamp_ms, message)`` pairs into valid, parallel puts so that every event
ends up delivered, already present, or rejected with a reason -- never silently lost -- and never
twice: an existing stream is read back first, a put whose answer was lost is never repeated
blindly (the stream is read back and only what is missing is sent). ``docs/delivery.md`` explains
the rules; the caller holds the stream's lease (``netskope_provider.lease``) around the call.
"""

from __future__ import annotations

import logging
import random
import re
import time
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from hashlib import blake2b
from itertools import accumulate, repeat
from operator import add, itemgetter, ne
from typing import Any

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from netskope_provider.exceptions import (
    CloudWatchConfigError,
    CloudWatchDeliveryError,
    CloudWatchEventRejectedError,
    CloudWatchPermissionError,
)
from netskope_provider.hashing import held_digest
from netskope_provider.windows import compact, iso_ms

log = logging.getLogger(__name__)

#: PutLogEvents limits (AWS service model): batch bytes count each message's UTF-8 bytes + 26.
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD_BYTES = 26
MAX_BATCH_EVENTS = 10_000
#: A batch must span less than 24 h (first to last timestamp).
MAX_BATCH_SPAN_MS = 24 * 3600 * 1000
#: Largest message that fits the 1 MB event limit (and a batch of its own) after the overhead.
MAX_EVENT_BYTES = MAX_BATCH_BYTES - EVENT_OVERHEAD_BYTES
#: CloudWatch pipelines' post-processing limit (256 KB), for callers who want to stay under it.
PIPELINE_EVENT_BYTES = 262_144 - EVENT_OVERHEAD_BYTES

#: What CloudWatch accepts, and the margins kept so a long delivery does not drift outside it.
MAX_AGE_MS = 14 * 86_400_000
MAX_FUTURE_MS = 2 * 3_600_000
AGE_MARGIN_MS = 3_600_000
FUTURE_MARGIN_MS = 600_000

#: Values PutRetentionPolicy accepts.
RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)

TIMESTAMP_POLICIES = ("ingest_time", "reject", "fail")
OVERSIZE_POLICIES = ("reject", "fail")

#: Sort-and-batch unit: bounds memory for any window size while keeping batches full.
CHUNK_EVENTS = 50_000
CHUNK_BYTES = 8 * 1024 * 1024

#: Answers after which a put may or may not have been stored: never repeated without a read-back.
#: (Throttling is in doubt only in theory, but it costs nothing to treat it the same way.)
AMBIGUOUS_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ServiceUnavailableException",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalServerError",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
THROTTLE_CODES = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"})
#: A put that fails in transit (no answer, reset, timeout) may still have been stored.
AMBIGUOUS_TRANSPORT = (HTTPClientError, BotocoreConnectionError)
DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"})
#: Credentials AWS does not accept; a retry with the same connection cannot fix them.
#: (``ExpiredTokenException`` is left to the task retry: refreshed role credentials fix it.)
CREDENTIAL_CODES = frozenset(
    {"UnrecognizedClientException", "InvalidSignatureException", "InvalidClientTokenId", "SignatureDoesNotMatch"}
)
#: Pause after a throttled put: random 0 .. min(cap, base * 2^streak) seconds (full jitter).
BACKOFF_BASE_S = 0.1
BACKOFF_CAP_S = 10.0
#: Re-send rounds for events CloudWatch refused inside a successful call.
RESEND_ROUNDS = 3
#: Read-backs after puts whose answer was lost; each sends only what the stream does not hold.
VERIFY_ROUNDS = 4
#: Wait before such a read-back. GetLogEvents is eventually consistent and AWS states no bound;
#: events put are normally readable within a few seconds, so 15 s leaves a wide margin (docs/delivery.md).
VERIFY_WAIT_S = 15.0
#: Puts without an answer held in memory for the read-back (each batch <= 1 MiB); more means
#: CloudWatch is unreachable: the task fails and its retry reads the stream back.
MAX_UNANSWERED_BATCHES = 32

#: One staged event: (timestamp ms to send, message text, UTF-8 byte length, timestamp as given).
Staged = tuple[int, str, int, int]
_TIMESTAMP = itemgetter(0)
_SIZE = itemgetter(2)
_GIVEN_TIMESTAMP = itemgetter(3)
OnRejected = Callable[[int, bytes, str], None]
#: Called before every put; raises when the caller may no longer write the stream (its lease is lost).
Guard = Callable[[], None]


@dataclass
class DeliveryReport:
    """Counts for one delivery; ``events == delivered + already_present + rejected`` always holds.

    ``restamped`` is the part of ``delivered`` written with the delivery time as timestamp;
    ``bytes`` counts delivered message bytes (without the 26-byte overhead); ``batches`` the
    batches built, ``puts`` the PutLogEvents calls answered with success.

    A put whose answer never came (timeout, reset, 5xx, throttling) is counted in
    ``unanswered_puts`` (``throttled`` of them were throttled). Its events are settled by reading
    the stream back (``read_backs`` times): those found were stored although the answer was lost
    (``landed_unanswered``, part of ``delivered``); the others were sent again (``resent``).
    """

    events: int = 0
    delivered: int = 0
    already_present: int = 0
    restamped: int = 0
    rejected: int = 0
    bytes: int = 0
    batches: int = 0
    puts: int = 0
    throttled: int = 0
    unanswered_puts: int = 0
    landed_unanswered: int = 0
    resent: int = 0
    read_backs: int = 0
    rejected_reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy, small enough for an XCom manifest."""
        return asdict(self)

    def add(self, other: DeliveryReport) -> None:
        """Add ``other``'s counts to these (a window delivered into several streams)."""
        for name, value in asdict(other).items():
            if name == "rejected_reasons":
                for kind, count in value.items():
                    self.rejected_reasons[kind] = self.rejected_reasons.get(kind, 0) + count
            else:
                setattr(self, name, getattr(self, name) + value)


def stream_name(log_type: str, start: int, end: int, prefix: str = "netskope") -> str:
    """The log stream of a log type's interval ``[start, end)`` (epoch seconds).

    Deterministic so that every delivery of a record finds what an earlier one wrote.
    """
    if end <= start:
        raise ValueError(f"window end {end} must be after its start {start} (epoch seconds)")
    for label, part in (("prefix", prefix), ("log_type", log_type)):
        if not part or ":" in part or "*" in part:
            raise ValueError(f"{label} {part!r} must be non-empty without ':' or '*' (CloudWatch stream name rules)")
    name = f"{prefix}/{log_type}/{compact(start)}-{compact(end)}"
    if len(name) > 512:
        raise ValueError(f"stream name {name[:60]!r}... is longer than 512 characters: shorten the prefix")
    return name


def ensure_log_group(
    logs_client: Any, log_group: str, *, retention_days: int | None = None, kms_key_id: str | None = None
) -> None:
    """Create the log group when missing, with ``retention_days`` when given (idempotent).

    An existing group is left as it is (its owner chose its retention); one that never expires is
    reported with a warning, since its storage grows without bound. Without ``logs:CreateLogGroup``
    an existing group is fine; a missing one fails at once, naming the permission. Throttling and 5xx
    are retried by botocore (the client's retry configuration).
    """
    _check_group_name(log_group)
    if retention_days is not None and retention_days not in RETENTION_DAYS:
        raise ValueError(f"retention_days={retention_days} is not a CloudWatch retention; use one of {RETENTION_DAYS}")
    create_args: dict[str, Any] = {"logGroupName": log_group}
    if kms_key_id:
        create_args["kmsKeyId"] = kms_key_id
    try:
        _aws(logs_client.create_log_group, "logs:CreateLogGroup", log_group, **create_args)
        log.info("Created CloudWatch log group %s", log_group)
    except CloudWatchPermissionError:
        if not _group_exists(logs_client, log_group):
            raise
        _warn_if_never_expires(logs_client, log_group)
        return
    except ClientError as exc:
        if _error_code(exc) == "ResourceAlreadyExistsException":
            _warn_if_never_expires(logs_client, log_group)
            return
        if _error_code(exc) != "OperationAbortedException":
            raise  # OperationAborted: another task is creating the same group right now: set its retention too
    if retention_days is not None:
        try:
            _aws(
                logs_client.put_retention_policy,
                "logs:PutRetentionPolicy",
                log_group,
                logGroupName=log_group,
                retentionInDays=retention_days,
            )
        except ClientError as exc:
            # Another task changed the group at the same moment (each task sets the same retention).
            if _error_code(exc) != "OperationAbortedException" or _retention(logs_client, log_group) != retention_days:
                raise


def _warn_if_never_expires(logs_client: Any, log_group: str) -> None:
    try:
        group = _describe_group(logs_client, log_group)
    except ClientError:
        return  # deliver() reports a missing logs:DescribeLogGroups
    if group is not None and not group.get("retentionInDays"):
        log.warning(
            "Log group %s has no retention: its events never expire and its storage cost grows without bound. "
            "Set one: aws logs put-retention-policy --log-group-name %s --retention-in-days 365 (the setting "
            "netskope_log_group_retention_days applies only to groups the provider creates)",
            log_group,
            log_group,
        )


def read_stream(logs_client: Any, log_group: str, log_stream: str) -> Iterator[tuple[int, str]]:
    """Every event of a stream, oldest first, following ``nextForwardToken`` to the end."""
    token: str | None = None
    while True:
        args: dict[str, Any] = {
            "logGroupName": log_group,
            "logStreamName": log_stream,
            "startFromHead": True,
            "limit": 10_000,
        }
        if token:
            args["nextToken"] = token
        page = _aws(logs_client.get_log_events, "logs:GetLogEvents", log_group, **args)
        for event in page.get("events", ()):
            yield event["timestamp"], event["message"]
        next_token = page.get("nextForwardToken")
        if not next_token or next_token == token:
            return
        token = next_token


def plan_batches(staged: Sequence[Staged]) -> Iterator[list[Staged]]:
    """Cut events *sorted by timestamp* into batches PutLogEvents accepts.

    A batch closes before it would exceed 10,000 events, 1,048,576 bytes (26 bytes overhead
    per event) or a 24 h span. Events must already fit alone (see ``MAX_EVENT_BYTES``).
    Cut points are found by bisecting running totals, so the per-event work stays in C.
    """
    stamps = list(map(_TIMESTAMP, staged))
    byte_ends = list(accumulate(map(add, map(_SIZE, staged), repeat(EVENT_OVERHEAD_BYTES))))
    start, count = 0, len(staged)
    while start < count:
        bytes_before = byte_ends[start - 1] if start else 0
        end = min(
            start + MAX_BATCH_EVENTS,
            bisect_right(byte_ends, bytes_before + MAX_BATCH_BYTES, start),
            bisect_left(stamps, stamps[start] + MAX_BATCH_SPAN_MS, start),
        )
        end = max(end, start + 1)
        yield list(staged[start:end])
        start = end


def message_digest(message: bytes) -> int:
    """8-byte content digest used to recognise messages a stream already holds.

    Computed holding the GIL (``hashing.held_digest``): the put threads run beside it.
    """
    return int.from_bytes(held_digest(blake2b(digest_size=8), message), "little", signed=True)


class PresentMessages:
    """Multiset of message digests already in the stream, in ~9 bytes per event.

    A sorted ``array`` plus a "used" flag per slot instead of a dict, so a 1,000,000-event
    stream is held in ~9 MB rather than ~100 MB (sorting briefly needs ~40 MB). Two different
    messages share a 64-bit digest with odds of about n²/2⁶⁵ (3·10⁻⁸ for n = 10⁶).
    """

    def __init__(self, messages: Iterable[str]) -> None:
        self._digests = array("q", sorted(message_digest(m.encode()) for m in messages))
        self._used = bytearray(len(self._digests))

    def __len__(self) -> int:
        return len(self._digests)

    def take(self, digest: int) -> bool:
        """Consume one unused copy of ``digest``; False when none is left (the event is missing)."""
        digests, used = self._digests, self._used
        index = bisect_left(digests, digest)
        while index < len(digests) and digests[index] == digest:
            if not used[index]:
                used[index] = 1
                return True
            index += 1
        return False


def deliver(
    events: Iterable[tuple[int, bytes | str]],
    logs_client: Any,
    log_group: str,
    log_stream: str,
    *,
    put_client: Any = None,
    guard: Guard | None = None,
    timestamp_policy: str = "ingest_time",
    oversize_policy: str = "reject",
    max_workers: int = 4,
    now_ms: int | None = None,
    on_rejected: OnRejected | None = None,
    max_event_bytes: int = MAX_EVENT_BYTES,
    retention_days: int | None = None,
    verify_wait_seconds: float = VERIFY_WAIT_S,
) -> DeliveryReport:
    """Put ``events`` (any order, streamed) into ``log_group``/``log_stream`` exactly once.

    Each event is ``(timestamp_ms, message)``; the message is UTF-8 bytes (``str`` is accepted).

    The stream is created when missing; when it exists, its messages are read back and only
    the missing ones are sent. ``put_client`` makes the PutLogEvents calls (default
    ``logs_client``); give it botocore retries *off* (``retries={"total_max_attempts": 1}``),
    because a retried put whose first answer was lost stores the events twice. A put without an
    answer (timeout, reset, 5xx, throttling) is settled here instead: after
    ``verify_wait_seconds`` the stream is read back and only what it lacks is sent again, for
    up to ``VERIFY_ROUNDS`` rounds. That needs ``events`` to be re-iterable (a list, or an object
    whose ``__iter__`` reads its source again); a one-shot iterator fails the delivery instead,
    so a task retry reads back. ``guard`` is called before every put (the caller's lease check).

    ``timestamp_policy`` decides events CloudWatch would refuse for their timestamp:
    ``ingest_time`` stamps them with the delivery time (the message keeps the true time),
    ``reject`` hands them to ``on_rejected`` with a reason, ``fail`` raises. ``oversize_policy``
    (``reject``/``fail``) does the same for messages over ``max_event_bytes``. ``retention_days``
    is the group's retention; None looks it up. ``on_rejected`` is called on the calling thread.
    ``now_ms`` fixes the delivery clock (tests). ``logs_client`` may be any object with
    ``put_log_events`` (a benchmark sink); stream handling is skipped when it lacks the calls.
    """
    if timestamp_policy not in TIMESTAMP_POLICIES:
        raise ValueError(f"timestamp_policy={timestamp_policy!r}: use one of {TIMESTAMP_POLICIES}")
    if oversize_policy not in OVERSIZE_POLICIES:
        raise ValueError(f"oversize_policy={oversize_policy!r}: use one of {OVERSIZE_POLICIES}")
    if not 0 < max_event_bytes <= MAX_EVENT_BYTES:
        raise ValueError(f"max_event_bytes={max_event_bytes} must be in 1..{MAX_EVENT_BYTES}")
    if max_workers < 1:
        raise ValueError(f"max_workers={max_workers} must be at least 1")
    if retention_days is None:
        retention_days = _group_retention_days(logs_client, log_group)
    present = _open_stream(logs_client, log_group, log_stream)
    delivery = _Delivery(
        logs_client,
        put_client or logs_client,
        guard,
        log_group,
        log_stream,
        timestamp_policy,
        oversize_policy,
        on_rejected,
        max_event_bytes,
        retention_days,
        max_workers,
        verify_wait_seconds,
    )
    delivery.run(events, present, time.time_ns() // 1_000_000 if now_ms is None else now_ms)
    return delivery.report


def accepted_range(now_ms: int, retention_days: int | None) -> tuple[int, int]:
    """Timestamps [oldest, newest] CloudWatch accepts at ``now_ms``, less the safety margins."""
    oldest, newest = _server_range(now_ms, retention_days)
    return oldest + AGE_MARGIN_MS, newest - FUTURE_MARGIN_MS


@dataclass
class _PutOutcome:
    delivered: int = 0
    restamped: int = 0
    bytes: int = 0
    puts: int = 0
    throttled: int = 0
    #: The batch, when its put got no answer: stored or not, only a read-back can tell.
    unanswered: list[Staged] | None = None
    #: Events CloudWatch refused inside a successful call, with the refusal reason.
    bounced: list[tuple[Staged, str]] = field(default_factory=list)


class _Delivery:
    """One run of ``deliver``: stages, batches, puts in parallel, and settles every event."""

    def __init__(
        self,
        client: Any,
        put_client: Any,
        guard: Guard | None,
        log_group: str,
        log_stream: str,
        timestamp_policy: str,
        oversize_policy: str,
        on_rejected: OnRejected | None,
        max_event_bytes: int,
        retention_days: int | None,
        max_workers: int,
        verify_wait_seconds: float,
    ) -> None:
        self.client = client
        self.put_client = put_client
        self.guard = guard
        self.log_group = log_group
        self.log_stream = log_stream
        self.timestamp_policy = timestamp_policy
        self.oversize_policy = oversize_policy
        self.on_rejected = on_rejected
        self.max_event_bytes = max_event_bytes
        self.retention_days = retention_days
        self.max_workers = max_workers
        self.verify_wait_seconds = verify_wait_seconds
        self.report = DeliveryReport()
        self._inflight: deque[Future[_PutOutcome]] = deque()
        #: Events CloudWatch refused inside successful calls, awaiting the timestamp policy.
        self._bounced: list[tuple[Staged, str]] = []
        #: Batches whose put got no answer, awaiting a read-back.
        self._unanswered: list[list[Staged]] = []
        #: Digests of rejected events: they are in the input but must not be in the stream.
        self._rejected_digests: Counter[int] = Counter()
        #: Throttled puts in a row: the pause before the next put grows with it.
        self._throttle_streak = 0
        self._resume_at = 0.0

    def run(self, events: Iterable[tuple[int, bytes | str]], present: PresentMessages | None, now_ms: int) -> None:
        oldest, newest = accepted_range(now_ms, self.retention_days)
        chunk: list[Staged] = []
        chunk_bytes = 0
        with ThreadPoolExecutor(self.max_workers, thread_name_prefix="cloudwatch-put") as pool:
            for ts, message in events:
                self.report.events += 1
                event = self._stage(ts, message, present, now_ms, oldest, newest)
                if event is None:
                    continue
                chunk.append(event)
                chunk_bytes += event[2]
                if len(chunk) >= CHUNK_EVENTS or chunk_bytes >= CHUNK_BYTES:
                    self._send(pool, chunk)
                    chunk = []
                    chunk_bytes = 0
            self._send(pool, chunk)
            self._drain(pool)
            self._settle_unanswered(pool, events)

    def _stage(
        self, ts: Any, message: bytes | str, present: PresentMessages | None, now_ms: int, oldest: int, newest: int
    ) -> Staged | None:
        """The event ready to send, or None once it is settled (rejected or already present)."""
        if type(message) is bytes:
            size = len(message)
            try:
                text = message.decode()
            except UnicodeDecodeError:
                self._reject(ts, message, "message is not valid UTF-8", "malformed")
                return None
        else:
            text = message  # type: ignore[assignment]  # str here: bytes were handled above
            size = len(text) if text.isascii() else len(text.encode())
        if not 0 < size <= self.max_event_bytes:
            self._reject_size(ts, message, size)
            return None
        if type(ts) is not int:
            self._reject(ts, message, "timestamp is not an integer of epoch milliseconds", "malformed")
            return None
        if present and present.take(message_digest(_as_bytes(message))):
            self.report.already_present += 1
            return None
        if oldest <= ts <= newest:
            return (ts, text, size, ts)
        if self.timestamp_policy != "ingest_time":
            self._reject_time(ts, message, oldest, newest)
            return None
        return (now_ms, text, size, ts)

    def _send(self, pool: ThreadPoolExecutor, staged: list[Staged]) -> None:
        """Sort a chunk, cut it into batches and start their puts, keeping few puts in flight."""
        staged.sort(key=_TIMESTAMP)
        for batch in plan_batches(staged):
            self.report.batches += 1
            if len(self._inflight) >= 2 * self.max_workers:
                self._settle(self._inflight.popleft())
            self._inflight.append(pool.submit(self._put, batch))

    def _drain(self, pool: ThreadPoolExecutor) -> None:
        """Settle every put in flight, then re-send what CloudWatch refused inside successful calls."""
        self._settle_all()
        for _ in range(RESEND_ROUNDS):
            if not self._bounced:
                break
            self._send(pool, self._requeue())
            self._settle_all()
        if self._bounced:
            raise CloudWatchDeliveryError(
                f"CloudWatch Logs kept refusing {len(self._bounced)} events of {self.log_group}/{self.log_stream} "
                f"after {RESEND_ROUNDS} re-sends (last reason: {self._bounced[-1][1]}); check the clock of this "
                "machine and the log group's retention, then rerun the delivery (delivered events are not duplicated)"
            )

    def _settle_all(self) -> None:
        while self._inflight:
            self._settle(self._inflight.popleft())

    def _settle(self, future: Future[_PutOutcome]) -> None:
        outcome = future.result()
        report = self.report
        report.delivered += outcome.delivered
        report.restamped += outcome.restamped
        report.bytes += outcome.bytes
        report.puts += outcome.puts
        report.throttled += outcome.throttled
        self._bounced.extend(outcome.bounced)
        if outcome.unanswered is not None:
            report.unanswered_puts += 1
            self._unanswered.append(outcome.unanswered)
            if len(self._unanswered) > MAX_UNANSWERED_BATCHES:
                raise CloudWatchDeliveryError(
                    f"CloudWatch Logs left {len(self._unanswered)} PutLogEvents calls to {self.log_group}/"
                    f"{self.log_stream} without an answer (timeouts, resets, 5xx or throttling); stopping. "
                    "The task retry reads the stream back and sends only what is missing (nothing twice)"
                )

    def _put(self, batch: list[Staged]) -> _PutOutcome:
        """One PutLogEvents call, never repeated: without an answer the batch waits for a read-back."""
        outcome = _PutOutcome()
        pause = self._resume_at - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        if self.guard is not None:
            self.guard()
        try:
            response = self.put_client.put_log_events(
                logGroupName=self.log_group,
                logStreamName=self.log_stream,
                logEvents=[{"timestamp": ts, "message": text} for ts, text, _, _ in batch],
            )
        except AMBIGUOUS_TRANSPORT as exc:
            log.warning(
                "PutLogEvents to %s/%s got no answer (%s); will read back", self.log_group, self.log_stream, exc
            )
            outcome.unanswered = batch
            return outcome
        except ClientError as exc:
            code = _error_code(exc)
            if code not in AMBIGUOUS_CODES and _status(exc) < 500:
                raise _translated(exc, "logs:PutLogEvents", self.log_group) from exc
            log.warning("PutLogEvents to %s/%s answered %s; will read back", self.log_group, self.log_stream, code)
            outcome.unanswered = batch
            if code in THROTTLE_CODES:
                outcome.throttled = 1
                self._throttle_streak += 1
                delay = random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**self._throttle_streak))
                self._resume_at = max(self._resume_at, time.monotonic() + delay)
            return outcome
        self._throttle_streak = 0
        outcome.puts = 1
        refused = _refused_positions(
            (response or {}).get("rejectedLogEventsInfo") or {}, batch, time.time_ns() // 1_000_000, self.retention_days
        )
        accepted = [event for index, event in enumerate(batch) if index not in refused] if refused else batch
        outcome.bounced = [(batch[index], reason) for index, reason in refused.items()]
        outcome.delivered = len(accepted)
        outcome.restamped = sum(map(ne, map(_TIMESTAMP, accepted), map(_GIVEN_TIMESTAMP, accepted)))
        outcome.bytes = sum(map(_SIZE, accepted))
        return outcome

    def _settle_unanswered(self, pool: ThreadPoolExecutor, events: Iterable[tuple[int, bytes | str]]) -> None:
        """Read the stream back after puts without an answer; send again only what it does not hold.

        For each message of an unanswered put the stream must end with as many copies as the
        input has (less the rejected ones); the read-back shows how many it holds, so the
        difference is what is missing. Bounded by ``VERIFY_ROUNDS``.
        """
        if not self._unanswered:
            return
        if not hasattr(self.client, "get_log_events"):
            raise CloudWatchDeliveryError(
                f"{self.report.unanswered_puts} PutLogEvents calls to {self.log_group}/{self.log_stream} got no "
                "answer, and this client's stream cannot be read back to check them"
            )
        if iter(events) is events:
            raise CloudWatchDeliveryError(
                f"{self.report.unanswered_puts} PutLogEvents calls to {self.log_group}/{self.log_stream} got no "
                "answer, and the events cannot be read again here to check them; the task retry reads the "
                "stream back and sends only what is missing"
            )
        inputs: Counter[int] | None = None
        for _ in range(VERIFY_ROUNDS):
            if not self._unanswered:
                return
            time.sleep(self.verify_wait_seconds)
            unanswered = [event for batch in self._unanswered for event in batch]
            self._unanswered = []
            wanted = {message_digest(text.encode()) for _, text, _, _ in unanswered}
            if inputs is None:  # input copies of each message (later rounds ask for fewer messages)
                inputs = Counter(d for _, m in events if (d := message_digest(_as_bytes(m))) in wanted)
            held = Counter(
                d
                for _, m in read_stream(self.client, self.log_group, self.log_stream)
                if (d := message_digest(m.encode())) in wanted
            )
            self.report.read_backs += 1
            # Copies the stream lacks per message (rejected copies belong nowhere); every other copy is
            # confirmed stored, so the lacking ones are among the unanswered.
            lacking = {d: inputs[d] - self._rejected_digests[d] - held[d] for d in wanted}
            missing: list[Staged] = []
            for event in unanswered:
                digest = message_digest(event[1].encode())
                if lacking[digest] > 0:
                    lacking[digest] -= 1
                    missing.append(event)
                else:  # stored although its put got no answer
                    self.report.delivered += 1
                    self.report.landed_unanswered += 1
            log.info(
                "Read %s/%s back after unanswered puts: %d of %d events were stored, sending %d again",
                self.log_group,
                self.log_stream,
                len(unanswered) - len(missing),
                len(unanswered),
                len(missing),
            )
            self.report.resent += len(missing)
            self._send(pool, missing)
            self._drain(pool)
        if self._unanswered:
            raise CloudWatchDeliveryError(
                f"PutLogEvents calls to {self.log_group}/{self.log_stream} still got no answer after "
                f"{VERIFY_ROUNDS} read-backs; the task retry reads the stream back and sends only what is missing"
            )

    def _requeue(self) -> list[Staged]:
        """Apply the timestamp policy to events CloudWatch refused; return those to send again."""
        now_ms = time.time_ns() // 1_000_000
        bounced, self._bounced = self._bounced, []
        retry: list[Staged] = []
        for (ts, text, size, given_ts), reason in bounced:
            log.warning("CloudWatch Logs refused an event of %s/%s (%s)", self.log_group, self.log_stream, reason)
            if self.timestamp_policy == "fail":
                raise CloudWatchEventRejectedError(
                    f"CloudWatch Logs refused an event with timestamp {iso_ms(ts)} of {self.log_group}/"
                    f"{self.log_stream} ({reason}); use timestamp_policy='ingest_time' to deliver it stamped "
                    "with the delivery time, or 'reject' to count it as rejected",
                    reason=reason,
                )
            if self.timestamp_policy == "reject":
                self._count_rejected(given_ts, text.encode(), f"CloudWatch refused it: {reason}", "timestamp")
                continue
            retry.append((now_ms, text, size, given_ts))
        return retry

    def _reject_size(self, ts: int, message: bytes | str, size: int) -> None:
        if size == 0:
            self._reject(ts, message, "message is empty (CloudWatch needs at least 1 byte)", "malformed")
            return
        reason = f"message has {size} bytes, over the {self.max_event_bytes}-byte event limit"
        if self.oversize_policy == "fail":
            raise CloudWatchEventRejectedError(
                f"an event of {self.log_group}/{self.log_stream} with timestamp {iso_ms(ts)}: {reason}; use "
                "oversize_policy='reject' to count such events as rejected and deliver the rest",
                reason=reason,
            )
        self._count_rejected(ts, _as_bytes(message), reason, "oversize")

    def _reject_time(self, ts: int, message: bytes | str, oldest: int, newest: int) -> None:
        reason = (
            f"timestamp {iso_ms(ts)} is outside what CloudWatch Logs accepts now ({iso_ms(oldest)} .. {iso_ms(newest)})"
        )
        if self.timestamp_policy == "fail":
            raise CloudWatchEventRejectedError(
                f"an event of {self.log_group}/{self.log_stream}: {reason}; use timestamp_policy='ingest_time' "
                "to deliver it stamped with the delivery time (the message keeps the true time), or "
                "'reject' to count it as rejected",
                reason=reason,
            )
        self._count_rejected(ts, _as_bytes(message), reason, "timestamp")

    def _reject(self, ts: Any, message: bytes | str, reason: str, kind: str) -> None:
        """Malformed input cannot be delivered under any policy: reject it with its reason."""
        self._count_rejected(ts, _as_bytes(message), reason, kind)

    def _count_rejected(self, ts: Any, message: bytes, reason: str, kind: str) -> None:
        report = self.report
        report.rejected += 1
        report.rejected_reasons[kind] = report.rejected_reasons.get(kind, 0) + 1
        self._rejected_digests[message_digest(message)] += 1
        if self.on_rejected is not None:
            self.on_rejected(ts, message, reason)


def _refused_positions(
    info: dict[str, int], batch: Sequence[Staged], server_now_ms: int, retention_days: int | None
) -> dict[int, str]:
    """Which events of a sorted batch CloudWatch refused, from ``rejectedLogEventsInfo``.

    AWS documents ``tooOld``/``expired`` end indexes as exclusive and ``tooNew`` start as
    inclusive; moto reports the index of the *last* refused event for both. Refused events form
    a prefix (old) and a suffix (new), so the index marks a sure part and the server's clock
    decides the events next to it. Both readings then settle every event.
    """
    if not info:
        return {}
    oldest, newest = _server_range(server_now_ms, retention_days)
    refused: dict[int, str] = {}
    count = len(batch)
    for key, reason in (
        ("expiredLogEventEndIndex", "older than the log group's retention"),
        ("tooOldLogEventEndIndex", "older than CloudWatch accepts"),
    ):
        end = info.get(key)
        if end is None:
            continue
        end = min(max(end, 0), count)
        for index in range(end):
            refused.setdefault(index, reason)
        while end < count and batch[end][0] < oldest:
            refused.setdefault(end, reason)
            end += 1
    start = info.get("tooNewLogEventStartIndex")
    if start is not None:
        start = min(max(start, 0), count)
        for index in range(start, count):
            refused.setdefault(index, "newer than CloudWatch accepts")
        while start > 0 and batch[start - 1][0] > newest:
            start -= 1
            refused.setdefault(start, "newer than CloudWatch accepts")
    return refused


def _server_range(now_ms: int, retention_days: int | None) -> tuple[int, int]:
    max_age = MAX_AGE_MS if retention_days is None else min(MAX_AGE_MS, retention_days * 86_400_000)
    return now_ms - max_age, now_ms + MAX_FUTURE_MS


def _open_stream(client: Any, log_group: str, log_stream: str) -> PresentMessages | None:
    """Create the stream; when it already exists, read back what it holds (a rerun)."""
    if not hasattr(client, "create_log_stream"):
        return None
    try:
        _aws(
            client.create_log_stream,
            "logs:CreateLogStream",
            log_group,
            logGroupName=log_group,
            logStreamName=log_stream,
        )
        return None
    except ClientError as exc:
        if _error_code(exc) != "ResourceAlreadyExistsException":
            raise
    present = PresentMessages(message for _, message in read_stream(client, log_group, log_stream))
    log.info(
        "Log stream %s/%s exists with %d events: sending only the missing ones", log_group, log_stream, len(present)
    )
    return present or None


def _group_retention_days(client: Any, log_group: str) -> int | None:
    """The group's retention, or None (never expire, or not readable without logs:DescribeLogGroups)."""
    if not hasattr(client, "describe_log_groups"):
        return None
    try:
        return _retention(client, log_group)
    except ClientError as exc:
        log.warning(
            "Cannot read the retention of %s (%s); assuming 14 days. Grant logs:DescribeLogGroups "
            "so events older than the retention are handled before sending",
            log_group,
            _error_code(exc),
        )
        return None


def _describe_group(client: Any, log_group: str) -> dict[str, Any] | None:
    page = client.describe_log_groups(logGroupNamePrefix=log_group, limit=50)
    return next((group for group in page.get("logGroups", ()) if group.get("logGroupName") == log_group), None)


def _retention(client: Any, log_group: str) -> int | None:
    return (_describe_group(client, log_group) or {}).get("retentionInDays")


def _group_exists(client: Any, log_group: str) -> bool:
    try:
        return _describe_group(client, log_group) is not None
    except ClientError:
        return False  # cannot tell: report the missing logs:CreateLogGroup


def _aws(operation: Callable[..., Any], permission: str, log_group: str, **kwargs: Any) -> Any:
    """Call a logs API (botocore retries throttling and 5xx per the client's config); explain what a retry cannot fix."""
    try:
        return operation(**kwargs)
    except ClientError as exc:
        error = _translated(exc, permission, log_group)
        if error is exc:
            raise
        raise error from exc


def _translated(exc: ClientError, permission: str, log_group: str) -> Exception:
    """The provider's error for an AWS error a retry cannot fix (``exc`` itself for any other)."""
    code = _error_code(exc)
    if code in DENIED_CODES or (_status(exc) == 403 and code not in CREDENTIAL_CODES):
        return CloudWatchPermissionError(
            f"AWS denied {permission} on CloudWatch log group {log_group!r} ({code}): grant the AWS "
            f"connection's IAM identity {permission} on arn:aws:logs:<region>:<account>:log-group:"
            f"{log_group}:* (see docs/delivery.md for the full list)",
            permission=permission,
        )
    if code in CREDENTIAL_CODES:
        return CloudWatchConfigError(
            f"AWS did not accept the credentials used for CloudWatch log group {log_group!r} ({code}): "
            "check the AWS connection's access key, secret and session token (or its role)"
        )
    if code == "ResourceNotFoundException":
        if permission == "logs:PutLogEvents":  # the stream (or group) vanished mid-delivery: a rerun recreates it
            return CloudWatchDeliveryError(
                f"The log stream or group {log_group!r} was deleted during delivery ({code}); rerun the delivery"
            )
        return CloudWatchConfigError(
            f"CloudWatch log group {log_group!r} does not exist ({permission}): create the group with "
            "ensure_log_group (needs logs:CreateLogGroup) or fix its name"
        )
    if code == "InvalidParameterException":
        return CloudWatchConfigError(
            f"CloudWatch Logs refused {permission} for {log_group!r}: {exc.response['Error'].get('Message')}. "
            "If it is about event size, this Region may still limit events to 256 KB: pass "
            "max_event_bytes=PIPELINE_EVENT_BYTES"
        )
    return exc


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _check_group_name(log_group: str) -> None:
    if not re.fullmatch(r"[.\-_/#A-Za-z0-9]{1,512}", log_group) or log_group.startswith("aws/"):
        raise ValueError(
            f"log group name {log_group!r} is invalid: use 1-512 of [A-Za-z0-9._-/#], "
            "not starting with 'aws/' (e.g. /netskope/ocsf/application)"
        )


def _as_bytes(message: bytes | str) -> bytes:
    return message if type(message) is bytes else str(message).encode()
