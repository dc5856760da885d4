"""Builders shared by the OCSF class modules.

Everything here is a plain function over plain dicts: the mappers run once per record on the
transform hot path, so they build dicts directly, look enums up in precomputed tables, and never
copy the source record. Netskope sends type defaults ("" / 0 / {} / []) for absent values, so
every builder treats those as absent (``present``). A value of the wrong type or shape for an
attribute (an "IP" that is not one, a port out of range, an unknown severity word) is not forced
into it; ``finalize`` keeps it under ``unmapped``, as it keeps a fallback field (``userkey``) whose
preferred field (``user_id``) won, so nothing is lost.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any, Final, NamedTuple
from zoneinfo import ZoneInfo

from netskope_provider.exceptions import MappingError
from netskope_provider.registry import OcsfClass

OCSF_VERSION: Final = "1.5.0"
PRODUCT_NAME: Final = "Netskope Security Cloud"
VENDOR_NAME: Final = "Netskope"


# --------------------------------------------------------------------------- values


def present(value: Any) -> bool:
    """True unless the value is one of Netskope's "absent" defaults (None, blank, 0, {}, [])."""
    if value is None:
        return False
    kind = type(value)
    if kind is str:
        return bool(value.strip())
    if kind is int or kind is float or kind is bool:
        return value != 0
    if kind is dict or kind is list:
        return bool(value)
    return True


def set_present(target: dict[str, Any], key: str, value: object) -> None:
    """Set ``target[key]`` only when a builder produced a value, so absent fields stay absent."""
    if value is not None:
        target[key] = value


def set_text(target: dict[str, Any], key: str, value: object) -> None:
    """``set_present(target, key, text(value))`` in one call: the builders' most frequent step."""
    if type(value) is str:
        value = value.strip()  # type: ignore[union-attr]
        if value:
            target[key] = value
    elif type(value) is int:
        digits = _digits(value)
        if digits is not None:
            target[key] = digits


def text(value: object) -> str | None:
    """A non-blank string for a string attribute: strings stripped, integers (ids) as exact digits.

    Anything else (dicts, lists, booleans, floats) is not a string attribute's value: None.
    """
    if type(value) is str:
        return value.strip() or None  # type: ignore[union-attr]
    if type(value) is int:
        return _digits(value)
    return None


def _digits(value: object) -> str | None:
    """An integer id's exact digits (None for 0), from an ``object``, never from a value typed ``int``.

    Compiled by mypyc, ``str()`` of an ``int``-typed value above 2**62 (Netskope's 19-digit
    ``transaction_id``, ``connection_id``, ``app_session_id``) kept one reference to the integer per
    call: the fetch task's memory grew ~0.5 MB per 10,000 application records. tests/unit/
    test_ocsf_refcounts.py holds every value of mapped records to its reference count.
    """
    digits = str(value)
    return None if digits == "0" else digits


# OCSF types with a pattern (ip_t, email_t, file_hash_t): a value that does not match is left out
# of the attribute (it stays under ``unmapped``), so an odd source value never makes an event invalid.
_IPV4: Final = re.compile(
    r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
)
_EMAIL: Final = re.compile(r"[a-zA-Z0-9!#$%&'*+-/=?^_`{|}~.]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+")  # OCSF email_t
_HEX: Final = re.compile(r"[a-fA-F0-9]+")  # OCSF file_hash_t (a regex: twice as fast as str.strip(digits))


class _Memo(dict):  # type: ignore[type-arg]
    """A bounded memo of a pure function of one string or number: ``memo[value]`` is a dict lookup.

    A tenant's records repeat the same addresses, words and names over and over, so the few
    conversions that cost more than a lookup are remembered (until ``size`` values are known).
    """

    def __init__(self, compute: Callable[[Any], Any], size: int) -> None:
        super().__init__()
        self.compute = compute
        self.size = size

    def __missing__(self, value: Any) -> Any:
        found = self.compute(value)
        if len(self) < self.size:
            self[value] = found
        return found


def ip_text(value: object) -> str | None:
    """An IPv4/IPv6 address as OCSF ip_t accepts it (at most 40 characters); None for anything else.

    Builders and ``finalize``'s guard both ask about the same addresses: strings are memoised.
    """
    return _IP_TEXTS[value] if type(value) is str else _ip_text(value)


def _ip_text(value: object) -> str | None:
    found = text(value)
    if found is None:
        return None
    if _IPV4.fullmatch(found):
        return found
    if ":" in found and len(found) <= 40 and found.isascii() and is_ip(found):
        return found
    return None


_IP_TEXTS: Final = _Memo(_ip_text, 16384)


def email_text(value: str) -> str | None:
    """``value`` when it is an address OCSF email_t accepts; None otherwise (memoised: users repeat)."""
    return _EMAILS[value]


_EMAILS: Final = _Memo(lambda value: value if _EMAIL.fullmatch(value) else None, 16384)


#: Netskope hash field → (OCSF algorithm_id, algorithm, hex digits of a digest).
HASH_ALGORITHMS: Final[tuple[tuple[str, int, str, int], ...]] = (
    ("md5", 1, "MD5", 32),
    ("sha1", 2, "SHA-1", 40),
    ("sha256", 3, "SHA-256", 64),
)


def hex_text(value: object, length: int) -> str | None:
    """A hex digest of ``length`` digits (its algorithm's), as OCSF file_hash_t accepts it; None for
    anything else ("NotAvailable", "N/A", a truncated digest, a number)."""
    if type(value) is not str:
        return None
    found = value.strip()  # type: ignore[union-attr]
    return found if len(found) == length and _HEX.fullmatch(found) is not None else None


