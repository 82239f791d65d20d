"""Regenerate ``vectors.json``, the golden vectors that pin docs/format.md.

Run by hand, never by the test suite::

    python tests/format/make_vectors.py

Every vector comes from the fixed inputs below. Where the code draws randomness (subkeys, nonces, IDs)
``os.urandom`` is replaced by a script of fixed values, and the clock by a fixed time, so a run gives
the same file again. Regenerating is a format decision: a vector that changes means stores written
before and after the change differ, and docs/format.md must say so (and bump a version if readers
are affected).

The test module loads this file for the fixed inputs only; the expected outputs come from the json.
"""

from __future__ import annotations

import json
import sys
import tempfile
import unicodedata
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any
from unittest import mock

import blake3
import msgpack
import zstandard
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from kloset.analyzer import Analysis, Finding
from kloset.chunking import Chunker, ChunkingParams
from kloset.compression import compress
from kloset.connectors.ptar.store import PtarStore
from kloset.encryption import KDFParams, Keyring, MasterKeys, Sealer
from kloset.hashing import blob_mac, derive_key, mac
from kloset.objects import BlobType, ResourceType
from kloset.packfile import PackWriter, blob_ad
from kloset.repository.config import StoreConfig
from kloset.repository.locks import _ad as lock_ad
from kloset.repository.state import Index, PackEntry, StateDelta, state_ad
from kloset.snapshot.content import object_id
from kloset.snapshot.header import Header, Piece, Summary
from kloset.snapshot.index import AVERAGE_ROWS, FILES_SCHEMA, MAX_ROWS, MIN_ROWS, PieceWriter, encode_piece
from kloset.snapshot.order import path_key
from kloset.snapshot.results import AnalysisHeader, encode_result, result_id

VECTORS = Path(__file__).with_name("vectors.json")

# -- fixed inputs ---------------------------------------------------------------------------------------

DATA_KEY = bytes(range(0x00, 0x20))
MAC_KEY = bytes(range(0x20, 0x40))
PACK_SUBKEY = bytes(range(0x40, 0x60))
RESOURCE_SUBKEY = bytes(range(0x60, 0x80))
STORE_ID = bytes.fromhex("6b6c6f7365742d676f6c64656e2d3031")  # b"kloset-golden-01"
CREATED_NS = 1_700_000_000_000_000_000
RESULT_OBJECT = bytes(range(0x80, 0xA0))  # the object ID of the result vector
PASSPHRASE = "correct horse battery staple"
# Typed with combining marks (NFD), as some systems produce it; the key is that of the NFC form.
PASSPHRASE_NFD = unicodedata.normalize("NFD", "crème brûlée à Ångström")
KDF = KDFParams(salt=b"kloset-salt-0001", iterations=1, lanes=1, memory_kib=8)


def nonce(i: int) -> bytes:
    """The i-th fixed 96-bit nonce: twelve bytes of 0xa0 + i."""
    return bytes([0xA0 + i]) * 12


def pseudo_random(seed: bytes, n: int) -> bytes:
    """``n`` reproducible bytes: the BLAKE3 extendable output of ``seed``."""
    return blake3.blake3(seed).digest(length=n)


SMALL_CHUNK = b"kloset golden vector: a small chunk stored raw"
TEXT = b"".join(b"line %02d: the quick brown fox jumps over the lazy dog\n" % i for i in range(16))
RANDOM_256 = pseudo_random(b"kloset golden vector: incompressible", 256)
LARGE_SEED = b"kloset golden vector: large blob"
LARGE_SIZE = 2 << 20  # above the size where blob_mac hashes on several threads

CHUNKING_SEED = b"kloset golden vector: chunking"
CHUNKING_SIZE = 4 << 20
CHUNKING_PARAMS = [ChunkingParams(), ChunkingParams(min=4096, normal=16384, max=65536)]

