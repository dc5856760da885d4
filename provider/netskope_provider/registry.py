"""The log types this provider collects and the OCSF classes it maps them to: one table of each.

Every part that needs to know them reads these tables: the client, hook and DAG factory (log
types: API path, pull strategy, RBAC permission), routing (the record kind each log type implies,
and whole kinds a class claims), the mapper (the module that builds each class), the validator
(the class's name in the OCSF schema), the native build (which modules to compile), the doc
generator, the simulator and the tests. Adding a log type or a class is one entry here (or one
``register`` call, as the tests do) plus the class's module, which holds ``build(record,
log_type)`` and its field tables.

Standard library only: ``provider/hatch_build.py`` reads this file before the package's
dependencies are installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple


class Strategy(str, Enum):
    """How a log type's records are pulled so that each is read, and delivered, once (docs/hook.md)."""

    #: ``/api/v2/events/data/{type}`` with insertionstarttime/insertionendtime + offset paging.
    INSERTION_WINDOW = "insertion_window"
    #: ``/api/v2/events/datasearch/{type}``: event-time intervals, each read whole once and then
    #: only for the records that arrive later (a count per interval tells which grew).
    EVENT_TIME = "event_time"
    #: ``/api/v2/events/dataexport/events/{type}`` iterator: a fresh index per window, seeded
    #: with the window start, read until ``timestamp_hwm`` passes the window end.
    ITERATOR = "iterator"


@dataclass(frozen=True)
class LogType:
    name: str
    path: str
    strategy: Strategy
    #: The RBAC v3 role permission the user's spec lists for this log type (named in 403 errors).
    rbac_permission: str
    #: The ``record_type`` its records carry, which routing assumes when a record omits it
    #: (empty: the log type's own name).
    kind: str = ""

    @property
    def record_kind(self) -> str:
        return self.kind or self.name


class OcsfClass(NamedTuple):
    """An OCSF class the mapping emits: its ids and captions, and where its builder lives."""

    uid: int
    name: str
    category_uid: int
    category_name: str
    #: The module whose ``build(record, log_type)`` makes the class's events.
    module: str
    #: The class's name in the OCSF 1.5.0 schema (what the validator checks events against).
    schema: str
    #: Record kinds this class takes whole when the spec's routing rules send them nowhere.
    kinds: tuple[str, ...] = ()


OCSF_PACKAGE = "netskope_provider.ocsf"

LOG_TYPES: dict[str, LogType] = {}
CLASSES: dict[int, OcsfClass] = {}
#: Log type → the record kind its records imply (kept in step with ``LOG_TYPES``; routing reads it).
LOG_TYPE_KINDS: dict[str, str] = {}
#: Record kind → the class that claims it whole (kept in step with ``CLASSES``; routing reads it).
KIND_CLASSES: dict[str, int] = {}


def register(entry: LogType | OcsfClass) -> LogType | OcsfClass:
    """Add a log type or a class; a name or uid already taken is an error (unregister it first)."""
    if isinstance(entry, LogType):
        if entry.name in LOG_TYPES:
            raise ValueError(f"log type {entry.name!r} is already registered")
        LOG_TYPES[entry.name] = entry
        LOG_TYPE_KINDS[entry.name] = entry.record_kind
        return entry
    if entry.uid in CLASSES:
        raise ValueError(f"OCSF class {entry.uid} is already registered ({CLASSES[entry.uid].name})")
    claimed = [kind for kind in entry.kinds if kind in KIND_CLASSES]
    if claimed:
        raise ValueError(f"record kinds {claimed} are already claimed by another class")
    CLASSES[entry.uid] = entry
    KIND_CLASSES.update(dict.fromkeys(entry.kinds, entry.uid))
    return entry


def unregister(entry: LogType | OcsfClass) -> None:
    """Remove what ``register`` added (tests that extend the registry clean up with it)."""
    if isinstance(entry, LogType):
        del LOG_TYPES[entry.name], LOG_TYPE_KINDS[entry.name]
        return
    del CLASSES[entry.uid]
    for kind in entry.kinds:
        del KIND_CLASSES[kind]