#: OCSF integer_t bounds (long_t is wider): a value beyond them is no OCSF number and stays unmapped.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def integer(value: Any) -> int | None:
    """A non-zero OCSF integer from an int, an ASCII digit string ("443") or a whole float; None otherwise.

    ``str.isdigit`` alone would take "²" (which ``int`` refuses); values beyond integer_t are refused too.
    """
    kind = type(value)
    if kind is int:
        found = value
    elif (kind is str and value.isascii() and value.strip().isdigit()) or (kind is float and value.is_integer()):
        found = int(value)
    else:
        return None
    return found if found and INT_MIN <= found <= INT_MAX else None  # type: ignore[operator,return-value]


_INFINITY: Final[float] = math.inf


def number(value: object) -> float | None:
    """A float for OCSF float_t attributes (coordinates); None for absent or non-numeric values."""
    if isinstance(value, float):  # JSON floats are exact floats; compiled, this test narrows the type
        return value if -_INFINITY < value < _INFINITY else None  # finite (NaN compares false); no call
    if type(value) is int:  # not bool
        return float(value)  # type: ignore[arg-type]
    return None


def coordinates(lat: object, lon: object) -> tuple[float, float] | None:
    """A latitude/longitude pair OCSF can hold: both finite numbers, within ±90° and ±180°."""
    latitude, longitude = number(lat), number(lon)
    if latitude is None or longitude is None or not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    return latitude, longitude


def epoch_ms(value: Any) -> int | None:
    """Epoch seconds (int, float or digit string) as OCSF timestamp_t milliseconds.

    Values that already look like milliseconds (after the year 33658 in seconds) are kept.
    """
    kind = type(value)
    if kind is int or kind is float:
        seconds = value
    elif kind is str:
        try:
            seconds = float(value)
        except ValueError:
            return None
    else:
        return None
    if not math.isfinite(seconds) or seconds <= 0:
        return None
    if seconds >= 1e12:
        return int(seconds) if seconds <= INT_MAX else None
    return int(seconds * 1000)


def normalise(value: object) -> str:
    """The routing/lookup key of a value: casefolded, inner whitespace collapsed, ends trimmed.

    Memoised (bounded) like ``routing_key``: the words looked up this way (severities, actions,
    statuses, object types) take few distinct values.
    """
    return _NORMALISED[value] if type(value) is str else ""


def routing_key(value: object) -> str:
    """The key the spec's value lists are matched on: ``normalise`` with the spaces dropped too.

    Real tenants write ``Compromised Credential`` and ``compromisedcredential``, ``Allow`` and
    `` allow ``; all compare equal under this key ("" for non-strings). The few distinct values a
    tenant sends are memoised (bounded), since every record is routed on them.
    """
    return _ROUTING_KEYS[value] if type(value) is str else ""


#: Netskope's yes/no words (``alert``, ``acked``, ...), keyed by ``routing_key``.
_FLAGS: Final[dict[str, bool]] = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}


def flag(value: object) -> bool | None:
    """A yes/no field as a bool, whether it came as a word ("yes", "False"), a JSON boolean or 1/0;
    None when it says neither (absent, or another word)."""
    if value is True or value is False:
        return value  # type: ignore[return-value]
    if type(value) is int:
        return True if value == 1 else False if value == 0 else None
    return _FLAGS.get(routing_key(value))


_NORMALISED: Final = _Memo(lambda value: " ".join(value.split()).casefold(), 4096)
_ROUTING_KEYS: Final = _Memo(lambda value: "".join(value.split()).casefold(), 4096)


# --------------------------------------------------------------------------- enums

SEVERITY_CAPTIONS: Final[dict[int, str]] = {
    0: "Unknown",
    1: "Informational",
    2: "Low",
    3: "Medium",
    4: "High",
    5: "Critical",
    6: "Fatal",
    99: "Other",
}

#: Netskope severity words (``severity``, ``severity_level``, ``dlp_rule_severity``,
#: ``malware_severity``, ``risk_level``) → OCSF severity_id.
SEVERITY_WORDS: Final[dict[str, int]] = {
    "unknown": 0,
    "info": 1,
    "informational": 1,
    "information": 1,
    "low": 2,
    "med": 3,
    "medium": 3,
    "moderate": 3,
    "high": 4,
    "critical": 5,
    "very high": 5,
    "fatal": 6,
}


def severity_id_from(*values: object) -> int:
    """OCSF severity_id from the first usable of the record's own severity fields.

    Words go through ``SEVERITY_WORDS``; integers 1–6 are taken as OCSF ids (audit's
    ``severity_level`` and ``*_severity_id`` use the same ascending scale). An unknown word is 99
    (the caller keeps the text in ``severity``); nothing usable is 0.
    """
    for value in values:
        kind = type(value)
        if kind is str:
            key = normalise(value)
            if not key:
                continue
            found = SEVERITY_WORDS.get(key)
            if found is not None:
                return found
            if key.isascii() and key.isdigit():
                value, kind = int(key), int
            else:
                return 99
        if kind is int and 1 <= value <= 6:  # type: ignore[operator]
            return value  # type: ignore[return-value]
    return 0


#: Netskope's numeric ``severity_level`` (admin audit events) → OCSF severity_id. Netskope's scale
#: descends: the Audit Log lists High, Medium, Low, Info, and its published audit records carry 1 on
#: a failed login or an admin record edit and 2 on a successful login or logout (sources in
#: docs/mapping.md). Words (malsite alerts: "high", "med", "low") go through ``SEVERITY_WORDS``.
SEVERITY_LEVELS: Final[dict[int, int]] = {1: 4, 2: 3, 3: 2, 4: 1}


def severity_level_id(value: object) -> int:
    """OCSF severity_id of Netskope's ``severity_level``: its number on Netskope's descending scale,
    or its word; 99 for an unknown word (the caller keeps the text in ``severity``), else 0."""
    kind = type(value)
    if kind is str:
        key = normalise(value)
        if key.isascii() and key.isdigit():
            return SEVERITY_LEVELS.get(int(key), 0)
        return SEVERITY_WORDS.get(key, 99 if key else 0)
    if kind is int:
        return SEVERITY_LEVELS.get(value, 0)  # type: ignore[call-overload]
    return 0


