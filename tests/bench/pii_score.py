"""Scoring of PII predictions against the labels of a corpus (tests/bench/pii_corpus.py), file by file.

Within a file, predicted (category, value) pairs are compared with the labelled ones after each side
is normalised for its category: identifiers and phone numbers lose their spacing (phone numbers are
compared in E.164 form where the file's region lets phonenumbers read them), e-mail addresses their
case, dates become ISO dates. Names and postal addresses match when their words overlap enough (token
Jaccard ≥ 0.5): a detector that finds "12 rue Morel, 75001 Paris" of a three-line address found it.
Special categories (GDPR Art. 9) are scored per file: the file holds one or not.
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

import phonenumbers
from dateutil import parser as dateparser
from pii_corpus import CHECKSUM_CATEGORIES, Label

FUZZY = ("person", "postal_address")
JACCARD = 0.5
#: What dateutil takes a missing day, month or year from: no birth date is written without them.
_NO_DAY = datetime(1111, 11, 11)


@dataclass(frozen=True)
class Prediction:
    file: str
    category: str
    value: str


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp else 0.0

    def __iadd__(self, other: Counts) -> Counts:
        self.tp, self.fp, self.fn = self.tp + other.tp, self.fp + other.fp, self.fn + other.fn
        return self


def compact(value: str) -> str:
    return re.sub(r"[\s.\-]", "", value).upper()


def _iso_date(value: str, region: str) -> str:
    text = value.strip()
    if m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text):
        try:
            return date(int(m[1]), int(m[2]), int(m[3])).isoformat()
        except ValueError:
            return text
    try:
        parsed = dateparser.parse(text, dayfirst=region != "US", fuzzy=True, default=_NO_DAY)
    except (ValueError, OverflowError):
        return text.lower()
    return parsed.date().isoformat()


def normalise(category: str, value: str, region: str = "") -> str:
    """The form in which a value of ``category``, found in a file of ``region``, is compared."""
    if category == "email":
        return value.strip().strip("<>").lower()
    if category == "phone":
        try:
            number = phonenumbers.parse(value, region or None)
            if phonenumbers.is_possible_number(number):
                return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        except phonenumbers.NumberParseException:
            pass
        return re.sub(r"\D", "", value)
    if category in ("ipv4", "ipv6"):
        try:
            return str(ipaddress.ip_address(value.strip().strip("[]")))
        except ValueError:
            return value.strip().lower()
    if category == "date_of_birth":
        return _iso_date(value, region)
    if category in FUZZY:
        return " ".join(re.findall(r"\w+", value.casefold()))
    if category.startswith("special:"):
        return ""
    return compact(value)


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def _fuzzy(labelled: set[str], predicted: set[str]) -> Counts:
    """Each prediction matches the labelled value it overlaps most, if enough; more matches of one are one."""
    labels = [(value, set(value.split())) for value in labelled]
    matched: set[str] = set()
    counts = Counts()
    for value in predicted:
        words = set(value.split())
        best = max(labels, key=lambda label: _jaccard(words, label[1]), default=None)
        if best is None or _jaccard(words, best[1]) < JACCARD:
            counts.fp += 1
        elif best[0] not in matched:
            matched.add(best[0])
            counts.tp += 1
    counts.fn = len(labelled) - len(matched)
    return counts


def score(labels: Iterable[Label], predictions: Iterable[Prediction], regions: Mapping[str, str] | None = None,
          files: set[str] | None = None) -> dict[str, Counts]:
    """TP, FP and FN by category, over ``files`` (all that are labelled or predicted, if None)."""
    regions = regions or {}
    truth: dict[tuple[str, str], set[str]] = defaultdict(set)
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for side, rows in ((truth, labels), (found, predictions)):
        for row in rows:
            if files is None or row.file in files:
                side[(row.file, row.category)].add(normalise(row.category, row.value, regions.get(row.file, "")))
    counts: dict[str, Counts] = defaultdict(Counts)
    for key in truth.keys() | found.keys():
        labelled, predicted = truth.get(key, set()), found.get(key, set())
        if key[1] in FUZZY:
            counts[key[1]] += _fuzzy(labelled, predicted)
        else:
            counts[key[1]] += Counts(len(labelled & predicted), len(predicted - labelled), len(labelled - predicted))
    return dict(counts)


def micro_f1(counts: Mapping[str, Counts]) -> float:
    total = Counts()
    for c in counts.values():
        total += c
    return total.f1


def macro_f1(counts: Mapping[str, Counts], categories: Iterable[str] | None = None) -> float:
    """The mean F1 of ``categories`` (all scored, if None), of those the scope labels or predicts."""
    chosen = [counts[c] for c in (categories if categories is not None else counts) if c in counts]
    return sum(c.f1 for c in chosen) / len(chosen) if chosen else 0.0


def checksum_macro_f1(counts: Mapping[str, Counts]) -> float:
    return macro_f1(counts, CHECKSUM_CATEGORIES)


def decoys_flagged(decoys: Iterable[tuple[str, str]], predictions: Iterable[Prediction]) -> int:
    """How many planted (file, value) look-alikes a detector reported, under any category."""
    reported = {(p.file, compact(p.value)) for p in predictions}
    return sum((file, compact(value)) in reported for file, value in set(decoys))
