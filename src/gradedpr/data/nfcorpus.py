"""Prepare NFCorpus from its public downloads in the layout ``configs/data/nfcorpus*.yaml`` read.

Inputs (see ``data/README.md`` for where to get them):

- the **BEIR archive** ``nfcorpus.zip`` (or the ``nfcorpus/`` folder it unpacks to): ``corpus.jsonl``,
  ``queries.jsonl``, ``qrels/{train,dev,test}.tsv``. BEIR flattened every train grade to 1;
- the **original NFCorpus release** folder with ``{split}.2-1-0.qrel`` (TREC qrels ``qid 0 docid grade``,
  grades 2 direct / 1 indirect link), optionally ``{split}.3-2-1.qrel`` (3 direct / 2 indirect / 1 marginal)
  and ``{split}.titles.queries`` (``qid<TAB>text``, needed for the queries only the 3-level files judge).

Output (BEIR layout, every file LF-terminated UTF-8):

- ``corpus.jsonl``: ``{"_id", "title", "text"}`` (BEIR's ``metadata`` dropped);
- ``queries.jsonl``: BEIR's queries, then the queries judged only in the 3-level files (train, dev, test, by
  id within a split; text from ``*.titles.queries``);
- ``qrels/{split}.tsv``: BEIR's rows and row order with the original 2-1-0 grade (restores the graded train
  labels; dev and test are BEIR's grades, checked equal to the originals);
- ``qrels-3level/{split}.tsv``: the 3-2-1 files as they are, in the BEIR qrels format;
- ``prepare_nfcorpus.json``: sources with checksums, output checksums, counts and whether the files are
  byte-identical to the project's copy (:data:`PROJECT_SHA256`); it marks the directory as ours, so a rerun
  replaces it while a directory without it is never overwritten.

Every inconsistency (a train pair missing from the originals, a dev grade that differs, a 3-level grade that is
not the main grade + 1, an unknown query or document) stops with a :class:`DataError` naming file and line.
The directory is written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradedpr.data.beir import read_queries
from gradedpr.data.qrels import QrelsRow, iter_beir_qrels, iter_trec_qrels
from gradedpr.data.validation import document, iter_jsonl, iter_lines, require_id
from gradedpr.errors import DataError
from gradedpr.utils.atomic import atomic_directory
from gradedpr.utils.outputs import OutputKind

BEIR_URL = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/nfcorpus.zip"
BEIR_MD5 = "a89dba18a62ef92f7d323ec890a0d38d"
ORIGINAL_URL = "https://www.cl.uni-heidelberg.de/statnlpgroup/nfcorpus/"
MARKER_FILE = "prepare_nfcorpus.json"
PREPARED = OutputKind("an NFCorpus preparation", MARKER_FILE, ("format_version", "sha256", "counts"))
"""An earlier output is recognised by its marker's fields; one holding files the preparation does not write
(a user's notes) is refused, never replaced with them."""
SPLITS = ("train", "dev", "test")
FORMAT_VERSION = 1
QRELS_HEADER = "query-id\tcorpus-id\tscore\n"

Pair = tuple[str, str]
# sha256 of the files of the project's copy (../shared/data/nfcorpus); a correct preparation reproduces them.
PROJECT_SHA256 = {
    "corpus.jsonl": "23387b398d8cc2067ac56f2c22095fcae94824438ec8bd86db9272136ac091d8",
    "queries.jsonl": "0fc17cfa0b1c5f7a7e24cf2a86d5cdd8ac77f389d4d2f565c76b0e0fea2a74f9",
    "qrels/train.tsv": "72d77a6d2a93ae9bd068dd48f0ef4dfade1ceeb7da1d1e00fa66c0d2e026b3a5",
    "qrels/dev.tsv": "e28db4337c8f195b9fda0168759b12de5a051d57e5a08356344a86d730efc8ee",
    "qrels/test.tsv": "680b4cb9f2f3b02a98f4f4f59fc55c57f534fde405335a34e9de2e64ac8a8193",
    "qrels-3level/train.tsv": "2b02015dcbb061b466b238dd1c84ffe9b1df1209a2d5aa1ff31ddeb95109191f",
    "qrels-3level/dev.tsv": "ee2d01c1712c6528ee0f93d3c3b7772447ce65c613f16ec805a317df0e22af52",
    "qrels-3level/test.tsv": "8f8729f83a93dd059ef2f4647767ad566a7bb98a6d6b96d2aa76b32cd7a836fa",
}


# ---------------------------------------------------------------------------------------------- reading
# The files are read by data/'s readers (validation.iter_jsonl / iter_lines, beir.read_queries,
# qrels.iter_beir_qrels / iter_trec_qrels): the same lines, grades and ids a training run would accept.
@contextmanager
def _beir_files(location: Path) -> Iterator[Path]:
    """The BEIR collection folder to read: ``location`` (or the folder below it the zip was unpacked in), or
    ``nfcorpus.zip`` unpacked into a temporary folder; errors in an archive's files name ``<zip>:<member>``."""
    if location.is_dir():
        yield _beir_folder(location)
        return
    if not location.is_file():
        raise DataError("no such file or directory", location)
    try:
        archive = zipfile.ZipFile(location)
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"not a readable zip archive ({exc})", location) from exc
    with archive, tempfile.TemporaryDirectory(prefix="gradedpr-nfcorpus-") as tmp:
        corpus = [n for n in archive.namelist() if n == "corpus.jsonl" or n.endswith("/corpus.jsonl")]
        if len(corpus) != 1:
            raise DataError("the archive has no single corpus.jsonl (is it BEIR's nfcorpus.zip?)", location)
        prefix = corpus[0][: -len("corpus.jsonl")]
        members = [n for n in archive.namelist() if n.startswith(prefix) and not n.endswith("/")]
        archive.extractall(tmp, members)
        root = Path(tmp) / prefix
        try:
            yield root
        except DataError as exc:
            if exc.path is None or not exc.path.startswith(str(root)):
                raise
            def named(text: str) -> str:
                return text.replace(f"{root}{os.sep}", f"{location}:{prefix}")

            raise DataError(named(exc.message), named(exc.path), exc.line) from None


