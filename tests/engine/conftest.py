"""Fixtures of the engine tests: an isolated environment, and real stores on the local filesystem."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

import kloset

from .trees import RichTree, build_rich_tree


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep the index cache, the default store and passphrases of the real user out of every test."""
    home = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    for var in ("KLOSET_PASSPHRASE", "KLOSET_PASSPHRASE_CMD", "KLOSET_REPOSITORY"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def store(store_path: Path) -> Iterator[kloset.Store]:
    """A plaintext store (no Argon2id cost); tests about encryption make their own."""
    s = kloset.create(str(store_path), plaintext=True)
    yield s
    s.close()


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    """Random data that is the same on every run of a given test."""
    return random.Random(request.node.nodeid)


@pytest.fixture
def rich_tree(tmp_path: Path, rng: random.Random) -> RichTree:
    return build_rich_tree(tmp_path / "src", rng)
