"""OpenSSH's sshd on 127.0.0.1, serving a local folder over SFTP to root with a key.

    with sshd() as server:
        config = server.config("store")      # a full sftp connector config for ROOT/store
        server.restic_sftp_args("restic")    # restic's -r and -o sftp.command for ROOT/restic

The server runs ``internal-sftp -d ROOT`` for every login (ForceCommand), without a chroot: absolute
paths are the machine's own, so the server's paths and the local ones are the same, and a relative
path starts at ROOT. Host and client keys are fresh ed25519 keys; ``known_hosts`` holds the host key,
so a plain ``ssh -s sftp`` with ``identity`` and ``known_hosts`` reaches the same folder.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SSHD = "/usr/sbin/sshd"
HOST = "127.0.0.1"
_READY = "Server listening on"
_START_SECONDS = 10.0


@dataclass
class SSHServer:
    """What a client needs to reach a running SFTP server."""

    host: str
    port: int
    username: str
    identity: str  # the client's private key file
    known_hosts: str  # a known_hosts file holding the server's host key
    root: str  # the local folder the server serves
    password: str = ""
    #: The server path of ``root``: ROOT itself for sshd, "/" for a server chrooted to ROOT.
    served_root: str = ""
    #: Stops the server and drops its open connections at once, as a crash would.
    kill: Callable[[], None] = field(default=lambda: None, repr=False)
    #: Sends a signal to the processes serving the open connections (sshd itself goes on listening):
    #: SIGKILL drops them as a network blip would, SIGSTOP makes a server that no longer answers.
    signal_sessions: Callable[[int], None] = field(default=lambda sig: None, repr=False)

    def location(self, path: str = "") -> str:
        """The sftp location of ``root/path``, or of an absolute ``path`` on a server without a chroot."""
        base = "" if path.startswith("/") else (self.served_root or self.root).rstrip("/") + "/"
        return f"sftp://{self.username}@{self.host}:{self.port}{base}{path}".rstrip("/")

    def config(self, path: str = "") -> dict[str, str]:
        """A full sftp connector config for ``root/path`` (see :meth:`location`)."""
        config = {"location": self.location(path), "known_hosts": self.known_hosts}
        if self.password:
            config["password"] = self.password
        else:
            config["identity"] = self.identity
        return config

    def ssh_command(self) -> list[str]:
        """``ssh`` reaching this server's SFTP subsystem with the yielded key and known_hosts only."""
        return ["ssh", "-F", "/dev/null", "-i", self.identity, "-p", str(self.port),
                "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "StrictHostKeyChecking=yes",
                "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", f"{self.username}@{self.host}", "-s", "sftp"]

    def restic_sftp_args(self, path: str) -> list[str]:
        """restic's ``-r`` and ``-o sftp.command`` for a repository at ``root/path``."""
        return ["-r", f"sftp:{self.username}@{self.host}:{self.root.rstrip('/')}/{path.lstrip('/')}",
                "-o", "sftp.command=" + shlex.join(self.ssh_command())]


def make_key(path: str) -> str:
    """Write a fresh ed25519 private key (OpenSSH format, 0600) to ``path``; return its public line."""
    key = Ed25519PrivateKey.generate()
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                             serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH).decode()


def write_known_hosts(path: str, port: int, public_line: str) -> None:
    with open(path, "w") as f:
        f.write(f"[{HOST}]:{port} {public_line}\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


_CONFIG = """\
ListenAddress {host}
Port {port}
HostKey {dir}/ssh_host_ed25519_key
PidFile none
UsePAM yes
AllowUsers root
PermitRootLogin prohibit-password
AuthorizedKeysFile {dir}/authorized_keys
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowTcpForwarding no
X11Forwarding no
PermitTTY no
UseDNS no
LogLevel INFO
Subsystem sftp internal-sftp
ForceCommand internal-sftp -d {root}
"""


class _Daemon:
    """One sshd process and the session processes it forked; stopped by their process IDs."""

    def __init__(self, directory: str, root: str) -> None:
        self.log_path = os.path.join(directory, "sshd.log")
        port = free_port()
        with open(os.path.join(directory, "sshd_config"), "w") as f:
            f.write(_CONFIG.format(host=HOST, port=port, dir=directory, root=root))
        self.port = port
        os.makedirs("/run/sshd", exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", os.path.join(directory, "sshd_config")],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_SECONDS
        while time.monotonic() < deadline:
            with open(self.log_path, errors="replace") as f:
                if _READY in f.read():
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.005)
        self.kill()
        with open(self.log_path, errors="replace") as f:
            raise RuntimeError(f"sshd did not start: {f.read()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL sshd and every session it forked: a server that dies as a machine would."""
        sessions = _descendants(self.proc.pid)  # found before their parent dies and they are re-parented
        for pid in [self.proc.pid, *sessions]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait()

    def signal_sessions(self, sig: int) -> None:
        """Send ``sig`` to the session processes sshd forked."""
        for pid in _descendants(self.proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rpartition(")")[2].split()[1])
                children.setdefault(ppid, []).append(int(entry))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


@contextlib.contextmanager
def sshd(root: str | None = None) -> Iterator[SSHServer]:
    """Run sshd serving ``root`` (a new temporary folder if None) until the block ends."""
    with tempfile.TemporaryDirectory(prefix="kloset-sshd-") as directory:
        served = root or os.path.join(directory, "root")
        os.makedirs(served, exist_ok=True)
        host_public = make_key(os.path.join(directory, "ssh_host_ed25519_key"))
        identity = os.path.join(directory, "client_ed25519")
        with open(os.path.join(directory, "authorized_keys"), "w") as f:
            f.write(make_key(identity) + "\n")
        daemon = _Daemon(directory, served)
        known_hosts = os.path.join(directory, "known_hosts")
        write_known_hosts(known_hosts, daemon.port, host_public)
        server = SSHServer(HOST, daemon.port, "root", identity, known_hosts, served, kill=daemon.kill,
                           signal_sessions=daemon.signal_sessions)
        try:
            yield server
        finally:
            daemon.kill()

