"""Every setting of the command-line tools: its type, its default and its validation, defined once.

The dataclasses below are the schema of ``configs/``: :func:`gradedpr.config.store.register_configs` puts them
in Hydra's ConfigStore, the primary configs (``configs/train.yaml``, ``index.yaml``, ``evaluate.yaml``,
``export.yaml``) name their schema first in their defaults list (``base_train`` ...), and the group files
(``configs/model/*.yaml``, ``data/``, ``loss/``, ``train/``, ``faiss/``, ``logger/``, ``experiment/``) hold only
recipes: values that differ from the defaults here. A key that is not declared here is an error (Hydra: "Could
not override"), so is a value of the wrong type ("could not be converted to Integer").

Values are checked when the commands turn the composed config into these dataclasses
(:func:`gradedpr.commands.checks.to_app`, which calls ``OmegaConf.to_object``): ``__post_init__`` raises a
:class:`~gradedpr.errors.ConfigError` that names the setting and what is allowed; the command-line tools print it
as one ``error:`` line and exit with status 2. Checks that need the machine or the files (a CUDA device, a
writable output directory, the model's maximum length, the corpus size) are in :mod:`gradedpr.commands.checks`
and in the commands.

No module-level side effects: importing this module registers nothing.
"""

import math
from dataclasses import MISSING as _NO_DEFAULT
from dataclasses import dataclass, field, fields
from typing import Any

from omegaconf import MISSING

from gradedpr.errors import ConfigError

DEFAULT_MEASURES: tuple[str, ...] = (
    "ndcg@1", "ndcg@3", "ndcg@5", "ndcg@10", "ndcg@100", "recall@10", "recall@100", "mrr@10", "map",
)
"""What the evaluator reports unless told otherwise (``gradedpr.evaluation.measures`` takes them from here)."""
POOLINGS = ("cls", "mean")
SIMILARITIES = ("dot", "cosine")
REGIMES = ("full", "frozen")
NEGATIVES = ("random", "bm25", "run", "data", "model")
FROZEN_CANDIDATES = ("corpus", "topk")
FROZEN_SEARCH = ("exact", "hnsw")
DATA_FORMATS = ("beir", "trec", "dpr", "hf")
LOGGERS = ("none", "wandb")
WANDB_MODES = ("offline", "online", "disabled")
MEAN_OVER = ("qrels", "both")
MIN_MAX_LENGTH = 2  # room for [CLS] and [SEP]
MAX_TAG_LENGTH = 64  # wandb refuses longer tags
MAX_NBITS = 16  # bits per PQ code: 2^16 centroids per sub-quantiser already need millions of training vectors


# ---------------------------------------------------------------------------------------------- checks
def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def fail(key: str, value: Any, rule: str) -> ConfigError:
    """``ConfigError("key=value: rule")``."""
    return ConfigError(f"{key}={_show(value)}: {rule}")


def at_least(key: str, value: Any, low: float, what: str = "an integer") -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value < low:
        raise fail(key, value, f"must be {what} >= {low:g}")


def optional_at_least(key: str, value: Any, low: float, what: str = "an integer", none: str = "null") -> None:
    if value is not None:
        at_least(key, value, low, f"{what} (or {none})" if none else what)


