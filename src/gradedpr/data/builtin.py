"""The built-in collection: graded retrieval data generated offline from the standard library's docstrings.

It lets ``make train`` run anywhere without downloads. Construction (see ``data/README.md`` for counts):

- **Passages.** For the public functions, classes and methods defined in the pure-Python standard-library
  modules of :data:`MODULES` (modules that fail to import are skipped), the docstring *without its summary
  sentence*, cleaned of reST markup and doctest lines and cut to :data:`MAX_WORDS` words; the title is the
  qualified name (``json.dumps``). Bodies under :data:`MIN_WORDS` words are dropped; of identical bodies the
  first by name is kept.
- **Queries.** ``"<context>: <summary>"``: the summary sentence of a passage's docstring, lower-cased, without
  its final full stop, after the place it comes from: the module for functions and classes (``json``), the
  module and class for methods (``argparse ArgumentParser``); never the member's own name. The context is what
  makes the grade-1 passages findable (they share the module or class), and what training can learn to use:
  zero-shot models weigh it little. Summaries under :data:`MIN_QUERY_WORDS` words, signature-like ones
  (``Name(arg) -> x``) and query texts that occur more than once are dropped (so no query text repeats).
- **Grades.** 2: the passage whose summary is the query. 1: up to :data:`MAX_RELATED` structurally related
  passages: for a method, its class and sibling methods (those sharing a word of the name first); for a class,
  its methods; for a module-level function, functions of the same module sharing a word of the name. 0: the
  rest (not written: unjudged means 0).
- **Splits.** By group, ~70/15/15 by query count: a group is a class (the class and its methods) or the
  module-level functions of a module. Every passage judged for a query lies in the query's group, so no judged
  passage (of grade 1 or 2) and no query text is shared by two splits.

Everything is sorted and the split uses a fixed seed, so a build gives the same bytes every time on the same
Python version (docstrings change between versions). The files use the BEIR layout and pass the loader's
validation; ``meta.json`` records the Python version, the counts, a content hash and
:data:`GENERATOR_VERSION`.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import random
import re
import sys
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from gradedpr.errors import OutputError
from gradedpr.utils.atomic import atomic_directory
from gradedpr.utils.outputs import OutputKind, describe

GENERATOR_VERSION = "2"
"""Bump whenever the construction changes: existing builds are then rebuilt."""

SEED = 20240601
MIN_WORDS = 8
MAX_WORDS = 120
MIN_QUERY_WORDS = 4
MAX_RELATED = 5
SPLIT_SHARES = (("train", 0.70), ("dev", 0.15), ("test", 0.15))
FILES = ("corpus.jsonl", "queries.jsonl", "qrels/train.tsv", "qrels/dev.tsv", "qrels/test.tsv")
BUILTIN = OutputKind("the built-in collection", "meta.json", ("generator_version", "sha256"),
                     frozenset({"corpus.jsonl", "queries.jsonl", "qrels"}))
"""A build directory: ``meta.json`` with the generator version and hash (the marker: every version of the
generator wrote it, inside the atomic build), the BEIR files; nothing else is replaced by a rebuild. A
directory holding BEIR files without ``meta.json`` is a user's collection, never rebuilt over."""

_MODULE_NAMES = """
    argparse ast asyncio.base_events asyncio.events asyncio.futures asyncio.locks asyncio.queues
    asyncio.streams asyncio.tasks asyncio.transports base64 bdb bisect calendar cmd code codecs codeop
    collections colorsys compileall configparser contextlib copy csv dataclasses datetime difflib dis
    doctest email.charset email.feedparser email.generator email.header email.headerregistry
    email.message email.parser email.policy email.utils enum filecmp fileinput fnmatch fractions ftplib
    functools getopt gettext glob graphlib gzip heapq hmac html html.parser http.client http.cookiejar
    http.cookies http.server imaplib importlib.abc importlib.metadata inspect ipaddress json
    json.decoder json.encoder locale logging logging.handlers mailbox mimetypes modulefinder
    multiprocessing.connection multiprocessing.managers multiprocessing.pool multiprocessing.queues
    netrc numbers operator optparse os pathlib pdb pickle pickletools pkgutil platform plistlib poplib
    posixpath pprint profile pstats py_compile pyclbr pydoc queue quopri random re reprlib rlcompleter
    runpy sched secrets selectors shelve shlex shutil smtplib socket socketserver statistics string
    subprocess symtable tabnanny tarfile tempfile textwrap threading timeit tokenize trace traceback
    typing unittest.case unittest.loader unittest.mock unittest.result unittest.runner unittest.suite
    urllib.error urllib.parse urllib.request urllib.robotparser uuid warnings wave weakref
    wsgiref.handlers wsgiref.headers wsgiref.simple_server wsgiref.util xml.dom.minidom xml.dom.pulldom
    xml.etree.ElementTree xml.sax.handler xml.sax.saxutils xml.sax.xmlreader xmlrpc.client
    xmlrpc.server zipapp zipfile zipimport zoneinfo
"""
MODULES = tuple(sorted(_MODULE_NAMES.split()))
"""Pure-Python standard-library modules whose docstrings make the collection (sorted; fixed)."""

