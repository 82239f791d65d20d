"""Every category of personal data in one text.

One pass finds where every detector's candidates may start (:mod:`.triggers`); each detector then
reads its candidates there and checks them in Python against every category whose shape they fit.
One run of digits serves all the numeric categories and telephone numbers at once.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import context, emails, identifiers, keys, people, phones, triggers
from .extract import Field
from .match import Hit


def detect(text: str, fields: Iterable[Field] = ()) -> list[Hit]:
    """Every occurrence of personal data in ``text``, as (category, value, start, end, confidence).

    ``fields`` are the spans of ``text`` that are values under a key (a CSV column, a JSON key):
    the key tells what a name, an address, a birth date or a bare telephone number is."""
    out: list[Hit] = []
    found = triggers.find(text)
    emails.scan(text, found["email"], out)
    for hit in list(out):
        people.display_name(text, hit[2], out)
    separators = identifiers.SEPARATORS
    try_numeric, try_run = identifiers.try_numeric, phones.try_run
    for start, run in identifiers.runs(text, found["numeric"]):
        digits = run.translate(separators)
        if run[0] not in "+(":
            try_numeric(text, start, run, len(digits), out)
        try_run(text, start, run, digits, out)
    identifiers.scan_upper(text, found["upper"], out)
    identifiers.scan_ipv6(text, found["ipv6"], out)
    context.scan_birth_dates(text, found["birth"], out)
    context.scan_special(text, found["special"], out)
    people.scan_names(text, found["greeting"], found["name_line"], out)
    people.scan_addresses(text, found["street_start"], found["house_number"], found["street_end"], out)
    births = {hit[2] for hit in out if hit[0] == "date_of_birth"}  # under a key, and after a word too
    for key, start, end in fields:
        role = keys.role(key)
        if role is not None and not (role == "birth" and start in births):
            _FIELDS[role](text[start:end], start, out)
    return out


_FIELDS = {"name": people.name_field, "address": people.address_field, "birth": context.birth_date_field,
           "phone": phones.field}
