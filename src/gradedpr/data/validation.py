"""Streaming readers and field checks shared by the collection loaders.

Every check raises :class:`~gradedpr.errors.DataError` with the file and the 1-based line of the offending
record (for items of a JSON array: the line the item starts on, and ``item N`` in the message), so bad input
is reported as ``file:line: message`` instead of a traceback or silently wrong numbers.

Readers stream: a file is never read into memory as a whole (a JSON array is decoded item by item), so a
multi-gigabyte corpus or DPR training file costs memory for one record at a time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gradedpr.errors import DataError

_INTEGER = re.compile(r"[+-]?[0-9]+")
_JSON_CHUNK = 1 << 20


def is_integer(token: str) -> bool:
    """Whether ``token`` is written as an integer (optional sign, decimal digits only)."""
    return _INTEGER.fullmatch(token) is not None


def parse_grade(token: str, path: Path, line: int) -> int:
    """The integer relevance grade written as ``token`` (any sign and scale); anything else is an error."""
    if not _INTEGER.fullmatch(token):
        raise DataError(f"relevance grade must be an integer, got {token!r}", path, line)
    return int(token)


def iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` for every non-blank line, without its line ending; UTF-8 (a BOM is dropped).

    The one line reader of every text format (BEIR, TREC qrels and runs, JSON lines): a line ends at ``\\n``
    (``\\r\\n`` too), blank and whitespace-only lines are skipped, line numbers count every line from 1.
    """
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the with below; binary: bad bytes get their line
    except OSError as exc:
        raise DataError(f"cannot open: {exc.strerror or exc}", path) from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataError(f"not valid UTF-8 ({err.reason} at byte {err.start})", path, number) from None
            if number == 1:
                line = line.lstrip("\ufeff")
            line = line.rstrip("\r\n")
            if line.strip():
                yield number, line


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for every line of a JSON-lines file; each line must hold one JSON object."""
    for number, line in iter_lines(path):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"malformed JSON: {err.msg} (column {err.colno})", path, number) from None
        if not isinstance(record, dict):
            raise DataError(f"expected a JSON object, got {type(record).__name__}", path, number)
        yield number, record


def iter_json_array(path: Path) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """``(item number, line number, object)`` for the items of a file holding one JSON array of objects.

    Items are decoded one at a time from a growing buffer (``json.JSONDecoder.raw_decode``), so memory holds
    one item, not the whole file. Item numbers start at 1; the line is where the item starts.
    """
    decoder = json.JSONDecoder()
    with open(path, encoding="utf-8-sig", newline="") as handle:
        buffer = ""
        offset = 0  # position in buffer
        line = 1  # line number at `offset`
        eof = False

        def fill(minimum: int = _JSON_CHUNK) -> bool:
            """Drop the consumed prefix and read more text; False at end of file."""
            nonlocal buffer, offset, eof
            buffer = buffer[offset:]
            offset = 0
            if eof:
                return False
            try:
                chunk = handle.read(max(minimum, _JSON_CHUNK))
            except UnicodeDecodeError as err:
                raise DataError(f"not valid UTF-8 ({err.reason})", path, line) from None
            if not chunk:
                eof = True
                return False
            buffer += chunk
            return True

        def skip_space() -> str:
            """Advance over whitespace; return the next character ('' at end of file)."""
            nonlocal offset, line
            while True:
                while offset < len(buffer) and buffer[offset] in " \t\r\n":
                    if buffer[offset] == "\n":
                        line += 1
                    offset += 1
                if offset < len(buffer):
                    return buffer[offset]
                if not fill():
                    return ""

        if skip_space() != "[":
            raise DataError("expected a JSON array of objects (the file must start with '[')", path, line)
        offset += 1
        item = 0
        expect_item = True  # after '[' or ','
        while True:
            char = skip_space()
            if char == "":
                raise DataError("unexpected end of file inside the JSON array", path, line)
            if char == "]":
                if expect_item and item > 0:
                    raise DataError("trailing comma before ']'", path, line)
                offset += 1
                if skip_space() != "":
                    raise DataError("extra data after the JSON array", path, line)
                return
            if char == ",":
                if expect_item:
                    raise DataError(f"item {item + 1}: unexpected ','", path, line)
                expect_item = True
                offset += 1
                continue
            if not expect_item:
                raise DataError(f"item {item}: expected ',' or ']' after the item", path, line)
            item += 1
            want = _JSON_CHUNK
            while True:
                try:
                    record, end = decoder.raw_decode(buffer, offset)
                    break
                except json.JSONDecodeError as err:
                    if eof:  # the whole rest of the file is in the buffer: a real syntax error
                        err_line = line + buffer.count("\n", offset, err.pos)
                        raise DataError(f"item {item}: malformed JSON: {err.msg}", path, err_line) from None
                    fill(want)  # maybe the item is only cut off by the end of the buffer
                    want *= 2
            if not isinstance(record, dict):
                raise DataError(
                    f"item {item}: expected a JSON object, got {type(record).__name__}", path, line
                )
            yield item, line, record
            line += buffer.count("\n", offset, end)
            offset = end
            expect_item = False


def iter_json_records(path: Path) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """``(line, label, object)`` for a ``.jsonl`` file (one object per line) or a ``.json`` array.

    ``label`` names the record in messages: ``"item N: "`` for arrays, ``""`` for JSON lines (the line is
    enough).
    """
    if path.suffix == ".jsonl":
        for number, record in iter_jsonl(path):
            yield number, "", record
    else:
        for item, number, record in iter_json_array(path):
            yield number, f"item {item}: ", record


def require_id(record: dict[str, Any], key: str, path: Path, line: int, label: str = "") -> str:
    """The record's identifier under ``key`` as a string (JSON strings and integers are accepted)."""
    if key not in record:
        raise DataError(f"{label}missing field {key!r}", path, line)
    value = record[key]
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise DataError(f"{label}field {key!r} must be a string or an integer, got {value!r}", path, line)
    ident = str(value).strip()
    if not ident:
        raise DataError(f"{label}field {key!r} is empty", path, line)
    check_id_token(ident, f"{label}field {key!r}", path, line)
    return ident


