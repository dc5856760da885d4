"""The compose stack without Docker: docker-compose.yml holds the issue's topology, and its Netskope
connection (HTTPS to the simulator's service name, trusting the certificate the simulator writes
to a shared folder) works against a real simulator."""

from __future__ import annotations

import ipaddress
import json
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml
from cryptography import x509
from scripted_tenant import decoded

from netskope_provider.api.host import check_tenant_host
from netskope_provider.hooks.netskope import NetskopeHook
from netskope_provider.simulator import SimulatorConfig, SimulatorServer

REPO = Path(__file__).resolve().parents[2]
SERVICE_NAME = "netskope-simulator"
END = 1_790_000_000 - 1_790_000_000 % 3600
START = END - 3600


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def _command(service: dict) -> list[str]:
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else list(command)


def _airflow_services(services: dict) -> dict[str, dict]:
    return {name: s for name, s in services.items() if "AIRFLOW_CONN_NETSKOPE_DEFAULT" in s.get("environment", {})}


def _option(command: list[str], flag: str) -> list[str]:
    return [command[i + 1] for i, word in enumerate(command) if word == flag]


def _mounts(service: dict) -> dict[str, str]:
    """Container path -> volume name or host path."""
    return {volume.split(":")[1]: volume.split(":")[0] for volume in service.get("volumes", [])}


