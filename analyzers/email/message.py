"""Reading one RFC 5322 message: who sent it to whom, when, about what, and what it carries.

The header block is read by :mod:`.headers`; only a multipart message, or one sent as a file in
itself, is parsed whole (:class:`email.parser.BytesParser`, headers kept as text), to list its
attachments: the body of any other message is not read. The standard library reads what it can of a
damaged message and notes the rest as defects; nothing here raises on any input, and a message the
parser had to work around is marked ``malformed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.policy import Compat32
from typing import Any

from .headers import Headers, Reader, unfolded

#: Headers whose addresses count as found in the message (beside From, To and Cc).
ADDRESS_HEADERS = ("from", "sender", "reply-to", "to", "cc", "bcc", "resent-from", "resent-sender",
                   "resent-to", "resent-cc", "resent-bcc", "return-path", "delivered-to",
                   "disposition-notification-to")


class _Unfolded(Compat32):
    """Part headers as their unfolded text, as ``policy.default`` hands them on before parsing them."""

    def header_fetch_parse(self, name: str, value: str) -> str:
        return "".join(value.splitlines()) if "\n" in value or "\r" in value else value


_PARSER = BytesParser(policy=_Unfolded())


@dataclass
class Attachment:
    """A part of a message that is a file of its own rather than its text."""

    name: str
    content_type: str
    #: Bytes of the decoded payload (after base64 or quoted-printable).
    size: int


@dataclass
class Summary:
    """What one message says of itself, read from its headers and its parts' headers."""

    sender: str = ""
    sender_name: str = ""
    recipients: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    #: When it was written, in UTC, or None when its Date header is missing or unreadable.
    date: datetime | None = None
    subject: str = ""
    message_id: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    #: Every address of the headers in :data:`ADDRESS_HEADERS`, once per occurrence, in header order.
    addresses: list[str] = field(default_factory=list)
    #: Whether the parser met damage: a header it could not read, a missing boundary, bad base64...
    malformed: bool = False

    def record(self) -> dict[str, Any]:
        """The summary as plain data (the date as ISO 8601 with its offset), as an analysis record holds it."""
        return {
            "sender": _text(self.sender), "sender_name": _text(self.sender_name),
            "recipients": [_text(a) for a in self.recipients], "cc": [_text(a) for a in self.cc],
            "date": self.date.isoformat() if self.date else None, "subject": _text(self.subject),
            "message_id": _text(self.message_id),
            "attachments": [{"name": _text(a.name), "content_type": _text(a.content_type), "size": a.size}
                            for a in self.attachments],
        }


def summarize(raw: bytes) -> Summary:
    """The summary of the message ``raw`` holds, line ends LF or CRLF; damage is noted, never raised."""
    out = Summary()
    try:
        headers = Headers(raw)
        carries = "content-disposition" in headers.fields or any(
            "multipart" in value.lower() for value in headers.get("content-type"))
        msg = _PARSER.parsebytes(raw) if carries else None
    except Exception:  # the parser is meant to be total; a message that proves otherwise is still only damaged
        out.malformed = True
        return out
    reader = Reader(headers)
    named = {name: reader.addresses(name) for name in ADDRESS_HEADERS}
    if named["from"]:
        out.sender_name, out.sender = named["from"][0]
    out.recipients = [addr for _, addr in named["to"]]
    out.cc = [addr for _, addr in named["cc"]]
    out.addresses = [addr for found in named.values() for _, addr in found]
    out.subject = reader.text("subject")
    out.message_id = reader.text("message-id")
    out.date = reader.date()
    damaged = reader.damaged or headers.defects > 0
    if msg is not None:
        attachments, broken = _attachments(msg)
        out.attachments = attachments
        damaged |= broken
    out.malformed = damaged
    return out


def _attachments(msg: Message) -> tuple[list[Attachment], bool]:
    """The attachments of ``msg``, and whether reading them met damage."""
    found: list[Attachment] = []
    leaves: list[Message] = []
    damaged = _leaves(msg, leaves)
    for part in leaves:
        try:
            disposition = part.get_content_disposition()
            name = part.get_filename()
            content_type = part.get_content_type()
        except Exception:  # damaged part headers: the part is no attachment we can tell of
            damaged = True
            continue
        if disposition != "attachment" and name is None:
            continue
        found.append(Attachment(_filename(name or ""), content_type, _payload_size(part)))
        damaged |= bool(part.defects)  # decoding notes its own (bad base64 padding...)
    return found, damaged


def _leaves(part: Message, into: list[Message]) -> bool:
    """Appends the parts that hold content, depth first (an attached message is one leaf, not opened);
    whether any part was damaged."""
    damaged = bool(part.defects)
    try:
        multipart = part.get_content_maintype() == "multipart"
    except Exception:  # damaged headers: read as a leaf
        multipart, damaged = False, True
    if not multipart:
        into.append(part)
        return damaged
    payload = part.get_payload()
    if not isinstance(payload, list):  # a multipart of no parts holds nothing
        return damaged
    for sub in payload:
        if isinstance(sub, Message):
            damaged |= _leaves(sub, into)
    return damaged


def _payload_size(part: Message) -> int:
    try:
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            return len(payload)
        inner = part.get_payload()  # an attached message: its size as it stands
        messages = [m for m in inner if isinstance(m, Message)] if isinstance(inner, list) else []
        return sum(len(m.as_bytes(policy=policy.default)) for m in messages)
    except Exception:  # a payload too damaged to decode has no size to tell
        return 0


def _filename(name: str) -> str:
    """A file name RFC 2047 decoded (RFC 2231 is the parser's), unfolded."""
    name = unfolded(name)
    if "=?" not in name:
        return name
    try:
        return str(make_header(decode_header(name)))
    except Exception:  # a damaged encoded word: the name as written
        return name


def _text(value: str) -> str:
    """``value`` as text that encodes: the parser keeps undecodable header bytes as lone surrogates.

    Those bytes are read as UTF-8 if they are that, else as Windows-1252, the commonest unlabelled
    8-bit charset in mail."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        pass
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that escapes no byte
        raw = value.encode("utf-8", "replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")
