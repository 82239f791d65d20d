"""Source trees for the engine tests, and an exact comparison of two trees.

A manifest maps every entry's path (relative, as bytes, so names that are not UTF-8 compare exactly)
to what a restore must give back: type, permission bits, mtime, size, a digest of the content, the link
target and the ``user.*`` extended attributes. Hard links are compared as groups of names.
"""

from __future__ import annotations

import hashlib
import os
import random
import stat
from dataclasses import dataclass, field
from pathlib import Path

MiB = 1 << 20
#: Base mtime given to every entry of a built tree (each entry gets its own offset from it).
MTIME_NS = 1_600_000_000_123_456_789


@dataclass(frozen=True)
class Entry:
    type: str
    mode: int
    mtime_ns: int
    size: int
    digest: str | None = None
    target: bytes | None = None
    xattrs: tuple[tuple[str, bytes], ...] = ()


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISFIFO(mode):
        return "fifo"
    return "other"


def _digest(path: bytes) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _user_xattrs(path: bytes) -> tuple[tuple[str, bytes], ...]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return ()
    return tuple(sorted((n, os.getxattr(path, n, follow_symlinks=False)) for n in names if n.startswith("user.")))


def _walk(root: bytes, rel: bytes = b"") -> list[tuple[bytes, bytes, os.stat_result]]:
    out = []
    for entry in sorted(os.scandir(os.path.join(root, rel) if rel else root), key=lambda e: e.name):
        r = os.path.join(rel, entry.name) if rel else entry.name
        st = entry.stat(follow_symlinks=False)
        out.append((r, entry.path, st))
        if stat.S_ISDIR(st.st_mode):
            out += _walk(root, r)
    return out


def manifest(root: Path | str, *, times: bool = True, contents: bool = True) -> dict[bytes, Entry]:
    """Every entry below ``root`` (not root itself)."""
    entries: dict[bytes, Entry] = {}
    for rel, full, st in _walk(os.fsencode(root)):
        kind = _kind(st.st_mode)
        entries[rel] = Entry(
            type=kind,
            mode=stat.S_IMODE(st.st_mode),
            mtime_ns=st.st_mtime_ns if times else 0,
            size=st.st_size if kind == "file" else 0,
            digest=_digest(full) if kind == "file" and contents else None,
            target=os.readlink(full) if kind == "symlink" else None,
            xattrs=_user_xattrs(full),
        )
    return entries


def hardlink_groups(root: Path | str) -> set[frozenset[bytes]]:
    """Names that share an inode, for every regular file with more than one name."""
    groups: dict[int, set[bytes]] = {}
    for rel, _, st in _walk(os.fsencode(root)):
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            groups.setdefault(st.st_ino, set()).add(rel)
    return {frozenset(g) for g in groups.values()}


def assert_same_tree(expected: Path | str, actual: Path | str, *, times: bool = True) -> None:
    want, got = manifest(expected, times=times), manifest(actual, times=times)
    assert sorted(got) == sorted(want), (
        f"missing: {sorted(set(want) - set(got))}, unexpected: {sorted(set(got) - set(want))}")
    for rel in want:
        assert got[rel] == want[rel], rel
    assert hardlink_groups(actual) == hardlink_groups(expected)


def set_times(root: Path, base_ns: int = MTIME_NS) -> None:
    """Give every entry below and including ``root`` its own known mtime, children before parents."""
    paths = [os.fsencode(root)] + [full for _, full, _ in _walk(os.fsencode(root))]
    for i, p in enumerate(sorted(paths, key=len, reverse=True)):
        t = base_ns + i * 1_000_003
        os.utime(p, ns=(t, t), follow_symlinks=False)


def try_set_xattr(path: Path, name: str, value: bytes) -> bool:
    try:
        os.setxattr(path, name, value)
    except OSError:
        return False
    return True


@dataclass
class RichTree:
    """A tree with one of every kind of entry the fs connectors handle."""

    root: Path
    big: bytes = b""
    xattrs: bool = False
    notes: dict[str, Path] = field(default_factory=dict)


