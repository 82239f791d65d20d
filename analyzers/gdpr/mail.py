"""The text of e-mail: one RFC 5322 message (.eml) or an mbox of them.

Every header is kept as a ``Name: value`` line (display names decoded, so ``From: Jane Doe <...>``
names a person); every text part is decoded from its transfer encoding and charset; attached
documents are read like files of their type.
"""

from __future__ import annotations

import email
import re
from email.header import decode_header, make_header
from email.message import Message

from .extract import Extracted, Field, extract

#: Headers holding message identifiers, which look like addresses and are none.
_IDS = frozenset({"message-id", "in-reply-to", "references", "content-id", "resent-message-id"})
_TAG = re.compile(r"<[^>]{0,1000}>")
_MBOX_SEPARATOR = re.compile(rb"(?:^|\r?\n)From [^\r\n]*\r?\n")


def extract_message(data: bytes) -> Extracted:
    """A message's headers, text parts and attachments, as text.

    Parsed with the ``compat32`` policy, headers decoded only where they hold encoded words: the default
    policy parses every header into objects, some 150 µs a header, ten times the cost of the rest."""
    return _text(email.message_from_bytes(data))


def _header(value: str) -> str:
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (LookupError, ValueError, UnicodeError):
        return value


def _body(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return payload.decode(part.get_content_charset() or "utf-8", errors="replace")


def extract_mbox(data: bytes) -> Extracted:
    """Every message of an mbox, one after the other."""
    texts: list[str] = []
    fields: list[Field] = []
    size = 0
    for raw in _MBOX_SEPARATOR.split(data):
        if raw.strip():
            part = extract_message(raw.replace(b"\n>From ", b"\nFrom "))
            fields.extend((key, start + size, end + size) for key, start, end in part.fields)
            texts.append(part.text + "\n")
            size += len(part.text) + 1
    return Extracted("".join(texts), fields)


def _text(message: Message) -> Extracted:
    lines = [f"{name}: {_header(str(value))}" for name, value in message.items() if name.lower() not in _IDS]
    fields: list[Field] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        filename = part.get_filename() or ""
        maintype = part.get_content_maintype()
        try:
            if maintype == "text" and not filename.lower().endswith((".csv", ".json", ".jsonl")):
                body = _body(part)
                lines.append(_TAG.sub(" ", body) if part.get_content_subtype() == "html" else body)
            else:
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes) and payload:
                    inner = extract(payload, part.get_content_type(), filename)
                    offset = sum(len(line) + 1 for line in lines)
                    fields.extend((key, start + offset, end + offset) for key, start, end in inner.fields)
                    lines.append(inner.text)
        except (LookupError, ValueError):  # an unknown charset, a broken encoding: the part is skipped
            continue
    return Extracted("\n".join(lines), fields)
