"""Golden vectors: the byte-level format of docs/format.md, pinned.

Each test reads a stored vector from vectors.json and checks two things: that the code reads it (opens,
parses, decodes it to the documented values), and, where the code writes it from fixed inputs, that it
writes the same bytes again. Many tests also rebuild the vector from the primitives named in the spec
(BLAKE3, AES-GCM, AES-KW, Argon2id, struct, msgpack) so that the document, not only the code, is
checked. Tampering with a stored vector must give a typed error.
"""

from __future__ import annotations

import importlib.util
import io
import json
import math
import struct
import sys
import time
import unicodedata
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import blake3
import msgpack
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

from kloset.analyzer import Finding
from kloset.chunking import Chunker, ChunkingParams
from kloset.compression import compress, decompress
from kloset.encryption import CANARY, KDFParams, Keyring, MasterKeys, Sealer
from kloset.errors import AuthenticationError, IntegrityError, LockError
from kloset.hashing import blob_mac, derive_key, mac
from kloset.objects import BlobType, ResourceType
from kloset.packfile import (
    FOOTER,
    INDEX_AD,
    BlobLocation,
    BlobTable,
    PackWriter,
    blob_ad,
    open_blob,
    read_footer,
    read_index,
)
from kloset.repository.config import StoreConfig
from kloset.repository.locks import Lock
from kloset.repository.state import Index, PackEntry, StateDelta, state_ad
from kloset.snapshot.content import OBJECT_DOMAIN, object_id
from kloset.snapshot.header import Header, Piece, Summary
from kloset.snapshot.index import (
    AVERAGE_ROWS,
    BLOB_TYPES,
    FILES_SCHEMA,
    MAX_ROWS,
    MIN_ROWS,
    PieceWriter,
    decode_piece,
    encode_piece,
    schemas,
)
from kloset.snapshot.order import path_key
from kloset.snapshot.results import AnalysisHeader, decode_result, encode_result, prefix_length, result_id
from kloset.snapshot.rows import row_key, row_pathname, split_path
from kloset.testing.memory import MemoryStore


