"""scripts/prepare_nfcorpus.py on a tiny fixture in the formats of BEIR's nfcorpus.zip and the original release."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from gradedpr.data.collection import load_collection
from gradedpr.data.nfcorpus import MARKER_FILE, prepare_nfcorpus
from gradedpr.errors import DataError, OutputError

ROOT = Path(__file__).resolve().parents[2]
DOCS = [f"MED-{i}" for i in range(1, 9)]
# qid -> {doc: original 3-2-1 grade}; 3 = direct, 2 = indirect, 1 = marginal (absent from the 2-1-0 files)
JUDGED = {
    "train": {"PLAIN-3": {"MED-1": 3, "MED-2": 2, "MED-3": 1}, "PLAIN-4": {"MED-4": 2, "MED-5": 2},
              "PLAIN-9": {"MED-6": 1}},  # PLAIN-9: only marginal judgments, not in BEIR's queries
    "dev": {"PLAIN-1": {"MED-2": 3, "MED-7": 2}, "PLAIN-22": {"MED-8": 1}},
    "test": {"PLAIN-2": {"MED-3": 2, "MED-1": 3, "MED-6": 1}},
}
ADDED = {"PLAIN-9": "farm bill", "PLAIN-22": "nori"}


def write_downloads(root: Path) -> tuple[Path, Path]:
    """BEIR's folder (CRLF qrels, train flattened to 1, metadata fields) and the original release folder."""
    beir = root / "beir" / "nfcorpus"
    (beir / "qrels").mkdir(parents=True)
    with open(beir / "corpus.jsonl", "w", encoding="utf-8") as out:
        for doc in DOCS:
            out.write(json.dumps({"_id": doc, "title": f"Title {doc} – ω", "text": f"Text of {doc}.",
                                  "metadata": {"url": f"http://example.org/{doc}"}}) + "\n")
    with open(beir / "queries.jsonl", "w", encoding="utf-8") as out:
        for split in JUDGED.values():
            for qid in split:
                if qid not in ADDED:
                    out.write(json.dumps({"_id": qid, "text": f"Query {qid}", "metadata": {}}) + "\n")
    original = root / "original" / "nfcorpus"
    original.mkdir(parents=True)
    for split, judged in JUDGED.items():
        with open(beir / "qrels" / f"{split}.tsv", "w", newline="") as out:
            out.write("query-id\tcorpus-id\tscore\r\n")
            for qid, docs in judged.items():
                for doc, grade in docs.items():
                    if grade >= 2:
                        out.write(f"{qid}\t{doc}\t{1 if split == 'train' else grade - 1}\r\n")
        with open(original / f"{split}.2-1-0.qrel", "w") as two, open(original / f"{split}.3-2-1.qrel", "w") as three:
            for qid, docs in sorted(judged.items()):
                for doc, grade in docs.items():
                    three.write(f"{qid}\t0\t{doc}\t{grade}\n")
                    if grade >= 2:
                        two.write(f"{qid}\t0\t{doc}\t{grade - 1}\n")
        with open(original / f"{split}.titles.queries", "w") as titles:
            for qid in judged:
                titles.write(f"{qid}\t{ADDED.get(qid, 'lower-cased ' + qid)}\n")
    return beir, original.parent


