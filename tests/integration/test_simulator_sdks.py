"""Netskope's own clients against the simulator, over HTTPS, through their real code paths.

``netskopesdk`` (Netskope's iterator client, used by Cloud Exchange, Sekoia and others) and
``netskope-py-sdk`` (Netskope's typed SDK over ``datasearch``) are only pointed at the simulator
the way a user points them at a tenant behind a proxy: ``netskopesdk`` gets the simulator's
``host:port`` and trusts its certificate through ``REQUESTS_CA_BUNDLE``; ``netskope-py-sdk``
accepts only a ``*.goskope.com`` host on port 443, so it reaches the simulator through a real
CONNECT proxy (``HTTPS_PROXY``) and trusts it through ``SSL_CERT_FILE``. Nothing inside either SDK
is patched.
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from netskope_api.iterator.const import Const
from netskope_api.iterator.netskope_iterator import NetskopeIterator

from netskope_provider.simulator import SimulatorConfig, SimulatorServer
from netskope_provider.simulator.records import ENDPOINT_DLP, INSERTION_TIME, normalise_alert_type, record_subtype

S = 1_790_000_000
END = S + 3600
NOW = END + 7200
SINCE = S - 86_400
#: The tenant name the typed SDK is given; the proxy tunnels it to the simulator.
TENANT = "acme.goskope.com"
RATE_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
EVENT_TYPES = sorted({value for name, value in vars(Const).items() if name.startswith("EVENT_TYPE_")} - {"alert"})
BIG_IDS = ("connection_id", "transaction_id", "app_session_id", "dlp_incident_id")
ALERT_TYPES = sorted(value for name, value in vars(Const).items() if name.startswith("ALERT_TYPE_"))


class ConnectProxy:
    """An HTTP CONNECT proxy on 127.0.0.1 that tunnels ``TENANT:443`` to the simulator (and refuses anything else)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.tunnels: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        with client:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            request_line = head.split(b"\r\n", 1)[0].decode()
            self.tunnels.append(request_line)
            if request_line.split()[:2] != ["CONNECT", f"{TENANT}:443"]:
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            with socket.create_connection(("127.0.0.1", self.target_port)) as upstream:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                ends = (client, upstream)
                while True:
                    readable, _, _ = select.select(ends, [], [], 30)
                    if not readable:
                        return
                    for end in readable:
                        data = end.recv(1 << 16)
                        if not data:
                            return
                        (upstream if end is client else client).sendall(data)

    def close(self) -> None:
        self._listener.close()


@pytest.fixture(scope="module")
def tenant() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(
        seed=51,
        start=S,
        end=END,
        now=NOW,
        tls=True,
        tls_names=(TENANT,),
        iterator_wait_seconds=0,
        iterator_page_records=150,  # a few pages per log type
    )
    with SimulatorServer(config) as server:
        yield server
        assert server.stats.internal_errors == []


# -- netskopesdk: the dataexport iterator client ----------------------------------------------------------


def iterator(tenant: SimulatorServer, monkeypatch, index: str, event_type: str, alert_type: str | None = None):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tenant.ca_file)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    params = {
        Const.NSKP_TOKEN: tenant.token,
        Const.NSKP_TENANT_HOSTNAME: tenant.host,
        Const.NSKP_EVENT_TYPE: event_type,
        Const.NSKP_ITERATOR_NAME: index,
    }
    if alert_type:
        params[Const.NSKP_ALERT_TYPE] = alert_type
    return NetskopeIterator(params)


def consume(client, tenant: SimulatorServer) -> list[dict]:
    """The documented loop: an epoch, then ``next`` until ``timestamp_hwm`` reaches the tenant's now."""
    response = client.download(SINCE)
    records: list[dict] = []
    while True:
        assert response.status_code == 200, response.text[:300]
        assert response.headers["Content-Encoding"] == "gzip"  # the SDK asks for gzip
        assert all(name in response.headers for name in RATE_HEADERS)
        page = response.json()
        assert page["ok"] == 1 and set(page) == {"ok", "result", "wait_time", "timestamp_hwm"}
        records += page["result"]
        if page["timestamp_hwm"] >= tenant.now():
            return records
        response = client.next()


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_netskopesdk_iterates_every_event_type_it_knows(tenant, monkeypatch, event_type):
    records = consume(iterator(tenant, monkeypatch, f"sdk-{event_type}", event_type), tenant)
    assert records == tenant.ground_truth(event_type, S, END, served_by="dataexport")
    assert records and not any(INSERTION_TIME in record for record in records)


@pytest.mark.parametrize("alert_type", ALERT_TYPES)
def test_netskopesdk_iterates_every_alert_type_it_knows(tenant, monkeypatch, alert_type):
    records = consume(iterator(tenant, monkeypatch, f"sdk-{alert_type}", "alert", alert_type), tenant)
    alerts = tenant.ground_truth("alert", S, END, served_by="dataexport")
    assert records == [r for r in alerts if normalise_alert_type(r["alert_type"]) == alert_type]
    assert records


