"""Content as parts: bytes that move between processes in the pieces they came in, written with one
``writev`` and read back into one buffer, never joined on the way.

A plugin's content arrives in chunks of up to a megabyte and goes on to a backup worker; each copy of it
on the way costs more than the work the host does on it, so the pieces travel as they are.
"""

from __future__ import annotations

import io
import os
from typing import Any

Buffer = bytes | memoryview
Parts = list[Buffer]

_IOV_MAX = 1024  # the most buffers one writev takes (Linux, and POSIX's minimum for IOV_MAX)


def size(parts: Parts) -> int:
    return sum(map(len, parts))


def take(parts: Parts, n: int) -> Parts:
    """The first ``n`` bytes of ``parts``, which keeps the rest."""
    out: Parts = []
    while n:
        p = parts[0]
        if len(p) <= n:
            out.append(p)
            n -= len(p)
            del parts[0]
        else:
            view = memoryview(p)
            out.append(view[:n])
            parts[0] = view[n:]
            n = 0
    return out


def write_all(fd: int, parts: Parts) -> None:
    """Write every part to ``fd`` (which it empties), in as few system calls as the kernel allows."""
    while parts:
        batch = parts[:_IOV_MAX]
        n = os.writev(fd, batch)
        if n == size(batch):
            del parts[:_IOV_MAX]
        else:
            take(parts, n)


def uninitialized(n: int) -> memoryview:
    """A writable buffer of ``n`` bytes, not zero-filled first as a bytearray would be: for bytes that a
    read is about to fill. numpy's ``empty`` is the one way Python has to ask for it."""
    import numpy as np

    return np.empty(n, np.uint8).data


def read_into(fd: int, view: memoryview) -> None:
    """Fill ``view`` from ``fd``; EOFError if it ends first."""
    got, n = 0, len(view)
    while got < n:
        k = os.readv(fd, [view[got:]])
        if not k:
            raise EOFError(f"the stream ended {n - got} bytes short")
        got += k


def read_exactly(fd: int, n: int) -> memoryview:
    """``n`` bytes from ``fd``; EOFError if it ends first."""
    view = uninitialized(n)
    read_into(fd, view)
    return view


class PartsReader(io.RawIOBase):
    """A read-only file object over content held as parts."""

    def __init__(self, parts: Parts) -> None:
        super().__init__()
        self._parts = [memoryview(p) for p in parts if len(p)]
        self._at = 0  # the next part to read

    def readable(self) -> bool:
        return True

    def whole(self) -> memoryview | None:
        """The content still to read, when it is one part: to be used where it lies, not copied."""
        left = self._parts[self._at:]
        if len(left) > 1:
            return None
        self._at = len(self._parts)
        return left[0] if left else memoryview(b"")

    def readinto(self, b: Any) -> int:
        out = memoryview(b).cast("B")
        done = 0
        while done < len(out) and self._at < len(self._parts):
            part = self._parts[self._at]
            n = min(len(part), len(out) - done)
            out[done:done + n] = part[:n]
            done += n
            if n == len(part):
                self._at += 1
            else:
                self._parts[self._at] = part[n:]
        return done

    def read(self, n: int | None = -1) -> bytes:
        left = self._parts[self._at:]
        if n is None or n < 0:
            n = size(left)  # type: ignore[arg-type]
        if left and len(left[0]) >= n:  # within one part: one copy, no buffer between
            part = left[0]
            self._parts[self._at] = part[n:]
            if n == len(part):
                self._at += 1
            return bytes(part[:n])
        buf = bytearray(n)
        got = self.readinto(buf)
        del buf[got:]
        return bytes(buf)

    def readall(self) -> bytes:
        return self.read(-1)
