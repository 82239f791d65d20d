"""`kloset ptar` writes a sealed single-file store that the other commands read; `kloset archive` streams a
snapshot out as tar or zip, byte for byte, with modes, times and links, and never an unsafe name."""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest
from test_cli import _isolated, kloset_process  # noqa: F401  # autouse: caches, data and passphrase of the test's own

import kloset
from kloset.cli.archive import safe
from kloset.cli.main import main

MTIME = 1_600_000_000
CONTENT = {"a.txt": b"alpha\n", "docs/b.txt": b"bravo\n" * 1000, "sub/big.bin": os.urandom(700_000)}


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    for name, data in CONTENT.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (root / "link").symlink_to("a.txt")
    os.chmod(root / "sub" / "big.bin", 0o600)
    os.chmod(root / "docs", 0o750)
    for p in [*root.rglob("*"), root]:
        os.utime(p, (MTIME, MTIME), follow_symlinks=False)
    return root


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def ptar(tmp_path: Path, src: Path) -> Path:
    out = tmp_path / "out.ptar"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["ptar", "-o", str(out), str(src), "--exclude", "*.tmp"]) == 0
    assert "wrote encrypted" in printed.getvalue()
    return out


def test_ptar_writes_a_sealed_store_that_ls_restore_check_and_cat_read(
        ptar: Path, src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "out.ptar", "src"]  # nothing half-written
    code, out, _ = run(capsys, "at", str(ptar), "ls", "--json")
    assert code == 0 and [s["root"] for s in json.loads(out)] == [str(src)]
    code, out, _ = run(capsys, "at", str(ptar), "ls", "-r", "latest")
    assert code == 0 and "docs/b.txt" in out and "link -> a.txt" in out
    assert run(capsys, "at", str(ptar), "check")[0] == 0
    code, _, err = run(capsys, "at", str(ptar), "restore", "--to", str(tmp_path / "restored"), "latest")
    assert code == 0, err
    for name, data in CONTENT.items():
        assert (tmp_path / "restored" / name).read_bytes() == data
    assert os.readlink(tmp_path / "restored" / "link") == "a.txt"
    assert run(capsys, "at", str(ptar), "cat", "latest:docs/b.txt")[1] == CONTENT["docs/b.txt"].decode()


def test_ptar_takes_one_snapshot_per_path_and_excludes(
        tmp_path: Path, src: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (src / "skip.tmp").write_text("not wanted")
    out = tmp_path / "two.ptar"
    code, _, err = run(capsys, "ptar", "-o", str(out), "--plaintext", "--exclude", "*.tmp", str(src / "docs"),
                       str(src / "sub"))
    assert code == 0, err
    with kloset.open(str(out)) as store:
        assert not store.encrypted
        assert sorted(s.root for s in store.snapshots()) == [str(src / "docs"), str(src / "sub")]
    code, _, _ = run(capsys, "ptar", "-o", str(tmp_path / "three.ptar"), "--exclude", "*.tmp", str(src))
    with kloset.open(str(tmp_path / "three.ptar")) as store:
        assert "skip.tmp" not in " ".join(store.snapshot().table("files", ["path"]).column("path").to_pylist())


def test_ptar_refuses_an_existing_file_and_leaves_none_when_a_path_fails(
        tmp_path: Path, src: Path, capsys: pytest.CaptureFixture[str]) -> None:
    existing = tmp_path / "existing.ptar"
    existing.write_bytes(b"keep me")
    code, _, err = run(capsys, "ptar", "-o", str(existing), str(src))
    assert code == 2 and "exists" in err
    assert existing.read_bytes() == b"keep me"
    code, _, err = run(capsys, "ptar", "-o", str(tmp_path / "bad.ptar"), str(src), str(tmp_path / "missing"))
    assert code == 3, err
    assert not (tmp_path / "bad.ptar").exists()
    assert not [p for p in tmp_path.iterdir() if "bad.ptar" in p.name]


@pytest.mark.slow
def test_ptar_as_a_real_process_reads_with_its_worker_processes_into_the_file(tmp_path: Path, src: Path) -> None:
    # More content than a backup reads in its own process: forked workers write into the file too.
    (src / "large").mkdir()
    for n in range(24):
        (src / "large" / f"{n}.bin").write_bytes(os.urandom(1 << 20))
    out = tmp_path / "proc.ptar"
    done = kloset_process("ptar", "--plaintext", "-o", str(out), str(src))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if "ptar" in p.name) == ["proc.ptar"]
    with kloset.open(str(out)) as store:
        assert store.check().ok
        assert store.snapshot().read_bytes(str(src / "large" / "23.bin")) == (src / "large" / "23.bin").read_bytes()


