"""The package layering of docs/ARCHITECTURE.md, checked on the source: every ``gradedpr`` import (module level
or inside a function) goes only to a package below the importing one, so data flows one way."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "gradedpr"

BASE = {"errors", "types", "filenames", "config"}  # config: the settings schema (imports only errors)
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "types": set(),
    "filenames": set(),
    "utils": {"errors"},
    "config": {"errors", "types", "filenames"},
    "accel": set(),
    "data": BASE | {"utils"},
    "model": BASE | {"utils"},
    "losses": BASE,
    "encode": BASE | {"utils", "accel", "data", "model"},
    "index": BASE | {"utils", "data", "model", "encode"},
    "evaluation": BASE | {"utils", "data"},
    "train": BASE | {"utils", "data", "model", "losses", "encode", "index", "evaluation"},
    "export": BASE | {"utils", "model", "encode"},
    "study": BASE | {"utils", "data", "model", "encode", "index", "evaluation"},
    "commands": BASE | {"utils", "accel", "data", "model", "losses", "encode", "index", "evaluation", "train",
                        "export"},
}


def package_of(path: Path) -> str:
    relative = path.relative_to(SRC)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imported_packages(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "gradedpr" else [
                f"gradedpr.{a.name}" for a in node.names if a.name != "__version__"]  # the package's own version
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found |= {name.split(".")[1] for name in names if name.startswith("gradedpr.")}
    return found


MODULES = sorted(p for p in SRC.rglob("*.py") if p.name != "__init__.py" or p.parent != SRC)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_go_only_down_the_layers(path: Path) -> None:
    package = package_of(path)
    assert package in ALLOWED, f"{package} is a new package: give it a place in ALLOWED and docs/ARCHITECTURE.md"
    upward = imported_packages(path) - ALLOWED[package] - {package}
    assert not upward, f"{path.relative_to(SRC)} imports {sorted(upward)}, which {package} must not depend on"


def test_the_allowed_graph_has_no_cycle() -> None:
    done: set[str] = set()

    def visit(package: str, stack: tuple[str, ...]) -> None:
        assert package not in stack, f"cycle: {' -> '.join((*stack, package))}"
        if package not in done:
            for dependency in ALLOWED[package]:
                visit(dependency, (*stack, package))
            done.add(package)

    for package in ALLOWED:
        visit(package, ())


# ---------------------------------------------------------------- docs/ARCHITECTURE.md's package table

ARCHITECTURE = SRC.parents[1] / "docs" / "ARCHITECTURE.md"
BELOW_EVERYTHING = {"errors", "types", "filenames"}  # modules any package may import; the table leaves them out
PACKAGES = sorted(p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").is_file())


def documented_dependencies(text: str) -> dict[str, set[str]]:
    """``package -> set of packages`` from the ``| package | owns | depends on |`` table: every package name in
    the last column (``everything above`` = the packages of the rows above), ``errors`` / ``types`` /
    ``filenames`` left out."""
    table: dict[str, set[str]] = {}
    known = set(PACKAGES) | BELOW_EVERYTHING
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`") or not cells[0].endswith("/`"):
            continue
        package, column = cells[0].strip("`/"), cells[2]
        named = {word for word in re.findall(r"[a-z_]+", column) if word in known}
        if "everything above" in column:
            named |= set(table)
        table[package] = named - BELOW_EVERYTHING
    return table


@functools.cache
def real_dependencies() -> dict[str, set[str]]:
    real: dict[str, set[str]] = {package: set() for package in PACKAGES}
    for path in MODULES:
        package = package_of(path)
        if package in real:
            real[package] |= imported_packages(path) - {package} - BELOW_EVERYTHING
    return real


def test_the_architecture_table_has_a_row_per_package() -> None:
    assert sorted(documented_dependencies(ARCHITECTURE.read_text(encoding="utf-8"))) == PACKAGES


@pytest.mark.parametrize("package", PACKAGES)
def test_the_architecture_table_names_the_real_dependencies(package: str) -> None:
    documented = documented_dependencies(ARCHITECTURE.read_text(encoding="utf-8")).get(package)
    real = real_dependencies()[package]
    assert documented == real, (f"docs/ARCHITECTURE.md says {package}/ depends on {sorted(documented or [])}; "
                                f"its imports are {sorted(real)}")


def test_the_table_parser_reads_names_and_everything_above() -> None:
    text = "| `a/` | x | nothing |\n| `data/` | owns `utils` | utils, errors |\n| `model/` | y | everything above |\n"
    assert documented_dependencies(text) == {"a": set(), "data": {"utils"}, "model": {"a", "data"}}
