"""The gdpr analyzer over text fed in pieces, found by name like any installed analyzer."""

from __future__ import annotations

import pytest

from kloset.analyzer import Finding
from kloset.analyzers.gdpr import analyzer as gdpr
from kloset.registry import analyzer_class

TEXT = ("name,email,card\n"
        "Jane Doe,jane.doe@example.com,4111 1111 1111 1111\n"
        "Émile Zola,emile@example.fr,4111 1111 1111 1112\n"
        "John Roe,john@example.org,\n").encode()


def run(data: bytes, piece: int) -> list[Finding]:
    a = gdpr.GDPR()
    for i in range(0, len(data), piece):
        a.feed(data[i:i + piece])
    return a.finish().findings


def test_it_is_installed_under_its_name() -> None:
    assert analyzer_class("gdpr") is gdpr.GDPR
    assert gdpr.GDPR.wants("text/csv") and not gdpr.GDPR.wants("image/jpeg")


def test_findings_are_counted_masked_and_placed_by_byte_offset() -> None:
    findings = {f.category: f for f in run(TEXT, 7)}
    assert set(findings) == {"email", "credit_card"}
    email, card = findings["email"], findings["credit_card"]
    assert (email.count, email.sample, email.offset) == (3, "j***@example.com", TEXT.index(b"jane.doe@"))
    assert (card.count, card.sample, card.offset) == (1, "***1111", TEXT.index(b"4111"))


def test_windows_end_at_line_ends_so_no_value_is_cut_in_two(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gdpr, "WINDOW", 16)  # shorter than every line
    findings = {f.category: (f.count, f.offset) for f in run(TEXT * 3, 5)}
    assert findings == {"email": (9, TEXT.index(b"jane.doe@")), "credit_card": (3, TEXT.index(b"4111"))}


def test_text_without_personal_data_has_no_findings() -> None:
    a = gdpr.GDPR()
    a.feed(b"The quarterly report: 12 items, 3 regions, growth 4.5%. Contact: the sales team.\n")
    result = a.finish()
    assert result.findings == [] and result.tags == []
