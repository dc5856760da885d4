"""No token leaks: whole DAG runs (successes and failures) with a distinctive token, then every place
a token could end up is scanned for it -- log lines, stdout/stderr, task log files, the metadata DB
(XComs, rendered template fields), staged files (decompressed), S3 objects and exception texts.

Also the other at-rest and in-transit promises: TLS verification on by default and impossible to
switch off, staged files and folders private, S3 staging encrypted.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import stat
import traceback
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote, unquote_plus

import pytest
from conftest import REPO, fresh_airflow_db
from pipeline_tasks import task_context
from scripted_tenant import Reply, ScriptedTenant, Seen

from netskope_provider.api.client import NetskopeClient
from netskope_provider.exceptions import NetskopeConfigError, NetskopeError, NetskopeRedirectError
from netskope_provider.hooks.netskope import NetskopeHook
from netskope_provider.log_types import LOG_TYPES
from netskope_provider.operators.fetch import NetskopeFetchOperator
from netskope_provider.simulator import SimulatorConfig, SimulatorServer

#: The token under watch: long and odd enough that any hit is a leak, not a coincidence.
CANARY = "nsk-canary-Q7vX2pL9wR4tZ8mK3cB6"
HOUR = 3600
NOW_HOUR = int(datetime.now(UTC).timestamp()) // HOUR * HOUR
SPAN = (NOW_HOUR - 3 * HOUR, NOW_HOUR - HOUR)
WINDOW = (NOW_HOUR - 2 * HOUR, NOW_HOUR - HOUR)
STAGING_BUCKET = "netskope-staging-leak-scan"


#: Printable ASCII with every character the encodings below treat specially.
ODD_TOKEN = 'nsk+canary/Q7v=X2p"L9\\wR4&t%3Az~8!'
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{12,}={0,2}")


def leaks(text: str, token: str = ODD_TOKEN) -> list[str]:
    """The encodings in which ``token`` can be read back from ``text`` (an empty list: none).

    Independent of the client's redaction: the text is decoded every way a server might have
    encoded the token (URL, JSON escapes, base64 at any alignment) and searched for it.
    """
    found = []
    if token in text:
        found.append("raw")
    if token in unquote(text) or token in unquote_plus(text):
        found.append("url-encoded")
    try:
        unescaped = json.loads(json.dumps(text).replace("\\\\", "\\"))  # undo one level of JSON escaping
    except ValueError:
        unescaped = ""
    if token in unescaped or token in text.replace("\\/", "/").replace('\\"', '"').replace("\\\\", "\\"):
        found.append("json-escaped")
    data = token.encode()
    for run in _BASE64_RUN.findall(text):
        for skip in range(4):
            chunk = run[skip:].rstrip("=")
            chunk = chunk[: len(chunk) - (len(chunk) % 4 == 1)]  # a lone last character encodes nothing
            chunk += "=" * (-len(chunk) % 4)
            for decode in (base64.b64decode, base64.urlsafe_b64decode):
                try:
                    if data in decode(chunk):
                        found.append("base64")
                except ValueError:
                    pass
    return found


def echo_forms(token: str) -> str:
    """The token as a careless server might echo it: raw, URL-encoded, JSON-escaped and base64 at 3 alignments."""
    forms = [
        token,
        quote(token, safe=""),
        quote_plus(token),
        re.sub("%[0-9A-F]{2}", lambda hexed: hexed.group().lower(), quote(token, safe="")),
        json.dumps(token)[1:-1],
    ]
    for prefix in ("", "a", "ab"):
        forms += [
            base64.b64encode(f"{prefix}{token}|".encode()).decode(),
            base64.urlsafe_b64encode(f"{prefix}{token}|".encode()).decode(),
        ]
    return " ".join(f"<{form}>" for form in forms)


def hits(blob: bytes | str) -> int:
    """Occurrences of the canary in ``blob``, plain or encoded (see ``leaks``); gzip data is scanned decompressed."""
    data = blob if isinstance(blob, bytes) else blob.encode("utf-8", "replace")
    if data[:2] == b"\x1f\x8b":  # also a file a failed try left unfinished: scan what decompresses
        data = zlib.decompressobj(wbits=31).decompress(data)
    encoded = [form for form in leaks(data.decode("utf-8", "replace"), CANARY) if form != "raw"]
    return data.count(CANARY.encode()) + len(encoded)


def tree_hits(root: Path) -> dict[str, int]:
    """Files below ``root`` holding the canary (task logs, the sqlite metadata DB, staged files)."""
    return {str(path): n for path in root.rglob("*") if path.is_file() and (n := hits(path.read_bytes()))}


class LogLines(logging.Handler):
    """Every log record of the runs, at DEBUG, as the text any handler would write (exceptions included)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def connection(host: str, **extra: object) -> str:
    conn: dict[str, object] = {
        "conn_type": "netskope",
        "host": host,
        "extra": {
            "allow_non_goskope_host": True,
            "scheme": "http",
            "max_retries": 1,
            "backoff_base_seconds": 0.01,
            **extra,
        },
    }
    if "secret_arn" not in extra:
        conn["password"] = CANARY
    return json.dumps(conn)


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    scopes = {CANARY: set(LOG_TYPES) - {"page"}}  # the service account lacks "Page Events": 403
    config = SimulatorConfig(
        seed=71, token=CANARY, start=SPAN[0], end=SPAN[1], scopes=scopes, volume=dict.fromkeys(LOG_TYPES, 40)
    )
    with SimulatorServer(config) as sim:
        yield sim


