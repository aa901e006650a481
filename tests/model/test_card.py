"""Model cards: Hub front matter and the facts of the run, read from a run directory; every checkpoint has one."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import yaml

from gradedpr.config.schema import TrainConfig
from gradedpr.data.corpus import Corpus
from gradedpr.data.negatives import RandomNegatives
from gradedpr.data.sampler import GroupSampler
from gradedpr.losses import get_loss
from gradedpr.model import BiEncoder, BiEncoderConfig
from gradedpr.model.card import model_card, refresh_checkpoint_card
from gradedpr.model.run_record import read_training_record
from gradedpr.train.trainer import Trainer

CONFIG = {
    "model": {"name_or_path": "default", "pooling": "mean", "similarity": "cosine", "temperature": 0.05,
              "query_max_length": 32, "passage_max_length": 128, "shared": False},
    "data": {"name": "nfcorpus", "format": "beir", "path": "PATH", "builtin": False, "qrels_files": None},
    "loss": {"name": "lambdaloss", "kwargs": {"weighting": "ndcg_loss2pp", "sigma": 1.0}},
    "train": {"batch_size": 8, "group_size": 4, "max_steps": 60, "lr": 5e-5, "eval_split": "dev",
              "test_split": "test", "eval_metric": "ndcg@10", "eval_k": 100, "bf16": True},
    "seed": 13,
    "run_dir": "RUN",
}


def make_run(tmp_path: Path) -> tuple[Path, Path]:
    """A run directory as scripts/train.py leaves it, over a 3-query dev / 2-query test BEIR collection."""
    data = tmp_path / "data"
    (data / "qrels").mkdir(parents=True)
    (data / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t1\nq2\td1\t1\nq3\td3\t0\n")
    (data / "qrels" / "test.tsv").write_text("q4\td1\t1\nq5\td2\t2\n")  # no header: still counted right
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    ckpt = run / "checkpoints" / "best"
    ckpt.mkdir(parents=True)
    config = json.loads(json.dumps(CONFIG).replace("PATH", str(data)).replace("RUN", str(run)))
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(
        ["experiment=nfcorpus", "loss=lambdaloss", f"hydra.run.dir={run}", "train.test_split=test"]))
    records = [
        {"step": 0, "data/corpus": 3633, "data/train_queries": 2590, "data/skipped_queries": 4,
         "data/dev_queries": 3, "data/test_queries": 2},
        {"step": 0, "dev/ndcg@10": 0.30, "dev/map": 0.10, "dev/seconds": 2.0},
        {"step": 30, "dev/ndcg@10": 0.34, "dev/map": 0.12, "dev/seconds": 2.0},
        {"step": 60, "dev/ndcg@10": 0.33, "dev/map": 0.11, "dev/seconds": 2.0},
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    summary = {"steps": 60, "best_step": 30, "evaluations": records[1:], "test": {"test/ndcg@10": 0.321,
               "test/map": 0.111}, "test_checkpoint": str(ckpt)}
    (run / "train_summary.json").write_text(json.dumps(summary))
    (ckpt / "training_info.json").write_text(json.dumps({"step": 30}))
    return run, ckpt


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("\n---\n")[0][4:])


def test_card_from_a_run_directory(tmp_path: Path) -> None:
    run, ckpt = make_run(tmp_path)
    record = read_training_record(run, checkpoint=ckpt)
    assert record.step == 30 and record.best_step == 30
    assert record.sizes == {"corpus": 3633, "train_queries": 2590, "skipped_queries": 4, "dev_queries": 3,
                            "test_queries": 2}
    card = model_card(BiEncoderConfig(), record, dim=384)
    meta = front_matter(card)
    assert meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert meta["library_name"] == "gradedpr" and meta["datasets"] == ["BeIR/nfcorpus"]
    assert "loss:lambdaloss" in meta["tags"] and meta["pipeline_tag"] == "sentence-similarity"
    results = {r["dataset"]["split"]: {m["type"]: m["value"] for m in r["metrics"]}
               for r in meta["model-index"][0]["results"]}
    assert results == {"dev": {"ndcg_at_10": 0.34, "map": 0.12}, "test": {"ndcg_at_10": 0.321, "map": 0.111}}
    assert "| ndcg@10 | 0.3400 | 0.3210 |" in card  # the checkpoint's own step (30), not the last evaluation
    assert "dev (step 30, 3 queries)" in card and "test (best checkpoint, 2 queries)" in card
    assert "2,590 queries (4 skipped" in card and "3,633 passages" in card
    assert "`weighting=ndcg_loss2pp`" in card and "| lr | 5e-05 |" in card
    assert "This checkpoint: step 30 of 60; best ndcg@10 at step 30; seed 13." in card
    assert "python scripts/train.py experiment=nfcorpus loss=lambdaloss train.test_split=test seed=13" in card
    assert "hydra.run.dir" not in card.split("```bash")[1].split("```")[0]
    embedded = card.split("```yaml\n")[1].split("```")[0]
    assert yaml.safe_load(embedded)["loss"] == CONFIG["loss"]
    assert "same ranking" in card and "BiEncoder.from_pretrained" in card and "scripts/export.py" in card


def test_refresh_adds_the_test_metrics_to_a_saved_checkpoint(tmp_path: Path) -> None:
    _, ckpt = make_run(tmp_path)
    (ckpt / "gradedpr.json").write_text(json.dumps({"format_version": 1, **BiEncoderConfig().to_dict()}))
    (ckpt / "query_encoder").mkdir()
    (ckpt / "query_encoder" / "config.json").write_text(json.dumps({"hidden_size": 384}))
    card = refresh_checkpoint_card(ckpt).read_text()
    assert "| ndcg@10 | 0.3400 | 0.3210 |" in card and "embedding dimension | 384" in card


def test_test_metrics_belong_only_to_the_tested_checkpoint(tmp_path: Path) -> None:
    run, _ = make_run(tmp_path)
    last = run / "checkpoints" / "last"
    last.mkdir()
    (last / "training_info.json").write_text(json.dumps({"step": 60}))
    record = read_training_record(run, checkpoint=last)
    assert record.test_metrics == {} and record.step == 60
    card = model_card(BiEncoderConfig(shared=True), record, form="sentence-transformers")
    assert "| ndcg@10 | 0.3300 |" in card and "test (" not in card
    assert front_matter(card)["library_name"] == "sentence-transformers"
    assert "One encoder serves both sides" in card


def test_card_with_nothing_known_is_still_valid() -> None:
    card = model_card(BiEncoderConfig(similarity="dot", pooling="cls"))
    meta = front_matter(card)
    assert meta["library_name"] == "gradedpr" and "base_model" not in meta and "metrics" not in meta
    assert "dot product" in card and "No evaluation recorded." in card and "Not recorded" in card


def test_training_checkpoints_carry_a_card(tiny_model_dir: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    ids = [f"d{i}" for i in range(8)]
    texts = [f"text {i} about {'odd' if i % 2 else 'even'} things" for i in range(8)]
    queries = {"q0": "even", "q1": "odd"}
    qrels = {"q0": {"d0": 2, "d2": 1}, "q1": {"d1": 2, "d3": 1}}
    model = BiEncoder.from_pretrained(tiny_model_dir)
    sampler = GroupSampler(queries, qrels, ids, RandomNegatives(), group_size=3, max_positives=1, seed=0)
    settings = TrainConfig(batch_size=2, group_size=3, max_steps=2, lr=1e-3, eval_every=1, save_every=1,
                             eval_metric="auc")
    trainer = Trainer(model, sampler, Corpus.from_lists(ids, [""] * 8, texts), get_loss("listnet"), settings,
                      tmp_path, evaluate=lambda m: {"auc": 0.5}, show_progress=False)
    trainer.train()
    for name in ("best", "last"):
        card = (tmp_path / "checkpoints" / name / "README.md").read_text()
        assert front_matter(card)["library_name"] == "gradedpr"
        assert "| batch_size | 2 |" in card  # no config.yaml: the trainer's own settings
        assert "embedding dimension | 32" in card
    last = (tmp_path / "checkpoints" / "last" / "README.md").read_text()
    assert "This checkpoint: step 2 of 2" in last and "dev (step 2)" in last


def test_card_front_matter_is_valid_for_the_hub(tmp_path: Path) -> None:
    """Parsed back with huggingface_hub (offline, from the file): license and language from the base model's own
    card, the Hub's task id, MTEB's metric ids, the dataset's Hub id; a malformed model-index would raise."""
    from huggingface_hub import ModelCard, metadata_load

    run, ckpt = make_run(tmp_path)
    path = tmp_path / "README.md"
    path.write_text(model_card(BiEncoderConfig(), read_training_record(run, checkpoint=ckpt), dim=384,
                               form="sentence-transformers"))
    card = ModelCard.load(path, ignore_metadata_errors=False)
    data = card.data
    assert (data.license, data.language) == ("apache-2.0", "en")  # the bundled all-MiniLM-L6-v2's card says so
    assert (data.library_name, data.pipeline_tag) == ("sentence-transformers", "sentence-similarity")
    assert data.base_model == "sentence-transformers/all-MiniLM-L6-v2" and data.datasets == ["BeIR/nfcorpus"]
    results = data.eval_results
    assert {r.task_type for r in results} == {"text-retrieval"}
    assert {r.dataset_type for r in results} == {"BeIR/nfcorpus"}
    by_split = {(r.dataset_split, r.metric_type): (r.metric_name, r.metric_value) for r in results}
    assert by_split[("test", "ndcg_at_10")] == ("nDCG@10", 0.321) and by_split[("dev", "map")] == ("MAP", 0.12)
    assert metadata_load(path) == data.to_dict()
    text = path.read_text()
    assert str(tmp_path) not in text  # data path, run directory: shown by their last component only
    assert "read from `data`" in text and "run_dir: run" in text


