"""The email analyzer over real messages and mboxes, fed in pieces, found by name like any analyzer."""

from __future__ import annotations

import base64
import random
import tracemalloc
from email import policy
from email.message import EmailMessage
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kloset.analyzer import Analysis
from kloset.analyzers.email.analyzer import Email
from kloset.registry import analyzer_class

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 8
CRLF = policy.default.clone(linesep="\r\n")


def message(n: int = 1, *, sender: str = "Jane Doe <jane.doe@example.com>", body: str = "Hello,\nsee attached.\n",
            attach: bool = False) -> EmailMessage:
    m = EmailMessage()
    m["From"] = sender
    m["To"] = "Bob <bob@example.org>, carol@example.net"
    m["Cc"] = "Dave <dave@example.com>"
    m["Subject"] = f"Réunion n°{n} ✓"  # non-ASCII: written RFC 2047 encoded
    m["Date"] = f"Mon, 0{n} Jan 2024 10:30:00 +0200"
    m["Message-ID"] = f"<msg{n}@example.com>"
    m.set_content(body)
    if attach:
        m.add_attachment(PDF, maintype="application", subtype="pdf", filename="Résumé été.pdf")
    return m


def run(data: bytes, *, piece: int = 97, content_type: str = "", path: str = "") -> Analysis:
    a = analyzer_class("email")(content_type=content_type, path=path)
    for i in range(0, len(data), piece):
        a.feed(data[i:i + piece])
    return a.finish()


def messages(result: Analysis) -> list[dict[str, Any]]:
    assert result.record is not None
    out: list[dict[str, Any]] = result.record["messages"]
    return out


def test_it_is_installed_under_its_name_and_wants_mail_and_plain_text() -> None:
    assert analyzer_class("email") is Email
    assert all(Email.wants(t) for t in ("message/rfc822", "message/partial", "application/mbox", "text/plain"))
    assert not any(Email.wants(t) for t in ("image/jpeg", "application/pdf", "text/csv"))


def test_a_crlf_message_without_hints_gives_every_field() -> None:
    raw = message(attach=True).as_bytes(policy=CRLF)
    assert b"\r\n" in raw and b"=?utf-8?" in raw and b"filename*=utf-8''R%C3%A9sum%C3%A9" in raw
    result = run(raw, path="INBOX/1")  # as an IMAP source stores it: no extension, indexed as text
    assert result.tags == ["mime:message/rfc822"]
    assert messages(result) == [{
        "sender": "jane.doe@example.com", "sender_name": "Jane Doe",
        "recipients": ["bob@example.org", "carol@example.net"], "cc": ["dave@example.com"],
        "date": "2024-01-01T08:30:00+00:00", "subject": "Réunion n°1 ✓", "message_id": "<msg1@example.com>",
        "attachments": [{"name": "Résumé été.pdf", "content_type": "application/pdf", "size": len(PDF)}],
    }]
    assert msgpack.unpackb(msgpack.packb(result.record)) == result.record


def test_addresses_are_findings_masked_counted_and_placed() -> None:
    raw = message(attach=True).as_bytes(policy=CRLF)
    findings = {f.sample: f for f in run(raw, piece=5).findings}
    assert set(findings) == {"j***@example.com", "b***@example.org", "c***@example.net", "d***@example.com"}
    for f in findings.values():
        assert (f.category, f.confidence, f.count) == ("email", 0.99, 1)
    assert findings["b***@example.org"].offset == raw.index(b"bob@example.org")
    assert findings["d***@example.com"].offset == raw.index(b"dave@example.com")


