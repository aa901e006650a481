"""Blind studies (``study.blind: true``): training runs see train and dev only; test is scored apart.

Protocol (docs/RESULTS.md): every run picks its checkpoint on dev (best dev evaluation, then the start-model
guard). Test values are computed only by ``scripts/study.py study=<name> test=true`` (:func:`score_test`), once
every recipe and hyper-parameter is frozen; until then the summary holds dev values only.

The evidence (:func:`blind_study`) is written under the study's ``docs`` directory so that any reported p-value
can be recomputed from a clone: ``perquery/<split>/<regime>.<variant>.json`` holds every per-query value
(the zero-shot start model's and each run's, per seed), ``summary.json`` every mean and paired test,
``summary.md`` the tables. Variants: ``all`` (the regime's qrels) and, for a regime with held-out documents,
``unseen`` (only the judgments of documents no training query saw, over the queries that have at least one)
and, for a regime with ``top_grade: true``, ``top_grade`` (only the judgments at the highest grade: whether a
loss ranks the best documents above the merely relevant ones).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from gradedpr.data.collection import Collection
from gradedpr.data.from_config import collection_from_config
from gradedpr.data.runs import read_trec_run
from gradedpr.data.subsets import heldout_documents, judged_elsewhere, only_documents, top_grade_only
from gradedpr.evaluation.metrics import evaluate_run
from gradedpr.evaluation.report import write_run_and_metrics
from gradedpr.filenames import METRICS_FILE, RUN_CONFIG, RUN_FILE, TRAIN_SUMMARY
from gradedpr.index.dense import DenseIndex
from gradedpr.index.faiss_build import IndexSpec
from gradedpr.index.retrieval import build_dense_index, retrieve
from gradedpr.model.biencoder import BiEncoder
from gradedpr.model.passage_length import passage_length, split_passage_length
from gradedpr.study.aggregate import paired, seed_mean
from gradedpr.study.plan import PlannedRun
from gradedpr.study.runner import WALL_FILE, is_finished
from gradedpr.types import Qrels
from gradedpr.utils.atomic import atomic_write_text
from gradedpr.utils.device import pick_device

log = logging.getLogger(__name__)
MEASURE = "ndcg@10"
TRAINED_SUFFIX = "_trained"
"""``<split>_trained/``: test of the checkpoint the guard refused (``checkpoints/trained_best``)."""
UNGUARDED = "_no_guard"
"""The test view without the guard: each run's refused candidate where the guard refused one."""


# ---------------------------------------------------------------------------------------------- test phase
def run_config(run: PlannedRun) -> dict[str, Any]:
    """The resolved settings a run recorded (``config.yaml``)."""
    config = OmegaConf.to_container(OmegaConf.load(run.run_dir / RUN_CONFIG), resolve=False)
    assert isinstance(config, dict)
    return {str(k): v for k, v in config.items()}


def run_data(run: PlannedRun) -> dict[str, Any]:
    data = run_config(run)["data"]
    assert isinstance(data, dict)
    return {str(k): v for k, v in data.items()}


def score_test(runs: Sequence[PlannedRun], split: str, k: int = 100) -> int:
    """Score every finished run's selected checkpoint (``checkpoints/best``) on ``split`` into
    ``<run_dir>/<split>/`` (and a refused ``checkpoints/trained_best`` into ``<run_dir>/<split>_trained/``).
    Runs already scored are skipped; returns how many checkpoints were scored."""
    collections: dict[str, Collection] = {}
    indexes: dict[str, DenseIndex] = {}
    scored = 0
    device = pick_device("auto")
    for run in runs:
        if not is_finished(run, split, blind=True):
            continue
        config = run_config(run)
        data = config["data"]
        if data["name"] not in collections:
            collections[data["name"]] = collection_from_config(data, splits=[split])
        collection = collections[data["name"]]
        store = config["train"].get("embeddings_dir") if config["train"]["regime"] == "frozen" else None
        for name, target in (("best", run.run_dir / split), ("trained_best", run.run_dir / f"{split}{TRAINED_SUFFIX}")):
            checkpoint = run.run_dir / "checkpoints" / name
            if not checkpoint.is_dir() or (target / METRICS_FILE).is_file():
                continue
            model = BiEncoder.from_pretrained(checkpoint).to(device)
            index = indexes.get(str(store)) if store else None
            if store and index is None:  # the frozen passage encoder: the one corpus encoding serves every run
                index = build_dense_index(model, collection.corpus, IndexSpec("flat"), embeddings_dir=store,
                                          show_progress=False)
                assert index is not None
                indexes[str(store)] = index
            t = config["train"]  # encoded at the run's own test length (its experiment's 256, not training's 128)
            length = split_passage_length(split, t.get("eval_split"), t.get("eval_passage_max_length"),
                                          t.get("test_passage_max_length"))
            extra: dict[str, Any] = {"split": split, "checkpoint": name}
            with passage_length(model, length):  # passages only: a frozen store's index holds them already
                ranked = retrieve(model, collection, split, k=k, index=index, show_progress=False)
                if index is None:  # the frozen regime's passages come from its store, encoded once
                    extra["passage_max_length"] = model.config.passage_max_length
            result = write_run_and_metrics(ranked, collection.qrels[split], target, tag=f"{run.run_dir.name}-{name}",
                                           extra=extra)
            scored += 1
            print(f"{run.name} ({name}) {split}: {MEASURE} {result.mean[MEASURE]:.4f}", flush=True)
    return scored


