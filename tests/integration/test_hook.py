"""``NetskopeHook``: connection rules, token sources (password, Secrets Manager via moto), rotation,
masking and ``test_connection``, against the simulated tenant."""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import ssl
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from scripted_tenant import ScriptedTenant, decoded, ok

from netskope_provider.api.client import NetskopeClient
from netskope_provider.api.host import check_tenant_host
from netskope_provider.exceptions import NetskopeAuthError, NetskopeConfigError, NetskopeRetriesExhaustedError
from netskope_provider.hooks.netskope import NetskopeHook
from netskope_provider.simulator import SimulatorConfig, SimulatorServer

S = 1_790_000_000
END = S + 3600
TOKEN = "sim-token-7c1e55d0a9"
FAST = {"backoff_base_seconds": 0.01, "backoff_cap_seconds": 0.05}


@pytest.fixture(scope="module")
def sim():
    config = SimulatorConfig(seed=13, token=TOKEN, start=S, end=END, now=END + 600, volume={"audit": 900})
    with SimulatorServer(config) as server:
        yield server


def set_connection(
    monkeypatch, host: str, *, password: str | None = None, conn_id: str = "netskope_default", **extra
) -> None:
    conn = {"conn_type": "netskope", "host": host, "extra": extra}
    if password is not None:
        conn["password"] = password
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def set_sim_connection(monkeypatch, sim, **kwargs) -> None:
    kwargs.setdefault("password", sim.token)
    set_connection(monkeypatch, sim.host, allow_non_goskope_host=True, scheme="http", **kwargs)


def ids(pages) -> list[str]:
    return [record["_id"] for record in decoded(pages)]


def truth(sim, log_type: str, start: int, end: int) -> set[str]:
    return {record["_id"] for record in sim.ground_truth(log_type, start, end)}


def test_hook_class_attributes():
    assert (NetskopeHook.conn_type, NetskopeHook.conn_name_attr, NetskopeHook.default_conn_name) == (
        "netskope",
        "netskope_conn_id",
        "netskope_default",
    )
    assert NetskopeHook.hook_name == "Netskope"


def test_pull_with_token_from_password_and_cached_client(monkeypatch, sim):
    set_sim_connection(monkeypatch, sim)
    hook = NetskopeHook()
    assert hook.get_client() is hook.get_client()
    assert isinstance(hook.get_conn(), NetskopeClient)
    pulled = ids(hook.iter_window_pages("audit", S, END))
    assert len(pulled) == len(set(pulled))
    assert set(pulled) == truth(sim, "audit", S, END)


def test_window_bounds_may_be_aware_datetimes(monkeypatch, sim):
    set_sim_connection(monkeypatch, sim)
    start, end = (datetime.fromtimestamp(t, tz=UTC) for t in (S, S + 600))
    assert set(ids(NetskopeHook().iter_window_pages("audit", start, end))) == truth(sim, "audit", S, S + 600)
    with pytest.raises(ValueError, match="no time zone"):
        NetskopeHook().iter_window_pages("audit", datetime(2026, 1, 1), end)


def test_token_is_masked_in_airflow_logs(monkeypatch, sim):
    from netskope_provider.compat import redact

    set_sim_connection(monkeypatch, sim)
    list(NetskopeHook().iter_window_pages("audit", S, S + 60))
    assert TOKEN not in redact(f"the token is {TOKEN}")


def test_test_connection_reports_success_and_failures_without_raising(monkeypatch, sim):
    set_sim_connection(monkeypatch, sim)
    assert NetskopeHook().test_connection() == (True, f"Connected to {sim.host}: the API token was accepted.")

    set_sim_connection(monkeypatch, sim, password="wrong-token-123")
    passed, message = NetskopeHook().test_connection()
    assert not passed and "expired" in message and "wrong-token-123" not in message

    set_connection(monkeypatch, "tenant.goskope.com/api/v2")
    passed, message = NetskopeHook().test_connection()
    assert not passed and "contains a path" in message

    set_sim_connection(monkeypatch, sim, password=None)
    advice = "has no API token: set its password to the service account's token, or its extra secret_arn"
    passed, message = NetskopeHook().test_connection()
    assert not passed and advice in message
    with pytest.raises(NetskopeConfigError, match=advice):
        list(NetskopeHook().iter_window_pages("audit", S, END))


