"""pyftpdlib on 127.0.0.1: a real FTP server serving a local folder, in a thread of this process.

    with ftp_server(tmp_path) as server:
        config = server.config("/tree")          # a full ftp connector config for that folder
    with ftp_server(tmp_path, tls=True):          # explicit FTPS (AUTH TLS), a self-signed certificate
    with ftp_server(tmp_path, mlsd=False):        # a server that answers MLSD and MLST "not understood"

Each server has a handler class of its own (pyftpdlib keeps its settings in class attributes) and an IO
loop of its own, so several run at once. It is stopped from its own thread, which closes every
connection: a client sees the server go away as it would a real one.
"""

from __future__ import annotations

import functools
import logging
import secrets
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import FTPServer as Listener

from servers.dovecot import write_certificate

HOST = "127.0.0.1"
USER = "kloset"
_PERMISSIONS = "elradfmwMT"  # list, read, write, rename, delete, mkdir, chmod, set times


@dataclass
class FTPServer:
    host: str
    port: int
    user: str
    password: str
    root: Path
    tls: bool
    certfile: Path | None
    _stop: threading.Event = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def config(self, path: str = "/", **keys: str) -> dict[str, str]:
        """A connector config for ``path`` on this server, logged in as its user; FTPS without
        certificate checks when the server has TLS (its certificate is self-signed)."""
        config = {"location": f"ftp://{self.user}@{self.host}:{self.port}{path}", "password": self.password}
        if self.tls:
            config |= {"tls": "explicit", "tls_no_verify": "true"}
        return config | keys

    def stop(self) -> None:
        """Stop serving and close every connection; safe to call twice."""
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(10)


@functools.cache
def certificate() -> Path:
    """A self-signed certificate for 127.0.0.1 (``key.pem`` beside it), made once per process."""
    return write_certificate(Path(tempfile.mkdtemp(prefix="kloset-ftp-cert-")))


@contextmanager
def ftp_server(root: Path, *, tls: bool = False, mlsd: bool = True, anonymous: bool = False,
               idle_timeout: float = 300, stop_after_files: int = 0) -> Iterator[FTPServer]:
    """Serve ``root``. ``anonymous`` lets the anonymous user read it; ``idle_timeout`` is how long the
    server keeps a silent connection; ``stop_after_files`` stops the server once it has sent that many
    files (a server that goes away in the middle of a backup)."""
    log = logging.getLogger("pyftpdlib")
    log.setLevel(logging.WARNING)  # it logs every command at INFO
    if not log.handlers:
        # Else pyftpdlib, finding logging unconfigured (a script), sets up its own at INFO.
        log.addHandler(logging.NullHandler())
    password = secrets.token_hex(8)
    authorizer = DummyAuthorizer()
    authorizer.add_user(USER, password, str(root), perm=_PERMISSIONS)
    if anonymous:
        authorizer.add_anonymous(str(root))
    stop = threading.Event()
    base: type[FTPHandler] = TLS_FTPHandler if tls else FTPHandler
    attributes: dict[str, Any] = {"authorizer": authorizer, "timeout": idle_timeout, "auth_failed_timeout": 0.01}
    if tls:
        cert = certificate()
        attributes |= {"certfile": str(cert), "keyfile": str(cert.with_name("key.pem")), "ssl_context": None}
    if not mlsd:
        attributes["proto_cmds"] = {k: v for k, v in base.proto_cmds.items() if k not in ("MLSD", "MLST")}
    if stop_after_files:
        sent = [0]

        def on_file_sent(self: FTPHandler, file: str) -> None:
            sent[0] += 1
            if sent[0] >= stop_after_files:
                stop.set()

        attributes["on_file_sent"] = on_file_sent
    handler = type("Handler", (base,), attributes)
    listener = Listener((HOST, 0), handler, ioloop=IOLoop())
    port = listener.socket.getsockname()[1]

    def serve() -> None:
        try:
            while not stop.is_set():
                listener.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        finally:
            listener.close_all()  # from this thread: the IO loop is not thread-safe

    thread = threading.Thread(target=serve, name=f"ftp-server-{port}", daemon=True)
    thread.start()
    server = FTPServer(HOST, port, USER, password, Path(root), tls, certificate() if tls else None, stop, thread)
    try:
        yield server
    finally:
        server.stop()
