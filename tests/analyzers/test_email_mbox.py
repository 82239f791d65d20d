"""Cutting an mbox into messages as it streams in, and unquoting their ``>From `` lines."""

from __future__ import annotations

import pytest

from kloset.analyzers.email.mbox import Piece, Splitter

FIRST = b"From a@example.com Mon Jan  1 10:00:00 2024\nSubject: one\n\nHello\n>From here on\n>>From mboxrd\n\n"
SECOND = b"From b@example.com Mon Jan  1 11:00:00 2024\r\nSubject: two\r\n\r\nBye\r\n\r\n"
THIRD = b"From c@example.com Mon Jan  1 12:00:00 2024\nSubject: three\n\nlast, no blank line after\n"
MBOX = FIRST + SECOND + THIRD


def split(data: bytes, piece: int) -> list[Piece]:
    splitter = Splitter()
    pieces: list[Piece] = []
    for i in range(0, len(data), piece):
        pieces.extend(splitter.feed(data[i:i + piece]))
    pieces.extend(splitter.finish())
    return pieces


@pytest.mark.parametrize("piece", [1, 3, 6, 7, 64, len(MBOX)])
def test_messages_come_out_whole_and_placed_however_the_content_is_cut(piece: int) -> None:
    pieces = split(MBOX, piece)
    assert [p.raw for p in pieces] == [FIRST, SECOND, THIRD]
    assert [p.offset for p in pieces] == [0, len(FIRST), len(FIRST) + len(SECOND)]


def test_a_message_loses_its_envelope_line_and_separator_and_one_quote_level() -> None:
    first, second, third = (p.message() for p in split(MBOX, 5))
    assert first == b"Subject: one\n\nHello\nFrom here on\n>From mboxrd\n"
    assert second == b"Subject: two\r\n\r\nBye\r\n"
    assert third == b"Subject: three\n\nlast, no blank line after\n"


def test_a_from_inside_a_line_does_not_cut() -> None:
    data = b"From a@x Mon Jan  1 10:00:00 2024\nSubject: x\n\nsent From home\n"
    assert [p.raw for p in split(data, 4)] == [data]


def test_an_empty_stream_has_no_messages() -> None:
    assert split(b"", 1) == [] and split(b"\n\n", 1) == []
