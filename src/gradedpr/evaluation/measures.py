"""Measure names used across gradedpr and their trec_eval 9.0.8 equivalents.

=================  =====================================================================
name               trec_eval measure
=================  =====================================================================
``ndcg@K``         ``ndcg_cut.K``
``ndcg``           ``ndcg`` (no cutoff)
``recall@K``       ``recall.K``
``precision@K``    ``P.K``
``mrr@K``          ``recip_rank`` computed on the run cut to its top K (trec_eval order)
``mrr``            ``recip_rank``
``map@K``          ``map_cut.K``
``map``            ``map``
=================  =====================================================================

Names are parsed generically, so any positive cutoff works (``ndcg@7``). Relevance for the binary measures
(recall, precision, mrr, map) is trec_eval's default ``relevance_level`` 1: a document is relevant when its
grade is >= 1.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from gradedpr.config.schema import DEFAULT_MEASURES  # the evaluator's defaults, defined once

__all__ = ["DEFAULT_MEASURES", "KINDS", "Measure", "parse_measure", "parse_measures"]

KINDS = ("ndcg", "recall", "precision", "mrr", "map")
_NEEDS_CUTOFF = frozenset({"recall", "precision"})
_NAME = re.compile(r"(?P<kind>[a-z]+)(?:@(?P<cutoff>[0-9]+))?")


@dataclass(frozen=True)
class Measure:
    """A parsed measure name: its kind and optional rank cutoff (None = the whole ranking)."""

    name: str
    kind: str
    cutoff: int | None

    @property
    def trec_eval_name(self) -> str:
        """The pytrec_eval result key this measure corresponds to (``mrr@K`` has none: it is a cut run)."""
        if self.kind == "ndcg":
            return "ndcg" if self.cutoff is None else f"ndcg_cut_{self.cutoff}"
        if self.kind == "recall":
            return f"recall_{self.cutoff}"
        if self.kind == "precision":
            return f"P_{self.cutoff}"
        if self.kind == "map":
            return "map" if self.cutoff is None else f"map_cut_{self.cutoff}"
        return "recip_rank"


def parse_measure(name: str) -> Measure:
    """Parse ``kind`` or ``kind@K``; raise ``ValueError`` naming the accepted forms otherwise."""
    match = _NAME.fullmatch(name.strip())
    kind = match.group("kind") if match else ""
    if match is None or kind not in KINDS:
        raise ValueError(
            f"unknown measure {name!r}; use one of ndcg[@K], recall@K, precision@K, mrr[@K], map[@K]"
        )
    cutoff_text = match.group("cutoff")
    cutoff = int(cutoff_text) if cutoff_text is not None else None
    if cutoff is not None and cutoff < 1:
        raise ValueError(f"measure {name!r}: the cutoff must be >= 1")
    if cutoff is None and kind in _NEEDS_CUTOFF:
        raise ValueError(f"measure {name!r} needs a cutoff, e.g. {kind}@10")
    canonical = kind if cutoff is None else f"{kind}@{cutoff}"
    return Measure(name=canonical, kind=kind, cutoff=cutoff)


def parse_measures(names: str | Sequence[str]) -> list[Measure]:
    """Parse several names (a single comma-separated string also works), dropping repeats, keeping order."""
    items = names.split(",") if isinstance(names, str) else list(names)
    seen: dict[str, Measure] = {}
    for item in items:
        measure = parse_measure(item)
        seen.setdefault(measure.name, measure)
    if not seen:
        raise ValueError("no measure requested")
    return list(seen.values())