_STOPWORDS = "get set is has to from the and or for in on by with make new add do can all as of any"
_NAME_STOPWORDS = frozenset(_STOPWORDS.split())
_ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:`~?([^`]*)`")
_EMPHASIS = re.compile(r"(?<![\w*])\*{1,2}([^\s*](?:[^*]*?[^\s*])?)\*{1,2}(?![\w*])")
_SIGNATURE = re.compile(r"^[\w.]+\s*\(.*\)|->")
_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)(?<!\betc)[.!?](?=\s|$)")


@dataclass(frozen=True)
class _Member:
    """A documented public object: its qualified name, where it is defined and its docstring split in two."""

    name: str
    module: str
    owner: str | None  # the class, for methods
    summary: str
    body: str
    kind: str = "function"  # "function" | "class" | "method"

    @property
    def group(self) -> str:
        """The unit the split is made of: a class with its methods, or a module's functions."""
        if self.kind == "method":
            return f"{self.module}.{self.owner}"
        return self.name if self.kind == "class" else f"{self.module}:functions"


def _clean(text: str) -> str:
    """Drop doctest lines and reST roles / literals; collapse whitespace."""
    lines = [line for line in text.splitlines() if not line.strip().startswith((">>>", "... "))]
    text = _ROLE.sub(r"\1", "\n".join(lines)).replace("``", "").replace("`", "")
    text = _EMPHASIS.sub(r"\1", text)
    return " ".join(text.split())


def _split_docstring(doc: str) -> tuple[str, str]:
    """(summary sentence, the rest) of a docstring, both cleaned."""
    doc = inspect.cleandoc(doc)
    first, _, rest = doc.partition("\n\n")
    first = _clean(first)
    match = _SENTENCE_END.search(first)
    summary, tail = (first[: match.end()], first[match.end() :]) if match else (first, "")
    return summary.strip(), _clean(f"{tail}\n\n{rest}")


def _documented(obj: Any) -> str | None:
    doc = obj.__doc__ if isinstance(getattr(obj, "__doc__", None), str) else None
    return doc if doc and doc.strip() else None


def _module_members(module: ModuleType) -> Iterator[_Member]:
    """Public functions, classes and methods defined in ``module`` (not imported into it), by name."""
    for name, obj in sorted(vars(module).items()):
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj) and (doc := _documented(obj)):
            yield _Member(f"{module.__name__}.{name}", module.__name__, None, *_split_docstring(doc))
        elif inspect.isclass(obj):
            if doc := _documented(obj):
                summary, body = _split_docstring(doc)
                yield _Member(f"{module.__name__}.{name}", module.__name__, None, summary, body, kind="class")
            for method_name, attribute in sorted(vars(obj).items()):
                if method_name.startswith("_"):
                    continue
                function = (
                    attribute.__func__ if isinstance(attribute, staticmethod | classmethod) else attribute
                )
                function = function.fget if isinstance(function, property) else function
                if inspect.isfunction(function) and (doc := _documented(function)):
                    qualified = f"{module.__name__}.{name}.{method_name}"
                    yield _Member(qualified, module.__name__, name, *_split_docstring(doc), kind="method")


def _name_words(name: str) -> set[str]:
    """Content words of an identifier's last component (snake_case and camelCase split, stopwords dropped)."""
    last = name.rsplit(".", 1)[-1]
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+", last)
    return {w.lower() for w in words if len(w) > 2 and w.lower() not in _NAME_STOPWORDS}


