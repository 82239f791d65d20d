"""Names of people and postal addresses, where their context says so.

There is no offline way to tell a name from an ordinary capitalised word in running text, so a
name is only reported where the text frames it: a greeting ("Dear Jane Doe", "Bonjour M. Dupont",
"Sehr geehrte Frau Müller"), a ``Name: Jane Doe`` line, an e-mail display name
(``"Jane Doe" <jane@example.com>``), or a value under a key that holds names (a CSV column, a JSON
key). An address is a street line with a house number (``12 High Street``, ``12, rue de la Paix``,
``Hauptstraße 5``, ``Via Roma 10``) followed by a postcode and a town, or a value under an address key.
"""

from __future__ import annotations

import re

from .match import Hit

Spans = list[tuple[int, int]]

#: A capitalised word, perhaps behind an elided prefix (O'Donnell, D'Angelo).
_WORD = r"(?:[A-ZÀ-ÖØ-Þ]['’])?[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ'’-]+"
_NAME = rf"{_WORD}(?:[ ](?:(?:van|von|de|der|den|del|della|di|da|le|la|du)[ ])?{_WORD}){{0,3}}"
_TITLE = (r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|M|Mme|Mlle|Me|Herr|Frau|Sr|Sra|Srta|Don|Doña|Dña|Sig|Sig\.ra|Signor|"
          r"Signora|Dott|Dott\.ssa|Dhr|Mevr|heer|mevrouw)\.?[ ]")
_GREETING = re.compile(
    r"(?:Dear|Hello|Hi|Bonjour|Cher|Chère|Sehr geehrter?|Liebe[r]?|Hallo|Estimad[oa]|Querid[oa]|Hola|Gentile|"
    rf"Egregio|Car[oa]|Geachte|Beste)[ ]+(?:{_TITLE})?({_NAME})")
#: Greeted words that are not names.
_NOT_NAMES = frozenset({"Sir", "Sirs", "Madam", "Madame", "Monsieur", "Customer", "Customers", "Client", "Team", "All",
                        "Friends", "Colleagues", "Member", "Members", "Damen", "Herren", "Kunde", "Kundin", "Señor",
                        "Señora", "Signore", "Signori", "Heer", "Mevrouw", "Reader", "Partner", "Sir or Madam"})
_NAME_LINE = re.compile(
    r"(?:^|\n)[ \t]*(?:[Ff]ull [Nn]ame|[Nn]ame|[Ff]irst [Nn]ame|[Ll]ast [Nn]ame|[Ss]urname|[Nn]om|[Pp]rénom|[Nn]ombre|"
    r"[Aa]pellidos?|[Nn]ome|[Cc]ognome|[Nn]aam|[Vv]orname|[Nn]achname|[Cc]ontact|[Cc]ustomer|[Cc]lient)"
    rf"[ \t]*[:=][ \t]*({_NAME})[ \t]*(?=\r?\n|$)")
_DISPLAY_NAME = re.compile(rf"(?:^|[\s:,])\"?({_NAME})\"?[ ]?<$")

_FIELD_NAME = re.compile(rf"{_NAME}(?:,? {_NAME})?")


def scan_names(text: str, greetings: Spans, name_lines: Spans, out: list[Hit]) -> None:
    """Names framed by greetings and ``Name:`` lines (whose starts are ``greetings`` and ``name_lines``),
    appended to ``out``."""
    taken = -1
    for pattern, spans, confidence in ((_GREETING, greetings, 0.7), (_NAME_LINE, name_lines, 0.8)):
        for start, _ in spans:
            if start < taken:
                continue
            m = pattern.match(text, start)
            if m is None:
                continue
            taken = m.end()
            name = m.group(1)
            if name not in _NOT_NAMES and name.split(" ", 1)[0] not in _NOT_NAMES:
                out.append(("person", name, m.start(1), m.end(1), confidence))
        taken = -1


def display_name(text: str, email_start: int, out: list[Hit]) -> None:
    """The display name before an address in angle brackets (``Jane Doe <jane@...>``), if any."""
    if email_start and text[email_start - 1] == "<":
        m = _DISPLAY_NAME.search(text, max(0, email_start - 80), email_start)
        if m is not None:
            out.append(("person", m.group(1), m.start(1), m.end(1), 0.8))


_STREET_WORDS = (r"(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Drive|Dr|Boulevard|Blvd|Court|Ct|Place|Pl|Way|Close|"
                 r"Crescent|Terrace|Square|Sq|Row|Parkway|Pkwy|Highway|Hwy|Gardens|Grove|Hill|Park|Mews|Walk)")
#: Words that start a street's name, Spanish and Italian (``Calle Mayor 5``) then German (``Am Markt 3``).
_ROMANCE_STREETS = ("Calle", "C/", "Avenida", "Avda.", "Paseo", "Plaza", "Pza.", "Ronda", "Camino", "Carrer", "Via",
                    "Viale", "Piazza", "Corso", "Vicolo", "Largo")
_GERMAN_STREETS = ("Am", "An der", "Im", "Auf der")
STREET_STARTS = _ROMANCE_STREETS + _GERMAN_STREETS
#: The street words that end German and Dutch street names (``Hauptstraße 5``).
STREET_ENDS = ("straße", "strasse", "str.", "weg", "platz", "allee", "gasse", "ring", "damm", "straat", "laan", "plein",
               "gracht", "kade", "singel", "dijk")