def one_of(key: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise fail(key, value, f"must be one of {', '.join(allowed)}")


def not_empty(key: str, value: Any) -> None:
    if value is None or not str(value).strip():
        raise fail(key, value, "must not be empty")


def check_max_tokens(key: str, value: Any) -> None:
    if value is None or value == "auto":
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise fail(key, value, "must be auto, null (no cap) or an integer >= 1")


def check_device_string(key: str, value: str) -> None:
    """The form of a device string: auto, cpu, cuda, cuda:N, mps (whether it exists: checks.check_device)."""
    import re

    if not re.fullmatch(r"auto|cpu|mps|cuda(:[0-9]+)?", str(value)):
        raise fail(key, value, "must be auto, cpu, cuda, cuda:<index> or mps")


# ---------------------------------------------------------------------------------------------- model
@dataclass
class ModelConfig:
    """The ``model`` group of ``scripts/train.py``: start weights and the dual encoder's settings."""

    name_or_path: str = "default"  # default = the bundled all-MiniLM-L6-v2; a local HF directory; a checkpoint
    pooling: str = "mean"  # cls | mean
    similarity: str = "cosine"  # dot | cosine
    temperature: float = 0.05  # scores = similarity / temperature
    query_max_length: int = 32  # tokens
    passage_max_length: int = 128  # tokens
    shared: bool = False  # true = one BERT for queries and passages
    gradient_checkpointing: bool = False  # true = recompute layer activations in backward (less memory, about one
    #                                       more forward per step); the same gradients (dropout replayed)

    def __post_init__(self) -> None:
        not_empty("model.name_or_path", self.name_or_path)
        one_of("model.pooling", self.pooling, POOLINGS)
        one_of("model.similarity", self.similarity, SIMILARITIES)
        if isinstance(self.temperature, bool) or not self.temperature > 0 or math.isinf(self.temperature):
            raise fail("model.temperature", self.temperature, "must be a number > 0")
        at_least("model.query_max_length", self.query_max_length, MIN_MAX_LENGTH)
        at_least("model.passage_max_length", self.passage_max_length, MIN_MAX_LENGTH)


# ---------------------------------------------------------------------------------------------- data
@dataclass
class DataConfig:
    """A collection (``configs/data/*.yaml``): BEIR, TREC or DPR-json files under ``path``.

    ``format``: beir (corpus.jsonl, queries.jsonl, qrels/<split>.tsv), trec (qrels in TREC form), dpr (DPR's
    json split files) or hf (corpus, queries, qrels/<split> stored with Hugging Face datasets: save_to_disk
    directories, parquet or jsonl); ``builtin: true`` builds the embedded collection into ``path`` on first use.
    """

    name: str = MISSING  # used in output paths
    path: str = MISSING  # the collection's directory (format=hf: also hf://<owner>/<name>, a Hub dataset)
    format: str = "beir"  # beir | trec | dpr | hf (datasets tables: save_to_disk dirs, parquet, jsonl)
    builtin: bool = False  # true = the built-in collection (built on first use into path)
    splits: list[str] = field(default_factory=lambda: ["train", "dev", "test"])  # the splits with qrels
    qrels_files: dict[str, str] | None = None  # split -> qrels file relative to path (null = the format's names)
    corpus_file: str | None = None  # null = corpus.jsonl
    queries_file: str | None = None  # null = queries.jsonl or queries.tsv

    def __post_init__(self) -> None:
        not_empty("data.name", self.name)
        not_empty("data.path", self.path)
        one_of("data.format", self.format, DATA_FORMATS)
        for split in self.splits:
            not_empty("data.splits", split)


# ---------------------------------------------------------------------------------------------- loss
@dataclass
class LossConfig:
    """The ``loss`` group: a registered loss and its hyper-parameters.

    ``kwargs`` is an open dict (any key can be set on the command line, ``loss.kwargs.k=10``); its keys and
    values are checked by the loss registry (:func:`gradedpr.losses.get_loss`) before anything runs, and the
    run's ``config.yaml`` records every hyper-parameter, the loss function's defaults included.
    """

    name: str = MISSING  # a registered loss: gradedpr.losses.available_losses()
    kwargs: dict[str, Any] = field(default_factory=dict)  # the loss's hyper-parameters (unset: the loss's defaults)

    def __post_init__(self) -> None:
        not_empty("loss.name", self.name)


# ---------------------------------------------------------------------------------------------- train
@dataclass
class FrozenConfig:
    """``train.frozen``: the candidate lists of the frozen-passage regime (``src/gradedpr/train/frozen.py``)."""

    candidates: str = "corpus"  # corpus: every query against the whole corpus | topk: its top-k + judged documents
    topk: int = 100  # topk mode: retrieved documents per query (current query encoder, exact search)
    max_judged: int | None = None  # topk mode: judged documents per list, drawn at random each step (null = all)
    random: int = 0  # topk mode: documents drawn uniformly from the corpus per list (besides top-k and judged)
    correct: bool = False  # topk mode: sampled-softmax correction: each random document's score + log(pool / drawn)
    #                        so that softmax losses estimate the whole-corpus loss (Bengio & Senecal 2008)
    search: str = "exact"  # topk mode: exact (a scan of the store, O(N) a step) | hnsw (an HNSW index built once
    #                        over the frozen store: a step's cost does not grow with the corpus)

    def __post_init__(self) -> None:
        one_of("train.frozen.candidates", self.candidates, FROZEN_CANDIDATES)
        one_of("train.frozen.search", self.search, FROZEN_SEARCH)
        if self.correct and self.random < 1:
            raise fail("train.frozen.correct", self.correct, "needs train.frozen.random >= 1 (documents to correct)")
        at_least("train.frozen.topk", self.topk, 1)
        optional_at_least("train.frozen.max_judged", self.max_judged, 1)
        at_least("train.frozen.random", self.random, 0)


@dataclass
class TrainConfig:
    """The ``train`` group (and the :class:`~gradedpr.train.trainer.Trainer`'s settings).

    The defaults are the recipe of ``make train``: the built-in dataset on 2 CPU cores, about 5 minutes
    (chosen on its dev split, see docs/RESULTS.md); ``configs/experiment/*.yaml`` hold the other recipes.
    """

    batch_size: int = 8  # queries per step over all processes (global); each is scored against all
    #                      batch_size x group_size passages
    grad_cache_chunk: int | None = None  # GradCache: queries per encoding chunk (passages: chunk x group_size);
    #                                      null = off; 1 .. batch_size / processes
    dist_timeout: float = 1800.0  # seconds a process waits for the others (torchrun) before failing with an error;
    #                               covers rank 0's dev evaluation
    group_size: int = 4  # candidates per query: top-grade positive, other positives, negatives
    max_positives: int = 2  # graded positives per group (the first is always of the query's top grade)
    regime: str = "full"  # full: both encoders train on in-batch groups | frozen: passages fixed, queries train
    frozen: FrozenConfig = field(default_factory=FrozenConfig)
    embeddings_dir: str | None = None  # frozen regime / negatives=model: the passage vectors store
    #                                    (null = outputs/embeddings/<data>-<model>-p<passage_max_length>)
    freeze_word_embeddings: bool = False  # true = keep the token embedding matrix fixed
    eval_passage_max_length: int | None = None  # passage tokens at dev evaluation (null = model.passage_max_length)
    test_passage_max_length: int | None = None  # passage tokens at the test evaluation (null = the dev length)
    dev_pool: int | None = None  # full regime: dev ranks a pool fixed before training (each dev query's top k under
    #                              the start model + its judged documents), re-encoding only the pool's passages;
    #                              null = the whole corpus at every dev evaluation (test is always the whole corpus)
    negatives: str = "random"  # random | bm25 | run | data | model (mined by the start model)
    negatives_refresh_every: int = 0  # negatives=model: re-mine with the current model every k steps (0 = never)
    negatives_depth: int = 50  # draw negatives from the top-k of the source
    negatives_run_file: str | None = None  # negatives=run: a TREC run file
    max_steps: int = 80  # optimiser steps (with train.epochs: the cap)
    epochs: float | None = None  # schedule length in epochs of the training queries, at most max_steps steps
    #                              (null = max_steps); a small collection then gets a short schedule
    eval_every_epochs: float | None = None  # with epochs: dev evaluation every this many epochs (replaces eval_every)
    query_subset: int | None = None  # train on this many training queries drawn at random (null = all of them)
    subset_seed: int | None = None  # seed of the query subset and of heldout_docs (null = the run's seed)
    heldout_docs: float = 0.0  # share of the corpus never seen in training: their judgments are dropped and they
    #                            never appear in a training list (frozen regime); retrieval still covers them
    interpolate: list[float] = field(default_factory=list)  # WiSE-FT: try these mixing weights in (0, 1) between
    #                          the start and the best checkpoint's weights after training, keep the best on dev
    #                          (before the guard; empty = off)
    guard_p: float | None = None  # keep the trained model only if it beats the start model on dev per query
    #                               (paired randomisation test, p < guard_p, higher mean); else keep the start
    #                               model (null = off; needs eval_at_start)
    lr: float = 5.0e-5  # AdamW peak learning rate
    weight_decay: float = 0.01  # AdamW weight decay
    warmup_ratio: float = 0.1  # share of max_steps with a linear warmup, then linear decay to 0
    grad_accum: int = 1  # batches per optimiser step
    max_grad_norm: float = 1.0  # gradient clipping (0 = none)
    eval_every: int = 40  # dev evaluation every k steps (0 = only at the end; also at step 0 with eval_at_start)
    eval_at_start: bool = True  # evaluate the starting (zero-shot) model first
    save_every: int = 40  # write checkpoints/last (optimiser, RNG, data position) every k steps (0 = at the end)
    eval_split: str = "dev"  # the split evaluated while training (picks the best checkpoint)
    test_split: str | None = None  # e.g. test: after training, evaluate the best checkpoint on it
    eval_metric: str = "ndcg@10"  # picks the best checkpoint: a measure of gradedpr.evaluation.measures
    eval_k: int = 100  # passages retrieved per dev query
    eval_batch_size: int = 64  # texts per batch when encoding for evaluation and mining
    bf16: bool = True  # bf16 autocast on CUDA only
    log_every: int = 1  # train/* metrics every k steps
    save_best: bool = True  # write checkpoints/best at every dev improvement

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_steps", "grad_accum", "log_every", "eval_k", "eval_batch_size",
                     "negatives_depth"):
            at_least(f"train.{name}", getattr(self, name), 1)
        at_least("train.group_size", self.group_size, 2, "an integer (a positive and a negative)")
        optional_at_least("train.grad_cache_chunk", self.grad_cache_chunk, 1, none="null = off")
        if self.grad_cache_chunk is not None and self.grad_cache_chunk > self.batch_size:
            raise fail("train.grad_cache_chunk", self.grad_cache_chunk,
                       f"must be <= train.batch_size ({self.batch_size}) or null")
        if isinstance(self.dist_timeout, bool) or not self.dist_timeout > 0 or math.isinf(self.dist_timeout):
            raise fail("train.dist_timeout", self.dist_timeout, "must be a number of seconds > 0")
        at_least("train.max_positives", self.max_positives, 1)
        if self.max_positives > self.group_size:
            raise fail("train.max_positives", self.max_positives,
                       f"must be <= train.group_size ({self.group_size})")
        for name in ("eval_every", "save_every", "negatives_refresh_every"):
            at_least(f"train.{name}", getattr(self, name), 0, "an integer (0 = never)")
        if isinstance(self.lr, bool) or not self.lr > 0 or math.isinf(self.lr):
            raise fail("train.lr", self.lr, "must be a number > 0")
        at_least("train.weight_decay", self.weight_decay, 0, "a number")
        at_least("train.max_grad_norm", self.max_grad_norm, 0, "a number (0 = no clipping)")
        if isinstance(self.warmup_ratio, bool) or not 0 <= self.warmup_ratio <= 1:
            raise fail("train.warmup_ratio", self.warmup_ratio, "must be in [0, 1]")
        one_of("train.regime", self.regime, REGIMES)
        one_of("train.negatives", self.negatives, NEGATIVES)
        if self.negatives == "run" and not self.negatives_run_file:
            raise fail("train.negatives_run_file", self.negatives_run_file, "train.negatives=run needs a TREC run file")
        for name in ("eval_passage_max_length", "test_passage_max_length"):
            optional_at_least(f"train.{name}", getattr(self, name), MIN_MAX_LENGTH, none="null = the model's")
        for name in ("epochs", "eval_every_epochs"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not 0 < value < math.inf):
                raise fail(f"train.{name}", value, "must be a number > 0 or null")
        if self.eval_every_epochs is not None and self.epochs is None:
            raise fail("train.eval_every_epochs", self.eval_every_epochs, "needs train.epochs")
        optional_at_least("train.query_subset", self.query_subset, 1, none="null = all training queries")
        optional_at_least("train.dev_pool", self.dev_pool, 1, none="null = the whole corpus")
        if self.dev_pool is not None and self.regime == "frozen":
            raise fail("train.dev_pool", self.dev_pool, "needs train.regime=full (the frozen regime's passages never "
                       "change: its dev search is already one fixed index)")
        if isinstance(self.heldout_docs, bool) or not 0 <= self.heldout_docs < 1:
            raise fail("train.heldout_docs", self.heldout_docs, "must be in [0, 1)")
        if self.heldout_docs and self.regime != "frozen" and self.negatives != "random":
            raise fail("train.heldout_docs", self.heldout_docs, "needs train.regime=frozen or train.negatives=random "
                       "(mined negatives could hold the held-out documents)")
        for alpha in self.interpolate:
            if isinstance(alpha, bool) or not 0 < alpha < 1:
                raise fail("train.interpolate", list(self.interpolate), "mixing weights must be in (0, 1)")
        if self.interpolate and not self.eval_at_start:
            raise fail("train.interpolate", list(self.interpolate), "needs train.eval_at_start=true")
        if self.guard_p is not None:
            if isinstance(self.guard_p, bool) or not 0 < self.guard_p <= 1:
                raise fail("train.guard_p", self.guard_p, "must be in (0, 1] or null (off)")
            if not self.eval_at_start:
                raise fail("train.guard_p", self.guard_p, "needs train.eval_at_start=true (the start model's dev run)")
        not_empty("train.eval_split", self.eval_split)
        not_empty("train.eval_metric", self.eval_metric)
        if isinstance(self.frozen, dict):  # built from plain values (the Python API)
            self.frozen = FrozenConfig(**self.frozen)


