"""The passage collection: a memory-mapped HF ``datasets.Dataset`` with columns ``_id``, ``title``, ``text``.

Nothing per passage lives in Python while a corpus is encoded: the ids are an :class:`~gradedpr.data.ids.IdList`
over the ``_id`` column of the memory-mapped arrow file (zero-copy), titles and texts stay in that file and
are read on demand, so a corpus far larger than RAM can be encoded in streaming batches. The id -> row dict
that :meth:`Corpus.row` and ``in`` need (training, qrels validation, evaluation) is built on first use.
Pages of the arrow file that a pass over the corpus has read can be dropped from the process again with
:meth:`Corpus.release_pages` (streaming encoding does so after every chunk).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import datasets
import pyarrow as pa

from gradedpr.data.ids import IdList
from gradedpr.errors import DataError
from gradedpr.utils.mapped import release_mapped_pages

COLUMNS = ("_id", "title", "text")


def passage_text(title: str | None, text: str | None) -> str:
    """The string a passage is encoded as: ``"{title} {text}"`` stripped (an empty title adds nothing)."""
    return f"{title or ''} {text or ''}".strip()


class Corpus:
    """Passages backed by an HF ``datasets.Dataset`` (columns ``_id``, ``title``, ``text``; memory-mapped).

    ``fingerprint`` identifies the content (the cache key of the source files); caches built from a corpus,
    such as an encoded matrix, can be keyed on it. ``ids`` (row order) is an :class:`~gradedpr.data.ids.IdList`
    over the arrow ``_id`` column; ids are unique (checked in arrow at construction: DataError naming one).
    """

    dataset: datasets.Dataset
    ids: IdList
    fingerprint: str

    def __init__(self, dataset: datasets.Dataset, fingerprint: str = "") -> None:
        missing = [column for column in COLUMNS if column not in dataset.column_names]
        if missing:
            raise DataError(f"corpus dataset lacks column(s) {missing}; it has {dataset.column_names}")
        if dataset._indices is not None:  # a select()/shuffle() view: materialise the row order
            dataset = dataset.flatten_indices()
        self.dataset = dataset
        self.fingerprint = fingerprint or dataset._fingerprint
        table: pa.Table = dataset.with_format("arrow")[:]
        self._titles = table.column("title")
        self._texts = table.column("text")
        try:
            self.ids = IdList(table.column("_id"))
        except ValueError as exc:
            raise DataError(f"corpus has a missing document id: {exc}") from None
        duplicate = self.ids.first_duplicate()
        if duplicate is not None:
            raise DataError(f"corpus has duplicate document id {duplicate!r}")
        self._rows: dict[str, int] | None = None
        self.release_pages()  # the check read the whole id column

    @classmethod
    def from_lists(cls, ids: Sequence[str], titles: Sequence[str], texts: Sequence[str]) -> Corpus:
        """An in-memory corpus (for tests and small generated data); the loaders build memory-mapped ones."""
        if not len(ids) == len(titles) == len(texts):
            raise ValueError("ids, titles and texts must have the same length")
        data = {"_id": list(ids), "title": list(titles), "text": list(texts)}
        features = datasets.Features({column: datasets.Value("string") for column in COLUMNS})
        return cls(datasets.Dataset.from_dict(data, features=features))

    def __len__(self) -> int:
        return len(self.ids)

    def _row_map(self) -> dict[str, int]:
        """id -> row, built on first use (indexing never needs it; training and evaluation do)."""
        if self._rows is None:
            self._rows = {docid: row for row, docid in enumerate(self.ids)}
        return self._rows

    def __contains__(self, docid: object) -> bool:
        return docid in self._row_map()

    def __repr__(self) -> str:
        return f"Corpus({len(self)} passages, fingerprint={self.fingerprint!r})"

    def row(self, docid: str) -> int:
        """The row of document ``docid``; KeyError naming the id when the corpus does not hold it."""
        try:
            return self._row_map()[docid]
        except KeyError:
            raise KeyError(f"document id {docid!r} is not in the corpus ({len(self)} passages)") from None

    def text(self, row: int) -> str:
        """The passage at ``row`` as it is encoded (``"{title} {text}"`` stripped)."""
        if not 0 <= row < len(self.ids):
            raise IndexError(f"row {row} is out of range for a corpus of {len(self)} passages")
        return passage_text(self._titles[row].as_py(), self._texts[row].as_py())

    def texts(self, rows: Sequence[int]) -> list[str]:
        """The passages at ``rows`` (any order, repeats allowed) as they are encoded."""
        size = len(self.ids)
        titles, texts = self._titles, self._texts
        out: list[str] = []
        for row in rows:  # per-row scalar access beats ChunkedArray.take for training-size batches
            if not 0 <= row < size:
                raise IndexError(f"row {row} is out of range for a corpus of {size} passages")
            out.append(passage_text(titles[row].as_py(), texts[row].as_py()))
        return out

    def iter_batches(self, batch_size: int) -> Iterator[tuple[list[int], list[str]]]:
        """``(rows, texts)`` over the whole corpus in row order, ``batch_size`` passages at a time."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        for start in range(0, len(self.ids), batch_size):
            stop = min(start + batch_size, len(self.ids))
            titles = self._titles.slice(start, stop - start).to_pylist()
            texts = self._texts.slice(start, stop - start).to_pylist()
            yield list(range(start, stop)), [passage_text(t, x) for t, x in zip(titles, texts, strict=True)]

    def release_pages(self) -> None:
        """Drop the pages of the arrow file read so far from this process's RSS (they stay readable).

        See :mod:`gradedpr.utils.mapped`; a no-op for an in-memory dataset or off Linux.
        """
        release_mapped_pages(cache["filename"] for cache in self.dataset.cache_files)

    def __getstate__(self) -> dict[str, Any]:
        # The dataset pickles as a reference to its arrow file; the arrow columns would pickle their data.
        return {"dataset": self.dataset, "fingerprint": self.fingerprint}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["dataset"], state["fingerprint"])  # type: ignore[misc]
