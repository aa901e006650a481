"""No dead code in src/: every function, method and class is named somewhere besides its own definition.

A name counts as used when it occurs (as a word) anywhere in src/, tests/, scripts/ or bench/ other than the
``def`` / ``class`` line itself. Functions a registry finds through their decorator (``@register_loss``,
``@register_format``) are used by construction, and so are the methods of a class that subclasses a library
class (the library calls them by name).
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "gradedpr"
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _registered(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> bool:
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name.startswith("register"):
            return True
    return False


def _library_hooks(path: Path, tree: ast.Module, ours: set[str]) -> set[ast.AST]:
    """Methods a library calls by name: those of a class subclassing a library class (e.g. a transformers
    ``TrainerCallback``) that override an attribute of one of its bases. Module-level classes are imported to
    check; a class defined inside a function cannot be, and all its methods count as hooks."""
    import importlib

    module_name = ".".join(path.relative_to(ROOT / "src").with_suffix("").parts)
    hooks: set[ast.AST] = set()
    top = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        bases = {b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "") for b in node.bases}
        if not bases - ours - {"object", "Protocol", "Generic", ""}:
            continue
        methods = [n for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        if node.name not in top:
            hooks.update(methods)
            continue
        cls = getattr(importlib.import_module(module_name), node.name)
        hooks.update(m for m in methods if any(hasattr(base, m.name) for base in cls.__mro__[1:]))
    return hooks


def unused_definitions() -> list[str]:
    files = [p for folder in ("src", "tests", "scripts", "bench") for p in (ROOT / folder).rglob("*.py")]
    counts: Counter[str] = Counter()
    for path in files:
        counts.update(WORD.findall(path.read_text(encoding="utf-8")))
    unused = []
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in sorted(SRC.rglob("*.py"))}
    ours = {n.name for tree in trees.values() for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
    for path, tree in trees.items():
        hooks = _library_hooks(path, tree, ours)
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            if node.name.startswith("__") or _registered(node) or node in hooks:
                continue
            if counts[node.name] <= 1:  # the definition itself
                unused.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    return unused


def test_every_definition_in_src_is_used() -> None:
    assert unused_definitions() == []

