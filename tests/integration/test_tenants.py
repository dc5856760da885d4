"""Several tenants: one set of eight DAGs per tenant, each with its connection, pool and log groups."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import REPO

from netskope_provider.compat import DagBag, dag_test, task_return_value
from netskope_provider.config import Tenant, tenants
from netskope_provider.demo import canonical, expected_messages, stream_documents
from netskope_provider.log_types import LOG_TYPES
from netskope_provider.simulator import SimulatorConfig, SimulatorServer

HOUR = 3600
NOW_HOUR = int(datetime.now(UTC).timestamp()) // HOUR * HOUR
WINDOW = (NOW_HOUR - 2 * HOUR, NOW_HOUR - HOUR)
TENANTS = {"acme": {"conn_id": "netskope_acme"}, "globex": {"conn_id": "netskope_globex", "pool": "globex_budget"}}
POOLS = {"acme": "netskope_api_acme", "globex": "globex_budget"}
#: Log types run end to end per tenant (all eight are covered for one tenant by test_dag_runs).
RUN_LOG_TYPES = ("audit", "alert")


@pytest.fixture(scope="module")
def simulators() -> Iterator[dict[str, SimulatorServer]]:
    """One simulated tenant per configured tenant, each with different records and its own token."""
    with (
        SimulatorServer(
            SimulatorConfig(
                seed=21, token="acme-token", start=WINDOW[0], end=WINDOW[1], volume=dict.fromkeys(LOG_TYPES, 30)
            )
        ) as acme,
        SimulatorServer(
            SimulatorConfig(
                seed=22, token="globex-token", start=WINDOW[0], end=WINDOW[1], volume=dict.fromkeys(LOG_TYPES, 45)
            )
        ) as globex,
    ):
        yield {"acme": acme, "globex": globex}


@pytest.fixture(scope="module")
def tenant_dags(simulators, moto_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The DAG file parsed under a two-tenant configuration, with both connections and pools in place."""
    from airflow.models.pool import Pool
    from airflow.utils import db

    moto_server.reset()  # records of one hour share its home stream: start from an empty endpoint
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NETSKOPE_TENANTS", json.dumps(TENANTS))
        patch.setenv("NETSKOPE_STAGING_BASE", f"file://{tmp_path_factory.mktemp('staging')}")
        for name, sim in simulators.items():
            patch.setenv(
                f"AIRFLOW_CONN_NETSKOPE_{name.upper()}",
                json.dumps(
                    {
                        "conn_type": "netskope",
                        "host": sim.host,
                        "password": sim.token,
                        "extra": {"allow_non_goskope_host": True, "scheme": "http"},
                    }
                ),
            )
        db.resetdb()
        for pool in POOLS.values():
            Pool.create_or_update_pool(pool, slots=2, description="Netskope API calls", include_deferred=False)
        bag = DagBag(dag_folder=str(REPO / "dags"))
        assert bag.import_errors == {}
        yield bag.dags


def test_two_tenants_give_sixteen_dags_with_separate_pools_connections_and_log_groups(tenant_dags) -> None:
    pipeline_dags = sorted(dag_id for dag_id, dag in tenant_dags.items() if not dag_id.endswith("_reconcile"))
    assert pipeline_dags == sorted(f"netskope_{tenant}_{name}" for tenant in TENANTS for name in LOG_TYPES)
    for tenant, options in TENANTS.items():
        for name in LOG_TYPES:
            dag = tenant_dags[f"netskope_{tenant}_{name}"]
            fetch, deliver = dag.get_task("fetch"), dag.get_task("deliver")
            assert fetch.log_type == name and fetch.netskope_conn_id == options["conn_id"]
            assert fetch.pool == POOLS[tenant]
            assert deliver.log_group == f"/netskope/{tenant}/ocsf/{{log_type}}"
            assert f"tenant:{tenant}" in dag.tags


