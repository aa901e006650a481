"""From the composed config to the schema's dataclasses, and the checks that need the machine or the files.

Every function raises :class:`~gradedpr.errors.ConfigError` naming the setting; the commands call them right
after Hydra hands over the config, before any model is loaded or any output is written.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from gradedpr.commands.rundir import check_run_dir
from gradedpr.config.resume import check_resume_settings
from gradedpr.config.schema import MAX_NBITS, EvaluateApp, ExportApp, IndexApp, TrainApp, TrainConfig, fail
from gradedpr.errors import CheckpointError, ConfigError, DataError
from gradedpr.filenames import TRAINER_STATE as STATE_FILE
from gradedpr.utils.outputs import removed_on_failure
from gradedpr.utils.ranks import rank_and_world
from gradedpr.utils.runlock import check_run_dir_free, run_of_checkpoint

T = TypeVar("T")
log = logging.getLogger(__name__)
MIN_EVAL_K = 100  # scripts/evaluate.py retrieves at least this deep: the deepest default cutoff


def to_app(cfg: Any, schema: type[T]) -> T:
    """``cfg`` (a composed Hydra config, typed or plain) as an instance of ``schema``, every value validated.

    Unknown keys and values of the wrong type are refused (as Hydra does on the command line); interpolations
    are resolved; each dataclass's ``__post_init__`` checks its values.
    """
    if isinstance(cfg, schema):
        return cfg
    from gradedpr.config.store import schema_node

    try:
        merged = OmegaConf.merge(schema_node(schema), cfg)
        app = OmegaConf.to_object(merged)
    except MissingMandatoryValue as exc:
        key = exc.full_key or "?"
        raise ConfigError(f"{key}: required, there is no default (give {key}=...)") from None
    except OmegaConfBaseException as exc:
        message = str(getattr(exc, "msg", None) or exc).splitlines()[0]
        raise ConfigError(f"{exc.full_key or 'config'}: {message}") from None
    assert isinstance(app, schema)
    return app


def to_yaml(app: Any) -> str:
    """Every value of ``app`` (a schema dataclass) as YAML: what a run records in ``config.yaml``."""
    return OmegaConf.to_yaml(OmegaConf.structured(app))


def to_dict(app: Any) -> dict[str, Any]:
    values = OmegaConf.to_container(OmegaConf.structured(app))
    assert isinstance(values, dict)
    return {str(k): v for k, v in values.items()}


# ---------------------------------------------------------------------------------------------- device
def check_device(key: str, name: str) -> None:
    """``name`` must be a device this machine has (``auto`` always is)."""
    if name == "auto":
        return
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise fail(key, name, "must be auto, cpu, cuda, cuda:<index> or mps") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise fail(key, name, "this machine has no CUDA device (torch.cuda.is_available() is False); "
                       "use device=auto or device=cpu")
        if device.index is not None and device.index >= count:
            raise fail(key, name, f"this machine has {count} CUDA device(s): cuda:0..cuda:{count - 1}")
    elif device.type == "mps":
        backend = getattr(torch.backends, "mps", None)
        if backend is None or not backend.is_available():
            raise fail(key, name, "MPS is not available on this machine; use device=auto or device=cpu")
    elif device.type != "cpu":
        raise fail(key, name, "must be auto, cpu, cuda, cuda:<index> or mps")


# ---------------------------------------------------------------------------------------------- outputs
def check_writable(key: str, path: str | Path) -> None:
    """``path`` (a directory to write, existing or not) can be created and written by this process.

    The nearest existing ancestor must be a directory in which a file can be created (tried: a permission
    check alone is wrong for root and for read-only file systems); the probe file is removed at once.
    """
    target = Path(path).expanduser()
    if target.exists() and not target.is_dir():
        raise fail(key, str(path), "is a file, not a directory")
    probe_dir = target
    while not probe_dir.exists():
        if probe_dir.parent == probe_dir:
            break
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        raise fail(key, str(path), f"cannot be created: {probe_dir} is a file, not a directory")
    try:
        handle, name = tempfile.mkstemp(prefix=".gradedpr-write-check-", dir=probe_dir)
    except OSError as exc:
        where = "" if probe_dir == target else f" (in {probe_dir})"
        raise fail(key, str(path), f"not writable{where}: {exc.strerror or exc}") from None
    os.close(handle)
    os.unlink(name)


def check_data_path(data: Any) -> None:
    """With ``data.builtin``, ``data.path`` must be missing, empty or an earlier build of the built-in collection
    (its ``meta.json``): a user's collection there is never rebuilt over."""
    if data.builtin:
        from gradedpr.data.builtin import check_builtin_dir

        check_builtin_dir(data.path)


