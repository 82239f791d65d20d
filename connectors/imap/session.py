"""What the IMAP importer and exporter share: their settings, the connection (TLS, login), a small pool.

An IMAP connection is one conversation, with one selected mailbox: it cannot be shared between
threads. The backup reads records from several threads at once and the restore writes from several, so
each takes a connection from a pool for the length of one exchange and gives it back.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from imapclient import IMAPClient, SocketTimeout
from imapclient.exceptions import CapabilityError, IMAPClientAbortError, IMAPClientError, LoginError

from kloset.errors import AuthenticationError, ConfigError, KlosetError, TransientError

from .names import unescape_segment

TLS_MODES = ("starttls", "tls", "no-tls")
# A dead server must fail a backup soon, never hang it; a live one answers a listing of tens of
# thousands of messages well within the read timeout.
CONNECT_SECONDS = 10.0
READ_SECONDS = 60.0
POOL_SIZE = 4
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0", ""}


@dataclass(frozen=True)
class Settings:
    """A connector config, checked."""

    host: str
    port: int
    mailbox: tuple[str, ...]  # the subtree backed up or restored into, as name segments; () for all
    username: str
    password: str
    tls: str
    context: ssl.SSLContext | None

    @property
    def origin(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def settings(config: dict[str, str]) -> Settings:
    """Read ``imap://[USER[:PASSWORD]@]HOST[:PORT][/MAILBOX]`` and the keys; ConfigError when wrong."""
    location = config.get("location", "")
    parts = urllib.parse.urlsplit(location)
    if parts.scheme.lower() != "imap" or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"imap: {location!r} is not an imap://HOST[:PORT][/MAILBOX] location")
    tls = config.get("tls", "starttls").lower()
    if tls not in TLS_MODES:
        raise ConfigError(f"imap: tls must be one of {', '.join(TLS_MODES)}, not {tls!r}")
    try:
        port = parts.port or (993 if tls == "tls" else 143)
    except ValueError as e:
        raise ConfigError(f"imap: bad port in {location!r}") from e
    username = config.get("username") or urllib.parse.unquote(parts.username or "")
    password = config.get("password") or urllib.parse.unquote(parts.password or "")
    if not username:
        raise ConfigError("imap: no username (set the username key)")
    try:
        mailbox = tuple(unescape_segment(s) for s in parts.path.split("/") if s)
    except UnicodeDecodeError as e:
        raise ConfigError(f"imap: the mailbox in {location!r} is not UTF-8 once unescaped") from e
    context = None if tls == "no-tls" else _tls_context(config)
    return Settings(parts.hostname, port, mailbox, username, password, tls, context)


def _flag(config: dict[str, str], key: str) -> bool:
    value = config.get(key, "false").lower()
    if value not in _TRUE | _FALSE:
        raise ConfigError(f"imap: {key} must be true or false, not {value!r}")
    return value in _TRUE


def _tls_context(config: dict[str, str]) -> ssl.SSLContext:
    ca_file = config.get("tls_ca_file", "")
    if ca_file and not os.path.isfile(ca_file):
        raise ConfigError(f"imap: tls_ca_file {ca_file}: no such file")
    try:
        context = ssl.create_default_context(cafile=ca_file or None)
    except (ssl.SSLError, OSError) as e:
        raise ConfigError(f"imap: tls_ca_file {ca_file}: not a CA bundle ({e})") from e
    if _flag(config, "tls_no_verify"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def failure(e: Exception, doing: str) -> KlosetError:
    """A foreign exception met while ``doing`` something, as kloset's error (to raise ``from e``)."""
    if isinstance(e, KlosetError):
        return e
    if isinstance(e, ssl.SSLCertVerificationError):
        return AuthenticationError(f"imap: {doing}: TLS certificate verification failed: {e.verify_message}")
    if isinstance(e, ssl.SSLError):
        return AuthenticationError(f"imap: {doing}: TLS handshake failed: {e.reason or e}")
    if isinstance(e, LoginError):
        return AuthenticationError(f"imap: {doing}: login refused: {e}")
    if isinstance(e, (IMAPClientAbortError, OSError)):
        # Refused, unreachable, timed out, or the connection dropped: worth trying again later.
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e) or type(e).__name__
        return TransientError(f"imap: {doing}: {reason}")
    return KlosetError(f"imap: {doing}: {e}")


def connect(s: Settings) -> IMAPClient:
    """A logged-in client; every failure is translated (refused or timed out: TransientError; TLS or
    credentials: AuthenticationError)."""
    try:
        client = IMAPClient(s.host, s.port, ssl=s.tls == "tls", ssl_context=s.context,
                            timeout=SocketTimeout(CONNECT_SECONDS, READ_SECONDS))
    except Exception as e:
        raise failure(e, f"cannot connect to {s.origin}") from e
    try:
        if s.tls == "starttls":
            try:
                client.starttls(s.context)
            except CapabilityError as e:
                raise AuthenticationError(f"imap: {s.origin} does not offer STARTTLS (tls=tls for implicit "
                                          "TLS, or tls=no-tls to send the password in clear)") from e
        client.normalise_times = False  # INTERNALDATE keeps its zone: mtimes are exact instants
        client.login(s.username, s.password)
    except Exception as e:
        with contextlib.suppress(Exception):
            client.shutdown()
        raise failure(e, f"{s.username} at {s.origin}") from e
    return client


class Session:
    """One logged-in connection and what it has selected."""

    def __init__(self, client: IMAPClient) -> None:
        self.client = client
        self.selected: str | None = None
        self.uidvalidity = 0

    def examine(self, mailbox: str) -> dict[bytes, Any]:
        """Select ``mailbox`` read-only (EXAMINE: nothing read changes a flag); its status."""
        status: dict[bytes, Any] = self.client.select_folder(mailbox, readonly=True)
        self.selected = mailbox
        self.uidvalidity = int(status.get(b"UIDVALIDITY", 0))
        return status

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.logout()
        with contextlib.suppress(Exception):
            self.client.shutdown()


class Pool:
    """At most ``size`` connections, made when needed and kept for the next exchange.

    A connection that fails in use is dropped, not given back: its conversation state is unknown."""

    def __init__(self, settings: Settings, size: int = POOL_SIZE) -> None:
        self.settings = settings
        self._slots = threading.BoundedSemaphore(size)
        self._idle: list[Session] = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        with self._slots:
            with self._lock:
                session = self._idle.pop() if self._idle else None
            if session is None:
                session = Session(connect(self.settings))
            try:
                yield session
            except BaseException:
                session.close()
                raise
            with self._lock:
                self._idle.append(session)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for session in idle:
            session.close()


@contextlib.contextmanager
def translated(doing: str) -> Iterator[None]:
    """A block whose foreign exceptions leave it translated, naming what it was ``doing``."""
    try:
        yield
    except (IMAPClientError, OSError) as e:
        raise failure(e, doing) from e
