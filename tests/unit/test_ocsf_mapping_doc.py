"""docs/mapping.md is generated from the mapping code and must stay in step with it."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

import pytest

from netskope_provider.ocsf import docgen, routing
from netskope_provider.registry import CLASSES

DOC = Path(__file__).resolve().parents[2] / "docs" / "mapping.md"


def test_committed_mapping_doc_equals_the_generated_text() -> None:
    assert DOC.read_text(encoding="utf-8") == docgen.render(), (
        "docs/mapping.md is stale: run .venv/bin/python -m netskope_provider.ocsf.docgen -o docs/mapping.md"
    )


def test_doc_names_every_class_and_every_spec_value() -> None:
    text = docgen.render()
    for uid, cls in CLASSES.items():
        assert f"## {cls.name} ({uid})" in text
    for values in (
        routing.APPLICATION_AUTHENTICATION_ACTIVITIES,
        routing.AUDIT_AUTHENTICATION_EVENTS,
        routing.AUDIT_ENTITY_MANAGEMENT_EVENTS,
        routing.AUDIT_ACCOUNT_CHANGE_EVENTS,
        routing.NETWORK_ACTIONS,
        routing.DETECTION_ALERT_TYPES,
        routing.FILE_HOSTING_ACTIVITIES,
    ):
        for value in values:
            assert f"`{value}`" in text


@pytest.mark.parametrize("uid", sorted(CLASSES))
def test_every_class_module_publishes_the_doc_contract(uid: int) -> None:
    module = import_module(CLASSES[uid].module)
    assert CLASSES[uid] == module.EVENT_CLASS
    assert module.MAPPED_FIELDS and all(
        isinstance(k, str) and isinstance(v, str) for k, v in module.MAPPED_FIELDS.items()
    )
    assert all(isinstance(ids, dict) for ids in module.ENUMS.values())
    text = docgen.render()
    for field in module.MAPPED_FIELDS:
        assert f"`{field}`" in text


def test_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "mapping.md"
    stale.write_text(docgen.render().replace("Authentication", "Authentification", 1), encoding="utf-8")
    assert docgen.main(["--check", str(stale)]) == 1
    fresh = tmp_path / "fresh.md"
    assert docgen.main(["-o", str(fresh)]) == 0
    assert docgen.main(["--check", str(fresh)]) == 0
