"""A simulated Netskope tenant (REST API v2 events, alerts, iterators) on 127.0.0.1, for tests, demos and benchmarks.

A deliberate, documented part of the provider for users' own tests (docs/simulator.md): it ships in
the wheel and has no Airflow imports. Typical use::

    with SimulatorServer(SimulatorConfig(seed=7, start=t0, end=t0 + 3600, now=t0 + 7200)) as sim:
        ...  # point a Netskope connection at sim.host with sim.token
        expected = sim.ground_truth("application", t0, t0 + 600)
"""

from __future__ import annotations

from netskope_provider.simulator.config import DEFAULT_VOLUME, FaultConfig, IteratorClock, SimulatorConfig
from netskope_provider.simulator.records import Corpus, LagBand, generate
from netskope_provider.simulator.server import SimulatorServer
from netskope_provider.simulator.tenant import SimulatedTenant, SimulatorStats

__all__ = [
    "DEFAULT_VOLUME",
    "Corpus",
    "FaultConfig",
    "IteratorClock",
    "LagBand",
    "SimulatedTenant",
    "SimulatorConfig",
    "SimulatorServer",
    "SimulatorStats",
    "generate",
]