@pytest.fixture(scope="module")
def echoing_tenant() -> Iterator[ScriptedTenant]:
    """A tenant (or a proxy in the way) that echoes the request's token in its error page."""

    def echo(seen: Seen) -> Reply:
        token = seen.headers.get("Netskope-Api-Token", "")
        return Reply(status=400, body={"ok": 0, "message": f"invalid request for token {echo_forms(token)}"})

    with ScriptedTenant(echo) as tenant:
        yield tenant


@pytest.fixture(scope="module")
def runs(request, simulator, echoing_tenant, moto_server, tmp_path_factory) -> Iterator[dict]:
    """Whole DAG runs with the canary token: successes (password, Secrets Manager, S3 staging) and failures."""
    from netskope_provider.compat import DagBag, dag_test

    staging_dir = tmp_path_factory.mktemp("staging")
    moto_server.reset()
    s3 = moto_server.client("s3")
    s3.create_bucket(Bucket=STAGING_BUCKET)
    secret_arn = moto_server.client("secretsmanager").create_secret(
        Name="netskope/leak-scan", SecretString=json.dumps({"api_token": CANARY})
    )["ARN"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_NETSKOPE_DEFAULT", connection(simulator.host))
        patch.setenv("NETSKOPE_STAGING_BASE", f"file://{staging_dir}")
        patch.setenv("NETSKOPE_STAGING_RETENTION_HOURS", "1")  # keep the staged files to scan them
        patch.setenv("NETSKOPE_RETRIES", "0")  # a failed run fails now, not after retry delays
        fresh_airflow_db()
        bag = DagBag(dag_folder=str(REPO / "dags"))
        assert bag.import_errors == {}
        logical_date = datetime.fromtimestamp(WINDOW[1], tz=UTC)
        outcome: dict[str, str] = {}
        capture = request.config.pluginmanager.getplugin("capturemanager")
        capture.read_global_capture()  # start the stdout/stderr record with these runs
        log_lines = LogLines()
        root = logging.getLogger()
        root.addHandler(log_lines)
        previous_level, root.level = root.level, logging.DEBUG

        def run(name: str, log_type: str) -> None:
            outcome[name] = dag_test(bag.dags[f"netskope_{log_type}"], logical_date).state

        run("success", "audit")
        run("403", "page")
        simulator.set_token("nsk-someone-else-rotated-it")  # the canary is now revoked: 401, re-read, 401
        run("401", "network")
        simulator.set_token(CANARY)
        with pytest.MonkeyPatch.context() as inner:
            inner.setenv("AIRFLOW_CONN_NETSKOPE_DEFAULT", connection(simulator.host, secret_arn=secret_arn))
            run("secrets_manager", "infrastructure")
            inner.setenv("NETSKOPE_STAGING_BASE", f"s3://{STAGING_BUCKET}/staging")
            inner.setenv("NETSKOPE_STAGING_CONN_ID", "aws_default")
            run("s3_staging", "application")
        with pytest.MonkeyPatch.context() as inner:
            inner.setenv("AIRFLOW_CONN_NETSKOPE_DEFAULT", connection(echoing_tenant.host))
            run("echoed", "alert")
        with (
            ScriptedTenant() as elsewhere,
            ScriptedTenant(
                lambda seen: Reply(status=302, headers={"Location": f"http://localhost:{elsewhere.port}/api/v2/"})
            ) as redirecting,
            pytest.MonkeyPatch.context() as inner,
        ):
            inner.setenv("AIRFLOW_CONN_NETSKOPE_DEFAULT", connection(redirecting.host))
            run("redirected", "endpoint")
            outcome["redirect followed"] = str(bool(elsewhere.seen))
        root.removeHandler(log_lines)
        root.setLevel(previous_level)
        out, err = capture.read_global_capture()
        yield {
            "outcome": outcome,
            "staging": staging_dir,
            "s3": s3,
            "logs": log_lines.lines,
            "output": out + err,
            "capturing": capture.is_globally_capturing(),
        }


def test_the_runs_succeed_and_fail_as_intended(runs) -> None:
    assert runs["outcome"] == {
        "success": "success",
        "403": "failed",
        "401": "failed",
        "secrets_manager": "success",
        "s3_staging": "success",
        "echoed": "failed",
        "redirected": "failed",
        "redirect followed": "False",
    }


def test_no_log_line_and_no_output_holds_the_token(runs) -> None:
    logs = "\n".join(runs["logs"])
    assert len(runs["logs"]) > 100 and "Pulling audit records" in logs, "the scan saw the runs' logs"
    assert hits(logs) == 0
    if runs["capturing"]:  # task logs (with the failures' tracebacks) go to stdout under dag.test()
        for failure in ("Page Events", "NetskopeAuthError", "invalid request for token", "never followed"):
            assert failure in runs["output"], f"the scan saw the failure {failure!r}"
    assert hits(runs["output"]) == 0


def test_no_file_under_airflow_home_holds_the_token(runs) -> None:
    """Task logs, the metadata DB (XComs, rendered fields, run conf), anything Airflow wrote."""
    home = Path(os.environ["AIRFLOW_HOME"])
    assert any(home.rglob("*.db")) or os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
    assert tree_hits(home) == {}


def test_no_xcom_and_no_rendered_template_field_holds_the_token(runs) -> None:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session
    from airflow_helpers import stored_xcom_values

    xcoms = [json.dumps(value, default=str) for value in stored_xcom_values()]
    with create_session() as session:
        rendered = [json.dumps(row.rendered_fields, default=str) for row in session.query(RenderedTaskInstanceFields)]
    assert len(xcoms) >= 9, "fetch, to_ocsf and deliver of the three successful runs pushed manifests"
    assert rendered, "the runs rendered their template fields"
    assert [x for x in xcoms + rendered if hits(x)] == []


def test_no_staged_file_holds_the_token_and_all_are_private(runs) -> None:
    staged = list(runs["staging"].rglob("*"))
    assert any(path.name == "raw.ndjson.gz" for path in staged), "successful runs kept their files (retention 1 h)"
    assert tree_hits(runs["staging"]) == {}
    loose = {
        str(p): oct(stat.S_IMODE(p.stat().st_mode))
        for p in [runs["staging"], *staged]
        if stat.S_IMODE(p.stat().st_mode) & 0o077
    }
    assert loose == {}, "staged files and folders are readable by their owner only"


def test_s3_staging_is_encrypted_and_holds_no_token(runs) -> None:
    s3 = runs["s3"]
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=STAGING_BUCKET).get("Contents", [])]
    assert any(key.endswith("raw.ndjson.gz") for key in keys) and any(key.endswith("events.ndjson.gz") for key in keys)
    unencrypted = [
        key for key in keys if not s3.head_object(Bucket=STAGING_BUCKET, Key=key).get("ServerSideEncryption")
    ]
    assert unencrypted == []
    assert [key for key in keys if hits(s3.get_object(Bucket=STAGING_BUCKET, Key=key)["Body"].read())] == []


