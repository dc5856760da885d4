"""The simulator behaves like a real tenant by default; each behaviour of docs/simulator.md's table is tested here.

Record shapes per endpoint family, late insertion and the ground-truth views of it, the tenant
clock, full iterator pages, both iterator clocks, a shared index (409 and split stream), gzip,
RateLimit-* headers, request bodies on keep-alive connections, every endpoint a tenant serves,
and parameters that are modelled or refused -- all over real HTTP.
"""

from __future__ import annotations

import gzip
import http.client
import itertools

import orjson
import pytest
import requests

from netskope_provider.simulator import LagBand, SimulatorConfig, SimulatorServer, generate
from netskope_provider.simulator.__main__ import build_parser, config_from_args
from netskope_provider.simulator.records import ENDPOINT_DLP, INSERTION_TIME, normalise_alert_type, record_subtype

S = 1_790_000_000
END = S + 3600
NOW = END + 7200
RATE_HEADERS = {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}


def get(sim: SimulatorServer, path: str, headers: dict[str, str] | None = None, **params) -> requests.Response:
    return requests.get(
        f"{sim.url}/api/v2/{path}",
        params=params,
        headers={"Netskope-Api-Token": sim.token, **(headers or {})},
        timeout=60,
    )


def body(response: requests.Response) -> dict:
    assert response.status_code == 200, response.text[:300]
    document = orjson.loads(response.content)
    assert document["ok"] == 1, document
    return document


def ids(records: list[dict]) -> list[str]:
    return [record["_id"] for record in records]


def drain(sim: SimulatorServer, path: str, index: str, operation: str | int, session=None) -> tuple[list[dict], int]:
    """Every record an index serves from ``operation`` until it has caught up, and the last ``timestamp_hwm``."""
    page = body(get(sim, path, index=index, operation=operation))
    records = page["result"]
    while page["result"] and page["timestamp_hwm"] < sim.now():
        page = body(get(sim, path, index=index, operation="next"))
        records += page["result"]
    return records, page["timestamp_hwm"]


@pytest.fixture(scope="module")
def sim():
    config = SimulatorConfig(seed=41, start=S, end=END, now=NOW, iterator_wait_seconds=0)
    with SimulatorServer(config) as server:
        yield server
        assert server.stats.internal_errors == []


# -- record shapes per endpoint family ------------------------------------------------------------------

SHAPES = [
    ("events/data/application", "application", "data"),
    ("events/datasearch/application", "application", "datasearch"),
    ("events/dataexport/events/application", "application", "dataexport"),
    ("events/datasearch/incident", "incident", "datasearch"),
    ("events/dataexport/events/incident", "incident", "dataexport"),
    ("events/dataexport/events/endpoint", "endpoint", "dataexport"),
    ("events/dataexport/alerts/dlp", "alert", "dataexport"),
]


def served(sim: SimulatorServer, path: str, family: str) -> list[dict]:
    if family == "dataexport":
        return drain(sim, path, f"shape-{path}", S - 86_400)[0]
    window = {"starttime": S - 86_400, "endtime": NOW} if family == "datasearch" else {}
    return body(get(sim, path, limit=10_000, **window))["result"]


@pytest.mark.parametrize(("path", "log_type", "family"), SHAPES)
def test_only_data_endpoints_serve_the_insertion_time(sim, path, log_type, family):
    records = served(sim, path, family)
    assert records and all((INSERTION_TIME in record) == (family == "data") for record in records)
    stored = {record["_id"]: record for record in sim.ground_truth(log_type, S, END)}
    as_served = {record["_id"]: record for record in sim.ground_truth(log_type, S, END, served_by=family)}
    for record in records:  # the same record, less the insertion time
        assert record == as_served[record["_id"]]
        assert record == {
            name: value for name, value in stored[record["_id"]].items() if name != INSERTION_TIME or family == "data"
        }


def test_generate_gives_the_served_shape_too():
    stored = generate("endpoint", 50, S, END, seed=41)
    bare = generate("endpoint", 50, S, END, seed=41, insertion_time=False)
    assert bare == [{name: value for name, value in record.items() if name != INSERTION_TIME} for record in stored]