# ---------------------------------------------------------------------------------------------- model
@dataclass(frozen=True)
class ModelLimits:
    """What a model directory says about itself, read without loading the weights."""

    path: Path
    max_positions: int | None  # max_position_embeddings of the BERT config
    hidden_size: int | None  # the embedding dimension (pooling keeps it)
    settings: Mapping[str, Any]  # a gradedpr checkpoint's own settings (gradedpr.json), else {}


def model_limits(name_or_path: str) -> ModelLimits:
    """Read a model's ``config.json`` (and ``gradedpr.json``) without loading it; CheckpointError if absent."""
    from gradedpr.model.config import CONFIG_NAME
    from gradedpr.model.resolve import is_checkpoint, resolve_model_path

    path = resolve_model_path(name_or_path)
    settings: dict[str, Any] = {}
    hf_dir = path
    if is_checkpoint(path):
        hf_dir = path / "query_encoder"
        try:
            settings = json.loads((path / CONFIG_NAME).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"{path / CONFIG_NAME}: cannot read the checkpoint settings: {exc}") from None
    try:
        config = json.loads((hf_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        config = {}  # the loader reports what is wrong with the model files
    positions = config.get("max_position_embeddings")
    hidden = config.get("hidden_size")
    return ModelLimits(path, positions if isinstance(positions, int) else None,
                       hidden if isinstance(hidden, int) else None, settings)


def check_max_length(key: str, value: int | None, limits: ModelLimits) -> None:
    """A max length the model's position embeddings can hold."""
    if value is not None and limits.max_positions is not None and value > limits.max_positions:
        raise fail(key, value, f"must be <= {limits.max_positions}, the maximum length of the model in "
                   f"{limits.path} (max_position_embeddings)")


# ---------------------------------------------------------------------------------------------- measures
def check_measure(key: str, name: str) -> None:
    from gradedpr.evaluation.measures import parse_measure

    try:
        parse_measure(str(name))
    except ValueError as exc:
        raise ConfigError(f"{key}={name!r}: {exc}") from None


def check_measures(key: str, names: list[str]) -> list[str]:
    from gradedpr.evaluation.measures import parse_measures

    try:
        return [m.name for m in parse_measures(names)]
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None


# ---------------------------------------------------------------------------------------------- faiss
def check_faiss(faiss_cfg: Any, dim: int | None) -> None:
    """Parameters FAISS would abort on or reject, checked on an empty index of the model's dimension."""
    kind = faiss_cfg.type
    if kind == "ivfpq" and dim is not None and faiss_cfg.m is not None and dim % faiss_cfg.m:
        raise fail("faiss.m", faiss_cfg.m, f"must divide the embedding dimension {dim}")
    if kind != "factory" or dim is None:
        return
    import faiss

    try:
        index = faiss.index_factory(dim, str(faiss_cfg.factory), faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        raise fail("faiss.factory", faiss_cfg.factory, f"FAISS rejects it for dimension {dim}: "
                   f"{faiss_message(exc)}") from None
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None and ivf.nlist < 1:
        raise fail("faiss.factory", faiss_cfg.factory, "needs at least 1 inverted list (IVF<n> with n >= 1)")
    graph = getattr(faiss.downcast_index(index), "hnsw", None)
    if graph is not None and _hnsw_m(graph) < 2:
        raise fail("faiss.factory", faiss_cfg.factory, "an HNSW graph needs M >= 2 (HNSW<M> with M >= 2)")
    pq = getattr(faiss.downcast_index(index), "pq", None)
    if pq is not None and not 1 <= pq.nbits <= MAX_NBITS:
        raise fail("faiss.factory", faiss_cfg.factory, f"PQ codes need 1 to {MAX_NBITS} bits")
    check_search_params("faiss.search_params", faiss_cfg.search_params, index)


def check_faiss_corpus(faiss_cfg: Any, dim: int | None, num_passages: int, data_name: str) -> None:
    """FAISS parameters this corpus is too small for, before anything is encoded: inverted lists and PQ
    codebooks (``2^nbits`` centroids) are trained by k-means, which needs at least as many passages as
    centroids. A factory string that asks for more (``IVF256,Flat`` on 100 passages) cannot work and is
    refused; ``faiss.nlist`` above the corpus size is lowered to it with a warning, as ``train.batch_size``
    above the training queries is (:func:`check_training_split`)."""
    if faiss_cfg.type == "ivfpq" and faiss_cfg.nlist is not None and faiss_cfg.nlist > num_passages:
        log.warning("faiss.nlist=%d is above the %d passages of %s: the index is built with nlist=%d (each "
                    "inverted list is trained from at least one passage; null chooses it from the corpus size)",
                    faiss_cfg.nlist, num_passages, data_name, num_passages)
    if faiss_cfg.type != "factory" or dim is None:
        return
    import faiss

    index = faiss.index_factory(dim, str(faiss_cfg.factory), faiss.METRIC_INNER_PRODUCT)
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None and ivf.nlist > num_passages:
        suggested = max(1, min(int(4 * num_passages ** 0.5), num_passages))
        raise fail("faiss.factory", faiss_cfg.factory, f"{ivf.nlist} inverted lists need at least {ivf.nlist} "
                   f"passages to train, {data_name} has {num_passages}: use IVF<n> with n <= {num_passages} "
                   f"(e.g. IVF{suggested}), or faiss=flat for a corpus this small")
    pq = getattr(faiss.downcast_index(index), "pq", None)
    if pq is not None and 2 ** pq.nbits > num_passages:
        raise fail("faiss.factory", faiss_cfg.factory, f"PQ codes of {pq.nbits} bits need at least "
                   f"{2 ** pq.nbits} passages to train, {data_name} has {num_passages}: use fewer bits "
                   "(PQ<m>x<bits>) or faiss=flat")


def check_index_search_params(index_dir: str | Path, parameters: str | None) -> None:
    """``search_params=`` that FAISS accepts for the index in ``index_dir`` (its type is read from
    ``index.json``; tried on an empty index of that type), before a model is loaded or a query encoded."""
    if not parameters:
        return
    try:
        meta = json.loads((Path(index_dir) / "index.json").read_text(encoding="utf-8"))
        factory, dim = str(meta["index"]["factory"]), int(meta["dim"])
    except (OSError, ValueError, KeyError, TypeError):
        return  # loading the index reports what is wrong with it
    import faiss

    try:
        index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError:
        return
    try:
        faiss.ParameterSpace().set_index_parameters(index, str(parameters))  # type: ignore[arg-type]
    except RuntimeError as exc:
        raise fail("search_params", parameters, f"FAISS rejects it for the {factory} index in {index_dir}: "
                   f"{faiss_message(exc)}") from None


def check_training_split(app: TrainApp, qrels: Mapping[str, Mapping[str, int]], queries: Mapping[str, str]) -> None:
    """The train split has queries to train on (a grade > 0): else a one-line :class:`DataError`. A
    ``train.batch_size`` above their number gives batches of all of them (a batch holds each query once): said
    in a warning, as ``faiss.nlist`` above the corpus size is (:func:`check_faiss_corpus`)."""
    usable = sum(1 for qid, judged in qrels.items() if qid in queries and any(g > 0 for g in judged.values()))
    if not usable:
        raise DataError(f"the train split has no query with a relevant document (every grade is <= 0): nothing "
                        f"to train on; relevant documents need grades >= 1 (data.name={app.data.name})",
                        app.data.path)
    if app.train.batch_size > usable:
        log.warning("train.batch_size=%d is above the %d training queries with a relevant document in %s: "
                    "every batch holds those %d (a batch holds each query once)", app.train.batch_size, usable,
                    app.data.name, usable)


def _hnsw_m(graph: Any) -> int:
    """M of an HNSW graph (level 0 holds 2*M neighbours); 0 when FAISS cannot say (M < 1)."""
    try:
        return int(graph.nb_neighbors(0)) // 2
    except RuntimeError:
        return 0


def check_search_params(key: str, parameters: str | None, index: Any) -> None:
    """A ParameterSpace string (``"nprobe=16,efSearch=64"``) FAISS accepts for ``index``."""
    if not parameters:
        return
    import faiss

    try:
        faiss.ParameterSpace().set_index_parameters(index, str(parameters))  # type: ignore[arg-type]
    except RuntimeError as exc:
        raise fail(key, parameters, f"FAISS rejects it for this index: {faiss_message(exc)}") from None


def faiss_message(exc: BaseException) -> str:
    """The reason of a FAISS error without its C++ location (``Error in <signature> at <file>:<line>: ...``)."""
    text = " ".join(str(exc).split())
    for marker in ("Error: ", "failed: "):
        if marker in text:
            text = text.rsplit(marker, 1)[1]
    text = re.sub(r"^Error in .*? at \S+:\d+: ", "", text)
    text = re.sub(r"^(?:\w+::)+\w+:\s*", "", text)  # ParameterSpace::set_index_parameter:could not ...
    return text.rstrip(".")


# ---------------------------------------------------------------------------------------------- train
def check_loss(app: TrainApp) -> None:
    """The loss exists and takes these keywords and values; fills in the loss's own defaults for the rest."""
    from gradedpr.losses import available_losses, get_loss, loss_hyperparameters

    name = app.loss.name
    if name not in available_losses():
        raise fail("loss.name", name, f"must be one of {', '.join(available_losses())}")
    valid = {k: v for k, v in loss_hyperparameters(name).items() if k != "generator"}
    kwargs = dict(app.loss.kwargs)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ConfigError(f"loss.kwargs.{unknown[0]}: not a hyper-parameter of loss {name!r}; valid: "
                          f"{', '.join(sorted(valid)) or '(none)'}")
    try:
        get_loss(name, **kwargs)
    except ValueError as exc:
        raise ConfigError(f"loss.kwargs: {exc}") from None
    app.loss.kwargs = {**valid, **kwargs}


def run_dir_of(cfg: Any) -> Path | None:
    """The ``run_dir`` a training config names (None when it cannot be resolved: ``to_app`` reports that)."""
    try:
        given = OmegaConf.select(cfg, "run_dir") if isinstance(cfg, DictConfig) else getattr(cfg, "run_dir", None)
    except Exception:
        return None
    return Path(str(given)) if given else None


def train_app(cfg: DictConfig | TrainApp) -> TrainApp:
    """The validated settings of ``scripts/train.py``: the schema's checks, then what needs the machine and the
    files (device, metric, loss, the model's maximum lengths, a writable run directory, a resumable checkpoint).
    A refused start leaves no run directory behind (Hydra creates it before the command runs)."""
    with removed_on_failure(run_dir_of(cfg)):
        app = to_app(cfg, TrainApp)
        if app.resume_from and rank_and_world()[0] == 0:  # a run a live process still trains: said first
            source_run = run_of_checkpoint(app.resume_from)
            if source_run is not None:
                check_run_dir_free(source_run)
        if app.resume_from and not (Path(app.resume_from) / STATE_FILE).is_file():
            raise CheckpointError(f"{Path(app.resume_from) / STATE_FILE}: no trainer state to resume from (use a "
                                  "checkpoints/last directory)")
        check_train_app(app)
        check_data_path(app.data)
        check_writable("run_dir", app.run_dir)
        if rank_and_world()[0] == 0:
            check_run_dir(app.run_dir, resume_from=app.resume_from, overwrite=app.overwrite)
        if app.resume_from:
            check_resumable(app)
    return app


def check_resumable(app: TrainApp) -> None:
    """``resume_from`` is a ``checkpoints/last`` with trainer state whose run had the settings that must match
    (the run's ``config.yaml``; the trainer state's own settings are compared again by ``Trainer.resume``)."""
    from gradedpr.losses import loss_hyperparameters

    last = Path(str(app.resume_from))
    recorded = last.parent.parent / "config.yaml"
    if not recorded.is_file():
        return
    loaded = OmegaConf.to_container(OmegaConf.load(recorded), resolve=False)
    if not isinstance(loaded, dict):
        return
    old = {str(k): v for k, v in loaded.items()}
    old_loss = old.get("loss")
    if isinstance(old_loss, dict) and old_loss.get("name") == app.loss.name:  # both with the loss's defaults
        old_loss["kwargs"] = {**{k: v for k, v in loss_hyperparameters(app.loss.name).items() if k != "generator"},
                              **(old_loss.get("kwargs") or {})}
    check_resume_settings(old, to_dict(app), f"resume_from={last} (settings of {recorded})")


def index_app(cfg: DictConfig | IndexApp) -> IndexApp:
    """The validated settings of ``scripts/index.py``: the schema's checks, the device, the model's limits
    (maximum length, the dimension the FAISS parameters must fit), writable output paths."""
    app = to_app(cfg, IndexApp)
    check_data_path(app.data)
    check_device("device", app.device)
    limits = model_limits(app.checkpoint)
    check_max_length("model.passage_max_length", app.model.passage_max_length, limits)
    check_faiss(app.faiss, limits.hidden_size)
    check_writable("output", app.output)
    check_writable("embeddings_dir", app.embeddings_dir)
    return app


def evaluate_app(cfg: DictConfig | EvaluateApp) -> EvaluateApp:
    """The validated settings of ``scripts/evaluate.py``: the schema's checks and the measures; for a checkpoint
    also the device, the model's maximum lengths and ``k``; a writable ``output`` when one is given."""
    app = to_app(cfg, EvaluateApp)
    app.measures = check_measures("measures", list(app.measures))
    if app.output:
        check_writable("output", app.output)
    if not app.qrels:
        check_data_path(app.data)
    if app.run or app.runs:
        return app
    if app.index:
        check_index_search_params(app.index, app.search_params)
    if app.k < MIN_EVAL_K:
        raise fail("k", app.k, f"too small: the measures go down to rank {MIN_EVAL_K}; use k >= {MIN_EVAL_K}")
    check_device("device", app.device)
    limits = model_limits(app.checkpoint)
    check_max_length("model.query_max_length", app.model.query_max_length, limits)
    check_max_length("model.passage_max_length", app.model.passage_max_length, limits)
    return app


def export_app(cfg: Any) -> ExportApp:
    """The validated settings of ``scripts/export.py``: both directories given, the checkpoint exists, the
    output can be written."""
    from gradedpr.model.resolve import resolve_model_path

    app = to_app(cfg, ExportApp)
    resolve_model_path(app.checkpoint)
    check_writable("output", app.output)
    return app


def check_parallel_settings(settings: TrainConfig, world_size: int, *, custom_step: bool = False) -> None:
    """Refuse settings that several processes or GradCache cannot honour (one clear line each)."""
    if settings.batch_size % world_size:
        raise ConfigError(f"train.batch_size={settings.batch_size} (queries per step over all processes) is not "
                          f"divisible by the world size {world_size}: use a multiple of {world_size}")
    per_rank = settings.batch_size // world_size
    chunk = settings.grad_cache_chunk
    if chunk is not None and chunk > per_rank:
        raise ConfigError(f"train.grad_cache_chunk={chunk} is larger than the {per_rank} queries each of the "
                          f"{world_size} process(es) encodes per step (train.batch_size={settings.batch_size}): "
                          f"use 1..{per_rank}, or null to switch GradCache off")
    if custom_step and world_size > 1:
        raise ConfigError("this training regime (e.g. train.regime=frozen) runs in one process only: launch it "
                          "without torchrun (WORLD_SIZE=1)")
    if custom_step and chunk is not None:
        raise ConfigError("train.grad_cache_chunk works in the in-batch regime (train.regime=full) only")


def check_train_app(app: TrainApp) -> None:
    """What the schema cannot check alone: the device, the metric, the loss, the model's maximum lengths."""
    check_device("device", app.device)
    t = app.train
    check_measure("train.eval_metric", t.eval_metric)
    from gradedpr.evaluation.measures import parse_measure

    measure = parse_measure(t.eval_metric)
    t.eval_metric, cutoff = measure.name, measure.cutoff
    if cutoff is not None and t.eval_k < cutoff:
        raise fail("train.eval_k", t.eval_k, f"must be >= {cutoff}, the cutoff of train.eval_metric={t.eval_metric}")
    if t.regime == "frozen" and t.negatives_refresh_every:
        raise fail("train.negatives_refresh_every", t.negatives_refresh_every,
                   "needs train.regime=full and train.negatives=model")
    if t.negatives_refresh_every and t.negatives != "model":
        raise fail("train.negatives_refresh_every", t.negatives_refresh_every, "needs train.negatives=model")
    if (t.regime == "frozen" and t.eval_passage_max_length is not None
            and t.eval_passage_max_length != app.model.passage_max_length):
        raise fail("train.eval_passage_max_length", t.eval_passage_max_length,
                   f"must equal model.passage_max_length ({app.model.passage_max_length}) in the frozen regime "
                   "(the passages are encoded once, at model.passage_max_length)")
    check_parallel_settings(t, rank_and_world()[1], custom_step=t.regime == "frozen")
    check_loss(app)
    limits = model_limits(app.resume_from or app.model.name_or_path)
    for key, value in (("model.query_max_length", app.model.query_max_length),
                       ("model.passage_max_length", app.model.passage_max_length),
                       ("train.eval_passage_max_length", t.eval_passage_max_length),
                       ("train.test_passage_max_length", t.test_passage_max_length)):
        check_max_length(key, value, limits)
