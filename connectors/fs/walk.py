"""The walk of a local tree in snapshot order, as plain tuples, in this process or in a child process.

A backup compares every entry with its parent snapshot on its main thread. A walk in the same process
fights that loop for the GIL: it lets go of it and takes it back around every system call, and each
take waits for the busy loop to yield. Run as a script, this module walks in a process of its own and
streams the entries back as marshal frames, so both cores work and the parent only decodes them.

It imports nothing of kloset (run by path, the child starts in milliseconds, before any of the
package's heavy imports) and nothing but the standard library and, for excludes, pathspec.
"""

from __future__ import annotations

import contextlib
import json
import marshal
import os
import stat
import struct
import subprocess
import sys
from collections.abc import Iterator

# (path, error, stat fields, symlink target). A directory that cannot be listed has both an error and
# its stat fields; an entry that cannot be stat'ed has no stat fields.
Stat = tuple[int, int, int, int, int, int, int, int, int, int]  # mode size mtime ctime dev ino uid gid nlink rdev
Entry = tuple[str, "str | None", "Stat | None", str]

_FRAME = struct.Struct("<I")
_ENTRIES_PER_FRAME = 512
_PIPE_BYTES = 1 << 20  # room for the child to walk ahead while the parent is busy
_F_SETPIPE_SZ = 1031  # Linux fcntl; not exported by the fcntl module before Python 3.10 on all builds


def walk(root: str, excludes: list[str]) -> Iterator[Entry]:
    """Entries under ``root`` (followed if it is a symlink; nothing below it is), each directory's
    children sorted by their name bytes, depth first: the order of kloset's path keys."""
    spec = None
    if excludes:
        from pathspec import GitIgnoreSpec

        spec = GitIgnoreSpec.from_lines(excludes)
    entry, children = _visit(root, "", spec, follow=True)
    yield entry
    # An explicit stack rather than recursion: trees deeper than the recursion limit exist, and nested
    # generators would cost O(depth) per entry.
    stack: list[tuple[str, str, Iterator[str]]] = [(root, "", iter(children))]
    while stack:
        parent, parent_rel, names = stack[-1]
        name = next(names, None)
        if name is None:
            stack.pop()
            continue
        path = f"/{name}" if parent == "/" else f"{parent}/{name}"
        rel = f"{parent_rel}/{name}" if parent_rel else name
        entry, children = _visit(path, rel, spec)
        yield entry
        if children:
            stack.append((path, rel, iter(children)))


def _visit(path: str, rel: str, spec: object, follow: bool = False) -> tuple[Entry, list[str]]:
    """The entry of ``path`` and, for a readable directory, its children's names in walk order.

    The directory is listed before its entry is returned so that a listing failure can be carried by
    the entry itself."""
    try:
        st = os.stat(path) if follow else os.lstat(path)
    except OSError as e:
        return (path, describe(e, "cannot stat"), None, ""), []
    fields = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_dev, st.st_ino, st.st_uid, st.st_gid,
              st.st_nlink, st.st_rdev)
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        try:
            return (path, None, fields, ""), _list(path, rel, spec)
        except OSError as e:
            return (path, describe(e, "cannot list directory"), fields, ""), []
    if stat.S_ISLNK(mode):
        try:
            return (path, None, fields, os.readlink(path)), []
        except OSError as e:
            return (path, describe(e, "cannot read link"), fields, ""), []
    return (path, None, fields, ""), []


def _list(path: str, rel: str, spec: object) -> list[str]:
    names: list[str] = []
    with os.scandir(path) as entries:
        for entry in entries:
            if spec is not None and _excluded(spec, entry, rel):
                continue
            names.append(entry.name)
    names.sort(key=name_bytes)
    return names


def _excluded(spec: object, entry: os.DirEntry[str], parent_rel: str) -> bool:
    rel = f"{parent_rel}/{entry.name}" if parent_rel else entry.name
    try:
        is_dir = entry.is_dir(follow_symlinks=False)
    except OSError:
        is_dir = False  # it vanished: the walk reports that when it gets there
    # gitignore tells directories apart by a trailing slash ("build/" must not match a file).
    return spec.match_file(rel + "/" if is_dir else rel)  # type: ignore[attr-defined]


def name_bytes(name: str) -> bytes:
    """A name's bytes as the snapshot order compares them (see kloset.snapshot.order.path_key)."""
    return name.encode("utf-8", "surrogateescape")


def describe(e: OSError, what: str) -> str:
    reason = e.strerror or str(e)
    if isinstance(e, (FileNotFoundError, NotADirectoryError)):
        return f"vanished: {what}: {reason}"
    if isinstance(e, PermissionError):
        return f"permission denied: {what}"
    return f"{what}: {reason}"


class WalkFailed(Exception):
    """The child walking the tree ended without finishing it."""


class ChildWalk:
    """:func:`walk` run by a child process, which starts at once: a caller with other work to do first
    (opening a store, say) lets the child walk ahead meanwhile. :meth:`close`, or closing the iterator
    of :meth:`entries` early, stops the child."""

    def __init__(self, root: str, excludes: list[str]) -> None:
        read_fd, write_fd = os.pipe()
        with contextlib.suppress(OSError, AttributeError):
            import fcntl

            fcntl.fcntl(write_fd, _F_SETPIPE_SZ, _PIPE_BYTES)
        try:
            # -P: the script's folder (this package's modules) must not shadow the standard library.
            self._proc = subprocess.Popen([sys.executable, "-P", __file__, str(write_fd)], pass_fds=(write_fd,),
                                          stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        self._pipe = os.fdopen(read_fd, "rb")
        assert self._proc.stdin is not None
        # A child that died at once closed its end: the walk then fails in entries(), with its exit code.
        with contextlib.suppress(BrokenPipeError):
            self._proc.stdin.write(json.dumps({"root": root, "excludes": excludes}).encode())
        with contextlib.suppress(BrokenPipeError):
            self._proc.stdin.close()

    def entries(self) -> Iterator[Entry]:
        proc, pipe = self._proc, self._pipe
        try:
            while True:
                head = pipe.read(_FRAME.size)
                if len(head) < _FRAME.size:
                    break
                (size,) = _FRAME.unpack(head)
                if size == 0:
                    proc.wait()
                    return
                frame = pipe.read(size)
                if len(frame) < size:
                    break
                yield from marshal.loads(frame)
            assert proc.stderr is not None
            detail = proc.stderr.read().decode(errors="replace").strip().splitlines() or ["no output"]
            raise WalkFailed(f"the walking process ended early (exit code {proc.wait()}): {detail[-1]}")
        finally:
            self.close()

    def close(self) -> None:
        self._pipe.close()
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stderr is not None:
            self._proc.stderr.close()



def _main() -> None:
    request = json.loads(sys.stdin.buffer.read())
    with os.fdopen(int(sys.argv[1]), "wb") as out:
        batch: list[Entry] = []
        for entry in walk(request["root"], request["excludes"]):
            batch.append(entry)
            if len(batch) >= _ENTRIES_PER_FRAME:
                data = marshal.dumps(batch)
                out.write(_FRAME.pack(len(data)) + data)
                batch = []
        if batch:
            data = marshal.dumps(batch)
            out.write(_FRAME.pack(len(data)) + data)
        out.write(_FRAME.pack(0))


if __name__ == "__main__":
    try:
        _main()
    except BrokenPipeError:  # the parent stopped reading: it no longer wants the walk
        sys.exit(0)
