"""Worker processes: fresh interpreters spoken to over a pipe pair.

A worker is started with ``python -P -c CODE`` rather than forked or made by multiprocessing: the caller
may have threads (a fork could copy a lock some thread holds), and nothing of the caller's ``__main__``
is imported again, so scripts and notebooks that call kloset at top level work unchanged.
"""

from __future__ import annotations

import os
import subprocess
import sys
from multiprocessing.connection import Connection


def spawn(code: str) -> tuple[subprocess.Popen[bytes], Connection, Connection]:
    """A fresh interpreter running ``code``, and (its inbox's writing end, its outbox's reading end).

    The child takes its ends from :func:`ends`. Nothing of the caller's ``__main__`` is imported again."""
    to_child, from_parent = os.pipe()
    to_parent, from_child = os.pipe()
    # -P: nothing from the current directory (a folder named kloset, say) may shadow the package.
    proc = subprocess.Popen([sys.executable, "-P", "-c", code, str(to_child), str(from_child)],
                            pass_fds=(to_child, from_child), stdin=subprocess.DEVNULL)
    os.close(to_child)
    os.close(from_child)
    return proc, Connection(from_parent, readable=False), Connection(to_parent, writable=False)


def ends() -> tuple[Connection, Connection]:
    """In a process made by :func:`spawn`: its inbox and its outbox."""
    return Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False)
