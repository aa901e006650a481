"""Put the schema into Hydra's ConfigStore: ``register_configs()``, called by ``scripts/*.py`` before
``@hydra.main`` (and by code that composes the configs with ``hydra.compose``).

=====================  ================================  ==========================================
ConfigStore entry      schema                            named by
=====================  ================================  ==========================================
``base_train``         :class:`~.schema.TrainApp`        ``configs/train.yaml`` (first default)
``base_index``         :class:`~.schema.IndexApp`        ``configs/index.yaml``
``base_evaluate``      :class:`~.schema.EvaluateApp`     ``configs/evaluate.yaml``
``base_export``        :class:`~.schema.ExportApp`       ``configs/export.yaml``
``schema/data/data``   :class:`~.schema.DataConfig`      ``configs/data/*.yaml`` (also under study)
``schema/faiss/<t>``   ``FlatConfig`` ... ``FactoryConfig``  ``configs/faiss/<t>.yaml``
=====================  ================================  ==========================================

The ``train``, ``model``, ``loss`` and ``logger`` groups are typed by their field in ``TrainApp``.
"""

from __future__ import annotations

from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from gradedpr.config.schema import FAISS_SCHEMAS, DataConfig, EvaluateApp, ExportApp, IndexApp, TrainApp

APPS: dict[str, type[Any]] = {"base_train": TrainApp, "base_index": IndexApp, "base_evaluate": EvaluateApp,
                              "base_export": ExportApp}


def schema_node(schema: type[Any]) -> DictConfig:
    """``schema`` as a typed OmegaConf node; ``loss.kwargs`` stays an open dict (its keys are the loss's)."""
    node = OmegaConf.structured(schema)
    if "loss" in node:
        OmegaConf.set_struct(node.loss.kwargs, False)
    return node


def register_configs() -> None:
    """Store every schema in Hydra's ConfigStore (idempotent)."""
    store = ConfigStore.instance()
    for name, schema in APPS.items():
        store.store(name=name, node=schema_node(schema))
    store.store(group="schema/data", name="data", node=DataConfig)
    for kind, schema in FAISS_SCHEMAS.items():
        store.store(group="schema/faiss", name=kind, node=schema)
