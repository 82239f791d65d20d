"""The ``gdpr`` analyzer: which categories of personal data a content holds, how often, and where first.

:func:`find` is the detection itself, for any caller: every occurrence of personal data in a
content, after its text is extracted (CSV, JSON, e-mail, office documents); the analyzer
(:class:`.analyzer.GDPR`) tallies the same occurrences into masked findings.
"""

from __future__ import annotations

from .detect import detect
from .extract import extract as _extract
from .match import Match

__all__ = ["Match", "find"]


def find(data: bytes, content_type: str = "", path: str = "") -> list[Match]:
    """Every occurrence of personal data in ``data``, unmasked, with offsets in its extracted text.

    ``content_type`` and ``path`` choose how the text is extracted (see :func:`.extract.extract`);
    for plain text the extracted text is ``data`` decoded as UTF-8."""
    extracted = _extract(data, content_type, path)
    return [Match(*hit) for hit in detect(extracted.text, extracted.fields)]
