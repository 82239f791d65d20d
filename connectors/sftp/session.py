"""The SSH connection that the sftp store, importer and exporter share, and the edge of their errors.

One SSH transport carries every SFTP channel. A call borrows a channel from a small pool for its
duration, so each thread works on a channel of its own and no thread waits on another's; a channel
stays with the thread that borrowed it until the call (or an opened file) gives it back. A server
caps the channels of one connection (OpenSSH's MaxSessions, 10 by default): past
:data:`CHANNELS_PER_CONNECTION` a second connection is opened rather than waiting.

A connection found dead (the server restarted, a network blip while idle) is replaced once per call;
a call that fails on a live connection, or twice, raises. A process made by fork never uses the
parent's connections: its first call opens its own.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import threading
from collections.abc import Callable
from typing import TypeVar

import paramiko

from kloset.errors import AuthenticationError, ConfigError, KlosetError, NotFound, TransientError

from .location import flag, parse_location, seconds

T = TypeVar("T")

# Every failure reaches the caller as a kloset error; paramiko's transport thread would log it once more
# at ERROR, which Python prints on stderr when the application configured no logging.
logging.getLogger("paramiko").addHandler(logging.NullHandler())



_Hook = Callable[[threading.ExceptHookArgs], object]


def _quiet_prefetch_deaths(hook: _Hook) -> _Hook:
    """A thread exception hook that passes everything on but a connection error in the thread that
    paramiko's ``readv`` starts to send its requests: the read that waits on those requests fails with a
    kloset error of its own, and Python would print the thread's traceback on stderr beside it."""

    def quiet(args: threading.ExceptHookArgs) -> object:
        tb = args.exc_traceback
        frames = []
        while tb is not None:
            frames.append(tb.tb_frame.f_code.co_name)
            tb = tb.tb_next
        if "_prefetch_thread" in frames and isinstance(args.exc_value, (OSError, EOFError, paramiko.SSHException)):
            return None
        return hook(args)

    return quiet


threading.excepthook = _quiet_prefetch_deaths(threading.excepthook)

CHANNELS_PER_CONNECTION = 8
# The window and packet sizes of SFTP channels: paramiko's 2 MiB window stalls a fast link between
# acknowledgements; a larger one keeps pipelined requests flowing.
_CHANNEL_WINDOW = 64 * 2**20
_PACKET = 2**15
#: Bytes read at once: the window's requests all go out before the first answer is waited for.
READ_WINDOW = 4 * 2**20
# paramiko's largest read request. A window is asked for in pieces of this size: one large piece is
# read back through a buffer that paramiko rescans for every request, which measured 20 to 40 times
# slower on loopback.
_PIECE = 32768


class _UnknownHostKey(Exception):
    pass