@pytest.mark.parametrize(
    ("host", "extra", "rule"),
    [
        ("", {}, "host is empty"),
        ("tenant.goskope.com/api/v2", {}, "contains a path"),
        ("admin@tenant.goskope.com", {}, "user info"),
        ("tenant.goskope.com?token=x", {}, "query string"),
        ("tenant.goskope.com#frag", {}, "query string or fragment"),
        ("http://tenant.goskope.com", {}, "starts with http://"),
        ("tenant.example.com", {}, "outside goskope.com"),
        ("goskope.com.evil.example", {}, "outside goskope.com"),
        ("evilgoskope.com", {}, "outside goskope.com"),
        ("127.0.0.1:8080", {"scheme": "http"}, "outside goskope.com"),
        ("tenant.example.com", {"allow_non_goskope_host": True, "scheme": "http"}, "Plain HTTP"),
        ("tenant.goskope.com", {"scheme": "http"}, "Plain HTTP"),
        ("tenant.goskope.com", {"scheme": "ftp"}, "Unsupported scheme"),
        ("tenant.goskope.com:99999", {}, "invalid port"),
        ("ten ant.goskope.com", {}, "not a valid hostname"),
        ("tenant.goskope.com", {"allow_non_goskope_host": "maybe"}, "allow_non_goskope_host='maybe' is not a boolean"),
        ("tenant.goskope.com", {"rate_limit_per_second": "fast"}, "extra rate_limit_per_second must be a float"),
        ("tenant.goskope.com", {"proxies": ["http://proxy:3128"]}, "proxies must be"),
    ],
)
def test_connection_rules_name_the_rule_that_failed(monkeypatch, host, extra, rule):
    set_connection(monkeypatch, host, password="some-token-1", **extra)
    with pytest.raises(NetskopeConfigError, match=rule):
        NetskopeHook().get_client()


@pytest.mark.parametrize(
    ("host", "extra", "expected"),
    [
        ("tenant.goskope.com", {}, "https://tenant.goskope.com/api/v2/"),
        ("Tenant.EU.goskope.com", {}, "https://tenant.eu.goskope.com/api/v2/"),
        ("https://tenant.goskope.com/", {}, "https://tenant.goskope.com/api/v2/"),
        (
            "netskope.internal.example:8443",
            {"allow_non_goskope_host": "true"},
            "https://netskope.internal.example:8443/api/v2/",
        ),
        ("localhost:9000", {"allow_non_goskope_host": True, "scheme": "http"}, "http://localhost:9000/api/v2/"),
    ],
)
def test_accepted_hosts(monkeypatch, host, extra, expected):
    set_connection(monkeypatch, host, password="some-token-1", **extra)
    assert NetskopeHook().get_client().base_url == expected


def test_ipv6_loopback_is_loopback():
    assert check_tenant_host("[::1]:8080", scheme="http", allow_non_goskope_host=True) == "[::1]:8080"


