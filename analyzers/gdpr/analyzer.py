"""The ``gdpr`` analyzer: which categories of personal data a text holds, how often, and where first.

This version reads text (plain text, CSV, JSON, logs, e-mail sources as text) for e-mail addresses
and the checksummed identifiers of :mod:`.identifiers`. Samples are masked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from kloset.analyzer import Analysis, Analyzer, Finding, mask

from .identifiers import scan

#: Text is analysed a window at a time, cut after a line end (a line longer than four windows is cut
#: anyway): a value split between two windows would be missed.
WINDOW = 1 << 20
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
#: Characters of a sample left visible, (at the start, at the end); e-mail addresses keep their domain.
_KEEP = {"email": (1, 0), "credit_card": (0, 4)}


def _valid_email(value: str) -> bool:
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


@dataclass
class _Tally:
    sample: str
    offset: int
    confidence: float
    count: int = 0


class GDPR(Analyzer):
    name = "gdpr"
    version = 1
    content_types = ("text/*", "application/json", "application/csv", "application/xml", "message/*")
    max_bytes = 64 << 20

    def __init__(self, options: dict[str, str] | None = None) -> None:
        super().__init__(options)
        self._pending = bytearray()
        self._base = 0  # byte offset of _pending in the content
        self._tallies: dict[str, _Tally] = {}

    def feed(self, data: bytes) -> None:
        self._pending += data
        if len(self._pending) >= WINDOW:
            cut = self._pending.rfind(b"\n") + 1
            if not cut:
                if len(self._pending) < 4 * WINDOW:
                    return
                cut = len(self._pending)
            self._window(bytes(self._pending[:cut]))
            del self._pending[:cut]

    def finish(self) -> Analysis:
        if self._pending:
            self._window(bytes(self._pending))
            self._pending.clear()
        findings = [Finding(category, t.sample, t.offset, t.confidence, t.count)
                    for category, t in sorted(self._tallies.items())]
        return Analysis(findings=findings, tags=[f"pii:{f.category}" for f in findings])

    def _window(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace")
        for m in _EMAIL.finditer(text):
            if _valid_email(m.group()):
                self._tally("email", m.group(), text, m.start(), 0.99)
        for found in scan(text):
            self._tally(found.category, found.value, text, found.start, found.confidence)
        self._base += len(raw)

    def _tally(self, category: str, value: str, text: str, start: int, confidence: float) -> None:
        t = self._tallies.get(category)
        if t is None:
            offset = self._base + len(text[:start].encode("utf-8"))
            start_kept, end_kept = _KEEP.get(category, (2, 0))
            masked = mask(value, keep_start=start_kept, keep_end=end_kept)
            t = self._tallies[category] = _Tally(masked, offset, confidence)
        t.count += 1
