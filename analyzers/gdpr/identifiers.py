"""Identifiers with a fixed shape, most with a checksum: found by shape, kept only when valid.

Candidates come from two cheap scans, one for runs that start with a digit (or ``+``/``(``) and one
for runs that start with two capitals; each candidate is then tried against every category whose
shape it fits, anchored at its start, so one run can be both a French NIR and a card number. The
per-country rules come from python-stdnum (IBAN structures), or give its verdicts
(:mod:`.national_ids`); the checks run on every candidate of a dense file (Luhn, mod 97) are done
here, because stdnum's cost ten times as much. A value with a bad checksum is a decoy, not a finding.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Iterator

from stdnum import iban as _iban

from . import national_ids, triggers
from .match import Hit

Spans = list[tuple[int, int]]

#: Where a candidate may start; a run is cut at anything that cannot be part of a number.
NUMERIC_RUN = re.compile(r"[+(]?\d[\d ()./-]{5,}\d")
UPPER_RUN = re.compile(r"[A-Z][A-Z0-9][A-Z0-9 -]{6,}")
ISO_DATE = re.compile(r"(?:19|20)\d\d-[01]\d-[0-3]\d")

_DOUBLED = str.maketrans("0123456789", "0246813579")  # a digit doubled, its digits summed


def luhn(digits: str) -> bool:
    """The Luhn check of a string of digits."""
    if digits.isascii():  # then a digit's value is its code less 48, and the bytes are summed in C
        return (sum(digits[-1::-2].encode()) + sum(digits[-2::-2].translate(_DOUBLED).encode())
                - 48 * len(digits)) % 10 == 0
    return (sum(map(int, digits[-1::-2])) + sum(map(int, digits[-2::-2].translate(_DOUBLED)))) % 10 == 0


def _known_card(number: str) -> bool:
    """Of a length its issuer uses, under an issuer identification range in use."""
    n, head4 = len(number), int(number[:4])
    head2, head3 = head4 // 100, head4 // 10
    if number[0] == "4":
        return n in (13, 16, 19)  # Visa
    if 51 <= head2 <= 55 or 2221 <= head4 <= 2720:
        return n == 16  # Mastercard
    if head2 in (34, 37):
        return n == 15  # American Express
    if head4 == 6011 or 644 <= head3 <= 649 or head2 == 65:
        return 16 <= n <= 19  # Discover
    if 3528 <= head4 <= 3589:
        return 16 <= n <= 19  # JCB
    if 300 <= head3 <= 305 or head2 in (36, 38, 39):
        return 14 <= n <= 19  # Diners Club
    if head2 == 62:
        return 16 <= n <= 19  # UnionPay
    return False


def card(value: str) -> bool:
    number = value.replace(" ", "").replace("-", "")
    return 13 <= len(number) <= 19 and _known_card(number) and luhn(number)


_IBAN_LETTERS = {ord(c): str(ord(c) - 55) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


@functools.cache
def _bban(country: str) -> re.Pattern[str] | None:
    """The structure of a country's account numbers, from stdnum's IBAN registry."""
    info = _iban._ibandb.info(country + "00")[0][1]
    return _iban._struct_to_re(info["bban"]) if info.get("bban") else None


def iban(value: str) -> bool:
    number = value.replace(" ", "")
    bban = _bban(number[:2])
    return (bban is not None and bban.fullmatch(number[4:]) is not None
            and int((number[4:] + number[:4]).translate(_IBAN_LETTERS)) % 97 == 1)


_NINO_BAD_PREFIXES = {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}


def _nino(value: str) -> bool:
    return value[:2] not in _NINO_BAD_PREFIXES


def _ip(value: str) -> bool:
    """A valid address that can point at someone: not loopback, unspecified, multicast or reserved."""
    if "." in value and ":" not in value:
        return _ipv4(value)
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    return not (address.is_loopback or address.is_unspecified or address.is_multicast or address.is_reserved
                or address.is_link_local)


def _ipv4(value: str) -> bool:
    """:func:`_ip` for a dotted quad, without ``ipaddress`` (ten times the cost, on a value a log line)."""
    parts = value.split(".")
    if len(parts) != 4 or any(len(p) > 1 and p[0] == "0" for p in parts):
        return False  # a leading zero is ambiguous (octal in some parsers), and ipaddress refuses it
    a, b, c, d = map(int, parts)
    if max(a, b, c, d) > 255:
        return False
    # 0.0.0.0 unspecified, 127/8 loopback, 169.254/16 link-local, 224/4 multicast, 240/4 reserved
    return not ((a, b, c, d) == (0, 0, 0, 0) or a == 127 or (a == 169 and b == 254) or a >= 224)


def _compact(check: Callable[[str], bool]) -> Callable[[str], bool]:
    return lambda value: check(value.replace(" ", ""))


Rule = tuple[str, re.Pattern[str], Callable[[str], bool], float]


def _rules(rules: list[tuple[str, str, Callable[[str], bool], float]]) -> list[Rule]:
    return [(category, re.compile(pattern), valid, confidence) for category, pattern, valid, confidence in rules]


#: Tried at the start of each numeric run: category, shape (ending where the value must end), check, confidence.
NUMERIC_RULES = _rules([
    ("credit_card",
     r"(?:\d{13,19}|\d{4}(?:([ -])\d{4}\1\d{4}\1(?:\d{4}\1\d{3}|\d{1,7})|[ -]\d{6}[ -]\d{4,5}))(?![\d-])", card, 0.99),
    ("us_ssn", r"\d{3}-\d{2}-\d{4}(?![\d-])", national_ids.us_ssn, 0.85),
    ("fr_nir", r"[12] ?\d{2} ?(?:0[1-9]|1[0-2]|[2-9]\d) ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}(?!\d)",
     _compact(national_ids.fr_nir), 0.99),
    ("de_tax_id", r"\d{2} ?\d{3} ?\d{3} ?\d{3}(?!\d)", _compact(national_ids.de_tax_id), 0.95),
    ("es_dni", r"\d{8}-?[A-Z](?![A-Za-z0-9])", national_ids.es_dni, 0.99),
    # Not part of a longer dotted number (a version, an OID).
    ("ipv4", r"(?:\d{1,3}\.){3}\d{1,3}(?![\d.]|\.\d)", _ip, 0.8),
])

#: Tried at the start of each run of capitals and digits.
UPPER_RULES = _rules([
    ("iban", r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])", iban, 0.99),
    ("uk_nino", r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])", _nino, 0.8),
    ("es_dni", r"[XYZ]-?\d{7}-?[A-Z](?![A-Za-z0-9])", national_ids.es_nie, 0.99),
    ("it_fiscal_code",
     r"[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-EHLMPR-T][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z](?![A-Za-z0-9])",
     national_ids.it_fiscal_code, 0.99),
])

_IPV6_RUN = re.compile(r"[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:]{2,}")
_IPV6 = re.compile(r"(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])")


_CARD, _SSN, _NIR, _TAX_ID, _DNI, _IPV4 = NUMERIC_RULES
#: What a run of digits holds besides its digits; a ``+`` only ever leads it.
SEPARATORS = str.maketrans("", "", " ()./-+")


def _try_rule(rule: Rule, text: str, start: int, out: list[Hit]) -> None:
    category, shape, valid, confidence = rule
    m = shape.match(text, start)
    if m is not None and valid(m.group()):
        out.append((category, m.group(), start, m.end(), confidence))


def try_numeric(text: str, start: int, run: str, digits: int, out: list[Hit]) -> None:
    """Cards, SSNs, NIRs, Steuer-IDs, DNIs and IPv4 addresses at ``start``, where :data:`NUMERIC_RUN` found
    ``run`` of ``digits`` digits. Each shape is tried only on runs with its digits and separators: a dense text
    holds a run a line."""
    if digits >= 13 and run[:4].isdigit():
        _try_rule(_CARD, text, start, out)
    if run[3:4] == "-" and digits >= 9:
        _try_rule(_SSN, text, start, out)
    if run[0] in "12" and (digits >= 15 or text[start + len(run):start + len(run) + 1] in ("A", "B")):
        _try_rule(_NIR, text, start, out)
    # 12 345..., 12345...: not a dotted number; and eleven digits exactly when written without spaces (not a card)
    if digits >= 11 and run[3:5].isdigit() and run[:2].isdigit() and (digits == 11 or not run.isdigit()):
        _try_rule(_TAX_ID, text, start, out)
    if len(run) == 8 and (text[start + 8:start + 9] == "-" or "A" <= text[start + 8:start + 9] <= "Z"):
        _try_rule(_DNI, text, start, out)
    if digits <= 12 and run.count(".") == 3:
        _try_rule(_IPV4, text, start, out)


def scan_numeric(text: str, starts: Spans, out: list[Hit]) -> None:
    """Cards, SSNs, NIRs, Steuer-IDs, DNIs and IPv4 addresses at ``starts`` (the triggers of runs of digits),
    appended to ``out``."""
    for start, run in runs(text, starts):
        if run[0] not in "+(":
            try_numeric(text, start, run, len(run.translate(SEPARATORS)), out)


def runs(text: str, starts: Spans) -> Iterator[tuple[int, str]]:
    """The runs of digits and separators (:data:`NUMERIC_RUN`) that start at ``starts`` (the triggers of
    :mod:`.triggers`, each ending seven characters past a run's first digit) and not inside a word, a dotted
    number or a run already read. Not those that start with an ISO date (perhaps with its hour): a log holds one
    a line, and a date has no identifier's shape and is no telephone number."""
    taken = -1
    match = NUMERIC_RUN.match
    iso_date = ISO_DATE.match
    for _, end in starts:
        start = end - 7  # the run's first digit, or the sign or bracket in front of it
        if start and text[start - 1] in "+(":
            start -= 1
        if start < taken:
            continue
        m = match(text, start)
        if m is None:
            continue
        taken = m.end()
        if start and (text[start - 1].isalnum() or text[start - 1] in ".-"):
            continue
        run = m.group()
        if run[4:5] == "-" and iso_date(run):
            continue
        yield start, run


def scan_upper(text: str, starts: Spans, out: list[Hit]) -> None:
    """IBANs, NINOs, NIEs and codici fiscali at ``starts`` (the triggers of runs of capitals and digits),
    appended to ``out``."""
    for start, _ in starts:  # each word of a run may start one ("IBAN DE89 ...")
        if not text[start].isalnum():
            start += 1
        if not (start and text[start - 1].isalnum()):
            _try_upper(text, start, out)


_IBAN, _NINO, _NIE, _FISCAL = UPPER_RULES


def _try_upper(text: str, start: int, out: list[Hit]) -> None:
    """:data:`UPPER_RULES` at ``start``, each only where the characters its shape needs are: most runs of
    capitals are words, and a shape that cannot match costs as much to try as one that does."""
    third = text[start + 2:start + 3]
    if third.isdigit():
        _try_rule(_IBAN, text, start, out)
    if third.isdigit() or third == " ":
        _try_rule(_NINO, text, start, out)
    if text[start] in "XYZ":
        _try_rule(_NIE, text, start, out)
    if text[start:start + 6].isalpha():
        _try_rule(_FISCAL, text, start, out)


def scan_ipv6(text: str, starts: Spans, out: list[Hit]) -> None:
    """IPv6 addresses at ``starts`` (the triggers of runs of hexadecimal digits and colons), appended to ``out``."""
    taken = -1
    for start, _ in starts:
        if text[start] not in _HEX_COLON:
            start += 1
        if start < taken or (start and (text[start - 1].isalnum() or text[start - 1] == ":")):
            continue
        m = _IPV6.match(text, start)
        if m is not None:
            taken = m.end()
            if _ipv6(m.group()):
                out.append(("ipv6", m.group(), start, m.end(), 0.9))


_HEX_COLON = frozenset("0123456789abcdefABCDEF:")


def _ipv6(value: str) -> bool:
    """:func:`_ip` for a match of :data:`_IPV6` (hextets of four digits at most), without ``ipaddress``.

    Of the address space, ``ipaddress`` reserves all but 2000::/3 (global unicast), fc00::/7 (unique
    local) and fe80::/9, and of that last fe80::/10 is link-local: so an address that is well formed
    names someone's host exactly when its first hextet is in one of those ranges."""
    parts = value.split(":")
    n = len(parts)
    if not 3 <= n <= 9:
        return False
    skips = [i for i in range(1, n - 1) if not parts[i]]
    if len(skips) > 1:
        return False
    if skips:  # "::" may also take the leading or trailing colon, and stands for one hextet at least
        skip = skips[0]
        if (not parts[0] and skip != 1) or (not parts[-1] and skip != n - 2) \
                or n - 1 - (not parts[0]) - (not parts[-1]) > 7:
            return False
    elif n != 8 or not parts[0] or not parts[-1]:
        return False
    first = int(parts[0], 16) if parts[0] else 0
    return 0x2000 <= first <= 0x3FFF or 0xFC00 <= first <= 0xFDFF or 0xFEC0 <= first <= 0xFEFF


def scan(text: str) -> list[Hit]:
    """Every valid identifier in ``text``."""
    found = triggers.find(text)
    out: list[Hit] = []
    scan_numeric(text, found["numeric"], out)
    scan_upper(text, found["upper"], out)
    scan_ipv6(text, found["ipv6"], out)
    return out