def _words(words: tuple[str, ...]) -> str:
    """One of ``words``, as a pattern."""
    return "(?:" + "|".join(map(re.escape, words)) + ")"


# Street lines, one pattern per way of starting (a house number, a street word, a suffixed name):
# alternatives that start differently would make ``re`` try each of them at every position.
_STREETS = (
    re.compile(rf"\d{{1,5}}(?:[A-Za-z]?,?[ ](?:{_WORD}[ ]){{0,4}}?{_STREET_WORDS}\.?(?:[ ](?:Apt\.|Suite|Unit|Flat)"
               r"[ ]?\d+)?|(?:[ ]?(?:bis|ter))?,?[ ](?:rue|avenue|av\.|boulevard|bd|place|chemin|allée|impasse|quai|"
               r"route|cours)[ ][^\n,]{2,40})"),  # US, UK, FR
    re.compile(_words(_ROMANCE_STREETS) + r"[ ][^\n,]{2,40}?,?[ ]\d{1,4}[A-Za-z]?(?:[ ,][^\n,]{0,20})?"),  # ES, IT
    re.compile(_words(_GERMAN_STREETS) + r"[ ][A-ZÄÖÜ][a-zäöüß]+[ ]\d{1,4}[a-z]?"),  # DE
)
#: German and Dutch street names end with their street word: found by it, then read from the name's start.
_SUFFIXED = re.compile(_words(STREET_ENDS) + r"[ ]\d{1,4}[a-z]?")
_NAME_START = re.compile(r"[A-ZÄÖÜ][a-zäöüß-]*$")
#: A town runs to the end of its line, or of its quoted CSV cell.
_POSTCODE_TOWN = re.compile(
    r"[ \t]*(?:\d{5}[ ][A-ZÀ-Þ][^\n\"]{1,40}"  # FR, DE, ES, IT: 75001 Paris
    r"|\d{4}[ ]?[A-Z]{2}[ ][A-Z][^\n\"]{1,40}"  # NL: 1012 AB Amsterdam
    r"|[A-Z][^\n\"]{1,40},[ ][A-Z]{2}[ ]\d{5}(?:-\d{4})?"  # US: Springfield, IL 62704
    r"|(?:[A-Z][^\n\"]{1,40}\n[ \t]*)?[A-Z]{1,2}\d[A-Z\d]?[ ]\d[A-Z]{2}"  # UK: London\nSW1A 1AA
    r"|[A-Z][^\n\"]{1,40},[ ]\d{5})")  # ES, Faker style: Madrid, 28001
_ADDRESS_WORDS = re.compile(r"\d|rue|av|bd|place|chemin|all|impasse|quai|route|cours|straße|strasse|str\.|weg|platz|"
                            r"Calle|C/|Avenida|Paseo|Plaza|Via|Viale|Piazza|Corso")


def scan_addresses(text: str, starts: Spans, house_numbers: Spans, ends: Spans, out: list[Hit]) -> None:
    """Street lines followed, on the same line after a comma or on the next, by a postcode and town.

    A street line is read where a street word starts one (``starts``), where a house number starts a
    line or a cell (``house_numbers``: most digits are not one), and back from a German or Dutch street
    word that ends a name (``ends``)."""
    spans = []
    for start, _ in starts:
        for pattern in _STREETS[1:]:
            m = pattern.match(text, start)
            if m is not None:
                spans.append((start, m.end()))
                break
    last = -1
    for start, _ in house_numbers:
        while not text[start].isdigit():
            start += 1
        if start == last:  # the same number, reached from another cell edge or ending ("12 bis" and "12 ")
            continue
        last = start
        m = _STREETS[0].match(text, start)
        if m is not None:
            spans.append((m.start(), m.end()))
    for start, _ in ends:
        m = _SUFFIXED.match(text, start)
        name = _NAME_START.search(text, max(0, start - 40), start) if m is not None else None
        if m is not None and name is not None:
            spans.append((name.start(), m.end()))
    for start, end in spans:
        if start and text[start - 1].isalnum():
            continue
        sep = end
        while sep < len(text) and text[sep] in " ,":
            sep += 1
        if sep < len(text) and text[sep] == "\n":
            sep += 1
        elif sep == end:
            continue
        town = _POSTCODE_TOWN.match(text, sep)
        if town is not None:
            out.append(("postal_address", text[start:town.end()], start, town.end(), 0.7))


def name_field(value: str, start: int, out: list[Hit]) -> None:
    """A value under a name key, appended to ``out`` if it reads as a name."""
    m = _FIELD_NAME.fullmatch(value.strip())
    if m is not None:
        offset = start + value.index(m.group())
        out.append(("person", m.group(), offset, offset + len(m.group()), 0.8))


def address_field(value: str, start: int, out: list[Hit]) -> None:
    """A value under an address key, appended to ``out`` if it reads as one (words and a number or street word)."""
    if _ADDRESS_WORDS.search(value) and any(c.isalpha() for c in value):
        out.append(("postal_address", value, start, start + len(value), 0.8))