def test_netskopesdk_resend_head_and_tail(tenant, monkeypatch):
    client = iterator(tenant, monkeypatch, "sdk-operations", "application")  # four pages
    first = client.download(SINCE).json()
    second = client.next().json()
    assert client.resend().json() == second  # the previous page again, the index unmoved
    assert client.next().json()["result"][0]["_id"] > second["result"][-1]["_id"]
    assert client.head().json() == first  # from the oldest record stored
    assert client.tail().json() == {"ok": 1, "result": [], "wait_time": 0, "timestamp_hwm": NOW}
    assert client.next().json()["result"] == []


def test_netskopesdk_honours_ratelimit_headers_and_meets_no_429(monkeypatch):
    config = SimulatorConfig(
        seed=52, start=S, end=END, now=NOW, tls=True, rate_limit_per_second=2, iterator_page_records=60
    )
    with SimulatorServer(config) as limited:
        records = consume(iterator(limited, monkeypatch, "sdk-limited", "audit"), limited)
        assert records == limited.ground_truth("audit", S, END, served_by="dataexport")
        assert limited.stats.statuses[200] >= 5 and limited.stats.throttled == 0


# -- netskope-py-sdk: the typed client over datasearch -------------------------------------------------------


@pytest.fixture
def typed_client(tenant, monkeypatch):
    from netskope import NetskopeClient

    proxy = ConnectProxy(tenant.port)
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setenv("SSL_CERT_FILE", tenant.ca_file)
    client = NetskopeClient(tenant=TENANT, api_token=tenant.token, max_retries=0)
    yield client
    client.close()
    proxy.close()
    assert proxy.tunnels and all(line == f"CONNECT {TENANT}:443 HTTP/1.1" for line in proxy.tunnels)


def searched(tenant: SimulatorServer, log_type: str) -> list[dict]:
    """What ``datasearch`` holds for ``starttime=SINCE`` (exclusive), ``endtime=NOW`` (inclusive)."""
    return tenant.ground_truth(log_type, SINCE + 1, NOW + 1, by="event", served_by="datasearch")


@pytest.mark.parametrize("event_type", ["alert", "application", "network", "page", "infrastructure", "epdlp"])
def test_netskope_py_sdk_lists_event_types(tenant, typed_client, event_type):
    events = list(typed_client.events.list(event_type, start_time=SINCE, end_time=NOW))
    if event_type == "epdlp":
        expected = [r for r in searched(tenant, "endpoint") if record_subtype("endpoint", r) == ENDPOINT_DLP]
    else:
        expected = searched(tenant, event_type)
    assert [event.id for event in events] == [record["_id"] for record in expected] and events
    for event, record in zip(events, expected):  # times parsed, 64-bit ids kept exact
        assert event.timestamp == datetime.fromtimestamp(record["timestamp"], UTC)
        assert all(getattr(event, name) == record[name] for name in BIG_IDS if name in record)


def test_netskope_py_sdk_meets_the_real_types_of_audit_and_incident_fields(tenant, typed_client):
    """Real audit records carry an integer ``severity_level`` and incidents an integer ``incident_id``
    (published samples, Netskope's field schema); netskope-py-sdk 1.0.3 models both as strings and
    rejects the records. The simulator serves the real types; the SDK reads them through ``fields``."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="severity_level"):
        list(typed_client.events.list("audit", start_time=SINCE, end_time=NOW))
    with pytest.raises(ValidationError, match="incident_id"):
        list(typed_client.incidents.list(start_time=SINCE, end_time=NOW))
    audit = typed_client.events.list("audit", start_time=SINCE, end_time=NOW, fields=["_id", "audit_log_event"])
    assert [event.id for event in audit] == [record["_id"] for record in searched(tenant, "audit")]
    incidents = typed_client.incidents.list(start_time=SINCE, end_time=NOW, fields=["_id", "status", "user"])
    assert [(i.id, i.status) for i in incidents] == [(r["_id"], r["status"]) for r in searched(tenant, "incident")]


def test_netskope_py_sdk_lists_alerts_sorted_newest_first(tenant, typed_client):
    alerts = list(typed_client.alerts.list(start_time=SINCE, end_time=NOW, order_by="timestamp"))
    expected = sorted(searched(tenant, "alert"), key=lambda record: record["timestamp"], reverse=True)
    assert [alert.id for alert in alerts] == [record["_id"] for record in expected] and alerts


def test_netskope_py_sdk_gets_clear_answers_where_the_simulator_models_nothing(tenant, typed_client):
    from netskope.exceptions import APIError, NotFoundError

    assert list(typed_client.events.list("clientstatus", start_time=SINCE, end_time=NOW)) == []
    with pytest.raises(NotFoundError, match="datasearch/transaction"):
        list(typed_client.events.list("transaction", start_time=SINCE, end_time=NOW))
    with pytest.raises(APIError, match="grouping"):
        list(typed_client.alerts.list(group_by="alert_type"))
    with pytest.raises(APIError, match="query language"):
        typed_client.alerts.get("abc123")
    with pytest.raises(NotFoundError, match="POST /api/v2/ubadatasvc/user/uci"):
        typed_client.incidents.get_uci("john.doe@example.org")  # a POST with a JSON body
    # The same keep-alive connection still answers the next request correctly.
    assert [alert.id for alert in typed_client.alerts.list(start_time=SINCE, end_time=NOW)][:3] == [
        record["_id"] for record in searched(tenant, "alert")[:3]
    ]
