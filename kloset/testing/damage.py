"""Real damage to a store on the local filesystem, for tests of what a damaged store does."""

from __future__ import annotations

from pathlib import Path

from ..store import Store


def damage_blob(store: Store, blob_id: bytes) -> Path:
    """Flip a byte in the middle of one blob where its packfile holds it (an fs store); return the
    packfile."""
    _, pack_id, _, offset, length = store._repo.index.locate(blob_id)
    path = Path(store.location) / "packfiles" / pack_id.hex()[:2] / pack_id.hex()
    data = bytearray(path.read_bytes())
    data[offset + length // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return path