# ---------------------------------------------------------------------------------------------- logger
@dataclass
class LoggerConfig:
    """The ``logger`` group: wandb (offline by default: no network) or none (only metrics.jsonl)."""

    name: str = "wandb"  # wandb | none
    mode: str = "offline"  # offline | online | disabled; sync later: wandb sync <run_dir>/wandb/offline-run-*
    project: str = "gradedpr"  # the wandb project
    run_name: str | None = None  # the wandb run's display name (null = the run directory's name)
    group: str | None = None  # runs shown together (null = the experiment, experiment=...; a study: its name)
    job_type: str = "train"  # the wandb job type
    tags: list[str] = field(default_factory=list)  # besides the automatic loss:<name>, regime:<r>, data:<name>
    log_model: bool = False  # true = upload the best checkpoint (else the last) as a wandb model artifact

    def __post_init__(self) -> None:
        one_of("logger.name", self.name, LOGGERS)
        one_of("logger.mode", self.mode, WANDB_MODES)
        not_empty("logger.job_type", self.job_type)
        for tag in self.tags:
            if not str(tag).strip() or len(str(tag)) > MAX_TAG_LENGTH:
                raise fail("logger.tags", tag, f"each tag must be 1 to {MAX_TAG_LENGTH} characters")


# ---------------------------------------------------------------------------------------------- faiss
@dataclass
class FlatConfig:
    """Exact inner-product search (``faiss.IndexFlatIP``)."""

    type: str = "flat"

    def __post_init__(self) -> None:
        _fixed_type(self, "flat")


