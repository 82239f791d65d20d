"""The text of a content, by format, with the keys that frame its values.

Plain text is itself. A CSV file is its own text too, its header naming each cell's column; a JSON
document (or JSON Lines) becomes its values one to a line, each under the key that holds it; e-mail
(:mod:`.mail`) and office documents (:mod:`.office`) become their text. The format is chosen by
content type and file name, and by the first bytes when both are vague.
"""

from __future__ import annotations

import csv
import functools
import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from . import keys

#: A value under a key, in the extracted text: (key, start, end).
Field = tuple[str, int, int]

#: Formats read whole (the others are read a window at a time), so buffered up to the analyzer's limit.
STRUCTURED = frozenset({"csv", "json", "jsonl", "mime", "mbox", "xlsx", "docx", "odf"})

_BY_EXTENSION = {"csv": "csv", "tsv": "csv", "json": "json", "jsonl": "jsonl", "ndjson": "jsonl", "eml": "mime",
                 "msg": "mime", "mbox": "mbox", "mbx": "mbox", "xlsx": "xlsx", "xlsm": "xlsx", "docx": "docx",
                 "odt": "odf", "ods": "odf", "odp": "odf"}
_BY_TYPE = {"text/csv": "csv", "application/csv": "csv", "text/tab-separated-values": "csv",
            "application/json": "json", "application/x-ndjson": "jsonl", "application/jsonl": "jsonl",
            "application/x-jsonlines": "jsonl", "message/rfc822": "mime", "application/mbox": "mbox",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx"}
_MAIL_HEADERS = (b"received:", b"return-path:", b"from:", b"message-id:", b"mime-version:", b"delivered-to:",
                 b"date:", b"to:", b"subject:")


@dataclass
class Extracted:
    """A content's text, and the spans of it that are values under a key."""

    text: str
    fields: list[Field] = field(default_factory=list)


def kind(content_type: str, path: str, head: bytes = b"") -> str:
    """The format to read: ``text``, or one of :data:`STRUCTURED`."""
    name = path.rpartition("/")[2]
    ext = name.rpartition(".")[2].lower() if "." in name else ""
    if ext in _BY_EXTENSION:
        return _BY_EXTENSION[ext]
    ctype = content_type.partition(";")[0].strip().lower()
    if ctype in _BY_TYPE:
        return _BY_TYPE[ctype]
    if ctype.startswith("application/vnd.oasis.opendocument."):
        return "odf"
    return sniff(head)


def sniff(head: bytes) -> str:
    """The format the first bytes of a content show, ``text`` when they show none."""
    if head.startswith(b"PK\x03\x04"):
        if b"mimetypeapplication/vnd.oasis.opendocument" in head[:100]:
            return "odf"
        if b"word/" in head:
            return "docx"
        if b"xl/" in head:
            return "xlsx"
        return "text"
    if head.startswith(b"From ") and b"\n" in head:
        return "mbox"
    if head.lower().startswith(_MAIL_HEADERS):
        return "mime"
    stripped = head.lstrip()
    if stripped[:1] in (b"{", b"["):
        lines = stripped.split(b"\n", 2)
        return "jsonl" if len(lines) > 2 and lines[1].lstrip().startswith(b"{") and lines[0].rstrip().endswith(b"}") \
            else "json"
    return "text"


def decode(data: bytes) -> str:
    """Text as UTF-8, or Latin-1 when it is not (a byte is then a character, so offsets still hold)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def extract(data: bytes, content_type: str = "", path: str = "") -> Extracted:
    """The text of ``data`` and its keyed values; a format whose library is missing, or that does not
    parse, gives no text (it says nothing rather than something wrong)."""
    form = kind(content_type, path, data[:4096])
    if form == "text":
        return Extracted(decode(data))
    if form == "csv":
        return extract_csv(decode(data), tab=path.lower().endswith(".tsv") or "tab-separated" in content_type)
    if form in ("json", "jsonl"):
        return extract_json(decode(data), lines=form == "jsonl")
    if form in ("mime", "mbox"):
        from . import mail

        return mail.extract_mbox(data) if form == "mbox" else mail.extract_message(data)
    from . import office

    return office.extract(form, data)


def extract_csv(text: str, *, tab: bool = False) -> Extracted:
    """A CSV file is its own text; each cell under a column of some :func:`.keys.role` is a field."""
    first = text[:text.find("\n") if "\n" in text else len(text)]
    delimiter = "\t" if tab or first.count("\t") > first.count(",") else ";" if first.count(";") > first.count(",") \
        else ","
    lines = text.splitlines(keepends=True)
    reader = csv.reader(lines, delimiter=delimiter)
    fields: list[Field] = []
    try:
        header = next(reader)
    except (csv.Error, StopIteration):
        return Extracted(text)
    kept = [(i, key) for i, key in enumerate(header) if keys.role(key)]
    if not kept:
        return Extracted(text)
    starts = [0, *itertools.accumulate(map(len, lines))]
    done = reader.line_num
    try:
        for row in reader:
            start, end = starts[done], starts[reader.line_num]
            done = reader.line_num
            if '"' not in text[start:end]:  # one line of bare cells (a quoted one may span lines)
                _plain_cells(row, kept, start, fields)
            elif not _quoted_cells(text, kept, row, start, end, delimiter, fields):
                fields.extend(_cells(text, header, row, start, end, delimiter))
    except csv.Error:
        pass
    return Extracted(text, fields)


def _plain_cells(row: list[str], kept: list[tuple[int, str]], start: int, fields: list[Field]) -> None:
    """The kept cells of a row written without quotes: each cell's offset is the lengths of those before it."""
    pos, done = start, 0
    for index, key in kept:
        if index >= len(row):
            return
        pos += sum(len(cell) + 1 for cell in row[done:index])
        done = index
        if row[index]:
            fields.append((key, pos, pos + len(row[index])))


@functools.cache
def _row_shape(count: int, delimiter: str) -> re.Pattern[str]:
    """A row of ``count`` cells, each bare or quoted with no quote inside, as a line ends."""
    cell = f'"([^"]*)"|([^"{re.escape(delimiter)}\\r\\n]*)'
    return re.compile(f"(?:{cell})" + f"{re.escape(delimiter)}(?:{cell})" * (count - 1) + r"(?:\r\n|\n|\r)?")


def _quoted_cells(text: str, kept: list[tuple[int, str]], row: list[str], start: int, end: int, delimiter: str,
                  fields: list[Field]) -> bool:
    """The kept cells of a row whose quoted cells hold no quote, read off one match of the row's shape.
    False when the row has another shape (a doubled quote, a quote in a bare cell): :func:`_cells` then
    searches for each cell."""
    m = _row_shape(len(row), delimiter).fullmatch(text, start, end) if row else None
    if m is None:
        return False
    for index, key in kept:
        if index >= len(row):
            break
        begin, stop = m.span(2 * index + 1)
        if begin < 0:
            begin, stop = m.span(2 * index + 2)
        if stop > begin:
            fields.append((key, begin, stop))
    return True


def _cells(text: str, header: list[str], row: list[str], start: int, end: int, delimiter: str) -> Iterator[Field]:
    pos = start
    for key, cell in zip(header, row, strict=False):
        if text.startswith(cell, pos) and (pos + len(cell) == end or text[pos + len(cell)] in delimiter + "\r\n"):
            found = pos
        else:  # quoted: the cell's text is further on, unless it had quotes doubled inside
            found = text.find(cell, pos, end)
            if found < 0:
                continue
        if cell and keys.role(key):
            yield key, found, found + len(cell)
        pos = found + len(cell) + 1 + (text[found + len(cell)] == '"' if found + len(cell) < end else 0)


def extract_json(text: str, *, lines: bool = False) -> Extracted:
    """A JSON document's (or each JSON line's) values, one to a line, each under its key."""
    documents: list[Any] = []
    if lines:
        for line in text.splitlines():
            try:
                documents.append(json.loads(line))
            except ValueError:
                documents.append(line)
    else:
        try:
            documents.append(json.loads(text))
        except ValueError:
            return Extracted(text)
    leaves: list[str] = []
    names: list[str] = []
    for document in documents:
        _walk(document, "", leaves, names)
    # The text is the leaves a line each; a leaf's offset is the lengths of those before it and their line ends.
    roles = {name: keys.role(name) is not None for name in set(names)}
    before = list(itertools.accumulate(map(len, leaves), initial=0))
    fields = [(names[i], before[i] + i, before[i + 1] + i)
              for i in itertools.compress(range(len(names)), map(roles.__getitem__, names))]
    return Extracted("\n".join(leaves) + "\n" if leaves else "", fields)


def _walk(value: Any, key: str, leaves: list[str], names: list[str]) -> None:
    """The values under ``value`` in document order (``leaves``), each with the key that holds it (``names``)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if type(v) is str:  # most values: taken here, rather than in a call each
                leaves.append(v)
                names.append(k)
            else:
                _walk(v, str(k), leaves, names)
    elif isinstance(value, list):
        for v in value:
            _walk(v, key, leaves, names)
    elif value is not None and not isinstance(value, bool):
        leaves.append(str(value))
        names.append(key)
