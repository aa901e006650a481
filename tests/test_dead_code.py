"""No dead code in src/: every function, method and class is named somewhere besides its own definition.

A name counts as used when it occurs (as a word) anywhere in src/, tests/, scripts/ or bench/ other than the
``def`` / ``class`` line itself. Functions a registry finds through their decorator (``@register_loss``,
``@register_format``) are used by construction.
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


def unused_definitions() -> list[str]:
    files = [p for folder in ("src", "tests", "scripts", "bench") for p in (ROOT / folder).rglob("*.py")]
    counts: Counter[str] = Counter()
    for path in files:
        counts.update(WORD.findall(path.read_text(encoding="utf-8")))
    unused = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            if node.name.startswith("__") or _registered(node):
                continue
            if counts[node.name] <= 1:  # the definition itself
                unused.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    return unused


def test_every_definition_in_src_is_used() -> None:
    assert unused_definitions() == []

