"""Telling mail from other content by its first bytes and the index's hints."""

from __future__ import annotations

import pytest

from kloset.analyzers.email.kind import Kind, header_block_ended, hinted, sniff

MESSAGE = b"Received: from mx.example.com by mail.example.org; Mon, 1 Jan 2024 10:00:00 +0000\r\n" \
          b"From: Jane <jane@example.com>\r\nSubject: hi\r\n\r\nbody\r\n"
MBOX = b"From jane@example.com Mon Jan  1 10:00:00 2024\n" + MESSAGE.replace(b"\r\n", b"\n")


@pytest.mark.parametrize(("content_type", "path", "expected"), [
    ("message/rfc822", "", True), ("application/mbox", "", True), ("text/plain", "mail/Sent.mbox", True),
    ("text/plain", "a/b.EML", True), ("text/plain", "INBOX/1234", False), ("text/plain", "notes.txt", False),
])
def test_type_and_file_name_are_hints(content_type: str, path: str, expected: bool) -> None:
    assert hinted(content_type, path) is expected


def test_a_message_and_an_mbox_are_told_apart_with_or_without_hints() -> None:
    for hint in (False, True):
        assert sniff(MESSAGE, hint=hint, complete=True) is Kind.MESSAGE
        assert sniff(MBOX, hint=hint, complete=True) is Kind.MBOX


def test_a_header_block_longer_than_the_head_is_judged_on_its_complete_lines() -> None:
    head = MESSAGE[:MESSAGE.index(b"Subject") + 4]  # cut inside a line, before the blank line
    assert sniff(head, hint=False, complete=False) is Kind.MESSAGE
    assert not header_block_ended(head) and header_block_ended(MESSAGE)


@pytest.mark.parametrize("text", [
    b"Subject: shopping\n\nmilk, eggs\n",  # a known field, but nothing that reads as mail
    b"title: Notes\ndate: 2024-01-01\n\nSome text\n",  # front matter: the date is not an RFC 5322 date
    b"From the beginning, it was clear.\nThe rest followed.\n",
    b"From jane@example.com Mon Jan  1 10:00:00 2024\nnot a header\n",
    b"Name: value\nOther: value\n\n",  # well formed, but no mail field
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    b" continued: first\nFrom: jane@example.com\n\n",  # a continuation line cannot come first
    b"",
])
def test_other_content_is_not_mail(text: bytes) -> None:
    assert sniff(text, hint=False, complete=True) is None


def test_a_hint_lets_a_plain_or_damaged_header_block_through() -> None:
    assert sniff(b"Subject: shopping\n\nmilk, eggs\n", hint=True, complete=True) is Kind.MESSAGE
    damaged = b"From: jane@example.com\nno colon here\nTo: bob@example.org\n\n"
    assert sniff(damaged, hint=True, complete=True) is Kind.MESSAGE
    assert sniff(damaged, hint=False, complete=True) is None
    assert sniff(b"Name: value\n\n", hint=True, complete=True) is None
    assert sniff(b"no header\nFrom: jane@example.com\n\n", hint=True, complete=True) is None


@pytest.mark.parametrize("field", [
    b"From: <jane@example.com>", b"Date: Mon, 1 Jan 2024 10:00:00 +0000", b"MIME-Version: 1.0 (generated)",
    b"Message-ID: <abc@host>", b"To: jane@example.com",
])
def test_one_field_that_reads_as_mail_is_enough(field: bytes) -> None:
    assert sniff(b"X-Custom: 1\n" + field + b"\n\nbody\n", hint=False, complete=True) is Kind.MESSAGE


def test_folded_fields_are_read_whole() -> None:
    head = b"Subject: a long\n subject\nDate: Mon,\n 1 Jan 2024 10:00:00 +0000\n\n"
    assert sniff(head, hint=False, complete=True) is Kind.MESSAGE