def _corpus(path: Path) -> tuple[list[str], set[str]]:
    """corpus.jsonl as the output's lines (``{"_id", "title", "text"}``, BEIR's ``metadata`` dropped) and its ids."""
    lines: list[str] = []
    docs: set[str] = set()
    for number, record in iter_jsonl(path):
        docid, title, text = document(record, require_id(record, "_id", path, number), docs, path, number)
        lines.append(json.dumps({"_id": docid, "title": title, "text": text}, ensure_ascii=False) + "\n")
    return lines, docs


@dataclass
class _Qrels:
    """Judgment rows in file order, with where each came from (for error messages)."""

    path: Path | str
    rows: list[tuple[str, str, int]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path, rows: Iterable[QrelsRow]) -> _Qrels:
        qrels = cls(path)
        for line, qid, doc, grade in rows:
            qrels.rows.append((qid, doc, grade))
            qrels.lines.append(line)
        return qrels

    def grades(self) -> dict[Pair, tuple[int, int]]:
        """(qid, docid) -> (grade, line); a repeated pair is an error."""
        out: dict[Pair, tuple[int, int]] = {}
        for (qid, doc, grade), line in zip(self.rows, self.lines, strict=True):
            if (qid, doc) in out:
                raise DataError(f"duplicate judgment of ({qid}, {doc})", self.path, line)
            out[(qid, doc)] = (grade, line)
        return out


def _title_queries(path: Path) -> dict[str, str]:
    """``qid<TAB>text`` lines of the original release's ``*.titles.queries``."""
    out: dict[str, str] = {}
    for number, line in iter_lines(path):
        qid, sep, text = line.partition("\t")
        if not sep or not text.strip():
            raise DataError("expected 'qid<TAB>text'", path, number)
        out[qid] = text.strip()
    return out


def _beir_folder(location: Path) -> Path:
    """The BEIR collection folder: ``location`` itself, or the single folder below it with a corpus.jsonl (the
    folder the zip was unpacked in: ``<location>/nfcorpus/``)."""
    if not location.is_dir() or (location / "corpus.jsonl").is_file():
        return location
    found = sorted(location.rglob("corpus.jsonl"))
    if len(found) != 1:
        raise DataError(f"{len(found) or 'no'} corpus.jsonl files in this folder or below: pass BEIR's "
                        "nfcorpus.zip or the nfcorpus/ folder it unpacks to", location)
    return found[0].parent


def _find_original(folder: Path, name: str, required: bool) -> Path | None:
    """``folder/name``, or the single file of that name below ``folder`` (the release unpacks to nfcorpus/)."""
    if folder.is_file():
        hint = f"tar xzf {folder.name}" if folder.name.endswith((".tar.gz", ".tgz", ".tar")) else "unpack it"
        raise DataError(f"--original takes the folder of the original release, not a file: unpack it first "
                        f"({hint}) and pass the folder it creates", folder)
    if (folder / name).is_file():
        return folder / name
    found = sorted(folder.rglob(name)) if folder.is_dir() else []
    if len(found) > 1:
        raise DataError(f"{len(found)} files named {name} below it; point --original at one folder", folder)
    if found:
        return found[0]
    if required:
        raise DataError(f"{name} of the original NFCorpus release not found (from {ORIGINAL_URL})", folder)
    return None


