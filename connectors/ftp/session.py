"""One FTP server as the importer and the exporter see it: a pool of logged-in ftplib connections, and
the translation of ftplib's failures into kloset's errors.

An ftplib connection is not thread-safe, and a transfer holds its control connection until the
server's final reply, so every operation takes a connection of its own from a small pool and gives it
back when done. A connection that sat idle may have been closed by the server meanwhile: an operation
that finds it dropped runs again on a fresh one.

Paths travel as UTF-8 bytes. ftplib speaks latin-1 here, which maps every byte to one character and
back, so a name that is not valid UTF-8 keeps its bytes (as lone surrogates on kloset's side).
"""

from __future__ import annotations

import contextlib
import ftplib
import socket
import ssl
import threading
from collections.abc import Callable
from typing import TypeVar

from kloset.errors import AuthenticationError, KlosetError, NotFound, TransientError

from .settings import Settings

T = TypeVar("T")

_MAX_IDLE = 4  # connections kept between operations; more are opened while more threads need them
_FACTS = "type;size;modify;unix.mode;unix.uid;unix.gid;unix.owner;unix.group;"
_UNKNOWN_COMMAND = ("500", "502", "504")


def wire(text: str) -> str:
    """A path or word as ftplib sends it: its UTF-8 bytes, one latin-1 character each."""
    return text.encode("utf-8", "surrogateescape").decode("latin-1")


def native(text: str) -> str:
    """A string ftplib received, back to kloset's form (UTF-8, undecodable bytes as surrogates)."""
    return text.encode("latin-1").decode("utf-8", "surrogateescape")


def refused_as_unknown(e: ftplib.Error) -> bool:
    """True when the server answered that it does not know the command (rather than that it failed)."""
    return str(e)[:3] in _UNKNOWN_COMMAND


def translate(e: BaseException, what: str) -> KlosetError:
    """kloset's error for ``e``, a failure of ``what`` (an operation and its path)."""
    text = f"ftp: {what}: {reason(e)}"
    if isinstance(e, ssl.SSLCertVerificationError):
        return AuthenticationError(f"ftp: {what}: the server's TLS certificate does not verify ({e.verify_message})")
    if isinstance(e, ftplib.error_perm):
        code = str(e)[:3]
        if code == "530":
            return AuthenticationError(text)
        if code == "550":
            return NotFound(text)
        return KlosetError(text)
    if isinstance(e, (ftplib.error_temp, EOFError, OSError)):
        return TransientError(text)
    return KlosetError(text)


def reason(e: BaseException) -> str:
    if isinstance(e, ftplib.Error):
        return native(str(e))
    if isinstance(e, EOFError):
        return "the server closed the connection"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e) or type(e).__name__


def _dropped(e: BaseException) -> bool:
    """True when ``e`` says the connection is gone (so the same operation may run on a fresh one)."""
    if isinstance(e, TimeoutError):
        return False  # a server that stopped answering: trying again would double the wait
    if isinstance(e, ftplib.error_temp):
        return str(e).startswith("421")  # "service closing control connection", as on an idle timeout
    return isinstance(e, (EOFError, OSError))


def _in_step(e: BaseException) -> bool:
    """True when the server answered ``e`` and the connection is still usable for the next command."""
    return isinstance(e, (ftplib.error_perm, ftplib.error_reply)) or (
        isinstance(e, ftplib.error_temp) and not str(e).startswith("421"))