STATUS_CAPTIONS: Final[dict[int, str]] = {0: "Unknown", 1: "Success", 2: "Failure", 99: "Other"}

#: Netskope ``action`` → (action_id, action, disposition_id, disposition) of security_control.
ACTIONS: Final[dict[str, tuple[int, str, int, str]]] = {
    "allow": (1, "Allowed", 1, "Allowed"),
    "bypass": (1, "Allowed", 1, "Allowed"),
    "proceed": (1, "Allowed", 1, "Allowed"),
    "block": (2, "Denied", 2, "Blocked"),
    "restrictaccess": (2, "Denied", 2, "Blocked"),
    "quarantine": (2, "Denied", 3, "Quarantined"),
    "alert": (3, "Observed", 19, "Alert"),
    "useralert": (3, "Observed", 19, "Alert"),
    "detection": (3, "Observed", 15, "Detected"),
    "anomaly_detection": (3, "Observed", 15, "Detected"),
}


# --------------------------------------------------------------------------- event envelope

#: Source fields every event consumes through ``base_event``.
BASE_FIELDS: Final[dict[str, str]] = {
    "_id": "metadata.uid",
    "timestamp": "time, metadata.original_time",
    "_insertion_epoch_timestamp": "metadata.logged_time",
    "count": "count",
    "transaction_id": "metadata.correlation_uid (the request: the same in every class)",
    "connection_id": 'metadata.tags[] {name: "connection_id"} (the connection: the same in every class)',
}


def base_event(
    record: dict[str, Any],
    log_type: str,
    event_class: OcsfClass,
    activity_id: int,
    activity_name: str,
    severity_id: int,
    *,
    severity: str | None = None,
    status_id: int | None = None,
) -> dict[str, Any]:
    """The envelope every class shares: ids, captions, time (ms) and metadata.

    Raises ``MappingError`` when the record has no usable ``timestamp`` (OCSF requires ``time``).
    """
    raw_time = record.get("timestamp")
    # Fast path for the usual epoch-seconds int; epoch_ms handles every other form.
    time_ms = raw_time * 1000 if type(raw_time) is int and 0 < raw_time < 10**12 else epoch_ms(raw_time)
    if time_ms is None:
        raise MappingError(f"record has no usable 'timestamp' (got {type(raw_time).__name__})")
    metadata: dict[str, Any] = {
        "version": OCSF_VERSION,
        "product": {"name": PRODUCT_NAME, "vendor_name": VENDOR_NAME, "feature": {"name": log_type}},
        "log_name": log_type,
        "original_time": str(raw_time),
    }
    set_text(metadata, "uid", record.get("_id"))
    set_text(metadata, "correlation_uid", record.get("transaction_id"))
    connection = record.get("connection_id")
    if connection:
        connection = text(connection)
        if connection is not None:
            metadata["tags"] = [{"name": "connection_id", "value": connection}]
    logged = record.get("_insertion_epoch_timestamp")
    if logged is not None:
        logged = logged * 1000 if type(logged) is int and 0 < logged < 10**12 else epoch_ms(logged)
        set_present(metadata, "logged_time", logged)
    class_uid = event_class.uid
    event: dict[str, Any] = {
        "class_uid": class_uid,
        "class_name": event_class.name,
        "category_uid": event_class.category_uid,
        "category_name": event_class.category_name,
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": class_uid * 100 + activity_id,
        "severity_id": severity_id,
        "severity": severity if severity_id == 99 and severity else SEVERITY_CAPTIONS[severity_id],
        "time": time_ms,
        "metadata": metadata,
    }
    count = record.get("count")
    if count and _usable_count(count):
        event["count"] = integer(count)
    if status_id is not None:
        event["status_id"] = status_id
        event["status"] = STATUS_CAPTIONS[status_id]
    return event


#: Source fields the finishing pass reads for every class, beside the class's own (read, not consumed).
FINISH_FIELDS: Final[dict[str, str]] = {
    "src_timezone": "timezone_offset (the zone name itself stays under unmapped)",
}


