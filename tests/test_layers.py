"""The folders are the layers: model/ is pure, and each layer imports only those below
it (model < local < remote < ops < cli), checked on the source and at run time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "manifestor"
# What each layer may import from the package (besides itself, errors and __version__).
ALLOWED = {
    "model": set(),
    "local": {"model"},
    "remote": {"model", "local"},
    "ops": {"model", "local", "remote"},
    "cli": {"model", "local", "remote", "ops"},
}
# Modules that reach the network, the disk or other processes: never in model/.
IO_MODULES = {
    "requests", "urllib3", "socket", "ssl", "http", "subprocess", "tarfile", "shutil",
    "tempfile", "os", "pathlib", "fcntl", "typer", "rich", "click",
}  # fmt: skip


def _modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).glob("*.py"))


def _runtime_imports(path: Path) -> set[str]:
    """Modules imported when the file runs (imports under TYPE_CHECKING are for types)."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_the_layers_below(layer):
    wrong = []
    for path in _modules(layer):
        for name in _runtime_imports(path):
            parts = name.split(".")
            if parts[0] != "manifestor" or len(parts) < 2 or parts[1] in ("errors", layer):
                continue
            if parts[1] not in ALLOWED[layer]:
                wrong.append(f"{path.name} imports {name}")
    assert wrong == []


def test_model_imports_nothing_that_does_io():
    wrong = [
        f"{path.name} imports {name}"
        for path in _modules("model")
        for name in _runtime_imports(path)
        if name.split(".")[0] in IO_MODULES
    ]
    assert wrong == []


def test_model_loads_no_io_module_at_run_time():
    modules = " ".join(f"manifestor.model.{p.stem}" for p in _modules("model"))
    code = (
        f"import importlib, sys\nfor m in {modules.split()!r}: importlib.import_module(m)\n"
        "print('\\n'.join(sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    forbidden = {"requests", "urllib3", "subprocess", "tarfile", "typer", "rich"}
    for prefix in ("manifestor.remote", "manifestor.local", "manifestor.ops", "manifestor.cli"):
        assert not [m for m in loaded if m.startswith(prefix)]
    assert forbidden.isdisjoint(loaded)


def test_ops_neither_prints_nor_parses_arguments():
    wrong = [
        f"{path.name}: {name}"
        for path in _modules("ops")
        for name in _runtime_imports(path)
        if name.split(".")[0] in ("typer", "rich", "click")
    ]
    printing = [p.name for p in _modules("ops") if "print(" in p.read_text()]
    assert wrong == [] and printing == []