def _archive(capsys: pytest.CaptureFixture[str], ptar: Path, tmp_path: Path, fmt: str, ref: str = "latest") -> Path:
    out = tmp_path / f"out.{fmt}"
    code, _, err = run(capsys, "at", str(ptar), "archive", "--format", fmt, "-o", str(out), ref)
    assert code == 0, err
    return out


def test_archive_as_tar_holds_every_entry_byte_for_byte_with_modes_times_and_links(
        ptar: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with tarfile.open(_archive(capsys, ptar, tmp_path, "tar")) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert sorted(members) == ["a.txt", "docs", "docs/b.txt", "link", "sub", "sub/big.bin"]
        for name, data in CONTENT.items():
            f = tar.extractfile(name)
            assert f is not None and f.read() == data
        assert members["link"].issym() and members["link"].linkname == "a.txt"
        assert members["docs"].isdir() and members["docs"].mode == 0o750
        assert members["sub/big.bin"].mode == 0o600
        assert all(int(m.mtime) == MTIME for m in members.values())
        names = [m.name for m in tar.getmembers()]
        assert names.index("docs") < names.index("docs/b.txt")


def test_archive_as_zip_holds_every_entry_byte_for_byte_with_modes_and_links(
        ptar: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with zipfile.ZipFile(_archive(capsys, ptar, tmp_path, "zip")) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        assert sorted(infos) == ["a.txt", "docs/", "docs/b.txt", "link", "sub/", "sub/big.bin"]
        for name, data in CONTENT.items():
            assert zf.read(name) == data
        assert stat.S_ISLNK(infos["link"].external_attr >> 16) and zf.read("link") == b"a.txt"
        assert stat.S_IMODE(infos["sub/big.bin"].external_attr >> 16) == 0o600
        assert infos["docs/"].is_dir()


def test_archive_of_a_subtree_names_entries_from_that_directory_and_streams_to_stdout(
        ptar: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["at", str(ptar), "archive", "latest:docs"]) == 0
    with tarfile.open(fileobj=io.BytesIO(capsysbinary.readouterr().out)) as tar:
        assert tar.getnames() == ["b.txt"]
        f = tar.extractfile("b.txt")
        assert f is not None and f.read() == CONTENT["docs/b.txt"]
    assert main(["at", str(ptar), "archive", "latest:sub/big.bin"]) == 0
    with tarfile.open(fileobj=io.BytesIO(capsysbinary.readouterr().out)) as tar:
        assert tar.getnames() == ["big.bin"]


def test_archive_takes_its_format_from_the_output_name(
        ptar: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "at", str(ptar), "archive", "-o", str(tmp_path / "a.zip"), "latest")[0] == 0
    assert zipfile.is_zipfile(tmp_path / "a.zip")
    assert run(capsys, "at", str(ptar), "archive", "-o", str(tmp_path / "a.tgz.tar"), "latest")[0] == 0
    assert tarfile.is_tarfile(tmp_path / "a.tgz.tar")


def test_archive_refuses_an_existing_output(ptar: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x.tar").write_bytes(b"keep")
    code, _, _ = run(capsys, "at", str(ptar), "archive", "-o", str(tmp_path / "x.tar"), "latest")
    assert code == 2 and (tmp_path / "x.tar").read_bytes() == b"keep"


def test_an_unsafe_name_is_never_written_into_an_archive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.importers import CraftedImporter, dir_record, file_record

    store = tmp_path / "crafted.ptar"
    records = [dir_record("/data"), file_record("/data/ok.txt", b"fine\n"), file_record("/data/../evil", b"x"),
               dir_record("/data/a"), file_record("/data/a/../../evil2", b"x"), file_record("/data//evil3", b"x")]
    with kloset.create(str(store), plaintext=True) as s:
        s.backup(CraftedImporter("/data", records))
    for fmt in ("tar", "zip"):
        out = tmp_path / f"crafted.{fmt}"
        code, _, err = run(capsys, "at", str(store), "archive", "--format", fmt, "-o", str(out), "latest")
        assert code == 9 and "3 entries with unsafe names were left out" in err
        if fmt == "tar":
            with tarfile.open(out) as tar:
                names = tar.getnames()
        else:
            with zipfile.ZipFile(out) as zf:
                names = [n.rstrip("/") for n in zf.namelist()]
        assert "ok.txt" in names and all(safe(n) for n in names)


@pytest.mark.parametrize("name", ["../x", "a/../../x", "/etc/passwd", "a//b", "./a", "", "a/\0b", ".."])
def test_names_that_leave_the_extraction_directory_are_unsafe(name: str) -> None:
    assert not safe(name)
    assert safe("a/b.txt") and safe("..hidden/x")
