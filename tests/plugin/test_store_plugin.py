"""A store served by a plugin (tests/plugin/plugins/fs_store.py: the fs store behind kloset.sdk): the
storage conformance suite through the plugin boundary, and backups kept in it, restored and checked."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import yaml

import kloset
from kloset.plugin import API_VERSION
from kloset.plugin.installed import ENVIRONMENT
from kloset.plugin.launch import Launch, bound_class
from kloset.plugin.storage import PluginStorage
from kloset.storage import Storage
from kloset.testing.importer_suite import SYMLINKS, TREE, build_tree
from kloset.testing.storage_suite import StorageConformance

PLUGIN = Path(__file__).resolve().parent / "plugins" / "fs_store.py"
FSPluginStorage = bound_class("storage", "fs/storage", Launch("fs/storage", [sys.executable, str(PLUGIN)]), "fs")


class TestFSPluginStorage(StorageConformance):
    def make_store(self, tmp_path: Path) -> Storage:
        store: Storage = FSPluginStorage({"location": str(tmp_path / "store"), "fsync": "false"})
        return store


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A package serving the fs store's scheme installed: bare paths then name stores the plugin keeps."""
    folder = tmp_path / "plugins" / "fsplugin"
    folder.mkdir(parents=True)
    shutil.copy(PLUGIN, folder / "main.py")
    connector = {"type": "storage", "protocols": ["fs"], "executable": "main.py", "location_flags": ["localfs"]}
    (folder / "manifest.yaml").write_text(yaml.safe_dump({"name": "fsplugin", "version": "1.0.0",
                                                          "api_version": API_VERSION, "connectors": [connector]}))
    monkeypatch.setenv(ENVIRONMENT, str(tmp_path / "plugins"))


def served_by_plugin(store: kloset.Store) -> bool:
    storage = store.storage
    while not isinstance(storage, PluginStorage) and hasattr(storage, "inner"):
        storage = storage.inner
    return isinstance(storage, PluginStorage)


@pytest.mark.usefixtures("installed")
def test_backups_in_a_plugin_store_restore_and_check(tmp_path: Path) -> None:
    tree = build_tree(tmp_path)
    location = str(tmp_path / "store")
    with kloset.create(location, passphrase="plugin store") as store:
        assert served_by_plugin(store)
        first = store.backup(str(tree), progress=False)
        (tree / "a.txt").write_bytes(b"changed\n")
        store.backup(str(tree), progress=False)
    with kloset.open(location, passphrase="plugin store") as store:
        assert served_by_plugin(store)
        assert len(store.snapshots()) == 2
        assert store.check(read_data=True).ok
        report = store.snapshot("latest").restore(tmp_path / "restored")
        assert report.errors == []
        assert store.snapshot(first.id).read_bytes(f"{tree}/a.txt") == TREE["a.txt"]
    for rel, content in TREE.items():
        restored = tmp_path / "restored" / rel
        if content is None:
            assert restored.is_dir(), rel
        else:
            assert restored.read_bytes() == (b"changed\n" if rel == "a.txt" else content), rel
    for rel, target in SYMLINKS.items():
        assert (tmp_path / "restored" / rel).readlink() == Path(target)
    assert (tmp_path / "store" / "CONFIG").is_file()  # the fs layout, written by the plugin process


@pytest.mark.usefixtures("installed")
def test_a_damaged_pack_in_a_plugin_store_fails_the_check(tmp_path: Path) -> None:
    location = str(tmp_path / "store")
    with kloset.create(location, plaintext=True) as store:
        store.backup(str(build_tree(tmp_path)), progress=False)
    pack = max((tmp_path / "store" / "packfiles").rglob("*"), key=lambda p: p.stat().st_size)
    data = bytearray(pack.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pack.write_bytes(bytes(data))
    with kloset.open(location) as store:
        assert not store.check(read_data=True).ok