def test_projection_of_a_datasearch_never_shows_the_insertion_time(sim):
    rows = body(
        get(
            sim,
            "events/datasearch/incident",
            starttime=S - 86_400,
            endtime=NOW,
            limit=5,
            fields=f"_id,{INSERTION_TIME}",
        )
    )
    assert rows["result"] and all(set(row) == {"_id"} for row in rows["result"])


def test_legacy_option_serves_the_insertion_time_everywhere():
    config = SimulatorConfig(
        seed=41, start=S, end=END, now=NOW, iterator_wait_seconds=0, insertion_time_everywhere=True
    )
    with SimulatorServer(config) as legacy:
        for path, log_type, family in SHAPES:
            records = served(legacy, path, family)
            assert records and all(INSERTION_TIME in record for record in records), path
            assert legacy.ground_truth(log_type, S, END, served_by=family) == legacy.ground_truth(log_type, S, END)


# -- late insertion, ground truth, the clock ------------------------------------------------------------


def test_insertion_lags_follow_the_configured_mix_from_seconds_to_hours():
    bands = (LagBand(0.7, 1, 60), LagBand(0.2, 600, 3600), LagBand(0.1, 3 * 3600, 6 * 3600))
    records = generate("incident", 5_000, S, END, seed=3, lags=bands)
    lags = [record[INSERTION_TIME] - record["timestamp"] for record in records]
    shares = [sum(band.low <= lag < band.high for lag in lags) / len(lags) for band in bands]
    assert sum(shares) == pytest.approx(1.0)  # every lag lies in a band
    assert shares == pytest.approx([band.share for band in bands], abs=0.03)
    assert max(lags) > 5 * 3600 and min(lags) < 5
    assert records == generate("incident", 5_000, S, END, seed=3, lags=bands)  # deterministic
    config = SimulatorConfig(seed=3, start=S, end=END, volume={"incident": 5_000}, insertion_lags={"incident": bands})
    assert SimulatorServer(config).ground_truth("incident", S, END) == records


@pytest.mark.parametrize(
    ("lags", "fragment"),
    [
        ({"incident": [LagBand(1.0, 60, 10)]}, "high > low"),
        ({"incident": [LagBand(0.0, 1, 10)]}, "share > 0"),
        ({"incident": []}, "at least one LagBand"),
        ({"firewall": [LagBand(1.0, 1, 10)]}, "unknown log types"),
    ],
)
def test_a_bad_lag_mix_says_what_a_valid_one_is(lags, fragment):
    with pytest.raises(ValueError, match=fragment):
        SimulatorServer(SimulatorConfig(start=S, end=END, insertion_lags=lags))


def test_ground_truth_by_insertion_time_by_event_time_and_as_visible_at_a_moment(sim):
    everything = sim.ground_truth("application", 0, 2**40)
    assert len(everything) == 600
    a, b = S + 600, S + 1800
    assert sim.ground_truth("application", a, b) == [r for r in everything if a <= r[INSERTION_TIME] < b]
    happened = sim.ground_truth("application", a, b, by="event")
    assert happened == [r for r in everything if a <= r["timestamp"] < b]
    assert any(r[INSERTION_TIME] >= b for r in happened), "some records of the window are inserted after it ends"
    assert sim.visible_at("application", b) == [r for r in everything if r[INSERTION_TIME] <= b]
    with pytest.raises(ValueError, match="'insertion' or 'event'"):
        sim.ground_truth("application", a, b, by="arrival")