DELETED_SNAPSHOT = bytes([0xD0]) * 32
CONDEMNED_PACK = bytes([0xC0]) * 32
STATE_TIME_NS = 1_700_000_100_000_000_000
STATE_NONCE = bytes(range(0xE0, 0xF0))
LOCK_ID = bytes([0x1C]) * 32
LOCK_BODY = {"hostname": "host.example", "pid": 4242, "time": 1700000000.25, "exclusive": False}

# Paths whose order the spec shows: raw bytes (0xff is not UTF-8), decoded with surrogateescape.
PATHS = [b"/a.b", b"/a/b", b"/", b"/a", b"/a/b/c", b"/a b", b"/ab", b"/a-", b"/A", b"/\xc3\xa9",
         b"/a/\xff", b"/a/b.txt", b"/z", b"/a/0"]

TEXT_ID = blob_mac(MAC_KEY, BlobType.CHUNK, TEXT)
_T0 = 1_700_000_000_000_000_000
# Rows of a files piece, one value per FILES_SCHEMA column in schema order. The last entry's name has
# the byte 0xff, which is not UTF-8: its display path escapes it and raw_path keeps the bytes.
FILES_ROWS: list[tuple[Any, ...]] = [
    ("/data", None, "dir", 0o040755, 1000, 1000, "alice", "staff", 0, _T0, _T0, 2049, 100, 3, 0, "", None, "",
     None, 0),
    ("/data/a.txt", None, "file", 0o100644, 1000, 1000, "alice", "staff", len(TEXT), _T0 + 1_000_000_000,
     _T0 + 1_500_000_000, 2049, 101, 1, 0, "", TEXT_ID, "text/plain", 4.25, 1),
    ("/data/bin\\xff", b"/data/bin\xff", "symlink", 0o120777, 0, 0, "root", "root", 0, _T0 + 7, _T0 + 8, 2049,
     102, 1, 0, "a.txt", None, "", None, 0),
]


def cut_paths() -> list[str]:
    """Paths for the piece-cutting vector: 20000 paths in snapshot order, with every boundary key
    dropped between rows 5000 and 15000 so that the MAX_ROWS bound has to cut as well."""
    out = []
    for i in range(20000):
        p = f"/src/d{i // 500:02d}/f{i:05d}"
        if 5000 <= i < 15000 and zlib.crc32(path_key(p)) % AVERAGE_ROWS == 0:
            continue
        out.append(p)
    assert out == sorted(out, key=path_key)
    return out


# -- fixed randomness ------------------------------------------------------------------------------------


class ScriptedRandom:
    """A stand-in for ``os.urandom`` that hands out fixed values in order, checking each size."""

    def __init__(self, *values: bytes) -> None:
        self._values = list(values)

    def __call__(self, n: int) -> bytes:
        if not self._values:
            raise AssertionError(f"unexpected os.urandom({n})")
        v = self._values.pop(0)
        if len(v) != n:
            raise AssertionError(f"os.urandom({n}) asked for, the script has {len(v)} bytes")
        return v

    def check_done(self) -> None:
        if self._values:
            raise AssertionError(f"{len(self._values)} scripted random values were not used")


@contextmanager
def scripted_urandom(*values: bytes, time_ns: int | None = None) -> Iterator[ScriptedRandom]:
    fake = ScriptedRandom(*values)
    with mock.patch("os.urandom", fake):
        if time_ns is None:
            yield fake
        else:
            with mock.patch("time.time_ns", return_value=time_ns):
                yield fake
    fake.check_done()


def keyring(encrypted: bool = True) -> Keyring:
    return Keyring(MasterKeys(DATA_KEY, MAC_KEY), encrypted=encrypted)