def exception_text(error: BaseException) -> str:
    """Everything a traceback shows: the chain of causes, their messages and reprs."""
    parts = ["".join(traceback.format_exception(error))]
    while error is not None:
        parts += [str(error), repr(error), repr(error.args)]
        error = error.__cause__ or error.__context__
    return "\n".join(parts)


@pytest.mark.parametrize("failure", ["401", "403", "echoed"])
def test_exception_texts_of_failed_fetches_hold_no_token(
    simulator, echoing_tenant, monkeypatch, tmp_path, failure: str
) -> None:
    host = echoing_tenant.host if failure == "echoed" else simulator.host
    monkeypatch.setenv("AIRFLOW_CONN_NETSKOPE_DEFAULT", connection(host))
    log_type = "page" if failure == "403" else "network"
    if failure == "401":
        simulator.set_token("nsk-someone-else-rotated-it")  # restored below
    fetch = NetskopeFetchOperator(task_id="fetch", log_type=log_type, staging_base=f"file://{tmp_path}")
    try:
        with pytest.raises(Exception) as caught:
            fetch.execute(task_context(log_type, *WINDOW, run_id="leak_scan", try_number=1))
    finally:
        simulator.set_token(CANARY)
    assert isinstance(caught.value, NetskopeError) or isinstance(caught.value.__cause__, NetskopeError)
    text = exception_text(caught.value)
    assert {"401": "401", "403": "Page Events", "echoed": "invalid request"}[failure] in text
    assert hits(text) == 0