@dataclass
class HnswConfig:
    """HNSW graph over full vectors (``faiss.IndexHNSWFlat``); memory = vectors + ~M*8 B/vector."""

    type: str = "hnsw"
    M: int = 32  # graph degree (higher: better recall, more memory, slower build)
    ef_construction: int = 200  # candidate list while building
    ef_search: int = 128  # candidate list while searching; stored, can be overridden at search time

    def __post_init__(self) -> None:
        _fixed_type(self, "hnsw")
        at_least("faiss.M", self.M, 2)  # FAISS aborts the process for M < 2
        at_least("faiss.ef_construction", self.ef_construction, 1)
        at_least("faiss.ef_search", self.ef_search, 1)


@dataclass
class IvfpqConfig:
    """Inverted lists + product quantisation (``faiss.IndexIVFPQ``), trained on a random sample."""

    type: str = "ivfpq"
    nlist: int | None = None  # null = about 4*sqrt(N) lists (at most N/39)
    m: int | None = None  # sub-quantisers; null = dim/8 (must divide dim); bytes per vector = m*nbits/8
    nbits: int = 8
    nprobe: int = 32  # lists visited per query (recall vs speed)
    train_size: int | None = None  # null = enough for k-means (50 per list, 64*2^nbits), at most 200,000

    def __post_init__(self) -> None:
        _fixed_type(self, "ivfpq")
        optional_at_least("faiss.nlist", self.nlist, 1, none="null = chosen from the corpus size")
        optional_at_least("faiss.m", self.m, 1, none="null = dim/8")
        if isinstance(self.nbits, bool) or not isinstance(self.nbits, int) or not 1 <= self.nbits <= MAX_NBITS:
            raise fail("faiss.nbits", self.nbits, f"must be an integer in [1, {MAX_NBITS}]")
        at_least("faiss.nprobe", self.nprobe, 1)
        optional_at_least("faiss.train_size", self.train_size, 1, none="null = chosen from nlist and nbits")


