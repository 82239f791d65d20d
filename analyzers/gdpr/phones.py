"""Telephone numbers, checked against the phonenumbers library's per-region metadata.

Numbers in international form (``+CC`` or ``00CC``) are checked for any country; numbers in national
form for the regions of :data:`REGIONS`, and only when written with the region's trunk prefix or with
separators, so a bare run of digits (an order number, a timestamp) is not a phone number. The check
is phonenumbers' own ``is_valid_number`` (the region's general pattern, then one of its number
types), run on the metadata directly: ``parse`` costs some 25 µs a number, a dense file holds one
per line, and the candidates here are already split into country code and national number.
"""

from __future__ import annotations

import functools
import re

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata

from .match import Hit

#: Regions whose numbers are recognised in national form, most common first.
REGIONS = ("US", "GB", "FR", "DE", "ES", "IT", "NL")
#: The number types a valid number must be one of, the common ones first: the first that fits ends the check.
_TYPES = ("fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "voip", "personal_number", "pager", "uan",
          "voicemail")
_NOT_DIGIT = re.compile(r"\D")
_SHAPE = re.compile(r"(?:\+|00)?\(?\d{1,5}\)?(?:(?:[ ./-]|[ ]?\(0\)[ ]?)?\(?\d{1,5}\)?){1,7}")
#: Dates, which have a number's digits and separators: 2024-05-12, 12/05/2024, 12.05.2024.
_DATE = re.compile(r"(?:19|20)\d\d-[01]\d-[0-3]\d|[0-3]?\d[./][01]?\d[./](?:19|20)\d\d")
_DOTTED_QUAD = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")

#: A region's check: the lengths of its numbers (none if any), its general pattern, and its trunk prefix ('' if none).
Region = tuple[frozenset[int], re.Pattern[str], str]


@functools.cache
def _region(region: str) -> Region | None:
    """A region's :data:`Region`; its number types are :func:`_types`."""
    md = (PhoneMetadata.metadata_for_region(region) if region != "001" else None)
    if md is None or md.general_desc is None or md.general_desc.national_number_pattern is None:
        return None
    prefix = md.national_prefix_for_parsing or md.national_prefix or ""
    return (frozenset(md.general_desc.possible_length or ()), re.compile(md.general_desc.national_number_pattern),
            prefix if prefix.isdigit() else "")


def _of_length(lengths: frozenset[int]) -> str:
    """A lookahead that holds on a number of one of ``lengths`` (on any number when there are none)."""
    return f"(?=(?:{'|'.join(f'.{{{n}}}' for n in sorted(lengths))})\\Z)" if lengths else ""


@functools.cache
def _types(region: str, lengths: frozenset[int]) -> re.Pattern[str]:
    """One pattern for all of a region's number types, each with its lengths (``lengths``, the region's, when it
    has none of its own): a dense file checks a number a line, and a pattern a type costs a call each. Compiled
    only for a region some number's general pattern fits: a +1 number not of the US is tried in 24 regions."""
    md = PhoneMetadata.metadata_for_region(region)
    types = [_of_length(frozenset(desc.possible_length or ()) or lengths) + f"(?:{desc.national_number_pattern})"
             for desc in (getattr(md, name, None) for name in _TYPES)
             if desc is not None and desc.national_number_pattern is not None]
    return re.compile("|".join(types) or "(?!)")


def valid_in(nsn: str, region: str) -> bool:
    """Whether ``nsn``, a national significant number, is a valid number of ``region``."""
    info = _region(region)
    return (info is not None and (not info[0] or len(nsn) in info[0]) and info[1].fullmatch(nsn) is not None
            and _types(region, info[0]).fullmatch(nsn) is not None)


def _international(digits: str) -> bool:
    for size in (1, 2, 3):
        regions = COUNTRY_CODE_TO_REGION_CODE.get(int(digits[:size]))
        if regions:
            nsn = digits[size:]
            if regions == ("001",):  # non-geographic numbers (+800...): rare, left to phonenumbers
                try:
                    return phonenumbers.is_valid_number(phonenumbers.parse("+" + digits))
                except phonenumbers.NumberParseException:
                    return False
            for region in regions:
                info = _region(region)
                if info and (valid_in(nsn, region) or (info[2] and nsn.startswith(info[2])
                                                       and valid_in(nsn[len(info[2]):], region))):
                    return True
            return False
    return False


@functools.cache
def _national_regions() -> list[tuple[str, str]]:
    """(region, trunk prefix) of each of :data:`REGIONS` whose metadata is known."""
    return [(region, info[2]) for region in REGIONS if (info := _region(region)) is not None]


def _national(digits: str, separated: bool) -> bool:
    key = (digits[0], len(digits), separated)
    tries = _NATIONAL_TRIES.get(key)
    if tries is None:
        tries = _NATIONAL_TRIES[key] = _national_tries(*key)
    return any(valid_in(digits[cut:], region) for region, cut in tries)


