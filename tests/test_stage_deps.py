"""Every project module a stage's command imports is among that stage's dvc.yaml deps.

A module missing from a stage's deps means that a change to it re-runs nothing and DVC serves a
stale result. The imports are read from the source (every ``import``, function-level ones
included), from the stage's entry module down; ``models.get(name)`` imports ``models/<name>.py``
by name, so the architecture a stage names is added to what it imports. The models take from
the library only its error types and settings base, and every list of architectures is the registry's.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml
from dvc.repo import Repo

import models
from actionrec.evaluate import entries

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("stages", "actionrec", "models")


def module_file(name: str) -> Path | None:
    path = ROOT.joinpath(*name.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def imported_names(path: Path) -> set[str]:
    """Project modules (and names that may be modules) that ``path`` imports anywhere in its body."""
    package = path.relative_to(ROOT).parent.parts
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = (
                ".".join([*package[: len(package) - node.level + 1], *([node.module] if node.module else [])])
                if node.level
                else node.module
            )
            names |= {base, *(f"{base}.{alias.name}" for alias in node.names)}
    return {name for name in names if name.split(".")[0] in PACKAGES}


def imported_files(*modules: str) -> set[str]:
    """The project files that importing ``modules`` loads (parents' ``__init__`` included)."""
    seen: set[Path] = set()
    todo = list(modules)
    while todo:
        parts = todo.pop().split(".")
        for depth in range(1, len(parts) + 1):
            path = module_file(".".join(parts[:depth]))
            if path is not None and path not in seen:
                seen.add(path)
                todo.extend(imported_names(path))
    return {path.relative_to(ROOT).as_posix() for path in seen}


def uncovered(files: set[str], deps: list[str]) -> set[str]:
    """The files no dep names, itself or as a folder above it."""
    # __init__ files of these packages carry no stage logic (stages/, actionrec/: docstrings only)
    files = files - {"stages/__init__.py", "actionrec/__init__.py"}
    return {file for file in files if not any(file == dep or file.startswith(dep.rstrip("/") + "/") for dep in deps)}


def named_architecture(stage_name: str) -> list[str]:
    """The ``models/<name>.py`` that ``models.get`` imports for this stage (train@ and evaluate@ an architecture)."""
    _, _, key = stage_name.partition("@")
    return [f"models.{key}"] if key in models.ARCHITECTURES else []


def stages() -> list:
    with Repo(str(ROOT)) as repo:
        return [(stage.addressing, stage.cmd, [dep.def_path for dep in stage.deps]) for stage in repo.index.stages]


STAGES = stages()


@pytest.mark.parametrize(("name", "cmd", "deps"), STAGES, ids=[name for name, _, _ in STAGES])
def test_stage_depends_on_every_module_it_imports(name, cmd, deps):
    entry = sorted(set(re.findall(r"python -m (stages\.\w+)", cmd)))
    assert entry, f"{name}: no `python -m stages.<module>` in its cmd {cmd!r}"
    assert uncovered(imported_files(*entry, *named_architecture(name)), deps) == set(), (
        f"{name} imports these files but does not depend on them"
    )


def test_the_report_and_the_ensemble_import_no_model_module():
    # They read files (predictions, metrics), so `-S model=<name>` changes only their data deps
    for entry in ("stages.report", "stages.leaderboard", "stages.ensemble", "stages.select_model"):
        architectures = {f"models/{arch}.py" for arch in models.ARCHITECTURES}
        assert imported_files(entry) & architectures == set(), entry
    deps = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["report"]["deps"]
    assert [dep for dep in deps if "${model}" in dep and dep.startswith("models/")] == []


def test_the_import_reader_sees_function_level_imports():
    # stages/train.py imports `models` inside main(); the models package must be found through it
    assert "models/__init__.py" in imported_files("stages.train")
    assert {"models/two_stream.py", "models/blocks.py", "actionrec/errors.py"} <= imported_files("models.two_stream")


def test_models_import_only_the_configuration_base_of_the_library():
    # The arrows run one way: the library builds models, a model never calls back into the library;
    # it takes the error types and the typed-settings base (which imports no model) and nothing else.
    for path in sorted((ROOT / "models").glob("*.py")):
        library = {file for file in imported_files(f"models.{path.stem}") if file.startswith("actionrec/")}
        assert library <= {"actionrec/__init__.py", "actionrec/errors.py", "actionrec/config.py"}, f"{path.name} imports {sorted(library)}"
    assert not {file for file in imported_files("actionrec.config") if file.startswith("models/")}


def test_every_list_of_architectures_is_the_registry():
    # models.ARCHITECTURES is the list; params.yaml and dvc.yaml must spell the same names, in its order
    pipeline = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    names = list(models.ARCHITECTURES)
    assert list(params["architectures"]) == names, "params.yaml architectures"
    assert list(pipeline["evaluate"]["foreach"]) == [*names, entries.ENSEMBLE], "dvc.yaml evaluate foreach"
    ensemble_deps = pipeline["ensemble"]["deps"]
    assert [d.split("/")[-1][: -len(".csv")] for d in ensemble_deps if d.startswith("data/predictions/")] == names
    assert [d.split("/")[-1] for d in ensemble_deps if d.startswith("data/models/")] == names
    assert set(params["ensemble"]["members"]) <= set(names)