# The ptar vector: a config and resources put in this order (the lock is never sealed; the state put
# twice is stored once; the pack deleted leaves its bytes, unnamed).
PTAR_CONFIG = b"kloset golden vector: a ptar's config"
PTAR_PUTS = [
    (ResourceType.PACKFILE, bytes([0x22]) * 32, b"pack two"),
    (ResourceType.STATE, bytes([0x33]) * 32, b"state"),
    (ResourceType.LOCK, bytes([0x44]) * 32, b"lock"),
    (ResourceType.PACKFILE, bytes([0x11]) * 32, b"pack one"),
    (ResourceType.STATE, bytes([0x33]) * 32, b"state"),
    (ResourceType.PACKFILE, bytes([0x55]) * 32, b"deleted"),
]
PTAR_DELETED = (ResourceType.PACKFILE, bytes([0x55]) * 32)


def ptar_file(directory: str) -> bytes:
    """The bytes of the ptar file the fixed puts make, written into ``directory``."""
    store = PtarStore({"location": f"ptar://{directory}/golden.ptar"})
    store.create(PTAR_CONFIG)
    for rtype, rid, data in PTAR_PUTS:
        store.put(rtype, rid, data)
    store.delete(*PTAR_DELETED)
    store.close()
    with open(f"{directory}/golden.ptar", "rb") as f:
        return f.read()


# -- building -------------------------------------------------------------------------------------------


def h(b: bytes | bytearray | memoryview) -> str:
    return bytes(b).hex()


