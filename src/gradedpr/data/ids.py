"""Document ids in row order, held in an arrow string array instead of a Python list.

A Python list of a million short ids costs about 64 MB (a pointer plus a ``str`` object per id); the same ids
as an arrow string array cost their characters plus 4 bytes of offset each, and an array sliced from the
memory-mapped corpus file costs nothing at all (its pages are file-backed). :class:`IdList` wraps such an
array as an immutable ``Sequence[str]``: indexing and slicing are zero-copy, iteration and :meth:`IdList.take`
convert whole blocks at once, and :meth:`IdList.read_lines` builds the array from a one-id-per-line file
block by block (split by arrow), so no Python list of all the ids ever exists.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, SupportsIndex, overload

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

BLOCK = 65536
"""Ids converted between arrow and Python per step (iteration, comparison, :meth:`IdList.from_strings`)."""

READ_BLOCK = 1 << 20
"""Bytes of an id file read and split per step by :meth:`IdList.read_lines`."""

_REPR_ITEMS = 6


def _as_string_column(values: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    """``values`` as a chunked ``string`` array: zero-copy when it already is one, else cast."""
    column = values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values], type=values.type)
    if not pa.types.is_string(column.type):
        column = column.cast(pa.string())
    if column.null_count:
        row = pc.index(column.is_null(), True).as_py()
        raise ValueError(f"id at row {row} is missing (null)")
    return column


def _first_duplicate(column: pa.ChunkedArray) -> str | None:
    size = len(column)
    if size < 2:
        return None
    ordered = column.take(pc.sort_indices(column))
    same = pc.equal(ordered.slice(1), ordered.slice(0, size - 1))
    if not pc.any(same).as_py():
        return None
    repeated = pc.unique(ordered.slice(1).filter(same))
    row = pc.index(pc.is_in(column, value_set=repeated), True).as_py()
    value: str = column[row].as_py()
    return value


def _split_lines(data: bytes) -> pa.Array:
    """The lines of ``data`` (which ends with a line ending) as a string array, line endings removed."""
    blob = pa.array([data], type=pa.binary())
    if b"\r" in data:  # Python text files also end lines at "\r\n" and a lone "\r"
        parts = pc.split_pattern_regex(blob, pattern="\r\n|\r|\n")
    else:
        parts = pc.split_pattern(blob, pattern=b"\n")
    lines = parts.flatten()
    lines = lines.slice(0, len(lines) - 1)  # the empty piece after the final line ending
    try:
        return lines.cast(pa.string())
    except pa.ArrowInvalid:
        data.decode("utf-8")  # raises the UnicodeDecodeError a text-mode read would have raised
        raise


def _from_list(values: list[str]) -> IdList:
    """Unpickling helper: an :class:`IdList` of ``values``."""
    return IdList.from_strings(values)


class IdList(Sequence[str]):
    """An immutable sequence of document ids backed by an arrow ``string`` (chunked) array.

    Built from an arrow array or chunked array (zero-copy for ``string`` columns, such as the ``_id`` column
    of a memory-mapped corpus; other types are cast to ``string``; missing values are a ValueError), from
    Python strings with :meth:`from_strings`, or from a file with :meth:`read_lines`. It compares equal to any
    sequence holding the same strings in the same order (a ``list`` included) and pickles as its strings.
    """

    __slots__ = ("_column",)
    __hash__ = None  # type: ignore[assignment]  # compares by content, like a list

    _column: pa.ChunkedArray

    def __init__(self, values: pa.Array | pa.ChunkedArray) -> None:
        self._column = _as_string_column(values)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_strings(cls, values: Iterable[str], block_size: int = BLOCK) -> IdList:
        """The ids of ``values`` (any iterable of ``str``), converted ``block_size`` at a time."""
        if block_size < 1:
            raise ValueError(f"block_size must be positive, got {block_size}")
        iterator = iter(values)
        chunks: list[pa.Array] = []
        while block := list(itertools.islice(iterator, block_size)):
            chunks.append(pa.array(block, type=pa.string()))
        return cls(pa.chunked_array(chunks, type=pa.string()))

    @classmethod
    def read_lines(cls, path: str | Path, block_bytes: int = READ_BLOCK) -> IdList:
        """The ids of a UTF-8 file holding one id per line (the last line may lack its line ending).

        Lines end as in a Python text file (``\\n``, ``\\r\\n`` or ``\\r``). The file is read ``block_bytes`` at a
        time and each block is split into lines by arrow, so no Python string per id is ever made. OSError when
        the file cannot be read, UnicodeDecodeError when it is not UTF-8.
        """
        if block_bytes < 1:
            raise ValueError(f"block_bytes must be positive, got {block_bytes}")
        chunks: list[pa.Array] = []
        rest = b""
        with open(path, "rb") as handle:
            while data := handle.read(block_bytes):
                data = rest + data
                # whole lines only; a final "\r" may be the first half of "\r\n", so it waits for the next block
                cut = max(data.rfind(b"\n"), data.rfind(b"\r", 0, len(data) - 1)) + 1
                rest = data[cut:]
                if cut:
                    chunks.append(_split_lines(data[:cut]))
        if rest:
            chunks.append(_split_lines(rest + b"\n"))
        pa.default_memory_pool().release_unused()  # the blocks' transient arrays, which arrow's allocator keeps
        return cls(pa.chunked_array(chunks, type=pa.string()))

    @classmethod
    def concat(cls, parts: Iterable[IdList]) -> IdList:
        """The ids of ``parts`` one after the other (their arrow chunks are reused, not copied)."""
        chunks = [chunk for part in parts for chunk in part._column.chunks]
        return cls(pa.chunked_array(chunks, type=pa.string()))

    # ------------------------------------------------------------------ access
    @property
    def arrow(self) -> pa.ChunkedArray:
        """The backing arrow array (type ``string``, no nulls)."""
        return self._column

    def __len__(self) -> int:
        return len(self._column)

    @overload
    def __getitem__(self, index: SupportsIndex) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> IdList: ...

    def __getitem__(self, index: SupportsIndex | slice) -> str | IdList:
        size = len(self._column)
        if isinstance(index, slice):
            start, stop, step = index.indices(size)
            if step == 1:
                return IdList(self._column.slice(start, max(0, stop - start)))
            return IdList(self._column.take(pa.array(np.arange(start, stop, step, dtype=np.int64))))
        position = operator.index(index)
        if position < 0:
            position += size
        if not 0 <= position < size:
            raise IndexError(f"id index {operator.index(index)} is out of range for {size} ids")
        value: str = self._column[position].as_py()
        return value

    def take(self, rows: npt.ArrayLike) -> list[str]:
        """The ids at ``rows`` (a numpy array or sequence of ints; any order, repeats allowed).

        Unlike indexing, a negative row is not counted from the end: every row must lie in ``[0, len)``,
        else IndexError.
        """
        positions = np.asarray(rows, dtype=np.int64).reshape(-1)
        if positions.size == 0:
            return []
        low, high = int(positions.min()), int(positions.max())
        if low < 0 or high >= len(self._column):
            bad = low if low < 0 else high
            raise IndexError(f"row {bad} is out of range for {len(self._column)} ids")
        values: list[str] = self._column.take(pa.array(positions)).to_pylist()
        return values

    def iter_blocks(self, block_size: int = BLOCK) -> Iterator[list[str]]:
        """The ids as lists of at most ``block_size`` strings, in order."""
        if block_size < 1:
            raise ValueError(f"block_size must be positive, got {block_size}")
        for start in range(0, len(self._column), block_size):
            yield self._column.slice(start, block_size).to_pylist()

    def __iter__(self) -> Iterator[str]:
        for block in self.iter_blocks():
            yield from block

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, str):
            return False
        return bool(pc.index(self._column, pa.scalar(value, pa.string())).as_py() >= 0)

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        """The first row of ``value`` within ``[start, stop)``; ValueError when it is not there."""
        begin, end, _ = slice(start, stop).indices(len(self._column))
        if isinstance(value, str) and end > begin:
            found = pc.index(self._column.slice(begin, end - begin), pa.scalar(value, pa.string())).as_py()
            if found >= 0:
                return begin + int(found)
        raise ValueError(f"{value!r} is not in the ids")

    def to_pylist(self) -> list[str]:
        """All ids as a Python list (what this class otherwise avoids building)."""
        values: list[str] = self._column.to_pylist()
        return values

    def first_duplicate(self) -> str | None:
        """The id occurring more than once whose first occurrence comes first; None when all are distinct.

        Computed by arrow (a stable sort and a neighbour comparison), without a Python set or dict. The sort
        needs about 28 bytes per id for a moment; arrow's allocator would keep those pages, so they are
        handed back to the system afterwards.
        """
        try:
            return _first_duplicate(self._column)
        finally:
            pa.default_memory_pool().release_unused()

    # ------------------------------------------------------------------ comparison, display, pickling
    def __eq__(self, other: object) -> bool:
        if isinstance(other, IdList):
            return len(self) == len(other) and self._column.equals(other._column)
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes, bytearray)):
            return NotImplemented
        if len(self) != len(other):
            return False
        theirs = iter(other)
        return all(block == list(itertools.islice(theirs, len(block))) for block in self.iter_blocks())

    def __repr__(self) -> str:
        size = len(self._column)
        if size <= _REPR_ITEMS:
            shown = repr(self.to_pylist())
        else:
            head = self._column.slice(0, _REPR_ITEMS - 1).to_pylist()
            shown = "[" + ", ".join(map(repr, head)) + f", ..., {self[size - 1]!r}]"
        return f"IdList({size} ids: {shown})"

    def __reduce__(self) -> tuple[Any, tuple[list[str]]]:
        return _from_list, (self.to_pylist(),)


def take_ids(ids: Sequence[str], rows: npt.ArrayLike) -> list[str]:
    """``[ids[r] for r in rows]``, vectorised when ``ids`` is an :class:`IdList`."""
    if isinstance(ids, IdList):
        return ids.take(rows)
    return [ids[int(r)] for r in np.asarray(rows, dtype=np.int64).reshape(-1)]