def _collect() -> list[_Member]:
    """Members of every importable module of :data:`MODULES` whose body makes a passage; unique bodies."""
    members: list[_Member] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for module_name in MODULES:
            try:
                module = importlib.import_module(module_name)
            except Exception:  # a module missing on this Python or platform is skipped
                continue
            members.extend(_module_members(module))
    passages: list[_Member] = []
    seen_bodies: set[str] = set()
    for member in sorted(members, key=lambda m: m.name):
        words = member.body.split()
        if len(words) < MIN_WORDS:
            continue
        body = " ".join(words[:MAX_WORDS])
        if body in seen_bodies:
            continue
        seen_bodies.add(body)
        passages.append(
            _Member(member.name, member.module, member.owner, member.summary, body, kind=member.kind)
        )
    return passages


def _query_text(summary: str) -> str | None:
    """The query made of a summary sentence, or None when it is too short or looks like a signature."""
    text = summary.rstrip(".").strip().lower()
    if len(text.split()) < MIN_QUERY_WORDS or _SIGNATURE.search(text) or ">>>" in text:
        return None
    return text


def _query_for(member: _Member) -> str | None:
    """The query of a member: its context (module, or module and class for a method) and its summary."""
    text = _query_text(member.summary)
    if text is None:
        return None
    context = f"{member.module} {member.owner}" if member.kind == "method" else member.module
    return f"{context}: {text}"


def _related(member: _Member, by_group: dict[str, list[_Member]]) -> list[str]:
    """Up to :data:`MAX_RELATED` passages of the member's group judged grade 1 (see the module docstring)."""
    words = _name_words(member.name)
    others = [m for m in by_group[member.group] if m.name != member.name]
    if member.kind == "function":
        ranked = sorted(
            ((len(words & _name_words(m.name)), m.name) for m in others if m.kind == "function"),
            key=lambda pair: (-pair[0], pair[1]),
        )
        return [name for shared, name in ranked if shared > 0][:MAX_RELATED]
    if member.kind == "class":
        return [m.name for m in others][:MAX_RELATED]
    owner = [m.name for m in others if m.kind == "class"]
    siblings = sorted(others, key=lambda m: (-len(words & _name_words(m.name)), m.name))
    return (owner + [m.name for m in siblings if m.kind == "method"])[:MAX_RELATED]


def _assign_splits(groups: dict[str, int]) -> dict[str, str]:
    """Group -> split: groups in seeded random order, each to the split most below its share of queries."""
    order = sorted(groups)
    random.Random(SEED).shuffle(order)
    total = sum(groups.values())
    counts = dict.fromkeys((split for split, _ in SPLIT_SHARES), 0)
    assignment: dict[str, str] = {}
    for group in order:
        split = max(SPLIT_SHARES, key=lambda item: item[1] * total - counts[item[0]])[0]
        assignment[group] = split
        counts[split] += groups[group]
    return assignment


@dataclass
class BuiltinData:
    """The generated records, ready to write."""

    corpus: list[dict[str, str]]
    queries: list[dict[str, str]]
    qrels: dict[str, list[tuple[str, str, int]]]


def generate() -> BuiltinData:
    """Build the collection in memory (deterministic for a given Python version)."""
    passages = _collect()
    summary_counts = Counter(_query_for(m) for m in passages)
    by_group: dict[str, list[_Member]] = defaultdict(list)
    for member in passages:
        by_group[member.group].append(member)
    judged: dict[str, list[tuple[str, str, int]]] = {}
    queries: dict[str, str] = {}
    for member in passages:
        text = _query_for(member)
        if text is None or summary_counts[text] > 1:
            continue
        qid = f"q:{member.name}"
        queries[qid] = text
        judged[qid] = [(qid, member.name, 2)] + [(qid, name, 1) for name in _related(member, by_group)]
    group_of = {f"q:{m.name}": m.group for m in passages}
    assignment = _assign_splits(dict(Counter(group_of[qid] for qid in queries)))
    qrels: dict[str, list[tuple[str, str, int]]] = {split: [] for split, _ in SPLIT_SHARES}
    for qid in sorted(queries):
        qrels[assignment[group_of[qid]]].extend(sorted(judged[qid], key=lambda row: (-row[2], row[1])))
    corpus = [{"_id": m.name, "title": m.name, "text": m.body} for m in passages]
    query_records = [{"_id": qid, "text": queries[qid]} for qid in sorted(queries)]
    return BuiltinData(corpus=corpus, queries=query_records, qrels=qrels)


