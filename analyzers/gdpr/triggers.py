"""Where candidates may start, for every detector at once: one pass over a text instead of one per detector.

Each detector's search begins with a short pattern (a trigger: an ``@``, the start of a run of
digits, a greeting word, a keyword); the detector then reads its candidate with its own pattern,
anchored where the trigger was found. With Hyperscan (the ``hyperscan`` package) all triggers run
in one pass over the text, whatever their number, some 5 ms a megabyte; without it each runs as a
``re`` search of its own, with the same results, several times slower.

The text is searched as Latin-1 bytes, a character a byte (characters past U+00FF become ``?``, which
no trigger contains), so a byte offset is a character offset. Hyperscan reports every match, where
``re`` reports them without overlap: callers take the first trigger at a place and skip those that
fall inside a candidate already read.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

from . import context, people

#: Characters that do not continue a word, in the bytes searched (letters of Latin-1 do).
_EDGE = r"(?:^|[^0-9A-Za-z_\xaa\xb5\xba\xc0-\xd6\xd8-\xf6\xf8-\xff])"


def _caseless(word: str) -> str:
    """``word`` as a pattern matching it in any case; Hyperscan's own caseless flag knows only ASCII."""
    out = []
    for char in word:
        if char.isascii():
            out.append(re.escape(char))
        else:
            variants = {char, char.upper()} if len(char.upper()) == 1 else {char}
            out.append("[" + "".join(f"\\x{ord(v):02x}" for v in sorted(variants)) + "]")
    return "".join(out)


def _words(words: Iterable[str]) -> str:
    return _EDGE + "(?:" + "|".join(_caseless(w) for w in sorted(words, key=len, reverse=True)) + ")"


def _latin1(text: str) -> str:
    """``text`` as a literal pattern over Latin-1 bytes."""
    return "".join(re.escape(c) if c.isascii() else f"\\x{ord(c):02x}" for c in text)


def _titled(words: Iterable[str]) -> str:
    """Each of ``words`` with the first letter of each of its words in either case (``[Ff]ull [Nn]ame``)."""
    return "|".join(" ".join(f"[{w[0].upper()}{w[0].lower()}]{_latin1(w[1:])}" for w in key.split(" "))
                    for key in words)


#: The greetings of :mod:`.people`, and the keys of its ``Name:`` lines.
GREETINGS = ("Dear", "Hello", "Hi", "Bonjour", "Cher", "Chère", "Sehr geehrte", "Liebe", "Hallo", "Estimad", "Querid",
             "Hola", "Gentile", "Egregio", "Car", "Geachte", "Beste")
NAME_LINE_KEYS = ("full name", "name", "first name", "last name", "surname", "nom", "prénom", "nombre", "apellido",
                  "nome", "cognome", "naam", "vorname", "nachname", "contact", "customer", "client")

#: The seventh character of a run of digits, in the bytes searched.
_RUN_END = r"[0-9 ()./\-?]"

#: name: (pattern, caseless). The patterns use only what both Hyperscan and ``re`` read alike.
PATTERNS: dict[str, tuple[str, bool]] = {
    # Only the first digit after anything a run cannot hold (a letter, a ``+``, a colon): one trigger a run, not
    # one after each of its separators. The run's first digit is the seventh character from the trigger's end,
    # whose last character is the one a run of seven needs at least: a separator, a digit, or a "?" (any
    # character past U+00FF, a digit of another script among them). Most numbers shorter end a log's fields.
    "numeric": (r"(?:^|[^0-9 ()./\-])[ ()./\-]*[+(]?[0-9][0-9 ()./\-]{5}" + _RUN_END, False),
    "upper": (r"(?:^|[^0-9A-Za-z])[A-Z][A-Z0-9][A-Z0-9 \-]{6}", False),
    "ipv6": (r"(?:^|[^0-9A-Za-z:])[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:]{2}", False),
    "email": (r"@[A-Za-z0-9]", False),
    "birth": (_words(context.BIRTH_WORDS), True),
    "special": (_words(context.SPECIAL_CATEGORY), True),
    "greeting": ("(?:" + "|".join(_latin1(w) for w in GREETINGS) + ")", False),
    "name_line": (r"(?:^|\n)[ \t]*(?:" + _titled(NAME_LINE_KEYS) + ")", False),
    "street_start": ("(?:" + "|".join(_latin1(w) for w in people.STREET_STARTS) + ") ", False),
    # As far as the street line's pattern needs to tell a house number from most numbers that start a cell.
    "house_number": (r"(?:^|[\n,\";\t])[ \t]*[0-9]{1,5}(?:[A-Za-z]|[ ]?bis|[ ]?ter)?,?[ ]", False),
    "street_end": ("(?:" + "|".join(_latin1(w) for w in people.STREET_ENDS) + ") [0-9]", False),
}
NAMES = tuple(PATTERNS)

