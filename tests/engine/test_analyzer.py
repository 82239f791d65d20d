"""The analyzer interface: its contract, masking, and lookup by name."""

from __future__ import annotations

import pytest

import kloset
from kloset.analyzer import Analysis, Analyzer, Finding, mask
from kloset.registry import analyzer_class


class Digits(Analyzer):
    """Counts digits, across pieces: an analyzer keeps state between feeds."""

    name = "digits"
    version = 2
    content_types = ("text/*", "application/json")

    def __init__(self, options: dict[str, str] | None = None) -> None:
        super().__init__(options)
        self.seen = 0
        self.first = -1

    def feed(self, data: bytes) -> None:
        if self.first < 0:
            at = next((i for i, b in enumerate(data) if 48 <= b <= 57), -1)
            self.first = self.seen + at if at >= 0 else -1
        self.seen += len(data)

    def finish(self) -> Analysis:
        found = [Finding("digit", "*", self.first, 1.0)] if self.first >= 0 else []
        return Analysis(findings=found, tags=["has:digits"] if found else [])


def test_an_analyzer_is_fed_in_pieces_and_keeps_its_state() -> None:
    a = Digits()
    for piece in (b"abc", b"de", b"f7g"):
        a.feed(piece)
    result = a.finish()
    assert result.findings == [Finding("digit", "*", 6, 1.0)]
    assert result.tags == ["has:digits"] and result.record is None


def test_content_types_select_what_is_read() -> None:
    assert Digits.wants("text/plain") and Digits.wants("text/csv")
    assert Digits.wants("application/json")
    assert not Digits.wants("image/png")
    assert Digits.key() == "digits@2"

    class Everything(Digits):
        content_types = ()

    assert Everything.wants("application/octet-stream")


def test_an_analyzer_must_implement_feed_and_finish() -> None:
    class Half(Analyzer):
        name, version = "half", 1

        def feed(self, data: bytes) -> None:
            pass

    with pytest.raises(TypeError):
        Half()  # type: ignore[abstract]


@pytest.mark.parametrize(("value", "kwargs", "masked"), [
    ("jane.doe@example.com", {}, "j***@example.com"),
    ("@example.com", {}, "***@example.com"),
    ("4111111111111111", {"keep_start": 0, "keep_end": 4}, "***1111"),
    ("FR7630006000011234567890189", {"keep_start": 4, "keep_end": 0}, "FR76***"),
    ("ab", {"keep_start": 1, "keep_end": 1}, "***"),
])
def test_mask(value: str, kwargs: dict[str, int], masked: str) -> None:
    assert mask(value, **kwargs) == masked


def test_an_unknown_analyzer_is_a_configuration_error() -> None:
    with pytest.raises(kloset.ConfigError, match="no analyzer 'nope'"):
        analyzer_class("nope")
