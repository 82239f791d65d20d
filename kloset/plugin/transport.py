"""gRPC over a plugin's stdin/stdout, on both sides of the boundary.

grpcio can neither dial nor serve a file descriptor it is handed, only addresses. So each side goes
through a Unix socket in a folder only its user can enter, and the name is removed once the one
connection is made:

- the host listens, lets its channel connect, accepts that connection and gives the accepted socket to
  the plugin as its stdin and stdout: the plugin speaks straight to the host's channel;
- the plugin (:func:`serve`) starts its server on a socket of its own and relays between that server's
  connection and its stdin/stdout, which works whether they are that socket or pipes (as another host
  may give).

Either way the bytes on the plugin's stdin/stdout are the protocol's HTTP/2, so a plugin built for
Plakar runs under this host and ours under Plakar's.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import grpc

from ..errors import KlosetError, PluginError
from .wire import error_of

T = TypeVar("T")

CHUNK = 1 << 20  # the protocol's largest content chunk
# Lists of IDs come whole in one message: a big store's run past grpc's default 4 MiB.
OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
DEFAULT_TIMEOUT = 300.0


class Plugin:
    """One running plugin process and the channel to it. ``name`` says which in every error."""

    def __init__(self, name: str, command: list[str], timeout: float = DEFAULT_TIMEOUT) -> None:
        self.name = name
        self.timeout = timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._state = grpc.ChannelConnectivity.IDLE
        self._changed = threading.Condition()
        self._ready_once = False
        self._streams: dict[int, tuple[Any, list[float]]] = {}
        self._watch: threading.Thread | None = None
        self._closed = False
        folder = tempfile.mkdtemp(prefix="kloset-plugin-")
        path = os.path.join(folder, "grpc.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(path)
            listener.listen(1)
            listener.settimeout(timeout)
            self.channel = grpc.insecure_channel("unix:" + path, options=OPTIONS)
            self.channel.subscribe(self._on_state, try_to_connect=True)
            try:
                conn, _ = listener.accept()
            except TimeoutError as e:
                self.channel.close()
                raise PluginError(f"plugin {name}: the host could not connect to itself") from e
        finally:
            listener.close()
            shutil.rmtree(folder, ignore_errors=True)
        with conn:
            try:
                self.process = subprocess.Popen(command, stdin=conn.fileno(), stdout=conn.fileno(), close_fds=True)
            except OSError as e:
                self.channel.close()
                raise PluginError(f"plugin {name}: cannot start {command[0]}: {e.strerror or e}") from e
        try:
            self._await_ready()
        except BaseException:
            self.close()
            raise

    def _on_state(self, state: grpc.ChannelConnectivity) -> None:
        with self._changed:
            self._state = state
            self._ready_once |= state is grpc.ChannelConnectivity.READY
            self._changed.notify_all()

    def _await_ready(self) -> None:
        deadline = time.monotonic() + self.timeout
        with self._changed:
            while self._state is not grpc.ChannelConnectivity.READY:
                if self._state in (grpc.ChannelConnectivity.TRANSIENT_FAILURE, grpc.ChannelConnectivity.SHUTDOWN):
                    raise self._broken("did not speak gRPC on its stdout")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PluginError(f"plugin {self.name}: no answer within {self.timeout:g} s of starting")
                if self.process is not None and self.process.poll() is not None:
                    raise self._broken("stopped before it answered")
                self._changed.wait(min(left, 0.05))

    def _exit_status(self, wait: float = 1.0) -> str:
        """How the process ended, waiting a little for it: a crash closes the pipe just before it exits."""
        if self.process is None:
            return ""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(wait)
        code = self.process.returncode
        if code is None:
            return ""
        if code < 0:
            with contextlib.suppress(ValueError):
                return f" (killed by {signal.Signals(-code).name})"
        return f" (exit code {code})"

    def _broken(self, what: str) -> PluginError:
        return PluginError(f"plugin {self.name} {what}{self._exit_status()}")

    def error(self, e: grpc.RpcError) -> KlosetError:
        """The host's error for a failed call: the plugin's own typed error when it answered with one,
        else a PluginError that says what became of the plugin."""
        code = e.code()
        detail = e.details() or ""
        lost = self._ready_once and self._state is not grpc.ChannelConnectivity.READY
        if code is grpc.StatusCode.DEADLINE_EXCEEDED:
            return PluginError(f"plugin {self.name} did not answer within {self.timeout:g} s")
        if code is grpc.StatusCode.CANCELLED and not self._closed:
            return PluginError(f"plugin {self.name} sent nothing for {self.timeout:g} s")
        if lost or (self.process is not None and self.process.poll() is not None) or (code in (
                grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN) and not detail):
            return self._broken("stopped answering: its connection broke")
        if code is grpc.StatusCode.UNAVAILABLE and (self.process is None or self._exit_status(0.2)):
            return self._broken("stopped answering")
        return error_of(code, detail, self.name)

    def call(self, method: Callable[..., T], request: Any) -> T:
        """A unary call, within the timeout, with errors translated."""
        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as e:
            raise self.error(e) from None

    def stream(self, call: Any) -> Iterator[Any]:
        """The messages of a streaming call; a plugin that sends nothing for the timeout is cancelled (a
        whole stream may rightly last hours, so no deadline bounds it)."""
        last = [time.monotonic()]
        key = id(call)
        self._streams[key] = (call, last)
        self._watchdog()
        try:
            for message in call:
                last[0] = time.monotonic()
                yield message
        except grpc.RpcError as e:
            raise self.error(e) from None
        finally:
            self._streams.pop(key, None)
            call.cancel()

    def _watchdog(self) -> None:
        if self._watch is not None:
            return
        self._watch = threading.Thread(target=self._watching, name=f"kloset-plugin-{self.name}", daemon=True)
        self._watch.start()

    def _watching(self) -> None:
        step = min(1.0, self.timeout / 4)
        while not self._closed:
            time.sleep(step)
            now = time.monotonic()
            for call, last in list(self._streams.values()):
                if now - last[0] > self.timeout:
                    call.cancel()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close the channel; the plugin exits on the end of its stdin, and is stopped if it does not."""
        if self._closed:
            return
        self._closed = True
        self.channel.close()
        p = self.process
        if p is None:
            return
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.terminate()
            try:
                p.wait(2)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def serve(add: Callable[[grpc.Server], None], workers: int = 16) -> None:
    """Serve the services ``add`` puts on a server over this process's stdin/stdout, until the host closes
    its end. Stray prints go to stderr: stdout belongs to the protocol."""
    rfd, wfd = os.dup(0), os.dup(1)
    sys.stdout.flush()
    os.dup2(2, 1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    server = grpc.server(ThreadPoolExecutor(workers, thread_name_prefix="kloset-plugin"), options=OPTIONS)
    add(server)
    folder = tempfile.mkdtemp(prefix="kloset-plugin-")
    path = os.path.join(folder, "grpc.sock")
    try:
        server.add_insecure_port("unix:" + path)
        server.start()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # connected: nobody else may
    down = threading.Thread(target=_relay_out, args=(sock, wfd), name="kloset-plugin-out", daemon=True)
    down.start()
    _relay_in(rfd, sock)
    down.join(5)
    server.stop(2).wait()


def _relay_in(fd: int, sock: socket.socket) -> None:
    """stdin -> the server's connection, until the host closes its end."""
    with contextlib.suppress(OSError):
        while True:
            data = os.read(fd, CHUNK + 4096)
            if not data:
                break
            sock.sendall(data)
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)


def _relay_out(sock: socket.socket, fd: int) -> None:
    """The server's connection -> stdout."""
    buf = bytearray(CHUNK + 4096)
    view = memoryview(buf)
    with contextlib.suppress(OSError):
        while True:
            n = sock.recv_into(buf)
            if not n:
                break
            at = 0
            while at < n:
                at += os.write(fd, view[at:n])
    with contextlib.suppress(OSError):
        os.close(fd)
