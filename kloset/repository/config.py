"""The store config: the one resource written at creation, readable before any key is known.

    config := msgpack {"body": bytes, "mac": 32 bytes}
    body   := msgpack {"magic": "kloset", "version": 1, "store_id": 16 bytes, "created": unix ns,
                       "chunking": {...}, "compression": {"algorithm": "zstd", "level": 3},
                       "packfile": {"max_size": int},
                       "encryption": null | {"algorithm": "aes256-gcm", "kdf": {...},
                                             "keys": [wrapped master keys, ...], "canary": bytes},
                       "mac_key": bytes (plaintext stores only)}

``mac`` is the keyed BLAKE3 of ``body`` under the MAC key, checked once the keys are unlocked.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import msgpack

from ..chunking import ChunkingParams
from ..encryption import KDFParams, Keyring, MasterKeys
from ..errors import AuthenticationError, IntegrityError
from ..hashing import mac

MAGIC = "kloset"
VERSION = 1
DEFAULT_PACK_SIZE = 16 << 20


@dataclass
class StoreConfig:
    store_id: bytes
    created_ns: int
    chunking: ChunkingParams = field(default_factory=ChunkingParams)
    pack_max_size: int = DEFAULT_PACK_SIZE
    kdf: KDFParams | None = None
    wrapped_keys: list[bytes] = field(default_factory=list)
    canary: bytes = b""
    plaintext_mac_key: bytes = b""
    mac: bytes = b""
    raw_body: bytes = b""

    @property
    def encrypted(self) -> bool:
        return self.kdf is not None

    @classmethod
    def new(cls, passphrase: str | None, *, chunking: ChunkingParams | None = None,
            kdf: KDFParams | None = None, pack_max_size: int = DEFAULT_PACK_SIZE) -> tuple[StoreConfig, Keyring]:
        keys = MasterKeys.new()
        cfg = cls(store_id=os.urandom(16), created_ns=time.time_ns(), chunking=chunking or ChunkingParams(),
                  pack_max_size=pack_max_size)
        if passphrase is None:
            keyring = Keyring(keys, encrypted=False)
            cfg.plaintext_mac_key = keys.mac_key
        else:
            keyring = Keyring(keys, encrypted=True)
            cfg.kdf = kdf or KDFParams.new()
            cfg.wrapped_keys = [keys.wrap(cfg.kdf.derive(passphrase))]
            cfg.canary = keyring.canary()
        cfg.raw_body = cfg._body()
        cfg.mac = mac(keys.mac_key, cfg.raw_body)
        return cfg, keyring

    def _body(self) -> bytes:
        body: dict[str, Any] = {
            "magic": MAGIC, "version": VERSION, "store_id": self.store_id, "created": self.created_ns,
            "chunking": self.chunking.to_dict(), "compression": {"algorithm": "zstd", "level": 3},
            "packfile": {"max_size": self.pack_max_size},
            "encryption": None if self.kdf is None else {
                "algorithm": "aes256-gcm", "kdf": self.kdf.to_dict(), "keys": self.wrapped_keys,
                "canary": self.canary},
        }
        if self.kdf is None:
            body["mac_key"] = self.plaintext_mac_key
        return msgpack.packb(body)

    def serialize(self) -> bytes:
        return msgpack.packb({"body": self.raw_body, "mac": self.mac})

    @classmethod
    def parse(cls, data: bytes) -> StoreConfig:
        try:
            outer = msgpack.unpackb(data)
            raw_body, tag = bytes(outer["body"]), bytes(outer["mac"])
            body = msgpack.unpackb(raw_body)
            if not isinstance(body, dict) or body.get("magic") != MAGIC:
                raise IntegrityError("not a kloset store (bad config magic)")
            if body.get("version") != VERSION:
                raise IntegrityError(f"store format version {body.get('version')} is not supported")
            enc = body["encryption"]
            if body["compression"].get("algorithm") != "zstd":
                raise IntegrityError(f"compression {body['compression'].get('algorithm')!r} is not supported")
            if enc is not None and enc.get("algorithm") != "aes256-gcm":
                raise IntegrityError(f"encryption {enc.get('algorithm')!r} is not supported")
            if enc is None and len(bytes(body.get("mac_key", b""))) != 32:
                raise IntegrityError("store config is malformed: a plaintext store needs a 32-byte MAC key")
            return cls(
                store_id=bytes(body["store_id"]), created_ns=int(body["created"]),
                chunking=ChunkingParams.from_dict(body["chunking"]),
                pack_max_size=int(body["packfile"]["max_size"]),
                kdf=None if enc is None else KDFParams.from_dict(enc["kdf"]),
                wrapped_keys=[] if enc is None else [bytes(k) for k in enc["keys"]],
                canary=b"" if enc is None else bytes(enc["canary"]),
                plaintext_mac_key=bytes(body.get("mac_key", b"")),
                mac=tag, raw_body=raw_body,
            )
        except IntegrityError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, msgpack.UnpackException) as e:
            raise IntegrityError(f"store config is malformed: {e}") from e

    def unlock(self, passphrase: str | None) -> Keyring:
        """The store's keys; AuthenticationError when the passphrase does not open them."""
        if self.kdf is None:
            keyring = Keyring(MasterKeys(b"\0" * 32, self.plaintext_mac_key), encrypted=False)
        else:
            if passphrase is None:
                raise AuthenticationError("this store is encrypted: a passphrase is needed")
            kek = self.kdf.derive(passphrase)
            for wrapped in self.wrapped_keys:
                try:
                    keyring = Keyring(MasterKeys.unwrap(kek, wrapped), encrypted=True)
                    break
                except AuthenticationError:
                    continue
            else:
                raise AuthenticationError("wrong passphrase")
            keyring.check_canary(self.canary)
        if mac(keyring.mac_key, self.raw_body) != self.mac:
            raise IntegrityError("store config fails its MAC check")
        return keyring
