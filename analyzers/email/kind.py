"""Which kind of mail a content object holds, if any, told from its first bytes and its hints.

A single message (``.eml``, what an IMAP source stores) starts with its header block; an mbox starts
with a ``From `` line (the envelope), followed by the first message's header block. Both are told
from the first :data:`SNIFF_BYTES` at the most, so content that is not mail costs next to nothing.
"""

from __future__ import annotations

import enum
import re
from email.utils import parsedate_tz

#: How much of the content the decision reads at the most; a header block longer than this is judged
#: on its complete lines within it.
SNIFF_BYTES = 8 << 10

# RFC 5322 field names are printable ASCII but the colon; the obsolete syntax allows blanks before it.
_FIELD = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]*:")
_FROM_LINE = re.compile(rb"From \S+")
#: Fields of which one must appear for a header block to be a message's.
_MAIL_FIELDS = frozenset({b"from", b"to", b"cc", b"subject", b"date", b"message-id", b"received", b"mime-version"})
_ADDRESS = re.compile(rb"[^\s<>@]+@[^\s<>@]+")
_MAIL_EXTENSIONS = frozenset({"eml", "msg", "mbox", "mbx", "mail"})


class Kind(enum.Enum):
    """What the content is, as the tag ``mime:VALUE`` names it."""

    MESSAGE = "message/rfc822"
    MBOX = "application/mbox"


def hinted(content_type: str, path: str) -> bool:
    """Whether the snapshot's index says the content is mail (by its type or its file name)."""
    if content_type.startswith("message/") or content_type == "application/mbox":
        return True
    name = path.rpartition("/")[2]
    return "." in name and name.rpartition(".")[2].lower() in _MAIL_EXTENSIONS


def sniff(head: bytes, *, hint: bool, complete: bool) -> Kind | None:
    """The kind of mail ``head`` (the content's first bytes) starts, or None when it is not mail.

    With ``hint`` (see :func:`hinted`), a header block naming one of the usual fields is enough, even
    if a line that is no header cuts it short; without it, the block must be well formed and one of
    those fields must also read as what it should hold (an address, a date, a trace), so that a text
    file of ``Subject: ...`` notes is not taken for mail. ``complete`` says ``head`` is the whole
    content, so that its last line counts even without a line end."""
    lines = head.split(b"\n")
    if not complete:
        lines.pop()  # cut short: it cannot be judged
    lines = [line.removesuffix(b"\r") for line in lines]
    kind = Kind.MESSAGE
    if lines and lines[0].startswith(b"From "):
        if not _FROM_LINE.match(lines[0]):
            return None
        kind = Kind.MBOX
        lines = lines[1:]
    fields: list[tuple[bytes, bytes]] = []
    for line in lines:
        if not line:
            break
        if line[:1] in (b" ", b"\t"):
            if not fields:
                return None
            name, value = fields[-1]
            fields[-1] = (name, value + b" " + line.strip())
            continue
        m = _FIELD.match(line)
        if m is None:
            if hint and fields:  # a damaged header block: the parser reads what comes before the damage
                break
            return None
        fields.append((m.group(1).lower(), line[m.end():].strip()))
    known = [(name, value) for name, value in fields if name in _MAIL_FIELDS]
    if not known:
        return None
    if hint or any(_reads_as_mail(name, value) for name, value in known):
        return kind
    return None


def _reads_as_mail(name: bytes, value: bytes) -> bool:
    if name in (b"from", b"to", b"cc", b"message-id"):
        return _ADDRESS.search(value) is not None
    if name == b"date":
        return parsedate_tz(value.decode("latin-1")) is not None
    if name == b"received":
        return b";" in value
    if name == b"mime-version":
        return value.split(b"(")[0].strip() == b"1.0"
    return False  # a subject alone proves nothing


def header_end(raw: bytes | bytearray) -> int:
    """Where the blank line that ends ``raw``'s header block starts (its line end before it), or
    ``len(raw)`` when there is none."""
    ends = [at for at in (raw.find(b"\n\n"), raw.find(b"\n\r\n")) if at >= 0]
    return min(ends) if ends else len(raw)


def header_block_ended(head: bytes | bytearray) -> bool:
    """Whether ``head`` holds the blank line that ends a header block: enough to decide on."""
    return header_end(head) < len(head)