@pytest.mark.parametrize("clock", ["insertion", "event"])
def test_moving_the_clock_reveals_late_records_to_queries_and_iterators(clock):
    config = SimulatorConfig(
        seed=43, start=S, end=END, now=S + 1800, volume={"endpoint": 400, "incident": 400}, iterator_clock=clock
    )
    with SimulatorServer(config) as live:
        path = "events/dataexport/events/endpoint"
        early, hwm = drain(live, path, "live", S - 86_400)
        assert hwm == S + 1800
        assert sorted(ids(early)) == sorted(ids(live.visible_at("endpoint", S + 1800)))
        window = {"starttime": S - 86_400, "endtime": S + 1800, "limit": 10_000}
        incidents_then = ids(body(get(live, "events/datasearch/incident", **window))["result"])
        live.set_now(END + 60)
        later, hwm = drain(live, path, "live", "next")
        assert hwm == END + 60
        delivered = ids(early + later)
        assert len(delivered) == len(set(delivered))  # each once
        visible = ids(live.visible_at("endpoint", END + 60))
        if clock == "insertion":  # the stream is in insertion order: late records come after the position
            assert sorted(delivered) == sorted(visible)
        else:  # the index stood at an event time: late records behind it never reach it
            last = (early[-1]["timestamp"], early[-1]["_id"])
            behind = {
                r["_id"]
                for r in live.visible_at("endpoint", END + 60)
                if r[INSERTION_TIME] > S + 1800 and (r["timestamp"], r["_id"]) <= last
            }
            assert behind and set(delivered) == set(visible) - behind
        incidents_now = ids(body(get(live, "events/datasearch/incident", **window))["result"])
        late = [
            r for r in live.ground_truth("incident", S - 86_400, S + 1801, by="event") if r[INSERTION_TIME] > S + 1800
        ]
        assert late and set(incidents_now) == set(incidents_then) | set(ids(late))


# -- the iterator ---------------------------------------------------------------------------------------


def test_iterator_pages_hold_10000_records():
    config = SimulatorConfig(seed=44, start=S, end=END, now=NOW, volume={"network": 25_000}, iterator_wait_seconds=3)
    with SimulatorServer(config) as big:
        path = "events/dataexport/events/network"
        pages = [body(get(big, path, index="full", operation=S))]
        while pages[-1]["wait_time"] == 0:
            pages.append(body(get(big, path, index="full", operation="next")))
        assert [len(page["result"]) for page in pages] == [10_000, 10_000, 5_000]
        assert pages[-1]["timestamp_hwm"] == NOW and pages[-1]["wait_time"] == 3
        assert sorted(itertools.chain.from_iterable(ids(page["result"]) for page in pages)) == sorted(
            ids(big.ground_truth("network", S, END))
        )


@pytest.mark.parametrize("clock", ["insertion", "event"])
def test_the_iterator_clock_decides_where_an_epoch_starts_and_what_timestamp_hwm_counts(clock):
    config = SimulatorConfig(
        seed=45,
        start=S,
        end=END,
        now=S + 1800,
        volume={"endpoint": 600},
        iterator_clock=clock,
        iterator_page_records=50,
    )
    with SimulatorServer(config) as tenant:
        path = "events/dataexport/events/endpoint"
        position = "timestamp" if clock == "event" else INSERTION_TIME
        stored = {r["_id"]: r for r in tenant.ground_truth("endpoint", 0, 2**40)}
        page = body(get(tenant, path, index="clock", operation=S + 600))
        delivered = ids(page["result"])
        while page["wait_time"] == 0:
            marks = [stored[i][position] for i in ids(page["result"])]
            assert max(marks) <= page["timestamp_hwm"]  # everything up to the mark has been served
            page = body(get(tenant, path, index="clock", operation="next"))
            delivered += ids(page["result"])
        assert page["timestamp_hwm"] == S + 1800
        expected = [r for r in tenant.visible_at("endpoint", S + 1800) if r[position] >= S + 600]
        order = sorted(expected, key=lambda r: (r[position], r["_id"]))
        assert delivered == ids(order)


