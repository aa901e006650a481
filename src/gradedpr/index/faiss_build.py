"""FAISS index construction: exact flat, HNSW, IVF-PQ or any factory string, all with inner-product metric.

Scores are inner products: with cosine similarity the embeddings are unit length, so the inner product is the
cosine; with dot similarity it is the model's score. (The model's temperature only rescales scores and does
not change rankings, so it is not applied.)

=========  ==========================================================================================
type       parameters (``None`` = chosen from the data, see :func:`resolve_params`)
=========  ==========================================================================================
flat       none; exact search (``IndexFlatIP``)
hnsw       ``M`` (32), ``ef_construction`` (200), ``ef_search`` (128)
ivfpq      ``nlist`` (None: ~4 sqrt(n)), ``m`` (None: dim/8 sub-quantisers), ``nbits`` (8),
           ``nprobe`` (32), ``train_size`` (None: enough points for k-means, at most 200k)
factory    ``factory`` (a FAISS factory string, e.g. ``"IVF1024,PQ48x8"``, ``"HNSW32,Flat"``),
           ``search_params`` (e.g. ``"nprobe=16,efSearch=64"``), ``train_size``
=========  ==========================================================================================

Vectors are added in chunks (from a memory-resident array or streamed from an
:class:`~gradedpr.encode.store.EmbeddingStore`); a training sample is drawn without loading the whole
matrix. When FAISS sees GPUs (``faiss.get_num_gpus() > 0``), flat and IVF indexes are built and searched on
them; the saved index is always the CPU version.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import faiss
import numpy as np
import numpy.typing as npt

from gradedpr.config.schema import FAISS_SCHEMAS, faiss_config, faiss_defaults
from gradedpr.utils.progress import progress_bar

log = logging.getLogger(__name__)

INDEX_TYPES = tuple(FAISS_SCHEMAS)
METRIC = "inner_product"
ADD_CHUNK = 65536
MAX_TRAIN = 200_000

_DEFAULTS: dict[str, dict[str, Any]] = {kind: faiss_defaults(kind) for kind in INDEX_TYPES}
"""Parameters per index type with their defaults: the faiss schemas of :mod:`gradedpr.config.schema`."""


class VectorSource(Protocol):
    """Rows to index: an EmbeddingStore, or an array wrapped by :class:`ArraySource`."""

    @property
    def num_rows(self) -> int: ...

    @property
    def dim(self) -> int: ...

    def iter_chunks(self, rows_per_chunk: int = ...) -> Iterator[tuple[int, npt.NDArray[np.float32]]]: ...


@dataclass
class ArraySource:
    """An in-memory matrix as a :class:`VectorSource`."""

    array: npt.NDArray[np.float32]

    @property
    def num_rows(self) -> int:
        return int(self.array.shape[0])

    @property
    def dim(self) -> int:
        return int(self.array.shape[1])

    def iter_chunks(self, rows_per_chunk: int = ADD_CHUNK) -> Iterator[tuple[int, npt.NDArray[np.float32]]]:
        for start in range(0, self.num_rows, rows_per_chunk):
            yield start, self.array[start : start + rows_per_chunk]


@dataclass
class IndexSpec:
    """Index type and parameters, as in ``configs/faiss/*.yaml`` (unknown parameters are an error)."""

    type: str = "flat"
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.type not in INDEX_TYPES:
            raise ValueError(f"unknown index type {self.type!r}; choose one of {INDEX_TYPES}")
        unknown = set(self.params) - set(_DEFAULTS[self.type])
        if unknown:
            raise ValueError(
                f"unknown parameter(s) {sorted(unknown)} for a {self.type} index; "
                f"known: {sorted(_DEFAULTS[self.type])}"
            )
        self.params = {**_DEFAULTS[self.type], **self.params}
        if self.type == "factory" and not self.params.get("factory"):
            raise ValueError("a factory index needs a FAISS factory string (faiss.factory=...)")
        faiss_config({"type": self.type, **self.params})  # the schema's checks (ConfigError, a ValueError)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> IndexSpec:
        """``{"type": "hnsw", "M": 32, ...}`` -> IndexSpec."""
        values = dict(cfg)
        kind = str(values.pop("type", "flat"))
        return cls(kind, values)


def gpu_count() -> int:
    """GPUs FAISS can use (0 for faiss-cpu)."""
    getter = getattr(faiss, "get_num_gpus", None)
    try:
        return int(getter()) if getter is not None else 0
    except RuntimeError:
        return 0


def wants_gpu(spec: IndexSpec, use_gpu: bool | None = None) -> bool:
    """Whether to put this index on GPUs: automatic for flat and IVF indexes when FAISS has GPUs."""
    if use_gpu is False or gpu_count() == 0:
        return False
    if spec.type == "factory":
        text = str(spec.params["factory"]).upper()
        return "HNSW" not in text and ("IVF" in text or text.startswith("FLAT"))
    return spec.type in ("flat", "ivfpq")


def to_gpu(index: faiss.Index) -> faiss.Index:
    """A GPU copy of ``index`` over all GPUs; the CPU index itself when that fails."""
    try:
        return faiss.index_cpu_to_all_gpus(index)
    except (RuntimeError, AttributeError) as exc:  # unsupported on GPU (e.g. some PQ sizes)
        log.warning("FAISS GPU copy failed (%s); staying on CPU", exc)
        return index


def _largest_divisor_at_most(n: int, limit: int) -> int:
    return max(d for d in range(1, max(1, limit) + 1) if n % d == 0)


def resolve_params(spec: IndexSpec, num_rows: int, dim: int) -> dict[str, Any]:
    """Fill in data-dependent parameters (``None``) and clamp others to what ``num_rows`` allows."""
    params = dict(spec.params)
    if spec.type == "ivfpq":
        if params["nlist"] is None:
            params["nlist"] = max(1, min(int(4 * math.sqrt(num_rows)), num_rows // 39))
        params["nlist"] = max(1, min(int(params["nlist"]), num_rows))
        if params["m"] is None:
            params["m"] = _largest_divisor_at_most(dim, max(1, dim // 8))
        if dim % int(params["m"]):
            raise ValueError(f"ivfpq m={params['m']} must divide the dimension {dim}")
        if params["train_size"] is None:
            wanted = max(50 * params["nlist"], 64 * 2 ** int(params["nbits"]), 10_000)
            params["train_size"] = min(num_rows, wanted, MAX_TRAIN)
        params["train_size"] = min(int(params["train_size"]), num_rows)
        nbits = int(params["nbits"])
        while nbits > 1 and 2**nbits > params["train_size"]:
            nbits -= 1
        if nbits != params["nbits"]:
            log.warning("ivfpq: %d training vectors are too few for nbits=%s; using nbits=%d",
                        params["train_size"], params["nbits"], nbits)
        params["nbits"] = nbits
        params["nprobe"] = max(1, min(int(params["nprobe"]), params["nlist"]))
    elif spec.type == "factory":
        params["train_size"] = min(int(params["train_size"] or min(num_rows, MAX_TRAIN)), num_rows)
    return params


def factory_string(spec_type: str, params: Mapping[str, Any]) -> str:
    """The FAISS factory string equivalent to a resolved spec (stored in the index metadata)."""
    if spec_type == "flat":
        return "Flat"
    if spec_type == "hnsw":
        return f"HNSW{params['M']},Flat"
    if spec_type == "ivfpq":
        return f"IVF{params['nlist']},PQ{params['m']}x{params['nbits']}"
    return str(params["factory"])


def search_parameters(spec_type: str, params: Mapping[str, Any]) -> str:
    """The ``ParameterSpace`` string (``"nprobe=32"``, ``"efSearch=128"``) applied before searching."""
    if spec_type == "hnsw":
        return f"efSearch={int(params['ef_search'])}"
    if spec_type == "ivfpq":
        return f"nprobe={int(params['nprobe'])}"
    if spec_type == "factory":
        return str(params.get("search_params") or "")
    return ""


def apply_search_parameters(index: faiss.Index, parameters: str) -> None:
    """Set search-time parameters (``"nprobe=16,efSearch=64"``) on a CPU or GPU index."""
    if not parameters:
        return
    space = faiss.GpuParameterSpace() if gpu_count() and hasattr(faiss, "GpuParameterSpace") else None
    try:
        (space or faiss.ParameterSpace()).set_index_parameters(index, parameters)  # type: ignore[arg-type]
    except RuntimeError:
        faiss.ParameterSpace().set_index_parameters(index, parameters)  # type: ignore[arg-type]


def _empty_index(spec_type: str, params: Mapping[str, Any], dim: int) -> faiss.Index:
    if spec_type == "flat":
        return faiss.IndexFlatIP(dim)
    if spec_type == "hnsw":
        hnsw = faiss.IndexHNSWFlat(dim, int(params["M"]), faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = int(params["ef_construction"])
        return hnsw
    if spec_type == "ivfpq":
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFPQ(quantizer, dim, int(params["nlist"]), int(params["m"]), int(params["nbits"]),
                                 faiss.METRIC_INNER_PRODUCT)
        return index  # the SWIG wrapper keeps ``quantizer`` alive (referenced_objects)
    try:
        return faiss.index_factory(dim, str(params["factory"]), faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        raise ValueError(f"FAISS cannot build factory string {params['factory']!r}: {exc}") from exc


def reserve_codes(index: faiss.Index, rows: int) -> bool:
    """Allocate the code array of an empty flat-codes index (or of an HNSW index's flat storage) for ``rows``
    vectors at once; returns whether it did.

    FAISS grows that array add by add (``std::vector::resize``); growing a 1M x 32 array in 64k-row steps
    briefly holds two copies and leaves ~20% more resident than the index needs. Resizing to the full size and
    back to empty keeps the capacity, so the adds then fill it in place.
    """
    target = index
    storage = getattr(index, "storage", None)
    if storage is not None:
        target = faiss.downcast_index(storage)
    codes = getattr(target, "codes", None)
    code_size = getattr(target, "code_size", None)
    if codes is None or not isinstance(code_size, int) or not hasattr(codes, "resize") or target.ntotal != 0:
        return False
    codes.resize(rows * code_size)
    codes.resize(0)
    return True


def training_sample(source: VectorSource, size: int, seed: int = 0) -> npt.NDArray[np.float32]:
    """``size`` distinct rows drawn uniformly at random, read in one sequential pass over the source."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(source.num_rows, size=size, replace=False))
    sample = np.empty((size, source.dim), dtype=np.float32)
    filled = 0
    for start, block in source.iter_chunks(ADD_CHUNK):
        lo, hi = np.searchsorted(rows, [start, start + len(block)])
        sample[filled : filled + hi - lo] = block[rows[lo:hi] - start]
        filled += hi - lo
    return sample


@dataclass
class BuiltIndex:
    """A CPU index and what was built: type, resolved parameters, factory string, timings."""

    index: faiss.Index
    type: str
    params: dict[str, Any]
    factory: str
    search_parameters: str
    train_seconds: float
    add_seconds: float


def build_index(
    source: VectorSource | npt.NDArray[np.float32],
    spec: IndexSpec,
    use_gpu: bool | None = None,
    seed: int = 0,
    show_progress: bool = True,
    add_chunk: int = ADD_CHUNK,
) -> BuiltIndex:
    """Build ``spec``'s index over all rows of ``source`` (row ``i`` gets FAISS id ``i``)."""
    if isinstance(source, np.ndarray):
        source = ArraySource(np.ascontiguousarray(source, dtype=np.float32))
    if source.num_rows == 0:
        raise ValueError("cannot build an index over zero vectors")
    params = resolve_params(spec, source.num_rows, source.dim)
    index = _empty_index(spec.type, params, source.dim)
    gpu = wants_gpu(spec, use_gpu)
    work = to_gpu(index) if gpu else index
    began = time.perf_counter()
    if not work.is_trained:
        size = int(params.get("train_size") or min(source.num_rows, MAX_TRAIN))
        log.info("training %s on %d vectors", factory_string(spec.type, params), size)
        work.train(training_sample(source, size, seed))
    trained = time.perf_counter()
    if not gpu:
        reserve_codes(work, source.num_rows)
    bar = progress_bar(total=source.num_rows, desc=f"add to {spec.type} index", unit="v", show=show_progress)
    try:
        for _, block in source.iter_chunks(add_chunk):
            work.add(np.ascontiguousarray(block, dtype=np.float32))
            bar.update(len(block))
    finally:
        bar.close()
    added = time.perf_counter()
    cpu_index = faiss.index_gpu_to_cpu(work) if work is not index else index
    parameters = search_parameters(spec.type, params)
    apply_search_parameters(cpu_index, parameters)
    return BuiltIndex(cpu_index, spec.type, params, factory_string(spec.type, params), parameters,
                      round(trained - began, 3), round(added - trained, 3))
