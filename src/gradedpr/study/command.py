"""What ``scripts/study.py`` does: plan, run (skipping finished runs), baselines, aggregate, write docs."""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from gradedpr.study.aggregate import (
    add_tests,
    collect,
    markdown_table,
    pair_tests,
    pairs_markdown,
    rows_to_json,
    summary_csv,
)
from gradedpr.study.blind import blind_study
from gradedpr.study.plan import logger_overrides, plan_runs, seed_major
from gradedpr.study.plots import plot_dev_curves, plot_test
from gradedpr.study.reuse import reuse_runs
from gradedpr.study.runner import execute, run_baselines
from gradedpr.utils.atomic import atomic_write_text


def run_study(cfg: DictConfig) -> str:
    """Run the study ``cfg.study`` describes and write its summary; returns the Markdown table."""
    study = cfg.study
    output = Path(str(cfg.output))
    split, dev_split = str(study.split), str(study.dev_split)
    regimes = OmegaConf.to_container(study.regimes, resolve=True)
    assert isinstance(regimes, dict)
    common = [str(o) for o in study.get("overrides") or []]  # applied to every regime, before its own
    for spec in regimes.values():
        spec["overrides"] = [*common, *(spec.get("overrides") or [])]
    blind = bool(study.get("blind", False))
    logger = logger_overrides(str(cfg.get("logger") or "none"), str(study.name))
    all_runs = plan_runs(regimes, output, str(study.data.name), split, logger,  # type: ignore[arg-type]
                         blind=blind)
    runs = [r for r in all_runs if not cfg.only or r.regime in set(cfg.only)]
    output.mkdir(parents=True, exist_ok=True)
    atomic_write_text(output / "study.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    if cfg.baselines:
        run_baselines(study, output, [dev_split, split])
    if cfg.train_runs:
        reused = reuse_runs(runs, regimes, split)  # type: ignore[arg-type]
        if reused:
            print(f"study: {reused} run(s) copied from the studies that trained them (regimes' reuse)")
        execute(seed_major(runs, regimes), split, python=cfg.get("python"),  # type: ignore[arg-type]
                threads=cfg.get("threads"), jobs=int(cfg.jobs), blind=blind)
    if not cfg.get("aggregate", True):
        return ""
    if blind:
        return blind_study(cfg, regimes, all_runs, output)  # type: ignore[arg-type]
    rows = collect(plan_runs(regimes, output, str(study.data.name), split), output, split,  # type: ignore[arg-type]
                   dev_split=dev_split)
    add_tests(rows, n_permutations=int(cfg.n_permutations), seed=int(cfg.permutation_seed))
    pairs = pair_tests(rows, OmegaConf.to_container(study.get("pairs") or []),  # type: ignore[arg-type]
                       n_permutations=int(cfg.n_permutations), seed=int(cfg.permutation_seed))
    table = markdown_table(rows)
    if pairs:
        table += "\nOther paired comparisons (per-query test nDCG@10 averaged over seeds):\n\n" + pairs_markdown(pairs)
    docs = Path(str(cfg.docs))
    atomic_write_text(docs / "summary.csv", summary_csv(rows))
    atomic_write_text(docs / "summary.md", table)
    atomic_write_text(docs / "summary.json", json.dumps({"rows": rows_to_json(rows), "pairs": pairs}, indent=1) + "\n")
    plot_test(rows, docs / "test_ndcg10.png")
    plot_dev_curves(rows, docs / "dev_curves.png")
    print(table)
    print(f"summary: {docs / 'summary.csv'}, {docs / 'summary.md'}; plots: {docs / 'test_ndcg10.png'}, "
          f"{docs / 'dev_curves.png'}; runs: {output / 'runs'}")
    return table