class _RefuseUnknown(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise _UnknownHostKey(hostname)


class _AcceptAny(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        return None


class _Connection:
    def __init__(self, client: paramiko.SSHClient) -> None:
        self.client = client
        self.channels = 0
        self.pid = os.getpid()

    def alive(self) -> bool:
        transport = self.client.get_transport()
        return self.pid == os.getpid() and transport is not None and transport.is_active()


class Session:
    """SFTP channels to one server, for any number of threads."""

    def __init__(self, config: dict[str, str]) -> None:
        self.target = parse_location(config)
        self.timeout = seconds(config.get("timeout", "15"))
        self._password = config.get("password") or None
        self._identity = os.path.expanduser(config["identity"]) if config.get("identity") else None
        self._insecure = flag(config, "insecure_ignore_host_key")
        self._known_hosts = os.path.expanduser(config.get("known_hosts") or "~/.ssh/known_hosts")
        if config.get("known_hosts") and not self._insecure and not os.path.isfile(self._known_hosts):
            raise ConfigError(f"sftp: known_hosts file {self._known_hosts} does not exist")
        self._key = _private_key(self._identity, config.get("passphrase") or None) if self._identity else None
        self._lock = threading.Lock()
        self._connections: list[_Connection] = []
        self._idle: list[tuple[_Connection, paramiko.SFTPClient]] = []
        self._start_dir: str | None = None

    @property
    def where(self) -> str:
        return f"{self.target.username}@{self.target.key_name}"

    def resolve(self, path: str) -> str:
        """The absolute server path of a location path (relative ones start at the start directory)."""
        if path.startswith("/"):
            return path
        if self._start_dir is None:
            self._start_dir = self.call(lambda sftp: sftp.normalize("."), "find the start directory")
        base = self._start_dir.rstrip("/")
        return f"{base}/{path}" if path else base or "/"

    def call(self, fn: Callable[[paramiko.SFTPClient], T], what: str, *, retry: bool = True) -> T:
        """``fn`` on a borrowed channel, its foreign errors translated; replayed once on a fresh
        connection when the connection turns out to be gone (``retry``: only for replayable calls)."""
        for attempt in (1, 2):
            connection, sftp = self._borrow(what)
            try:
                result = fn(sftp)
            except Exception as e:
                dropped = self.lost(sftp)
                # A channel that timed out may still get the answer it waited for: it is not reused.
                broken = dropped or isinstance(e, TimeoutError) or not isinstance(e, (OSError, KlosetError))
                self._give_back(connection, sftp, broken=broken)
                if dropped and retry and attempt == 1:
                    continue
                raise self.error(e, what, dropped=dropped) from e
            self._give_back(connection, sftp)
            return result
        raise AssertionError("unreachable")

    def borrow(self, what: str) -> tuple[Callable[[bool], None], paramiko.SFTPClient]:
        """A channel and the function that gives it back (told whether the channel failed): for a file
        that outlives the call opening it."""
        connection, sftp = self._borrow(what)

        def give_back(failed: bool) -> None:
            self._give_back(connection, sftp, broken=failed or not connection.alive())

        return give_back, sftp

    @staticmethod
    def lost(sftp: paramiko.SFTPClient) -> bool:
        """Whether the channel of ``sftp`` or the connection under it is gone, which no entry-level
        error is."""
        channel = sftp.get_channel()
        transport = channel.get_transport() if channel is not None else None
        return channel is None or channel.closed or transport is None or not transport.is_active()

    def error(self, e: BaseException, what: str, *, dropped: bool = False) -> KlosetError:
        """A foreign exception met while doing ``what``, in kloset's tree."""
        if isinstance(e, KlosetError):
            return e
        where = f"sftp: {what} on {self.where}"
        if dropped or isinstance(e, (EOFError, TimeoutError, paramiko.SSHException)):
            return TransientError(f"{where}: the connection failed or was dropped: {e}")
        if isinstance(e, OSError):
            if e.errno == errno.ENOENT:
                return NotFound(f"{where}: no such file")
            if e.errno == errno.EACCES:
                return KlosetError(f"{where}: permission denied")
            return KlosetError(f"{where}: {e.strerror or e}")
        return KlosetError(f"{where}: {e}")

    def close(self) -> None:
        with self._lock:
            connections, self._connections, self._idle = self._connections, [], []
        for connection in connections:
            if connection.pid == os.getpid():
                connection.client.close()

    def _borrow(self, what: str) -> tuple[_Connection, paramiko.SFTPClient]:
        with self._lock:
            while self._idle:
                spare, sftp = self._idle.pop()
                if not spare.alive():
                    self._forget(spare)
                elif self.lost(sftp):
                    spare.channels -= 1  # its server process ended: its place is free
                else:
                    return spare, sftp
            connection = next((c for c in self._connections if c.channels < CHANNELS_PER_CONNECTION
                               and c.alive()), None)
            if connection is not None:
                connection.channels += 1  # counted now, so that other threads open no more than allowed
        try:
            if connection is None:
                connection = self._connect(what)
            sftp = self._open_channel(connection, what)
        except BaseException:
            if connection is not None:
                with self._lock:
                    connection.channels -= 1
            raise
        return connection, sftp

    def _open_channel(self, connection: _Connection, what: str) -> paramiko.SFTPClient:
        transport = connection.client.get_transport()
        try:
            assert transport is not None
            channel = transport.open_session(window_size=_CHANNEL_WINDOW, max_packet_size=_PACKET, timeout=self.timeout)
            channel.settimeout(self.timeout)
            channel.invoke_subsystem("sftp")
            return paramiko.SFTPClient(channel)
        except Exception as e:
            raise self.error(e, f"{what}: open an SFTP channel", dropped=not connection.alive()) from e

    def _give_back(self, connection: _Connection, sftp: paramiko.SFTPClient, *, broken: bool = False) -> None:
        with self._lock:
            if not broken and connection.alive() and connection in self._connections:
                self._idle.append((connection, sftp))
                return
            connection.channels -= 1
            if not connection.alive():
                self._forget(connection)
        with contextlib.suppress(Exception):
            sftp.close()

    def _forget(self, connection: _Connection) -> None:
        """Drop a dead connection (under the lock). A forked child only forgets its parent's."""
        if connection in self._connections:
            self._connections.remove(connection)
        self._idle = [(c, s) for c, s in self._idle if c is not connection]
        if connection.pid == os.getpid():
            with contextlib.suppress(Exception):
                connection.client.close()

    def _connect(self, what: str) -> _Connection:
        client = paramiko.SSHClient()
        if self._insecure:
            client.set_missing_host_key_policy(_AcceptAny())
        else:
            if os.path.isfile(self._known_hosts):
                try:
                    client.load_system_host_keys(self._known_hosts)
                except (OSError, paramiko.SSHException) as e:
                    raise ConfigError(f"sftp: cannot read known_hosts file {self._known_hosts}: {e}") from e
            client.set_missing_host_key_policy(_RefuseUnknown())
        target, keys = self.target, not (self._password or self._key)
        try:
            client.connect(target.host, target.port, username=target.username, password=self._password,
                           pkey=self._key, timeout=self.timeout, banner_timeout=self.timeout,
                           auth_timeout=self.timeout, channel_timeout=self.timeout, look_for_keys=keys,
                           allow_agent=keys)
        except Exception as e:
            client.close()
            raise self._connect_error(e, what) from e
        connection = _Connection(client)
        connection.channels = 1
        with self._lock:
            self._connections.append(connection)
        return connection

    def _connect_error(self, e: Exception, what: str) -> KlosetError:
        where = f"sftp: {what}: {self.where}"
        if isinstance(e, _UnknownHostKey):
            return AuthenticationError(
                f"{where}: the server's host key is unknown: {self.target.key_name} is not in "
                f"{self._known_hosts} (add it, or set insecure_ignore_host_key=true to skip the check)")
        if isinstance(e, paramiko.BadHostKeyException):
            return AuthenticationError(
                f"{where}: host key verification failed: the server's {e.key.get_name()} key does not match "
                f"the one in {self._known_hosts} (the server changed keys, or something is in between)")
        if isinstance(e, paramiko.AuthenticationException):
            if _LOST_DURING_AUTH in str(e):
                # paramiko's word for a connection that dropped while authenticating: not a refusal
                return TransientError(f"{where}: the connection dropped while authenticating")
            return AuthenticationError(f"{where}: authentication failed: {e}")
        if isinstance(e, paramiko.ssh_exception.NoValidConnectionsError):
            return TransientError(f"{where}: cannot connect: connection refused")
        if isinstance(e, (OSError, EOFError, paramiko.SSHException)):
            return TransientError(f"{where}: cannot connect: {e}")
        return KlosetError(f"{where}: cannot connect: {e}")


_LOST_DURING_AUTH = "transport shut down or saw EOF"


def makedirs(sftp: paramiko.SFTPClient, path: str, mode: int) -> None:
    """``mkdir -p`` on the server; ConfigError when a component is not a directory."""
    parts = [p for p in path.split("/") if p]
    for i in range(1, len(parts) + 1):
        current = "/" + "/".join(parts[:i])
        try:
            if stat.S_ISDIR(sftp.stat(current).st_mode or 0):
                continue
        except FileNotFoundError:
            sftp.mkdir(current, mode)
            continue
        raise ConfigError(f"sftp: {current} exists and is not a directory")


def read_range(f: paramiko.SFTPFile, offset: int, end: int) -> bytes:
    """The bytes of an open file from ``offset`` to ``end`` (less where the file ends before)."""
    pieces: list[bytes] = []
    for start in range(offset, end, READ_WINDOW):
        stop = min(end, start + READ_WINDOW)
        pieces += f.readv([(p, min(_PIECE, stop - p)) for p in range(start, stop, _PIECE)])
    return b"".join(pieces)


def _private_key(path: str, passphrase: str | None) -> paramiko.PKey:
    try:
        return paramiko.PKey.from_path(path, passphrase)
    except FileNotFoundError as e:
        raise ConfigError(f"sftp: identity file {path} does not exist") from e
    except paramiko.PasswordRequiredException as e:
        raise ConfigError(f"sftp: identity file {path} is encrypted: give its passphrase") from e
    except (OSError, ValueError, paramiko.SSHException) as e:
        raise ConfigError(f"sftp: cannot read identity file {path}: {e}") from e
