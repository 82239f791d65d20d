"""Identifiers with a fixed shape, most with a checksum: found by pattern, kept only when valid.

The checksums and per-country rules come from python-stdnum, which maintains them for each
country; the patterns here only find candidates. A value with a bad checksum is a decoy, not a
finding. Offsets are character offsets into the text given.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from stdnum import iban, luhn
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.it import codicefiscale
from stdnum.us import ssn


@dataclass(frozen=True)
class Match:
    category: str
    value: str
    start: int
    confidence: float


def _digits(value: str) -> str:
    return re.sub(r"[ -]", "", value)


def _known_card(number: str) -> bool:
    """Luhn-valid, of a length its issuer uses, under an issuer identification range in use."""
    n, head2, head4 = len(number), int(number[:2]), int(number[:4])
    if number[0] == "4":
        return n in (13, 16, 19)  # Visa
    if 51 <= head2 <= 55 or 2221 <= head4 <= 2720:
        return n == 16  # Mastercard
    if head2 in (34, 37):
        return n == 15  # American Express
    if number.startswith("6011") or 644 <= int(number[:3]) <= 649 or head2 == 65:
        return 16 <= n <= 19  # Discover
    if 3528 <= head4 <= 3589:
        return 16 <= n <= 19  # JCB
    if 300 <= int(number[:3]) <= 305 or head2 in (36, 38, 39):
        return 14 <= n <= 19  # Diners Club
    if head2 == 62:
        return 16 <= n <= 19  # UnionPay
    return False


def _card(value: str) -> bool:
    number = _digits(value)
    return 13 <= len(number) <= 19 and luhn.is_valid(number) and _known_card(number)


_NINO_BAD_PREFIXES = {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}


def _nino(value: str) -> bool:
    return value.replace(" ", "")[:2] not in _NINO_BAD_PREFIXES


def _ip(value: str) -> bool:
    """A valid address that can point at someone: not loopback, unspecified, multicast or reserved."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    return not (address.is_loopback or address.is_unspecified or address.is_multicast or address.is_reserved
                or address.is_link_local)


# category, pattern, validator, confidence
_RULES: list[tuple[str, str, Callable[[str], bool], float]] = [
    ("credit_card", r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])", _card, 0.99),
    ("iban", r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b", lambda v: iban.is_valid(v.replace(" ", "")), 0.99),
    ("us_ssn", r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])", ssn.is_valid, 0.85),
    ("uk_nino", r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b", _nino, 0.8),
    ("fr_nir", r"(?<!\d)[12] ?\d{2} ?(?:0[1-9]|1[0-2]|[2-9]\d) ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}(?!\d)",
     lambda v: nir.is_valid(v.replace(" ", "")), 0.99),
    ("de_tax_id", r"(?<!\d)\d{2} ?\d{3} ?\d{3} ?\d{3}(?!\d)", lambda v: idnr.is_valid(v.replace(" ", "")), 0.95),
    ("es_dni", r"\b\d{8}-?[A-Z]\b", dni.is_valid, 0.99),
    ("es_dni", r"\b[XYZ]-?\d{7}-?[A-Z]\b", nie.is_valid, 0.99),
    # Not part of a longer dotted number (a version, an OID).
    ("ipv4", r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.]|\.\d)", _ip, 0.8),
    ("ipv6", r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])", _ip, 0.9),
    ("it_fiscal_code", r"\b[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-EHLMPR-T][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]\b",
     codicefiscale.is_valid, 0.99),
]
_COMPILED = [(category, re.compile(pattern), valid, confidence) for category, pattern, valid, confidence in _RULES]


def scan(text: str) -> Iterator[Match]:
    """Every valid identifier in ``text``, in rule order, then by position."""
    for category, pattern, valid, confidence in _COMPILED:
        for m in pattern.finditer(text):
            value = m.group()
            if valid(value):
                yield Match(category, value, m.start(), confidence)
