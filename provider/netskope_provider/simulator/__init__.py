"""A simulated Netskope tenant (REST API v2 events, alerts, iterators) on 127.0.0.1 for tests, demo and benchmarks.

See ``docs/simulator.md``. Typical use::

    with SimulatorServer(SimulatorConfig(seed=7, start=t0, end=t0 + 3600)) as sim:
        ...  # point a Netskope connection at sim.host with sim.token
        expected = sim.ground_truth("application", t0, t0 + 600)
"""

from __future__ import annotations

from netskope_provider.simulator.config import DEFAULT_VOLUME, FaultConfig, SimulatorConfig
from netskope_provider.simulator.records import generate
from netskope_provider.simulator.server import SimulatorServer, SimulatorStats, Tenant

__all__ = [
    "DEFAULT_VOLUME",
    "FaultConfig",
    "SimulatorConfig",
    "SimulatorServer",
    "SimulatorStats",
    "Tenant",
    "generate",
]
