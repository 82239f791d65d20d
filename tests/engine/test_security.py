"""Security: a crafted snapshot cannot write outside the restore target, an encrypted store shows nothing
of what it holds, content IDs are keyed per store, and passphrases come only from where they should."""

from __future__ import annotations

import contextlib
import io
import os
import stat
from pathlib import Path

import pytest

import kloset
from kloset import Record

from .importers import CraftedImporter, dir_record, file_record, symlink_record
from .trees import MiB

ROOT = "/data"


def _restore_crafted(store: kloset.Store, tmp_path: Path, records: list[Record]) -> tuple[Path, Path]:
    """Back up the crafted records and restore them into jail/out; return (jail, out)."""
    snap = store.backup(CraftedImporter(ROOT, [dir_record(ROOT), file_record(f"{ROOT}/ok.txt", b"fine\n"),
                                               *records]))
    jail = tmp_path / "jail"
    jail.mkdir()
    (jail / "victim.txt").write_text("original\n")
    out = jail / "out"
    # refusing the whole restore is one safe answer; skipping the entry is the other
    with contextlib.suppress(kloset.UnsafePathError):
        snap.restore(out)
    return jail, out


def _assert_nothing_escaped(tmp_path: Path, jail: Path) -> None:
    assert sorted(os.listdir(jail)) == ["out", "victim.txt"]
    assert (jail / "victim.txt").read_text() == "original\n"
    assert sorted(os.listdir(tmp_path)) == ["jail", "store"]
    assert not os.path.lexists("/evil") and not os.path.lexists("/data")


TRAVERSALS = {
    "dotdot": [file_record(f"{ROOT}/../evil", b"x")],
    "dotdot-inside": [dir_record(f"{ROOT}/a"), file_record(f"{ROOT}/a/../../evil2", b"x")],
    "dotdot-dir": [dir_record(f"{ROOT}/../evildir"), file_record(f"{ROOT}/../evildir/f", b"x")],
    "dotdot-symlink": [symlink_record(f"{ROOT}/../evil-link", "/etc/passwd")],
    "empty-component": [file_record(f"{ROOT}//evil", b"x")],
    "dot-component": [file_record(f"{ROOT}/./evil", b"x")],
    "outside-root": [file_record("/evil", b"x"), file_record("/datax/evil", b"x")],
    "relative": [file_record("evil", b"x"), file_record("data/evil", b"x")],
    "nul": [file_record(f"{ROOT}/evil\0name", b"x")],
}


@pytest.mark.parametrize("records", list(TRAVERSALS.values()), ids=list(TRAVERSALS))
def test_crafted_paths_never_restore_outside_the_target(
        store: kloset.Store, tmp_path: Path, records: list[Record]) -> None:
    jail, out = _restore_crafted(store, tmp_path, records)

    _assert_nothing_escaped(tmp_path, jail)
    if out.exists():
        for _, dirs, files in os.walk(out):
            assert not any(".." in n or "\0" in n for n in dirs + files)


def test_a_restored_symlink_is_never_followed_by_a_later_entry(store: kloset.Store, tmp_path: Path) -> None:
    jail = tmp_path / "jail"
    records = [
        symlink_record(f"{ROOT}/abs", str(jail)), file_record(f"{ROOT}/abs/escaped", b"x"),
        symlink_record(f"{ROOT}/rel", ".."), dir_record(f"{ROOT}/rel/sub"), file_record(f"{ROOT}/rel/sub/f", b"x"),
        symlink_record(f"{ROOT}/root", "/"), file_record(f"{ROOT}/root/evil", b"x"),
    ]

    jail, _ = _restore_crafted(store, tmp_path, records)

    _assert_nothing_escaped(tmp_path, jail)
    assert not os.path.lexists(jail / "escaped") and not os.path.lexists(jail / "sub")


@pytest.mark.parametrize("order", ["link-first", "file-first"])
def test_an_entry_named_twice_replaces_a_symlink_instead_of_writing_through_it(
        store: kloset.Store, tmp_path: Path, order: str) -> None:
    link = symlink_record(f"{ROOT}/pw", str(tmp_path / "jail" / "victim.txt"))
    overwrite = file_record(f"{ROOT}/pw", b"overwritten\n")
    records = [link, overwrite] if order == "link-first" else [overwrite, link]

    jail, _ = _restore_crafted(store, tmp_path, records)

    _assert_nothing_escaped(tmp_path, jail)


def test_a_directory_named_like_a_symlink_to_outside_replaces_the_link(store: kloset.Store, tmp_path: Path) -> None:
    records = [symlink_record(f"{ROOT}/d", str(tmp_path / "jail")), dir_record(f"{ROOT}/d"),
               file_record(f"{ROOT}/d/f", b"inside\n")]

    jail, out = _restore_crafted(store, tmp_path, records)

    _assert_nothing_escaped(tmp_path, jail)
    if (out / "d" / "f").exists():
        assert not (out / "d").is_symlink()