def _load_generator() -> ModuleType:
    """make_vectors.py, for its fixed inputs (loaded by path: tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location("kloset_format_make_vectors",
                                                  Path(__file__).with_name("make_vectors.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


gen = _load_generator()
V: dict[str, Any] = json.loads(gen.VECTORS.read_text())
DATA_KEY, MAC_KEY = gen.DATA_KEY, gen.MAC_KEY


# Byte strings as docs/format.md writes them (sections 8 and 13).
STATE_AD_PREFIX = b"kloset state" + b"\x00"
LOCK_AD_PREFIX = b"kloset lock" + b"\x00"
DOC_OBJECT_DOMAIN = b"\x80" + b"kloset object" + b"\x00"


def x(s: str) -> bytes:
    return bytes.fromhex(s)


def flipped(data: bytes, i: int) -> bytes:
    b = bytearray(data)
    b[i] ^= 0x01
    return bytes(b)


def keyring(encrypted: bool = True) -> Keyring:
    return Keyring(MasterKeys(DATA_KEY, MAC_KEY), encrypted=encrypted)


def test_the_fixed_keys_are_the_documented_ones() -> None:
    assert V["keys"] == {"data_key": DATA_KEY.hex(), "mac_key": MAC_KEY.hex(),
                         "pack_subkey": gen.PACK_SUBKEY.hex(), "resource_subkey": gen.RESOURCE_SUBKEY.hex()}


# -- IDs and MACs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("vec", V["blob_mac"], ids=lambda v: f"type{v['type']}")
def test_blob_mac_is_keyed_blake3_of_the_type_byte_then_the_data(vec: dict[str, Any]) -> None:
    data = x(vec["data"])
    assert blob_mac(MAC_KEY, BlobType(vec["type"]), data).hex() == vec["mac"]
    assert blake3.blake3(bytes([vec["type"]]) + data, key=MAC_KEY).hexdigest() == vec["mac"]


def test_blob_mac_of_a_large_blob_does_not_depend_on_threading() -> None:
    vec = V["blob_mac_large"]
    data = gen.pseudo_random(vec["seed"].encode(), vec["size"])
    assert blob_mac(MAC_KEY, BlobType(vec["type"]), data).hex() == vec["mac"]
    single = blake3.blake3(bytes([vec["type"]]), key=MAC_KEY, max_threads=1)
    single.update(data)
    assert single.hexdigest() == vec["mac"]


@pytest.mark.parametrize("vec", V["mac"], ids=lambda v: v["data"] or "empty")
def test_mac_is_keyed_blake3_of_the_bytes(vec: dict[str, Any]) -> None:
    assert mac(MAC_KEY, x(vec["data"])).hex() == vec["mac"]
    assert blake3.blake3(x(vec["data"]), key=MAC_KEY).hexdigest() == vec["mac"]


@pytest.mark.parametrize("vec", V["derive_key"], ids=lambda v: v["context"])
def test_derive_key_is_blake3_key_derivation_mode(vec: dict[str, Any]) -> None:
    assert derive_key(vec["context"], x(vec["material"])).hex() == vec["key"]
    assert blake3.blake3(x(vec["material"]), derive_key_context=vec["context"]).hexdigest() == vec["key"]


def test_object_id_of_several_chunks_is_the_mac_of_the_object_domain_then_their_ids() -> None:
    vec = V["object_id"]
    ids = [x(c) for c in vec["chunk_ids"]]
    assert object_id(MAC_KEY, ids) == x(vec["object_id"])
    assert OBJECT_DOMAIN == DOC_OBJECT_DOMAIN and DOC_OBJECT_DOMAIN.hex() == "806b6c6f736574206f626a65637400"
    assert blake3.blake3(DOC_OBJECT_DOMAIN + b"".join(ids), key=MAC_KEY).digest() == x(vec["object_id"])


def test_the_object_domain_begins_with_no_blob_type() -> None:
    assert DOC_OBJECT_DOMAIN[0] == 0x80 and all(int(t) < 0x80 for t in BlobType)
    ids = b"".join(x(c) for c in V["object_id"]["chunk_ids"])
    assert x(V["object_id"]["object_id"]) not in {blob_mac(MAC_KEY, t, ids) for t in BlobType}


def test_object_id_of_one_chunk_is_that_chunk_and_empty_content_has_none() -> None:
    ids = [x(c) for c in V["object_id"]["chunk_ids"]]
    assert object_id(MAC_KEY, ids[:1]) == ids[0] == x(V["object_id"]["single_chunk_object_id"])
    assert object_id(MAC_KEY, []) is None


# -- compression ----------------------------------------------------------------------------------------


def test_stored_zstd_payload_decompresses_to_the_plaintext() -> None:
    vec = V["compression"]["zstd"]
    plain, payload = x(vec["plaintext"]), x(vec["payload"])
    assert vec["algorithm"] == 1
    assert payload[:4] == b"\x28\xb5\x2f\xfd"  # one zstd frame
    assert zstandard.get_frame_parameters(payload).content_size == len(plain)
    assert decompress(1, payload, len(plain)) == plain
    assert zstandard.ZstdDecompressor().decompress(payload) == plain


def test_compressible_data_is_stored_as_zstd() -> None:
    plain = x(V["compression"]["zstd"]["plaintext"])
    algo, payload = compress(plain)
    assert algo == 1 and len(payload) <= len(plain) * 31 / 32
    assert decompress(algo, bytes(payload), len(plain)) == plain


@pytest.mark.parametrize("vec", V["compression"]["raw"], ids=["short", "incompressible"])
def test_short_or_incompressible_data_is_stored_raw(vec: dict[str, Any]) -> None:
    plain = x(vec["plaintext"])
    assert vec["algorithm"] == 0
    assert compress(plain) == (0, plain)
    assert decompress(0, plain, len(plain)) == plain


def test_an_unknown_compression_byte_or_a_corrupt_frame_is_an_integrity_error() -> None:
    payload = x(V["compression"]["zstd"]["payload"])
    with pytest.raises(IntegrityError):
        decompress(2, payload, 1000)
    with pytest.raises(IntegrityError):
        decompress(1, payload[:-3], 1000)


# -- sealing --------------------------------------------------------------------------------------------


def test_aead_seal_opens_and_sealing_with_the_fixed_nonce_gives_the_same_bytes() -> None:
    vec = V["seal"]["aead"]
    key, ad, plain, sealed = x(vec["key"]), x(vec["ad"]), x(vec["plaintext"]), x(vec["sealed"])
    sealer = Sealer(key, MAC_KEY)
    assert sealer.open(ad, sealed) == plain
    with gen.scripted_urandom(x(vec["nonce"])):
        assert sealer.seal(ad, plain) == sealed
    # nonce || AES-256-GCM ciphertext || 16-byte tag, the AD bound in
    assert len(sealed) == 12 + len(plain) + 16 and sealed[:12] == x(vec["nonce"])
    assert AESGCM(key).decrypt(sealed[:12], sealed[12:], ad) == plain


def test_plaintext_seal_is_the_data_then_a_keyed_blake3_tag_over_ad_and_data() -> None:
    vec = V["seal"]["plaintext"]
    ad, plain, sealed = x(vec["ad"]), x(vec["plaintext"]), x(vec["sealed"])
    sealer = Sealer(None, x(vec["mac_key"]))
    assert sealer.open(ad, sealed) == plain
    assert sealer.seal(ad, plain) == sealed
    assert sealed == plain + blake3.blake3(ad + plain, key=MAC_KEY).digest()


@pytest.mark.parametrize("mode", ["aead", "plaintext"])
def test_every_flipped_byte_of_a_sealed_vector_is_an_integrity_error(mode: str) -> None:
    vec = V["seal"][mode]
    sealer = Sealer(x(vec["key"]) if mode == "aead" else None, MAC_KEY)
    sealed, ad = x(vec["sealed"]), x(vec["ad"])
    for i in range(len(sealed)):
        with pytest.raises(IntegrityError):
            sealer.open(ad, flipped(sealed, i))
    with pytest.raises(IntegrityError):
        sealer.open(flipped(ad, 0), sealed)  # another blob's type or ID
    with pytest.raises(IntegrityError):
        sealer.open(ad, sealed[: sealer.overhead - 1])  # truncated


def test_encrypted_canary_is_a_wrapped_subkey_then_a_sealed_canary() -> None:
    vec = V["canary"]["encrypted"]
    sealed = x(vec["sealed"])
    ring = keyring()
    ring.check_canary(sealed)
    assert ring.open_resource(b"canary", sealed) == CANARY == b"kloset canary v1"
    with gen.scripted_urandom(x(vec["subkey"]), x(vec["nonce"])):
        assert ring.canary() == sealed
    # AES-KW(data key, subkey) || nonce || AES-256-GCM(subkey, nonce, canary, ad="canary")
    assert len(sealed) == 40 + 12 + len(CANARY) + 16
    subkey = aes_key_unwrap(DATA_KEY, sealed[:40])
    assert subkey == x(vec["subkey"])
    assert AESGCM(subkey).decrypt(sealed[40:52], sealed[52:], b"canary") == CANARY


def test_a_tampered_canary_means_a_wrong_passphrase() -> None:
    sealed = x(V["canary"]["encrypted"]["sealed"])
    ring = keyring()
    for i in (0, 39, 40, 51, 52, len(sealed) - 1):
        with pytest.raises(IntegrityError):
            ring.open_resource(b"canary", flipped(sealed, i))
        with pytest.raises(AuthenticationError):
            ring.check_canary(flipped(sealed, i))
    with pytest.raises(AuthenticationError):
        Keyring(MasterKeys(MAC_KEY, DATA_KEY), encrypted=True).check_canary(sealed)


def test_plaintext_canary_has_no_wrapped_subkey() -> None:
    sealed = x(V["canary"]["plaintext"]["sealed"])
    assert sealed == CANARY + blake3.blake3(b"canary" + CANARY, key=MAC_KEY).digest()
    keyring(False).check_canary(sealed)
    assert keyring(False).canary() == sealed


# -- keys and the KDF -----------------------------------------------------------------------------------


def test_argon2id_derives_the_stored_key_from_the_passphrase() -> None:
    vec = V["kdf"]
    p = vec["params"]
    params = KDFParams(p["algorithm"], x(p["salt"]), p["iterations"], p["lanes"], p["memory_kib"])
    assert params == gen.KDF
    assert params.derive(vec["passphrase"]).hex() == vec["key"]
    raw = Argon2id(salt=x(p["salt"]), length=32, iterations=p["iterations"], lanes=p["lanes"],
                   memory_cost=p["memory_kib"]).derive(vec["passphrase"].encode("utf-8"))
    assert raw.hex() == vec["key"]


def test_nfc_and_nfd_forms_of_a_passphrase_derive_the_same_key() -> None:
    vec = V["kdf_nfc"]
    nfd, nfc = x(vec["nfd_utf8"]).decode(), x(vec["nfc_utf8"]).decode()
    assert nfd != nfc and unicodedata.normalize("NFC", nfd) == nfc and unicodedata.normalize("NFD", nfc) == nfd
    assert gen.KDF.derive(nfd).hex() == gen.KDF.derive(nfc).hex() == vec["key"]
    # Argon2id over the UTF-8 bytes of the NFC form, whichever form was given
    p = gen.KDF

    def argon2id(password: bytes) -> bytes:
        return Argon2id(salt=p.salt, length=32, iterations=p.iterations, lanes=p.lanes,
                        memory_cost=p.memory_kib).derive(password)

    assert argon2id(nfc.encode("utf-8")).hex() == vec["key"]
    assert argon2id(nfd.encode("utf-8")).hex() != vec["key"]


_KDF_OK = {"salt": gen.KDF.salt, "iterations": 1, "lanes": 1, "memory_kib": 8}


@pytest.mark.parametrize("change", [
    {"algorithm": "scrypt"},
    {"iterations": 0}, {"iterations": 65},
    {"lanes": 0}, {"lanes": 65, "memory_kib": 8 * 65},
    {"memory_kib": (4 << 20) + 1},
    {"memory_kib": 7}, {"lanes": 2, "memory_kib": 15},  # below 8 KiB per lane: Argon2 refuses
    {"salt": b"7 bytes"},
    {"memory_kib": -1},
], ids=["algorithm", "iterations0", "iterations65", "lanes0", "lanes65", "memory4GiB+1", "memory7",
        "memory-per-lane", "short-salt", "memory-negative"])
def test_kdf_parameters_out_of_bounds_are_an_integrity_error(change: dict[str, Any]) -> None:
    with pytest.raises(IntegrityError):
        KDFParams(**{**_KDF_OK, **change}).derive(gen.PASSPHRASE)


def test_kdf_parameters_at_the_bounds_are_accepted() -> None:
    for change in ({"iterations": 64}, {"lanes": 64, "memory_kib": 8 * 64}, {"salt": b"8 bytes!"}):
        assert len(KDFParams(**{**_KDF_OK, **change}).derive(gen.PASSPHRASE)) == 32


def test_a_config_with_kdf_parameters_out_of_bounds_fails_before_deriving() -> None:
    vec = V["config"]["encrypted"]
    for change in ({"iterations": 65}, {"memory_kib": (4 << 20) + 1}):
        def update(b: dict[str, Any], change: dict[str, Any] = change) -> None:
            b["encryption"]["kdf"].update(change)

        cfg = StoreConfig.parse(_repacked(x(vec["bytes"]), update))  # parsed: the parameters are not checked yet
        with mock.patch("kloset.encryption.hash_secret_raw", side_effect=AssertionError("Argon2id was run")), \
                pytest.raises(IntegrityError):
            cfg.unlock(vec["passphrase"])


def test_master_keys_are_wrapped_with_aes_gcm_under_the_passphrase_key() -> None:
    vec = V["master_keys"]
    kek, wrapped = x(vec["kek"]), x(vec["wrapped"])
    with gen.scripted_urandom(x(vec["nonce"])):
        assert MasterKeys(DATA_KEY, MAC_KEY).wrap(kek) == wrapped
    assert len(wrapped) == 12 + 64 + 16
    assert AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], b"kloset master keys") == DATA_KEY + MAC_KEY
    assert MasterKeys.unwrap(kek, wrapped) == MasterKeys(DATA_KEY, MAC_KEY)
    with pytest.raises(AuthenticationError):
        MasterKeys.unwrap(bytes(32), wrapped)
    with pytest.raises(AuthenticationError):
        MasterKeys.unwrap(kek, flipped(wrapped, 20))


# -- the store config -----------------------------------------------------------------------------------

BODY_KEYS = ["magic", "version", "store_id", "created", "chunking", "compression", "packfile", "encryption"]


def test_encrypted_config_parses_and_serializes_to_the_same_bytes() -> None:
    vec = V["config"]["encrypted"]
    data = x(vec["bytes"])
    cfg = StoreConfig.parse(data)
    assert cfg.serialize() == data
    assert cfg.store_id == x(vec["store_id"]) and cfg.created_ns == vec["created"]
    assert cfg.encrypted and cfg.kdf == gen.KDF and cfg.chunking == ChunkingParams()
    assert cfg.pack_max_size == 16 << 20 and len(cfg.wrapped_keys) == 1


def test_unlocking_the_stored_config_with_the_passphrase_yields_the_fixed_keys() -> None:
    cfg = StoreConfig.parse(x(V["config"]["encrypted"]["bytes"]))
    ring = cfg.unlock(V["config"]["encrypted"]["passphrase"])
    assert ring.encrypted and ring.keys == MasterKeys(DATA_KEY, MAC_KEY)


def test_a_wrong_or_missing_passphrase_is_an_authentication_error() -> None:
    cfg = StoreConfig.parse(x(V["config"]["encrypted"]["bytes"]))
    with pytest.raises(AuthenticationError):
        cfg.unlock("not the passphrase")
    with pytest.raises(AuthenticationError):
        cfg.unlock(None)


def test_encrypted_config_layout_from_the_primitives() -> None:
    vec = V["config"]["encrypted"]
    outer = msgpack.unpackb(x(vec["bytes"]))
    assert list(outer) == ["body", "mac"] and len(outer["mac"]) == 32
    body = msgpack.unpackb(outer["body"])
    assert list(body) == BODY_KEYS
    assert body["magic"] == "kloset" and body["version"] == 1
    assert body["store_id"] == x(vec["store_id"]) and body["created"] == vec["created"]
    assert body["chunking"] == {"algorithm": "fastcdc2020", "min": 512 << 10, "normal": 1 << 20, "max": 8 << 20}
    assert body["compression"] == {"algorithm": "zstd", "level": 3}
    assert body["packfile"] == {"max_size": 16 << 20}
    enc = body["encryption"]
    assert list(enc) == ["algorithm", "kdf", "keys", "canary"] and enc["algorithm"] == "aes256-gcm"
    assert enc["kdf"] == {**gen.KDF.to_dict()}
    kek = Argon2id(salt=enc["kdf"]["salt"], length=32, iterations=enc["kdf"]["iterations"],
                   lanes=enc["kdf"]["lanes"], memory_cost=enc["kdf"]["memory_kib"]).derive(vec["passphrase"].encode())
    (wrapped,) = enc["keys"]
    keys = AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], b"kloset master keys")
    assert keys == DATA_KEY + MAC_KEY
    assert blake3.blake3(outer["body"], key=keys[32:]).digest() == outer["mac"]
    canary = enc["canary"]
    assert AESGCM(aes_key_unwrap(keys[:32], canary[:40])).decrypt(canary[40:52], canary[52:], b"canary") == CANARY
    assert canary[40:52] == x(vec["canary_nonce"])


def _repacked(data: bytes, change: Any) -> bytes:
    """The config with its body changed by ``change(body)`` and the old MAC kept."""
    outer = msgpack.unpackb(data)
    body = msgpack.unpackb(outer["body"])
    change(body)
    return msgpack.packb({"body": msgpack.packb(body), "mac": outer["mac"]})


def test_a_config_body_changed_after_the_fact_fails_its_mac() -> None:
    vec = V["config"]["encrypted"]
    data = x(vec["bytes"])
    tampered = _repacked(data, lambda b: b.update(store_id=bytes(16)))
    with pytest.raises(IntegrityError, match="MAC"):
        StoreConfig.parse(tampered).unlock(vec["passphrase"])
    outer = msgpack.unpackb(data)
    bad_mac = msgpack.packb({"body": outer["body"], "mac": flipped(outer["mac"], 0)})
    with pytest.raises(IntegrityError, match="MAC"):
        StoreConfig.parse(bad_mac).unlock(vec["passphrase"])
    plain = x(V["config"]["plaintext"]["bytes"])
    with pytest.raises(IntegrityError, match="MAC"):
        StoreConfig.parse(_repacked(plain, lambda b: b.update(created=0))).unlock(None)


@pytest.mark.parametrize("change", [
    lambda b: b.update(magic="restic"),
    lambda b: b.update(version=2),
    lambda b: b.pop("chunking"),
    lambda b: b["compression"].update(algorithm="lz4"),
    lambda b: b.update(compression="zstd"),
    lambda b: b["encryption"].update(algorithm="chacha20-poly1305"),
    lambda b: b.update(encryption=["aes256-gcm"]),
], ids=["magic", "version", "missing-field", "compression-algorithm", "compression-not-a-map",
        "encryption-algorithm", "encryption-not-a-map"])
def test_a_config_that_is_not_format_1_is_an_integrity_error(change: Any) -> None:
    with pytest.raises(IntegrityError):
        StoreConfig.parse(_repacked(x(V["config"]["encrypted"]["bytes"]), change))


def test_the_compression_level_is_informative_and_plaintext_stores_check_the_algorithm_too() -> None:
    enc, plain = x(V["config"]["encrypted"]["bytes"]), x(V["config"]["plaintext"]["bytes"])
    assert StoreConfig.parse(_repacked(enc, lambda b: b["compression"].update(level=19)))
    with pytest.raises(IntegrityError):
        StoreConfig.parse(_repacked(plain, lambda b: b["compression"].update(algorithm="gzip")))


@pytest.mark.parametrize("body", [["kloset", 1], "kloset", 1, None], ids=["array", "str", "int", "nil"])
def test_a_config_body_that_is_not_a_map_is_an_integrity_error(body: Any) -> None:
    outer = msgpack.unpackb(x(V["config"]["encrypted"]["bytes"]))
    with pytest.raises(IntegrityError):
        StoreConfig.parse(msgpack.packb({"body": msgpack.packb(body), "mac": outer["mac"]}))


def test_a_truncated_config_is_an_integrity_error() -> None:
    data = x(V["config"]["encrypted"]["bytes"])
    for n in (0, 1, len(data) // 2, len(data) - 1):
        with pytest.raises(IntegrityError):
            StoreConfig.parse(data[:n])


def test_plaintext_config_carries_the_mac_key_and_no_encryption() -> None:
    vec = V["config"]["plaintext"]
    data = x(vec["bytes"])
    cfg = StoreConfig.parse(data)
    assert cfg.serialize() == data and not cfg.encrypted and cfg.store_id == x(vec["store_id"])
    ring = cfg.unlock(None)
    assert not ring.encrypted and ring.mac_key == MAC_KEY
    outer = msgpack.unpackb(data)
    body = msgpack.unpackb(outer["body"])
    assert list(body) == [*BODY_KEYS, "mac_key"]
    assert body["encryption"] is None and body["mac_key"] == MAC_KEY
    assert blake3.blake3(outer["body"], key=MAC_KEY).digest() == outer["mac"]


def test_a_new_config_round_trips() -> None:
    cfg, ring = StoreConfig.new("pw", kdf=KDFParams(salt=b"0123456789abcdef", iterations=1, lanes=1, memory_kib=8))
    back = StoreConfig.parse(cfg.serialize())
    assert back.serialize() == cfg.serialize()
    assert back.unlock("pw").keys == ring.keys


# -- packfiles ------------------------------------------------------------------------------------------


def _pack_blobs(vec: dict[str, Any]) -> list[BlobLocation]:
    return [BlobLocation(b["type"], x(b["id"]), b["offset"], b["length"]) for b in vec["blobs"]]


def test_encrypted_pack_is_rebuilt_byte_for_byte_from_fixed_keys_and_nonces() -> None:
    vec = V["packfile"]["encrypted"]
    writer = PackWriter(Sealer(x(vec["subkey"]), MAC_KEY), aes_key_wrap(DATA_KEY, x(vec["subkey"])))
    assert writer.wrapped_key == x(vec["wrapped_subkey"])
    with gen.scripted_urandom(*(x(n) for n in vec["nonces"])):
        for b in vec["blobs"]:
            writer.add(b["type"], x(b["id"]), b["compression"], x(b["payload"]))
        pack_id, data = writer.finish(MAC_KEY, padding=False)
    assert bytes(data) == x(vec["bytes"])
    assert pack_id == x(vec["pack_id"]) == mac(MAC_KEY, x(vec["bytes"]))


def test_plaintext_pack_is_rebuilt_byte_for_byte() -> None:
    vec = V["packfile"]["plaintext"]
    writer = PackWriter(Sealer(None, MAC_KEY), b"")
    for b in vec["blobs"]:
        writer.add(b["type"], x(b["id"]), b["compression"], x(b["payload"]))
    pack_id, data = writer.finish(MAC_KEY, padding=False)
    assert bytes(data) == x(vec["bytes"]) and pack_id == x(vec["pack_id"])


@pytest.mark.parametrize("mode", ["encrypted", "plaintext"])
def test_pack_footer_index_and_blobs_parse(mode: str) -> None:
    vec = V["packfile"][mode]
    data = x(vec["bytes"])
    ring = keyring(mode == "encrypted")
    offset, length, wrapped = read_footer(data)
    magic, version, offset2, length2, wrapped2 = struct.unpack("<8sIQI40s", data[-64:])
    assert FOOTER.size == 64 and (magic, version) == (b"KLOSETPK", 1)
    assert (offset, length, wrapped) == (offset2, length2, wrapped2)
    assert offset + length + 64 == len(data)
    if mode == "encrypted":
        assert wrapped == x(vec["wrapped_subkey"])
    else:
        assert wrapped == bytes(40)
    sealer = ring.sealer(wrapped)
    assert read_index(data, sealer) == _pack_blobs(vec)
    assert msgpack.unpackb(sealer.open(INDEX_AD, data[offset : offset + length])) == [
        [b["type"], x(b["id"]), b["offset"], b["length"]] for b in vec["blobs"]]
    end = 0
    for b in vec["blobs"]:
        assert b["offset"] == end  # blobs lie back to back from the start of the pack
        end += b["length"]
        sealed = data[b["offset"] : b["offset"] + b["length"]]
        plain = open_blob(sealer, b["type"], x(b["id"]), sealed)
        assert plain == x(b["plaintext"])
        assert blob_mac(MAC_KEY, BlobType(b["type"]), plain) == x(b["id"])
        inner = sealer.open(blob_ad(b["type"], x(b["id"])), sealed)
        assert inner == bytes([b["compression"]]) + x(b["payload"])
    assert end == offset  # then the sealed index, then the footer


def test_encrypted_pack_blob_is_nonce_then_aes_gcm_with_type_and_id_as_ad() -> None:
    vec = V["packfile"]["encrypted"]
    data = x(vec["bytes"])
    key = aes_key_unwrap(DATA_KEY, data[-40:])
    assert key == x(vec["subkey"])
    for b, n in zip(vec["blobs"], vec["nonces"], strict=False):
        sealed = data[b["offset"] : b["offset"] + b["length"]]
        assert sealed[:12] == x(n)
        ad = bytes([b["type"]]) + x(b["id"])
        assert AESGCM(key).decrypt(sealed[:12], sealed[12:], ad) == bytes([b["compression"]]) + x(b["payload"])
    offset, length, _ = read_footer(data)
    index = data[offset : offset + length]
    assert index[:12] == x(vec["nonces"][-1])
    assert msgpack.unpackb(AESGCM(key).decrypt(index[:12], index[12:], b"kloset pack index"))[0][1] == x(
        vec["blobs"][0]["id"])


@pytest.mark.parametrize("mode", ["encrypted", "plaintext"])
def test_every_flipped_byte_of_a_packed_blob_is_an_integrity_error(mode: str) -> None:
    vec = V["packfile"][mode]
    data = x(vec["bytes"])
    sealer = keyring(mode == "encrypted").sealer(data[-40:])
    b = vec["blobs"][0]
    sealed = data[b["offset"] : b["offset"] + b["length"]]
    for i in range(len(sealed)):
        with pytest.raises(IntegrityError):
            open_blob(sealer, b["type"], x(b["id"]), flipped(sealed, i))
    with pytest.raises(IntegrityError):
        open_blob(sealer, BlobType.SNAPSHOT, x(b["id"]), sealed)  # asked for as another type
    assert mac(MAC_KEY, flipped(data, b["offset"])) != x(vec["pack_id"])


@pytest.mark.parametrize("mode", ["encrypted", "plaintext"])
def test_a_damaged_pack_index_or_footer_is_an_integrity_error(mode: str) -> None:
    data = x(V["packfile"][mode]["bytes"])
    sealer = keyring(mode == "encrypted").sealer(data[-40:])
    offset, length, _ = read_footer(data)
    for i in (offset, offset + length // 2, offset + length - 1):
        with pytest.raises(IntegrityError):
            read_index(flipped(data, i), sealer)
    n = len(data)
    for i in (n - 64, n - 56, n - 52, n - 44):  # magic, version, index offset, index length
        with pytest.raises(IntegrityError):
            read_index(flipped(data, i), sealer)
    for cut in (data[:-1], data[1:], data[-63:]):
        with pytest.raises(IntegrityError):
            read_index(cut, sealer)


def test_a_padded_pack_ends_its_blobs_with_a_padding_blob_of_1_to_256_bytes() -> None:
    ring = keyring()
    sealer, wrapped = ring.new_subkey()
    writer = PackWriter(sealer, wrapped)
    writer.add(BlobType.CHUNK, bytes(32), 0, b"x")
    _, data = writer.finish(MAC_KEY)
    blobs = read_index(bytes(data), ring.sealer(wrapped))
    assert [b.type for b in blobs] == [BlobType.CHUNK, BlobType.PADDING]
    pad = blobs[1]
    assert 1 + 1 + 28 <= pad.length <= 256 + 1 + 28
    assert open_blob(ring.sealer(wrapped), pad.type, pad.id, bytes(data[pad.offset : pad.offset + pad.length]))


# -- states and the index cache -------------------------------------------------------------------------


def _expected_delta() -> StateDelta:
    pack = V["packfile"]["encrypted"]
    return StateDelta(packs=[PackEntry(x(pack["pack_id"]), x(pack["wrapped_subkey"]), BlobTable(_pack_blobs(pack)))],
                      deleted=[x(d) for d in V["state"]["deleted"]], time_ns=V["state"]["time"])


def test_stored_state_decodes_to_the_fixed_delta() -> None:
    vec = V["state"]
    assert StateDelta.decode(keyring(), x(vec["state_id"]), x(vec["sealed"])) == _expected_delta()


def test_state_layout_from_the_primitives() -> None:
    vec = V["state"]
    sid, sealed, raw = x(vec["state_id"]), x(vec["sealed"]), x(vec["msgpack"])
    subkey = aes_key_unwrap(DATA_KEY, sealed[:40])
    assert subkey == x(vec["subkey"]) and sealed[40:52] == x(vec["seal_nonce"])
    assert state_ad(sid) == STATE_AD_PREFIX + sid
    frame = AESGCM(subkey).decrypt(sealed[40:52], sealed[52:], STATE_AD_PREFIX + sid)
    assert zstandard.get_frame_parameters(frame).content_size == len(raw)
    assert zstandard.ZstdDecompressor().decompress(frame) == raw
    assert blake3.blake3(raw, key=MAC_KEY).digest() == sid
    d = msgpack.unpackb(raw)
    assert list(d) == ["version", "time", "nonce", "packs", "deleted"]
    assert d["version"] == 1 and d["time"] == vec["time"] and d["nonce"] == x(vec["nonce"])
    pack = V["packfile"]["encrypted"]
    assert d["packs"] == [[x(pack["pack_id"]), x(pack["wrapped_subkey"]),
                           [[b["type"], x(b["id"]), b["offset"], b["length"]] for b in pack["blobs"]]]]
    assert d["deleted"] == [x(i) for i in vec["deleted"]]


def test_encoding_the_fixed_delta_gives_the_stored_state_id() -> None:
    vec = V["state"]
    with gen.scripted_urandom(x(vec["nonce"]), x(vec["subkey"]), x(vec["seal_nonce"])):
        sid, sealed = _expected_delta().encode(keyring())
    assert sid == x(vec["state_id"])
    assert StateDelta.decode(keyring(), sid, sealed) == _expected_delta()


def test_a_maintenance_state_carries_its_condemned_packs_last() -> None:
    vec = V["state_maintenance"]
    sid, sealed, raw = x(vec["state_id"]), x(vec["sealed"]), x(vec["msgpack"])
    assert blake3.blake3(raw, key=MAC_KEY).digest() == sid
    d = msgpack.unpackb(raw)
    assert list(d) == ["version", "time", "nonce", "packs", "deleted", "condemned"]
    assert d["condemned"] == [[x(p), t] for p, t in vec["condemned"]] and d["deleted"] == []
    delta = StateDelta.decode(keyring(), sid, sealed)
    assert delta.condemned == {x(p): t for p, t in vec["condemned"]}
    assert delta.packs == _expected_delta().packs and delta.time_ns == vec["time"]
    # A state without the field (every state a backup writes) is no maintenance's word.
    assert StateDelta.decode(keyring(), x(V["state"]["state_id"]), x(V["state"]["sealed"])).condemned is None


def test_a_tampered_state_or_a_wrong_state_id_is_an_integrity_error() -> None:
    vec = V["state"]
    sid, sealed = x(vec["state_id"]), x(vec["sealed"])
    for i in range(0, len(sealed), 7):
        with pytest.raises(IntegrityError):
            StateDelta.decode(keyring(), sid, flipped(sealed, i))
    with pytest.raises(IntegrityError):
        StateDelta.decode(keyring(), flipped(sid, 0), sealed)
    with pytest.raises(IntegrityError):
        StateDelta.decode(keyring(), sid, sealed[:30])


def test_index_cache_dump_of_the_merged_state_is_pinned() -> None:
    vec = V["state"]
    idx = Index()
    idx.merge(x(vec["state_id"]), _expected_delta())
    dump = x(V["index_cache"]["dump"])
    assert idx.dump() == dump
    assert Index.load(dump).dump() == dump
    d = msgpack.unpackb(dump)
    assert list(d) == ["version", "states", "deleted", "packs", "meta", "blobs"] and d["version"] == 2
    assert d["meta"] == sum(b["type"] != BlobType.CHUNK for b in V["packfile"]["encrypted"]["blobs"])
    pack = V["packfile"]["encrypted"]
    assert d["packs"] == [[x(pack["pack_id"]), x(pack["wrapped_subkey"])]]
    records = list(struct.iter_unpack("<B32sIQI", d["blobs"]))
    assert struct.calcsize("<B32sIQI") == 49
    assert records == [(b["type"], x(b["id"]), 0, b["offset"], b["length"]) for b in pack["blobs"]]


def test_index_skips_padding_blobs() -> None:
    blobs = BlobTable([BlobLocation(BlobType.PADDING, bytes([1]) * 32, 0, 40),
                       BlobLocation(BlobType.CHUNK, bytes([2]) * 32, 40, 40)])
    delta = StateDelta(packs=[PackEntry(bytes(32), b"", blobs)])
    idx = Index()
    idx.merge(bytes(32), delta)
    assert list(idx.blobs) == [bytes([2]) * 32]


# -- locks ----------------------------------------------------------------------------------------------


def test_stored_lock_opens_to_its_documented_fields() -> None:
    vec = V["lock"]
    lid, sealed = x(vec["lock_id"]), x(vec["sealed"])
    ad = LOCK_AD_PREFIX + lid
    assert x(vec["ad"]) == ad
    body = keyring().open_resource(ad, sealed)
    assert body == x(vec["body"])
    assert msgpack.unpackb(body) == gen.LOCK_BODY
    assert list(msgpack.unpackb(body)) == ["hostname", "pid", "time", "exclusive"]
    with gen.scripted_urandom(gen.RESOURCE_SUBKEY, x(vec["nonce"])):
        assert keyring().seal_resource(ad, body) == sealed
    # AES-KW(data key, subkey) || nonce || AES-256-GCM(subkey, nonce, body, ad)
    subkey = aes_key_unwrap(DATA_KEY, sealed[:40])
    assert subkey == gen.RESOURCE_SUBKEY and sealed[40:52] == x(vec["nonce"])
    assert AESGCM(subkey).decrypt(sealed[40:52], sealed[52:], ad) == body
    with pytest.raises(IntegrityError):
        keyring().open_resource(ad, flipped(sealed, 60))
    with pytest.raises(IntegrityError):
        keyring().open_resource(bytes([ResourceType.LOCK]) + lid, sealed)  # AD without its text


def _put_lock_body(storage: MemoryStore, lid: bytes, body: Any) -> None:
    storage.put(ResourceType.LOCK, lid, keyring().seal_resource(LOCK_AD_PREFIX + lid, msgpack.packb(body)))


def _put_lock(storage: MemoryStore, lid: bytes, when: float, exclusive: bool) -> None:
    _put_lock_body(storage, lid, {"hostname": "other", "pid": 1, "time": when, "exclusive": exclusive})


def _store() -> MemoryStore:
    storage = MemoryStore({"location": ""})
    storage.create(b"config")
    return storage


def test_a_stale_lock_is_ignored_and_a_live_exclusive_lock_blocks() -> None:
    storage = _store()
    storage.put(ResourceType.LOCK, x(V["lock"]["lock_id"]), x(V["lock"]["sealed"]))  # from 2023: stale
    with Lock(storage, keyring(), exclusive=True):
        pass
    _put_lock(storage, bytes([7]) * 32, time.time(), exclusive=False)
    with Lock(storage, keyring(), exclusive=False):  # shared locks coexist
        pass
    with pytest.raises(LockError):
        Lock(storage, keyring(), exclusive=True).acquire()
    _put_lock(storage, bytes([8]) * 32, time.time() - 601, exclusive=True)  # stale after 600 s
    with Lock(storage, keyring(), exclusive=False):
        pass
    _put_lock(storage, bytes([9]) * 32, time.time(), exclusive=True)
    with pytest.raises(LockError):
        Lock(storage, keyring(), exclusive=False).acquire()
    assert len(storage.list(ResourceType.LOCK)) == 4  # a refused taker removes its own lock


def _lock_missing(field: str) -> Any:
    return pytest.param(field, id=field)


@pytest.mark.parametrize("missing", [_lock_missing(f) for f in ("hostname", "pid", "time", "exclusive")])
@pytest.mark.parametrize("exclusive", [False, True], ids=["shared", "exclusive"])
def test_a_lock_record_with_a_missing_field_is_ignored(missing: str, exclusive: bool) -> None:
    full = {"hostname": "other", "pid": 1, "time": time.time(), "exclusive": True}
    storage = _store()
    _put_lock_body(storage, bytes([7]) * 32, full)
    with pytest.raises(LockError):  # the whole record holds the store
        Lock(storage, keyring(), exclusive=exclusive).acquire()
    storage = _store()
    _put_lock_body(storage, bytes([7]) * 32, {k: v for k, v in full.items() if k != missing})
    with Lock(storage, keyring(), exclusive=exclusive):
        pass
    assert storage.list(ResourceType.LOCK) == [bytes([7]) * 32]


@pytest.mark.parametrize("body", [
    ["other", 1, 1e18, True],
    {"hostname": "other", "pid": 1, "time": None, "exclusive": True},
    {"hostname": "other", "pid": 1, "time": "soon", "exclusive": True},
], ids=["array", "time-nil", "time-str"])
def test_a_lock_record_that_is_not_a_map_or_has_no_numeric_time_is_ignored(body: Any) -> None:
    storage = _store()
    _put_lock_body(storage, bytes([7]) * 32, body)
    with Lock(storage, keyring(), exclusive=True):
        pass


# -- snapshot header ------------------------------------------------------------------------------------

HEADER_KEYS = ["timestamp_ns", "duration_ns", "hostname", "username", "os", "arch", "command_line", "name",
               "category", "environment", "perimeter", "job", "tags", "importer_type", "importer_origin",
               "importer_root", "parent", "summary", "tables", "nonce", "version"]


def test_header_encodes_to_the_stored_bytes_and_its_id_is_the_snapshot_mac() -> None:
    vec = V["header"]
    data, sid = x(vec["bytes"]), x(vec["snapshot_id"])
    assert blob_mac(MAC_KEY, BlobType.SNAPSHOT, data) == sid
    h = Header.decode(data, sid)
    assert h.id == sid and h.encode() == data
    assert h.summary == Summary(files=1, dirs=1, symlinks=1, size=len(gen.TEXT), stored=1234, new_chunks=2)
    assert h.tables == {"files": [Piece(x(V["files_piece"]["blob_id"]), 3, b"\0data")], "chunks": [],
                        "xattrs": [], "errors": []}
    d = msgpack.unpackb(data)
    assert list(d) == HEADER_KEYS and d["version"] == 1
    assert list(d["summary"]) == ["files", "dirs", "symlinks", "others", "errors", "size", "stored",
                                  "new_chunks", "reused_files"]
    assert d["tables"]["files"] == [[x(V["files_piece"]["blob_id"]), 3, b"\0data"]]
    assert d["nonce"] == bytes(range(16)) and d["parent"] == bytes([0xAB]) * 32


def test_a_header_of_another_version_or_shape_is_an_integrity_error() -> None:
    d = msgpack.unpackb(x(V["header"]["bytes"]))
    for change in ({"version": 2}, {"unknown_field": 1}, {"summary": {"files": "x", "bogus": 1}}):
        with pytest.raises(IntegrityError):
            Header.decode(msgpack.packb({**d, **change}), bytes(32))
    with pytest.raises(IntegrityError):
        Header.decode(b"\xc1", bytes(32))


# -- analyses -------------------------------------------------------------------------------------------


def test_a_result_blob_is_its_key_and_object_then_msgpack_and_its_id_is_the_mac_of_both() -> None:
    vec = V["result"]
    data, oid, rid = x(vec["bytes"]), x(vec["object_id"]), x(vec["result_id"])
    prefix = vec["key"].encode() + b"\0" + oid
    assert data.startswith(prefix) and prefix_length(data) == len(prefix)
    # From the primitives: keyed BLAKE3 over the RESULT type byte and the prefix alone.
    assert blake3.blake3(bytes([7]) + prefix, key=MAC_KEY).digest() == rid == result_id(MAC_KEY, vec["key"], oid)
    body = msgpack.unpackb(data[len(prefix):])
    assert list(body) == ["findings", "tags", "record"]
    assert body["findings"] == [["email", "j***@example.com", 25, 0.99, 3], ["iban", "DE***", 80, 0.99, 1]]
    key, got_oid, analysis = decode_result(data)
    assert (key, got_oid) == (vec["key"], oid)
    assert analysis.findings[0] == Finding("email", "j***@example.com", 25, 0.99, 3)
    assert encode_result(key, oid, analysis) == data
    for bad in (b"no key", vec["key"].encode() + b"\0" + oid[:5], prefix + b"\xc1"):
        with pytest.raises(IntegrityError):
            decode_result(bad)


def test_an_analysis_header_encodes_to_the_stored_bytes() -> None:
    vec = V["analysis"]
    data, aid = x(vec["bytes"]), x(vec["analysis_id"])
    assert blob_mac(MAC_KEY, BlobType.ANALYSIS, data) == aid
    h = AnalysisHeader.decode(data, aid)
    assert (h.snapshot, h.analyzers, h.nonce) == (bytes([0xCD]) * 32, ["email@1", "gdpr@1"], bytes(range(16, 32)))
    assert h.encode() == data
    d = msgpack.unpackb(data)
    assert list(d) == ["version", "snapshot", "analyzers", "time", "nonce", "tables"] and d["version"] == 1
    assert d["tables"]["findings"][0][:2] == [bytes([0xEF]) * 32, 2]
    for change in ({"version": 2}, {"tables": {"findings": [["x"]]}}):
        with pytest.raises(IntegrityError):
            AnalysisHeader.decode(msgpack.packb({**d, **change}), aid)


# -- snapshot tables ------------------------------------------------------------------------------------


def _columns(rows: list[tuple[Any, ...]]) -> dict[str, list[Any]]:
    return {n: [r[i] for r in rows] for i, n in enumerate(FILES_SCHEMA.names)}


def test_a_files_piece_of_fixed_rows_encodes_to_the_stored_bytes() -> None:
    vec = V["files_piece"]
    first = encode_piece(FILES_SCHEMA, _columns(gen.FILES_ROWS))
    assert encode_piece(FILES_SCHEMA, _columns(gen.FILES_ROWS)) == first  # deterministic
    assert blake3.blake3(first).hexdigest() == vec["blake3"], (
        f"the files piece encodes differently (pyarrow {pa.__version__}, vectors made with "
        f"{V['generated_with']['pyarrow']}): snapshot metadata will not deduplicate against older snapshots; "
        "if that is accepted, say so in docs/format.md and regenerate with make_vectors.py")
    assert first == x(vec["bytes"]) and len(first) == vec["size"]
    assert blob_mac(MAC_KEY, BlobType.FILES, first) == x(vec["blob_id"])


def test_the_stored_files_piece_decodes_to_the_fixed_rows() -> None:
    data = x(V["files_piece"]["bytes"])
    assert data[:4] == data[-4:] == b"PAR1"
    t = decode_piece(data)
    assert [(f.name, f.type) for f in t.schema] == [(f.name, f.type) for f in FILES_SCHEMA]
    cols = {n: (t.column(n).cast(pa.int64()) if n in ("mtime", "ctime") else t.column(n)).to_pylist()
            for n in t.column_names}
    rows = list(zip(*cols.values(), strict=True))
    assert rows == gen.FILES_ROWS
    meta = pq.ParquetFile(pa.BufferReader(data)).metadata
    assert b"ARROW:schema" in (meta.metadata or {})
    assert {meta.row_group(0).column(i).compression for i in range(meta.num_columns)} == {"ZSTD"}


@pytest.mark.parametrize("damage", [
    pytest.param(lambda d: b"", id="empty"),
    pytest.param(lambda d: b"not a parquet file", id="no-magic"),
    pytest.param(lambda d: d[: len(d) // 2], id="truncated"),
    pytest.param(lambda d: d[:-1], id="last-byte-cut"),
    pytest.param(lambda d: b"PAR1" + bytes(64) + b"PAR1", id="empty-footer"),
    pytest.param(lambda d: flipped(d, len(d) - 9), id="footer-length"),
    pytest.param(lambda d: flipped(d, 4), id="page-header"),
    pytest.param(lambda d: flipped(d, 10), id="zstd-page"),
])
def test_a_piece_that_is_not_parquet_is_an_integrity_error(damage: Any) -> None:
    data = x(V["files_piece"]["bytes"])
    with pytest.raises(IntegrityError):
        decode_piece(damage(data))


def test_table_schemas_are_the_documented_ones() -> None:
    ts = pa.timestamp("ns", tz="UTC")
    b32 = pa.binary(32)
    expected = {
        "files": ([("path", pa.string()), ("raw_path", pa.binary()), ("type", pa.string()), ("mode", pa.uint32()),
                   ("uid", pa.int64()), ("gid", pa.int64()), ("user", pa.string()), ("group", pa.string()),
                   ("size", pa.int64()), ("mtime", ts), ("ctime", ts), ("dev", pa.uint64()),
                   ("inode", pa.uint64()), ("nlink", pa.uint32()), ("rdev", pa.uint64()), ("target", pa.string()),
                   ("object_id", b32), ("content_type", pa.string()), ("entropy", pa.float32()),
                   ("chunks", pa.int32())], BlobType.FILES),
        "chunks": ([("object_id", b32), ("seq", pa.int32()), ("chunk_id", b32), ("offset", pa.int64()),
                    ("size", pa.int32())], BlobType.CHUNKS),
        "xattrs": ([("path", pa.string()), ("raw_path", pa.binary()), ("name", pa.string()),
                    ("value", pa.binary())], BlobType.XATTRS),
        "errors": ([("path", pa.string()), ("raw_path", pa.binary()), ("error", pa.string())], BlobType.ERRORS),
        "findings": ([("object_id", b32), ("analyzer", pa.string()), ("category", pa.string()),
                      ("sample", pa.string()), ("offset", pa.int64()), ("confidence", pa.float32()),
                      ("count", pa.int64())], BlobType.FINDINGS),
        "emails": ([("object_id", b32), ("analyzer", pa.string()), ("seq", pa.int32()), ("sender", pa.string()),
                    ("sender_name", pa.string()), ("recipients", pa.list_(pa.string())),
                    ("cc", pa.list_(pa.string())), ("date", ts), ("subject", pa.string()),
                    ("message_id", pa.string()),
                    ("attachments", pa.list_(pa.struct([("name", pa.string()), ("content_type", pa.string()),
                                                        ("size", pa.int64())])))], BlobType.EMAILS),
    }
    assert set(schemas()) == set(BLOB_TYPES) == set(expected)
    for name, (fields, blob_type) in expected.items():
        schema, t = schemas()[name], BLOB_TYPES[name]
        assert [(f.name, f.type) for f in schema] == fields and t == blob_type


def _reference_cuts(keys: list[bytes]) -> list[int]:
    """The piece-cutting rule of docs/format.md, written from the text."""
    out, n = [], 0
    for k in keys:
        n += 1
        if n >= MAX_ROWS or (n >= MIN_ROWS and zlib.crc32(k) % AVERAGE_ROWS == 0):
            out.append(n)
            n = 0
    return [*out, n] if n else out


def test_pieces_are_cut_after_rows_whose_key_hashes_to_a_boundary() -> None:
    vec = V["piece_cuts"]
    assert (AVERAGE_ROWS, MIN_ROWS, MAX_ROWS) == (1024, 64, 8192)
    paths = gen.cut_paths()
    assert len(paths) == vec["paths"]
    writer = PieceWriter("errors", lambda t, d: blob_mac(MAC_KEY, t, d))
    for p in paths:
        writer.append(path_key(p), (p, None, "e"))
    writer.flush()
    assert [p.rows for p in writer.pieces] == vec["rows"]
    assert [p.first.hex() for p in writer.pieces] == vec["first"]
    assert _reference_cuts([path_key(p) for p in paths]) == vec["rows"]
    assert MAX_ROWS in vec["rows"]


# -- snapshot order -------------------------------------------------------------------------------------


def test_path_key_is_the_path_bytes_with_slash_as_nul() -> None:
    vec = V["path_key"]
    for raw, key in zip(vec["paths"], vec["keys"], strict=True):
        path = x(raw).decode("utf-8", "surrogateescape")
        assert path_key(path) == x(key) == x(raw).replace(b"/", b"\0")


def test_path_bytes_are_utf8_with_surrogateescape_not_the_filesystem_encoding() -> None:
    raw = gen.FILES_ROWS[2][1]
    display = gen.FILES_ROWS[2][0]
    assert raw == b"/data/bin\xff" and display == "/data/bin\\xff"
    pathname = raw.decode("utf-8", "surrogateescape")
    host_encoding = AssertionError("uses the host's file-system encoding")
    with mock.patch("os.fsencode", side_effect=host_encoding), mock.patch("os.fsdecode", side_effect=host_encoding):
        assert split_path(pathname) == (display, raw)
        assert split_path("/data/é") == ("/data/é", None)
        assert row_pathname({"path": display, "raw_path": raw}) == pathname
        assert row_pathname({"path": "/data/é", "raw_path": None}) == "/data/é"
        assert path_key(pathname) == row_key(display, raw) == raw.replace(b"/", b"\0")
        assert path_key("/data/é") == row_key("/data/é", None) == "/data/é".encode().replace(b"/", b"\0")


def test_snapshot_order_sorts_paths_by_key() -> None:
    vec = V["path_key"]
    paths = [x(p).decode("utf-8", "surrogateescape") for p in vec["paths"]]
    ordered = [p.encode("utf-8", "surrogateescape").hex() for p in sorted(paths, key=path_key)]
    assert ordered == vec["sorted"]
    shown = [x(p) for p in vec["sorted"]]
    assert shown.index(b"/a/b") < shown.index(b"/a/b/c") < shown.index(b"/a/b.txt") < shown.index(b"/a.b")
    assert shown[0] == b"/" and shown.index(b"/a") < shown.index(b"/a/0") < shown.index(b"/a-")


# -- chunking -------------------------------------------------------------------------------------------


def _chunking_buffer() -> bytes:
    return gen.pseudo_random(V["chunking"]["seed"].encode(), V["chunking"]["size"])


@pytest.mark.parametrize("run", V["chunking"]["runs"], ids=lambda r: f"normal{r['params']['normal']}")
def test_fastcdc_cut_points_of_the_fixed_buffer(run: dict[str, Any]) -> None:
    buf = _chunking_buffer()
    params = ChunkingParams.from_dict(run["params"])
    lengths = run["lengths"]
    assert sum(lengths) == len(buf)
    assert all(params.min <= n <= params.max for n in lengths[:-1]) and lengths[-1] <= params.max
    assert [len(c) for c in Chunker(params).chunks_of(buf)] == lengths
    assert [len(c) for c in Chunker(params).chunks(io.BytesIO(buf))] == lengths  # the streaming path agrees


def test_fastcdc_uses_the_reference_gear_table() -> None:
    from pyfastcdc.py.constants import GEAR

    table = b"".join(g.to_bytes(8, "little") for g in GEAR)
    assert len(GEAR) == 256 and blake3.blake3(table).hexdigest() == V["chunking"]["gear_blake3"]


# Appendix A of docs/format.md.
_MASKS = [0, 0, 0, 0, 0, 0x0000000001804110, 0x0000000001803110, 0x0000000018035100, 0x0000001800035300,
          0x0000019000353000, 0x0000590003530000, 0x0000D90003530000, 0x0000D90103530000, 0x0000D90303530000,
          0x0000D90313530000, 0x0000D90F03530000, 0x0000D90303537000, 0x0000D90703537000, 0x0000D90707537000,
          0x0000D91707537000, 0x0000D91747537000, 0x0000D91767537000, 0x0000D93767537000, 0x0000D93777537000,
          0x0000D93777577000, 0x0000DB3777577000]


def test_fastcdc_uses_the_documented_masks() -> None:
    from pyfastcdc.py.constants import MASKS

    assert list(MASKS) == _MASKS


def _reference_cut(buf: memoryview, lo: int, normal: int, hi: int) -> int:
    """Length of the next chunk by the FastCDC rule of docs/format.md, written from the text."""
    from pyfastcdc.py.constants import GEAR

    n = len(buf)
    if n <= lo:
        return n
    end = min(n, hi)
    center = min(normal, end)
    bits = math.floor(math.log2(normal) + 0.5)
    mask_s, mask_l = _MASKS[bits + 1], _MASKS[bits - 1]
    h = 0
    for i in range(lo // 2 * 2, end // 2 * 2):
        h = ((h << 1) + GEAR[buf[i]]) & 0xFFFFFFFFFFFFFFFF
        if not h & (mask_s if i < center // 2 * 2 else mask_l):
            return i
    return end


@pytest.mark.parametrize(("run_no", "count"), [(0, 2), (1, 24)])
def test_the_documented_cut_rule_reproduces_the_first_cut_points(run_no: int, count: int) -> None:
    run = V["chunking"]["runs"][run_no]
    p = run["params"]
    view = memoryview(_chunking_buffer())
    at, got = 0, []
    for _ in range(count):
        n = _reference_cut(view[at:], p["min"], p["normal"], p["max"])
        got.append(n)
        at += n
    assert got == run["lengths"][:count]


# -- the ptar file (section 18) --------------------------------------------------------------------------


def test_ptar_the_code_writes_the_vector_from_the_fixed_puts(tmp_path: Path) -> None:
    assert gen.ptar_file(str(tmp_path)) == x(V["ptar"]["file"])


def test_ptar_the_vector_reads_as_the_document_describes() -> None:
    data = x(V["ptar"]["file"])
    config = x(V["ptar"]["config"])
    magic, version, config_length = struct.unpack_from("<8sII", data, 0)
    assert (magic, version, data[16:16 + config_length]) == (b"KLOSETPT", 1, config)
    table_offset, table_length, digest, fversion, reserved, fmagic = struct.unpack("<QQ32sII8s", data[-64:])
    assert (fversion, reserved, fmagic) == (1, 0, b"KLOSETPT")
    assert table_offset + table_length + 64 == len(data)
    table = data[table_offset:table_offset + table_length]
    assert digest == blake3.blake3(data[:16 + config_length] + table).digest()
    entries = [struct.unpack_from("<B32sQQ", table, i) for i in range(0, len(table), 49)]
    # Ordered by (type, ID); the lock and the deleted pack are not in it; the state put twice is there once.
    assert [(t, rid[:1].hex()) for t, rid, _, _ in entries] == [(1, "11"), (1, "22"), (2, "33")]
    put = {(int(t), rid): body for t, rid, body in gen.PTAR_PUTS}
    for t, rid, offset, length in entries:
        assert data[offset:offset + length] == put[(t, rid)]


def test_ptar_the_store_reads_the_vector_and_a_flipped_byte_is_an_integrity_error(tmp_path: Path) -> None:
    from kloset.connectors.ptar.store import PtarStore

    data = x(V["ptar"]["file"])
    path = tmp_path / "v.ptar"
    path.write_bytes(data)
    store = PtarStore({"location": str(path)})
    assert store.open() == x(V["ptar"]["config"])
    assert store.get(ResourceType.PACKFILE, bytes([0x11]) * 32) == b"pack one"
    store.close()
    table_offset = struct.unpack_from("<Q", data, len(data) - 64)[0]
    for i in (3, 20, table_offset, table_offset + 60, len(data) - 40, len(data) - 1):
        path.write_bytes(flipped(data, i))
        with pytest.raises(IntegrityError):
            PtarStore({"location": str(path)}).open()