def test_prepares_the_layout_the_configs_read(tmp_path: Path) -> None:
    beir, original = write_downloads(tmp_path)
    out = tmp_path / "nfcorpus"
    meta = prepare_nfcorpus(beir, original, out)
    assert (out / MARKER_FILE).exists() and meta["counts"]["queries_added_from_originals"] == 2
    assert meta["matches_project_copy"] is False  # a fixture, not NFCorpus
    assert (out / "qrels" / "train.tsv").read_text() == (
        "query-id\tcorpus-id\tscore\nPLAIN-3\tMED-1\t2\nPLAIN-3\tMED-2\t1\nPLAIN-4\tMED-4\t1\nPLAIN-4\tMED-5\t1\n"
    )  # BEIR's rows and order, the original grades restored, LF line ends
    assert b"\r" not in (out / "qrels" / "dev.tsv").read_bytes()
    corpus = [json.loads(line) for line in (out / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    assert corpus[0] == {"_id": "MED-1", "title": "Title MED-1 – ω", "text": "Text of MED-1."}
    queries = [json.loads(line) for line in (out / "queries.jsonl").read_text().splitlines()]
    assert [q["_id"] for q in queries[-2:]] == ["PLAIN-9", "PLAIN-22"] and queries[-1]["text"] == "nori"
    for name, data in meta["sha256"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == data

    main = load_collection("beir", str(out), ["train", "dev", "test"], cache_dir=str(tmp_path / "cache"))
    assert main.qrels["train"] == {"PLAIN-3": {"MED-1": 2, "MED-2": 1}, "PLAIN-4": {"MED-4": 1, "MED-5": 1}}
    assert main.qrels["test"] == {"PLAIN-2": {"MED-3": 1, "MED-1": 2}}
    three = load_collection("beir", str(out), ["train", "dev", "test"], cache_dir=str(tmp_path / "cache"),
                            qrels_files={s: f"qrels-3level/{s}.tsv" for s in ("train", "dev", "test")})
    assert three.qrels["train"]["PLAIN-9"] == {"MED-6": 1} and three.qrels["dev"]["PLAIN-1"] == {"MED-2": 3,
                                                                                                 "MED-7": 2}


def test_reads_the_zip_and_checks_its_md5(tmp_path: Path) -> None:
    beir, original = write_downloads(tmp_path)
    archive = tmp_path / "nfcorpus.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(beir.rglob("*")):
            zf.write(path, str(path.relative_to(beir.parent)))
    with pytest.raises(DataError, match="is not BEIR's published"):
        prepare_nfcorpus(archive, original, tmp_path / "a")
    assert not (tmp_path / "a").exists()
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    prepare_nfcorpus(archive, original, tmp_path / "a", expected_md5=md5)
    prepare_nfcorpus(beir, original, tmp_path / "b")
    for name in ("corpus.jsonl", "queries.jsonl", "qrels/train.tsv", "qrels-3level/test.tsv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_an_error_inside_the_zip_names_archive_member_and_line(tmp_path: Path) -> None:
    """The archive is read by data/'s readers from a temporary folder; errors still name <zip>:<member>:<line>."""
    beir, original = write_downloads(tmp_path)
    with open(beir / "qrels" / "dev.tsv", "a", encoding="utf-8") as out:
        out.write("PLAIN-1\tMED-2\thigh\r\n")  # line 4: a grade that is not an integer
    archive = tmp_path / "nfcorpus.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(beir.rglob("*")):
            zf.write(path, str(path.relative_to(beir.parent)))
    with pytest.raises(DataError) as caught:
        prepare_nfcorpus(archive, original, tmp_path / "out", expected_md5=None)
    assert str(caught.value) == (f"{archive}:nfcorpus/qrels/dev.tsv:4: relevance grade must be an integer, "
                                 "got 'high'")
    assert not (tmp_path / "out").exists()


def test_replaces_its_own_output_never_a_foreign_one(tmp_path: Path) -> None:
    beir, original = write_downloads(tmp_path)
    out = tmp_path / "out"
    prepare_nfcorpus(beir, original, out)
    prepare_nfcorpus(beir, original, out)  # its own earlier output is replaced
    (out / "notes.md").write_text("x")  # ... but never with a file the user added (issue 16)
    with pytest.raises(OutputError, match=r"holds 'notes\.md', which gradedpr did not write"):
        prepare_nfcorpus(beir, original, out)
    assert (out / "notes.md").read_text() == "x" and (out / MARKER_FILE).is_file()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "corpus.jsonl").write_text("mine")
    with pytest.raises(DataError, match="not written by prepare_nfcorpus"):
        prepare_nfcorpus(beir, original, foreign)
    assert (foreign / "corpus.jsonl").read_text() == "mine"


def test_inconsistent_inputs_name_file_and_line(tmp_path: Path) -> None:
    beir, original = write_downloads(tmp_path)
    with open(beir / "qrels" / "train.tsv", "a", newline="") as out:
        out.write("PLAIN-4\tMED-8\t1\r\n")
    with pytest.raises(DataError) as info:
        prepare_nfcorpus(beir, original, tmp_path / "out")
    assert str(info.value).startswith(f"{beir / 'qrels' / 'train.tsv'}:6: (PLAIN-4, MED-8) has no grade > 0")

    beir, original = write_downloads(tmp_path / "again")
    three = original / "nfcorpus" / "dev.3-2-1.qrel"
    three.write_text(three.read_text().replace("PLAIN-1\t0\tMED-7\t2", "PLAIN-1\t0\tMED-7\t3"))
    with pytest.raises(DataError, match=r"\(PLAIN-1, MED-7\) has main grade 1 but is grade 3"):
        prepare_nfcorpus(beir, original, tmp_path / "out")


def test_script_reports_missing_originals_in_one_line(tmp_path: Path) -> None:
    beir, _ = write_downloads(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    line = refused_in_one_line(beir, empty, tmp_path / "out")
    assert line.startswith(f"error: {empty}: train.2-1-0.qrel of the original")


def refused_in_one_line(beir: Path, original: Path, output: Path) -> str:
    """Run scripts/prepare_nfcorpus.py, expect exit status 2 with one line on stderr, and return that line."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "prepare_nfcorpus.py"), "--beir", str(beir), "--original",
         str(original), "--output", str(output)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    return lines[0]


def test_beir_folder_may_be_the_one_the_zip_was_unpacked_in(tmp_path: Path) -> None:
    beir, original = write_downloads(tmp_path)  # beir = <tmp>/beir/nfcorpus
    meta = prepare_nfcorpus(beir.parent, original, tmp_path / "out")
    assert meta["counts"]["queries_added_from_originals"] == 2
    assert (tmp_path / "out" / "corpus.jsonl").is_file()
    (tmp_path / "beir" / "copy").mkdir()
    (tmp_path / "beir" / "copy" / "corpus.jsonl").write_text("")
    with pytest.raises(DataError, match=r"2 corpus\.jsonl files in this folder or below"):
        prepare_nfcorpus(tmp_path / "beir", original, tmp_path / "out2")


def test_original_tarball_is_refused_with_what_to_do(tmp_path: Path) -> None:
    beir, _ = write_downloads(tmp_path)
    tarball = tmp_path / "nfcorpus.tar.gz"
    tarball.write_bytes(b"\x1f\x8b")
    line = refused_in_one_line(beir, tarball, tmp_path / "out")
    assert "tar xzf nfcorpus.tar.gz" in line and "unpack it first" in line
