"""Packaging: declared dependencies are exactly the imported ones, and a built wheel works on its own.

The wheel test builds vatrack the way `pip install .` does, installs the wheel into a fresh
virtual environment and trains a preset from a folder outside the repository. The new
environment borrows the already-installed third-party packages (a .pth line pointing at
this interpreter's site-packages: a plain path line, so the editable vatrack's own .pth in
there is not run), which keeps the test offline; vatrack itself must come from the wheel.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shutil
import site
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

from vatrack.data import make_official_like, write_csv_like_official

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "vatrack"
PRESETS = ("best", "v3.0", "v3.2", "v3.3", "v3.4")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _declared() -> set[str]:
    return {_normal(re.split(r"[<>=!~;\[ ]", dep, maxsplit=1)[0]) for dep in _pyproject()["project"]["dependencies"]}


def _imported_modules() -> dict[str, str]:
    """Top-level third-party module -> first file importing it, over every module of the package."""
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "vatrack" and top not in sys.stdlib_module_names:
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_dependencies_are_exactly_what_the_package_imports():
    providers = importlib.metadata.packages_distributions()
    declared = _declared()
    needed = set()
    for module, where in _imported_modules().items():
        dists = {_normal(d) for d in providers.get(module, [])}
        assert dists, f"{where} imports '{module}', which no installed distribution provides"
        assert dists & declared, f"{where} imports '{module}' ({', '.join(sorted(dists))}), not declared in pyproject"
        needed |= dists & declared
    assert declared - needed == set(), f"declared but never imported: {sorted(declared - needed)}"


def test_license_is_an_spdx_expression_and_the_build_backend_reads_it():
    project = _pyproject()
    assert project["project"]["license"] == "Apache-2.0"
    assert "setuptools>=77" in project["build-system"]["requires"]  # first setuptools with PEP 639
    # The licence text itself: at the root, and named for the sdist and the wheel.
    assert project["project"]["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text


def test_presets_have_one_home_inside_the_package():
    from vatrack.models.presets import PACKAGE_PRESETS, available_presets, preset_path

    assert PACKAGE_PRESETS == SRC / "presets"
    assert set(PRESETS) <= set(available_presets())
    assert all(preset_path(name).parent == PACKAGE_PRESETS for name in PRESETS)
    copies = [p for p in ROOT.rglob("*.yaml") if p.stem in PRESETS and p.parent != PACKAGE_PRESETS
              and ".venv" not in p.parts and "build" not in p.parts]
    assert copies == [], f"a second copy of the presets: {copies}"


def test_no_reference_to_documents_the_repository_lacks():
    # The project's files explain themselves; nothing points at a design document that is not here.
    offenders = []
    for path in [*ROOT.glob("*.md"), *(ROOT / "docs").rglob("*.md"), *SRC.rglob("*.py"), *SRC.rglob("*.yaml"),
                 *(ROOT / "tests").rglob("*.py"), ROOT / "pyproject.toml"]:
        if path == Path(__file__).resolve():
            continue
        if "DESIGN.md" in path.read_text(encoding="utf-8"):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def _build_wheel(tmp_path: Path) -> Path:
    # Offline: the build uses this environment's setuptools (the dev extra pins >= 77).
    setuptools_version = importlib.metadata.version("setuptools")
    assert int(setuptools_version.split(".")[0]) >= 77, f"setuptools {setuptools_version}: pip install -e '.[dev]'"
    # Build from a clean copy, so the repository gets no build/ or egg-info folder.
    tree = tmp_path / "tree"
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        tree.mkdir(exist_ok=True)
        shutil.copy2(ROOT / name, tree / name)
    shutil.copytree(ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"))
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                    "-w", str(dist), str(tree)], check=True, capture_output=True, text=True)
    (wheel,) = dist.glob("vatrack-*.whl")
    return wheel


@pytest.mark.slow
def test_installed_wheel_trains_a_preset_from_another_folder(tmp_path, tiny_bert_dir):
    wheel = _build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"vatrack/presets/{p}.yaml" for p in PRESETS} <= names
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "License-Expression: Apache-2.0" in text and "sentence-transformers" not in text
    assert "License-File: LICENSE" in text and any(n.endswith(".dist-info/licenses/LICENSE") for n in names)

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    purelib = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  check=True, capture_output=True, text=True).stdout.strip())
    # Borrow the installed third-party packages (appended after the venv's own site-packages).
    (purelib / "_borrowed_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(VATRACK_CACHE=str(tmp_path / "cache"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               OMP_NUM_THREADS="1", PIP_NO_INDEX="1")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, capture_output=True, text=True, env=env)

    work = tmp_path / "elsewhere"
    work.mkdir()
    train, _ = make_official_like(n_users=10, seed=5)
    write_csv_like_official(train, work / "train.csv")

    def run(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([*args], cwd=work, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        return done

    where = run(str(python), "-c", "import vatrack; print(vatrack.__file__); print(vatrack.__version__)").stdout.split()
    assert Path(where[0]).is_relative_to(env_dir), where  # the wheel's vatrack, not the editable one
    assert where[1] == importlib.metadata.version("vatrack") == _pyproject()["project"]["version"]
    assert run(str(env_dir / "bin" / "vatrack"), "--version").stdout.strip() == f"vatrack {where[1]}"
    run(str(env_dir / "bin" / "vatrack"), "train", "--data", "train.csv", "--preset", "v3.3", "--out", "run",
        "--val", "none", "--encoder", str(tiny_bert_dir), "--set", "epochs=1")
    assert (work / "run" / "model" / "model.json").exists() or any((work / "run").rglob("model.json"))
    assert "name: v3.3" in (work / "run" / "config.yaml").read_text()
