"""A TCP proxy on 127.0.0.1 that cuts connections at random points, as a flaky network or a server
that drops its clients would.

    with DroppingProxy(upstream_port, rng) as proxy:
        proxy.dropping = True      # from now on, connections are cut
        ... connect to proxy.port ...
        proxy.cuts                 # how many were cut

While ``dropping`` is on, each new connection draws how many bytes it may carry (both ways together,
exponentially distributed around ``mean_bytes``) and how it ends when they are spent: a reset (RST) or
a close (FIN), in the middle of whatever was being sent. One connection in twenty is cut at its first
byte. Connections opened while ``dropping`` is off are never cut.
"""

from __future__ import annotations

import contextlib
import random
import socket
import struct
import threading
from types import TracebackType

_CHUNK = 64 << 10
_ENDINGS = ("reset", "close")


class _Link:
    """One proxied connection: the client's socket, the server's, and the bytes it may still carry."""

    def __init__(self, client: socket.socket, server: socket.socket, budget: float, ending: str) -> None:
        self.client = client
        self.server = server
        self.budget = budget
        self.ending = ending
        self.lock = threading.Lock()
        self.cut = False

    def spend(self, n: int) -> str:
        """Whether ``n`` more bytes may "pass"; once the budget is spent, the first to ask must "cut" the
        link, and any later one finds it "gone"."""
        with self.lock:
            if self.cut:
                return "gone"
            self.budget -= n
            if self.budget >= 0:
                return "pass"
            self.cut = True
            return "cut"

    def close(self, how: str) -> None:
        with self.lock:
            self.cut = True
        for s in (self.client, self.server):
            with contextlib.suppress(OSError):
                if how == "reset":
                    # A zero linger time makes the close send a RST instead of a FIN; shutting down the
                    # reading side wakes the other pump's recv, which otherwise keeps the socket alive.
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    s.shutdown(socket.SHUT_RD)
                else:
                    s.shutdown(socket.SHUT_RDWR)
            s.close()


class DroppingProxy:
    def __init__(self, upstream_port: int, rng: random.Random, *, mean_bytes: int = 1 << 20,
                 upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.rng = rng
        self.mean_bytes = mean_bytes
        self.dropping = False
        self.cuts = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._links: set[_Link] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name="dropping-proxy", daemon=True)
        self._thread.start()

    def __enter__(self) -> DroppingProxy:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(5)
        with self._lock:
            links = list(self._links)
        for link in links:
            link.close("close")

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            try:
                server = socket.create_connection(self.upstream, timeout=10)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                dropping, draw, how = self.dropping, self.rng.random(), self.rng.choice(_ENDINGS)
                budget = self.rng.expovariate(1 / self.mean_bytes) if dropping else float("inf")
            link = _Link(client, server, 0 if dropping and draw < 0.05 else budget, how)
            with self._lock:
                self._links.add(link)
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(link, src, dst), daemon=True).start()

    def _pump(self, link: _Link, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(_CHUNK)
                if not data:
                    with contextlib.suppress(OSError):
                        dst.shutdown(socket.SHUT_WR)
                    return
                verdict = link.spend(len(data))
                if verdict == "gone":
                    return
                if verdict == "cut":
                    # Part of this read goes through, as when a connection dies mid-message.
                    with contextlib.suppress(OSError):
                        dst.sendall(data[: self.rng.randrange(len(data))])
                    with self._lock:
                        self.cuts += 1
                    link.close(link.ending)
                    return
                dst.sendall(data)
        except OSError:
            link.close("close")
        finally:
            with self._lock:
                self._links.discard(link)