def test_extras_and_hook_arguments_configure_the_client(monkeypatch, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not used until a request is sent")
    set_connection(
        monkeypatch,
        "tenant.goskope.com",
        password="some-token-1",
        rate_limit_per_second="2.5",
        max_retries=3,
        ca_bundle=str(bundle),
        proxies="http://proxy.internal:3128",
        connect_timeout=3,
        read_timeout=30,
        lookback_seconds=7200,
        iterator_clock="event",
    )
    client = NetskopeHook(max_retries=5).get_client()
    assert client.rate_limit_per_second == 2.5
    assert client.max_retries == 5  # hook arguments win over extras
    assert (client.lookback_seconds, client.iterator_clock) == (7200, "event")
    assert client.timeout == (3.0, 30.0)
    assert client.verify == str(bundle)
    assert client._session.proxies == {"https": "http://proxy.internal:3128", "http": "http://proxy.internal:3128"}


def test_tls_verification_cannot_be_switched_off(monkeypatch):
    set_connection(monkeypatch, "tenant.goskope.com", password="some-token-1")
    with pytest.raises(NetskopeConfigError, match="cannot be disabled"):
        NetskopeHook(verify=False).get_client()


# ---------------------------------------------------------------- Secrets Manager (moto server)


@pytest.fixture
def secrets(moto_server):
    moto_server.reset()
    return moto_server.client("secretsmanager")


@pytest.mark.parametrize("shape", ["plain", "json"])
def test_token_from_secrets_manager(monkeypatch, sim, secrets, shape):
    value = sim.token if shape == "plain" else json.dumps({"api_token": sim.token, "note": "rotated yearly"})
    arn = secrets.create_secret(Name=f"netskope/{shape}", SecretString=value)["ARN"]
    set_sim_connection(monkeypatch, sim, password=None, secret_arn=arn, aws_conn_id="aws_default")
    assert set(ids(NetskopeHook().iter_window_pages("audit", S, S + 900))) == truth(sim, "audit", S, S + 900)


def test_secret_json_without_api_token_is_a_clear_error(monkeypatch, sim, secrets):
    arn = secrets.create_secret(Name="netskope/wrong", SecretString=json.dumps({"token": sim.token}))["ARN"]
    set_sim_connection(monkeypatch, sim, password=None, secret_arn=arn)
    with pytest.raises(NetskopeConfigError, match="without a string key 'api_token'") as caught:
        list(NetskopeHook().iter_window_pages("audit", S, END))
    assert sim.token not in str(caught.value)


def test_missing_secret_names_the_arn_and_the_permission(monkeypatch, sim, secrets):
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:netskope/absent-AbCdEf"
    set_sim_connection(monkeypatch, sim, password=None, secret_arn=arn)
    passed, message = NetskopeHook().test_connection()
    assert not passed
    assert arn in message and "secretsmanager:GetSecretValue" in message


def test_rotation_mid_run_rereads_the_secret_and_continues(monkeypatch, secrets, caplog, capsys):
    old, new = "rotating-token-old-91f2", "rotating-token-new-5d3c"
    config = SimulatorConfig(seed=17, token=old, start=S, end=END, now=END + 600, volume={"network": 600})
    with SimulatorServer(config) as sim:
        arn = secrets.create_secret(Name="netskope/rotating", SecretString=json.dumps({"api_token": old}))["ARN"]
        set_sim_connection(monkeypatch, sim, password=None, secret_arn=arn)
        caplog.set_level(logging.DEBUG)
        hook = NetskopeHook(page_size=100, rate_limit_per_second=50, **FAST)
        pages = hook.iter_window_pages("network", S, END)
        pulled = ids([next(pages)])
        sim.set_token(new)  # the old token fails at once...
        with caplog.at_level(logging.INFO, logger="botocore"):  # the test's own write logs the value
            secrets.put_secret_value(
                SecretId=arn, SecretString=json.dumps({"api_token": new})
            )  # ...the secret has the new one
        pulled += ids(pages)
        assert len(pulled) == len(set(pulled))
        assert set(pulled) == truth(sim, "network", S, END)
        assert hook.get_client().stats.total("token_refreshes") == 1

        sim.set_token("rotating-token-third-0000")  # rotated again, but the secret was not updated
        with pytest.raises(NetskopeAuthError, match="service account") as caught:
            list(hook.iter_window_pages("network", S, END))
    captured = capsys.readouterr()
    output = "\n".join(
        [caplog.text, captured.out, captured.err, str(caught.value), repr(caught.value), repr(hook.get_client())]
    )
    assert "401" in output
    for token in (old, new):
        assert token not in output


# ---------------------------------------------------------------- TLS with a custom CA bundle


@pytest.fixture(scope="module")
def tls_tenant(tmp_path_factory):
    """An HTTPS tenant on localhost whose certificate only a custom CA bundle vouches for."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "tenant.pem", folder / "tenant.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    with ScriptedTenant(lambda seen: ok([{"_id": "over-tls"}]), tls=context) as tenant:
        yield tenant, cert_file


def test_https_with_a_custom_ca_bundle(monkeypatch, tls_tenant):
    tenant, ca_bundle = tls_tenant
    host = f"localhost:{tenant.port}"
    set_connection(monkeypatch, host, password="tls-token-1234", allow_non_goskope_host=True, ca_bundle=str(ca_bundle))
    assert ids(NetskopeHook().iter_window_pages("audit", S, END)) == ["over-tls"]


# A host whose name holds "match" (a company such as Match Group): its untrusted certificate was once
# reported as one for another host name, because urllib3's error names the host ("host='matchgroup...'").
@pytest.mark.parametrize("name", ["localhost", "matchgroup.localhost"])
def test_untrusted_certificate_fails_once_and_points_to_ca_bundle(monkeypatch, tls_tenant, name):
    tenant, _ = tls_tenant
    real_getaddrinfo = socket.getaddrinfo  # the name resolves to the tenant as DNS would resolve it
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: real_getaddrinfo("localhost", *a, **k))
    set_connection(monkeypatch, f"{name}:{tenant.port}", password="tls-token-1234", allow_non_goskope_host=True)
    requests_before, connections_before = len(tenant.seen), tenant.connections
    with pytest.raises(NetskopeConfigError, match=r"certificate verify failed.*not trusted.*ca_bundle"):
        list(NetskopeHook().iter_window_pages("audit", S, END))
    assert len(tenant.seen) == requests_before, "no request got through"
    # A failed handshake sends no request, so only the connections show whether it was tried again.
    assert tenant.connections - connections_before == 1, "one TLS handshake: not retried"


def test_a_certificate_for_another_name_says_so(monkeypatch, tls_tenant):
    """Trusted (its CA bundle is set) but issued to localhost and 127.0.0.1, reached under another name."""
    tenant, ca_bundle = tls_tenant
    real_getaddrinfo = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: real_getaddrinfo("localhost", *a, **k))
    set_connection(
        monkeypatch,
        f"tenant.internal.example:{tenant.port}",
        password="tls-token-1234",
        allow_non_goskope_host=True,
        ca_bundle=str(ca_bundle),
    )
    connections_before = tenant.connections
    with pytest.raises(NetskopeConfigError, match=r"the certificate is for another host name") as caught:
        list(NetskopeHook().iter_window_pages("audit", S, END))
    assert "Set the connection host to the name on the tenant's certificate" in str(caught.value)
    assert "ca_bundle" not in str(caught.value), "the CA is trusted: no advice to change it"
    assert tenant.connections - connections_before == 1, "one TLS handshake: not retried"


def test_test_connection_names_the_missing_permission(monkeypatch):
    config = SimulatorConfig(seed=19, start=S, end=END, token="page-only-token", scopes={"page-only-token": {"page"}})
    with SimulatorServer(config) as sim:
        set_sim_connection(monkeypatch, sim)
        passed, message = NetskopeHook().test_connection()
    assert not passed
    assert "HTTP 403" in message and "Steering: Application Events (View)" in message


def test_simulator_over_https_with_its_ca_bundle(monkeypatch):
    config = SimulatorConfig(seed=23, token=TOKEN, start=S, end=END, now=END + 600, volume={"alert": 300}, tls=True)
    with SimulatorServer(config) as sim:
        set_connection(monkeypatch, sim.host, password=sim.token, allow_non_goskope_host=True, ca_bundle=sim.ca_file)
        hook = NetskopeHook()
        assert hook.get_client().base_url.startswith("https://")
        assert set(ids(hook.iter_window_pages("alert", S, END))) == truth(sim, "alert", S, END)


# ---------------------------------------------------------------- config errors are config errors


@pytest.mark.parametrize(
    "extra, named",
    [
        ({"ca_bundle": "/nowhere/ca.pem"}, r"ca_bundle file /nowhere/ca.pem does not exist"),
        ({"ca_bundle": "false"}, r"ca_bundle='false' is not a path: TLS verification cannot be disabled"),
        ({"ca_bundle": False}, r"ca_bundle=False is not a path"),
        ({"proxies": "not a url"}, r"extra proxies\['https'\] = '<not a URL>' is not a proxy URL"),
        ({"proxies": {"https": "ftp://proxy.example.com:21"}}, r"proxies\['https'\] = 'ftp://proxy.example.com:21'"),
        ({"proxies": {"https": "http://proxy.example.com:notaport"}}, r"proxies\['https'\]"),
        ({"proxies": 3128}, r"extra proxies must be a proxy URL or a mapping"),
        ({"connect_timeout": "fast"}, r"extra connect_timeout must be a float, got 'fast'"),
        ({"read_timeout": 0}, r"extra read_timeout must be a finite number greater than 0"),
        ({"read_timeout": "nan"}, r"extra read_timeout must be a finite number"),
        ({"max_retries": -1}, r"extra max_retries must be a finite number at least 0"),
        ({"max_retries": 2.5}, r"extra max_retries must be a whole number"),
        ({"rate_limit_per_second": "inf"}, r"extra rate_limit_per_second must be a finite number greater than 0"),
    ],
)
def test_a_bad_transport_extra_fails_at_once_naming_it(monkeypatch, extra, named):
    with ScriptedTenant() as tenant:
        set_connection(monkeypatch, tenant.host, password="cfg-token-1234", allow_non_goskope_host=True, **extra)
        with pytest.raises(NetskopeConfigError, match=named):
            list(NetskopeHook().iter_window_pages("audit", S, END))
        assert tenant.seen == [], "refused before any request, so nothing is retried"


def test_a_missing_ca_bundle_fails_the_fetch_task_without_retries(monkeypatch, tmp_path):
    from pipeline_tasks import task_context

    from netskope_provider.compat import AirflowFailException
    from netskope_provider.operators.fetch import NetskopeFetchOperator

    set_connection(monkeypatch, "tenant.goskope.com", password="cfg-token-1234", ca_bundle=str(tmp_path / "gone.pem"))
    fetch = NetskopeFetchOperator(task_id="fetch", log_type="audit", staging_base=f"file://{tmp_path}")
    with pytest.raises(AirflowFailException, match=r"ca_bundle file .*gone.pem does not exist"):
        fetch.execute(task_context("audit", S, END, run_id="bad_ca", try_number=1))


# ---------------------------------------------------------------- transport errors say what to set


def test_an_http_only_server_is_reported_as_not_speaking_tls(monkeypatch):
    with ScriptedTenant(lambda seen: ok([])) as plain:
        set_connection(monkeypatch, plain.host, password="tls-token-1234", allow_non_goskope_host=True)
        with pytest.raises(NetskopeConfigError, match="does not speak TLS on this port") as caught:
            list(NetskopeHook().iter_window_pages("audit", S, END))
    assert "ca_bundle" not in str(caught.value), "no advice about CA bundles for a plain-HTTP server"
    assert '"scheme": "http"' in str(caught.value)


# A port of the system's choice, and one whose number holds "407": CI once drew 34071, and the error was
# read as the proxy asking for credentials (HTTP 407) because the proxy's URL in it held those digits.
@pytest.mark.parametrize("ports", [(0,), range(40700, 40800)], ids=["any-port", "port-with-407-in-it"])
def test_an_unreachable_proxy_is_named_with_the_setting_to_check(monkeypatch, ports):
    from conftest import refused_port

    # Held for the test: bound, never listening, so no other test's server can take the port meanwhile.
    with refused_port(ports) as port:
        set_connection(
            monkeypatch,
            "tenant.goskope.com",
            password="proxy-token-1234",
            proxies={"https": f"http://user:pw-secret@127.0.0.1:{port}"},
            max_retries=1,
            **FAST,
        )
        with pytest.raises(
            NetskopeRetriesExhaustedError, match=rf"through the proxy \(http://127.0.0.1:{port}\)"
        ) as caught:
            list(NetskopeHook().iter_window_pages("audit", S, END))
    assert "extra proxies" in str(caught.value) and "pw-secret" not in str(caught.value)


class ProxyAuthRequired(BaseHTTPRequestHandler):
    """A proxy that wants credentials: 407 to CONNECT (https targets) and to GET (http targets)."""

    server: CredentialsProxy

    def _refuse(self) -> None:
        self.server.asked.append(f"{self.command} {self.path}")
        self.send_response(407)
        self.send_header("Proxy-Authenticate", 'Basic realm="proxy"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_CONNECT = do_GET = _refuse

    def log_message(self, *args) -> None:
        pass


class CredentialsProxy(ThreadingHTTPServer):
    """``ProxyAuthRequired`` on 127.0.0.1; ``asked``: each request it refused (``CONNECT host:443``, ``GET url``)."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        super().__init__(("127.0.0.1", 0), ProxyAuthRequired)


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_a_proxy_asking_for_credentials_fails_at_once_and_says_where_they_go(scheme):
    server = CredentialsProxy()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proxy = f"http://127.0.0.1:{server.server_address[1]}"
    host = "tenant.goskope.com" if scheme == "https" else "127.0.0.1:9"
    try:
        client = NetskopeClient(host, lambda refresh: "proxy-token-1234", scheme=scheme, proxies={scheme: proxy})
        with pytest.raises(NetskopeConfigError, match=r"HTTP 407 \(proxy authentication required\).*extra proxies"):
            list(client.iter_window_pages("audit", S, END))
        assert len(server.asked) == 1, f"a 407 is not retried: {server.asked}"
        assert server.asked[0].startswith(
            "CONNECT tenant.goskope.com:443" if scheme == "https" else "GET http://127.0.0.1:9/"
        )
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- Secrets Manager: region and connection


@pytest.fixture
def secret_elsewhere(moto_server, sim):
    """A secret in eu-west-2, read with an AWS connection that names no region."""
    import boto3

    moto_server.reset()
    secrets = boto3.client("secretsmanager", endpoint_url=moto_server.url, region_name="eu-west-2")
    arn = secrets.create_secret(Name="netskope/eu", SecretString=sim.token)["ARN"]
    assert ":eu-west-2:" in arn
    return arn


def aws_connection(monkeypatch, moto_server, conn_id: str, **extra) -> None:
    conn = {"conn_type": "aws", "login": "testing", "password": "testing", "extra": {"endpoint_url": moto_server.url}}
    conn["extra"].update(extra)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


@pytest.mark.parametrize("environment_region", [None, "us-east-1"])
def test_the_secret_is_read_in_the_region_its_arn_names(
    monkeypatch, sim, moto_server, secret_elsewhere, environment_region
):
    aws_connection(monkeypatch, moto_server, "aws_no_region")
    if environment_region is None:
        monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
        monkeypatch.delenv("AWS_REGION", raising=False)
    else:
        monkeypatch.setenv("AWS_DEFAULT_REGION", environment_region)
    set_sim_connection(monkeypatch, sim, password=None, secret_arn=secret_elsewhere, aws_conn_id="aws_no_region")
    assert set(ids(NetskopeHook().iter_window_pages("audit", S, S + 900))) == truth(sim, "audit", S, S + 900)


def test_a_region_the_aws_connection_names_wins_over_the_arn(monkeypatch, sim, moto_server, secret_elsewhere):
    aws_connection(monkeypatch, moto_server, "aws_ireland", region_name="eu-west-1")
    set_sim_connection(monkeypatch, sim, password=None, secret_arn=secret_elsewhere, aws_conn_id="aws_ireland")
    with pytest.raises(NetskopeConfigError, match="Could not read the API token from Secrets Manager"):
        list(NetskopeHook().iter_window_pages("audit", S, END))


def test_an_aws_connection_that_does_not_exist_says_so(monkeypatch, sim, secret_elsewhere):
    set_sim_connection(monkeypatch, sim, password=None, secret_arn=secret_elsewhere, aws_conn_id="aws_nowhere")
    passed, message = NetskopeHook().test_connection()
    assert not passed
    assert "no such connection 'aws_nowhere'" in message and "EndpointConnectionError" not in message
