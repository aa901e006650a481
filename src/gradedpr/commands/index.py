"""``scripts/index.py``: encode a corpus with a checkpoint's passage encoder and build a FAISS index."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

from omegaconf import DictConfig

from gradedpr.commands.checks import check_faiss_corpus, index_app, model_limits
from gradedpr.commands.common import checkpoint_path, load_model
from gradedpr.config.schema import IndexApp
from gradedpr.data.from_config import collection_from_config
from gradedpr.encode.store import check_store_dir
from gradedpr.errors import OutputError
from gradedpr.index.dense import INDEX, INDEX_FILE, DenseIndex
from gradedpr.index.faiss_build import IndexSpec
from gradedpr.index.retrieval import build_dense_index
from gradedpr.utils.outputs import check_output_dir
from gradedpr.utils.ranks import rank_and_world


def _check_index_outputs(output: Path, embeddings_dir: Path, overwrite: bool, writes_index: bool) -> None:
    """Refuse, before any work, output paths that hold files gradedpr did not write (or, without
    ``overwrite``, an index of gradedpr's); the embeddings' identity is checked once the encoder is known."""
    out, emb = output.resolve(), embeddings_dir.resolve()
    if emb == out or out in emb.parents or emb in out.parents:
        raise OutputError(f"output={output} and embeddings_dir={embeddings_dir}: the index and the embeddings "
                          "need separate directories, neither inside the other")
    if writes_index:
        check_output_dir(output, INDEX, overwrite=overwrite)
    check_store_dir(embeddings_dir, None, overwrite=overwrite)


def run_index(cfg: DictConfig | IndexApp) -> DenseIndex | None:
    """Encode the configured corpus with the checkpoint's passage encoder, build the index and save it.

    Under ``torchrun`` (or with ``shard_id`` / ``num_shards``) each process encodes its share; the process of
    shard 0 waits for the others, merges and builds. Returns the index in that process, None in the others.
    """
    app = index_app(cfg)
    rank, world = rank_and_world()
    shard_id = rank if app.shard_id is None else app.shard_id
    num_shards = world if app.num_shards is None else app.num_shards
    output = Path(app.output)
    overwrite = app.overwrite
    _check_index_outputs(output, Path(app.embeddings_dir), overwrite, writes_index=shard_id == 0)
    collection = collection_from_config(app.data, splits=[])
    check_faiss_corpus(app.faiss, model_limits(app.checkpoint).hidden_size, len(collection.corpus), app.data.name)
    model = load_model(app.checkpoint, app.device, app.accel, passage_max_length=app.model.passage_max_length)
    spec = IndexSpec.from_config(asdict(app.faiss))
    began = time.perf_counter()
    index = build_dense_index(
        model,
        collection.corpus,
        spec,
        embeddings_dir=app.embeddings_dir,
        batch_size=app.batch_size,
        max_tokens=app.max_tokens,
        chunk_size=app.chunk_size,
        shard_id=shard_id,
        num_shards=num_shards,
        keep_embeddings=app.keep_embeddings,
        checkpoint=checkpoint_path(app.checkpoint),
        corpus_name=app.data.name,
        show_progress=app.show_progress,
        use_gpu=app.use_gpu,
        overwrite=overwrite,
    )
    if index is None:
        print(f"shard {shard_id + 1}/{num_shards} encoded into {app.embeddings_dir}/shards; "
              "shard 1 merges and builds the index")
        return None
    index.meta["build_seconds"] = round(time.perf_counter() - began, 2)
    index.save(output, overwrite=overwrite)
    info = index.meta["index"]
    print(
        f"index: {output}/ ({INDEX_FILE}, ids.txt, index.json)\n"
        f"  {index.meta['num_vectors']} passages of {app.data.name} x {index.meta['dim']} dims, "
        f"{info['factory']} ({info['search_parameters'] or 'exact'}), inner product, "
        f"built in {index.meta['build_seconds']:.1f}s\n"
        f"  encoder: {index.meta['encoder']['checkpoint']}\n"
        f"  embeddings: {index.meta.get('embeddings_dir') or '(deleted)'}"
    )
    return index
