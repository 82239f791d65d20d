"""How the IMAP connector names mailboxes and messages, and reads message names back."""

from __future__ import annotations

import pytest

from kloset.connectors.imap.names import (
    MessageName,
    escape_segment,
    message_name,
    parse_message_name,
    safe_subject,
    unescape_segment,
)

KEYWORDS = ["$Label1", "project-x.2024", "a+b,c", "100%", "Junk/Spam", "wichtig-ä", "NonJunk", "$Forwarded"]


@pytest.mark.parametrize("flags", [
    (),
    ("\\Seen",),
    ("\\Seen", "\\Answered", "\\Flagged", "\\Draft", "\\Deleted"),
    ("\\Flagged", *KEYWORDS),
    tuple(KEYWORDS),
])
@pytest.mark.parametrize("subject", ["", "Hello", "a-b.eml", "Re: 50% off, +1 - ok.", "日本語の件名"])
def test_flags_read_back_from_a_message_name(flags: tuple[str, ...], subject: str) -> None:
    name = message_name(42, flags, subject)
    assert name.endswith(".eml") and "/" not in name
    parsed = parse_message_name(name)
    assert parsed is not None
    assert parsed.uid == 42
    assert set(parsed.flags) == set(flags)


def test_system_flags_are_letters_in_a_fixed_order_and_keywords_follow_escaped() -> None:
    flags = ("\\Deleted", "\\Seen", "\\Recent", "\\Flagged", "project-x.2024", "$Label1")
    assert message_name(7, flags, "Hi") == "7,SFT+$Label1+project%2Dx%2E2024-Hi.eml"
    assert message_name(7, ("\\SEEN", "\\answered"), "") == "7,SA.eml"
    assert message_name(7, ("\\Recent",), "") == "7.eml"  # \Recent is the server's to set
    assert message_name(7, ("Work",), "") == "7,+Work.eml"


def test_names_not_in_the_message_form_are_not_messages() -> None:
    for name in ["note.txt", "abc.eml", "12,X.eml", "12,S", "12,S+.eml", "-1.eml", "12,S+a-b.eml.txt"]:
        assert parse_message_name(name) is None, name
    assert parse_message_name("12.eml") == MessageName(12, ())
    assert parse_message_name("12-.eml") == MessageName(12, ())


def test_a_subject_is_decoded_and_made_safe_for_a_file_name() -> None:
    header = b"Subject: =?utf-8?q?R=C3=A9sum=C3=A9?= of\r\n\t/etc/passwd \\ and\x01 more\r\n\r\n"
    assert safe_subject(header) == "Résumé of etc passwd and more"
    assert safe_subject(b"\r\n") == ""
    assert safe_subject(b"Subject: =?bogus-charset?q?x?=\r\n") != ""


def test_a_long_subject_is_cut_to_keep_the_name_within_255_bytes() -> None:
    name = message_name(4294967295, ("\\Seen", "$Label1"), "ü" * 300)
    assert len(name.encode()) <= 255
    assert parse_message_name(name) == MessageName(4294967295, ("\\Seen", "$Label1"))
    assert len(safe_subject(("Subject: " + "word " * 100).encode()).encode()) <= 96


@pytest.mark.parametrize(("segment", "escaped"), [
    ("Größe", "Größe"), ("日本", "日本"), ("a/b", "a%2Fb"), ("100%", "100%25"), (".", "%2E"),
    ("..", "%2E%2E"), ("a.b", "a.b"), ("tab\there", "tab%09here"), ("...", "..."),
])
def test_mailbox_segments_escape_and_unescape(segment: str, escaped: str) -> None:
    assert escape_segment(segment) == escaped
    assert unescape_segment(escaped) == segment
