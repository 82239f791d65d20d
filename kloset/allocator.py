"""Process-wide memory settings, for processes kloset owns (its command line and its workers).

A library must not change its host's allocator; these are called only by entry points.
"""

from __future__ import annotations

import sys
from typing import Any

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters


def _mallopt(param: int, value: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(param, value)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to tune


def release_large_buffers() -> None:
    """Give buffers of over 1 MiB back to the system as soon as they are freed.

    A backup moves multi-MiB chunks and packs through several threads; glibc's adaptive mmap threshold
    then serves them from per-thread heaps that keep the freed memory, which inflates peak RSS by a
    third. A fixed threshold keeps them in mmap. It lies just above 1 MiB: a plugin's content comes in
    chunks of exactly that, which are then reused from the heap rather than mapped and zero-filled
    anew each time, which would cost more than copying them."""
    _mallopt(_M_MMAP_THRESHOLD, (1 << 20) + (4 << 10))


def keep_freed_heap(size: int) -> None:
    """Keep up to ``size`` bytes freed at the top of a heap rather than give them back at once.

    Fixing the mmap threshold (above) also fixes the trim threshold at 128 KiB, so that a megabyte
    freed at the top of a heap goes back to the system only to be faulted in again by the next one: a
    backup reading a plugin's content, chunk after chunk of a megabyte, spent more on that than on
    copying them. Only for a command that moves content so (a restore keeps its memory lower without)."""
    _mallopt(_M_TRIM_THRESHOLD, size)


class _NoPandas:
    # A finder is anything with find_spec; subclassing importlib.abc's base would import
    # importlib.resources and importlib.metadata, a sixth of the command's start-up.
    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("pandas is not loaded by this command")
        return None


def without_pandas() -> None:
    """Make pandas unimportable in this process.

    pyarrow imports pandas, when it is installed, the first time it converts Python values to Arrow,
    only to check whether they are pandas objects: 40 MiB and a quarter of a second that a command
    which never builds a DataFrame does not need. pyarrow treats the ImportError as "no pandas"."""
    if "pandas" not in sys.modules:
        sys.meta_path.insert(0, _NoPandas())