def _md5(path: Path) -> str:
    digest = hashlib.md5()  # the checksum BEIR publishes
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------- building
def _qrels_text(rows: list[tuple[str, str, int]]) -> str:
    return QRELS_HEADER + "".join(f"{q}\t{d}\t{g}\n" for q, d, g in rows)


def _check_known(qrels: _Qrels, queries: Mapping[str, str], docs: set[str]) -> None:
    for (qid, doc, _), line in zip(qrels.rows, qrels.lines, strict=True):
        if qid not in queries:
            raise DataError(f"unknown query id {qid!r}", qrels.path, line)
        if doc not in docs:
            raise DataError(f"unknown document id {doc!r}", qrels.path, line)


def check_output(output: Path) -> None:
    """Refuse an output that exists and is not an earlier result of this preparation."""
    if output.exists() or output.is_symlink():
        if not output.is_dir():
            raise DataError("exists and is not a directory; refusing to replace it", output)
        if any(output.iterdir()) and not PREPARED.is_marked(output):
            raise DataError(f"exists and was not written by prepare_nfcorpus (no {MARKER_FILE}); "
                            "refusing to overwrite it", output)


Rows = list[tuple[str, str, int]]


def _graded_rows(split: str, beir_qrels: _Qrels, original: Path, queries: Mapping[str, str], docs: set[str],
                 original_files: dict[str, str]) -> Rows:
    """BEIR's rows of ``split`` in BEIR's order with the original 2-1-0 grade (BEIR flattened train to 1; dev
    and test must agree with the originals); every pair must have a grade > 0 there, and vice versa."""
    two_path = _find_original(original, f"{split}.2-1-0.qrel", required=True)
    assert two_path is not None
    original_files[f"{split}.2-1-0.qrel"] = str(two_path)
    originals = _Qrels.read(two_path, iter_trec_qrels(two_path)).grades()
    graded = {pair: value for pair, value in originals.items() if value[0] > 0}
    rows = []
    for (qid, doc, grade), line in zip(beir_qrels.rows, beir_qrels.lines, strict=True):
        if (qid, doc) not in graded:
            raise DataError(f"({qid}, {doc}) has no grade > 0 in {two_path}", beir_qrels.path, line)
        original_grade = graded[(qid, doc)][0]
        if split != "train" and grade != original_grade:
            raise DataError(f"grade {grade} of ({qid}, {doc}) differs from {original_grade} in {two_path}",
                            beir_qrels.path, line)
        rows.append((qid, doc, original_grade))
    beir_pairs = {(q, d) for q, d, _ in beir_qrels.rows}
    for pair, (_, line) in graded.items():
        if pair not in beir_pairs:
            raise DataError(f"({pair[0]}, {pair[1]}) is judged here but not in {beir_qrels.path}", two_path, line)
    _check_known(_Qrels(beir_qrels.path, rows, beir_qrels.lines), queries, docs)
    return rows


def _three_level_rows(split: str, main: Rows, original: Path, queries: dict[str, str], docs: set[str],
                      original_files: dict[str, str]) -> Rows | None:
    """The 3-2-1 judgments of ``split`` as they are (None without the file); each must be the main grade + 1
    and each grade >= 2 must be judged in the main qrels. Queries only these files judge are added to
    ``queries`` from ``*.titles.queries``."""
    three_path = _find_original(original, f"{split}.3-2-1.qrel", required=False)
    if three_path is None:
        return None
    original_files[f"{split}.3-2-1.qrel"] = str(three_path)
    qrels = _Qrels.read(three_path, iter_trec_qrels(three_path))
    levels = qrels.grades()
    for qid, doc, grade in main:
        value = levels.get((qid, doc))
        if value is None or value[0] != grade + 1:
            found = "absent" if value is None else f"grade {value[0]} at line {value[1]}"
            raise DataError(f"({qid}, {doc}) has main grade {grade} but is {found} here (expected {grade + 1})",
                            three_path)
    main_pairs = {(q, d) for q, d, _ in main}
    for (qid, doc), (grade, line) in levels.items():
        if grade >= 2 and (qid, doc) not in main_pairs:
            raise DataError(f"({qid}, {doc}) has grade {grade} here but is not judged in the 2-1-0 file",
                            three_path, line)
    missing = sorted({q for q, _, _ in qrels.rows if q not in queries})
    if missing:
        titles = _find_original(original, f"{split}.titles.queries", required=True)
        assert titles is not None
        original_files[f"{split}.titles.queries"] = str(titles)
        texts = _title_queries(titles)
        for qid in missing:
            if qid not in texts:
                raise DataError(f"query {qid!r} of {three_path} has no text here", titles)
            queries[qid] = texts[qid]
    _check_known(qrels, queries, docs)
    return qrels.rows


