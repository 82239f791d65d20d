"""A file's preview as text, hex or image, read from the head of its content only."""

from __future__ import annotations

import html
from dataclasses import dataclass

import kloset
from kloset.progress import human_bytes as _human

TEXT_BYTES = 64 << 10  # a text or hex view shows the head of a file, never the whole of a large one
HEX_BYTES = 4 << 10
IMAGE_BYTES = 16 << 20  # images above this are not drawn: the browser would receive all of it
_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp",
                  "image/bmp": "bmp"}


@dataclass
class Preview:
    """What a file looks like: its head as text (None when binary), as hex, and its image bytes."""

    kind: str  # "text", "hex" or "image": the view to show first
    text_html: str
    hex_html: str
    image: bytes | None = None
    image_format: str = "png"


def hexdump(data: bytes) -> str:
    lines = []
    for off in range(0, len(data), 16):
        row = data[off:off + 16]
        hexes = " ".join(f"{b:02x}" for b in row)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
        lines.append(f"{off:08x}  {hexes:<47}  {text}")
    return "\n".join(lines)


def _pre(body: str, note: str = "") -> str:
    head = f'<div style="color:#666;font-size:90%">{html.escape(note)}</div>' if note else ""
    return (f'{head}<pre style="max-height:360px;overflow:auto;margin:0;font-size:12px;'
            f'white-space:pre-wrap;word-break:break-all">{html.escape(body)}</pre>')


def preview(snap: kloset.Snapshot, entry: kloset.Entry) -> Preview:
    """Read the head of ``entry``'s content and decide how to show it. Errors reading it (a damaged
    pack) propagate as kloset errors for the caller to show."""
    fmt = _IMAGE_FORMATS.get(entry.content_type or "")
    want = IMAGE_BYTES if fmt and entry.size <= IMAGE_BYTES else TEXT_BYTES
    with snap.open(entry.path) as f:
        head = f.read(want) or b""
    cut = f"first {_human(min(len(head), TEXT_BYTES))} of {_human(entry.size)}" if entry.size > TEXT_BYTES else ""
    hexed = _pre(hexdump(head[:HEX_BYTES]), f"first {_human(HEX_BYTES)} of {_human(entry.size)}"
                 if entry.size > HEX_BYTES else "")
    text_head = head[:TEXT_BYTES]
    text: str | None
    try:
        text = None if b"\x00" in text_head[:8192] else text_head.decode("utf-8")
    except UnicodeDecodeError as e:
        # A multi-byte character cut at the end of the head is still text.
        text = text_head[:e.start].decode("utf-8") if e.start >= len(text_head) - 3 else None
    if fmt and entry.size <= IMAGE_BYTES:
        return Preview("image", _pre("an image: see the image view"), hexed, head, fmt)
    if text is None:
        return Preview("hex", _pre("", "binary content: shown as hex"), hexed)
    return Preview("text", _pre(text, cut), hexed)
