"""Compile the OCSF mapping's per-record modules with mypyc: a hatch build hook, and a script.

* As hatchling's build hook (``pyproject.toml``), it compiles them into a wheel, which then holds
  the extension modules beside the sources. Editable installs are left to the script.
* As a script (``python provider/hatch_build.py``, run by ``make``), it compiles them in place,
  beside the sources of this checkout.

Compiling is an optimisation, never a requirement: without a C compiler and Python headers, or
with ``NETSKOPE_OCSF_COMPILE=0``, it says why and the package runs its Python source (the same
output, about half as fast). ``netskope_provider.ocsf.native`` decides at import which runs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # run as a script, where hatchling need not be installed
    BuildHookInterface = object  # type: ignore[assignment,misc]

ROOT = Path(__file__).resolve().parent  # the folder holding the package
OCSF = Path("netskope_provider", "ocsf")
GROUP = "netskope_ocsf"  # the shared library's name: netskope_ocsf__mypyc.<abi>.so beside the package

# Run in a child process so setuptools' build never touches the caller's process or working dir.
_SETUP = """
import sys
from mypyc.build import mypycify
from setuptools import setup
build_temp, paths = sys.argv[2], sys.argv[3:]
setup(
    name="netskope-ocsf-native",
    ext_modules=mypycify(["--ignore-missing-imports", "--cache-dir", build_temp + "/mypy", *paths], group_name=sys.argv[1], target_dir=build_temp),
    script_args=["--quiet", "build_ext", "--inplace", "--build-temp", build_temp, "--build-lib", build_temp + "/lib"],
)
"""


def _native() -> Any:
    """``netskope_provider.ocsf.native`` loaded from its file (the package's imports need not be installed)."""
    spec = importlib.util.spec_from_file_location("_netskope_ocsf_native", ROOT / OCSF / "native.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def compile_ocsf(root: Path = ROOT) -> list[Path]:
    """Compile the modules under ``root`` in place; return the files made (none if it cannot compile)."""
    if os.environ.get("NETSKOPE_OCSF_COMPILE", "1").strip() == "0":
        print("OCSF mapping not compiled: NETSKOPE_OCSF_COMPILE=0", file=sys.stderr)
        return []
    native = _native()
    sources = [str(OCSF / f"{name}.py") for name in native.COMPILED_MODULES]
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    # A previous build's files go first: a failed build then leaves none, and a module dropped from
    # the list leaves no stale extension behind.
    previous = [
        *(root / OCSF).glob(f"*{suffix}"),
        root / f"{GROUP}__mypyc{suffix}",
        root / OCSF / f"{native.MANIFEST}.py",
    ]
    for path in previous:
        path.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="netskope-ocsf-build-") as build_temp:
        try:
            done = subprocess.run(
                [sys.executable, "-c", _SETUP, GROUP, build_temp, *sources], cwd=root, capture_output=True, text=True
            )
        except OSError as error:
            done = subprocess.CompletedProcess([], 1, "", str(error))
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        print("OCSF mapping not compiled (it runs from source):", *detail, sep="\n  ", file=sys.stderr)
        return []
    digests = {name: native.source_digest(name, root / OCSF) for name in native.COMPILED_MODULES}
    manifest = root / OCSF / f"{native.MANIFEST}.py"
    manifest.write_text(
        '"""Written by provider/hatch_build.py: the sources the compiled modules were built from."""\n\n'
        f"DIGESTS = {json.dumps(digests, indent=4)}\n"
    )
    print(f"OCSF mapping compiled with mypyc ({len(native.COMPILED_MODULES)} modules)", file=sys.stderr)
    modules = [root / OCSF / f"{name}{suffix}" for name in native.COMPILED_MODULES]
    return [root / f"{GROUP}__mypyc{suffix}", *modules, manifest]


class OcsfCompileHook(BuildHookInterface):  # type: ignore[misc,valid-type]
    """Puts the compiled modules into (non-editable) wheels."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return
        self._tree = Path(tempfile.mkdtemp(prefix="netskope-ocsf-wheel-"))
        shutil.copytree(ROOT / "netskope_provider", self._tree / "netskope_provider")
        made = compile_ocsf(self._tree)
        if not made:
            return
        for path in made:
            build_data["force_include"][str(path)] = str(path.relative_to(self._tree))
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        if version != "editable":
            shutil.rmtree(self._tree, ignore_errors=True)


if __name__ == "__main__":
    compile_ocsf()