# ---------------------------------------------------------------------------------------------- evidence
def _per_query(run_file: Path, qrels: Qrels) -> dict[str, float]:
    result = evaluate_run(read_trec_run(run_file), qrels, [MEASURE])
    return {qid: values[MEASURE] for qid, values in result.per_query.items()}


def _variants(spec: Mapping[str, Any], collection: Collection, split: str) -> dict[str, Qrels]:
    qrels = collection.qrels[split]
    variants = {"all": qrels}
    heldout = spec.get("heldout")
    if heldout:
        docs = heldout_documents(list(collection.corpus.ids), float(heldout["fraction"]), int(heldout["seed"]))
        variants["unseen"] = only_documents(qrels, docs)
    if spec.get("top_grade"):  # does the loss order the grades? nDCG@10 with the top-grade documents alone
        variants["top_grade"] = top_grade_only(qrels)
    return variants


def _summaries(runs: Sequence[PlannedRun]) -> dict[str, dict[str, Any]]:
    out = {}
    for run in runs:
        path = run.run_dir / TRAIN_SUMMARY
        if path.is_file():
            summary = json.loads(path.read_text(encoding="utf-8"))
            wall = run.run_dir / WALL_FILE
            summary["wall"] = json.loads(wall.read_text(encoding="utf-8")) if wall.is_file() else None
            out[run.name] = summary
    return out


