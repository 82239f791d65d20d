"""Analyzers run in worker processes: they are Python, held to one core per process by the GIL.

Each worker is a fresh interpreter made as backup workers are (:func:`.process.spawn`), spoken to over a
pipe pair. It is sent one content object at a time,
with the names of the analyzers that want it, and answers with their analyses. An analyzer that raises
gives an error for that object; a worker that dies is replaced, and the object it held is reported as
failed: neither stops the run, and no result is stored for what failed, so a later run tries again.
"""

from __future__ import annotations

import contextlib
import queue
import subprocess
import threading
from collections.abc import Sequence

from ..analyzer import Analysis, Analyzer
from ..errors import KlosetError
from ..registry import analyzer_class
from .process import ends, spawn

_MAIN = "from kloset.snapshot.analysts import main; main()"
FEED = 1 << 20  # content is fed in pieces of this size, as a stream would give it

Outcome = Analysis | str  # an analysis, or the error that stopped it


def run(classes: Sequence[type[Analyzer]], options: dict[str, dict[str, str]], content_type: str, path: str,
        data: bytes) -> dict[str, Outcome]:
    """Each analyzer's outcome on one content object, in this process."""
    out: dict[str, Outcome] = {}
    view = memoryview(data)
    for cls in classes:
        try:
            a = cls(options.get(cls.name), content_type=content_type, path=path)
            end = len(view) if cls.max_bytes is None else min(len(view), cls.max_bytes)
            for i in range(0, end, FEED):
                a.feed(bytes(view[i : min(end, i + FEED)]))
            out[cls.name] = a.finish()
        except Exception as e:  # an analyzer's bug is its object's error, not the run's
            out[cls.name] = f"{type(e).__name__}: {e}"
    return out


class _Worker:
    def __init__(self, names: list[str], options: dict[str, dict[str, str]]) -> None:
        self.proc, self.out, self.back = spawn(_MAIN)
        self.out.send((names, options))

    def ask(self, names: list[str], content_type: str, path: str, data: bytes) -> dict[str, Outcome]:
        self.out.send((names, content_type, path, data))
        answer: dict[str, Outcome] = self.back.recv()
        return answer

    def close(self) -> None:
        self.out.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.back.close()


class Analysts:
    """A pool of analyzer processes (or, with ``processes`` of 0, the calling thread). Thread-safe:
    :meth:`analyze` takes a free worker, so as many threads as workers keep them all busy."""

    def __init__(self, names: list[str], options: dict[str, dict[str, str]] | None = None,
                 processes: int = 0) -> None:
        self.names = names
        self.options = dict(options or {})
        self.classes = {n: analyzer_class(n) for n in names}
        self.processes = processes
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        for _ in range(processes):
            self._spawn()

    def _spawn(self) -> None:
        w = _Worker(self.names, self.options)
        with self._lock:
            self._all.append(w)
        self._idle.put(w)

    def analyze(self, names: list[str], content_type: str, path: str, data: bytes) -> dict[str, Outcome]:
        """The outcome of each named analyzer on one content object."""
        if not self.processes:
            return run([self.classes[n] for n in names], self.options, content_type, path, data)
        w = self._idle.get()
        try:
            answer = w.ask(names, content_type, path, data)
        except (EOFError, OSError) as e:
            try:
                code: int | None = w.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            with self._lock:
                self._all.remove(w)
            with contextlib.suppress(OSError):
                w.close()
            self._spawn()
            return dict.fromkeys(names, f"the analyzer process died (exit code {code}): {e or 'no answer'}")
        self._idle.put(w)
        return answer

    def close(self) -> None:
        with self._lock:
            workers, self._all = self._all, []
        for w in workers:
            w.close()

    def __enter__(self) -> Analysts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main() -> None:
    """Entry point of a worker process: argv holds its inbox and outbox file descriptors."""
    inbox, outbox = ends()
    with contextlib.suppress(EOFError, BrokenPipeError, KeyboardInterrupt):
        names, options = inbox.recv()
        try:
            classes = {n: analyzer_class(n) for n in names}
        except KlosetError as e:
            raise SystemExit(f"kloset analyzer worker: {e}") from e
        while True:
            wanted, content_type, path, data = inbox.recv()
            outbox.send(run([classes[n] for n in wanted], options, content_type, path, data))