def _counts(docs: set[str], queries: Mapping[str, str], beir_queries: int, main: Mapping[str, Rows],
            three: Mapping[str, Rows]) -> dict[str, int]:
    """What the preparation wrote, counted (recorded in prepare_nfcorpus.json)."""
    counts: dict[str, int] = {"documents": len(docs), "queries": len(queries),
                              "queries_added_from_originals": len(queries) - beir_queries}
    for split, rows in main.items():
        counts[f"{split}_queries"] = len({q for q, _, _ in rows})
        counts[f"{split}_qrels"] = len(rows)
        counts[f"{split}_grade2"] = sum(g == 2 for _, _, g in rows)
    for split, rows in three.items():
        counts[f"{split}_3level_queries"] = len({q for q, _, _ in rows})
        counts[f"{split}_3level_qrels"] = len(rows)
    return counts


def prepare_nfcorpus(
    beir: str | Path,
    original: str | Path,
    output: str | Path,
    *,
    expected_md5: str | None = BEIR_MD5,
) -> dict[str, Any]:
    """Build the collection in ``output`` from the BEIR download and the original release; returns the metadata.

    ``beir`` is ``nfcorpus.zip`` (its md5 is checked against ``expected_md5`` unless that is None) or the folder
    it unpacks to; ``original`` the folder of the original release. See the module docstring for the rules.
    """
    beir_path, original_path, out = Path(beir).expanduser(), Path(original).expanduser(), Path(output).expanduser()
    check_output(out)
    sources: dict[str, Any] = {"beir": str(beir_path), "original": str(original_path)}
    if beir_path.is_file():
        md5 = _md5(beir_path)
        sources["beir_md5"] = md5
        if expected_md5 is not None and md5 != expected_md5:
            raise DataError(f"md5 {md5} is not BEIR's published {expected_md5} (a different or damaged "
                            f"download; get it from {BEIR_URL})", beir_path)
    with _beir_files(beir_path) as folder:
        corpus_lines, docs = _corpus(folder / "corpus.jsonl")
        queries = read_queries(folder / "queries.jsonl")
        beir_qrels = {split: _Qrels.read(folder / "qrels" / f"{split}.tsv",
                                         iter_beir_qrels(folder / "qrels" / f"{split}.tsv")) for split in SPLITS}
        beir_queries = dict(queries)

        original_files: dict[str, str] = {}
        main = {split: _graded_rows(split, beir_qrels[split], original_path, queries, docs, original_files)
                for split in SPLITS}
        three: dict[str, list[tuple[str, str, int]]] = {}
        for split in SPLITS:
            rows = _three_level_rows(split, main[split], original_path, queries, docs, original_files)
            if rows is not None:
                three[split] = rows

    outputs: dict[str, bytes] = {"corpus.jsonl": "".join(corpus_lines).encode("utf-8")}
    outputs["queries.jsonl"] = "".join(
        json.dumps({"_id": qid, "text": text}, ensure_ascii=False) + "\n" for qid, text in queries.items()
    ).encode("utf-8")
    for split, rows in main.items():
        outputs[f"qrels/{split}.tsv"] = _qrels_text(rows).encode("utf-8")
    for split, rows in three.items():
        outputs[f"qrels-3level/{split}.tsv"] = _qrels_text(rows).encode("utf-8")

    counts = _counts(docs, queries, len(beir_queries), main, three)
    meta = {
        "format_version": FORMAT_VERSION,
        "sources": {**sources, "original_files": original_files, "beir_url": BEIR_URL,
                    "original_url": ORIGINAL_URL},
        "sha256": {name: _sha256(data) for name, data in sorted(outputs.items())},
        "counts": counts,
    }
    meta["matches_project_copy"] = meta["sha256"] == PROJECT_SHA256
    with atomic_directory(out, PREPARED) as tmp:  # refuses, before replacing, entries it does not write
        for name, data in outputs.items():
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        (tmp / MARKER_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta
