"""Export a gradedpr checkpoint as a sentence-transformers model directory.

``SentenceTransformer(<export>)`` then loads offline and gives gradedpr's embeddings:

- a **shared-encoder** checkpoint becomes a plain model ``Transformer -> Pooling [-> Normalize]``; the
  Transformer truncates ``encode_query`` input at the query length and ``encode_document`` / ``encode`` input
  at the passage length (its ``query_length`` / ``document_length`` settings, sentence-transformers >= 6);
- a **two-encoder** checkpoint becomes ``Router(query: Transformer, document: Transformer) -> Pooling
  [-> Normalize]``, so ``encode_query`` runs the query encoder and ``encode_document`` the passage encoder,
  each truncating at its own max length; plain ``encode`` takes the document route.

``Normalize`` is added when the checkpoint's similarity is cosine, and the model's similarity function is
``cosine`` or ``dot`` accordingly. gradedpr's scores are similarity / temperature; sentence-transformers'
similarity leaves the temperature out, which does not change any ranking.

Only gradedpr checkpoints (a directory with ``gradedpr.json``) are exported. A plain HF or
sentence-transformers directory is refused: gradedpr would have to invent its pooling, similarity and lengths,
and such a model is already usable as it is. The output is written atomically, carries a model card
(``README.md``) and a marker ``gradedpr_export.json`` (listing the entries the export wrote); an existing
output directory is replaced only if it holds that marker (an earlier export) and ``overwrite`` is given,
never a foreign directory, and entries added to the earlier export are carried over into the new one.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError, safe_open

from gradedpr import __version__
from gradedpr.encode.batching import encode_texts
from gradedpr.errors import CheckpointError, OutputError
from gradedpr.filenames import RUN_CONFIG
from gradedpr.model.biencoder import PASSAGE_DIR, QUERY_DIR, BiEncoder
from gradedpr.model.card import CARD_FILE, FORM_SENTENCE_TRANSFORMERS, checkpoint_description, model_card
from gradedpr.model.config import CONFIG_NAME, BiEncoderConfig
from gradedpr.model.resolve import resolve_model_path
from gradedpr.model.run_record import read_training_record
from gradedpr.types import Kind
from gradedpr.utils.atomic import atomic_directory
from gradedpr.utils.outputs import OutputKind

MARKER_FILE = "gradedpr_export.json"
EXPORT = OutputKind("a gradedpr export", MARKER_FILE, ("format_version", "source_checkpoint"))
"""An export directory is recognised by its marker's fields, not by the marker's name alone."""
EXPORT_FORMAT_VERSION = 1
PROBE_TEXTS = (
    "what lowers cholesterol?",
    "Oat beta-glucan lowers LDL cholesterol in adults with mild hypercholesterolaemia; a meta-analysis of "
    "randomised trials found an average reduction of about five percent.",
    "x",
)


@dataclass
class ExportResult:
    """Where the export went, its form (``plain`` or ``router``) and the self-check's max |difference|."""

    output: Path
    form: str
    max_abs_diff: float | None


# ---------------------------------------------------------------------------------------------- checks
def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _check_json(path: Path) -> None:
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable or truncated JSON ({_one_line(exc)})") from exc


def _check_safetensors(path: Path) -> None:
    """safetensors' own header check: the header parses and the tensors it declares cover the file exactly
    (catches truncation and trailing bytes)."""
    try:
        with safe_open(str(path), framework="pt"):
            pass
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(f"{path}: truncated or corrupt safetensors file ({_one_line(exc)})") from exc


def check_checkpoint(path: Path) -> BiEncoderConfig:
    """Refuse anything but a complete gradedpr checkpoint, naming the offending path; returns its settings."""
    if not path.is_dir():
        raise CheckpointError(f"{path}: no such checkpoint directory")
    if not (path / CONFIG_NAME).is_file():
        if (path / "modules.json").is_file():
            what = "a sentence-transformers model already (load it with SentenceTransformer as it is)"
        elif (path / "config.json").is_file():
            what = "a plain HF model; only gradedpr checkpoints are exported (train or save one first)"
        else:
            what = "no gradedpr checkpoint"
        raise CheckpointError(f"{path}: {what}: {CONFIG_NAME} missing")
    _check_json(path / CONFIG_NAME)
    settings = BiEncoderConfig.load(path)
    encoders = [QUERY_DIR] if settings.shared else [QUERY_DIR, PASSAGE_DIR]
    for name in encoders:
        folder = path / name
        if not (folder / "config.json").is_file():
            raise CheckpointError(f"{folder}: encoder missing (no config.json)")
        _check_json(folder / "config.json")
        weights = sorted(folder.glob("*.safetensors"))
        if not weights and not (folder / "pytorch_model.bin").is_file():
            raise CheckpointError(f"{folder}: encoder weights missing (no *.safetensors)")
        for file in weights:
            _check_safetensors(file)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (path / name).exists():
            _check_json(path / name)
    if not (path / "tokenizer_config.json").is_file():
        raise CheckpointError(f"{path}: tokenizer missing (no tokenizer_config.json)")
    return settings


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def check_output(output: Path, checkpoint: Path, overwrite: bool = False) -> None:
    """The output must not overlap the checkpoint, and may replace only an earlier export of ours, and that
    only with ``overwrite``."""
    out, ckpt = output.resolve(), checkpoint.resolve()
    if _inside(out, ckpt):
        raise CheckpointError(f"{output}: the output is inside the checkpoint {checkpoint}; choose another directory")
    if _inside(ckpt, out):
        raise CheckpointError(f"{output}: the output contains the checkpoint {checkpoint}; choose another directory")
    if output.exists() or output.is_symlink():
        if not output.is_dir():
            raise CheckpointError(f"{output}: exists and is not a directory; refusing to replace it")
        if any(output.iterdir()) and not EXPORT.is_marked(output):
            raise CheckpointError(
                f"{output}: exists and is not a gradedpr export (no {MARKER_FILE}); refusing to overwrite it"
            )
        if EXPORT.is_marked(output) and not overwrite:
            raise OutputError(f"{output}: already holds a gradedpr export; pass overwrite=true to replace it "
                              "(files you added to it are kept), or choose another output")


