"""``--help`` of every script, generated from the schema: what the script does, the config groups it accepts
(with their options) and every setting with its default and description.

The descriptions are the comments next to the fields of :mod:`gradedpr.config.schema` (a comment on the field's
line, continued on ``#   ...`` lines below it, or a comment block right above it) and the dataclasses'
docstrings, so that the schema stays the one place where a setting is described. Each ``configs/<script>.yaml``
sets ``hydra.help.template: ${gradedpr_help:<script>}``; the resolver (registered by
:func:`gradedpr.commands.common.register_resolvers`) renders the text when Hydra prints the help. The study's
settings have no dataclass: they are read from the comments of ``configs/study.yaml``.
"""

from __future__ import annotations

import ast
import inspect
import io
import re
import tokenize
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING as NO_DEFAULT
from dataclasses import fields, is_dataclass
from functools import cache
from pathlib import Path
from typing import Any

from omegaconf import MISSING

from gradedpr.config import schema

SCRIPTS: dict[str, str] = {
    "train": "Fine-tune a dual encoder (query and passage BERT) on graded relevance judgments with a listwise "
             "loss; evaluate on the dev split while training, keep the best and the last checkpoint, and, with "
             "train.test_split, evaluate the best checkpoint on the test split. Writes the run directory: "
             "config.yaml, metrics.jsonl, train.log, curves.png, train_summary.json, checkpoints/.",
    "index": "Encode a collection's passages with a checkpoint and build a FAISS index (flat, HNSW, IVF-PQ or any "
             "factory string); resumable, shardable over torchrun processes.",
    "evaluate": "Evaluate a checkpoint on a split (retrieve with an index, or encode the corpus in memory), score "
                "an existing TREC run file (run=), or compare run files with paired significance tests (runs=). "
                "Writes the TREC run and metrics.json; per_grade=true adds recall@k and mean rank per grade.",
    "export": "Export a gradedpr checkpoint as a sentence-transformers model directory (with a Hub model card), "
              "checked to give the same embeddings.",
    "study": "Run a study: training runs for every (regime, loss, seed), zero-shot and BM25 baselines, then the "
             "summary table, paired significance tests and plots.",
}
APPS: dict[str, type[Any] | None] = {"train": schema.TrainApp, "index": schema.IndexApp,
                                     "evaluate": schema.EvaluateApp, "export": schema.ExportApp, "study": None}
GROUPS: dict[str, tuple[str, ...]] = {
    "train": ("model", "data", "loss", "train", "logger", "experiment"),
    "index": ("data", "faiss"),
    "evaluate": ("data",),
    "export": (),
    "study": ("study",),
}
"""The config groups each script accepts (``group=option``); nothing else is listed."""
_GROUP_NOTES = {
    "experiment": "a whole recipe (model, data, loss, train settings together)",
    "faiss": "the index type; its parameters are faiss.<name> (below)",
    "study": "which study: its data, regimes, losses and seeds (configs/study/<option>.yaml)",
}
_WIDTH = 118


# ---------------------------------------------------------------------------------------------- field docs
@cache
def field_comments() -> dict[str, dict[str, str]]:
    """class name -> field name -> the comment that describes it in ``schema.py``."""
    source = inspect.getsource(schema)
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string
    lines = source.splitlines()
    out: dict[str, dict[str, str]] = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef):
            continue
        docs: dict[str, str] = {}
        previous_end = node.lineno
        for item in node.body:
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                parts = []
                above = []  # a comment block right above the field (after the previous statement)
                for number in range(previous_end + 1, item.lineno):
                    text = comments.get(number)
                    if text is not None and lines[number - 1].strip().startswith("#") and text[1:3] != "  ":
                        above.append(text[1:].strip())
                parts += above
                if item.lineno in comments:
                    parts.append(comments[item.lineno][1:].strip())
                number = (item.end_lineno or item.lineno) + 1
                while (number in comments and lines[number - 1].strip().startswith("#")
                       and comments[number][1:3] == "  "):  # a continuation line: '#     more text'
                    parts.append(comments[number][1:].strip())
                    number += 1
                docs[item.target.id] = " ".join(p for p in parts if p)
            previous_end = item.end_lineno or item.lineno
        out[node.name] = docs
    return out


def _default(item: Any) -> str:
    if item.default is not NO_DEFAULT:
        value = item.default
    elif item.default_factory is not NO_DEFAULT:
        value = item.default_factory()
    else:
        return "(required)"
    if value == MISSING:
        return "(required)"
    if is_dataclass(value):
        return ""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(str(v) for v in value) + "]"
    return str(value)


def _wrap(text: str, indent: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) + indent > _WIDTH:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(line)
    return [" " * indent + entry for entry in lines]


def settings_lines(cls: type[Any], prefix: str = "", skip: Sequence[str] = ()) -> list[str]:
    """``  <prefix><field> = <default>`` and the field's description, for every field of dataclass ``cls``
    (nested dataclasses follow, under their own heading)."""
    docs = field_comments().get(cls.__name__, {})
    out: list[str] = []
    nested: list[tuple[str, type[Any]]] = []
    for item in fields(cls):
        if item.name in skip:
            continue
        default = item.default_factory() if item.default_factory is not NO_DEFAULT else None
        if is_dataclass(default):
            nested.append((item.name, type(default)))
            continue
        out.append(f"  {prefix}{item.name} = {_default(item)}")
        if docs.get(item.name):
            out += _wrap(docs[item.name], 6)
    for name, sub in nested:
        out += ["", f"{prefix}{name}.*: {_first_line(sub)}", *settings_lines(sub, f"{prefix}{name}.")]
    return out


