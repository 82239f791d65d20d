"""Every category of personal data in one text: the detectors run in turn, each over the whole text.

Each detector makes one pass with a pattern that ``re`` can skip through quickly (one starting with
a literal or a character class, never with a look-behind or a word boundary); candidates are then
checked in Python against every category whose shape they fit. One run of digits serves all the
numeric categories and telephone numbers at once.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import context, emails, identifiers, keys, people, phones
from .match import Hit

#: A value under a key, in the text searched: (key, start, end).
Field = tuple[str, int, int]


def _numeric(text: str, out: list[Hit]) -> None:
    for run in identifiers.NUMERIC_RUN.finditer(text):
        start = run.start()
        before = text[start - 1] if start else ""
        if before.isalnum() or before in ".-":
            continue
        value = run.group()
        if value[0] not in "+(":
            identifiers.try_numeric(text, start, value, out)
        phones.try_run(text, start, value, out)


def detect(text: str, fields: Iterable[Field] = ()) -> list[Hit]:
    """Every occurrence of personal data in ``text``, as (category, value, start, end, confidence).

    ``fields`` are the spans of ``text`` that are values under a key (a CSV column, a JSON key):
    the key tells what a name, an address, a birth date or a bare telephone number is."""
    out: list[Hit] = []
    emails.scan(text, out)
    for hit in list(out):
        people.display_name(text, hit[2], out)
    _numeric(text, out)
    identifiers.scan_upper(text, out)
    identifiers.scan_ipv6(text, out)
    lower = context.lowered(text)
    context.scan_birth_dates(text, lower, out)
    context.scan_special(text, lower, out)
    people.scan_names(text, out)
    people.scan_addresses(text, out)
    for key, start, end in fields:
        role = keys.role(key)
        if role is not None:
            _FIELDS[role](text[start:end], start, out)
    return out


_FIELDS = {"name": people.name_field, "address": people.address_field, "birth": context.birth_date_field,
           "phone": phones.field}