def finalize(
    event: dict[str, Any],
    record: dict[str, Any],
    consumed: frozenset[str],
    *,
    missing: Iterable[Iterable[str]] = (),
    profiles: Iterable[str] = (),
    structured: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The one finishing pass of every class: derived attributes, ``unmapped``, profiles; return event.

    It states the user's UTC offset at the event time (``timezone_offset``) when the record
    names its IANA time zone, and puts every source field no attribute took under ``unmapped``.
    A consumed field still goes to ``unmapped`` when the builders could not use its value:

    * a dict, list, boolean or float (unless the class lists the field in ``structured``);
    * a value failing its ``GUARDED_FIELDS`` check (an IP that is not one, a port out of range…);
    * a ``FALLBACK_FIELDS`` value that lost to its preferred field (``userkey`` beside ``user_id``);
    * a coordinate ``location`` could not place, or a ``DEPENDENT_FIELDS`` detail without its main field;
    * a field of a part the class could not build (``missing``: groups of fields, see ``parts.put``).

    Values are kept exactly as parsed (64-bit ints stay ints, ``false`` is a value); absent
    defaults (None / "" / 0 / {} / []) are dropped.
    """
    zone = record.get("src_timezone")
    if zone and type(zone) is str:
        minutes = _offset_minutes(zone.strip(), event.get("time", 0) // 900_000)
        if minutes is not None:
            event["timezone_offset"] = minutes
    # The hot loop: a value is kept when no attribute took its field, or when the field was taken
    # but its value has a shape the scalar builders cannot use. (Plain statements: compiled, they
    # test each value once, where a combined condition boxes its partial results.)
    unmapped: dict[str, Any] = {}
    for key, value in record.items():
        if not value and value is not False:
            continue
        if key in consumed:
            kind = type(value)
            if kind is str or kind is int or key in structured or (kind is float and key in COORDINATE_FIELDS):
                continue
        unmapped[key] = value
    checks = _CHECKS.get(consumed) or _checks(consumed)
    # The passes below run for every event: they check memos and numbers inline rather than call a
    # function per field (a Python call costs more than the check itself).
    for key, low, high, accepts in checks.guarded:  # consumed scalars that failed their attribute's check
        value = record.get(key)
        if value and ((type(value) is int and not low < value < high) or (type(value) is str and not accepts[value])):
            unmapped[key] = value
    for keys, latitude, longitude, companions in checks.coordinates:  # coordinates ``location`` could not place
        lat, lon = record.get(latitude), record.get(longitude)
        if (lat or lon) and not (
            coordinates(lat, lon) is not None
            and any(text(record.get(companion)) is not None for companion in companions)
        ):
            for key in keys:  # both coordinates of a side are placed, or neither
                value = record.get(key)
                if value:
                    unmapped[key] = value
    for key, needed in checks.dependents:  # a detail whose object could not be built without its main field
        value = record.get(key)
        if value and key not in unmapped and text(record.get(needed)) is None:
            unmapped[key] = value
    for key, preferred in checks.fallbacks:  # a fallback the preferred field made unnecessary
        value = record.get(key)
        if value and key not in unmapped:
            other = record.get(preferred)  # present and saying something else (case ignored unless it matters)
            if other and (
                str(value).strip() != str(other).strip()
                if key in CASE_SENSITIVE_FALLBACKS
                else str(value).casefold() != str(other).casefold()
            ):
                unmapped[key] = value
    for key, addresses in checks.ip_hosts:  # a host field holding an address other than the one placed
        value = record.get(key)
        if value and key not in unmapped and type(value) is str and _may_be_ip(value) and _IP_TEXTS[value] is not None:
            for address in addresses:
                placed = record.get(address)
                if placed and type(placed) is str and _IP_TEXTS[placed] is not None and placed.strip() != value.strip():
                    unmapped[key] = value
                    break
    for fields in missing:  # the fields of parts that could not be built
        for key in fields:
            value = record.get(key)
            if value:
                unmapped[key] = value
    if unmapped:
        event["unmapped"] = unmapped
    if profiles:
        event["metadata"]["profiles"] = sorted(set(profiles))
    return event


@lru_cache(maxsize=4096)
def _offset_minutes(zone: str, quarter_hour: int) -> int | None:
    """UTC offset (minutes) of an IANA time zone during one quarter hour; None for an unknown zone.

    Offsets only change on quarter-hour boundaries, so the cache key loses nothing.
    """
    try:
        moment = datetime.fromtimestamp(quarter_hour * 900, ZoneInfo(zone))
    except (ValueError, KeyError, OSError, OverflowError):  # not a zone name, or a time out of range
        return None
    offset = moment.utcoffset()
    return None if offset is None else int(offset.total_seconds()) // 60


class _Checks(NamedTuple):
    """What ``finalize`` re-checks for one consumed set, in the order the fields join ``unmapped``."""

    #: (field, its ``Guard`` flattened: low, high, accepts).
    guarded: tuple[tuple[str, float, float, Mapping[str, object]], ...]
    #: Per side: its consumed coordinate fields, its latitude and longitude, the text fields beside them.
    coordinates: tuple[tuple[tuple[str, ...], str, str, tuple[str, ...]], ...]
    dependents: tuple[tuple[str, str], ...]
    fallbacks: tuple[tuple[str, str], ...]
    ip_hosts: tuple[tuple[str, tuple[str, ...]], ...]


_CHECKS: Final[dict[Any, _Checks]] = {}


def _checks(consumed: frozenset[str]) -> _Checks:
    """The checks for a class's consumed fields (cached per frozenset: one entry per class or path)."""
    sides = []
    for side in ("src", "dst"):
        latitude, longitude = f"{side}_latitude", f"{side}_longitude"
        keys = tuple(key for key in (latitude, longitude) if key in consumed)
        if keys:
            sides.append((keys, latitude, longitude, COORDINATE_FIELDS[latitude][1]))
    found = _Checks(
        tuple((key, *guard) for key, guard in GUARDED_FIELDS.items() if key in consumed),
        tuple(sides),
        tuple((key, needed) for key, needed in DEPENDENT_FIELDS.items() if key in consumed),
        tuple((key, preferred) for key, preferred in FALLBACK_FIELDS.items() if key in consumed),
        tuple(
            (key, tuple(address for address in addresses if address in consumed))
            for key, addresses in IP_HOST_FIELDS.items()
            if key in consumed
        ),
    )
    if len(_CHECKS) < 256:
        _CHECKS[consumed] = found
    return found


def is_ip(value: str) -> bool:
    """Whether a string is an IPv4/IPv6 address (audit ``supporting_data`` mixes IPs and names)."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def supporting_data(record: dict[str, Any]) -> tuple[str, list[str], list[str]]:
    """An audit record's ``supporting_data`` as (data_type, IP addresses, other string values)."""
    data = record.get("supporting_data")
    if type(data) is not dict:
        return "", [], []
    values = data.get("data_values")
    ips: list[str] = []
    others: list[str] = []
    if type(values) is list:
        for value in values:
            shown = text(value)
            if shown is not None:
                (ips if ip_text(shown) is not None else others).append(shown)
    return normalise(data.get("data_type")), ips, others


_USABLE_SEVERITIES: Final = _Memo(
    lambda value: severity_id_from(value) not in (0, 99) or normalise(value) == "unknown", 1024
)
_USABLE_SEVERITY_LEVELS: Final = _Memo(
    lambda value: severity_level_id(value) not in (0, 99) or normalise(value) == "unknown", 1024
)


def _digest_of(length: int) -> Callable[[object], str | None]:
    def digest(value: object) -> str | None:
        return hex_text(value, length)

    return digest


#: ``HASH_ALGORITHMS`` with each algorithm's digest check memoised (``file`` and the guard share it).
_HASHES: Final = tuple(
    (field, algorithm_id, algorithm, _Memo(_digest_of(length), 4096))
    for field, algorithm_id, algorithm, length in HASH_ALGORITHMS
)


def _usable_count(value: object) -> bool:
    if type(value) is int:  # the usual form: skip ``integer``
        return 0 < value < 2**31  # type: ignore[operator]
    count = integer(value)
    return count is not None and 0 < count < 2**31


def _usable_port(value: object) -> bool:
    port = integer(value)
    return port is not None and 0 < port <= 65535


class Guard(NamedTuple):
    """The values a guarded field's builder takes: integers in ``(low, high)``, and strings that
    ``accepts`` maps to a true value (a memo: a tenant repeats its addresses, words and digests)."""

    low: float
    high: float
    accepts: Mapping[str, object]


#: Consumed fields whose builders take only some values (an OCSF pattern or range): ``finalize``
#: keeps a value that fails its check under ``unmapped`` as well, so an odd value is never lost.
#: (An empty range, ``(0, 0)``, takes no integer.)
GUARDED_FIELDS: Final[dict[str, Guard]] = {
    **dict.fromkeys(("srcip", "dstip", "userip", "ip"), Guard(0, 0, _IP_TEXTS)),
    **{field: Guard(0, 0, digests) for field, _, _, digests in _HASHES},  # a number is no digest
    **dict.fromkeys(("srcport", "dstport"), Guard(0, 65536, _Memo(_usable_port, 1024))),
    **dict.fromkeys(
        ("severity", "alarm_severity", "malware_severity", "dlp_rule_severity"),
        Guard(0, 7, _USABLE_SEVERITIES),  # OCSF ids 1-6
    ),
    "severity_level": Guard(0, 5, _USABLE_SEVERITY_LEVELS),  # Netskope's 1 (High) to 4 (Info)
    "count": Guard(0, 2**31, _Memo(_usable_count, 1024)),
    "object_type": Guard(0, 0, _Memo(lambda value: normalise(value) in ("file", "folder"), 1024)),
    "file_size": Guard(INT_MIN - 1, INT_MAX + 1, _Memo(lambda value: integer(value) is not None, 1024)),
    "_insertion_epoch_timestamp": Guard(0, INT_MAX + 1, _Memo(lambda value: epoch_ms(value) is not None, 1024)),
}
#: Consumed fields used only when another is absent (fallback → preferred): ``finalize`` keeps the
#: fallback's value under ``unmapped`` when the preferred field is present and says something else.
FALLBACK_FIELDS: Final[dict[str, str]] = {"userkey": "user_id", "ur_normalized": "user", "alarm_severity": "severity"}
#: Fallbacks whose case carries meaning: Netskope's lower-cased ``ur_normalized`` beside a ``user``
#: that differs only in case is kept, so case-sensitive joins can use the normalised form.
CASE_SENSITIVE_FALLBACKS: Final = frozenset({"ur_normalized"})

#: Host fields → the address fields placed beside them. A host field holding an IP literal is an
#: address (``host_and_ip``); when a different address was placed, ``finalize`` keeps it in unmapped.
IP_HOST_FIELDS: Final[dict[str, tuple[str, ...]]] = {"dsthost": ("dstip",), "hostname": ("userip", "ip")}


#: Consumed fields that only have a place next to another (detail → main field): ``finalize`` keeps
#: the detail under ``unmapped`` when the main field is absent (no ``os`` name: no ``device.os``).
DEPENDENT_FIELDS: Final[dict[str, str]] = {"os_version": "os"}


#: Coordinate field → (its partner, the text fields ``location`` needs beside them). ``location``
#: places coordinates only as a pair next to a city/country/region/zipcode; otherwise ``finalize``
#: keeps them under ``unmapped``.
COORDINATE_FIELDS: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    f"{side}_{axis}": (
        f"{side}_{other}",
        tuple(f"{side}_{name}" for name in ("location", "country", "region", "zipcode")),
    )
    for side in ("src", "dst")
    for axis, other in (("latitude", "longitude"), ("longitude", "latitude"))
}


