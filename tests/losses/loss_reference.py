"""Brute-force reference losses written with plain Python loops (one list, one item or pair at a time).

Independent of :mod:`gradedpr.losses`: only ``math`` on Python floats. Each ``ref_*`` takes nested lists
``scores[b][i]``, ``labels[b][i]``, ``mask[b][i]`` and returns a float computed by the common reduction rule
(mean over valid lists; 0 when no list is valid).

Each reference is registered for the loss it checks with ``@reference("<loss name>", {hyper-parameters}, ...)``:
tests/losses/test_loss_values.py runs every registered loss against its cases, and fails for a registered loss
without one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Row = Sequence[float]
Reference = Callable[..., float]


@dataclass(frozen=True)
class ReferenceCase:
    """Loss ``loss`` with ``kwargs`` (also given to the reference) and ``loss_only`` (given to the loss alone)."""

    loss: str
    kwargs: dict[str, Any]
    reference: Reference
    loss_only: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return "-".join([self.loss, *(f"{k}={v}" for k, v in self.kwargs.items())])


REFERENCES: dict[str, list[ReferenceCase]] = {}
"""Loss name -> the hyper-parameter settings checked against its brute-force reference."""


def reference(
    loss: str, *cases: dict[str, Any], loss_only: dict[str, Any] | None = None
) -> Callable[[Reference], Reference]:
    """Register the decorated function as the reference of ``loss``, checked at each of ``cases``
    (default: the loss's defaults alone); ``loss_only`` settings make the loss deterministic, e.g. a tie rule."""

    def register(fn: Reference) -> Reference:
        REFERENCES.setdefault(loss, []).extend(
            ReferenceCase(loss, dict(kwargs), fn, dict(loss_only or {})) for kwargs in (cases or ({},))
        )
        return fn

    return register


def gain_of(grade: float, gain: str) -> float:
    g = max(grade, 0.0)
    return g if gain == "linear" else 2.0**g - 1.0


def valid_items(scores: Row, labels: Row, mask: Sequence[bool]) -> tuple[list[float], list[float]]:
    s = [float(x) for x, m in zip(scores, mask, strict=True) if m]
    y = [float(x) for x, m in zip(labels, mask, strict=True) if m]
    return s, y


def log_softmax(values: list[float]) -> list[float]:
    top = max(values)
    lse = top + math.log(sum(math.exp(v - top) for v in values))
    return [v - lse for v in values]


def logsumexp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def dcg(gains_in_rank_order: list[float], k: int | None = None) -> float:
    total = 0.0
    for r, g in enumerate(gains_in_rank_order, start=1):
        if k is not None and r > k:
            break
        total += g / math.log2(r + 1)
    return total


def exact_ndcg(s: list[float], y: list[float], gain: str, k: int | None = None) -> float:
    """Exact NDCG of one list (distinct scores assumed), ideal from the list itself."""
    order = sorted(range(len(s)), key=lambda i: -s[i])
    ideal = dcg(sorted((gain_of(v, gain) for v in y), reverse=True), k)
    return dcg([gain_of(y[i], gain) for i in order], k) / ideal if ideal > 0 else 0.0


def reduce(per_list: list[float | None]) -> float:
    kept = [v for v in per_list if v is not None]
    return sum(kept) / len(kept) if kept else 0.0


PerList = Callable[[list[float], list[float]], "float | None"]


def apply(per_list: PerList, scores: Sequence[Row], labels: Sequence[Row], mask: Sequence[Sequence[bool]]) -> float:
    values = []
    for srow, yrow, mrow in zip(scores, labels, mask, strict=True):
        s, y = valid_items(srow, yrow, mrow)
        values.append(per_list(s, y) if s else None)
    return reduce(values)


# ---------------------------------------------------------------- losses, one list at a time


@reference("nll", {"positive": "first_max"}, {"positive": "all"})
def ref_nll(
    scores: Sequence[Row], labels: Sequence[Row], mask: Sequence[Sequence[bool]], positive: str = "first_max"
) -> float:
    def one(s: list[float], y: list[float]) -> float | None:
        if max(y) <= 0:
            return None
        lp = log_softmax(s)
        if positive == "all":
            return -logsumexp([lp[i] for i in range(len(s)) if y[i] > 0])
        best = max(y)
        first = next(i for i in range(len(s)) if y[i] == best)
        return -lp[first]

    return apply(one, scores, labels, mask)


@reference("listnet", {}, {"gain": "linear"}, {"target": "softmax"})
def ref_listnet(
    scores: Sequence[Row],
    labels: Sequence[Row],
    mask: Sequence[Sequence[bool]],
    gain: str = "exp2",
    target: str = "gain",
) -> float:
    def one(s: list[float], y: list[float]) -> float | None:
        if max(y) <= 0:
            return None
        lp = log_softmax(s)
        if target == "gain":
            g = [gain_of(v, gain) for v in y]
            t = [v / sum(g) for v in g]
        else:
            t = [math.exp(v) for v in log_softmax(y)]
        return -sum(ti * li for ti, li in zip(t, lp, strict=True))

    return apply(one, scores, labels, mask)


@reference("xe_ndcg", {"gamma": 0.3}, {"gamma": 0.7, "gain": "linear"})
def ref_xe_ndcg(
    scores: Sequence[Row],
    labels: Sequence[Row],
    mask: Sequence[Sequence[bool]],
    gamma: float,
    gain: str = "exp2",
) -> float:
    def one(s: list[float], y: list[float]) -> float | None:
        if max(y) <= 0:
            return None
        lp = log_softmax(s)
        w = [gain_of(v, gain) + 1.0 - gamma for v in y]
        return -sum(wi / sum(w) * li for wi, li in zip(w, lp, strict=True))

    return apply(one, scores, labels, mask)


@reference("listmle", {}, {"k": 3}, {"relevant_only": True}, loss_only={"tie_break": "index"})
def ref_listmle(
    scores: Sequence[Row],
    labels: Sequence[Row],
    mask: Sequence[Sequence[bool]],
    k: int | None = None,
    relevant_only: bool = False,
) -> float:
    """Ties in labels broken by column order (the loss's ``tie_break="index"``)."""

    def one(s: list[float], y: list[float]) -> float | None:
        if max(y) <= 0:
            return None
        order = sorted(range(len(s)), key=lambda i: -max(y[i], 0.0))  # stable; grades <= 0 tie
        total = 0.0
        for pos, i in enumerate(order):
            if k is not None and pos >= k:
                break
            if relevant_only and y[i] <= 0:
                continue
            rest = [s[j] for j in order[pos:]]
            total += logsumexp(rest) - s[i]
        return total

    return apply(one, scores, labels, mask)


@reference("approx_ndcg", {}, {"k": 3, "temperature": 0.5, "gain": "linear", "cutoff_temperature": 0.2})
def ref_approx_ndcg(
    scores: Sequence[Row],
    labels: Sequence[Row],
    mask: Sequence[Sequence[bool]],
    temperature: float = 1.0,
    gain: str = "exp2",
    k: int | None = None,
    cutoff_temperature: float = 0.5,
) -> float:
    def one(s: list[float], y: list[float]) -> float | None:
        g = [gain_of(v, gain) for v in y]
        ideal = dcg(sorted(g, reverse=True), k)
        if ideal <= 0:
            return None
        total = 0.0
        for i in range(len(s)):
            rank = 1.0 + sum(sigmoid((s[j] - s[i]) / temperature) for j in range(len(s)) if j != i)
            weight = 1.0 if k is None else sigmoid((k + 0.5 - rank) / cutoff_temperature)
            total += weight * g[i] / math.log2(1.0 + rank)
        return 1.0 - total / ideal

    return apply(one, scores, labels, mask)


@reference("ranknet", {}, {"sigma": 2.0})
def ref_ranknet(
    scores: Sequence[Row], labels: Sequence[Row], mask: Sequence[Sequence[bool]], sigma: float = 1.0
) -> float:
    def one(s: list[float], y: list[float]) -> float | None:
        terms = [
            -log_sigmoid(sigma * (s[i] - s[j]))
            for i in range(len(s))
            for j in range(len(s))
            if max(y[i], 0) > max(y[j], 0)
        ]
        return sum(terms) / len(terms) if terms else None

    return apply(one, scores, labels, mask)


@reference(
    "lambdaloss",
    *(
        case
        for weighting in ("ndcg_loss1", "ndcg_loss2", "ndcg_loss2pp", "lambdarank", "ranknet")
        for case in (
            {"weighting": weighting},
            {"weighting": weighting, "k": 3, "gain": "linear", "sigma": 0.5, "mu": 3.0},
        )
    ),
)
def ref_lambdaloss(
    scores: Sequence[Row],
    labels: Sequence[Row],
    mask: Sequence[Sequence[bool]],
    weighting: str = "ndcg_loss2pp",
    gain: str = "exp2",
    k: int | None = None,
    sigma: float = 1.0,
    mu: float = 10.0,
) -> float:
    """Distinct scores assumed (predicted ranks unambiguous)."""

    def one(s: list[float], y: list[float]) -> float | None:
        n = len(s)
        order = sorted(range(n), key=lambda i: -s[i])
        rank = [0] * n
        for pos, i in enumerate(order, start=1):
            rank[i] = pos
        g_raw = [gain_of(v, gain) for v in y]
        ideal = dcg(sorted(g_raw, reverse=True), k)
        if ideal <= 0:
            return None
        g = [v / ideal for v in g_raw]

        def inv_d(r: float) -> float:
            return 0.0 if (k is not None and r > k) else 1.0 / math.log2(1.0 + r)

        total = 0.0
        pairs = 0
        for i in range(n):
            for j in range(n):
                if not max(y[i], 0) > max(y[j], 0):
                    continue
                if k is not None and rank[i] > k and rank[j] > k:
                    continue
                pairs += 1
                gap = abs(rank[i] - rank[j])
                delta = abs(1.0 / math.log2(1.0 + gap) - 1.0 / math.log2(2.0 + gap))
                lrank = abs(inv_d(rank[i]) - inv_d(rank[j])) * abs(g[i] - g[j])
                if weighting == "ndcg_loss1":
                    w = g[i] * inv_d(rank[i])
                elif weighting == "ndcg_loss2":
                    w = delta * abs(g[i] - g[j])
                elif weighting == "ndcg_loss2pp":
                    w = mu * delta * abs(g[i] - g[j]) + lrank
                elif weighting == "lambdarank":
                    w = lrank
                else:
                    w = 1.0
                total += -w * log_sigmoid(sigma * (s[i] - s[j])) / math.log(2.0)
        return total if pairs else None

    return apply(one, scores, labels, mask)


@reference("graded_infonce", {}, {"gain": "linear"})
def ref_graded_infonce(
    scores: Sequence[Row], labels: Sequence[Row], mask: Sequence[Sequence[bool]], gain: str = "exp2"
) -> float:
    def one(s: list[float], y: list[float]) -> float | None:
        pos = [i for i in range(len(s)) if y[i] > 0]
        if not pos:
            return None
        neg = [s[j] for j in range(len(s)) if y[j] <= 0]
        g = {i: gain_of(y[i], gain) for i in pos}
        total_g = sum(g.values())
        loss = 0.0
        for i in pos:
            denom = logsumexp([s[i], *neg])
            loss += -(g[i] / total_g) * (s[i] - denom)
        return loss

    return apply(one, scores, labels, mask)


@reference("neural_ndcg", {}, {"k": 3, "temperature": 0.3, "gain": "linear"}, {"max_iter": 0})
def ref_neural_ndcg(
    scores: Sequence[Row],
    labels: Sequence[Row],
    mask: Sequence[Sequence[bool]],
    temperature: float = 1.0,
    gain: str = "exp2",
    k: int | None = None,
    max_iter: int = 50,
    tol: float = 1e-6,
) -> float:
    """NeuralSort matrix by its definition (explicit |s_i - s_j| matrix), Sinkhorn in plain floats."""

    def one(s: list[float], y: list[float]) -> float | None:
        n = len(s)
        g = [gain_of(v, gain) for v in y]
        ideal = dcg(sorted(g, reverse=True), k)
        if ideal <= 0:
            return None
        row_abs = [sum(abs(s[j] - s[m]) for m in range(n)) for j in range(n)]
        logits = [[((n + 1 - 2 * r) * s[j] - row_abs[j]) / temperature for j in range(n)] for r in range(1, n + 1)]
        p = [[math.exp(v) for v in log_softmax(row)] for row in logits]
        for _ in range(max_iter):
            col = [sum(p[r][j] for r in range(n)) for j in range(n)]
            if max(abs(c - 1.0) for c in col) < tol:
                break
            p = [[p[r][j] / col[j] for j in range(n)] for r in range(n)]
            row = [sum(p[r]) for r in range(n)]
            p = [[p[r][j] / row[r] for j in range(n)] for r in range(n)]
        total = 0.0
        for r in range(n):
            if k is not None and r + 1 > k:
                break
            total += sum(p[r][j] * g[j] for j in range(n)) / math.log2(r + 2)
        return 1.0 - total / ideal

    return apply(one, scores, labels, mask)