@pytest.mark.parametrize("log_type", RUN_LOG_TYPES)
def test_each_tenants_window_lands_in_its_own_log_stream_exactly(
    tenant_dags, simulators, moto_server, log_type
) -> None:
    for tenant in TENANTS:
        dag_run = dag_test(tenant_dags[f"netskope_{tenant}_{log_type}"], datetime.fromtimestamp(WINDOW[1], tz=UTC))
        assert dag_run.state == "success"
    logs = moto_server.client("logs")
    delivered = {
        tenant: Counter(
            canonical(doc)
            for doc in stream_documents(logs, log_type, *WINDOW, log_group=f"/netskope/{tenant}/ocsf/{log_type}")
        )
        for tenant in TENANTS
    }
    expected = {tenant: expected_messages(sim, log_type, *WINDOW) for tenant, sim in simulators.items()}
    assert sum(expected["acme"].values()) == 30 and sum(expected["globex"].values()) == 45
    assert not expected["acme"] & expected["globex"], (
        "the two tenants' records must differ for the test to tell them apart"
    )
    assert delivered == expected
    assert stream_documents(logs, log_type, *WINDOW) == [], "nothing goes to the single-tenant log group"


def test_each_tenant_has_a_reconcile_dag_with_its_connection_pool_and_log_groups(tenant_dags) -> None:
    reconcile_dags = sorted(dag_id for dag_id, dag in tenant_dags.items() if dag_id.endswith("_reconcile"))
    assert reconcile_dags == sorted(f"netskope_{tenant}_reconcile" for tenant in TENANTS)
    for tenant, options in TENANTS.items():
        dag = tenant_dags[f"netskope_{tenant}_reconcile"]
        (task,) = dag.tasks
        assert (task.netskope_conn_id, task.pool, task.log_group, task.tenant) == (
            options["conn_id"],
            POOLS[tenant],
            f"/netskope/{tenant}/ocsf/{{log_type}}",
            tenant,
        )
        assert f"tenant:{tenant}" in dag.tags


def test_a_tenants_reconcile_heals_from_its_own_tenant_into_its_own_log_group(
    tenant_dags, simulators, moto_server
) -> None:
    """No network window was delivered: acme's reconcile finds the window short and fills acme's stream only."""
    run_conf = {"window": f"{iso(WINDOW[0])}/{iso(WINDOW[1])}", "log_types": ["network"], "heal": True}
    dag_run = dag_test(
        tenant_dags["netskope_acme_reconcile"], datetime.fromtimestamp(NOW_HOUR, tz=UTC), run_conf=run_conf
    )
    assert dag_run.state == "success"
    summary = task_return_value(dag_run, "reconcile")
    expected = expected_messages(simulators["acme"], "network", *WINDOW)
    assert [(entry["log_type"], entry["gap"]) for entry in summary["mismatches"]] == [
        ("network", sum(expected.values()))
    ]
    assert summary["remaining"] == []
    logs = moto_server.client("logs")
    delivered = {
        tenant: Counter(
            canonical(doc)
            for doc in stream_documents(logs, "network", *WINDOW, log_group=f"/netskope/{tenant}/ocsf/network")
        )
        for tenant in TENANTS
    }
    assert delivered == {"acme": expected, "globex": Counter()}
    staging = Path(os.environ["NETSKOPE_STAGING_BASE"].removeprefix("file://"))
    assert (staging / "netskope_acme_network").is_dir(), "the heal staged under acme's network DAG"


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat()


def test_without_tenants_the_single_tenant_ids_stay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NETSKOPE_TENANTS", raising=False)
    assert tenants() == [Tenant()]
    assert Tenant().dag_id("audit") == "netskope_audit"


def test_tenant_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETSKOPE_TENANTS", '{"initech": {}}')
    assert tenants() == [
        Tenant("initech", "netskope_initech", "netskope_api_initech", "/netskope/initech/ocsf/{log_type}")
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("acme", "not JSON"),
        ("[]", "not a non-empty object"),
        ("{}", "not a non-empty object"),
        ('{"Acme Corp": {}}', "tenant name 'Acme Corp'"),
        ('{"acme": {"connection": "x"}}', "keys among"),
        ('{"acme": {"conn_id": ""}}', "non-empty string"),
        ('{"acme": "netskope_acme"}', "keys among"),
    ],
)
def test_bad_tenant_configuration_says_what_to_write(monkeypatch: pytest.MonkeyPatch, value: str, message: str) -> None:
    monkeypatch.setenv("NETSKOPE_TENANTS", value)
    with pytest.raises(ValueError, match="NETSKOPE_TENANTS") as error:
        tenants()
    assert message in str(error.value)
