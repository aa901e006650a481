"""commands/ is wiring: no function there grows past 60 lines (regime-specific preparation lives in train/)."""

from __future__ import annotations

import ast
from pathlib import Path

import gradedpr

COMMANDS = Path(gradedpr.__file__).parent / "commands"
MAX_LINES = 60


def test_no_long_function_in_commands() -> None:
    long = []
    for path in sorted(COMMANDS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_LINES:
                    long.append(f"{path.name}:{node.lineno} {node.name} ({lines} lines)")
    assert long == []
