"""sentence-transformers export: the exported model gives gradedpr's embeddings and rankings; bad input refused.

Measured here (CPU, float32): max |gradedpr - sentence-transformers| is 0.0 for the bundled MiniLM (shared
encoder, plain model) and for a trained tiny two-encoder checkpoint (Router); the assertions allow 1e-5. The
nDCG (and every other measure) of a retrieval over either model's embeddings is identical.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from gradedpr.config.schema import TrainConfig
from gradedpr.data.corpus import Corpus
from gradedpr.data.negatives import RandomNegatives
from gradedpr.data.sampler import GroupSampler
from gradedpr.encode.batching import encode_texts
from gradedpr.errors import CheckpointError, OutputError
from gradedpr.evaluation.metrics import evaluate_run
from gradedpr.export.sentence_transformers import MARKER_FILE, export_sentence_transformers
from gradedpr.losses import get_loss
from gradedpr.model import BiEncoder
from gradedpr.train.trainer import Trainer

st = pytest.importorskip("sentence_transformers")

ROOT = Path(__file__).resolve().parents[2]
TOPICS = ["apple", "banana", "cherry", "grape", "lemon", "mango"]
DOC_IDS = [f"d{i}" for i in range(18)]
DOCS = [f"{TOPICS[i % 6]} note {i}: " + " ".join([TOPICS[i % 6], "orchard", "harvest"] * (1 + i % 5))
        for i in range(18)]
QUERIES = {f"q{t}": f"which {topic} facts matter" for t, topic in enumerate(TOPICS)}
QUERIES["q-long"] = "a deliberately long query " * 12  # longer than the query max length: truncation must agree
QRELS = {f"q{t}": {DOC_IDS[i]: (2 if i == t else 1) for i in range(t, 18, 6)} for t in range(6)}
QRELS["q-long"] = {"d0": 1, "d7": 2}


def _scores_run(scores: np.ndarray) -> dict[str, dict[str, float]]:
    return {qid: {d: float(s) for d, s in zip(DOC_IDS, row, strict=True)}
            for qid, row in zip(QUERIES, scores, strict=True)}


def _run(q: np.ndarray, p: np.ndarray) -> dict[str, dict[str, float]]:
    """Exact inner-product retrieval of every document for every query (what a flat index returns)."""
    return _scores_run(q @ p.T)


def round_trip(checkpoint: Path, export_dir: Path) -> tuple[float, dict[str, float], dict[str, float],
                                                              dict[str, float]]:
    """max |diff| of the embeddings, and the mean metrics of three in-memory retrievals over the tiny corpus.

    gradedpr's retrieval ranks by inner product of its embeddings (the flat index); the same search over the
    sentence-transformers embeddings must give the identical run; ``model.similarity`` ranks as ST users will.
    """
    ours = BiEncoder.from_pretrained(checkpoint)
    theirs = st.SentenceTransformer(str(export_dir), device="cpu", local_files_only=True)
    texts = list(QUERIES.values())
    q_ours, p_ours = encode_texts(ours, texts, "query"), encode_texts(ours, DOCS, "passage")
    q_st = theirs.encode_query(texts, convert_to_numpy=True, show_progress_bar=False)
    p_st = theirs.encode_document(DOCS, convert_to_numpy=True, show_progress_bar=False)
    diff = max(float(np.abs(q_ours - q_st).max()), float(np.abs(p_ours - p_st).max()))
    similarity = theirs.similarity(torch.tensor(q_st), torch.tensor(p_st)).numpy()
    scores = ours.score(torch.tensor(q_ours), torch.tensor(p_ours)).numpy()
    np.testing.assert_allclose(similarity, scores * ours.config.temperature, atol=1e-5)
    return (diff, evaluate_run(_run(q_ours, p_ours), QRELS).mean, evaluate_run(_run(q_st, p_st), QRELS).mean,
            evaluate_run(_scores_run(similarity), QRELS).mean)


def test_minilm_shared_checkpoint_exports_as_a_plain_model(tmp_path: Path) -> None:
    ckpt = BiEncoder.from_pretrained("default", shared=True, passage_max_length=64).save_pretrained(tmp_path / "c")
    result = export_sentence_transformers(ckpt, tmp_path / "st")
    assert result.form == "plain" and result.max_abs_diff is not None and result.max_abs_diff < 1e-5
    modules = json.loads((tmp_path / "st" / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[1] for m in modules] == ["Transformer", "Pooling", "Normalize"]
    model = st.SentenceTransformer(str(tmp_path / "st"), local_files_only=True)
    assert model.max_seq_length == 64 and model.similarity_fn_name == "cosine"
    diff, ours, theirs, by_similarity = round_trip(ckpt, tmp_path / "st")
    print(f"MiniLM shared: max |diff| = {diff:.3e}, ndcg@10 {ours['ndcg@10']:.6f} vs {theirs['ndcg@10']:.6f}")
    assert diff < 1e-5
    assert ours == theirs == by_similarity


def _train_tiny(model_dir: Path, run_dir: Path) -> Path:
    """A few real training steps of a two-encoder tiny BERT; returns checkpoints/last (best may be step 0)."""
    torch.manual_seed(0)
    model = BiEncoder.from_pretrained(model_dir, pooling="cls", query_max_length=12, passage_max_length=24)
    corpus = Corpus.from_lists(DOC_IDS, [""] * len(DOC_IDS), DOCS)
    queries = {q: t for q, t in QUERIES.items() if q != "q-long"}
    sampler = GroupSampler(queries, QRELS, DOC_IDS, RandomNegatives(), group_size=3, max_positives=2, seed=1)
    settings = TrainConfig(batch_size=2, group_size=3, max_steps=4, lr=1e-3, eval_every=2, warmup_ratio=0.0,
                             eval_metric="ndcg@10")

    def evaluate(m: BiEncoder) -> dict[str, float]:
        run = _run(encode_texts(m, list(QUERIES.values()), "query"), encode_texts(m, DOCS, "passage"))
        return evaluate_run(run, QRELS, ["ndcg@10", "recall@10"]).mean

    Trainer(model, sampler, corpus, get_loss("listnet"), settings, run_dir, evaluate=evaluate,
            show_progress=False).train()
    return run_dir / "checkpoints" / "last"


def test_trained_two_encoder_checkpoint_exports_as_a_router(tiny_model_dir: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text(yaml.safe_dump({
        "seed": 7, "model": {"name_or_path": "default"}, "loss": {"name": "listnet", "kwargs": {}},
        "data": {"name": "tiny", "format": "beir", "path": str(tmp_path / "nowhere")},
        "train": {"max_steps": 4, "eval_split": "dev", "eval_metric": "ndcg@10", "lr": 1e-3},
    }))
    trained = _train_tiny(tiny_model_dir, run_dir)
    export = tmp_path / "tiny-st"
    result = export_sentence_transformers(trained, export)
    assert result.form == "router"
    router = json.loads((export / "router_config.json").read_text())
    assert set(router["structure"]) == {"query", "document"}
    model = st.SentenceTransformer(str(export), local_files_only=True)
    query_route, document_route = model[0].sub_modules["query"][0], model[0].sub_modules["document"][0]
    assert (query_route.max_seq_length, document_route.max_seq_length) == (12, 24)
    diff, ours, theirs, _ = round_trip(trained, export)
    print(f"tiny two-encoder: max |diff| = {diff:.3e}, ndcg@10 {ours['ndcg@10']:.6f} vs {theirs['ndcg@10']:.6f}")
    assert diff < 1e-5
    assert ours == theirs
    # (model.similarity is not compared by ranking here: the random tiny BERT puts every document within 1e-5
    # cosine of the others, so a last-bit difference of the re-normalising cosine reorders near-ties.)
    # The two routes are really the two encoders: queries through the document route differ.
    texts = list(QUERIES.values())[:3]
    assert not np.allclose(model.encode_query(texts), model.encode_document(texts), atol=1e-4)

    card = (export / "README.md").read_text()
    meta = yaml.safe_load(card.split("---")[1])
    assert meta["library_name"] == "sentence-transformers" and "loss:listnet" in meta["tags"]
    assert meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert meta["pipeline_tag"] == "sentence-similarity"
    assert meta["license"] == "apache-2.0" and meta["language"] == "en"  # from the bundled MiniLM's own card
    assert "model-index" not in meta  # a local collection ("tiny") has no Hub dataset to cite results on
    assert "encode_query" in card and "seed=7" in card
    # nothing in the export names a directory of this machine (the card, the marker, ST's own files)
    for path in export.rglob("*"):
        if path.is_file() and path.suffix in (".md", ".json", ".txt"):
            assert str(tmp_path) not in path.read_text(encoding="utf-8"), path.name
    assert json.loads((export / MARKER_FILE).read_text())["source_checkpoint"] == "run/checkpoints/last"
    assert "`nowhere`" in card and "`run/checkpoints/last`" in card  # paths shown by their last components


def test_gradedpr_reads_a_plain_export_back(tiny_model_dir: Path, tmp_path: Path) -> None:
    ckpt = BiEncoder.from_pretrained(tiny_model_dir, shared=True, pooling="cls", query_max_length=6,
                                     passage_max_length=20).save_pretrained(tmp_path / "c")
    export_sentence_transformers(ckpt, tmp_path / "st", verify=False)
    back = BiEncoder.from_pretrained(tmp_path / "st", shared=True)
    assert (back.config.pooling, back.config.query_max_length, back.config.passage_max_length) == ("cls", 6, 20)
    original = BiEncoder.from_pretrained(ckpt)
    texts = list(QUERIES.values())
    for kind in ("query", "passage"):
        np.testing.assert_array_equal(encode_texts(back, texts, kind), encode_texts(original, texts, kind))


def test_reexport_replaces_an_earlier_export_only(tiny_model_dir: Path, tmp_path: Path) -> None:
    ckpt = BiEncoder.from_pretrained(tiny_model_dir, shared=True).save_pretrained(tmp_path / "c")
    out = tmp_path / "out"
    export_sentence_transformers(ckpt, out, verify=False)
    (out / "notes.md").write_text("added by the user")
    with pytest.raises(OutputError, match="already holds a gradedpr export; pass overwrite=true"):
        export_sentence_transformers(ckpt, out, verify=False)
    export_sentence_transformers(ckpt, out, verify=False, overwrite=True)
    assert (out / MARKER_FILE).exists() and (out / "notes.md").read_text() == "added by the user"
    assert "notes.md" not in json.loads((out / MARKER_FILE).read_text())["files"]

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    (foreign / MARKER_FILE).write_text("{}")  # a file of that name is not the marker: its fields are
    with pytest.raises(CheckpointError, match="not a gradedpr export"):
        export_sentence_transformers(ckpt, foreign)
    assert (foreign / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("case", ["plain-hf", "truncated-weights", "padded-weights", "truncated-config", "inside",
                                  "contains"])
def test_bad_input_is_refused_naming_the_path(case: str, tiny_model_dir: Path, tmp_path: Path) -> None:
    ckpt = BiEncoder.from_pretrained(tiny_model_dir).save_pretrained(tmp_path / "ckpt")
    out = tmp_path / "out"
    if case == "plain-hf":
        ckpt, expected = tiny_model_dir, f"{tiny_model_dir}: a plain HF model"
    elif case == "truncated-weights":
        weights = ckpt / "passage_encoder" / "model.safetensors"
        os.truncate(weights, weights.stat().st_size - 100)
        expected = f"{weights}: truncated"
    elif case == "padded-weights":  # bytes the header does not declare: not the file that was saved
        weights = ckpt / "query_encoder" / "model.safetensors"
        with open(weights, "ab") as handle:
            handle.write(b"\0" * 16)
        expected = f"{weights}: truncated or corrupt safetensors file"
    elif case == "truncated-config":
        config = ckpt / "query_encoder" / "config.json"
        config.write_text(config.read_text()[:40])
        expected = f"{config}: unreadable or truncated JSON"
    elif case == "inside":
        out, expected = ckpt / "export", "inside the checkpoint"
    else:
        out, expected = tmp_path, "contains the checkpoint"
    with pytest.raises(CheckpointError) as info:
        export_sentence_transformers(ckpt, out)
    assert expected in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()


def test_script_reports_bad_input_in_one_line(tiny_model_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "export.py"), f"checkpoint={tiny_model_dir}",
         f"output={tmp_path / 'out'}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: {tiny_model_dir}: a plain HF model; only gradedpr checkpoints are exported (train or save one "
        "first): gradedpr.json missing"
    ]