def regime_evidence(regime: str, spec: Mapping[str, Any], runs: Sequence[PlannedRun], collection: Collection,
                    zeroshot_dir: Path, split: str, n_permutations: int, seed: int,
                    run_subdirs: Sequence[str] = (),
                    other_regimes: dict[str, dict[str, Any]] | None = None,
                    ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Rows (one per loss and variant) and the per-query evidence of one regime on ``split``; each run's run file
    is the first of ``<run_dir>/<run_subdirs>/run.trec`` that exists (default: ``<split>``).

    ``spec["against"]`` names an earlier regime: each loss is also tested against the same loss there (e.g.
    bounded lists against whole-corpus lists), from ``other_regimes`` (regime -> variant -> loss -> seed-mean
    per-query values); the means of this regime are added to it."""
    rows: list[dict[str, Any]] = []
    evidence: dict[str, dict[str, Any]] = {}
    summaries = _summaries(runs)
    for variant, qrels in _variants(spec, collection, split).items():
        zeroshot = _per_query(zeroshot_dir / split / RUN_FILE, qrels)
        per_loss: dict[str, dict[str, dict[str, float]]] = {}
        for run in runs:
            candidates = [run.run_dir / sub / RUN_FILE for sub in (run_subdirs or [split])]
            run_file = next((f for f in candidates if f.is_file()), None)
            if run_file is not None:
                per_loss.setdefault(run.loss, {})[str(run.seed)] = _per_query(run_file, qrels)
        evidence[variant] = {"measure": MEASURE, "split": split, "variant": variant, "zeroshot": zeroshot,
                             "runs": per_loss}
        means = {loss: seed_mean(list(seeds.values()), f"the seeds of {regime}/{loss}")
                 for loss, seeds in per_loss.items()}
        zs_mean = float(np.mean(list(zeroshot.values())))
        for loss, seeds in per_loss.items():
            values = [float(np.mean(list(s.values()))) for s in seeds.values()]
            members = [summaries.get(f"{regime}-{loss}-s{s}", {}) for s in seeds]
            row: dict[str, Any] = {
                "regime": regime, "loss": loss, "variant": variant, "split": split, "queries": len(zeroshot),
                "seeds": sorted(int(s) for s in seeds), "per_seed": values,
                "mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                "zeroshot": zs_mean,
                "seeds_worse_than_zeroshot": int(sum(v < zs_mean for v in values)),
                "kept_start": int(sum(m.get("selected") == "start" for m in members)),
                "best_steps": [m.get("best_step") for m in members], "steps": [m.get("steps") for m in members],
                "minutes": [round(m["wall"]["seconds"] / 60, 1) for m in members if m.get("wall")],
                "tests": {"zeroshot": paired(means[loss], zeroshot, n_permutations, seed,
                                             f"{regime}/{loss} and zero-shot")},
            }
            for control in spec.get("controls") or []:
                if control != loss and control in means:
                    row["tests"][control] = paired(means[loss], means[control], n_permutations, seed,
                                                   f"{regime}/{loss} and {control}")
            against = (other_regimes or {}).get(str(spec.get("against")), {}).get(variant, {}).get(loss)
            if against is not None:
                row["tests"][f"{spec['against']}/{loss}"] = paired(means[loss], against, n_permutations, seed,
                                                                   f"{regime}/{loss} and {spec['against']}/{loss}")
            rows.append(row)
        if other_regimes is not None:
            other_regimes.setdefault(regime, {})[variant] = means
    return rows, evidence


def _fmt_test(test: Mapping[str, Any] | None) -> str:
    if not test:
        return ""
    return (f"{test['diff']:+.4f}, p {test['p_perm']:.4f} / {test['p_t']:.4f}, "
            f"{test['wins']}/{test['ties']}/{test['losses']}")


def markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """One table: each row's mean +- std over seeds, its tests against zero-shot and against every control the
    rows were tested against (one column each, in order of first appearance)."""
    controls = list(dict.fromkeys(name for r in rows for name in r["tests"] if name != "zeroshot"))
    head = ("| split | regime | variant | loss | seeds | queries | nDCG@10 mean +- std | zero-shot | "
            "vs zero-shot: diff, p perm / p t, W/T/L | " + "".join(f"vs {c} | " for c in controls)
            + "seeds < zero-shot | guard kept start | best steps | steps | min/run |\n"
            + "|---|---|---|---|---:|---:|---:|---:|---|" + "---|" * len(controls) + "---:|---:|---|---|---|\n")
    lines = []
    for r in rows:
        tests = r["tests"]
        lines.append(
            f"| {r['split']} | {r['regime']} | {r['variant']} | {r['loss']} | {len(r['seeds'])} | {r['queries']} | "
            f"{r['mean']:.4f} +- {r['std']:.4f} | {r['zeroshot']:.4f} | {_fmt_test(tests.get('zeroshot'))} | "
            + "".join(f"{_fmt_test(tests.get(c))} | " for c in controls)
            + f"{r['seeds_worse_than_zeroshot']} | {r['kept_start']} | {', '.join(map(str, r['best_steps']))} | "
            f"{', '.join(map(str, r['steps']))} | {', '.join(map(str, r['minutes']))} |")
    return head + "\n".join(lines) + "\n"


def blind_study(cfg: DictConfig, regimes: Mapping[str, Mapping[str, Any]], runs: Sequence[PlannedRun],
                output: Path) -> str:
    """Score test when ``cfg.test`` (and only then), then write the evidence and the tables of every split
    scored so far: dev always (the selected checkpoint's dev run, written by the guard), test once scored."""
    study = cfg.study
    split, dev_split = str(study.split), str(study.dev_split)
    if cfg.get("test"):
        score_test(runs, split)
    docs = Path(str(cfg.docs))
    n_perm, perm_seed = int(cfg.n_permutations), int(cfg.permutation_seed)
    collections: dict[str, Collection] = {}
    facts: dict[str, Any] = {}  # what the data say about transductive gain (judged pairs, held-out documents)
    all_rows: list[dict[str, Any]] = []
    sections: list[str] = []
    views = [(dev_split, dev_split, [dev_split])]  # (label, split, where each run's run file is looked for)
    if cfg.get("test") or any((r.run_dir / split).is_dir() for r in runs):
        # test as selected (guard on), and without the guard (the refused candidate where one was refused)
        views += [(split, split, [split]), (f"{split}{UNGUARDED}", split, [f"{split}{TRAINED_SUFFIX}", split])]
    for label, current, subdirs in views:
        rows_here: list[dict[str, Any]] = []
        regime_means: dict[str, Any] = {}  # what a later regime's ``against`` compares with
        for regime, spec in regimes.items():
            members = [r for r in runs if r.regime == regime and (r.run_dir / RUN_CONFIG).is_file()]
            if not members:
                continue
            data = run_data(members[0])  # the data every run of the regime trained on, as it recorded it
            key = str(data["name"])
            if key not in collections:
                collections[key] = collection_from_config(data, splits=["train", dev_split, split])
                pairs, elsewhere = judged_elsewhere(collections[key].qrels[split], collections[key].qrels["train"])
                facts[key] = {f"{split}_judged_pairs": pairs, f"{split}_pairs_judged_for_train_queries": elsewhere}
            if spec.get("heldout"):
                heldout = spec["heldout"]
                facts[f"{regime}.heldout_documents"] = len(heldout_documents(
                    list(collections[key].corpus.ids), float(heldout["fraction"]), int(heldout["seed"])))
            rows, evidence = regime_evidence(regime, spec, members, collections[key],
                                             output / "baselines" / "zeroshot", current, n_perm, perm_seed,
                                             run_subdirs=subdirs, other_regimes=regime_means)
            for row in rows:
                row["split"] = label
            for variant, values in evidence.items():
                atomic_write_text(docs / "perquery" / label / f"{regime}.{variant}.json",
                                  json.dumps(values, indent=0, sort_keys=True) + "\n")
            rows_here.extend(rows)
        if rows_here:
            sections.append(markdown(rows_here))
            all_rows.extend(rows_here)
    text = "\n".join(sections)
    atomic_write_text(docs / "summary.md", text)
    atomic_write_text(docs / "summary.json", json.dumps({"measure": MEASURE, "n_permutations": n_perm,
                                                         "permutation_seed": perm_seed, "data": facts,
                                                         "rows": all_rows},
                                                        indent=1) + "\n")
    print(text)
    return text