def _first_line(cls: type[Any]) -> str:
    return (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ").replace("``", "")


# ---------------------------------------------------------------------------------------------- the text
def render_help(script: str, options: Callable[[str], list[str]] | None = None,
                loss_hyperparameters: Mapping[str, Mapping[str, Any]] | None = None,
                study_settings: Sequence[tuple[str, str, str]] = (),
                chosen: Callable[[str], str | None] | None = None) -> str:
    """The ``--help`` text of ``scripts/<script>.py``.

    ``options(group)``: the options of a config group (Hydra's config loader at run time); ``chosen(group)``: the
    option this command line composes (shown ``[option]``); ``loss_hyperparameters``:
    each loss's keyword defaults; ``study_settings``: (key, default, description) of ``configs/study.yaml``.
    """
    if script not in SCRIPTS:
        raise ValueError(f"no help for {script!r}: one of {', '.join(SCRIPTS)}")
    out = [f"scripts/{script}.py: " + SCRIPTS[script], ""]
    out = [*_wrap(out[0], 0), ""]
    groups = GROUPS[script]
    usage = f"python scripts/{script}.py" + (" [group=option ...]" if groups else "") + " [key=value ...]"
    out += ["Usage: " + usage,
            "  --help: this text   --cfg job: the composed settings   --resolve: with interpolations resolved",
            "  -m / --multirun: one run per combination of comma-separated values (sweeps)", ""]
    app = APPS[script]
    if groups:
        out.append("Config groups (group=option; [option] = the one this command line composes):")
        for group in groups:
            names = options(group) if options else []
            note = _GROUP_NOTES.get(group)
            now = chosen(group) if chosen else None
            shown = ", ".join(f"[{n}]" if n == now else n for n in names)
            listed = _wrap(shown or f"(see configs/{group}/)", 14)
            out.append(f"  {group:<11} {listed[0].strip()}")
            out += listed[1:]
            if note:
                out += _wrap(note, 14)
        out.append("")
    out.append("Settings (key = schema default; the chosen group options and recipes may set other values):")
    if app is not None:
        out += settings_lines(app, skip=["faiss"])
        if script == "index":
            for kind, cls in schema.FAISS_SCHEMAS.items():
                out += ["", f"faiss.* with faiss={kind}: {_first_line(cls)}",
                        *settings_lines(cls, "faiss.", skip=["type"])]
        if "loss" in groups and loss_hyperparameters:
            out += ["", "loss.kwargs.*: each loss's hyper-parameters and their defaults (docs/losses.md):"]
            for name, params in loss_hyperparameters.items():
                shown = ", ".join(f"{k}={_plain(v)}" for k, v in params.items() if k != "generator")
                out += _wrap(f"{name}: {shown or '(none)'}", 2)
    for key, default, text in study_settings:
        out.append(f"  {key} = {default}")
        if text:
            out += _wrap(text, 6)
    out += ["", "Every setting and its validation: src/gradedpr/config/schema.py; recipes: configs/."]
    return "\n".join(out).replace("$", "$$") + "\n"  # Hydra passes the template through string.Template


def _plain(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


_STUDY_LINE = re.compile(r"^(?P<key>[A-Za-z_]+):\s*(?P<value>[^#]*?)\s*(#\s*(?P<doc>.*))?$")


def study_settings(path: Path) -> list[tuple[str, str, str]]:
    """(key, value, comment) of the top-level settings of ``configs/study.yaml``."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _STUDY_LINE.match(line)
        if match and match["key"] not in ("defaults", "hydra") and match["value"]:
            out.append((match["key"], match["value"], match["doc"] or ""))
    return out


# ---------------------------------------------------------------------------------------------- Hydra
def _hydra_options(group: str) -> list[str]:
    from hydra.core.global_hydra import GlobalHydra

    if not GlobalHydra.instance().is_initialized():
        return []
    return sorted(GlobalHydra.instance().config_loader().get_group_options(group))


def _configs_dir() -> Path:
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        for source in HydraConfig.get().runtime.config_sources:
            if source.provider == "main" and str(source.path).startswith("file://"):
                return Path(str(source.path)[len("file://"):])
    return Path(__file__).resolve().parents[3] / "configs"


def help_resolver(script: str) -> str:
    """``${gradedpr_help:<script>}``: the help text with the live group options and the losses' defaults."""
    losses: dict[str, dict[str, Any]] | None = None
    if "loss" in GROUPS.get(script, ()):
        from gradedpr.losses import available_losses, loss_hyperparameters

        losses = {name: loss_hyperparameters(name) for name in available_losses()}
    study = study_settings(_configs_dir() / "study.yaml") if script == "study" else []
    return render_help(script, _hydra_options, losses, study, _hydra_chosen)


def _hydra_chosen(group: str) -> str | None:
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    value = HydraConfig.get().runtime.choices.get(group)
    return str(value) if value else None