def test_a_restore_into_a_target_that_is_a_symlink_stays_in_its_real_directory(
        store: kloset.Store, tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    os.symlink(real, tmp_path / "alias")
    snap = store.backup(CraftedImporter(ROOT, [dir_record(ROOT), file_record(f"{ROOT}/f", b"x"),
                                               symlink_record(f"{ROOT}/up", "..")]))

    snap.restore(tmp_path / "alias")

    assert sorted(os.listdir(real)) == ["f", "up"]
    assert sorted(os.listdir(tmp_path)) == ["alias", "real", "store"]


# -- what an encrypted store shows -------------------------------------------------------------------


def test_an_encrypted_store_holds_neither_content_nor_names_in_clear(tmp_path: Path) -> None:
    secret_name = "top-secret-plans-" + os.urandom(8).hex()
    marker = os.urandom(48)
    payload = os.urandom(MiB) + marker + os.urandom(4096)  # incompressible: stored as is unless encrypted
    src = tmp_path / "src"
    src.mkdir()
    (src / secret_name).write_bytes(payload)
    stores = {}
    for kind in ("plaintext", "encrypted"):
        s = (kloset.create(str(tmp_path / kind), plaintext=True) if kind == "plaintext"
             else kloset.create(str(tmp_path / kind), passphrase="pw"))
        s.backup(str(src))
        stores[kind] = b"".join(p.read_bytes() for p in (tmp_path / kind).rglob("*") if p.is_file())

    assert marker in stores["plaintext"]  # the probe works
    assert marker not in stores["encrypted"]
    assert secret_name.encode() not in stores["encrypted"]
    assert str(src).encode() not in stores["encrypted"]


def test_content_ids_are_keyed_per_store(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "same.txt").write_text("the same content in two stores\n")
    ids = []
    for name in ("one", "two"):
        s = kloset.create(str(tmp_path / name), plaintext=True)
        ids.append(s.backup(str(src)).stat(f"{src}/same.txt")["object_id"])

    assert ids[0] != ids[1]


def test_store_files_are_private_to_their_owner(store: kloset.Store, store_path: Path, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f").write_text("x")
    store.backup(str(tmp_path / "src"))
    umask = os.umask(0)
    os.umask(umask)

    for p in [store_path, *store_path.rglob("*")]:
        assert stat.S_IMODE(p.stat().st_mode) & 0o077 & ~umask == 0, p


# -- passphrases -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def encrypted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("enc") / "store"
    kloset.create(str(path), passphrase="open sesame")
    return path


def test_the_right_passphrase_opens_an_encrypted_store(encrypted: Path) -> None:
    s = kloset.open(str(encrypted), passphrase="open sesame")

    assert s.encrypted and s.snapshots() == []


def test_a_wrong_passphrase_is_an_authentication_error(encrypted: Path) -> None:
    with pytest.raises(kloset.AuthenticationError):
        kloset.open(str(encrypted), passphrase="open sesame!")


def test_an_encrypted_store_without_any_passphrase_is_an_authentication_error(
        encrypted: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO())  # no terminal to prompt on

    with pytest.raises(kloset.AuthenticationError):
        kloset.open(str(encrypted))


def test_the_passphrase_comes_from_the_environment(encrypted: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLOSET_PASSPHRASE", "open sesame")

    assert kloset.open(str(encrypted)).encrypted


def test_the_passphrase_comes_from_a_command(encrypted: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLOSET_PASSPHRASE_CMD", "echo 'open sesame'")

    assert kloset.open(str(encrypted)).encrypted


def test_a_passphrase_command_that_fails_is_an_error(encrypted: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLOSET_PASSPHRASE_CMD", "false")

    with pytest.raises(kloset.KlosetError):
        kloset.open(str(encrypted))


def test_a_wrong_passphrase_command_is_an_authentication_error(
        encrypted: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLOSET_PASSPHRASE_CMD", "echo nope")

    with pytest.raises(kloset.AuthenticationError):
        kloset.open(str(encrypted))


def test_a_plaintext_store_opens_without_a_passphrase(store: kloset.Store, store_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO())

    s = kloset.open(str(store_path))

    assert not s.encrypted
    assert kloset.open(str(store_path), passphrase="ignored").id == s.id


def test_a_passphrase_opens_the_store_in_either_unicode_normal_form(tmp_path: Path) -> None:
    composed, decomposed = "caf\u00e9 cr\u00e8me", "cafe\u0301 cre\u0300me"
    kloset.create(str(tmp_path / "store"), passphrase=composed)

    assert kloset.open(str(tmp_path / "store"), passphrase=decomposed).encrypted