def check_id_token(ident: str, what: str, path: Path, line: int) -> None:
    """An identifier must hold no whitespace: TREC run and qrels files separate their columns by whitespace,
    so such an id could be trained on but never written to a run (refused here, at load time)."""
    if any(ch.isspace() for ch in ident):
        raise DataError(f"{what} {ident!r} contains whitespace, which TREC run files cannot hold; use ids "
                        "without spaces (e.g. replace them with '_')", path, line)


def require_text(record: dict[str, Any], key: str, path: Path, line: int, label: str = "") -> str:
    """The record's non-empty text field ``key`` (whitespace-only counts as empty)."""
    if key not in record:
        raise DataError(f"{label}missing field {key!r}", path, line)
    value = optional_text(record, key, path, line, label)
    if not value.strip():
        raise DataError(f"{label}field {key!r} is empty", path, line)
    return value


def optional_text(record: dict[str, Any], key: str, path: Path, line: int, label: str = "") -> str:
    """The record's text field ``key``, or ``""`` when it is missing or null."""
    value = record.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DataError(f"{label}field {key!r} must be a string, got {type(value).__name__}", path, line)
    return value


def document(record: dict[str, Any], docid: str, seen: set[str], path: Path, line: int) -> tuple[str, str, str]:
    """``(docid, title, text)`` of a corpus record, stripped; a document needs a non-empty title or text and an id
    not ``seen`` before (added to ``seen``)."""
    title = optional_text(record, "title", path, line).strip()
    text = optional_text(record, "text", path, line).strip()
    if not title and not text:
        raise DataError(f"document {docid!r} has an empty title and text", path, line)
    if docid in seen:
        raise DataError(f"duplicate document id {docid!r}", path, line)
    seen.add(docid)
    return docid, title, text


def optional_grade(record: dict[str, Any], key: str, path: Path, line: int, label: str = "") -> int | None:
    """The record's integer field ``key`` (a JSON integer or an integer string), or None when missing."""
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        raise DataError(f"{label}field {key!r} must be an integer, got {value!r}", path, line)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return parse_grade(value.strip(), path, line)
    raise DataError(f"{label}field {key!r} must be an integer, got {value!r}", path, line)
