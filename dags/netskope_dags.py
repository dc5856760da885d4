"""Airflow DAGs of airflow-provider-netskope: one per Netskope log type, and the reconciliation.

Written by `netskope-provider install-dags`; shaped by the NETSKOPE_* settings (docs/dags.md).
"""

from netskope_provider.dag_factory import netskope_dags

globals().update(netskope_dags())