@dataclass
class FactoryConfig:
    """Any FAISS index factory string with the inner-product metric, e.g. "IVF1024,Flat", "HNSW32,Flat"."""

    type: str = "factory"
    factory: str = MISSING
    search_params: str | None = None  # faiss ParameterSpace string applied before searching, e.g. "nprobe=16"
    train_size: int | None = None  # null = all vectors up to 200,000

    def __post_init__(self) -> None:
        _fixed_type(self, "factory")
        not_empty("faiss.factory", self.factory)
        optional_at_least("faiss.train_size", self.train_size, 1, none="null = all vectors up to 200,000")


FaissConfig = FlatConfig | HnswConfig | IvfpqConfig | FactoryConfig
FAISS_SCHEMAS: dict[str, type[Any]] = {"flat": FlatConfig, "hnsw": HnswConfig, "ivfpq": IvfpqConfig,
                                       "factory": FactoryConfig}


def _fixed_type(config: Any, kind: str) -> None:
    if config.type != kind:
        raise fail("faiss.type", config.type, f"is {kind!r} in faiss={kind}; choose the index type with "
                   f"faiss=<{'|'.join(FAISS_SCHEMAS)}>")


def faiss_defaults(kind: str) -> dict[str, Any]:
    """The parameters of index type ``kind`` with their defaults (None where the schema has none)."""
    if kind not in FAISS_SCHEMAS:
        raise ConfigError(f"faiss.type={kind!r}: must be one of {', '.join(FAISS_SCHEMAS)}")
    out: dict[str, Any] = {}
    for item in fields(FAISS_SCHEMAS[kind]):
        if item.name != "type":
            default = item.default if item.default is not _NO_DEFAULT else None
            out[item.name] = None if default == MISSING else default
    return out