def prefixed(prefix: str, mapping: Mapping[str, str]) -> dict[str, str]:
    """A builder's field → relative path table placed under ``prefix`` (for MAPPED_FIELDS)."""
    return {field: ", ".join(f"{prefix}.{part}" for part in path.split(", ")) for field, path in mapping.items()}


# --------------------------------------------------------------------------- objects

#: Fields ``user`` reads, with the user-object attribute each fills.
USER_FIELDS: Final[dict[str, str]] = {
    "user": "name, email_addr",
    "ur_normalized": "name (when user is absent; beside a user it is not exactly, it stays under unmapped)",
    "userkey": "uid (when user_id is absent)",
    "user_id": "uid",
    "userPrincipalName": "uid_alt",
    "sAMAccountName": "account.name",
    "organization_unit": "org.ou_name",
}


def user(record: dict[str, Any], name_field: str = "user") -> dict[str, Any] | None:
    """An OCSF user from Netskope's user fields; None when the record names nobody.

    ``name_field`` lets a class take the user from another field (e.g. an audit's target).
    """
    name = text(record.get(name_field))
    uid = text(record.get("user_id")) or text(record.get("userkey"))
    upn = text(record.get("userPrincipalName"))
    sam = text(record.get("sAMAccountName"))
    if name is None:
        name = text(record.get("ur_normalized")) or upn or sam
        if name is None and uid is None:
            return None
    result: dict[str, Any] = {}
    if name is not None:
        result["name"] = name
        if "@" in name and email_text(name) is not None:
            result["email_addr"] = name
    set_present(result, "uid", uid)
    set_present(result, "uid_alt", upn)
    if sam is not None:
        result["account"] = {"name": sam, "type_id": 1, "type": "LDAP Account"}
    org_unit = text(record.get("organization_unit"))
    if org_unit is not None:
        result["org"] = {"name": org_unit.split("/", 1)[0], "ou_name": org_unit}
    return result


