"""Every bad setting is refused before anything runs, in one line (issue 9, item 4: configuration).

Each case runs the real command-line tool (its script as ``__main__`` in a child forked from pytest, as from the
shell) with one bad setting and checks what a user sees:
exit status 2, one ``error:`` line naming the setting (and what is allowed), no traceback, and no output
directory left behind (for ``scripts/train.py`` not even the run directory Hydra created). Keys the schema does
not know and values of the wrong type are refused by Hydra itself while composing the configuration: its own
short error block (no traceback) naming the key, exit status 1 (:data:`HYDRA_CASES`).

The cases are refused before a model is loaded (only its ``config.json`` is read), so each takes a second or
three; ``train.group_size`` larger than the data allows is found once the data is loaded, before training.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from reliability_helpers import Outcome, assert_one_line_error, beir_overrides, run_forked

import gradedpr.commands.train  # noqa: F401  (imported once here, so that the forked children start at once)
from gradedpr.model.biencoder import BiEncoder

# (id, script, bad settings, fragments the error line must hold); {tmp} and {file} are filled in per test
TRAIN = [
    ("batch_size 0", ["train.batch_size=0"], ["train.batch_size=0: must be an integer >= 1"]),
    ("group_size 1", ["train.group_size=1"], ["train.group_size=1: must be an integer (a positive and a negative)"]),
    ("group_size above the data", ["train.group_size=20"], ["train.group_size=20: must be <= 12 for this data"]),
    ("max_positives above group_size", ["train.max_positives=5"],
     ["train.max_positives=5: must be <= train.group_size"]),
    ("max_steps 0", ["train.max_steps=0"], ["train.max_steps=0: must be an integer >= 1"]),
    ("max_steps negative", ["train.max_steps=-5"], ["train.max_steps=-5"]),
    ("eval_every negative", ["train.eval_every=-1"], ["train.eval_every=-1: must be an integer (0 = never) >= 0"]),
    ("save_every negative", ["train.save_every=-1"], ["train.save_every=-1"]),
    ("grad_accum 0", ["train.grad_accum=0"], ["train.grad_accum=0"]),
    ("eval_k 0", ["train.eval_k=0"], ["train.eval_k=0"]),
    ("eval_k below the metric's cutoff", ["train.eval_k=5"], ["train.eval_k=5: must be >= 10", "ndcg@10"]),
    ("eval_batch_size 0", ["train.eval_batch_size=0"], ["train.eval_batch_size=0"]),
    ("lr 0", ["train.lr=0"], ["train.lr=0.0: must be a number > 0"]),
    ("lr negative", ["train.lr=-1e-5"], ["train.lr=-1e-05: must be a number > 0"]),
    ("warmup_ratio above 1", ["train.warmup_ratio=1.5"], ["train.warmup_ratio=1.5: must be in [0, 1]"]),
    ("warmup_ratio negative", ["train.warmup_ratio=-0.1"], ["train.warmup_ratio=-0.1"]),
    ("unknown eval_metric", ["train.eval_metric=auc"], ["train.eval_metric='auc': unknown measure"]),
    ("eval_metric without cutoff", ["train.eval_metric=recall"], ["train.eval_metric='recall'", "needs a cutoff"]),
    ("unknown negatives", ["train.negatives=hard"], ["train.negatives='hard': must be one of random, bm25"]),
    ("negatives=run without a file", ["train.negatives=run"], ["train.negatives_run_file=None"]),
    ("refresh without model negatives", ["train.negatives_refresh_every=5"], ["needs train.negatives=model"]),
    ("unknown regime", ["train.regime=half"], ["train.regime='half': must be one of full, frozen"]),
    ("unknown frozen candidates", ["train.frozen.candidates=all"], ["train.frozen.candidates='all'"]),
    ("frozen topk 0", ["train.frozen.topk=0"], ["train.frozen.topk=0"]),
    ("unknown pooling", ["model.pooling=max"], ["model.pooling='max': must be one of cls, mean"]),
    ("unknown similarity", ["model.similarity=l2"], ["model.similarity='l2': must be one of dot, cosine"]),
    ("temperature 0", ["model.temperature=0"], ["model.temperature=0.0: must be a number > 0"]),
    ("temperature negative", ["model.temperature=-1"], ["model.temperature=-1.0"]),
    ("query_max_length 0", ["model.query_max_length=0"], ["model.query_max_length=0: must be an integer >= 2"]),
    ("passage_max_length above the model's", ["model.passage_max_length=1000"],
     ["model.passage_max_length=1000: must be <= 512", "max_position_embeddings"]),
    ("eval_passage_max_length 1", ["train.eval_passage_max_length=1"], ["train.eval_passage_max_length=1"]),
    ("test_passage_max_length above the model's", ["train.test_passage_max_length=4096"],
     ["train.test_passage_max_length=4096: must be <= 512"]),
    ("cuda without CUDA", ["device=cuda"], ["device='cuda': this machine has no CUDA device"]),
    ("malformed device", ["device=gpu0"], ["device='gpu0': must be auto, cpu, cuda, cuda:<index> or mps"]),
    ("unknown loss", ["loss.name=hinge"], ["loss.name='hinge': must be one of"]),
    ("unknown loss keyword", ["+loss.kwargs.margin=1"],
     ["loss.kwargs.margin: not a hyper-parameter of loss 'listnet'"]),
    ("bad loss value", ["loss.kwargs.gain=cubic"], ["loss.kwargs: bad hyperparameters for loss 'listnet'", "gain"]),
    ("negative seed", ["seed=-1"], ["seed=-1: must be an integer >= 0"]),
    ("unknown data format", ["data.format=xml"], ["data.format='xml': must be one of beir, trec, dpr"]),
    ("unknown wandb mode", ["logger.mode=cloud"], ["logger.mode='cloud'"]),
    ("missing model", ["model.name_or_path={tmp}/no-model"], ["no-model: no such model directory"]),
    ("resume without trainer state", ["resume_from={tmp}"], ["trainer_state.pt: no trainer state to resume from"]),
    ("run_dir under a file", ["run_dir={file}/run"], ["run_dir=", "is a file, not a directory"]),
    ("run_dir not writable", ["run_dir=/proc/gradedpr-run"], ["run_dir='/proc/gradedpr-run': not writable"]),
]

INDEX = [
    ("index batch_size 0", ["batch_size=0"], ["batch_size=0: must be an integer >= 1"]),
    ("chunk_size 0", ["chunk_size=0"], ["chunk_size=0"]),
    ("max_tokens 0", ["max_tokens=0"], ["max_tokens=0: must be auto, null (no cap) or an integer >= 1"]),
    ("max_tokens text", ["max_tokens=lots"], ["max_tokens='lots'"]),
    ("hnsw M 0", ["faiss=hnsw", "faiss.M=0"], ["faiss.M=0: must be an integer >= 2"]),
    ("hnsw M 1", ["faiss=hnsw", "faiss.M=1"], ["faiss.M=1"]),
    ("hnsw ef_construction 0", ["faiss=hnsw", "faiss.ef_construction=0"], ["faiss.ef_construction=0"]),
    ("hnsw ef_search 0", ["faiss=hnsw", "faiss.ef_search=0"], ["faiss.ef_search=0"]),
    ("ivfpq nlist 0", ["faiss=ivfpq", "faiss.nlist=0"], ["faiss.nlist=0"]),
    ("ivfpq m 0", ["faiss=ivfpq", "faiss.m=0"], ["faiss.m=0"]),
    ("ivfpq m not dividing dim", ["faiss=ivfpq", "faiss.m=5"], ["faiss.m=5: must divide the embedding dimension 32"]),
    ("ivfpq nbits 0", ["faiss=ivfpq", "faiss.nbits=0"], ["faiss.nbits=0: must be an integer in [1, 16]"]),
    ("ivfpq nbits 64", ["faiss=ivfpq", "faiss.nbits=64"], ["faiss.nbits=64"]),
    ("ivfpq nprobe 0", ["faiss=ivfpq", "faiss.nprobe=0"], ["faiss.nprobe=0"]),
    ("factory string FAISS rejects", ["faiss=factory", "faiss.factory=Foo"],
     ["faiss.factory='Foo': FAISS rejects it", "could not parse index string Foo"]),
    ("factory PQ not dividing dim", ["faiss=factory", "faiss.factory=PQ5"], ["faiss.factory='PQ5': FAISS rejects it"]),
    ("factory HNSW M 1", ["faiss=factory", "faiss.factory='HNSW1,Flat'"], ["faiss.factory='HNSW1,Flat'", "M >= 2"]),
    ("factory search_params FAISS rejects", ["faiss=factory", "faiss.search_params='probes=3'"],
     ["faiss.search_params='probes=3': FAISS rejects it"]),
    ("type differs from the group", ["faiss.type=hnsw"], ["faiss.type='hnsw': is 'flat' in faiss=flat"]),
    ("index passage_max_length above the model's", ["model.passage_max_length=600"],
     ["model.passage_max_length=600: must be <= 512"]),
    ("index cuda without CUDA", ["device=cuda:1"], ["device='cuda:1': this machine has no CUDA device"]),
    ("shard_id beyond num_shards", ["shard_id=2", "num_shards=2"], ["shard_id=2: must be < num_shards (2)"]),
    ("index output under a file", ["output={file}/index"], ["output=", "is a file, not a directory"]),
    ("embeddings_dir not writable", ["embeddings_dir=/proc/gradedpr-emb"], ["embeddings_dir='/proc/gradedpr-emb'"]),
    ("missing checkpoint", ["checkpoint={tmp}/no-model"], ["no-model: no such model directory"]),
]

EVALUATE = [
    ("k below the deepest cutoff", ["k=10"], ["k=10: too small", "k >= 100"]),
    ("k 0", ["k=0"], ["k=0: must be an integer >= 1"]),
    ("unknown measure", ["measures=[ndcg@10,auc]"], ["measures: unknown measure 'auc'"]),
    ("measure cutoff 0", ["measures=[ndcg@0]"], ["measures:", "the cutoff must be >= 1"]),
    ("unknown mean_over", ["mean_over=all"], ["mean_over='all': must be one of qrels, both"]),
    ("evaluate batch_size 0", ["batch_size=0"], ["batch_size=0"]),
    ("n_permutations 0", ["n_permutations=0"], ["n_permutations=0"]),
    ("evaluate cuda without CUDA", ["device=cuda"], ["device='cuda': this machine has no CUDA device"]),
    ("query_max_length above the model's", ["model.query_max_length=513"],
     ["model.query_max_length=513: must be <= 512"]),
    ("evaluate passage_max_length 1", ["model.passage_max_length=1"], ["model.passage_max_length=1"]),
    ("evaluate output not writable", ["output=/proc/gradedpr-eval"], ["output='/proc/gradedpr-eval': not writable"]),
    ("evaluate missing checkpoint", ["checkpoint={tmp}/no-model"], ["no-model: no such model directory"]),
]

EXPORT = [
    ("no checkpoint", ["output={tmp}/export"], ["checkpoint: required, there is no default"]),
    ("no output", ["checkpoint={model}"], ["output: required, there is no default"]),
    ("negative tolerance", ["checkpoint={model}", "output={tmp}/export", "tolerance=-1"], ["tolerance=-1.0"]),
    ("export missing checkpoint", ["checkpoint={tmp}/no-model", "output={tmp}/export"], ["no such model directory"]),
    ("export output under a file", ["checkpoint={model}", "output={file}/export"], ["is a file, not a directory"]),
]

CASES = ([("train.py", *case) for case in TRAIN] + [("index.py", *case) for case in INDEX]
         + [("evaluate.py", *case) for case in EVALUATE] + [("export.py", *case) for case in EXPORT])

HYDRA_CASES = [  # (script, settings, the key Hydra names)
    ("train.py", ["train.lr=abc"], "train.lr"),
    ("train.py", ["seed=abc"], "seed"),
    ("train.py", ["train.batchsize=8"], "train.batchsize"),
    ("train.py", ["model.pool=cls"], "model.pool"),
    ("train.py", ["data.corpus=x.jsonl"], "data.corpus"),
    ("train.py", ["train.eval_at_start=maybe"], "train.eval_at_start"),
    ("index.py", ["faiss.M=32"], "faiss.M"),  # a flat index has no M
    ("index.py", ["faiss=hnsw", "faiss.M=many"], "faiss.M"),
    ("evaluate.py", ["k=abc"], "k"),
    ("evaluate.py", ["topk=10"], "topk"),
    ("export.py", ["checkpoint=a", "output=b", "verify=perhaps"], "verify"),
]


def base_args(script: str, beir: Path, model: Path, tmp_path: Path) -> list[str]:
    """Good settings around the bad one: a tiny collection and model, outputs under tmp_path."""
    if script == "train.py":
        return [*beir_overrides(beir), f"model.name_or_path={model}", "logger=none"]
    if script == "index.py":
        return [*beir_overrides(beir), f"checkpoint={model}", f"output={tmp_path}/index",
                f"embeddings_dir={tmp_path}/emb"]
    if script == "evaluate.py":
        return [*beir_overrides(beir), f"checkpoint={model}", f"output={tmp_path}/eval"]
    return []


def outputs(script: str, tmp_path: Path) -> list[Path]:
    """What must not exist after a refused start (train: the run directory is Hydra's, tmp_path/hydra)."""
    return {"train.py": [tmp_path / "hydra", tmp_path / "run"], "index.py": [tmp_path / "index", tmp_path / "emb"],
            "evaluate.py": [tmp_path / "eval"], "export.py": [tmp_path / "export"]}[script]


def fill(text: str, tmp_path: Path, model: Path) -> str:
    text = text.replace("{tmp}", str(tmp_path)).replace("{file}", str(tmp_path / "a-file"))
    return text.replace("{model}", str(model))


@pytest.mark.parametrize(("script", "name", "settings", "fragments"), CASES, ids=[f"{c[0]}: {c[1]}" for c in CASES])
def test_bad_setting_is_one_line_exit_2_before_any_work(script: str, name: str, settings: list[str],
                                                        fragments: list[str], tiny_beir: Path, tiny_model_dir: Path,
                                                        tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("a user's file\n")
    args = [*base_args(script, tiny_beir, tiny_model_dir, tmp_path),
            *(fill(s, tmp_path, tiny_model_dir) for s in settings)]
    result = run_forked(script, args, tmp_path)
    assert_one_line_error(result, *(fill(f, tmp_path, tiny_model_dir) for f in fragments))
    run_dir = [fill(s, tmp_path, tiny_model_dir).split("=", 1)[1] for s in settings if s.startswith("run_dir=")]
    for path in [Path(p) for p in run_dir] if run_dir else outputs(script, tmp_path):
        assert not path.exists(), f"{path} left behind"
    assert (tmp_path / "a-file").read_text() == "a user's file\n"


@pytest.mark.parametrize(("script", "settings", "key"), HYDRA_CASES, ids=[" ".join(c[1]) for c in HYDRA_CASES])
def test_unknown_key_or_wrong_type_is_hydras_short_error(script: str, settings: list[str], key: str,
                                                         tiny_beir: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    result = run_forked(script, [*base_args(script, tiny_beir, tiny_model_dir, tmp_path), *settings], tmp_path)
    assert_hydra_error(result, key)
    for path in [*outputs(script, tmp_path), tmp_path / "hydra"]:
        assert not path.exists(), f"{path} left behind"


def assert_hydra_error(result: Outcome, key: str) -> None:
    """Hydra's own error while composing: status 1, a few lines naming the key, no traceback."""
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) <= 7, result.stderr
    assert f"full_key: {key}" in result.stderr, result.stderr
    assert lines[-1].startswith("Set the environment variable HYDRA_FULL_ERROR=1")


def fake_run(tmp_path: Path, model_dir: Path, config: dict) -> Path:
    """A run directory as scripts/train.py leaves it: config.yaml and checkpoints/last with trainer state."""
    run = tmp_path / "old-run"
    last = BiEncoder.from_pretrained(model_dir).save_pretrained(run / "checkpoints" / "last")
    torch.save({"step": 2, "settings": config["train"]}, last / "trainer_state.pt")
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    return last


def test_resuming_with_other_settings_lists_every_change(tiny_beir: Path, tiny_model_dir: Path,
                                                         tmp_path: Path) -> None:
    recorded = {"seed": 42, "loss": {"name": "listnet", "kwargs": {"gain": "exp2"}},
                "data": {"name": "tiny", "path": str(tiny_beir)}, "train": {"batch_size": 8, "group_size": 4}}
    last = fake_run(tmp_path, tiny_model_dir, recorded)
    result = run_forked("train.py", [*base_args("train.py", tiny_beir, tiny_model_dir, tmp_path),
                                     f"resume_from={last}", "train.batch_size=4", "loss=nll",
                                     "train.max_steps=500", "train.eval_every=7"], tmp_path)
    assert_one_line_error(result, f"resume_from={last}", "cannot resume with different settings",
                          "train.batch_size: 8 -> 4", "loss.name: 'listnet' -> 'nll'")
    line = next(line for line in result.stderr.splitlines() if line.startswith("error:"))
    assert "max_steps" not in line and "eval_every" not in line and "group_size" not in line
    assert not (tmp_path / "hydra").exists()