def test_license_and_language_come_only_from_the_base_card(tiny_model_dir: Path, tmp_path: Path) -> None:
    from huggingface_hub import metadata_load

    from gradedpr.model.card import base_card_metadata

    assert base_card_metadata(str(tiny_model_dir)) == {}  # a base model without a card: nothing invented
    record = read_training_record(None)
    record.config = {"model": {"name_or_path": str(tiny_model_dir)}}
    path = tmp_path / "README.md"
    path.write_text(model_card(BiEncoderConfig(), record))
    meta = metadata_load(path)
    assert "license" not in meta and "language" not in meta and meta["library_name"] == "gradedpr"
    base = tmp_path / "base"
    base.mkdir()
    (base / "README.md").write_text("---\nlicense: mit\nlanguage:\n- de\n---\n# a base model\n")
    record.config = {"model": {"name_or_path": str(base)}}
    path.write_text(model_card(BiEncoderConfig(), record))
    meta = metadata_load(path)
    assert meta["license"] == "mit" and meta["language"] == ["de"]
    assert str(tmp_path) not in path.read_text()


def test_template_renders_the_cards_the_hand_built_markdown_wrote(tmp_path: Path) -> None:
    """card_template.md (rendered by huggingface_hub's ModelCard.from_template) writes, character for character,
    the cards the string-building code wrote before it (tests/model/golden/, made by that code)."""
    import gradedpr

    run, ckpt = make_run(tmp_path)
    record = read_training_record(run, checkpoint=ckpt)
    cards = {"card_checkpoint.md": model_card(BiEncoderConfig(), record, dim=384),
             "card_export.md": model_card(BiEncoderConfig(shared=True), record, form="sentence-transformers", dim=384,
                                          source=str(ckpt), name="export")}
    golden = Path(__file__).with_name("golden")
    for name, card in cards.items():
        expected = (golden / name).read_text(encoding="utf-8").replace("gradedpr VERSION.",
                                                                      f"gradedpr {gradedpr.__version__}.")
        assert card == expected, name