def _national_tries(first: str, size: int, separated: bool) -> list[tuple[str, int]]:
    """(region, length of the trunk prefix to cut) of each region a national number of ``size`` digits that
    starts with ``first`` may belong to; the trunk prefixes are one digit, so the first digit tells them."""
    tries = []
    for region, prefix in _national_regions():
        if prefix and first == prefix:
            cut = len(prefix)
        elif separated and (not prefix or region == "US"):
            cut = 0
        else:
            continue
        info = _region(region)
        if info is not None and (not info[0] or size - cut in info[0]):
            tries.append((region, cut))
    return tries


#: :func:`_national_tries` of each (first digit, length, separated) met: a dense file holds a number a line.
_NATIONAL_TRIES: dict[tuple[str, int, bool], list[tuple[str, int]]] = {}


def check(candidate: str) -> bool:
    """Whether ``candidate``, as written, is a telephone number."""
    # The length first: most candidates that fail are cards or dates, whose digits alone rule them out.
    if candidate[0] == "+":
        digits = _NOT_DIGIT.sub("", candidate.replace("(0)", "", 1))
        return 7 <= len(digits) <= 15 and _international(digits)
    return _check_national(candidate, _NOT_DIGIT.sub("", candidate))


def _check_national(candidate: str, digits: str) -> bool:
    """:func:`check` of a ``candidate`` without a ``+``, whose ``digits`` are known."""
    if digits.startswith("00"):
        return 9 <= len(digits) <= 17 and not _DOTTED_QUAD.fullmatch(candidate) and _international(digits[2:])
    separated = len(digits) != len(candidate)
    return (7 <= len(digits) <= 13 and (separated or digits[0] == "0") and not _DATE.fullmatch(candidate)
            and not _DOTTED_QUAD.fullmatch(candidate) and _national(digits, separated))


_SSN_SHAPE = re.compile(r"\d{3}-\d{2}-\d{4}")
#: A run that :data:`_SHAPE` reads whole (groups of digits, one separator between, eight groups at most):
#: the number as written is then the run itself, and its digits are known already.
_PLAIN = re.compile(r"\d{1,5}(?:[ ./-]?\d{1,5}){0,7}")


def try_run(text: str, start: int, run: str, digits: str, out: list[Hit]) -> None:
    """A number at ``start``, where a run of digits and separators (``run``, of digits ``digits``) starts, appended
    to ``out`` if valid; the run does not start with an ISO date (:func:`.identifiers.runs` skips those).

    Not one: a run of fewer than seven digits, the fraction of a time (``12:04:06.412366``), a value that
    runs on into letters or digits (a hexadecimal identifier), or the 3-2-4 shape of a US SSN."""
    if len(digits) == len(run) and (run[0] != "0" or len(run) > 17):  # the number is the run, and check() fails
        return
    if ("." in run or "/" in run) and (_DOTTED_QUAD.fullmatch(run) or _DATE.fullmatch(run)):
        return  # an IPv4 address or a date, read whole: a log holds one a line, and check() refuses both
    if len(digits) < 7 or (start > 1 and text[start - 1] == ":" and text[start - 2].isdigit()):
        return
    # A run that is a sign and plain digit groups is read whole by :data:`_SHAPE` too, and then check()
    # comes down to its digits: most international numbers are written so.
    international = run[0] == "+" and _PLAIN.fullmatch(run, 1) is not None
    plain = not international and _PLAIN.fullmatch(run) is not None
    if international:
        if not 7 <= len(digits) <= 15:
            return
        value = run
    elif plain:
        if len(digits) > (17 if digits.startswith("00") else 13):  # a card, an account number
            return
        value = run
    else:
        m = _SHAPE.match(text, start)
        if m is None:
            return
        value = m.group().rstrip(" ./-(")
        if value.count("(") != value.count(")"):
            value = value.rstrip(")")
            if value.count("(") != value.count(")"):
                return
    end = start + len(value)
    if end < len(text) and text[end].isalnum() and not (text[end] in "xX" and text[end + 1:end + 2].isdigit()):
        return  # but an extension may follow: 363.717.0669x0743
    if text[end:end + 1] in ("-", ".", "/") and text[end + 1:end + 2].isalpha():
        return  # a UUID's first group: 06055322-c1b4-...
    if _SSN_SHAPE.fullmatch(value):
        return
    if _international(digits) if international else _check_national(value, digits) if plain else check(value):
        out.append(("phone", value, start, end, 0.9))


def field(value: str, start: int, out: list[Hit]) -> None:
    """A value under a telephone key: there, and only there, a bare run of digits without a trunk prefix
    (``9748833788``) is a number too; any other form was found in the text already."""
    number = value.strip()
    if number.isdigit() and number[0] != "0" and 7 <= len(number) <= 13 and _national(number, True):
        offset = start + value.index(number)
        out.append(("phone", number, offset, offset + len(number), 0.8))