Found = dict[str, list[tuple[int, int]]]

try:
    import hyperscan
except ImportError:  # the analyzer still works, a pass per trigger
    hyperscan = None  # type: ignore[assignment]

_local = threading.local()
_database: Any = None


#: The triggers made of keywords, given to Hyperscan a keyword an expression and without the word edge in front:
#: one alternation of them all, behind the edge, takes some 100 ms to compile, a file's worth of scanning.
_KEYWORDS = {"birth": context.BIRTH_WORDS, "special": tuple(context.SPECIAL_CATEGORY)}
#: The characters :data:`_EDGE` excludes: a keyword they stand before is inside a word.
_WORD = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_\xaa\xb5\xba"
                  + "".join(map(chr, [*range(0xC0, 0xD7), *range(0xD8, 0xF7), *range(0xF8, 0x100)])))
_KEYWORD_IDS = frozenset(NAMES.index(name) for name in _KEYWORDS)


def _hyperscan_database() -> Any:
    global _database
    if _database is None:
        expressions, ids, flags = [], [], []
        for index, (name, (pattern, caseless)) in enumerate(PATTERNS.items()):
            for expression in ([_caseless(w) for w in _KEYWORDS[name]] if name in _KEYWORDS else [pattern]):
                expressions.append(expression.encode("ascii"))
                ids.append(index)
                flags.append(hyperscan.HS_FLAG_SOM_LEFTMOST | (hyperscan.HS_FLAG_CASELESS if caseless else 0))
        db = hyperscan.Database()
        db.compile(expressions=expressions, ids=ids, elements=len(expressions), flags=flags)
        _database = db
    return _database


_COMPILED = [re.compile(p.encode("ascii"), re.IGNORECASE if caseless else 0) for p, caseless in PATTERNS.values()]
#: ``re`` reports no overlapping matches: a run's seventh character is only looked at, for a "?" may also be
#: where the next run's trigger starts. Its trigger still ends past it, as Hyperscan's does.
_NUMERIC = NAMES.index("numeric")
_COMPILED[_NUMERIC] = re.compile(PATTERNS["numeric"][0].removesuffix(_RUN_END).encode("ascii")
                                 + b"(?=" + _RUN_END.encode("ascii") + b")")


def find(text: str) -> Found:
    """The triggers in ``text``: for each name of :data:`PATTERNS`, (start, end) of its matches, in order."""
    data = text.encode("latin-1", "replace")
    found: list[list[tuple[int, int]]] = [[] for _ in NAMES]
    if hyperscan is not None:
        db = _hyperscan_database()
        scratch = getattr(_local, "scratch", None)
        if scratch is None:
            scratch = _local.scratch = hyperscan.Scratch(db)  # one per thread: a scan writes in it

        appends = [spans.append for spans in found]

        def on_match(index: int, start: int, end: int, flags: int, ctx: object) -> None:
            appends[index]((start, end))

        db.scan(data, match_event_handler=on_match, scratch=scratch)
        for index in _KEYWORD_IDS:
            found[index] = [(s, e) for s, e in found[index] if not s or text[s - 1] not in _WORD]
        for spans in found:
            spans.sort()
    else:
        for index, pattern in enumerate(_COMPILED):
            found[index] = [m.span() for m in pattern.finditer(data)]
        found[_NUMERIC] = [(start, end + 1) for start, end in found[_NUMERIC]]
    return dict(zip(NAMES, found, strict=True))
