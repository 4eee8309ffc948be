"""Imports go one way: ``ingest`` ← ``app`` ← ``evals``, with the ``legalqa`` command above all three.

Checked by parsing every module's source with ``ast`` (nothing is imported), so a lazy import
inside a function and a module named as a string for ``importlib.import_module`` count too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("ingest", "app", "evals", "legalqa")
# What each package must never name (the layers above it).
FORBIDDEN = {"ingest": ("app", "evals", "legalqa"), "app": ("evals", "legalqa"), "evals": ("legalqa",)}
# `python -m app` hands over to the command above the layers; that is its only job.
ALLOWED = {("app/__main__.py", "legalqa")}
_MODULE_STRING = re.compile(r"^[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*$")
_LAYER_PACKAGES = ("ingest", "app", "evals")
_DYNAMIC_IMPORTERS = {"import_module", "__import__", "find_spec", "run_module"}


def _package_of(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1])  # the package a module (or an __init__) sits in


def named_modules(path: Path) -> set[str]:
    """Every module ``path`` imports or names as a dotted string (absolute, relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package_of(path).split(".")
                base = base[: len(base) - node.level + 1]
                names.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                names.add(node.module)
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in _DYNAMIC_IMPORTERS and node.args and isinstance(node.args[0], ast.Constant):
                names.add(str(node.args[0].value))
        elif _names_a_layer_module(node):
            # A layer's module named in a table for a later import_module.  Bare "legalqa" strings are
            # the product's name (logger names, prog names), so only imports of it count.
            names.add(node.value)
    return names


def _names_a_layer_module(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and bool(_MODULE_STRING.match(node.value))
        and node.value.split(".")[0] in _LAYER_PACKAGES
    )


def _modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def violations(package: str) -> list[str]:
    out = []
    for path in _modules(package):
        rel = path.relative_to(ROOT).as_posix()
        for name in sorted(named_modules(path)):
            top = name.split(".")[0]
            if top in FORBIDDEN.get(package, ()) and (rel, top) not in ALLOWED:
                out.append(f"{rel} names {name}")
    return out


@pytest.mark.parametrize("package", ["ingest", "app", "evals"])
def test_no_layer_names_a_layer_above_it(package: str) -> None:
    assert _modules(package), f"no modules found under {package}/"
    assert violations(package) == []


def test_the_checker_sees_lazy_and_string_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import importlib\n"
        "def f():\n"
        "    from evals.run import evaluate\n"
        "    importlib.import_module('evals.bench')\n"
        "TABLE = {'eval': ('evals.cli', 'score answers')}\n"
        "'''A docstring that mentions evals.run in a sentence is not an import.'''\n"
    )
    names = named_modules(module)
    assert {"evals.run", "evals.bench", "evals.cli"} <= names
    assert not any("docstring" in n for n in names)


def test_the_command_dispatches_every_layer() -> None:
    """The command above the layers is where ``eval``/``bench``/``train`` are named."""
    from legalqa.cli import SUBCOMMANDS

    tops = {module.split(".")[0] for module, _help in SUBCOMMANDS.values()}
    assert tops == {"ingest", "app", "evals"}