@pytest.mark.parametrize(("clock", "reaches_the_running_index"), [("insertion", True), ("event", False)])
def test_a_record_inserted_behind_an_index_reaches_it_only_on_the_insertion_clock(clock, reaches_the_running_index):
    config = SimulatorConfig(seed=46, start=S, end=END, now=S + 1800, volume={"endpoint": 200}, iterator_clock=clock)
    with SimulatorServer(config) as tenant:
        path = "events/dataexport/events/endpoint"
        drain(tenant, path, "running", S - 86_400)
        behind = {"_id": "late-behind", "timestamp": S + 100, INSERTION_TIME: S + 1900, "type": "endpoint"}
        ahead = {"_id": "late-ahead", "timestamp": S + 1850, INSERTION_TIME: S + 1900, "type": "endpoint"}
        tenant.inject("endpoint", [behind, ahead])
        tenant.set_now(S + 2000)
        later = ids(drain(tenant, path, "running", "next")[0])
        assert "late-ahead" in later
        assert ("late-behind" in later) is reaches_the_running_index
        assert "late-behind" in ids(drain(tenant, path, "fresh", S - 86_400)[0])  # a fresh index finds it


def test_the_event_clock_serves_an_injected_record_stamped_after_its_insertion():
    """Device clocks drift: a record may carry a ``timestamp`` later than its insertion time."""
    config = SimulatorConfig(seed=48, start=S, end=END, now=S + 1800, volume={"endpoint": 50}, iterator_clock="event")
    with SimulatorServer(config) as tenant:
        skewed = {"_id": "skewed", "timestamp": S + 5000, INSERTION_TIME: S + 1700, "type": "endpoint"}
        tenant.inject("endpoint", [skewed])
        served, _ = drain(tenant, "events/dataexport/events/endpoint", "skew", S - 86_400)
        assert ids(served)[-1] == "skewed" and len(served) == len(tenant.visible_at("endpoint", S + 1800))


def test_two_consumers_taking_turns_on_one_index_each_see_part_of_the_stream():
    """Documented: sharing an index "could result in the appearance of missing data" -- no error, a split."""
    config = SimulatorConfig(seed=47, start=S, end=END, now=NOW, volume={"audit": 300}, iterator_page_records=40)
    with SimulatorServer(config) as tenant:
        path = "events/dataexport/events/audit"
        consumers = (requests.Session(), requests.Session())
        for session in consumers:
            session.headers["Netskope-Api-Token"] = tenant.token
        seen: tuple[list[str], list[str]] = ([], [])
        operation: str | int = S
        for turn in itertools.count():
            reply = consumers[turn % 2].get(
                f"{tenant.url}/api/v2/{path}", params={"index": "shared", "operation": operation}, timeout=30
            )
            page = body(reply)
            seen[turn % 2].extend(ids(page["result"]))
            operation = "next"
            if not page["result"]:
                break
        everything = ids(tenant.ground_truth("audit", S, END))
        assert seen[0] and seen[1] and not set(seen[0]) & set(seen[1])
        assert sorted(seen[0] + seen[1]) == sorted(everything)
        assert len(seen[0]) < len(everything) and len(seen[1]) < len(everything)


# -- transport: gzip, rate-limit headers, request bodies --------------------------------------------------