def test_an_mbox_gives_each_message_with_its_quoted_lines_restored() -> None:
    body = "Hi,\nFrom the start it worked.\n>From quoted already.\n"
    parts = [message(n, body=body, attach=n == 2) for n in (1, 2, 3)]
    parts[2].replace_header("From", "JANE.DOE@Example.com")
    text_attachment = "From me, unquoted on read\n"
    parts[0].add_attachment(text_attachment, filename="notes.txt", cte="7bit")
    mbox = b"".join(b"From jane.doe@example.com Mon Jan  1 10:30:00 2024\n"
                    + m.as_bytes().replace(b"\nFrom ", b"\n>From ").replace(b"\n>From q", b"\n>>From q") + b"\n"
                    for m in parts)
    assert mbox.count(b"\n>From ") >= 3 and mbox.count(b"\nFrom ") == 2

    result = run(mbox, piece=64, content_type="application/mbox", path="Mail/archive.mbox")
    assert result.tags == ["mime:application/mbox"]
    got = messages(result)
    assert [m["subject"] for m in got] == ["Réunion n°1 ✓", "Réunion n°2 ✓", "Réunion n°3 ✓"]
    assert [m["date"] for m in got] == [f"2024-01-0{n}T08:30:00+00:00" for n in (1, 2, 3)]
    assert got[0]["attachments"] == [{"name": "notes.txt", "content_type": "text/plain",
                                      "size": len(text_attachment)}]
    assert got[1]["attachments"][0]["size"] == len(PDF) and got[2]["attachments"] == []
    assert got[2]["sender"] == "JANE.DOE@Example.com" and got[2]["sender_name"] == ""

    jane = {f.sample: f for f in result.findings}["j***@example.com"]
    assert (jane.count, jane.offset) == (3, mbox.index(b"jane.doe@example.com"))  # case-blind, envelope first
    assert run(mbox, piece=len(mbox), path="archive").record == result.record  # the content alone tells


def test_a_truncated_message_keeps_what_it_has_and_is_marked_malformed() -> None:
    raw = message(attach=True).as_bytes()
    cut = raw[:raw.index(b"Content-Transfer-Encoding: base64") + 200]
    result = run(cut, content_type="message/rfc822", path="a.eml")
    assert result.tags == ["mime:message/rfc822", "email:malformed"]
    (got,) = messages(result)
    assert (got["sender"], got["subject"], got["message_id"]) == ("jane.doe@example.com", "Réunion n°1 ✓",
                                                                  "<msg1@example.com>")
    (attachment,) = got["attachments"]
    assert attachment["name"] == "Résumé été.pdf" and 0 < attachment["size"] < len(PDF)


@pytest.mark.parametrize("header", [b"To: :<\r\raa;", b"Message-ID: \t <;a", b"To: ?@[ \n?\\",
                                    b"Date: Mon, 99 Foo 2024 99:99:99 +9999", b"Content-Type: multipart/mixed"])
def test_headers_the_parser_chokes_on_never_raise(header: bytes) -> None:
    raw = b"From: jane.doe@example.com\nSubject: still read\n" + header + b"\n\nbody\n"
    (got,) = messages(run(raw, path="x.eml"))
    assert (got["sender"], got["subject"]) == ("jane.doe@example.com", "still read")
    assert got["date"] is None


_VALUE = st.binary(max_size=24).map(lambda b: b.replace(b"\n", b"\n ")) | st.sampled_from(
    [b"<", b":;", b'"\\', b"=?utf-8?q?=FF?=", b"a@[", b"; filename*=x''%ZZ", b"multipart/mixed; boundary="])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["From", "To", "Cc", "Date", "Message-ID", "Subject", "Content-Type",
                                           "Content-Disposition", "Content-Transfer-Encoding"]), _VALUE),
                max_size=8), st.binary(max_size=64))
def test_any_header_values_give_a_record_that_packs(fields: list[tuple[str, bytes]], body: bytes) -> None:
    raw = b"From: jane.doe@example.com\n" + b"".join(f"{k}: ".encode() + v + b"\n" for k, v in fields)
    result = run(raw + b"\n" + body, content_type="message/rfc822")
    assert len(messages(result)) == 1 and msgpack.unpackb(msgpack.packb(result.record)) == result.record


