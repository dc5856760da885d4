"""Configuration of a simulated Netskope tenant and of the faults it injects."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from netskope_provider.simulator.records import LOG_TYPE_NAMES, MAX_RECORDS, LagBand, check_lag_bands

#: What ``operation=<epoch>`` and ``timestamp_hwm`` of an iterator count in (undocumented; see docs/simulator.md).
IteratorClock = Literal["insertion", "event"]
ITERATOR_CLOCKS: tuple[IteratorClock, ...] = ("insertion", "event")
#: Records in a full iterator page: "Netskope Iterator endpoints deliver 10,000 record pages per API call".
ITERATOR_PAGE_RECORDS = 10_000

#: Records per log type when the config does not say: small, yet enough to cover every listed value.
DEFAULT_VOLUME: dict[str, int] = {
    "application": 600,
    "page": 300,
    "network": 300,
    "infrastructure": 300,
    "audit": 300,
    "incident": 300,
    "endpoint": 300,
    "alert": 600,
}


@dataclass
class FaultConfig:
    """Faults to inject, all off by default; changeable while the server runs (``sim.faults``).

    Each kind has a probability (``*_rate``, drawn from a generator seeded with the simulator seed,
    so a given request sequence meets the same faults every run) and a counter (``*_next``: the
    next N matching requests get the fault, counted down). Counters win over rates.
    """

    #: Only requests whose path contains this string are eligible ("" = every API request).
    path_contains: str = ""
    #: HTTP 5xx with a JSON body; the request is not processed.
    error_rate: float = 0.0
    error_next: int = 0
    error_status: int = 503
    #: Close the connection without sending a response; the request is not processed.
    reset_rate: float = 0.0
    reset_next: int = 0
    #: Process the request, then send a Content-Length larger than the bytes sent and close.
    truncate_rate: float = 0.0
    truncate_next: int = 0
    #: Sleep ``slow_seconds`` before processing the request.
    slow_rate: float = 0.0
    slow_next: int = 0
    slow_seconds: float = 2.0
    #: HTTP 200 with an HTML login page (a proxy or SSO interstitial in the way).
    html_rate: float = 0.0
    html_next: int = 0
    #: A 429 storm: the next N requests get 429 whatever the rate limiter says.
    throttle_next: int = 0
    #: The next N iterator (dataexport) requests get 409 as if another consumer held the index.
    conflict_next: int = 0


@dataclass
class SimulatorConfig:
    """What the simulated tenant holds and how it behaves; the defaults are the realistic tenant.

    ``start``/``end`` bound the insertion times of the generated records (default: the hour before
    the server starts). Each record happened before it was inserted, by its log type's lag
    (``insertion_lags``). ``now`` fixes the tenant clock (epoch seconds); ``None`` follows real
    time. Records whose insertion time is after "now" exist (``ground_truth`` returns them) but are
    not served yet, which is how late arrivals happen.
    """

    seed: int = 7
    token: str = "test-token"
    start: int | None = None
    end: int | None = None
    volume: dict[str, int] = field(default_factory=dict)
    rate_limit_per_second: float | None = None
    #: Per-token allowed log types; a token not listed here may read every log type.
    scopes: dict[str, set[str]] | None = None
    faults: FaultConfig = field(default_factory=FaultConfig)
    now: int | None = None
    host: str = "127.0.0.1"
    port: int = 0
    #: Serve HTTPS with a throw-away self-signed certificate (``sim.ca_file`` is the bundle to trust).
    tls: bool = False
    #: More names (hosts or IPs) for the certificate besides 127.0.0.1/localhost, e.g. a compose service name.
    tls_names: tuple[str, ...] = ()
    #: Write ``cert.pem``/``key.pem`` to this folder (kept after stop, e.g. a volume shared with Airflow)
    #: instead of a temporary one.
    tls_dir: str | None = None
    #: ``wait_time`` an iterator response carries once the index has caught up with "now".
    iterator_wait_seconds: int = 1
    #: Records in a full iterator page (documented: 10,000); smaller pages make paging visible in small tests.
    iterator_page_records: int = ITERATOR_PAGE_RECORDS
    #: With a number, an iterator page also stops where this many seconds (on the iterator clock) from
    #: its first record end (one reading of "one hour batches"); ``None``: full pages only.
    iterator_batch_seconds: int | None = None
    #: What ``operation=<epoch>``, the page order and ``timestamp_hwm`` count in: ``"insertion"`` (a
    #: cursor over the insertion stream; late records reach every index) or ``"event"`` (a cursor over
    #: event time; a record inserted behind an index's position never reaches that index).
    iterator_clock: IteratorClock = "insertion"
    #: Per log type, a mix of :class:`LagBand` replacing the generated records' own insertion lags.
    insertion_lags: dict[str, Sequence[LagBand]] = field(default_factory=dict)
    #: Legacy: every endpoint serves ``_insertion_epoch_timestamp`` (real ``dataexport``/``datasearch``
    #: records carry none). Only for callers that still rely on it; see docs/simulator.md.
    insertion_time_everywhere: bool = False
    #: Answer ``Accept-Encoding: gzip`` with a gzip body (assumed: Netskope's own client asks for it).
    gzip: bool = True
    #: ``data/*`` log types whose pages state the query's ``total`` beside ``result`` (Netskope's CLI
    #: relies on ``data/audit`` doing so); the others state none, and a client counts them apart.
    states_total: frozenset[str] = frozenset({"audit"})
    #: ``data/*`` log types whose endpoint ignores ``offset``, serving every page from the start (an
    #: assumption: Netskope's CLI reads ``data/infrastructure`` as a single page). None by default.
    ignores_offset: frozenset[str] = frozenset()
    #: ``data/*`` log types whose endpoint orders the records of one insertion second anew on every
    #: request (an assumption: Netskope documents no order for ``data/*``). None by default.
    unstable_order: frozenset[str] = frozenset()

    def resolved_span(self) -> tuple[int, int]:
        """The insertion span ``[start, end)`` of generated data, defaulting to the last hour."""
        end = self.end if self.end is not None else (self.now if self.now is not None else int(time.time()))
        start = self.start if self.start is not None else end - 3600
        if end <= start:
            raise ValueError(f"SimulatorConfig: end ({end}) must be after start ({start})")
        return start, end

    def resolved_volume(self) -> dict[str, int]:
        unknown = set(self.volume) - set(LOG_TYPE_NAMES)
        if unknown:
            raise ValueError(
                f"SimulatorConfig.volume has unknown log types {sorted(unknown)}; expected some of: {', '.join(LOG_TYPE_NAMES)}"
            )
        bad = {
            name: count
            for name, count in self.volume.items()
            if not isinstance(count, int) or not 0 <= count <= MAX_RECORDS
        }
        if bad:
            raise ValueError(f"SimulatorConfig.volume counts must be integers from 0 to {MAX_RECORDS}, got {bad}")
        return {**DEFAULT_VOLUME, **self.volume}

    def resolved_lags(self) -> dict[str, tuple[LagBand, ...]]:
        unknown = set(self.insertion_lags) - set(LOG_TYPE_NAMES)
        if unknown:
            raise ValueError(
                f"SimulatorConfig.insertion_lags has unknown log types {sorted(unknown)}; expected some of: "
                f"{', '.join(LOG_TYPE_NAMES)}"
            )
        return {name: check_lag_bands(name, bands) for name, bands in self.insertion_lags.items()}

    def check(self) -> None:
        """Raise ``ValueError`` naming the first setting that cannot work."""
        self.resolved_span()
        self.resolved_volume()
        self.resolved_lags()
        if self.rate_limit_per_second is not None and self.rate_limit_per_second <= 0:
            raise ValueError("SimulatorConfig.rate_limit_per_second must be positive, or None for no limit")
        if self.iterator_batch_seconds is not None and self.iterator_batch_seconds < 1:
            raise ValueError("SimulatorConfig.iterator_batch_seconds must be at least 1, or None for full pages")
        if self.iterator_wait_seconds < 0:
            raise ValueError("SimulatorConfig.iterator_wait_seconds must be at least 0")
        if not 1 <= self.iterator_page_records <= ITERATOR_PAGE_RECORDS:
            raise ValueError(f"SimulatorConfig.iterator_page_records must be from 1 to {ITERATOR_PAGE_RECORDS}")
        if self.iterator_clock not in ITERATOR_CLOCKS:
            raise ValueError(
                f"SimulatorConfig.iterator_clock must be one of {', '.join(ITERATOR_CLOCKS)}, got {self.iterator_clock!r}"
            )
        unknown = {name for allowed in (self.scopes or {}).values() for name in allowed} - set(LOG_TYPE_NAMES)
        if unknown:
            raise ValueError(f"SimulatorConfig.scopes names unknown log types {sorted(unknown)}")
