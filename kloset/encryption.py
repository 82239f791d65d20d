"""Keys and sealing.

A store has two random 32-byte master keys: a data key (wraps per-pack and per-resource subkeys) and
a MAC key (blob IDs). The passphrase, stretched with Argon2id, wraps both. Sealing binds associated
data (a blob's type and ID, a resource's type and ID) so that a blob cannot be swapped for another.

Encrypted stores seal with AES-256-GCM under a random subkey per pack (or per resource) with random
96-bit nonces: a subkey seals a few thousand blobs at most, far below the birthday bound. Plaintext
stores seal with a keyed BLAKE3 tag instead: nothing is hidden, everything is still checked.
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass

from argon2.exceptions import Argon2Error
from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from .errors import AuthenticationError, IntegrityError
from .hashing import mac

NONCE = 12
TAG = 16
WRAPPED_KEY = 40
MAC_TAG = 32
CANARY = b"kloset canary v1"


@dataclass(frozen=True, slots=True)
class KDFParams:
    algorithm: str = "argon2id"
    salt: bytes = b""
    iterations: int = 3
    lanes: int = 4
    memory_kib: int = 64 * 1024

    @classmethod
    def new(cls) -> KDFParams:
        return cls(salt=os.urandom(16))

    def derive(self, passphrase: str) -> bytes:
        if self.algorithm != "argon2id":
            raise IntegrityError(f"unknown KDF {self.algorithm!r}")
        # The parameters come from the config, read before anything can be authenticated: bound them
        # so that a damaged or hostile config fails cleanly instead of exhausting the machine.
        if not (1 <= self.iterations <= 64 and 1 <= self.lanes <= 64 and 8 * self.lanes <= self.memory_kib <= 4 << 20):
            raise IntegrityError("the store's KDF parameters are out of range")
        # argon2-cffi (the reference implementation) fills the lanes on threads of its own: every
        # command that opens a store pays this, and it is a third faster than a single-threaded one.
        # surrogateescape: a passphrase taken from undecodable environment bytes keeps those bytes.
        secret = unicodedata.normalize("NFC", passphrase).encode("utf-8", "surrogateescape")
        try:
            return hash_secret_raw(secret, self.salt, time_cost=self.iterations, memory_cost=self.memory_kib,
                                   parallelism=self.lanes, hash_len=32, type=Type.ID)
        except (Argon2Error, ValueError) as e:
            raise IntegrityError(f"the store's KDF parameters are invalid: {e}") from e

    def to_dict(self) -> dict[str, object]:
        return {"algorithm": self.algorithm, "salt": self.salt, "iterations": self.iterations,
                "lanes": self.lanes, "memory_kib": self.memory_kib}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> KDFParams:
        return cls(str(d["algorithm"]), bytes(d["salt"]), int(d["iterations"]),  # type: ignore[call-overload]
                   int(d["lanes"]), int(d["memory_kib"]))  # type: ignore[call-overload]


@dataclass(frozen=True, slots=True)
class MasterKeys:
    data_key: bytes
    mac_key: bytes

    @classmethod
    def new(cls) -> MasterKeys:
        return cls(os.urandom(32), os.urandom(32))

    def wrap(self, passphrase_key: bytes) -> bytes:
        nonce = os.urandom(NONCE)
        return nonce + AESGCM(passphrase_key).encrypt(nonce, self.data_key + self.mac_key, b"kloset master keys")

    @classmethod
    def unwrap(cls, passphrase_key: bytes, wrapped: bytes) -> MasterKeys:
        try:
            raw = AESGCM(passphrase_key).decrypt(wrapped[:NONCE], wrapped[NONCE:], b"kloset master keys")
        except InvalidTag:
            raise AuthenticationError("wrong passphrase") from None
        return cls(raw[:32], raw[32:64])


class Sealer:
    """Seals and opens bytes under one subkey (a pack's, or a resource's)."""

    __slots__ = ("_aead", "_mac_key")

    def __init__(self, subkey: bytes | None, mac_key: bytes) -> None:
        self._aead = AESGCM(subkey) if subkey is not None else None
        self._mac_key = mac_key

    @property
    def overhead(self) -> int:
        return NONCE + TAG if self._aead is not None else MAC_TAG

    def seal(self, ad: bytes, data: bytes | memoryview) -> bytes:
        if self._aead is None:
            return bytes(data) + mac(self._mac_key, ad + bytes(data))
        nonce = os.urandom(NONCE)
        return nonce + self._aead.encrypt(nonce, data, ad)

    def open(self, ad: bytes, sealed: bytes | memoryview) -> bytes:
        if len(sealed) < self.overhead:
            raise IntegrityError("sealed data is truncated")
        if self._aead is None:
            data = bytes(sealed[:-MAC_TAG])
            if mac(self._mac_key, ad + data) != bytes(sealed[-MAC_TAG:]):
                raise IntegrityError("MAC mismatch")
            return data
        try:
            return self._aead.decrypt(bytes(sealed[:NONCE]), bytes(sealed[NONCE:]), ad)
        except InvalidTag:
            raise IntegrityError("authentication tag mismatch") from None


class Keyring:
    """The unlocked master keys of one store and the operations built on them."""

    def __init__(self, keys: MasterKeys, encrypted: bool) -> None:
        self.keys = keys
        self.encrypted = encrypted

    @property
    def mac_key(self) -> bytes:
        return self.keys.mac_key

    def new_subkey(self) -> tuple[Sealer, bytes]:
        """A fresh subkey: its sealer and its wrapped form (empty for plaintext stores)."""
        if not self.encrypted:
            return Sealer(None, self.keys.mac_key), b""
        key = os.urandom(32)
        return Sealer(key, self.keys.mac_key), aes_key_wrap(self.keys.data_key, key)

    def sealer(self, wrapped: bytes) -> Sealer:
        if not self.encrypted:
            return Sealer(None, self.keys.mac_key)
        try:
            key = aes_key_unwrap(self.keys.data_key, bytes(wrapped))
        except InvalidUnwrap:
            raise IntegrityError("a wrapped subkey does not unwrap") from None
        return Sealer(key, self.keys.mac_key)

    def seal_resource(self, ad: bytes, data: bytes) -> bytes:
        """A self-contained sealed resource: wrapped subkey (if any) then the sealed bytes."""
        sealer, wrapped = self.new_subkey()
        return wrapped + sealer.seal(ad, data)

    def open_resource(self, ad: bytes, blob: bytes) -> bytes:
        n = WRAPPED_KEY if self.encrypted else 0
        if len(blob) < n:
            raise IntegrityError("sealed resource is truncated")
        return self.sealer(blob[:n]).open(ad, memoryview(blob)[n:])

    def canary(self) -> bytes:
        return self.seal_resource(b"canary", CANARY)

    def check_canary(self, sealed: bytes) -> None:
        try:
            ok = self.open_resource(b"canary", sealed) == CANARY
        except IntegrityError:
            ok = False
        if not ok:
            raise AuthenticationError("wrong passphrase (the canary does not open)")
