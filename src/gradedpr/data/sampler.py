"""Training groups: per query N candidates with graded labels from that query's qrels.

Group layout (Tevatron-style "train group", extended to grades):
1. one document of the query's highest grade (drawn at random among them),
2. up to ``max_positives - 1`` other judged-relevant documents (any grade > 0, drawn at random),
3. negatives until the group has ``group_size`` documents: drawn from the negative source's top ``depth``
   candidates minus the query's relevant documents, topped up with random corpus documents.
Queries with no document of grade > 0 cannot form a group; they are skipped and counted.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from gradedpr.data.negatives import NegativeSource


@dataclass(frozen=True)
class TrainGroup:
    """One query's candidates; ``labels[i]`` is the query's grade of ``docids[i]`` (0 when unjudged)."""

    qid: str
    query: str
    docids: tuple[str, ...]
    labels: tuple[int, ...]


class GroupSampler:
    """Draws :class:`TrainGroup` batches; deterministic given the seed and the epoch."""

    def __init__(
        self,
        queries: Mapping[str, str],
        qrels: Mapping[str, Mapping[str, int]],
        corpus_ids: Sequence[str],
        negatives: NegativeSource,
        *,
        group_size: int = 8,
        max_positives: int = 1,
        seed: int = 0,
    ) -> None:
        if group_size < 2:
            raise ValueError(f"group_size must be >= 2 (a positive and a negative), got {group_size}")
        if not 1 <= max_positives <= group_size:
            raise ValueError(f"max_positives must be in [1, group_size], got {max_positives}")
        self.group_size = group_size
        self.max_positives = max_positives
        self.seed = seed
        self.negatives = negatives
        self.corpus_ids = corpus_ids  # indexed, never copied (an arrow-backed IdList stays in arrow)
        self.qrels = qrels
        self.queries = queries
        self.qids: list[str] = []
        self.skipped: list[str] = []
        for qid in sorted(qrels):
            if any(grade > 0 for grade in qrels[qid].values()) and qid in queries:
                self.qids.append(qid)
            else:
                self.skipped.append(qid)
        if not self.qids:
            raise ValueError("no training query has a relevant document (grade > 0): nothing to train on")

    def __len__(self) -> int:
        return len(self.qids)

    def group(self, qid: str, rng: random.Random) -> TrainGroup:
        """Sample the group of one query."""
        judged = self.qrels[qid]
        relevant = [d for d, g in sorted(judged.items()) if g > 0]
        top = max(judged[d] for d in relevant)
        first = rng.choice([d for d in relevant if judged[d] == top])
        others = [d for d in relevant if d != first]
        rng.shuffle(others)
        docids = [first, *others[: self.max_positives - 1]]
        chosen = set(docids)
        relevant_set = set(relevant)
        need = self.group_size - len(docids)
        pool = [d for d in self.negatives.candidates(qid) if d not in relevant_set and d not in chosen]
        picked = rng.sample(pool, min(need, len(pool)))
        docids += picked
        chosen.update(picked)
        # Top up at random; give up after a bounded number of draws on corpora with few non-relevant documents.
        attempts = 0
        while len(docids) < self.group_size and attempts < 50 * self.group_size:
            attempts += 1
            doc = self.corpus_ids[rng.randrange(len(self.corpus_ids))]
            if doc not in relevant_set and doc not in chosen:
                docids.append(doc)
                chosen.add(doc)
        labels = tuple(int(judged.get(d, 0)) for d in docids)
        return TrainGroup(qid, self.queries[qid], tuple(docids), labels)

    def batches(self, batch_size: int, epoch: int, start: int = 0) -> Iterator[list[TrainGroup]]:
        """Batches of one epoch (queries shuffled per epoch); ``start`` skips that many batches (resuming)."""
        order_rng = random.Random(f"{self.seed}-order-{epoch}")
        order = list(self.qids)
        order_rng.shuffle(order)
        for index, offset in enumerate(range(0, len(order), batch_size)):
            if index < start:
                continue
            rng = random.Random(f"{self.seed}-group-{epoch}-{index}")
            yield [self.group(qid, rng) for qid in order[offset : offset + batch_size]]
