"""The names of the files more than one package reads or writes, defined once.

A format owned by one module keeps its names there (``index.json`` in :mod:`gradedpr.index.dense`,
``embeddings.*`` in :mod:`gradedpr.encode.store`); the names here cross packages: a run directory is written by
the trainer and read by model cards, the study and the sweep; a checkpoint by the model and the trainer;
an evaluation directory by the evaluator, the trainer's test run and the study.
"""

from __future__ import annotations

# a training run directory (outputs/train/<run>/)
RUN_CONFIG = "config.yaml"
"""The resolved Hydra config of the run."""
METRICS_LOG = "metrics.jsonl"
"""One JSON record per logged step (train loss, dev metrics)."""
TRAIN_SUMMARY = "train_summary.json"
"""Written once training is over: steps, best step and metric, evaluations (and test metrics)."""
CURVES_FILE = "curves.png"
"""Dev metric and training loss against step (``gradedpr.train.curves``; also logged to wandb)."""

# a checkpoint directory (<run>/checkpoints/{best,last}/), besides the model's own files
TRAINER_STATE = "trainer_state.pt"
"""Optimiser, scheduler, RNG and data position for resuming (``checkpoints/last`` only)."""
TRAINING_INFO = "training_info.json"
"""Step, epoch and best metric at the time the checkpoint was written."""

# an evaluation directory (outputs/eval/<name>/, <run>/<split>/)
RUN_FILE = "run.trec"
"""The TREC run file."""
METRICS_FILE = "metrics.json"
"""Means, per-query values and where they came from."""

# id maps of the on-disk embedding store and of an index directory
IDS_FILE = "ids.txt"
"""One document id per line, in row order."""
