"""Text and keyed values extracted from CSV, JSON, e-mail and office documents, as find() reads them."""

from __future__ import annotations

import builtins
import io
from email.message import EmailMessage
from typing import Any

import pytest

from kloset.analyzers.gdpr import find

ROW = {"name": "Jane Doe", "email": "jane.doe@example.com", "card": "4111 1111 1111 1111"}


def found(data: bytes, content_type: str, path: str) -> set[tuple[str, str]]:
    return {(m.category, m.value) for m in find(data, content_type, path)}


EXPECTED = {("person", "Jane Doe"), ("email", "jane.doe@example.com"), ("credit_card", "4111 1111 1111 1111")}


def test_json_and_json_lines_values_are_read_under_their_keys() -> None:
    import json

    assert found(json.dumps({"customer": ROW}).encode(), "application/json", "a.json") >= EXPECTED
    lines = (json.dumps(ROW) + "\n") * 3
    assert found(lines.encode(), "application/x-ndjson", "a.jsonl") >= EXPECTED


def test_a_multipart_message_is_read_through_its_encodings() -> None:
    m = EmailMessage()
    m["From"] = "Jane Doe <jane.doe@example.com>"
    m.set_content("Pay with card 4111 1111 1111 1111 — merci.\n", cte="quoted-printable")
    m.add_attachment(b"name,email\nJohn Roe,john@example.org\n", maintype="text", subtype="csv", filename="x.csv")
    values = found(m.as_bytes(), "message/rfc822", "m.eml")
    assert values >= EXPECTED and {("person", "John Roe"), ("email", "john@example.org")} <= values


def test_every_message_of_an_mbox_is_read() -> None:
    box = b"".join(f"From x@y Thu Jan  1 00:00:00 2024\nFrom: a@b.org\nSubject: {i}\n\nmail u{i}@example.com\n\n"
                   .encode() for i in range(3))
    emails = {v for c, v in found(box, "application/mbox", "a.mbox") if c == "email"}
    assert {"u0@example.com", "u1@example.com", "u2@example.com"} <= emails


def _xlsx() -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(ROW))
    sheet.append(list(ROW.values()))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _docx() -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph("Dear Jane Doe, your card 4111 1111 1111 1111 and jane.doe@example.com are on file.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _odt() -> bytes:
    from odf.opendocument import OpenDocumentText
    from odf.text import P

    document = OpenDocumentText()
    document.text.addElement(P(text="Dear Jane Doe, your card 4111 1111 1111 1111 and jane.doe@example.com."))
    out = io.BytesIO()
    document.write(out)
    return out.getvalue()


DOCUMENTS = [(_xlsx, "a.xlsx", "openpyxl"), (_docx, "a.docx", "docx"), (_odt, "a.odt", "odf")]


@pytest.mark.parametrize(("make", "path", "module"), DOCUMENTS)
def test_office_documents_are_read(make: Any, path: str, module: str) -> None:
    assert found(make(), "", path) >= EXPECTED


@pytest.mark.parametrize(("make", "path", "module"), DOCUMENTS)
def test_a_missing_office_library_gives_no_finding_and_no_error(make: Any, path: str, module: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    data = make()
    real = builtins.__import__

    def without(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.split(".")[0] == module:
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without)
    assert found(data, "", path) == set()


@pytest.mark.parametrize("row", [
    'x,"a, b",Jane Doe,"1 Main St"', 'x,"a ""b""",Jane Doe,"1 Main St"', 'x,"two\nlines",Jane Doe,"1 Main St"',
    'x,"a"b,Jane Doe,"1 Main St"', 'x,,"Jane Doe",1 Main St', 'x;"a; b";Jane Doe;"1 Main St"',
])
def test_a_csv_cell_under_a_kept_column_is_its_own_span_of_the_text(row: str) -> None:
    from kloset.analyzers.gdpr.extract import extract_csv

    delimiter = ";" if ";" in row else ","
    text = delimiter.join(["id", "note", "name", "address"]) + "\r\n" + row + "\r\n"
    cells = [(key, text[start:end]) for key, start, end in extract_csv(text).fields]
    assert cells == [("name", "Jane Doe"), ("address", "1 Main St")]