BAD_NAME = b"bad-\xff\xfe.bin"  # not UTF-8
#: A valid UTF-8 name spelled like the display form of BAD_NAME: the two must stay distinct entries.
LOOKALIKE_NAME = "bad-\\xff\\xfe.bin"


def build_rich_tree(root: Path, rng: random.Random) -> RichTree:
    root.mkdir(parents=True)
    t = RichTree(root)
    (root / "empty.txt").write_bytes(b"")
    (root / "hello.txt").write_text("hello, world\n")
    (root / "hello.txt").chmod(0o640)
    (root / "script.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "script.sh").chmod(0o755)
    t.big = rng.randbytes(5 * MiB + 12_345)  # several FastCDC chunks (512 KiB min, 1 MiB normal)
    (root / "big.bin").write_bytes(t.big)
    deep = root / "nested" / "a" / "b" / "c"
    deep.mkdir(parents=True)
    (deep / "deep.txt").write_text("deep\n" * 100)
    (root / "nested" / "empty_dir").mkdir()
    (root / "nested" / "readonly.txt").write_text("do not touch\n")
    (root / "nested" / "readonly.txt").chmod(0o444)
    (root / "nested").chmod(0o750)
    links = root / "links"
    links.mkdir()
    os.symlink("../hello.txt", links / "relative")
    os.symlink("/nonexistent/target", links / "dangling")
    os.symlink("../nested", links / "to_dir")
    hard = root / "hard"
    hard.mkdir()
    (hard / "one").write_bytes(rng.randbytes(70_000))
    os.link(hard / "one", hard / "two")
    special = root / "special"
    special.mkdir()
    os.mkfifo(special / "fifo", 0o620)
    names = root / "names"
    names.mkdir()
    with open(os.path.join(os.fsencode(names), BAD_NAME), "wb") as f:
        f.write(b"bytes name\n")
    (names / LOOKALIKE_NAME).write_text("look-alike name\n")
    os.mkdir(os.path.join(os.fsencode(names), b"dir-\xe9"))
    with open(os.path.join(os.fsencode(names), b"dir-\xe9", b"inner.txt"), "wb") as f:
        f.write(b"inside a bytes-named dir\n")
    (names / "new\nline.txt").write_text("a newline in the name\n")
    (names / "tab\tand space .txt").write_text("tab\n")
    (names / "ünïcødé-名前.txt").write_text("unicode\n")
    with open(root / "sparse.img", "wb") as f:
        f.truncate(6 * MiB)
        f.seek(3 * MiB + 5)
        f.write(rng.randbytes(4096))
    t.notes["sparse"] = root / "sparse.img"
    t.xattrs = try_set_xattr(root / "hello.txt", "user.comment", b"greeting") and try_set_xattr(
        root / "nested", "user.kind", b"\x00binary\xff")
    set_times(root)
    return t


def build_many_files(root: Path, dirs: int, per_dir: int) -> list[Path]:
    """A wide tree of small text files (each a little different), ``dirs`` x ``per_dir``."""
    files = []
    for d in range(dirs):
        sub = root / f"d{d:02d}"
        sub.mkdir(parents=True)
        for i in range(per_dir):
            p = sub / f"file{i:05d}.txt"
            p.write_text(f"dir {d} file {i}\n" * 4)
            files.append(p)
    return files


def flip_byte(path: Path | str, offset: int, mask: int = 0xFF) -> None:
    """XOR one byte of a file in place."""
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes((b[0] ^ mask,)))


def packfiles(store_path: Path) -> list[Path]:
    """Every packfile of an fs store, largest first."""
    return sorted((store_path / "packfiles").glob("*/*"), key=lambda p: p.stat().st_size, reverse=True)


def states(store_path: Path) -> list[Path]:
    return list((store_path / "states").glob("*/*"))


def outside_entries(parent: Path, allowed: set[str]) -> set[str]:
    """Names in ``parent`` other than ``allowed``: anything a restore wrote beside its target."""
    return set(os.listdir(parent)) - allowed