def test_compose_file_has_the_issue_topology(services):
    commands = [" ".join(_command(s)) for s in services.values()]
    for component in ("api-server", "scheduler", "dag-processor", "triggerer"):
        assert commands.count(component) == 1, f"exactly one {component} service"
    assert commands.count("celery worker") == 2, "two Celery workers"
    images = {name: s.get("image", "") for name, s in services.items()}
    assert images["postgres"].startswith("postgres:") and images["redis"].startswith("redis:")
    assert images["moto"].startswith("motoserver/moto")
    assert "netskope_provider.simulator" in _command(services[SERVICE_NAME])
    airflow = _airflow_services(services)
    assert {s["environment"]["AIRFLOW__CORE__EXECUTOR"] for s in airflow.values()} == {"CeleryExecutor"}
    assert all(s["image"].startswith("apache/airflow:3.3.") for s in airflow.values())
    assert all("postgres" in s["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] for s in airflow.values())


def test_every_dependency_names_a_service(services):
    for name, service in services.items():
        missing = set(service.get("depends_on", {})) - set(services)
        assert not missing, f"{name} depends on undefined services {missing}"


def test_compose_connection_is_https_to_the_name_the_certificate_carries(compose, services):
    simulator = _command(services[SERVICE_NAME])
    tls_dir = _option(simulator, "--tls-dir")[0]
    port = _option(simulator, "--port")[0]
    assert _option(simulator, "--tls-name") == [SERVICE_NAME]
    tls_volume = _mounts(services[SERVICE_NAME])[tls_dir]
    assert tls_volume in compose["volumes"], "the certificate folder is a named volume"

    workers = {name: s for name, s in services.items() if _command(s) in (["celery", "worker"], ["api-server"])}
    assert len(workers) == 3
    for name, service in _airflow_services(services).items():
        conn = json.loads(service["environment"]["AIRFLOW_CONN_NETSKOPE_DEFAULT"])
        extra = conn["extra"]
        assert extra["scheme"] == "https" and conn["host"] == f"{SERVICE_NAME}:{port}"
        assert Path(extra["ca_bundle"]) == Path(tls_dir) / "cert.pem"
        assert _mounts(service)[str(Path(extra["ca_bundle"]).parent)] == tls_volume, (
            f"{name} sees the simulator's CA file"
        )
        # The hook's real host rule accepts it (plain http to a non-loopback host would be refused).
        assert check_tenant_host(
            conn["host"], scheme=extra["scheme"], allow_non_goskope_host=extra["allow_non_goskope_host"]
        )
    for name in workers:  # tasks and Test Connection only start once the certificate is served
        assert services[name]["depends_on"][SERVICE_NAME] == {"condition": "service_healthy"}


def _names(cert_path: Path) -> set[str]:
    certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {*sans.get_values_for_type(x509.DNSName), *map(str, sans.get_values_for_type(x509.IPAddress))}


def test_certificate_carries_extra_names_and_stays_in_the_given_folder(tmp_path):
    config = SimulatorConfig(
        seed=3, start=START, end=END, tls=True, tls_names=(SERVICE_NAME, "10.0.0.7"), tls_dir=str(tmp_path)
    )
    with SimulatorServer(config) as sim:
        assert sim.ca_file == str(tmp_path / "cert.pem")
    assert _names(tmp_path / "cert.pem") == {"127.0.0.1", "localhost", SERVICE_NAME, "10.0.0.7"}
    certificate = x509.load_pem_x509_certificate((tmp_path / "cert.pem").read_bytes())
    sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("10.0.0.7") in sans.get_values_for_type(x509.IPAddress), "an IP is an IP SAN"
    assert stat.S_IMODE((tmp_path / "key.pem").stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cert.pem", "key.pem"], "kept after stop, no partial files"


@pytest.fixture
def service_name_resolves_to_loopback(monkeypatch):
    """Map the compose service name to 127.0.0.1 as Docker's DNS would map it to the simulator container."""
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        return real_getaddrinfo("127.0.0.1" if host == SERVICE_NAME else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def _set_compose_connection(monkeypatch, port: int, ca_bundle: str, token: str) -> None:
    conn = {
        "conn_type": "netskope",
        "host": f"{SERVICE_NAME}:{port}",
        "password": token,
        "extra": {"allow_non_goskope_host": True, "scheme": "https", "ca_bundle": ca_bundle},
    }
    monkeypatch.setenv("AIRFLOW_CONN_NETSKOPE_DEFAULT", json.dumps(conn))


@pytest.mark.parametrize("extra_names, connects", [((SERVICE_NAME,), True), ((), False)], ids=["named", "not-named"])
def test_hook_reaches_the_simulator_under_its_service_name(
    monkeypatch, tmp_path, service_name_resolves_to_loopback, extra_names, connects
):
    config = SimulatorConfig(
        seed=5,
        start=START,
        end=END,
        now=END + 600,
        volume={"audit": 40},
        tls_names=extra_names,
        tls=True,
        tls_dir=str(tmp_path),
    )
    with SimulatorServer(config) as sim:
        _set_compose_connection(monkeypatch, sim.port, str(tmp_path / "cert.pem"), sim.token)
        passed, message = NetskopeHook().test_connection()
        if connects:
            assert passed, message
            pages = NetskopeHook().iter_window_pages("audit", START, END)
            assert sorted(r["_id"] for r in decoded(pages)) == sorted(
                r["_id"] for r in sim.ground_truth("audit", START, END)
            )
        else:  # the same CA file, but the certificate does not name the host: verification must fail
            assert not passed, message
            assert "the certificate is for another host name" in message, message
            assert sim.token not in message


def test_simulator_cli_writes_the_named_certificate_to_the_folder(tmp_path):
    """The compose command line itself: ``--tls-name NAME --tls-dir DIR`` (TLS implied)."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "netskope_provider.simulator",
            "--port",
            "0",
            "--hours",
            "0.1",
            "--tls-name",
            SERVICE_NAME,
            "--tls-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert "https://127.0.0.1:" in line and str(tmp_path / "cert.pem") in line, line
        url = line.split("listening on ")[1].split()[0]
        response = requests.get(f"{url}/api/v2/events/data/audit", verify=str(tmp_path / "cert.pem"), timeout=10)
        assert response.status_code == 401, "served over verified HTTPS (and no token sent)"
        assert SERVICE_NAME in _names(tmp_path / "cert.pem")
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert (tmp_path / "cert.pem").exists(), "the shared CA file outlives the simulator"