def location(record: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    """OCSF location from Netskope's ``{prefix}location/country/region/zipcode/latitude/longitude``."""
    places, lat_field, lon_field = _LOCATION_KEYS[prefix]
    result: dict[str, Any] = {}
    for source, target in places:
        set_text(result, target, record.get(source))
    if not result:
        return None
    pair = coordinates(record.get(lat_field), record.get(lon_field))
    if pair is not None:
        result["lat"], result["long"] = pair
    return result


_PLACES: Final = (("location", "city"), ("country", "country"), ("region", "region"), ("zipcode", "postal_code"))
#: ``location``'s (text field, attribute) pairs and coordinate fields per prefix.
_LOCATION_KEYS: Final[dict[str, tuple[tuple[tuple[str, str], ...], str, str]]] = {
    prefix: (tuple((prefix + source, target) for source, target in _PLACES), prefix + "latitude", prefix + "longitude")
    for prefix in ("src_", "dst_")
}


def location_fields(prefix: str) -> dict[str, str]:
    """Field → relative path table for ``location(record, prefix)``."""
    return {
        prefix + "location": "location.city",
        prefix + "country": "location.country",
        prefix + "region": "location.region",
        prefix + "zipcode": "location.postal_code",
        prefix + "latitude": "location.lat",
        prefix + "longitude": "location.long",
    }


def _may_be_ip(value: str) -> bool:
    """The cheap test before the address check: an IP literal starts with a digit or holds a colon."""
    return value.lstrip()[:1].isdigit() or ":" in value


def host_and_ip(host: object, ip: object) -> tuple[str | None, str | None]:
    """(hostname, ip) of an endpoint or device. A host field holding an IP literal (NPA private apps
    send the address in ``dsthost``) is an address, not a host name: it fills ``ip`` when the
    address field has none (``IP_HOST_FIELDS`` keeps a different one under ``unmapped``)."""
    address = ip_text(ip) if ip else None
    name = text(host) if host else None
    if name is not None and _may_be_ip(name) and _IP_TEXTS[name] is not None:
        if address is None:
            address = name
        name = None
    return name, address


def endpoint(
    ip: object = None,
    port: object = None,
    hostname: object = None,
    *,
    geo: dict[str, Any] | None = None,
    domain: object = None,
    svc_name: object = None,
) -> dict[str, Any] | None:
    """An OCSF network_endpoint, or None when it would identify nothing (no ip/host/domain/service)."""
    result: dict[str, Any] = {}
    host, address = host_and_ip(hostname, ip)
    set_present(result, "ip", address)
    set_present(result, "hostname", host)
    set_text(result, "domain", domain)
    set_text(result, "svc_name", svc_name)
    if not result:
        return None
    if port:
        number_port = integer(port)
        if number_port is not None and 0 < number_port <= 65535:
            result["port"] = number_port
    if geo:
        result["location"] = geo
    return result


#: Netskope ``device`` words → OCSF device.type_id (first matching word wins, in this order).
DEVICE_TYPES: Final[tuple[tuple[str, int, str], ...]] = (
    ("ipad", 4, "Tablet"),
    ("tablet", 4, "Tablet"),
    ("iphone", 5, "Mobile"),
    ("android", 5, "Mobile"),
    ("mobile", 5, "Mobile"),
    ("phone", 5, "Mobile"),
    ("laptop", 3, "Laptop"),
    ("server", 1, "Server"),
    ("virtual", 6, "Virtual"),
    ("windows", 2, "Desktop"),
    ("mac", 2, "Desktop"),
    ("linux", 2, "Desktop"),
    ("desktop", 2, "Desktop"),
)

#: OS name words → OCSF os.type_id (first match wins, so "ipados" precedes "ios").
OS_TYPES: Final[tuple[tuple[str, int, str], ...]] = (
    ("windows mobile", 101, "Windows Mobile"),
    ("windows", 100, "Windows"),
    ("android", 201, "Android"),
    ("ipados", 302, "iPadOS"),
    ("ios", 301, "iOS"),
    ("mac", 300, "macOS"),
    ("os x", 300, "macOS"),
    # macOS by release name (Netskope's ``os`` may carry only the name, e.g. "Ventura").
    *((release, 300, "macOS") for release in ("tahoe", "sequoia", "sonoma", "ventura", "monterey", "big sur")),
    *((release, 300, "macOS") for release in ("catalina", "mojave", "sierra", "el capitan", "yosemite")),
    ("linux", 200, "Linux"),
    ("ubuntu", 200, "Linux"),
    ("centos", 200, "Linux"),
    ("red hat", 200, "Linux"),
    ("rhel", 200, "Linux"),
    ("debian", 200, "Linux"),
    ("fedora", 200, "Linux"),
    ("suse", 200, "Linux"),
    ("rocky", 200, "Linux"),
    ("alma", 200, "Linux"),
    ("chrome", 200, "Linux"),
    ("solaris", 400, "Solaris"),
    ("aix", 401, "AIX"),
    ("hp-ux", 402, "HP-UX"),
)


def _first_word(words: tuple[tuple[str, int, str], ...]) -> Callable[[str], tuple[int, str]]:
    """(type_id, caption) of the first word a name contains, else (99, the name)."""

    def lookup(value: str) -> tuple[int, str]:
        key = value.casefold()
        return next(((type_id, caption) for word, type_id, caption in words if word in key), (99, value))

    return lookup


#: Netskope ``device`` words → the OS family it runs (for an OS named only by its release).
DEVICE_OS_TYPES: Final[tuple[tuple[str, int, str], ...]] = (
    ("ipad", 302, "iPadOS"),
    ("iphone", 301, "iOS"),
    ("ios", 301, "iOS"),
    ("mac", 300, "macOS"),
    ("android", 201, "Android"),
    ("windows", 100, "Windows"),
    ("linux", 200, "Linux"),
)

#: Memoised (bounded) lookups: a tenant has few OS and device names.
_OS_TYPE_IDS: Final = _Memo(_first_word(OS_TYPES), 1024)
_DEVICE_OS_TYPE_IDS: Final = _Memo(_first_word(DEVICE_OS_TYPES), 1024)
_DEVICE_TYPE_IDS: Final = _Memo(_first_word(DEVICE_TYPES), 1024)


def os_object(name: object, version: object = None, device_kind: str | None = None) -> dict[str, Any] | None:
    """OCSF os (name + type_id required) from Netskope's ``os`` / ``os_version``.

    An OS name that says no family (a release name Netskope sends alone) takes the family of the
    ``device`` it runs on ("Mac Device" → macOS).
    """
    os_name = text(name)
    if os_name is None:
        return None
    type_id, caption = _OS_TYPE_IDS[os_name]
    if type_id == 99 and device_kind is not None:
        type_id, caption = _DEVICE_OS_TYPE_IDS[device_kind]
        if type_id == 99:
            caption = os_name
    result: dict[str, Any] = {"name": os_name, "type_id": type_id, "type": caption}
    os_version = text(version)
    if os_version is not None and os_version != os_name:
        result["version"] = os_version
    return result


DEVICE_FIELDS: Final[dict[str, str]] = {
    "hostname": "hostname (an IP literal: ip)",
    "userip": "ip",
    "nsdeviceuid": "uid",
    "managementID": "uid_alt",
    "os": "os.name, os.type_id",
    "os_version": "os.version",
    "device_classification": "is_managed, groups[].name",
}
#: Fields ``device`` reads whose values also stay under ``unmapped`` (a class's ``READ_FIELDS``).
DEVICE_READ_FIELDS: Final[dict[str, str]] = {"device": "type_id, type (its text also stays under unmapped)"}


def device(record: dict[str, Any], *, ip_field: str = "userip", default_type_id: int = 0) -> dict[str, Any] | None:
    """OCSF device (the user's machine) from Netskope's device fields; None when nothing identifies it."""
    result: dict[str, Any] = {}
    host, address = host_and_ip(record.get("hostname"), record.get(ip_field))
    set_present(result, "hostname", host)
    set_present(result, "ip", address)
    set_text(result, "uid", record.get("nsdeviceuid"))
    if not result:
        return None
    set_text(result, "uid_alt", record.get("managementID"))
    kind = text(record.get("device"))
    if kind is not None:
        result["type_id"], result["type"] = _DEVICE_TYPE_IDS[kind]
    else:
        result["type_id"] = default_type_id
    set_present(result, "os", os_object(record.get("os"), record.get("os_version"), kind))
    classification = text(record.get("device_classification"))
    if classification is not None:
        managed = normalise(classification)
        if managed in ("managed", "unmanaged"):
            result["is_managed"] = managed == "managed"
        result["groups"] = [{"name": classification}]
    return result


FILE_FIELDS: Final[dict[str, str]] = {
    "object": "name",
    "object_id": "uid",
    "object_type": "type_id",
    "file_path": "path",
    "file_size": "size",
    "file_type": "mime_type",
    "md5": "hashes[MD5].value",
    "sha1": "hashes[SHA-1].value",
    "sha256": "hashes[SHA-256].value",
}


def file(record: dict[str, Any], name_field: str = "object") -> dict[str, Any] | None:
    """OCSF file (name + type_id required) from Netskope's object/file fields; None without a name."""
    name = text(record.get(name_field))
    return None if name is None else named_file(record, name)


def named_file(record: dict[str, Any], name: str) -> dict[str, Any]:
    """``file`` with its name found by the caller (a class that names files from other fields)."""
    result: dict[str, Any] = (
        {"name": name, "type_id": 2, "type": "Folder"}
        if normalise(record.get("object_type")) == "folder"
        else {"name": name, "type_id": 1, "type": "Regular File"}
    )
    set_text(result, "uid", record.get("object_id"))
    set_text(result, "path", record.get("file_path"))
    set_present(result, "size", integer(record.get("file_size")))
    set_text(result, "mime_type", record.get("file_type"))  # Netskope's file_type is a MIME type ("image/gif")
    hashes = []
    for field, algorithm_id, algorithm, digests in _HASHES:
        digest = record.get(field)
        if digest and type(digest) is str and (digest := digests[digest]) is not None:
            hashes.append({"algorithm_id": algorithm_id, "algorithm": algorithm, "value": digest})
    if hashes:
        result["hashes"] = hashes
    return result


def url(value: object) -> dict[str, Any] | None:
    """OCSF url from a Netskope URL (often without a scheme: "host/path?query")."""
    url_string = text(value)
    if url_string is None:
        return None
    result: dict[str, Any] = {"url_string": url_string}
    rest = url_string
    scheme, sep, after = rest.partition("://")
    if sep:
        result["scheme"] = scheme
        rest = after
    host, slash, path = rest.partition("/")
    hostname = host.split(":", 1)[0]
    if hostname:
        result["hostname"] = hostname
    if slash:
        path, question, query = path.partition("?")
        result["path"] = "/" + path
        if question and query:
            result["query_string"] = query
    return result


HTTP_METHODS: Final = frozenset({"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT", "TRACE"})

HTTP_FIELDS: Final[dict[str, str]] = {
    "url": "url",
    "useragent": "user_agent",
    "referer": "referrer",
    "http_method": "http_method",
}


def http_request(record: dict[str, Any]) -> dict[str, Any] | None:
    """OCSF http_request from the URL, user agent, referer and method; None when none is known."""
    result: dict[str, Any] = {}
    set_present(result, "url", url(record.get("url")))
    set_text(result, "user_agent", record.get("useragent"))
    set_text(result, "referrer", record.get("referer"))
    method = text(record.get("http_method"))
    if method is not None and method.upper() in HTTP_METHODS:
        result["http_method"] = method.upper()
    return result or None


SECURITY_CONTROL_FIELDS: Final[dict[str, str]] = {
    "action": "action_id, action, disposition_id, disposition",
    "policy": "policy.name",
    "policy_id": "policy.uid",
}


def security_control(event: dict[str, Any], record: dict[str, Any]) -> bool:
    """Set action/disposition/policy (security_control profile) from ``action``/``policy``.

    Returns whether anything was set, so the caller declares the profile only when used.
    """
    used = False
    action = text(record.get("action"))
    if action is not None:
        known = ACTIONS.get(normalise(action))
        if known is None:
            event["action_id"], event["action"] = 99, action
            event["disposition_id"], event["disposition"] = 99, action
        else:
            event["action_id"], event["action"], event["disposition_id"], event["disposition"] = known
        used = True
    policy: dict[str, Any] = {}
    set_text(policy, "name", record.get("policy"))
    set_text(policy, "uid", record.get("policy_id"))
    if policy:
        event["policy"] = policy
        used = True
    return used


#: OCSF observable type ids used by the mappers.
OBSERVABLE_TYPES: Final[dict[str, int]] = {
    "hostname": 1,
    "ip": 2,
    "username": 4,
    "email": 5,
    "url": 6,
    "file_name": 7,
    "hash": 8,
    "resource_uid": 10,
    "user_agent": 16,
}


def observe(found: list[dict[str, Any]], name: str, kind: str, value: str | None) -> None:
    """Append the observable of an attribute the event holds at path ``name`` (None: it holds none)."""
    if value is not None:
        observable = (_OBSERVABLES.get(name) or _observable(name, kind)).copy()
        observable["value"] = value
        found.append(observable)


def observe_part(found: list[dict[str, Any]], path: str, part: dict[str, Any] | None) -> None:
    """Append the observables of a user (name, e-mail) or endpoint/device (IP, host name) placed at ``path``."""
    if part is not None:
        for attribute, template in _OBSERVED[path]:
            value = part.get(attribute)
            if value is not None:
                observable = template.copy()
                observable["value"] = value
                found.append(observable)


#: Observable name (an attribute's path) → the observable without its value. Copying a template is
#: cheaper than building the three-key dict; each path always holds one kind of value.
_OBSERVABLES: Final[dict[str, dict[str, Any]]] = {}


def _observable(name: str, kind: str) -> dict[str, Any]:
    template = _OBSERVABLES[name] = {"name": name, "type_id": OBSERVABLE_TYPES[kind], "value": None}
    return template


#: Part path → its (attribute, observable template) pairs, for ``observe_part``.
_OBSERVED: Final[dict[str, tuple[tuple[str, dict[str, Any]], ...]]] = {
    path: tuple((attribute, _observable(f"{path}.{attribute}", kind)) for attribute, kind in attributes)
    for paths, attributes in (
        (("user", "actor.user"), (("name", "username"), ("email_addr", "email"))),
        (
            ("src_endpoint", "dst_endpoint", "device", "evidences.src_endpoint", "evidences.dst_endpoint"),
            (("ip", "ip"), ("hostname", "hostname")),
        ),
    )
    for path in paths
}


def observe_file(found: list[dict[str, Any]], path: str, part: dict[str, Any] | None) -> None:
    """Append the observables of a file placed at ``path``: its name and each of its hashes."""
    if part is not None:
        name, digest = _FILE_OBSERVED[path]
        observable = name.copy()
        observable["value"] = part["name"]
        found.append(observable)
        for hashed in part.get("hashes", ()):
            observable = digest.copy()
            observable["value"] = hashed["value"]
            found.append(observable)


#: File path → its name's and its hashes' observable templates, for ``observe_file``.
_FILE_OBSERVED: Final[dict[str, tuple[dict[str, Any], dict[str, Any]]]] = {
    path: (_observable(f"{path}.name", "file_name"), _observable(f"{path}.hashes.value", "hash"))
    for path in ("file", "evidences.file")
}


# --------------------------------------------------------------------------- admin audit records

ADMIN_CONSOLE: Final = "Netskope Admin Console"


def admin_audit_fields(user_path: str) -> dict[str, str]:
    """Field → path table of ``admin_audit`` with the admin placed at ``user_path``."""
    return {
        **prefixed(user_path, USER_FIELDS),
        "audit_log_event": "message, activity_id",
        "severity_level": "severity_id",
    }


def admin_audit_read_fields(target: str) -> dict[str, str]:
    """``admin_audit``'s read-only field: ``supporting_data``, whose non-IP values the class places at ``target``."""
    return {"supporting_data": f"src_endpoint.ip (its IP values), {target}; the object itself stays under unmapped"}


def admin_audit(record: dict[str, Any], event: dict[str, Any], user_path: str) -> tuple[str, list[str]]:
    """Fill what every admin-console audit event carries: the admin, source IP, message, observables.

    The admin (``user``, user type Admin) goes to ``user_path``: "user" or "actor.user".
    Returns ``supporting_data``'s (data_type, non-IP values) for the class to place its target;
    ``supporting_data`` itself stays under ``unmapped`` (it is only partly mapped).
    """
    admin = user(record)
    if admin is not None:
        admin["type_id"], admin["type"] = 2, "Admin"
        if user_path == "user":
            event["user"] = admin
        else:
            event["actor"] = {"user": admin}
    data_type, ips, others = supporting_data(record)
    if ips:
        event["src_endpoint"] = {"ip": ips[0]}
    message = text(record.get("audit_log_event"))
    if message is not None:
        event["message"] = message
    found: list[dict[str, Any]] = []
    observe_part(found, user_path, admin)
    observe(found, "src_endpoint.ip", "ip", ips[0] if ips else None)
    if found:
        event["observables"] = found
    return data_type, others
