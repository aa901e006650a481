"""The plain data types every package passes around, defined once."""

from __future__ import annotations

from typing import Literal

Run = dict[str, dict[str, float]]
"""A ranking per query: qid -> docid -> score (higher is better)."""

Qrels = dict[str, dict[str, int]]
"""Relevance judgments: qid -> docid -> integer grade (0 or negative = judged not relevant)."""

Kind = Literal["query", "passage"]
"""Which side of the dual encoder a text goes through."""

KINDS: tuple[Kind, ...] = ("query", "passage")