def _written_by_export(output: Path) -> set[str]:
    """The top-level entries an earlier export at ``output`` wrote (its marker's ``files``; empty for markers
    of versions that did not record them)."""
    try:
        marker = json.loads((output / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    files = marker.get("files") if isinstance(marker, dict) else None
    return {str(name) for name in files} if isinstance(files, list) else set()


def keep_added_files(output: Path, new: Path) -> list[str]:
    """Copy into ``new`` (the replacement being built) every entry of the earlier export at ``output`` that
    neither that export nor the new one wrote: files a user added are carried over, never deleted."""
    if not EXPORT.is_marked(output):
        return []
    ours = _written_by_export(output) | {entry.name for entry in new.iterdir()}
    kept = []
    for entry in sorted(output.iterdir(), key=lambda e: e.name):
        if entry.name in ours:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, new / entry.name, symlinks=True)
        else:
            shutil.copy2(entry, new / entry.name, follow_symlinks=False)
        kept.append(entry.name)
    return kept


def _import_sentence_transformers() -> Any:
    try:
        import sentence_transformers
    except ImportError as exc:
        raise CheckpointError(
            "exporting needs sentence-transformers >= 6 (pip install 'sentence-transformers>=6')"
        ) from exc
    major = int(str(sentence_transformers.__version__).split(".")[0])
    if major < 6:
        raise CheckpointError(
            f"exporting needs sentence-transformers >= 6, found {sentence_transformers.__version__}"
        )
    return sentence_transformers


def _stage_encoder(checkpoint: Path, encoder: str, target: Path) -> Path:
    """An HF directory (encoder weights + the checkpoint's tokenizer) that ST's Transformer can load."""
    target.mkdir(parents=True)
    for source in (checkpoint / encoder).iterdir():
        if source.is_file():
            shutil.copy2(source, target / source.name)
    for source in checkpoint.iterdir():
        if source.is_file() and (source.name.startswith(("tokenizer", "special_tokens", "vocab", "merges"))
                                 or source.name == "added_tokens.json"):
            shutil.copy2(source, target / source.name)
    return target


def build_sentence_transformer(checkpoint: Path, settings: BiEncoderConfig, staging: Path) -> Any:
    """The in-memory ``SentenceTransformer`` equivalent to the checkpoint (weights read from ``staging``)."""
    st = _import_sentence_transformers()
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Router, Transformer

    query_dir = _stage_encoder(checkpoint, QUERY_DIR, staging / "query")
    tail: list[Any] = []
    if settings.shared:
        encoder = Transformer(
            str(query_dir),
            max_seq_length=settings.passage_max_length,
            query_length=settings.query_max_length,
            document_length=settings.passage_max_length,
        )
        head: Any = encoder
        dim = encoder.get_embedding_dimension()
    else:
        passage_dir = _stage_encoder(checkpoint, PASSAGE_DIR, staging / "document")
        query = Transformer(str(query_dir), max_seq_length=settings.query_max_length)
        document = Transformer(str(passage_dir), max_seq_length=settings.passage_max_length)
        if query.get_embedding_dimension() != document.get_embedding_dimension():
            raise CheckpointError(f"{checkpoint}: the query and passage encoders differ in hidden size")
        head = Router.for_query_document(query_modules=[query], document_modules=[document],
                                         default_route="document")
        dim = document.get_embedding_dimension()
    tail.append(Pooling(dim, pooling_mode=settings.pooling))
    if settings.normalize:
        tail.append(Normalize())
    model = st.SentenceTransformer(modules=[head, *tail], device="cpu",
                                   similarity_fn_name="cosine" if settings.normalize else "dot")
    model.eval()
    return model


@contextmanager
def _staging_dir(near: Path) -> Iterator[Path]:
    near.parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f".{near.name}.staging-", dir=near.parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def max_abs_difference(model: BiEncoder, st_model: Any, texts: list[str]) -> float:
    """max |gradedpr - sentence-transformers| over query and passage embeddings of ``texts``."""
    diffs = []
    routes: tuple[tuple[Kind, Any], ...] = (("query", st_model.encode_query), ("passage", st_model.encode_document))
    for kind, encode in routes:
        ours = encode_texts(model, texts, kind)
        theirs = np.asarray(encode(texts, convert_to_numpy=True, batch_size=len(texts), show_progress_bar=False),
                            dtype=np.float32)
        diffs.append(float(np.abs(ours - theirs).max()))
    return max(diffs)


def export_sentence_transformers(
    checkpoint: str | Path,
    output: str | Path,
    *,
    verify: bool = True,
    tolerance: float = 1e-4,
    overwrite: bool = False,
) -> ExportResult:
    """Write ``output``: a sentence-transformers directory equivalent to the gradedpr ``checkpoint``.

    With ``verify`` the written directory is loaded back with ``SentenceTransformer`` and a few probe texts
    are encoded both ways; a max |difference| above ``tolerance`` is an error (nothing is written). An earlier
    export at ``output`` is replaced only with ``overwrite``; files added to it since are carried over.
    """
    ckpt = resolve_model_path(checkpoint) if str(checkpoint) == "default" else Path(checkpoint).expanduser()
    out = Path(output).expanduser()
    settings = check_checkpoint(ckpt)
    check_output(out, ckpt, overwrite)
    st = _import_sentence_transformers()
    logging.getLogger("sentence_transformers").setLevel(logging.WARNING)  # its INFO lines are noise here
    form = "plain" if settings.shared else "router"
    try:
        model = BiEncoder.from_pretrained(ckpt)
    except CheckpointError:
        raise
    except Exception as exc:  # third-party loaders raise many types on a damaged checkpoint
        raise CheckpointError(f"{ckpt}: cannot load the checkpoint ({_one_line(exc)})") from exc
    model.eval()
    run_dir = ckpt.parent.parent if (ckpt.parent.parent / RUN_CONFIG).is_file() else None
    record = read_training_record(run_dir, checkpoint=ckpt)
    card = model_card(settings, record, form=FORM_SENTENCE_TRANSFORMERS, dim=model.dim, name=out.name,
                      source=str(ckpt))
    marker = {
        "format_version": EXPORT_FORMAT_VERSION,
        "gradedpr_version": __version__,
        "sentence_transformers_version": str(st.__version__),
        "source_checkpoint": checkpoint_description(ckpt),  # no absolute path: the export is meant to be shared
        "form": form,
        "settings": settings.to_dict(),
    }
    diff: float | None = None
    with _staging_dir(out) as staging:
        try:
            st_model = build_sentence_transformer(ckpt, settings, staging)
        except CheckpointError:
            raise
        except Exception as exc:
            raise CheckpointError(f"{ckpt}: sentence-transformers cannot build the model ({_one_line(exc)})") from exc
        with atomic_directory(out) as tmp:
            st_model.save(str(tmp), create_model_card=False)
            del st_model
            if verify:
                loaded = st.SentenceTransformer(str(tmp), device="cpu", local_files_only=True)
                diff = max_abs_difference(model, loaded, list(PROBE_TEXTS))
                marker["verified_max_abs_diff"] = diff
                if not diff <= tolerance:
                    raise CheckpointError(
                        f"{out}: the export does not reproduce the checkpoint (max |diff| {diff:.2e} > {tolerance})"
                    )
            (tmp / CARD_FILE).write_text(card, encoding="utf-8")
            marker["files"] = sorted([*(entry.name for entry in tmp.iterdir()), MARKER_FILE])
            (tmp / MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
            keep_added_files(out, tmp)
    return ExportResult(out, form, diff)
