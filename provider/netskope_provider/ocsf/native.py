"""Which implementation of the mapping runs: the mypyc-compiled modules or their Python source.

Installing the package compiles the hot-path modules (``COMPILED_MODULES``) with mypyc when the
machine has a C compiler (``provider/hatch_build.py``); the extension modules then sit beside the
sources and Python prefers them. They run only while they were built from the very sources beside
them (the build records their digests in ``_compiled_sources.py``) and ``NETSKOPE_OCSF_PURE`` is
unset. Otherwise all of them load from source, so an edited checkout never runs stale compiled
code, and compiled and source modules never mix (compiled modules call each other directly).
Both implementations write the same bytes; the tests hold them to it.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).parent


def _registry() -> ModuleType:
    """``netskope_provider.registry``, or the file itself when the build reads this module before
    the package is installed (``provider/hatch_build.py`` loads both from their files)."""
    try:
        from netskope_provider import registry
    except ImportError:
        spec = importlib.util.spec_from_file_location("_netskope_registry", HERE.parent / "registry.py")
        registry = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[spec.name] = registry  # type: ignore[union-attr]  # dataclasses look their module up
        spec.loader.exec_module(registry)  # type: ignore[union-attr]
    return registry


#: The modules compiled together: the shared ones and every registered class module of this
#: package (they run per record; the CLI, docs and validator do not).
SHARED_MODULES: tuple[str, ...] = ("common", "parts", "routing", "mapper")
COMPILED_MODULES: tuple[str, ...] = (*SHARED_MODULES, *_registry().package_modules())
PURE_ENV = "NETSKOPE_OCSF_PURE"
MANIFEST = "_compiled_sources"


def source_digest(name: str, folder: Path = HERE) -> str:
    """sha256 of a compiled module's source: what the build records and the import compares."""
    return hashlib.sha256((folder / f"{name}.py").read_bytes()).hexdigest()


def _compiled_files(name: str) -> list[Path]:
    return [
        HERE / f"{name}{suffix}"
        for suffix in importlib.machinery.EXTENSION_SUFFIXES
        if (HERE / f"{name}{suffix}").exists()
    ]


def _why_not_compiled() -> str | None:
    """None when the compiled modules may run; otherwise why the sources run instead."""
    if os.environ.get(PURE_ENV, "").strip() not in ("", "0"):
        return f"{PURE_ENV} is set"
    if not any(_compiled_files(name) for name in COMPILED_MODULES):
        return "not compiled (no C compiler at install, or NETSKOPE_OCSF_COMPILE=0)"
    try:
        built = importlib.import_module(f"{__package__}.{MANIFEST}").DIGESTS
    except (ImportError, AttributeError):
        return f"compiled modules without {MANIFEST}.py: rebuild them"
    stale = [name for name in COMPILED_MODULES if built.get(name) != source_digest(name) or not _compiled_files(name)]
    if stale:
        return f"the compiled {', '.join(stale)} no longer match the source: reinstall the package (or `make venv`) to rebuild"
    return None


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Loads the compiled modules from their ``.py`` files, ahead of the extension modules."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        if package != __package__ or name not in COMPILED_MODULES:
            return None
        return importlib.util.spec_from_file_location(fullname, HERE / f"{name}.py")


def select() -> str:
    """Choose the implementation before any compiled module is imported; return its description."""
    reason = _why_not_compiled()
    if reason is None:
        return "compiled (mypyc)"
    if not reason.startswith(PURE_ENV) and _compiled_files("common"):
        warnings.warn(f"OCSF mapping runs from source, not compiled: {reason}", RuntimeWarning, stacklevel=2)
    if not any(isinstance(finder, _SourceFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SourceFinder())
    return f"python ({reason})"
