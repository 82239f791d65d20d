"""Reading a message's header block: split the way :mod:`email.feedparser` splits it, values read fast.

The standard library's structured headers (``policy.default``) cost tens of microseconds each, more
than all else an analysis of a small message does. Header values of the common shapes (``Name
<addr>`` lists, ``<id@host>``, plain subjects) are read here directly, giving what the structured
parser gives for them; any other value is handed to that parser, so odd headers read as they always
did.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from email import policy
from email.header import decode_header
from email.headerregistry import AddressHeader
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

# As the feed parser tells header lines from the first body line (envelope lines included).
_HEADER_LINE = re.compile(r"From |[\041-\071\073-\176]*:|[\t ]")
_LINE_END = re.compile(r"\r\n|\r|\n")
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_ADDR = rf"{_ATEXT}+(?:\.{_ATEXT}+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_MAILBOX = re.compile(rf"""[ \t]*(?:({_ATEXT}+(?:[ \t]+{_ATEXT}+)*)[ \t]*<({_ADDR})>|"([^"\\]*)"[ \t]*<({_ADDR})>"""
                      rf"""|<({_ADDR})>|({_ADDR}))[ \t]*(,|$)""")
_ENCODED_WORD = re.compile(r"=\?([A-Za-z0-9_-]+)\?[bBqQ]\?[\x21-\x3e\x40-\x7e]*\?=")
_KNOWN_CHARSETS = frozenset({"utf-8", "us-ascii", "iso-8859-1", "iso-8859-15", "windows-1252"})
_WSP = re.compile(r"[ \t]+")
_MESSAGE_ID = re.compile(rf"<{_ATEXT}+(?:\.{_ATEXT}+)*@{_ATEXT}+(?:\.{_ATEXT}+)*>")
_STRUCTURED: Callable[[str, str], Any] = policy.default.header_fetch_parse


class Headers:
    """A header block's fields, unfolded, by lowercased name; ``defects`` counts what the feed parser would note."""

    def __init__(self, raw: bytes) -> None:
        self.fields: dict[str, list[str]] = {}
        self.defects = 0
        ends = [at for at in (raw.find(b"\n\n"), raw.find(b"\n\r"), raw.find(b"\r\r")) if at >= 0]
        head = raw[:min(ends) + 1] if ends else raw
        lines = _LINE_END.split(head.decode("ascii", "surrogateescape"))
        if lines and not lines[-1]:
            lines.pop()
        name, value = "", ""
        for number, line in enumerate(lines):
            if not _HEADER_LINE.match(line):
                self.defects += 1  # a line that is no header ends the block without its blank line
                break
            if line[0] in " \t":
                if not name:
                    self.defects += 1
                else:
                    value += line
                continue
            if name:
                self._add(name, value)
                name = ""
            if line.startswith("From "):
                if number == len(lines) - 1:
                    break
                self.defects += number > 0
                continue
            at = line.find(":")
            if at == 0:
                self.defects += 1
                continue
            name, value = line[:at], line[at + 1:].lstrip(" \t")
        if name:
            self._add(name, value)

    def _add(self, name: str, value: str) -> None:
        self.fields.setdefault(name.lower(), []).append(value)

    def get(self, name: str) -> list[str]:
        return self.fields.get(name, [])