def test_the_scan_would_see_a_leak(tmp_path) -> None:
    """The scanner is not blind: a token in plain text, inside gzip, inside an unfinished gzip."""
    import gzip

    payload = f'{{"note": "token {CANARY}"}}'.encode() * 50
    (tmp_path / "plain.log").write_bytes(payload)
    (tmp_path / "staged.ndjson.gz").write_bytes(gzip.compress(payload))
    (tmp_path / "unfinished.ndjson.gz").write_bytes(gzip.compress(payload)[:-20])
    assert set(tree_hits(tmp_path)) == {
        str(tmp_path / name) for name in ("plain.log", "staged.ndjson.gz", "unfinished.ndjson.gz")
    }


def test_tls_verification_is_on_by_default_and_cannot_be_switched_off(monkeypatch, caplog, capsys) -> None:
    assert NetskopeClient("tenant.goskope.com", lambda refresh: CANARY).verify is True
    with pytest.raises(NetskopeConfigError, match="cannot be disabled") as caught:
        NetskopeClient("tenant.goskope.com", lambda refresh: CANARY, verify=False)
    assert hits(str(caught.value)) == 0
    # An extra asking to skip verification is not an option of the hook: ignored (with a warning), verification stays on.
    monkeypatch.setenv(
        "AIRFLOW_CONN_NETSKOPE_LEAKS",
        json.dumps(
            {"conn_type": "netskope", "host": "tenant.goskope.com", "password": CANARY, "extra": {"verify": False}}
        ),
    )
    with caplog.at_level(logging.WARNING):
        assert NetskopeHook(netskope_conn_id="netskope_leaks").get_client().verify is True
    warned = capsys.readouterr().out + caplog.text  # Airflow 3 logs through structlog, Airflow 2 through logging
    assert "Ignoring unknown extras of connection netskope_leaks: verify" in warned


# --- token confinement: redirects, encoded echoes, DEBUG logs, tokens that are not header-safe ------


def test_the_leak_detector_reads_every_encoding() -> None:
    assert set(leaks(echo_forms(ODD_TOKEN))) == {"raw", "url-encoded", "json-escaped", "base64"}
    for form in echo_forms(ODD_TOKEN).split():
        assert leaks(form), form


def echo_reply(status: int, token: str) -> Reply:
    """An error reply quoting the token it received in every encoding (a proxy's debug page, say)."""
    echoed = echo_forms(token)
    if status == 200:  # an HTML page in place of JSON
        return Reply(
            body=f"<html><body>Session for {echoed} expired</body></html>", headers={"Content-Type": "text/html"}
        )
    if status == 2000:  # HTTP 200 with ok: 0 and the token in the message
        return Reply(body={"ok": 0, "message": f"query refused for {echoed}"})
    if status == 302:
        return Reply(status=302, headers={"Location": f"https://login.example.com/sso?token={quote(token)}&b={echoed}"})
    return Reply(status=status, body={"ok": 0, "message": f"bad token {echoed}"})