class Session:
    """A pool of connections to one server, safe to use from several threads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._idle: list[ftplib.FTP] = []
        self._lock = threading.Lock()
        self._closed = False
        self._features: frozenset[str] | None = None

    def features(self) -> frozenset[str]:
        """The server's FEAT words (``MLST``, ``MFMT``, ``MDTM``...), asked once."""
        if self._features is None:
            self.call(lambda ftp: None, f"connect to {self.settings.address}")
        assert self._features is not None
        return self._features

    def call(self, op: Callable[[ftplib.FTP], T], what: str) -> T:
        """Run ``op`` on a connection of the pool; its failures come out as kloset's errors."""
        ftp, result = self.start(op, what)
        self.give(ftp)
        return result

    def start(self, op: Callable[[ftplib.FTP], T], what: str) -> tuple[ftplib.FTP, T]:
        """Run ``op`` and keep its connection taken (for a transfer): :meth:`give` or :meth:`drop` it."""
        while True:
            ftp, reused = self._take()
            try:
                return ftp, op(ftp)
            except ftplib.all_errors as e:
                if reused and _dropped(e):
                    self.drop(ftp)
                    continue  # the server closed it while it sat idle
                if _in_step(e):
                    self.give(ftp)
                else:
                    self.drop(ftp)
                raise translate(e, what) from e
            except BaseException:
                self.drop(ftp)
                raise

    def transfer(self, command: str, what: str) -> tuple[ftplib.FTP, socket.socket]:
        """Start a transfer (RETR, STOR): its connection stays taken until :meth:`finish` (the whole
        content went through) or :meth:`drop` (cut short)."""
        return self.start(lambda ftp: ftp.transfercmd(wire(command)), what)

    def finish(self, ftp: ftplib.FTP, data: socket.socket, what: str) -> None:
        """Close a transfer's data connection and read the server's verdict on it."""
        close_data(data)
        try:
            ftp.voidresp()
        except ftplib.all_errors as e:
            if _in_step(e):
                self.give(ftp)
            else:
                self.drop(ftp)
            raise translate(e, what) from e
        self.give(ftp)

    def give(self, ftp: ftplib.FTP) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < _MAX_IDLE:
                self._idle.append(ftp)
                return
        _quit(ftp)

    def drop(self, ftp: ftplib.FTP) -> None:
        """Close a connection in an unknown state (a transfer cut short, a failure mid-command)."""
        ftp.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle, self._closed = self._idle, [], True
        for ftp in idle:
            _quit(ftp)

    def _take(self) -> tuple[ftplib.FTP, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._connect(), False

    def _connect(self) -> ftplib.FTP:
        s = self.settings
        ftp: ftplib.FTP
        if s.tls:
            ftp = _TLSConnection(context=_tls_context(s.verify), timeout=s.timeout, encoding="latin-1")
        else:
            ftp = ftplib.FTP(timeout=s.timeout, encoding="latin-1")
        step = f"connect to {s.address}"
        try:
            ftp.connect(s.host, s.port)
            if isinstance(ftp, ftplib.FTP_TLS):
                step = f"start TLS with {s.address}"
                _secure(ftp, step)
            step = f"log in to {s.address} as {s.username}"
            ftp.login(wire(s.username), wire(s.password))
            if isinstance(ftp, ftplib.FTP_TLS):
                step = f"protect data connections with {s.address}"
                ftp.prot_p()
            self._prepare(ftp)
        except ftplib.all_errors as e:
            ftp.close()
            raise translate(e, step) from e
        except BaseException:
            ftp.close()
            raise
        return ftp

    def _prepare(self, ftp: ftplib.FTP) -> None:
        ftp.set_pasv(self.settings.passive)
        # Binary once and for all: listings are read as bytes too (see listing_lines), so nothing
        # switches a connection back to ASCII, which would rewrite line ends in content.
        ftp.voidcmd("TYPE I")
        if self._features is None:
            try:
                lines = ftp.sendcmd("FEAT").splitlines()[1:-1]
            except (ftplib.error_perm, ftplib.error_reply):
                lines = []  # a server too old for FEAT has none of the features asked about
            self._features = frozenset(line.split()[0].upper() for line in lines if line.strip())
        # Both are per connection, and a server may refuse either: listings then work as they come.
        with contextlib.suppress(ftplib.error_perm, ftplib.error_reply):
            if "UTF8" in self._features:
                ftp.sendcmd("OPTS UTF8 ON")
            if "MLST" in self._features:
                ftp.sendcmd("OPTS MLST " + _FACTS)


class _TLSConnection(ftplib.FTP_TLS):
    """FTP_TLS whose data connections resume the control connection's TLS session.

    Servers may demand it (vsftpd does by default: a data connection that starts a session of its own
    is refused), and a resumed session skips most of a handshake per file."""

    def ntransfercmd(self, cmd: str, rest: int | str | None = None) -> tuple[socket.socket, int | None]:
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:  # type: ignore[attr-defined]
            session = self.sock.session if isinstance(self.sock, ssl.SSLSocket) else None
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=session)
        return conn, size


def _secure(ftp: ftplib.FTP_TLS, step: str) -> None:
    try:
        ftp.auth()
    except ssl.SSLCertVerificationError:
        raise
    except (ftplib.error_perm, ftplib.error_reply, ssl.SSLError) as e:
        # Refused (a server without TLS) or a handshake that failed: either way nothing is protected.
        raise AuthenticationError(f"ftp: {step}: TLS failed ({reason(e)})") from e


def _tls_context(verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _quit(ftp: ftplib.FTP) -> None:
    try:
        ftp.quit()
    except ftplib.all_errors:  # leaving anyway: a server already gone is no error
        ftp.close()


def close_data(data: socket.socket) -> None:
    """Close a data connection the way ftplib does: TLS says goodbye first."""
    with contextlib.suppress(OSError):
        if isinstance(data, ssl.SSLSocket):
            data.unwrap()
    data.close()


def listing_lines(ftp: ftplib.FTP, command: str) -> list[str]:
    """The lines a listing command (MLSD, LIST) sends on its data connection, as kloset's strings."""
    data = ftp.transfercmd(wire(command))
    try:
        with data.makefile("rb") as f:
            raw = f.read()
    finally:
        close_data(data)
    ftp.voidresp()
    return [line.rstrip(b"\r").decode("utf-8", "surrogateescape") for line in raw.split(b"\n") if line.rstrip(b"\r")]
