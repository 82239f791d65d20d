"""Real damage to a store on the local filesystem: a flipped byte inside one stored blob."""

from __future__ import annotations

from pathlib import Path

import kloset


def damage_blob(store: kloset.Store, blob_id: bytes) -> Path:
    """Flip a byte in the middle of one blob where its packfile holds it; return the packfile."""
    _, pack_id, _, offset, length = store._repo.index.locate(blob_id)
    path = Path(store.location) / "packfiles" / pack_id.hex()[:2] / pack_id.hex()
    data = bytearray(path.read_bytes())
    data[offset + length // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return path
