"""SIGINT to this process while a block runs, as Ctrl-C or a notebook's stop button sends it."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator

#: About 30 s of DuckDB work on this machine's kind: long enough to be stopped, short enough that a test
#: whose signal went astray fails rather than hangs.
LONG_QUERY = "SELECT sum(hash(i)) FROM range(10000000000) t(i)"


@contextlib.contextmanager
def sigint_while_running(first: float = 0.3, every: float = 0.5) -> Iterator[None]:
    """Send SIGINT ``first`` seconds into the block, then every ``every`` seconds until it ends: one
    that lands before the work has started inside DuckDB is followed by another."""
    done = threading.Event()

    def send() -> None:
        if done.wait(first):
            return
        while True:
            os.kill(os.getpid(), signal.SIGINT)
            if done.wait(every):
                return

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        yield
    finally:
        done.set()
        while True:  # a signal sent as the block ended is taken here, not by the test's next line
            try:
                sender.join()
                time.sleep(0.05)
                break
            except KeyboardInterrupt:
                continue
