"""What the index / evaluate / train commands share: loading the model a config names, naming outputs,
and the ``${checkpoint_label:...}`` (and ``${basename:...}``) resolvers the configs use in output paths."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import OmegaConf

from gradedpr.filenames import RUN_CONFIG

if TYPE_CHECKING:
    from gradedpr.model.biencoder import BiEncoder


def basename(path: object) -> str:
    """The last component of ``path`` (``outputs/run/checkpoints/best`` -> ``best``)."""
    text = str(path).rstrip("/")
    return Path(text).name or text


def checkpoint_label(path: object) -> str:
    """A name for a checkpoint in default output paths, distinct for every run's ``best`` / ``last``.

    ``<run>/checkpoints/<name>`` of a training run (a directory holding ``config.yaml``) -> ``<run>-<name>``
    (a Hydra sweep job ``<sweep>/<job>`` -> ``<sweep>-<job>-<name>``); any other existing directory ->
    ``<name>-<8 hex digits of a hash of its resolved path>``; anything else (``default``, a model name) as is.
    """
    name = basename(path)
    location = Path(str(path)).expanduser()
    if not location.is_dir():
        return slug(name)
    resolved = location.resolve()
    run = resolved.parent.parent
    if resolved.parent.name == "checkpoints" and (run / RUN_CONFIG).is_file():
        prefix = f"{run.parent.name}-{run.name}" if (run.parent / "multirun.yaml").is_file() else run.name
        return slug(f"{prefix}-{resolved.name}")
    digest = hashlib.sha1(str(resolved).encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{slug(resolved.name)}-{digest}"


def register_resolvers() -> None:
    """Register the OmegaConf resolvers the configs use (``${checkpoint_label:...}``, ``${basename:...}``,
    ``${gradedpr_help:<script>}``: the ``--help`` text, :mod:`gradedpr.commands.help`); the scripts call this
    first."""
    from gradedpr.commands.help import help_resolver

    if not OmegaConf.has_resolver("basename"):
        OmegaConf.register_new_resolver("basename", basename)
    if not OmegaConf.has_resolver("checkpoint_label"):
        OmegaConf.register_new_resolver("checkpoint_label", checkpoint_label)
    if not OmegaConf.has_resolver("gradedpr_help"):
        OmegaConf.register_new_resolver("gradedpr_help", help_resolver)


LOSS_SCHEMA_GROUP = "schema/loss"


def register_loss_defaults() -> None:
    """Put each registered loss's hyper-parameters with their defaults (the loss function's signature) in Hydra's
    ConfigStore as ``schema/loss/<loss>``: the ``configs/loss/*.yaml`` name it as an optional default, so the
    composed config (``--cfg job``, ``config.yaml``) shows them; a recipe's own ``kwargs`` still win.
    ``scripts/train.py`` calls this (it imports the losses, hence torch)."""
    from hydra.core.config_store import ConfigStore

    from gradedpr.losses import available_losses, loss_hyperparameters

    store = ConfigStore.instance()
    for name in available_losses():
        kwargs = {k: v for k, v in loss_hyperparameters(name).items() if k != "generator"}
        store.store(group=LOSS_SCHEMA_GROUP, name=name, node={"name": name, "kwargs": kwargs})


def slug(text: str) -> str:
    """``text`` made safe as one path component."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("_") or "run"


def load_model(checkpoint: str, device: str = "auto", accel: bool = True, **overrides: Any) -> BiEncoder:
    """The checkpoint's dual encoder on ``device``, encoding through the oneDNN kernels when ``accel``;
    ``overrides`` (None = the checkpoint's own) replace settings."""
    from gradedpr.model.biencoder import BiEncoder  # here: the scripts import this module before checking settings
    from gradedpr.utils.device import pick_device

    model = BiEncoder.from_pretrained(checkpoint, **{k: v for k, v in overrides.items() if v is not None})
    model.accel = accel
    return model.to(pick_device(device))


def checkpoint_path(checkpoint: str) -> str:
    from gradedpr.model.resolve import resolve_model_path

    return str(resolve_model_path(checkpoint).resolve())


def hydra_choice(group: str) -> str | None:
    """The option of config group ``group`` that Hydra composed (``experiment=nfcorpus`` -> ``nfcorpus``); None
    outside a Hydra application or when the group was not used."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    value = HydraConfig.get().runtime.choices.get(group)
    return str(value) if value else None