def build() -> dict[str, Any]:
    v: dict[str, Any] = {
        "about": "Golden vectors of docs/format.md (kloset store format 1). Byte strings are hex. "
                 "Regenerate with tests/format/make_vectors.py; read by test_golden_vectors.py.",
        "generated_with": {p: version(p) for p in
                           ("blake3", "cryptography", "msgpack", "pyarrow", "pyfastcdc", "zstandard")},
        "keys": {"data_key": h(DATA_KEY), "mac_key": h(MAC_KEY), "pack_subkey": h(PACK_SUBKEY),
                 "resource_subkey": h(RESOURCE_SUBKEY)},
    }

    # IDs and MACs
    v["blob_mac"] = [{"type": int(t), "data": h(d), "mac": h(blob_mac(MAC_KEY, t, d))}
                     for t, d in ((BlobType.CHUNK, b"hello, kloset"), (BlobType.SNAPSHOT, b""),
                                  (BlobType.FILES, b"PAR1"))]
    large = pseudo_random(LARGE_SEED, LARGE_SIZE)
    v["blob_mac_large"] = {"type": int(BlobType.CHUNK), "seed": LARGE_SEED.decode(), "size": LARGE_SIZE,
                           "mac": h(blob_mac(MAC_KEY, BlobType.CHUNK, large))}
    v["mac"] = [{"data": h(d), "mac": h(mac(MAC_KEY, d))} for d in (b"", b"kloset")]
    ctx = "kloset golden vector 2025-01-01 derive_key"
    v["derive_key"] = [{"context": ctx, "material": h(DATA_KEY), "key": h(derive_key(ctx, DATA_KEY))}]
    cids = [blob_mac(MAC_KEY, BlobType.CHUNK, d) for d in (b"first chunk", b"second chunk", b"third chunk")]
    v["object_id"] = {"chunk_ids": [h(c) for c in cids], "object_id": h(object_id(MAC_KEY, cids) or b""),
                      "single_chunk_object_id": h(object_id(MAC_KEY, cids[:1]) or b"")}

    # compression
    algo, compressed = compress(TEXT)
    payload = bytes(compressed)
    assert algo == 1
    v["compression"] = {
        "zstd": {"algorithm": algo, "plaintext": h(TEXT), "payload": h(payload)},
        "raw": [{"plaintext": h(d), "algorithm": compress(d)[0]} for d in (SMALL_CHUNK, RANDOM_256)],
    }

    # sealing
    blob_id = blob_mac(MAC_KEY, BlobType.CHUNK, b"hello, kloset")
    ad = blob_ad(BlobType.CHUNK, blob_id)
    plain = b"\x00hello, kloset"
    with scripted_urandom(nonce(0)):
        aead = Sealer(PACK_SUBKEY, MAC_KEY).seal(ad, plain)
    v["seal"] = {
        "aead": {"key": h(PACK_SUBKEY), "nonce": h(nonce(0)), "ad": h(ad), "plaintext": h(plain),
                 "sealed": h(aead)},
        "plaintext": {"mac_key": h(MAC_KEY), "ad": h(ad), "plaintext": h(plain),
                      "sealed": h(Sealer(None, MAC_KEY).seal(ad, plain))},
    }
    with scripted_urandom(RESOURCE_SUBKEY, nonce(1)):
        canary = keyring().canary()
    v["canary"] = {"encrypted": {"subkey": h(RESOURCE_SUBKEY), "nonce": h(nonce(1)), "sealed": h(canary)},
                   "plaintext": {"sealed": h(keyring(False).canary())}}

    # keys and the KDF
    kek = KDF.derive(PASSPHRASE)
    v["kdf"] = {"passphrase": PASSPHRASE, "params": {**KDF.to_dict(), "salt": h(KDF.salt)}, "key": h(kek)}
    nfc = unicodedata.normalize("NFC", PASSPHRASE_NFD)
    assert nfc != PASSPHRASE_NFD
    v["kdf_nfc"] = {"nfd_utf8": h(PASSPHRASE_NFD.encode()), "nfc_utf8": h(nfc.encode()),
                    "key": h(KDF.derive(PASSPHRASE_NFD))}
    with scripted_urandom(nonce(2)):
        wrapped = MasterKeys(DATA_KEY, MAC_KEY).wrap(kek)
    v["master_keys"] = {"kek": h(kek), "nonce": h(nonce(2)), "wrapped": h(wrapped)}

    # config
    with scripted_urandom(DATA_KEY, MAC_KEY, STORE_ID, nonce(2), RESOURCE_SUBKEY, nonce(3), time_ns=CREATED_NS):
        cfg, _ = StoreConfig.new(PASSPHRASE, kdf=KDF, pack_max_size=16 << 20)
    with scripted_urandom(DATA_KEY, MAC_KEY, STORE_ID, time_ns=CREATED_NS):
        pcfg, _ = StoreConfig.new(None)
    v["config"] = {
        "encrypted": {"passphrase": PASSPHRASE, "store_id": h(STORE_ID), "created": CREATED_NS,
                      "canary_nonce": h(nonce(3)), "bytes": h(cfg.serialize())},
        "plaintext": {"store_id": h(STORE_ID), "created": CREATED_NS, "bytes": h(pcfg.serialize())},
    }

    # packfiles
    blobs = [(BlobType.CHUNK, SMALL_CHUNK, 0, SMALL_CHUNK), (BlobType.CHUNK, TEXT, algo, payload)]
    w = PackWriter(Sealer(PACK_SUBKEY, MAC_KEY), aes_key_wrap(DATA_KEY, PACK_SUBKEY))
    with scripted_urandom(nonce(4), nonce(5), nonce(6)):
        for t, data, c, pl in blobs:
            w.add(t, blob_mac(MAC_KEY, t, data), c, pl)
        pack_id, pack = w.finish(MAC_KEY, padding=False)
    pw = PackWriter(Sealer(None, MAC_KEY), b"")
    pw.add(BlobType.CHUNK, blob_mac(MAC_KEY, BlobType.CHUNK, SMALL_CHUNK), 0, SMALL_CHUNK)
    ppack_id, ppack = pw.finish(MAC_KEY, padding=False)

    def blob_list(writer: PackWriter, sources: list[tuple[BlobType, bytes, int, bytes]]) -> list[dict[str, Any]]:
        return [{"type": b.type, "id": h(b.id), "offset": b.offset, "length": b.length, "compression": c,
                 "payload": h(pl), "plaintext": h(d)} for b, (_, d, c, pl) in zip(writer.blobs, sources, strict=True)]

    v["packfile"] = {
        "encrypted": {"subkey": h(PACK_SUBKEY), "wrapped_subkey": h(w.wrapped_key),
                      "nonces": [h(nonce(i)) for i in (4, 5, 6)], "blobs": blob_list(w, blobs),
                      "pack_id": h(pack_id), "bytes": h(pack)},
        "plaintext": {"blobs": blob_list(pw, blobs[:1]), "pack_id": h(ppack_id), "bytes": h(ppack)},
    }

    # states and the index cache
    delta = StateDelta(packs=[PackEntry(pack_id, w.wrapped_key, w.blobs)], deleted=[DELETED_SNAPSHOT],
                       time_ns=STATE_TIME_NS)
    with scripted_urandom(STATE_NONCE, RESOURCE_SUBKEY, nonce(7)):
        sid, sealed_state = delta.encode(keyring())
    raw_state = zstandard.ZstdDecompressor().decompress(keyring().open_resource(state_ad(sid), sealed_state))
    v["state"] = {"time": STATE_TIME_NS, "nonce": h(STATE_NONCE), "subkey": h(RESOURCE_SUBKEY),
                  "seal_nonce": h(nonce(7)), "deleted": [h(DELETED_SNAPSHOT)], "state_id": h(sid),
                  "msgpack": h(raw_state), "sealed": h(sealed_state)}
    idx = Index()
    idx.merge(sid, delta)
    v["index_cache"] = {"dump": h(idx.dump())}
    # a maintenance state: the same pack kept, one pack waiting for its grace period to end
    kept = StateDelta(packs=[PackEntry(pack_id, w.wrapped_key, w.blobs)], time_ns=STATE_TIME_NS + 1,
                      condemned={CONDEMNED_PACK: STATE_TIME_NS - 1})
    with scripted_urandom(STATE_NONCE, RESOURCE_SUBKEY, nonce(9)):
        msid, sealed_mstate = kept.encode(keyring())
    raw_mstate = zstandard.ZstdDecompressor().decompress(keyring().open_resource(state_ad(msid), sealed_mstate))
    v["state_maintenance"] = {"time": STATE_TIME_NS + 1, "seal_nonce": h(nonce(9)),
                              "condemned": [[h(CONDEMNED_PACK), STATE_TIME_NS - 1]], "state_id": h(msid),
                              "msgpack": h(raw_mstate), "sealed": h(sealed_mstate)}

    # locks
    body = msgpack.packb(LOCK_BODY)
    with scripted_urandom(RESOURCE_SUBKEY, nonce(8)):
        sealed_lock = keyring().seal_resource(lock_ad(LOCK_ID), body)
    v["lock"] = {"lock_id": h(LOCK_ID), "ad": h(lock_ad(LOCK_ID)), "body": h(body), "nonce": h(nonce(8)),
                 "sealed": h(sealed_lock)}

    # snapshots: a files piece, the piece-cutting rule, a header
    cols = {n: [r[i] for r in FILES_ROWS] for i, n in enumerate(FILES_SCHEMA.names)}
    piece = encode_piece(FILES_SCHEMA, cols)
    assert piece == encode_piece(FILES_SCHEMA, cols)
    piece_id = blob_mac(MAC_KEY, BlobType.FILES, piece)
    v["files_piece"] = {"blake3": blake3.blake3(piece).hexdigest(), "blob_id": h(piece_id), "size": len(piece),
                        "bytes": h(piece)}
    pwriter = PieceWriter("errors", lambda t, d: blob_mac(MAC_KEY, t, d))
    paths = cut_paths()
    for path in paths:
        pwriter.append(path_key(path), (path, None, "e"))
    pwriter.flush()
    pieces = [pc.rows for pc in pwriter.pieces]
    assert sum(pieces) == len(paths) and MAX_ROWS in pieces and min(pieces[:-1]) >= MIN_ROWS
    v["piece_cuts"] = {"paths": len(paths), "rows": pieces,
                       "first": [h(p.first) for p in pwriter.pieces]}
    header = Header(
        timestamp_ns=CREATED_NS + 123_456_789, duration_ns=2_500_000_000, hostname="host.example",
        username="alice", os="linux", arch="x86_64", command_line="kloset backup /data", name="daily",
        category="test", environment="dev", perimeter="lab", job="nightly", tags=["golden", "v1"],
        importer_type="fs", importer_origin="host.example", importer_root="/data", parent=bytes([0xAB]) * 32,
        summary=Summary(files=1, dirs=1, symlinks=1, others=0, errors=0, size=len(TEXT), stored=1234,
                        new_chunks=2, reused_files=0),
        tables={"files": [Piece(piece_id, len(FILES_ROWS), path_key("/data"))], "chunks": [], "xattrs": [],
                "errors": []},
        nonce=bytes(range(16)),
    )
    hb = header.encode()
    v["header"] = {"bytes": h(hb), "snapshot_id": h(blob_mac(MAC_KEY, BlobType.SNAPSHOT, hb))}

    # analyses: a result blob and an analysis header
    analysis = Analysis([Finding("email", "j***@example.com", 25, 0.99, 3), Finding("iban", "DE***", 80, 0.99, 1)],
                        ["pii:email", "pii:iban"], {"messages": [{"subject": "hello", "attachments": []}]})
    result = encode_result("gdpr@1", RESULT_OBJECT, analysis)
    v["result"] = {"key": "gdpr@1", "object_id": h(RESULT_OBJECT), "bytes": h(result),
                   "result_id": h(result_id(MAC_KEY, "gdpr@1", RESULT_OBJECT))}
    ah = AnalysisHeader(bytes([0xCD]) * 32, ["email@1", "gdpr@1"], CREATED_NS + 5_000_000_000,
                        {"findings": [Piece(bytes([0xEF]) * 32, 2, RESULT_OBJECT + b"('gdpr', 'email', 'j***')")]},
                        bytes(range(16, 32)))
    ab = ah.encode()
    v["analysis"] = {"bytes": h(ab), "analysis_id": h(blob_mac(MAC_KEY, BlobType.ANALYSIS, ab))}

    # order
    decoded = [p.decode("utf-8", "surrogateescape") for p in PATHS]
    v["path_key"] = {"paths": [h(p) for p in PATHS], "keys": [h(path_key(p)) for p in decoded],
                     "sorted": [h(p.encode("utf-8", "surrogateescape")) for p in sorted(decoded, key=path_key)]}

    # chunking
    buf = pseudo_random(CHUNKING_SEED, CHUNKING_SIZE)
    v["chunking"] = {"seed": CHUNKING_SEED.decode(), "size": CHUNKING_SIZE, "runs": [
        {"params": p.to_dict(), "lengths": [len(c) for c in Chunker(p).chunks_of(buf)]} for p in CHUNKING_PARAMS]}
    from pyfastcdc.py.constants import GEAR

    v["chunking"]["gear_blake3"] = blake3.blake3(b"".join(g.to_bytes(8, "little") for g in GEAR)).hexdigest()

    # the ptar file
    with tempfile.TemporaryDirectory() as directory:
        v["ptar"] = {"config": h(PTAR_CONFIG), "file": h(ptar_file(directory))}
    return v


def dumps(obj: Any, indent: str = "") -> str:
    """JSON with one member per line, and lists of numbers or short strings kept on one line."""
    inner = indent + " "
    if isinstance(obj, dict):
        members = [f"{inner}{json.dumps(k)}: {dumps(x, inner)}" for k, x in obj.items()]
        return "{\n" + ",\n".join(members) + "\n" + indent + "}"
    if isinstance(obj, list) and any(isinstance(x, (dict, list)) or (isinstance(x, str) and len(x) > 80)
                                     for x in obj):
        return "[\n" + ",\n".join(inner + dumps(x, inner) for x in obj) + "\n" + indent + "]"
    return json.dumps(obj)


def main() -> None:
    out = dumps(build()) + "\n"
    VECTORS.write_text(out)
    print(f"wrote {VECTORS} ({len(out)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