def _file_texts(data: BuiltinData) -> dict[str, str]:
    def jsonl(records: list[dict[str, str]]) -> str:
        return "".join(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n" for record in records)

    texts = {"corpus.jsonl": jsonl(data.corpus), "queries.jsonl": jsonl(data.queries)}
    for split, rows in data.qrels.items():
        lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{g}" for q, d, g in rows]
        texts[f"qrels/{split}.tsv"] = "\n".join(lines) + "\n"
    return texts


def _content_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for name in FILES:
        digest.update(name.encode() + b"\0")
        digest.update((root / name).read_bytes())
    return digest.hexdigest()


def _is_current(root: Path) -> bool:
    """Whether ``root`` holds a complete build of this generator version whose files match its hash."""
    try:
        meta = json.loads((root / "meta.json").read_text(encoding="utf-8"))
        return bool(
            meta.get("generator_version") == GENERATOR_VERSION and meta.get("sha256") == _content_hash(root)
        )
    except (OSError, ValueError, AttributeError):
        return False


def check_builtin_dir(root: str | Path, key: str = "data.path") -> None:
    """Raise :class:`OutputError` unless the built-in collection may be (re)built into ``root``: a missing or
    empty directory, or an earlier build (its ``meta.json``) holding nothing but the collection's files."""
    path = Path(root)
    if not path.exists() and not path.is_symlink():
        return
    if path.is_symlink() or not path.is_dir():
        reason = "exists and is not a directory"
    elif not any(path.iterdir()):
        return
    elif not BUILTIN.is_marked(path):
        reason = f"holds files but no {BUILTIN.marker} of gradedpr's, so it is not a build of the built-in collection"
    elif strange := BUILTIN.foreign(path):
        reason = f"holds {describe(strange)}, which the built-in collection's build does not write"
    else:
        return
    raise OutputError(
        f"{key}={root}: {reason}; gradedpr builds the built-in collection (data.builtin=true) only into a missing "
        "or empty directory or over an earlier build: for your own collection set data.builtin=false (or use a "
        "data config of your own), else choose another data.path"
    )


def build_builtin(root: str | Path = "data/builtin", force: bool = False, key: str = "data.path") -> Path:
    """Build the collection into ``root`` (BEIR layout) unless a current build is there; return ``root``.

    A build is current when ``meta.json`` names this :data:`GENERATOR_VERSION` and the files match its hash.
    The directory is replaced atomically, so readers see the old build or the new one, never a mix. A
    directory that is not an earlier build (no ``meta.json`` of gradedpr's, or files the build does not
    write) is refused with :class:`OutputError` before anything is generated (:func:`check_builtin_dir`; the
    message names the setting ``key``).
    """
    target = Path(root)
    if not force and _is_current(target):
        return target
    check_builtin_dir(target, key)
    data = generate()
    texts = _file_texts(data)
    try:
        with atomic_directory(target, BUILTIN) as tmp:
            tmp.chmod(0o755)  # a temporary directory is created private; the data is not
            for name, text in texts.items():
                (tmp / name).parent.mkdir(parents=True, exist_ok=True)
                (tmp / name).write_text(text, encoding="utf-8")
            meta = {
                "generator_version": GENERATOR_VERSION,
                "python_version": ".".join(map(str, sys.version_info[:3])),
                "counts": counts(data),
                "sha256": _content_hash(tmp),
                "modules": [m for m in MODULES if m in sys.modules],
            }
            (tmp / "meta.json").write_text(
                json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8"
            )
    except OSError:
        if _is_current(target):  # another process finished the same build first
            return target
        raise
    return target


def counts(data: BuiltinData) -> dict[str, int]:
    """Passages, queries, and per split its queries and judgments by grade."""
    sizes = {"passages": len(data.corpus), "queries": len(data.queries)}
    for split, rows in data.qrels.items():
        sizes[f"{split}_queries"] = len({q for q, _, _ in rows})
        sizes[f"{split}_grade2"] = sum(1 for _, _, g in rows if g == 2)
        sizes[f"{split}_grade1"] = sum(1 for _, _, g in rows if g == 1)
    return sizes
