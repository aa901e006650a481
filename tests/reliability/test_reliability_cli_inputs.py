"""Bad data and bad files through the real command-line tools (issue 9, item 4).

Every case runs ``scripts/train.py``, ``scripts/index.py`` or ``scripts/evaluate.py`` as a subprocess on a
tiny BEIR collection (12 documents, 6 queries) with one file broken, and checks what a user gets: exit
status 2, one ``error:`` line naming the file (and ``file:line:`` where there is a line), no traceback, and
nothing left at the output paths. A few inputs are not errors (a byte order mark, CRLF line ends): those
must give the same result as the clean file. The table of cases and outcomes is in docs/RELIABILITY.md.

Each case's process is forked from the test process and runs the script as ``__main__`` (``runpy``): the
same Hydra main and ``run_cli`` as from the shell, but without four seconds of imports per case.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from reliability_helpers import ROOT, Outcome, run_forked

import gradedpr.commands.compare
import gradedpr.commands.evaluate
import gradedpr.commands.train  # noqa: F401  (imported here once, so that the forked children start at once)
from gradedpr.commands.common import register_resolvers
from gradedpr.commands.index import run_index
from gradedpr.config.store import register_configs
from gradedpr.model.biencoder import BiEncoder


@dataclass
class Case:
    script: str
    args: list[str]
    fragments: list[str] = field(default_factory=list)  # each must be in the error line
    ok: bool = False  # not an error: exit 0, and the metrics equal those of the clean input
    outputs: list[Path] = field(default_factory=list)  # must not exist afterwards (errors)


CASES: dict[str, Callable[[Path, Path], Case]] = {}


def case(function: Callable[[Path, Path], Case]) -> Callable[[Path, Path], Case]:
    CASES[function.__name__] = function
    return function


# ---------------------------------------------------------------------------------------------- inputs
DOCS = [{"_id": f"d{i}", "title": "", "text": f"passage number {i} about topic {i % 6}"} for i in range(12)]
QUERIES = [{"_id": f"q{t}", "text": f"topic {t}"} for t in range(6)]


def qrels_text(topics: tuple[int, ...]) -> str:
    lines = ["query-id\tcorpus-id\tscore"] + [f"q{t}\td{t}\t2\nq{t}\td{t + 6}\t1" for t in topics]
    return "\n".join(lines) + "\n"


def jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def beir(d: Path, **files: str | bytes | None) -> Path:
    """The tiny collection under ``d/data``; ``files`` replaces (or, with None, deletes) some of its files
    (keys: ``corpus``, ``queries``, ``train``, ``dev``, ``test``)."""
    root = d / "data"
    (root / "qrels").mkdir(parents=True)
    paths = {"corpus": root / "corpus.jsonl", "queries": root / "queries.jsonl",
             **{split: root / "qrels" / f"{split}.tsv" for split in ("train", "dev", "test")}}
    content: dict[str, str | bytes | None] = {
        "corpus": jsonl(DOCS), "queries": jsonl(QUERIES), "train": qrels_text((0, 1)), "dev": qrels_text((2, 3)),
        "test": qrels_text((4, 5)), **files}
    for key, text in content.items():
        if text is not None:
            data = text if isinstance(text, bytes) else text.encode("utf-8")
            paths[key].write_bytes(data)
    return root


def data_args(root: Path) -> list[str]:
    return [f"data.path={root}", "data.name=tiny", "data.builtin=false", "show_progress=false"]


RUN_LINES = ["q4 Q0 d4 1 0.9 t", "q4 Q0 d10 2 0.5 t", "q5 Q0 d5 1 0.8 t", "q5 Q0 d0 2 0.1 t"]


def run_file(d: Path, lines: list[str] | bytes, name: str = "run.trec") -> Path:
    path = d / name
    path.write_bytes(lines if isinstance(lines, bytes) else ("\n".join(lines) + "\n").encode("utf-8"))
    return path


def score(d: Path, root: Path, run: Path, *extra: str) -> Case:
    """``evaluate.py run=<run>`` against the test split of ``root``."""
    return Case("evaluate.py", [*data_args(root), f"run={run}", f"output={d}/out", *extra], outputs=[d / "out"])


def error(c: Case, *fragments: str | Path) -> Case:
    c.fragments = [str(f) for f in fragments]
    return c


def fine(c: Case) -> Case:
    c.ok = True
    return c


# ---------------------------------------------------------------------------------------------- run files
@case
def clean_files(d: Path, model: Path) -> Case:
    return fine(score(d, beir(d), run_file(d, RUN_LINES)))


@case
def run_file_missing(d: Path, model: Path) -> Case:
    return error(score(d, beir(d), d / "missing.trec"), d / "missing.trec", "cannot open")


@case
def run_file_empty(d: Path, model: Path) -> Case:
    return error(score(d, beir(d), run_file(d, b"")), d / "run.trec", "holds no results")


@case
def run_file_five_columns(d: Path, model: Path) -> Case:
    return error(score(d, beir(d), run_file(d, [RUN_LINES[0], "q4 Q0 d10 2 0.5"])), f"{d}/run.trec:2:", "6 columns")


@case
def run_file_nan_score(d: Path, model: Path) -> Case:
    return error(score(d, beir(d), run_file(d, ["q4 Q0 d4 1 nan t", *RUN_LINES[1:]])), f"{d}/run.trec:1:", "NaN")


@case
def run_file_non_ascii_digits(d: Path, model: Path) -> Case:
    lines = [*RUN_LINES[:2], "q5 Q0 d5 1 \u0660.\u0668 t"]
    return error(score(d, beir(d), run_file(d, lines)), f"{d}/run.trec:3:", "ASCII digits")


@case
def run_file_not_utf8(d: Path, model: Path) -> Case:
    data = ("\n".join(RUN_LINES[:1]) + "\n").encode() + b"q4 Q0 d\xff10 2 0.5 t\n"
    return error(score(d, beir(d), run_file(d, data)), f"{d}/run.trec:2:", "UTF-8")


@case
def run_file_duplicate_pair(d: Path, model: Path) -> Case:
    return error(score(d, beir(d), run_file(d, [RUN_LINES[0], "q4 Q0 d4 2 0.3 t"])), f"{d}/run.trec:2:",
                 "duplicate document 'd4'")


@case
def run_file_unknown_document(d: Path, model: Path) -> Case:
    return error(score(d, beir(d), run_file(d, ["q4 Q0 d99 1 0.9 t"])), f"{d}/run.trec:1:", "'d99'",
                 "not in the corpus")


@case
def run_file_of_other_queries(d: Path, model: Path) -> Case:
    return error(score(d, beir(d), run_file(d, ["q0 Q0 d0 1 0.9 t"])), d / "run.trec", "none of the run's")


@case
def run_file_with_bom_and_crlf(d: Path, model: Path) -> Case:
    return fine(score(d, beir(d), run_file(d, b"\xef\xbb\xbf" + "\r\n".join(RUN_LINES).encode() + b"\r\n")))


@case
def compare_with_a_bad_second_run(d: Path, model: Path) -> Case:
    good, bad = run_file(d, RUN_LINES, "a.trec"), run_file(d, [RUN_LINES[0], "q4 Q0 d10 x 0.5"], "b.trec")
    return error(Case("evaluate.py", [*data_args(beir(d)), f"runs=[{good},{bad}]", f"output={d}/out"],
                      outputs=[d / "out"]), f"{d}/b.trec:2:")


# ---------------------------------------------------------------------------------------------- qrels
@case
def qrels_split_file_missing(d: Path, model: Path) -> Case:
    root = beir(d, test=None)
    return error(score(d, root, run_file(d, RUN_LINES)), root / "qrels", "test split")


@case
def qrels_wrong_columns(d: Path, model: Path) -> Case:
    root = beir(d, test="query-id\tcorpus-id\tscore\nq4\td4\n")
    return error(score(d, root, run_file(d, RUN_LINES)), f"{root}/qrels/test.tsv:2:", "3 tab-separated columns")


@case
def qrels_grade_not_an_integer(d: Path, model: Path) -> Case:
    root = beir(d, test="q4\td4\t2\nq4\td10\t1.5\n")
    return error(score(d, root, run_file(d, RUN_LINES)), f"{root}/qrels/test.tsv:2:", "'1.5'")


@case
def qrels_unknown_document(d: Path, model: Path) -> Case:
    root = beir(d, test="q4\td4\t2\nq5\td77\t1\n")
    return error(score(d, root, run_file(d, RUN_LINES)), f"{root}/qrels/test.tsv:2:", "'d77'")


@case
def qrels_unknown_query(d: Path, model: Path) -> Case:
    root = beir(d, test="q4\td4\t2\nq9\td5\t1\n")
    return error(score(d, root, run_file(d, RUN_LINES)), f"{root}/qrels/test.tsv:2:", "'q9'")


@case
def qrels_duplicate_judgment(d: Path, model: Path) -> Case:
    root = beir(d, test="q4\td4\t2\nq5\td5\t1\nq4\td4\t1\n")
    return error(score(d, root, run_file(d, RUN_LINES)), f"{root}/qrels/test.tsv:3:", "duplicate judgment")


@case
def qrels_only_a_header(d: Path, model: Path) -> Case:
    root = beir(d, test="query-id\tcorpus-id\tscore\n")
    return error(score(d, root, run_file(d, RUN_LINES)), f"{root}/qrels/test.tsv", "no relevance judgments")


@case
def qrels_not_utf8(d: Path, model: Path) -> Case:
    root = beir(d, test=b"q4\td4\t2\nq5\td5\xfe\t1\n")
    return error(score(d, root, run_file(d, RUN_LINES)), f"{root}/qrels/test.tsv:2:", "UTF-8")


@case
def qrels_file_given_is_missing(d: Path, model: Path) -> Case:
    return error(Case("evaluate.py", [f"qrels={d}/nope.qrels", f"run={run_file(d, RUN_LINES)}",
                                      f"output={d}/out"], outputs=[d / "out"]), d / "nope.qrels", "not found")


@case
def qrels_with_bom_and_crlf(d: Path, model: Path) -> Case:
    return fine(score(d, beir(d, test=b"\xef\xbb\xbf" + qrels_text((4, 5)).replace("\n", "\r\n").encode()),
                      run_file(d, RUN_LINES)))


# ---------------------------------------------------------------------------------------------- corpus
@case
def corpus_file_missing(d: Path, model: Path) -> Case:
    root = beir(d, corpus=None)
    return error(score(d, root, run_file(d, RUN_LINES)), root, "corpus not found")


@case
def corpus_empty(d: Path, model: Path) -> Case:
    root = beir(d, corpus="\n")
    return error(score(d, root, run_file(d, RUN_LINES)), root / "corpus.jsonl", "no documents")


@case
def corpus_malformed_json(d: Path, model: Path) -> Case:
    root = beir(d, corpus=jsonl(DOCS[:2]) + '{"_id": "d2", "text": "x"\n' + jsonl(DOCS[3:]))
    return error(score(d, root, run_file(d, RUN_LINES)), f"{root}/corpus.jsonl:3:", "malformed JSON")


@case
def corpus_not_utf8(d: Path, model: Path) -> Case:
    root = beir(d, corpus=jsonl(DOCS[:1]).encode() + b'{"_id": "d1", "text": "caf\xe9"}\n' + jsonl(DOCS[2:]).encode())
    return error(score(d, root, run_file(d, RUN_LINES)), f"{root}/corpus.jsonl:2:", "UTF-8")


@case
def corpus_duplicate_id(d: Path, model: Path) -> Case:
    root = beir(d, corpus=jsonl([*DOCS[:3], DOCS[1], *DOCS[3:]]))
    return error(score(d, root, run_file(d, RUN_LINES)), f"{root}/corpus.jsonl:4:", "duplicate document id 'd1'")


@case
def corpus_record_without_text(d: Path, model: Path) -> Case:
    root = beir(d, corpus=jsonl([DOCS[0], {"_id": "d1", "title": "t"}, *DOCS[2:]]))
    return error(score(d, root, run_file(d, RUN_LINES)), f"{root}/corpus.jsonl:2:", "'text'")


@case
def corpus_line_not_an_object(d: Path, model: Path) -> Case:
    root = beir(d, corpus='["d0", "text"]\n' + jsonl(DOCS[1:]))
    return error(score(d, root, run_file(d, RUN_LINES)), f"{root}/corpus.jsonl:1:", "JSON object")


@case
def corpus_with_bom_and_crlf(d: Path, model: Path) -> Case:
    return fine(score(d, beir(d, corpus=b"\xef\xbb\xbf" + jsonl(DOCS).replace("\n", "\r\n").encode()),
                      run_file(d, RUN_LINES)))


# ---------------------------------------------------------------------------------------------- queries
@case
def queries_file_missing(d: Path, model: Path) -> Case:
    root = beir(d, queries=None)
    return error(score(d, root, run_file(d, RUN_LINES)), root, "queries not found")


@case
def queries_empty(d: Path, model: Path) -> Case:
    root = beir(d, queries="")
    return error(score(d, root, run_file(d, RUN_LINES)), root / "queries.jsonl", "no queries")


@case
def queries_malformed_json(d: Path, model: Path) -> Case:
    root = beir(d, queries=jsonl(QUERIES[:1]) + '{"_id": "q1", text: "x"}\n' + jsonl(QUERIES[2:]))
    return error(score(d, root, run_file(d, RUN_LINES)), f"{root}/queries.jsonl:2:", "malformed JSON")


@case
def queries_duplicate_id(d: Path, model: Path) -> Case:
    root = beir(d, queries=jsonl([*QUERIES, QUERIES[2]]))
    return error(score(d, root, run_file(d, RUN_LINES)), f"{root}/queries.jsonl:7:", "duplicate query id 'q2'")


# ---------------------------------------------------------------------------------------------- DPR json
def dpr_index(d: Path, model: Path, files: dict[str, str]) -> Case:
    root = d / "dpr"
    root.mkdir()
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    return Case("index.py", [f"data.path={root}", "data.name=dpr", "data.format=dpr", "data.builtin=false",
                             "show_progress=false", f"checkpoint={model}", f"output={d}/index",
                             f"embeddings_dir={d}/emb"], outputs=[d / "index", d / "emb"])


QUESTION = {"question": "q", "positive_ctxs": [{"title": "", "text": "an answer", "passage_id": "p1"}]}


@case
def dpr_file_cut_short(d: Path, model: Path) -> Case:
    text = json.dumps([QUESTION, QUESTION], indent=1)
    return error(dpr_index(d, model, {"train.json": text[: len(text) // 2 + 10]}), f"{d}/dpr/train.json:",
                 "item 2")


@case
def dpr_no_split_files(d: Path, model: Path) -> Case:
    return error(dpr_index(d, model, {"notes.txt": "nothing\n"}), d / "dpr", "no DPR split files")


# ---------------------------------------------------------------------------------------------- checkpoints
def evaluate_checkpoint(d: Path, checkpoint: Path | str, *extra: str) -> Case:
    return Case("evaluate.py", [*data_args(beir(d)), f"checkpoint={checkpoint}", f"output={d}/out", *extra],
                outputs=[d / "out"])


def checkpoint_of(model: Path, directory: Path) -> Path:
    """A gradedpr checkpoint of the tiny model."""
    return BiEncoder.from_pretrained(model).save_pretrained(directory)


@case
def checkpoint_path_missing(d: Path, model: Path) -> Case:
    return error(evaluate_checkpoint(d, d / "no-such-checkpoint"), d / "no-such-checkpoint", "no such model directory")


@case
def checkpoint_dir_is_not_a_checkpoint(d: Path, model: Path) -> Case:
    (d / "notes").mkdir()
    (d / "notes" / "todo.txt").write_text("x\n")
    return error(evaluate_checkpoint(d, d / "notes"), d / "notes", "neither a gradedpr checkpoint")


@case
def checkpoint_with_truncated_weights(d: Path, model: Path) -> Case:
    ckpt = checkpoint_of(model, d / "ckpt")
    weights = ckpt / "passage_encoder" / "model.safetensors"
    os.truncate(weights, weights.stat().st_size // 3)
    c = Case("index.py", [*data_args(beir(d)), f"checkpoint={ckpt}", f"output={d}/index", f"embeddings_dir={d}/emb"],
             outputs=[d / "index", d / "emb"])
    return error(c, weights, "truncated or corrupt weights")


@case
def checkpoint_config_is_not_json(d: Path, model: Path) -> Case:
    ckpt = checkpoint_of(model, d / "ckpt")
    (ckpt / "gradedpr.json").write_text("{ not json")
    return error(evaluate_checkpoint(d, ckpt), ckpt / "gradedpr.json")


def built_index(d: Path, model: Path, docs: list[dict]) -> Path:
    """An index of ``docs`` by the tiny model."""
    other = beir(d / "other", corpus=jsonl(docs))
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "configs")):
        register_resolvers()
        register_configs()
        run_index(compose(config_name="index", overrides=[*data_args(other), f"checkpoint={model}",
                                                          f"output={d}/index", f"embeddings_dir={d}/other/emb"]))
    return d / "index"


@case
def index_of_another_corpus(d: Path, model: Path) -> Case:
    index = built_index(d, model, DOCS[:10])
    return error(evaluate_checkpoint(d, model, f"index={index}"), index, "index does not match", "corpus")


@case
def index_dir_is_not_an_index(d: Path, model: Path) -> Case:
    (d / "idx").mkdir()
    return error(evaluate_checkpoint(d, model, f"index={d}/idx"), d / "idx", "not an index directory")


@case
def index_file_truncated(d: Path, model: Path) -> Case:
    index = built_index(d, model, DOCS)
    os.truncate(index / "index.faiss", 40)
    return error(evaluate_checkpoint(d, model, f"index={index}"), index / "index.faiss", "cannot read")


@case
def index_id_map_short(d: Path, model: Path) -> Case:
    index = built_index(d, model, DOCS)
    lines = (index / "ids.txt").read_text().splitlines()
    (index / "ids.txt").write_text("\n".join(lines[:-2]) + "\n")
    return error(evaluate_checkpoint(d, model, f"index={index}"), index, "12 vectors", "10 ids")


# ---------------------------------------------------------------------------------------------- training
def train(d: Path, model: Path, root: Path | None = None, *extra: str) -> Case:
    return Case("train.py", [*data_args(root or beir(d)), f"model.name_or_path={model}", f"run_dir={d}/run",
                             "logger=none", "train.max_steps=2", "train.eval_at_start=false", "train.eval_k=10",
                             *extra], outputs=[d / "run"])


def resumable(d: Path, model: Path) -> Path:
    ckpt = checkpoint_of(model, d / "old" / "checkpoints" / "last")
    return ckpt


@case
def train_resume_from_truncated_state(d: Path, model: Path) -> Case:
    ckpt = resumable(d, model)
    state = ckpt / "trainer_state.pt"
    torch.save({"step": 1, "optimizer": {"state": {}, "param_groups": []}}, state)
    os.truncate(state, state.stat().st_size // 2)
    return error(train(d, model, None, f"resume_from={ckpt}"), state, "truncated or corrupt trainer state")


@case
def train_resume_from_a_model_without_state(d: Path, model: Path) -> Case:
    ckpt = resumable(d, model)
    return error(train(d, model, None, f"resume_from={ckpt}"), ckpt / "trainer_state.pt", "no trainer state")


@case
def train_resume_from_missing_path(d: Path, model: Path) -> Case:
    return error(train(d, model, None, f"resume_from={d}/gone/checkpoints/last"), f"{d}/gone/checkpoints/last")


@case
def train_qrels_malformed(d: Path, model: Path) -> Case:
    root = beir(d, train="q0\td0\t2\nq1\td1 1\n")
    return error(train(d, model, root), f"{root}/qrels/train.tsv:2:")


@case
def train_negatives_run_file_missing(d: Path, model: Path) -> Case:
    return error(train(d, model, None, "train.negatives=run", f"train.negatives_run_file={d}/neg.trec"),
                 d / "neg.trec")


@case
def train_negatives_run_file_malformed(d: Path, model: Path) -> Case:
    run = run_file(d, ["q0 Q0 d3 1 0.9 t", "q0 Q0 d4 2 zero t"], "neg.trec")
    return error(train(d, model, None, "train.negatives=run", f"train.negatives_run_file={run}"), f"{run}:2:")


@case
def train_model_dir_is_not_a_model(d: Path, model: Path) -> Case:
    (d / "empty").mkdir()
    (d / "empty" / "x.bin").write_bytes(b"\0")
    return error(train(d, model, None, f"model.name_or_path={d}/empty"), d / "empty")


# ---------------------------------------------------------------------------------------------- index
@case
def index_with_malformed_corpus(d: Path, model: Path) -> Case:
    root = beir(d, corpus=jsonl(DOCS[:5]) + "not json\n")
    return error(Case("index.py", [*data_args(root), f"checkpoint={model}", f"output={d}/index",
                                   f"embeddings_dir={d}/emb"], outputs=[d / "index", d / "emb"]),
                 f"{root}/corpus.jsonl:6:")


# ---------------------------------------------------------------------------------------------- more
@case
def run_file_is_a_directory(d: Path, model: Path) -> Case:
    (d / "runs").mkdir()
    return error(score(d, beir(d), d / "runs"), d / "runs", "cannot open")


@case
def corpus_file_given_is_missing(d: Path, model: Path) -> Case:
    return error(score(d, beir(d), run_file(d, RUN_LINES), "data.corpus_file=nope.jsonl"), "nope.jsonl", "not found")


@case
def queries_tsv_wrong_columns(d: Path, model: Path) -> Case:
    root = beir(d)
    (root / "queries.tsv").write_text("q0\ttopic 0\nq1\ttopic\t1\n")
    return error(score(d, root, run_file(d, RUN_LINES), "data.queries_file=queries.tsv"), f"{root}/queries.tsv:2:",
                 "2 tab-separated columns")


@case
def trec_qrels_with_three_columns(d: Path, model: Path) -> Case:
    root = beir(d)
    (root / "qrels" / "test.txt").write_text("q4 0 d4 2\nq5 d5 1\n")
    return error(score(d, root, run_file(d, RUN_LINES), "data.format=trec"), f"{root}/qrels/test.txt:2:",
                 "4 whitespace-separated columns")


@case
def trainer_state_without_its_fields(d: Path, model: Path) -> Case:
    ckpt = resumable(d, model)
    torch.save({"step": 1}, ckpt / "trainer_state.pt")
    return error(train(d, model, None, f"resume_from={ckpt}"), ckpt / "trainer_state.pt")


@case
def checkpoint_without_its_query_encoder(d: Path, model: Path) -> Case:
    ckpt = checkpoint_of(model, d / "ckpt")
    for child in sorted((ckpt / "query_encoder").iterdir()):
        child.unlink()
    (ckpt / "query_encoder").rmdir()
    return error(evaluate_checkpoint(d, ckpt), ckpt / "query_encoder")


@case
def index_id_map_not_utf8(d: Path, model: Path) -> Case:
    index = built_index(d, model, DOCS)
    (index / "ids.txt").write_bytes((index / "ids.txt").read_bytes().replace(b"d3", b"d\xff"))
    return error(evaluate_checkpoint(d, model, f"index={index}"), index / "ids.txt")


@case
def index_description_not_an_object(d: Path, model: Path) -> Case:
    index = built_index(d, model, DOCS)
    (index / "index.json").write_text("[]\n")
    return error(evaluate_checkpoint(d, model, f"index={index}"), index / "index.json")


@case
def index_description_without_fields(d: Path, model: Path) -> Case:
    index = built_index(d, model, DOCS)
    (index / "index.json").write_text('{"format_version": 1}\n')
    return error(evaluate_checkpoint(d, model, f"index={index}"), index)


# ---------------------------------------------------------------------------------------------- running
_outcomes: dict[str, tuple[Case, Outcome, Path]] = {}


def outcome(name: str, base: Path, model: Path) -> tuple[Case, Outcome, Path]:
    if name not in _outcomes:
        d = base / name
        d.mkdir()
        previous = os.environ.get("GRADEDPR_CACHE_DIR")
        os.environ["GRADEDPR_CACHE_DIR"] = str(d / "cache")  # for what a case builds in this process
        try:
            spec = CASES[name](d, model)
        finally:
            if previous is None:
                del os.environ["GRADEDPR_CACHE_DIR"]
            else:
                os.environ["GRADEDPR_CACHE_DIR"] = previous
        _outcomes[name] = (spec, run_forked(spec.script, spec.args, d), d)
    return _outcomes[name]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli_inputs")


def metrics_of(path: Path) -> dict:
    return json.loads(path.read_text())["mean"]


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_naming_the_file(name: str, base: Path, tiny_model_dir: Path) -> None:
    spec, result, d = outcome(name, base, tiny_model_dir)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    if spec.ok:
        assert result.returncode == 0, result.stderr[-2000:]
        assert (d / "out" / "metrics.json").is_file()
        return
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr[-2000:]
    for fragment in spec.fragments:
        assert fragment in lines[0], (fragment, lines[0])
    for output in spec.outputs:
        assert not output.exists(), (output, sorted(p.name for p in output.iterdir()) if output.is_dir() else None)


def test_accepted_variants_score_like_the_clean_files(base: Path, tiny_model_dir: Path) -> None:
    values = []
    for name in ("clean_files", "run_file_with_bom_and_crlf", "qrels_with_bom_and_crlf", "corpus_with_bom_and_crlf"):
        _, result, d = outcome(name, base, tiny_model_dir)
        assert result.returncode == 0, result.stderr[-2000:]
        values.append(metrics_of(d / "out" / "metrics.json"))
    assert values[0] and all(value == values[0] for value in values)