class Reader:
    """Reads header values as ``policy.default`` would; ``damaged`` is set where its parser raised."""

    def __init__(self, headers: Headers) -> None:
        self.headers = headers
        self.damaged = False

    def addresses(self, name: str) -> list[tuple[str, str]]:
        """(display name, address) of each address in every ``name`` header, groups flattened."""
        values = self.headers.get(name)
        found: list[tuple[str, str]] = []
        try:
            for value in values:
                simple = _mailboxes(value)
                if simple is not None:
                    found.extend(simple)
                    continue
                header = _STRUCTURED(name, value)
                if isinstance(header, AddressHeader):
                    found.extend((a.display_name, a.addr_spec) for a in header.addresses)
                else:  # a field of no address type (Return-Path, Delivered-To): the simpler parser reads it
                    found.extend(getaddresses([str(header)]))
        except Exception:  # a header the structured parser chokes on: the simpler one reads most of them
            self.damaged = True
            found = [pair for value in values for pair in getaddresses([unfolded(value)])]
        return [(display, addr) for display, addr in found if addr]

    def text(self, name: str) -> str:
        """The first ``name`` header, RFC 2047 decoded, unfolded and stripped."""
        values = self.headers.get(name)
        try:
            texts = [_text(name, value) for value in values]
        except Exception:  # structured parsing failed: the raw values, as text
            self.damaged = True
            texts = [unfolded(value).strip() for value in values]
        return texts[0] if texts else ""

    def date(self) -> datetime | None:
        """The first Date header in UTC, None when it is missing or unreadable."""
        whens: list[datetime | None] = []
        for value in self.headers.get("date"):
            try:
                whens.append(parsedate_to_datetime(value) if value else None)
            except ValueError:
                whens.append(None)
            except (TypeError, IndexError, OverflowError):  # the structured parser raises on these
                self.damaged = True
                whens.append(None)
        when = whens[0] if whens else None
        if when is None:
            return None
        # A zone of -0000 means "UTC, the local zone unknown" (RFC 5322 3.3): the parser leaves it naive.
        try:
            return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
        except (ValueError, OverflowError):  # a year 1 or 9999 date pushed out of range by its zone
            return None


def _text(name: str, value: str) -> str:
    plain = value.isascii() and "=?" not in value
    if plain and (name != "message-id" or _MESSAGE_ID.fullmatch(value.strip())):
        return unfolded(value).strip()
    text = unfolded(str(_STRUCTURED(name, value))).strip()
    if "\ufffd" in text and any("\udc80" <= c <= "\udcff" for c in value):
        return unfolded(value).strip()  # bytes of no declared charset, replaced: the raw text still holds them
    return text


def _mailboxes(value: str) -> list[tuple[str, str]] | None:
    """The mailboxes of a plain list (``Name <addr>``, ``"Name" <addr>``, ``addr``), None for any other shape."""
    found: list[tuple[str, str]] = []
    at, end = 0, len(value)
    while at < end:
        m = _MAILBOX.match(value, at)
        if m is None:
            return None
        phrase, addr, quoted, quoted_addr, angled, bare = m.groups()[:6]
        if angled is not None or bare is not None:
            found.append(("", angled or bare))
        elif quoted is not None:
            if "=?" in quoted or not quoted.isascii():
                return None
            found.append((quoted, quoted_addr))
        else:
            name = _phrase(phrase)
            if name is None:
                return None
            found.append((name, addr))
        at = m.end()
        if m.group(7) == "," and at >= end:
            return None  # a trailing comma: the structured parser notes it
    return found


def _phrase(phrase: str) -> str | None:
    """A display name of atoms and encoded words, as the structured parser reads it, or None when unsure."""
    if "=?" not in phrase:
        return _WSP.sub(" ", phrase)
    words: list[str] = []
    for word in _WSP.split(phrase):
        m = _ENCODED_WORD.fullmatch(word)
        if m is None:
            if "=?" in word:
                return None
            words.append(word)
            continue
        if m.group(1).lower() not in _KNOWN_CHARSETS:
            return None
        try:
            ((data, charset),) = decode_header(word)
            text = data.decode(charset or "us-ascii") if isinstance(data, bytes) else data
        except (ValueError, LookupError, TypeError):
            return None
        if not text or text != text.strip(" \t") or not text.isprintable():
            return None
        words.append(_WSP.sub(" ", text))
    return " ".join(words)


def unfolded(value: str) -> str:
    """``value``'s lines joined, cut as :meth:`str.splitlines` cuts them (raw values have always been)."""
    return "".join(value.splitlines())