def faiss_config(values: Any) -> Any:
    """A faiss schema object from a schema object or plain values (``{"type": "hnsw", "M": 32}``)."""
    if isinstance(values, tuple(FAISS_SCHEMAS.values())):
        return values
    items = dict(values or {})
    kind = str(items.pop("type", "flat"))
    if kind not in FAISS_SCHEMAS:
        raise fail("faiss.type", kind, f"must be one of {', '.join(FAISS_SCHEMAS)}")
    known = {f.name for f in fields(FAISS_SCHEMAS[kind])}
    unknown = sorted(set(items) - known)
    if unknown:
        raise ConfigError(f"faiss.{unknown[0]}: not a parameter of a {kind} index; known: "
                          f"{', '.join(sorted(known - {'type'})) or '(none)'}")
    return FAISS_SCHEMAS[kind](type=kind, **items)


# ---------------------------------------------------------------------------------------------- commands
@dataclass
class TrainApp:
    """``scripts/train.py`` (``configs/train.yaml``)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    seed: int = 42  # seeds Python, NumPy and torch, and the data order
    device: str = "auto"  # auto = CUDA when available, else CPU; cpu, cuda, cuda:<index>, mps
    run_dir: str = "${hydra:runtime.output_dir}"  # = hydra.run.dir (or the sweep job's directory)
    resume_from: str | None = None  # a checkpoints/last directory of an earlier run
    overwrite: bool = False  # true = train a new run into a run_dir that already holds a run (or other files:
    #                          gradedpr's files are replaced, nothing else is deleted); false = refuse it
    show_progress: bool = True  # progress bars on a terminal, periodic log lines otherwise
    accel: bool = True  # CPU inference: linear layers through oneDNN (src/gradedpr/accel); false = plain PyTorch

    def __post_init__(self) -> None:
        at_least("seed", self.seed, 0)
        check_device_string("device", self.device)
        not_empty("run_dir", self.run_dir)


@dataclass
class IndexModelConfig:
    """``model`` of ``scripts/index.py``: settings that replace the checkpoint's own."""

    passage_max_length: int | None = None  # null = the checkpoint's own setting

    def __post_init__(self) -> None:
        optional_at_least("model.passage_max_length", self.passage_max_length, MIN_MAX_LENGTH,
                          none="null = the checkpoint's")


