"""The text of office documents: .xlsx (openpyxl), .docx (python-docx), .odt and .ods (odfpy).

Each library is imported when first needed: without it, documents of its kind give no text. A
spreadsheet's first row names its columns, as a CSV header does.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Any

from .extract import Extracted, Field


def extract(form: str, data: bytes) -> Extracted:
    """The text of a document of ``form`` (``xlsx``, ``docx``, ``odf``); empty when it cannot be read."""
    try:
        if form == "xlsx":
            return _xlsx(data)
        if form == "docx":
            return _docx(data)
        if form == "odf":
            return _odf(data)
    except Exception:  # the library is not installed (ImportError), or the document is damaged: it says nothing
        pass
    return Extracted("")


def _table(rows: Iterable[Iterable[Any]], parts: list[str], fields: list[Field], size: int) -> int:
    """Rows of cells as tab-separated lines, each cell a field under its column's first-row header."""
    header: list[str] | None = None
    for row in rows:
        cells = ["" if v is None else str(v) for v in row]
        if header is None:
            header = cells
        else:
            pos = size
            for key, cell in zip(header, cells, strict=False):
                if cell and key:
                    fields.append((key, pos, pos + len(cell)))
                pos += len(cell) + 1
        line = "\t".join(cells) + "\n"
        parts.append(line)
        size += len(line)
    return size


def _xlsx(data: bytes) -> Extracted:
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    parts: list[str] = []
    fields: list[Field] = []
    size = 0
    try:
        for sheet in book.worksheets:
            size = _table(sheet.iter_rows(values_only=True), parts, fields, size)
    finally:
        book.close()
    return Extracted("".join(parts), fields)


def _docx(data: bytes) -> Extracted:
    import docx

    document = docx.Document(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    parts.extend(cell.text for table in document.tables for row in table.rows for cell in row.cells)
    return Extracted("\n".join(parts))


def _odf(data: bytes) -> Extracted:
    from odf import table, teletype, text
    from odf.opendocument import load

    document = load(io.BytesIO(data))
    parts: list[str] = []
    fields: list[Field] = []
    size = 0
    spreadsheet = getattr(document, "spreadsheet", None)  # set on spreadsheets only, not on text documents
    for sheet in spreadsheet.getElementsByType(table.Table) if spreadsheet is not None else ():
        size = _table(_odf_rows(sheet, table, teletype), parts, fields, size)
    if getattr(document, "text", None) is not None:
        for element in document.text.getElementsByType(text.P) + document.text.getElementsByType(text.H):
            line = teletype.extractText(element) + "\n"
            parts.append(line)
            size += len(line)
    return Extracted("".join(parts), fields)


def _odf_rows(sheet: Any, table: Any, teletype: Any) -> Iterator[list[str]]:
    for row in sheet.getElementsByType(table.TableRow):
        yield [teletype.extractText(cell) for cell in row.getElementsByType(table.TableCell)]
