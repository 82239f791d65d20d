"""What the detectors report: one occurrence of one category of personal data in a text."""

from __future__ import annotations

from dataclasses import dataclass

#: The detectors' own form of a :class:`Match`, a plain tuple in the same field order: a dense text
#: holds tens of thousands of them per megabyte, and a tuple costs a fraction of a dataclass.
Hit = tuple[str, str, int, int, float]


@dataclass(frozen=True, slots=True)
class Match:
    """One occurrence: ``text[start:end] == value``, offsets in characters of the text searched."""

    category: str
    #: The matched text itself, unmasked.
    value: str
    start: int
    end: int
    #: From 0 to 1: checksummed identifiers near 1, context hints (Art. 9 keywords) at most 0.5.
    confidence: float