def test_gzip_when_the_client_asks_and_only_then(sim):
    asked = requests.get(
        f"{sim.url}/api/v2/events/data/audit",
        headers={"Netskope-Api-Token": sim.token, "Accept-Encoding": "gzip"},
        stream=True,
        timeout=30,
    )
    compressed = asked.raw.read(decode_content=False)
    assert asked.headers["Content-Encoding"] == "gzip" and compressed[:2] == b"\x1f\x8b"
    assert int(asked.headers["Content-Length"]) == len(compressed)
    plain = get(sim, "events/data/audit", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert gzip.decompress(compressed) == plain.content
    refused = get(sim, "events/data/audit", headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in refused.headers
    with SimulatorServer(SimulatorConfig(seed=41, start=S, end=END, now=NOW, gzip=False)) as never:
        assert "Content-Encoding" not in get(never, "events/data/audit", headers={"Accept-Encoding": "gzip"}).headers


def test_every_answer_carries_rate_limit_headers(sim):
    answers = [
        get(sim, "events/data/page"),
        get(sim, "events/dataexport/events/page", index="headers", operation=S),
        requests.get(f"{sim.url}/api/v2/events/data/page", timeout=30),  # 401
        get(sim, "events/nothing"),  # 404
        get(sim, "events/data/page", groupbys="app"),  # 400
        requests.post(f"{sim.url}/api/v2/events/data/page", headers={"Netskope-Api-Token": sim.token}, timeout=30),
    ]
    assert [answer.status_code for answer in answers] == [200, 200, 401, 404, 400, 405]
    for answer in answers:
        assert set(answer.headers) >= RATE_HEADERS, answer.request.url
        assert int(answer.headers["RateLimit-Remaining"]) > 0 and int(answer.headers["RateLimit-Reset"]) >= 0


def test_request_bodies_are_read_so_a_keep_alive_connection_stays_in_sync(sim):
    connection = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=30)
    token = {"Netskope-Api-Token": sim.token}

    def ask(method: str, path: str, payload=None, **headers) -> tuple[int, dict, bytes]:
        chunked = payload is not None and not isinstance(payload, bytes)  # an iterable: Transfer-Encoding chunked
        connection.request(
            method, f"/api/v2/{path}", body=payload, headers={**token, **headers}, encode_chunked=chunked
        )
        answer = connection.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()

    status, _, first = ask(
        "POST",
        "ubadatasvc/user/uci",
        orjson.dumps({"username": "x@example.org"}),
        **{"Content-Type": "application/json"},
    )
    socket_used = connection.sock
    assert status == 404 and "Not found" in orjson.loads(first)["message"]
    status, headers, answer = ask("POST", "events/data/alert", b'{"acked": true}' * 100)
    assert status == 405 and headers["Allow"] == "GET" and "answers GET" in orjson.loads(answer)["message"]
    status, _, _ = ask("PATCH", "incidents/update", iter([b'{"incident_id": ', b'"1"}']))
    assert status == 404
    status, _, nothing = ask("HEAD", "events/data/alert")
    assert status == 405 and nothing == b""
    status, _, records = ask("GET", "events/data/alert?limit=3")
    assert status == 200 and len(orjson.loads(records)["result"]) == 3
    assert connection.sock is socket_used  # one connection all along: no request was misread
    connection.close()


# -- endpoints and parameters ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["alert", "application", "network", "page", "incident", "audit", "infrastructure"])
def test_every_datasearch_type_serves_its_records_by_event_time(sim, name):
    window = {"starttime": S - 86_400, "endtime": S + 1800, "limit": 10_000}
    records = body(get(sim, f"events/datasearch/{name}", **window))["result"]
    expected = sim.ground_truth(name, S - 86_400, S + 1801, by="event", served_by="datasearch")
    assert records == expected and records


def test_endpoint_dlp_has_its_own_datasearch_and_iterator(sim):
    endpoint = sim.ground_truth("endpoint", S, END, served_by="dataexport")
    dlp = [r for r in endpoint if record_subtype("endpoint", r) == ENDPOINT_DLP]
    assert 0 < len(dlp) < len(endpoint)
    assert all(r.get("record_type") in (None, "epdlp") and r["sub_type"] != "SUBTYPE_DEVICE_CONTROL" for r in dlp)
    searched = body(get(sim, "events/datasearch/epdlp", starttime=S - 86_400, endtime=NOW, limit=10_000))["result"]
    assert ids(searched) == ids(dlp)
    assert ids(drain(sim, "events/dataexport/events/epdlp", "dlp", S - 86_400)[0]) == ids(dlp)


def test_clientstatus_datasearch_answers_with_no_records(sim):
    assert body(get(sim, "events/datasearch/clientstatus", starttime=S, endtime=NOW)) == {"ok": 1, "result": []}


@pytest.mark.parametrize("subtype", ["dlp", "uba", "compromisedcredential", "securityassessment", "legalhold", "c2"])
def test_alert_subtype_iterators_serve_their_subtype(sim, subtype):
    records = drain(sim, f"events/dataexport/alerts/{subtype}", "subtype", S - 86_400)[0]
    expected = [r for r in sim.ground_truth("alert", S, END) if normalise_alert_type(r["alert_type"]) == subtype]
    assert ids(records) == ids(expected) and records


@pytest.mark.parametrize(
    "path",
    [
        "events/data/incident",
        "events/data/endpoint",
        "events/datasearch/transaction",
        "events/datasearch/endpoint",
        "events/dataexport/events/clientstatus",
        "events/dataexport/alerts/everything",
        "events/dataexport/iterator/mine",
        "incidents/users/getanomalies",
    ],
)
def test_paths_a_tenant_does_not_serve_here_are_404_with_a_json_message(sim, path):
    answer = get(sim, path)
    assert answer.status_code == 404 and answer.json()["message"].startswith("Not found")


@pytest.mark.parametrize(
    ("path", "params", "fragment"),
    [
        ("events/datasearch/alert", {"groupbys": "alert_type"}, "grouping"),
        ("events/datasearch/alert", {"groupby": "alert_type"}, "grouping"),
        ("events/datasearch/alert", {"query": 'alert_type eq "DLP"'}, "query language"),
        ("events/data/application", {"query": "app eq Box"}, "query language"),
        ("events/data/application", {"type": "dlp"}, "data/alert only"),
        ("events/datasearch/alert", {"type": "dlp"}, "data/alert only"),
        ("events/data/audit", {"acked": "false"}, "data/alert only"),
        ("events/data/application", {"timeperiod": "3600"}, "v1 only"),
        ("events/data/application", {"sortby": "timestamp"}, "datasearch only"),
        ("events/datasearch/incident", {"unsorted": "true"}, "data/* only"),
        ("events/dataexport/events/page", {"index": "x", "operation": "next", "limit": "5"}, "not a parameter"),
        ("events/data/page", {"bogus": "1"}, "not a parameter"),
    ],
)
def test_parameters_the_simulator_does_not_model_are_refused_with_400(sim, path, params, fragment):
    answer = get(sim, path, **params)
    assert answer.status_code == 400 and fragment in answer.json()["message"], answer.text


def test_unsorted_is_accepted_and_any_order_is_a_valid_answer(sim):
    window = {"insertionstarttime": S, "insertionendtime": END - 1, "limit": 10_000}
    assert body(get(sim, "events/data/network", unsorted="true", **window)) == body(
        get(sim, "events/data/network", **window)
    )


@pytest.mark.parametrize(
    ("params", "descending"),
    [
        ({"sortby": "timestamp", "sortorder": "desc"}, True),
        ({"sortby": "timestamp asc"}, False),
        ({"sortby": "severity"}, False),
    ],
)
def test_datasearch_sorts_by_a_field(sim, params, descending):
    window = {"starttime": S - 86_400, "endtime": NOW}
    records = body(get(sim, "events/datasearch/alert", **window, **params, limit=10_000))["result"]
    name = params["sortby"].split()[0]
    tenant_order = sim.ground_truth("alert", S - 86_400, NOW + 1, by="event", served_by="datasearch")
    assert records == sorted(tenant_order, key=lambda r: r.get(name), reverse=descending)
    paged = [
        body(get(sim, "events/datasearch/alert", **window, **params, limit=70, offset=offset))["result"]
        for offset in range(0, len(records), 70)
    ]
    assert list(itertools.chain.from_iterable(paged)) == records


def test_data_alert_filters_on_acked(sim):
    acked = body(get(sim, "events/data/alert", acked="true", limit=10_000))["result"]
    expected = [r for r in sim.ground_truth("alert", S, END) if r["acked"] == "true"]
    assert acked == expected and 0 < len(acked) < len(sim.ground_truth("alert", S, END))


def test_command_line_options_for_the_new_behaviours():
    args = build_parser().parse_args(
        ["--iterator-clock", "event", "--insertion-time-everywhere", "--no-gzip", "--iterator-page-records", "25"]
    )
    config = config_from_args(args)
    assert (config.iterator_clock, config.insertion_time_everywhere, config.gzip, config.iterator_page_records) == (
        "event",
        True,
        False,
        25,
    )
    defaults = config_from_args(build_parser().parse_args([]))
    assert (defaults.iterator_clock, defaults.insertion_time_everywhere, defaults.gzip) == ("insertion", False, True)