def test_header_bytes_in_no_declared_charset_become_text() -> None:
    raw = "From: José <jose@example.com>\nSubject: café\nDate: Mon, 1 Jan 2024 10:00:00 -0000\n\nx\n"
    (got,) = messages(run(raw.encode("latin-1"), path="x.eml"))
    assert (got["sender_name"], got["subject"]) == ("José", "café")
    assert got["date"] == "2024-01-01T10:00:00+00:00"  # -0000: UTC, the sender's zone unknown
    (utf8,) = messages(run(raw.encode(), path="x.eml"))
    assert (utf8["sender_name"], utf8["subject"]) == ("José", "café")


def test_a_saved_message_keeping_its_envelope_line_is_one_message() -> None:
    raw = b"From jane.doe@example.com Mon Jan  1 10:30:00 2024\n" + message(body="a\nFrom b\n").as_bytes()
    result = run(raw, content_type="message/rfc822")
    assert result.tags == ["mime:message/rfc822"] and len(messages(result)) == 1


def test_binary_garbage_gives_nothing_even_with_a_mail_hint() -> None:
    garbage = random.Random(5322).randbytes(1 << 16)
    for hint in ("", "message/rfc822", "application/mbox"):
        assert run(garbage, content_type=hint, path="x.eml") == Analysis()


def test_a_big_file_that_is_not_mail_is_dropped_after_its_head() -> None:
    piece = b"Name: a line of a log that looks like a header, at first\n" * (1 << 14)  # ~1 MiB
    a = Email(content_type="text/plain", path="server.log")
    tracemalloc.start()
    try:
        for _ in range(64):
            a.feed(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert a.finish() == Analysis()
    assert peak < len(piece) // 4  # the head was copied once, nothing after it kept


def test_rows_are_the_records_messages() -> None:
    record = messages(run(message().as_bytes(), path="x.eml"))
    assert Email.rows({"messages": record}) == record
    assert Email.rows(None) == [] and Email.rows({"messages": "junk"}) == []


def test_a_message_past_max_bytes_is_read_as_far_as_it_was_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = message(attach=True).as_bytes()
    monkeypatch.setattr(Email, "max_bytes", len(raw) - 100)
    (got,) = messages(result := run(raw, path="x.eml"))
    assert got["subject"] == "Réunion n°1 ✓" and "email:malformed" in result.tags


def test_an_attached_message_is_one_attachment() -> None:
    outer = message(body="see the forwarded message")
    inner = message(2, attach=True)
    outer.add_attachment(inner, filename="fwd.eml")
    (got,) = messages(run(outer.as_bytes(), path="x.eml"))
    (attachment,) = got["attachments"]
    assert attachment["name"] == "fwd.eml" and attachment["content_type"] == "message/rfc822"
    assert attachment["size"] > len(base64.b64encode(PDF))


def test_a_message_that_is_a_file_in_itself_is_its_own_attachment() -> None:
    m = EmailMessage()
    m["From"] = "scanner@example.com"
    m["Subject"] = "Scan"
    m.set_content(PDF, maintype="application", subtype="pdf", disposition="attachment", filename="scan.pdf")
    (got,) = messages(run(m.as_bytes(), path="x.eml"))
    assert got["attachments"] == [{"name": "scan.pdf", "content_type": "application/pdf", "size": len(PDF)}]
    inline = message()
    inline["Content-Disposition"] = "inline"
    assert messages(run(inline.as_bytes(), path="x.eml"))[0]["attachments"] == []


def test_trace_fields_give_addresses_without_marking_the_message_malformed() -> None:
    raw = b"Return-Path: <bounce@example.org>\nDelivered-To: jane.doe@example.com\nFrom: bob@example.org\n\nhi\n"
    result = run(raw, path="x.eml")
    assert result.tags == ["mime:message/rfc822"]
    assert sorted((f.sample, f.count) for f in result.findings) == [("b***@example.org", 1), ("b***@example.org", 1),
                                                                     ("j***@example.com", 1)]
