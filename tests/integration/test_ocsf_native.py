"""The compiled OCSF mapping: the same bytes as its source, never stale, optional, and in wheels.

The rest of the suite runs whichever implementation this checkout has (compiled after ``make``);
these tests hold the two to each other. Those that need a compiled build skip without one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import orjson
import pytest

from netskope_provider import ocsf
from netskope_provider.ocsf import native
from netskope_provider.ocsf.mapper import MapCounts, map_lines
from netskope_provider.registry import CLASSES
from netskope_provider.simulator.records import LOG_TYPE_NAMES, generate

PROVIDER = Path(__file__).resolve().parents[2] / "provider"
COMPILED = ocsf.IMPLEMENTATION.startswith("compiled")
needs_compiled = pytest.mark.skipif(not COMPILED, reason=f"the mapping is not compiled here: {ocsf.IMPLEMENTATION}")

# Maps a corpus and prints the output lines, then the implementation that wrote them.
MAP_CORPUS = """
import sys
from netskope_provider import ocsf
from netskope_provider.ocsf.mapper import MapCounts, map_lines
from netskope_provider.simulator.records import LOG_TYPE_NAMES, generate
import orjson
out = sys.stdout.buffer
for log_type in LOG_TYPE_NAMES:
    lines = [orjson.dumps(record) for record in generate(log_type, int(sys.argv[1]), 1_719_792_000, 1_719_878_400, 5)]
    out.writelines(map_lines(lines, log_type, MapCounts()))
out.write(ocsf.IMPLEMENTATION.encode() + b"\\n")
"""
IMPLEMENTATION = "from netskope_provider import ocsf; import netskope_provider.ocsf.common as c; print(ocsf.IMPLEMENTATION); print(c.__file__)"


def _python(code: str, *args: str, path: Path | None = None, **env: str) -> subprocess.CompletedProcess[bytes]:
    environment = {**os.environ, **env}
    if path is not None:
        environment["PYTHONPATH"] = str(path)
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, env=environment, timeout=300)


def _copy_of_the_package(into: Path) -> Path:
    """This checkout's package and compiled modules, copied to ``into`` (to change it freely)."""
    shutil.copytree(
        PROVIDER / "netskope_provider", into / "netskope_provider", ignore=shutil.ignore_patterns("__pycache__")
    )
    for library in PROVIDER.glob("netskope_ocsf__mypyc*"):
        shutil.copy2(library, into)
    return into


def test_every_class_module_is_compiled_with_the_mapper() -> None:
    modules = {cls.module.removeprefix("netskope_provider.ocsf.") for cls in CLASSES.values()}
    assert modules | {"common", "parts", "routing", "mapper"} == set(native.COMPILED_MODULES)


@needs_compiled
def test_compiled_and_source_mappings_write_the_same_bytes() -> None:
    compiled = _python(MAP_CORPUS, "1500")
    source = _python(MAP_CORPUS, "1500", NETSKOPE_OCSF_PURE="1")
    assert compiled.returncode == source.returncode == 0, (compiled.stderr + source.stderr).decode()
    *compiled_lines, compiled_by = compiled.stdout.splitlines()
    *source_lines, source_by = source.stdout.splitlines()
    assert (compiled_by, source_by) == (b"compiled (mypyc)", b"python (NETSKOPE_OCSF_PURE is set)")
    assert len(compiled_lines) == 1500 * len(LOG_TYPE_NAMES)
    assert compiled_lines == source_lines


@needs_compiled
def test_a_changed_source_runs_from_source_with_a_warning(tmp_path: Path) -> None:
    package = _copy_of_the_package(tmp_path)
    unchanged = _python(IMPLEMENTATION, path=package)
    assert unchanged.stdout.decode().splitlines()[0] == "compiled (mypyc)"

    with (package / "netskope_provider" / "ocsf" / "parts.py").open("a") as source:
        source.write("\n# an edit after the build\n")
    changed = _python(IMPLEMENTATION, path=package)
    implementation, common_file = changed.stdout.decode().splitlines()
    assert implementation.startswith("python (the compiled parts no longer match the source")
    assert common_file.endswith("common.py")  # every compiled module loads from source, not only parts
    assert b"RuntimeWarning: OCSF mapping runs from source" in changed.stderr


def test_without_a_c_compiler_the_install_goes_on_with_the_source(tmp_path: Path) -> None:
    package = _copy_of_the_package(tmp_path)  # with this checkout's build, if it has one
    shutil.copy2(PROVIDER / "hatch_build.py", package)

    build = _python("import hatch_build, sys; sys.exit(len(hatch_build.compile_ocsf()))", path=package, CC="false")
    assert build.returncode == 0, build.stderr.decode()  # nothing made
    assert b"OCSF mapping not compiled (it runs from source)" in build.stderr
    # The previous build is gone too, so nothing stale is left to load or warn about.
    assert not [*package.glob("*.so"), *package.glob("netskope_provider/ocsf/*.so")]
    assert not (package / "netskope_provider" / "ocsf" / f"{native.MANIFEST}.py").exists()
    ran = _python(IMPLEMENTATION, path=package)
    assert ran.stdout.decode().splitlines()[0].startswith("python (not compiled")
    assert b"Warning" not in ran.stderr  # nothing was compiled, so nothing is stale


def test_a_wheel_carries_the_compiled_mapping(tmp_path: Path) -> None:
    uv = Path(sys.executable).with_name("uv")
    if not uv.exists():
        pytest.skip("uv is not installed in this environment (make installs it)")
    built = subprocess.run(
        [str(uv), "build", "--wheel", "--quiet", "-o", str(tmp_path / "dist"), str(PROVIDER.parent)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    if not any(name.endswith(".so") for name in names):
        pytest.skip(f"this machine could not compile the mapping: {built.stderr[-500:]}")
    assert "-py3-none-any" not in wheel.name  # a platform wheel, tagged for this interpreter
    for name in native.COMPILED_MODULES:
        assert any(entry.startswith(f"netskope_provider/ocsf/{name}.") and entry.endswith(".so") for entry in names)
        assert f"netskope_provider/ocsf/{name}.py" in names
    assert f"netskope_provider/ocsf/{native.MANIFEST}.py" in names

    zipfile.ZipFile(wheel).extractall(tmp_path / "installed")
    ran = _python(IMPLEMENTATION, path=tmp_path / "installed")
    implementation, common_file = ran.stdout.decode().splitlines()
    assert implementation == "compiled (mypyc)"
    assert common_file.startswith(str(tmp_path / "installed")) and common_file.endswith(".so")


def test_this_process_maps_with_the_implementation_it_reports() -> None:
    from netskope_provider.ocsf import common

    assert common.__file__.endswith(".py") != COMPILED
    counts = MapCounts()
    lines = [orjson.dumps(record) for record in generate("network", 50, 1_719_792_000, 1_719_878_400, 3)]
    assert len(list(map_lines(lines, "network", counts))) == 50
