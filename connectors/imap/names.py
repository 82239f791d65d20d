"""How mailboxes and messages are named in a snapshot, and how those names are read back on restore.

A mailbox is a directory: its name is split at the server's hierarchy delimiter and each segment is
escaped on its own. A message is a file ``<UID>[,<flags>][-<subject>].eml``:

- ``<flags>`` is the system flags as letters, in this order: ``S`` \\Seen, ``A`` \\Answered,
  ``F`` \\Flagged, ``D`` \\Draft, ``T`` \\Deleted; then each other keyword, sorted, as ``+`` and the
  keyword escaped. \\Recent is not kept: a server sets it on its own.
- ``<subject>`` is the decoded Subject header made safe for a file name and cut short. It is for people
  browsing a snapshot and is never read back.

Escaping is percent-encoding of UTF-8 bytes with upper-case hex digits. In a mailbox segment ``%``,
``/``, control characters and a whole segment of ``.`` or ``..`` are escaped; any other character,
non-ASCII ones included, stays as it is. In a keyword every character but ``A-Z a-z 0-9 _ $`` is
escaped, so a flags part never holds ``-``, ``.``, ``,`` or ``+`` of its own and the name splits back
unambiguously.
"""

from __future__ import annotations

import email.errors
import email.header
import re
import urllib.parse
from dataclasses import dataclass

SUFFIX = ".eml"
#: System flag -> its letter, in the order letters are written.
SYSTEM_FLAGS = {"\\Seen": "S", "\\Answered": "A", "\\Flagged": "F", "\\Draft": "D", "\\Deleted": "T"}
_LETTERS = {letter: flag for flag, letter in SYSTEM_FLAGS.items()}
_SKIPPED = {"\\recent"}
_KEYWORD_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_$")
_MESSAGE = re.compile(r"(\d+)(?:,([SAFDT]*)((?:\+[A-Za-z0-9_$%]+)*))?(?:-(.*))?\.eml", re.DOTALL)
_UNSAFE_IN_SUBJECT = re.compile(r"[\x00-\x1f\x7f/\\]+")
_SUBJECT_BYTES = 96
_NAME_BYTES = 255


def escape_segment(segment: str) -> str:
    """One mailbox name segment as a file name."""
    if segment in (".", ".."):
        return segment.replace(".", "%2E")
    out = []
    for ch in segment:
        if ch == "%" or ch == "/" or ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(urllib.parse.quote(ch, safe=""))
        else:
            out.append(ch)
    return "".join(out)


def unescape_segment(name: str) -> str:
    return urllib.parse.unquote(name, errors="strict")


def escape_keyword(keyword: str) -> str:
    return "".join(chr(b) if b in _KEYWORD_SAFE else f"%{b:02X}" for b in keyword.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class MessageName:
    """What a message file name says: its UID on the server it came from and its flags."""

    uid: int
    flags: tuple[str, ...]


def flags_part(flags: tuple[str, ...]) -> str:
    """``,<letters><+keyword>...`` for these flags, or '' when there are none to keep."""
    letters = ""
    known = {f.lower() for f in flags}
    for flag, letter in SYSTEM_FLAGS.items():
        if flag.lower() in known:
            letters += letter
    system = {f.lower() for f in SYSTEM_FLAGS} | _SKIPPED
    keywords = sorted({f for f in flags if f.lower() not in system})
    rest = "".join("+" + escape_keyword(k) for k in keywords)
    return f",{letters}{rest}" if letters or rest else ""


def safe_subject(header: bytes) -> str:
    """The Subject of a header block, decoded (RFC 2047) and made safe for a file name; '' for none."""
    text = header.decode("utf-8", "replace")
    m = re.search(r"^subject:[ \t]*(.*(?:\r?\n[ \t].*)*)", text, re.IGNORECASE | re.MULTILINE)
    if m is None:
        return ""
    raw = re.sub(r"\r?\n", "", m.group(1))
    try:
        subject = str(email.header.make_header(email.header.decode_header(raw)))
    except (email.errors.HeaderParseError, LookupError, UnicodeError, ValueError):
        subject = raw
    subject = " ".join(_UNSAFE_IN_SUBJECT.sub(" ", subject).split())
    return subject.encode("utf-8")[:_SUBJECT_BYTES].decode("utf-8", "ignore").strip()


def message_name(uid: int, flags: tuple[str, ...], subject: str) -> str:
    """The file name of a message; the subject is shortened to keep the name within 255 bytes."""
    head = f"{uid}{flags_part(flags)}"
    room = _NAME_BYTES - len(head.encode()) - len(SUFFIX) - 1
    if subject and room > 0:
        subject = subject.encode("utf-8")[:room].decode("utf-8", "ignore").rstrip()
        if subject:
            head += "-" + subject
    return head + SUFFIX


def parse_message_name(name: str) -> MessageName | None:
    """The UID and flags of a message file name; None for a name not in that form."""
    m = _MESSAGE.fullmatch(name)
    if m is None:
        return None
    flags = [_LETTERS[letter] for letter in m.group(2) or ""]
    try:
        flags += [unescape_segment(k) for k in (m.group(3) or "").split("+")[1:]]
    except UnicodeDecodeError:
        return None
    return MessageName(int(m.group(1)), tuple(flags))
