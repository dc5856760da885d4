"""The provider is registered with Airflow: the real ``airflow`` CLI lists it and offers type ``netskope``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from netskope_provider.get_provider_info import get_provider_info
from netskope_provider.hooks.netskope import NetskopeHook

AIRFLOW = Path(sys.executable).parent / "airflow"


def test_airflow_cli_lists_the_provider_and_its_connection_type():
    """Both CLI calls run side by side (each starts Airflow, which takes a while)."""
    commands = {name: [str(AIRFLOW), "providers", name, "--output", "json"] for name in ("list", "hooks")}
    running = {
        name: subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
        for name, command in commands.items()
    }
    outputs = {}
    for name, process in running.items():
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, f"airflow providers {name} failed: {err[-2000:]}"
        outputs[name] = json.loads(out[out.index("[") :])

    [provider] = [p for p in outputs["list"] if p["package_name"] == "airflow-provider-netskope"]
    assert provider["version"] == get_provider_info()["versions"][0]
    [hook] = [h for h in outputs["hooks"] if h["connection_type"] == "netskope"]
    assert hook["class"] == "netskope_provider.hooks.netskope.NetskopeHook"
    assert hook["conn_id_attribute_name"] == NetskopeHook.conn_name_attr
    assert hook["hook_name"] == NetskopeHook.hook_name


def test_connection_form_fields_are_extras_the_hook_reads():
    [conn_type] = get_provider_info()["connection-types"]
    assert conn_type["hook-class-name"] == f"{NetskopeHook.__module__}.{NetskopeHook.__name__}"
    assert conn_type["connection-type"] == NetskopeHook.conn_type
    from netskope_provider.hooks.netskope import _CLIENT_EXTRAS, _HOOK_EXTRAS

    assert set(conn_type["conn-fields"]) <= _HOOK_EXTRAS | set(_CLIENT_EXTRAS)