@dataclass
class IndexApp:
    """``scripts/index.py`` (``configs/index.yaml``)."""

    data: DataConfig = field(default_factory=DataConfig)
    faiss: Any = MISSING  # one of the faiss schemas, chosen with faiss=flat|hnsw|ivfpq|factory
    checkpoint: str = "default"  # a gradedpr checkpoint, a plain HF model directory, or default (all-MiniLM-L6-v2)
    model: IndexModelConfig = field(default_factory=IndexModelConfig)
    device: str = "auto"  # auto = CUDA (cuda:LOCAL_RANK under torchrun) when available, else CPU
    batch_size: int = 64  # passages per batch
    max_tokens: Any = "auto"  # padded tokens per forward pass: auto = 2048 on CPU, no cap on GPU; null = no cap
    chunk_size: int = 16384  # passages per chunk: the unit of memory and of resumption
    # <label> of a checkpoint: <run>-best / <run>-last inside a training run directory, else <basename>-<hash of
    # its path>, so every run's best gets its own index and embeddings (default stays default)
    output: str = "outputs/index/${data.name}-${checkpoint_label:${checkpoint}}-${faiss.type}"
    embeddings_dir: str = "outputs/embeddings/${data.name}-${checkpoint_label:${checkpoint}}"  # reused by other types
    keep_embeddings: bool = True  # false = delete the float32 matrix once the index is built
    overwrite: bool = False  # true = replace an index (and embeddings of another encoder) gradedpr wrote there
    shard_id: int | None = None  # null = RANK of torchrun (0 otherwise)
    num_shards: int | None = None  # null = WORLD_SIZE of torchrun (1 otherwise)
    use_gpu: bool | None = None  # null = FAISS GPUs when present (flat / IVF); false = CPU only
    show_progress: bool = True  # progress bars on a terminal, periodic log lines otherwise
    accel: bool = True  # CPU inference: linear layers through oneDNN (src/gradedpr/accel); false = plain PyTorch

    def __post_init__(self) -> None:
        self.faiss = faiss_config(self.faiss)
        not_empty("checkpoint", self.checkpoint)
        check_device_string("device", self.device)
        at_least("batch_size", self.batch_size, 1)
        at_least("chunk_size", self.chunk_size, 1)
        check_max_tokens("max_tokens", self.max_tokens)
        not_empty("output", self.output)
        not_empty("embeddings_dir", self.embeddings_dir)
        optional_at_least("num_shards", self.num_shards, 1, none="null = WORLD_SIZE")
        optional_at_least("shard_id", self.shard_id, 0, none="null = RANK")
        if self.shard_id is not None and self.num_shards is not None and self.shard_id >= self.num_shards:
            raise fail("shard_id", self.shard_id, f"must be < num_shards ({self.num_shards})")


@dataclass
class EvalModelConfig:
    """``model`` of ``scripts/evaluate.py``: settings that replace the checkpoint's own."""

    query_max_length: int | None = None  # null = the checkpoint's own setting
    passage_max_length: int | None = None  # only used when index=null (the corpus is encoded here)

    def __post_init__(self) -> None:
        for name in ("query_max_length", "passage_max_length"):
            optional_at_least(f"model.{name}", getattr(self, name), MIN_MAX_LENGTH, none="null = the checkpoint's")