@contextmanager
def registered(*entries: LogType | OcsfClass) -> Iterator[None]:
    """The entries registered for the ``with`` block only."""
    done: list[LogType | OcsfClass] = []
    try:
        for entry in entries:
            done.append(register(entry))
        yield
    finally:
        for entry in reversed(done):
            unregister(entry)


def get_log_type(name: str) -> LogType:
    """Return the log type called ``name``, or fail with the list of valid names."""
    try:
        return LOG_TYPES[name.strip().lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"Unknown Netskope log type {name!r}; expected one of: {', '.join(LOG_TYPES)}") from None


def package_modules(package: str = OCSF_PACKAGE) -> tuple[str, ...]:
    """The short names of the registered class modules that live in ``package`` (the compiled ones)."""
    prefix = package + "."
    return tuple(sorted(cls.module[len(prefix) :] for cls in CLASSES.values() if cls.module.startswith(prefix)))


_BUILT_IN_LOG_TYPES = (
    LogType("application", "events/data/application", Strategy.INSERTION_WINDOW, "Steering: Application Events (View)"),
    LogType("page", "events/data/page", Strategy.INSERTION_WINDOW, "Steering: Page Events (View)"),
    LogType("network", "events/data/network", Strategy.INSERTION_WINDOW, "Steering: Network Events (View)"),
    LogType(
        "infrastructure",
        "events/data/infrastructure",
        Strategy.INSERTION_WINDOW,
        "Steering: Infrastructure Events (View) and Access Control: Infrastructure (View)",
    ),
    LogType("audit", "events/data/audit", Strategy.INSERTION_WINDOW, "Administration: Audit Log (View)"),
    LogType(
        "incident",
        "events/datasearch/incident",
        Strategy.EVENT_TIME,
        "Steering: Incident Events (View) and DLP: DLP Incident (View)",
    ),
    LogType(
        "endpoint",
        "events/dataexport/events/endpoint",
        Strategy.ITERATOR,
        "Steering: Endpoint Events (View)",
        kind="epdlp",
    ),
    LogType("alert", "events/data/alert", Strategy.INSERTION_WINDOW, "Steering: Alerts (View)"),
)
#: In the order the docs present them (the spec's order).
_BUILT_IN_CLASSES = (
    OcsfClass(
        3002, "Authentication", 3, "Identity & Access Management", f"{OCSF_PACKAGE}.authentication", "authentication"
    ),
    OcsfClass(
        3004,
        "Entity Management",
        3,
        "Identity & Access Management",
        f"{OCSF_PACKAGE}.entity_management",
        "entity_management",
    ),
    OcsfClass(
        3001, "Account Change", 3, "Identity & Access Management", f"{OCSF_PACKAGE}.account_change", "account_change"
    ),
    OcsfClass(4001, "Network Activity", 4, "Network Activity", f"{OCSF_PACKAGE}.network_activity", "network_activity"),
    OcsfClass(2004, "Detection Finding", 2, "Findings", f"{OCSF_PACKAGE}.detection_finding", "detection_finding"),
    OcsfClass(
        2006, "Data Security Finding", 2, "Findings", f"{OCSF_PACKAGE}.data_security_finding", "data_security_finding"
    ),
    OcsfClass(
        6006,
        "File Hosting Activity",
        6,
        "Application Activity",
        f"{OCSF_PACKAGE}.file_hosting_activity",
        "file_hosting",
    ),
    OcsfClass(5001, "Device Inventory Info", 5, "Discovery", f"{OCSF_PACKAGE}.device_inventory_info", "inventory_info"),
)
for _log_type in _BUILT_IN_LOG_TYPES:
    register(_log_type)
for _class in _BUILT_IN_CLASSES:
    register(_class)
