"""The ``gdpr`` analyzer: which categories of personal data a content holds, how often, and where first.

Plain text is read a window at a time as it is fed; structured formats (CSV, JSON, e-mail, office
documents) are buffered up to ``max_bytes`` and read whole at the end, their keys and headers telling
what a value is. Detection is :func:`.detect.detect`, the same as :func:`kloset.analyzers.gdpr.find`.
Samples are masked unless the option ``unmasked`` is set.
"""

from __future__ import annotations

from collections import Counter
from operator import itemgetter

from kloset.analyzer import Analysis, Analyzer, Finding, mask

from . import extract
from .detect import detect
from .match import Hit

#: Text is analysed a window at a time, cut after a line end (a line longer than four windows is cut
#: anyway): a value split between two windows would be missed.
WINDOW = 1 << 20
#: Characters of a sample left visible, (at the start, at the end); e-mail addresses keep their domain.
_KEEP = {"email": (1, 0), "credit_card": (0, 4), "iban": (2, 0), "phone": (3, 0)}


class GDPR(Analyzer):
    """Personal-data categories (e-mail, phone, card, IBAN, national IDs, names, addresses, birth dates,
    Art. 9 hints), each with a masked sample, a count and its first offset.

    The offset is a byte offset in the content for plain text; for structured formats, whose text is
    extracted (a JSON document's values, a message's decoded parts), it is a character offset in that
    extracted text."""

    name = "gdpr"
    version = 4
    content_types = ("text/*", "application/json", "application/x-ndjson", "application/csv", "application/xml",
                     "message/*", "application/mbox", "application/vnd.openxmlformats-officedocument.*",
                     "application/vnd.oasis.opendocument.*")
    max_bytes = 64 << 20

    def __init__(self, options: dict[str, str] | None = None, *, content_type: str = "", path: str = "") -> None:
        super().__init__(options, content_type=content_type, path=path)
        self._unmasked = self.options.get("unmasked", "") not in ("", "0", "false", "no")
        self._kind: str | None = None
        self._pending = bytearray()
        self._base = 0  # byte offset of _pending in the content
        self._tallies: dict[str, Finding] = {}

    def feed(self, data: bytes) -> None:
        self._pending += data
        if self._kind is None:
            if len(self._pending) < 512:
                return  # too little to sniff yet
            self._kind = extract.kind(self.content_type, self.path, bytes(self._pending[:4096]))
        if self._kind in extract.STRUCTURED:
            if self.max_bytes is not None and len(self._pending) > self.max_bytes:
                del self._pending[self.max_bytes:]
            return
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
            if self._kind is None:
                self._kind = extract.kind(self.content_type, self.path, bytes(self._pending[:4096]))
            if self._kind in extract.STRUCTURED:
                found = extract.extract(bytes(self._pending), self.content_type, self.path)
                self._tally(detect(found.text, found.fields), found.text, None)
            else:
                self._window(bytes(self._pending))
            self._pending.clear()
        findings = sorted(self._tallies.values(), key=lambda f: f.category)
        return Analysis(findings=findings, tags=[f"pii:{f.category}" for f in findings])

    def _window(self, raw: bytes) -> None:
        text = extract.decode(raw)
        self._tally(detect(text), text, self._base)
        self._base += len(raw)

    def _tally(self, hits: list[Hit], text: str, base: int | None) -> None:
        """Counts and first occurrences of ``hits``; offsets in bytes from ``base``, in characters if None."""
        # Counted and ordered in C: a dense file gives tens of thousands of hits. The sort is stable, so of
        # hits at one offset the first reported stays first; a dict built backwards keeps each category's first.
        counts = Counter(map(itemgetter(0), hits))
        first = {hit[0]: hit for hit in reversed(sorted(hits, key=itemgetter(2)))}
        for category, (_, value, start, _, confidence) in first.items():
            known = self._tallies.get(category)
            if known is not None:
                self._tallies[category] = Finding(category, known.sample, known.offset,
                                                  max(known.confidence, confidence), known.count + counts[category])
                continue
            offset = start if base is None else base + len(text[:start].encode("utf-8"))
            keep_start, keep_end = _KEEP.get(category, (1, 0))
            sample = value if self._unmasked else mask(value, keep_start=keep_start, keep_end=keep_end)
            self._tallies[category] = Finding(category, sample, offset, confidence, counts[category])