@dataclass
class EvaluateApp:
    """``scripts/evaluate.py`` (``configs/evaluate.yaml``): a checkpoint, one run file, or several compared."""

    data: DataConfig = field(default_factory=DataConfig)
    checkpoint: str = "default"  # the checkpoint whose query encoder is evaluated (or a plain HF dir: zero-shot)
    index: str | None = None  # the index directory scripts/index.py wrote (null = encode the corpus in memory)
    split: str = "test"  # the split whose queries and qrels are evaluated
    k: int = 1000  # passages retrieved per query (>= 100, the deepest cutoff measured)
    measures: Any = field(default_factory=lambda: list(DEFAULT_MEASURES))  # a list, or one name
    mean_over: str = "qrels"  # qrels = trec_eval -c (every judged query; missing ones count 0); both = pytrec_eval
    model: EvalModelConfig = field(default_factory=EvalModelConfig)
    device: str = "auto"  # auto = CUDA when available, else CPU; cpu, cuda, cuda:<index>, mps
    batch_size: int = 64  # queries (and passages with index=null) per batch
    max_tokens: Any = "auto"  # padded tokens per forward pass: auto = 2048 on CPU, no cap on GPU; null = no cap
    search_params: str | None = None  # override the index's search-time parameters, e.g. "efSearch=256"
    allow_mismatch: bool = False  # true = only warn when the index was built from another encoder or corpus
    run_tag: str | None = None  # TREC run tag (null = checkpoint basename)
    run: str | None = None  # score this TREC run file instead of a checkpoint (writes <output>/metrics.json)
    runs: Any = None  # compare these run files: [a.trec,b.trec], ['bm25=a.trec','dense=b.trec'] or {bm25: a.trec}
    baseline: str | None = None  # the run the others are compared with: a name or a path (null = the first)
    qrels: str | None = None  # qrels file used instead of data + split: TREC 'qid iter docid grade' or BEIR tsv
    per_grade: bool = False  # true = also, per relevance grade: recall@k, share retrieved and mean rank of
    #                          its documents (do the top grades come first?), printed and in metrics.json
    per_grade_cutoffs: list[int] = field(default_factory=lambda: [10, 100])  # the k of per_grade's recall@k
    n_permutations: int = 10000  # random sign flips of the paired randomisation test
    seed: int = 0  # seed of the randomisation test (the same sign flips for every run compared)
    output: str | None = None  # null = outputs/eval/<data>-<checkpoint label or run name>-<split> (label: <run>-best
    #                            inside a training run, else <basename>-<path hash>),
    #                            outputs/compare/<data>-<split>-<run names> for runs=
    overwrite: bool = False  # true = replace run.trec / metrics.json (compare.json / .md) already in output;
    #                          false = refuse them (other files in output are never touched)
    show_progress: bool = True  # progress bars on a terminal, periodic log lines otherwise
    accel: bool = True  # CPU inference: linear layers through oneDNN (src/gradedpr/accel); false = plain PyTorch

    def __post_init__(self) -> None:
        not_empty("checkpoint", self.checkpoint)
        not_empty("split", self.split)
        at_least("k", self.k, 1)
        if isinstance(self.measures, (list, tuple)):
            self.measures = [str(m) for m in self.measures]
        elif isinstance(self.measures, str):
            self.measures = [m for m in self.measures.split(",") if m.strip()]
        else:
            raise fail("measures", self.measures, "must be a list of measure names, e.g. [ndcg@10,map]")
        if not self.measures:
            raise fail("measures", self.measures, "must name at least one measure")
        one_of("mean_over", self.mean_over, MEAN_OVER)
        check_device_string("device", self.device)
        at_least("batch_size", self.batch_size, 1)
        check_max_tokens("max_tokens", self.max_tokens)
        at_least("n_permutations", self.n_permutations, 1)
        at_least("seed", self.seed, 0)
        if not self.per_grade_cutoffs:
            raise fail("per_grade_cutoffs", self.per_grade_cutoffs, "must name at least one cutoff, e.g. [10,100]")
        for cutoff in self.per_grade_cutoffs:
            at_least("per_grade_cutoffs", cutoff, 1)
        if self.run_tag is not None and (not self.run_tag.strip() or any(ch.isspace() for ch in self.run_tag)):
            raise fail("run_tag", self.run_tag, "must be one word without whitespace (the last column of a TREC "
                       "run file)")


@dataclass
class ExportApp:
    """``scripts/export.py`` (``configs/export.yaml``)."""

    checkpoint: str = MISSING  # a gradedpr checkpoint directory (with gradedpr.json)
    output: str = MISSING  # the export directory: missing, empty, or an earlier export (gradedpr_export.json)
    overwrite: bool = False  # true = replace an earlier export at output (files added to it are kept)
    verify: bool = True  # load the export back and compare embeddings with gradedpr's on probe texts
    tolerance: float = 1.0e-4  # max |difference| the check accepts

    def __post_init__(self) -> None:
        not_empty("checkpoint", self.checkpoint)
        not_empty("output", self.output)
        if isinstance(self.tolerance, bool) or not self.tolerance >= 0 or math.isinf(self.tolerance):
            raise fail("tolerance", self.tolerance, "must be a number >= 0")