@pytest.mark.parametrize("status", [400, 503, 200, 2000, 302, 404])
def test_a_token_echoed_in_any_encoding_reaches_no_exception_and_no_debug_log(status: int, caplog) -> None:
    with ScriptedTenant(lambda seen: echo_reply(status, seen.headers.get("Netskope-Api-Token", ""))) as tenant:
        client = NetskopeClient(
            tenant.host,
            lambda refresh: ODD_TOKEN,
            scheme="http",
            max_retries=1,
            backoff_base_seconds=0.01,
            rate_limit_per_second=100,
        )
        with caplog.at_level(logging.DEBUG), pytest.raises(NetskopeError) as caught:
            list(client.iter_window_pages("audit", *WINDOW))
    assert tenant.seen, "the request reached the echoing server"
    text = exception_text(caught.value)
    assert leaks(text) == [], text
    debug_logs = "\n".join(f"{record.name} {record.getMessage()}" for record in caplog.records)
    assert any(record.levelno == logging.DEBUG for record in caplog.records), "DEBUG records were captured"
    assert leaks(debug_logs) == []


@pytest.fixture(scope="module")
def https_elsewhere() -> Iterator[SimulatorServer]:
    """Another host serving HTTPS: where a redirect would carry the token."""
    with SimulatorServer(SimulatorConfig(seed=5, tls=True, token=CANARY, volume={"audit": 5})) as sim:
        yield sim


@pytest.mark.parametrize("target", ["http-elsewhere", "https-elsewhere", "same-host"])
def test_a_redirect_is_refused_and_the_token_goes_nowhere_else(target: str, https_elsewhere, caplog) -> None:
    with ScriptedTenant() as elsewhere:
        location, named = {
            "http-elsewhere": (f"http://localhost:{elsewhere.port}/api/v2/events/data/audit", "http://localhost"),
            "https-elsewhere": (f"{https_elsewhere.url}/api/v2/events/data/audit", "https://127.0.0.1"),
            "same-host": ("/api/v2/events/data/audit?moved=1", "another path on the same host"),
        }[target]
        with ScriptedTenant(lambda seen: Reply(status=302, headers={"Location": location})) as tenant:
            client = NetskopeClient(tenant.host, lambda refresh: CANARY, scheme="http", rate_limit_per_second=100)
            before = len(https_elsewhere.stats.queries)
            with caplog.at_level(logging.DEBUG), pytest.raises(NetskopeRedirectError, match="never followed") as caught:
                list(client.iter_window_pages("audit", *WINDOW))
        assert len(tenant.seen) == 1, "refused at once, not retried"
        assert elsewhere.seen == [] and len(https_elsewhere.stats.queries) == before, "nothing was sent elsewhere"
    assert isinstance(caught.value, NetskopeConfigError)
    assert f"a redirect to {named}." in str(caught.value), "the error names where the redirect pointed"
    assert hits(exception_text(caught.value)) == 0 and hits(caplog.text) == 0


@pytest.mark.parametrize("bad", ["\r\n", "\n", "\x00", "\x7f", " ", "\u00e9"])
def test_a_token_that_is_not_header_safe_is_refused_before_any_request_without_being_printed(
    bad: str, monkeypatch, caplog
) -> None:
    token = f"nsk-first-half-7Qv{bad}second-half-X2p"
    with ScriptedTenant() as tenant:
        monkeypatch.setenv(
            "AIRFLOW_CONN_NETSKOPE_DEFAULT",
            json.dumps(
                {
                    "conn_type": "netskope",
                    "host": tenant.host,
                    "password": token,
                    "extra": {"allow_non_goskope_host": True, "scheme": "http"},
                }
            ),
        )
        with (
            caplog.at_level(logging.DEBUG),
            pytest.raises(NetskopeConfigError, match="Paste the token again") as caught,
        ):
            list(NetskopeHook().iter_window_pages("audit", *WINDOW))
        assert tenant.seen == [], "refused before any request"
    text = exception_text(caught.value) + caplog.text
    assert "first-half" not in text and "second-half" not in text
    assert "connection netskope_default" in str(caught.value)
    assert f"at position {token.index(bad) + 1} of {len(token)}:" in str(caught.value), (
        "where to look, not what is there"
    )
