"""Dovecot on 127.0.0.1: a real IMAP server with one user, STARTTLS and, when asked, implicit TLS.

    with dovecot() as server:
        config = server.config()                  # a full imap connector config (STARTTLS, CA file)
        config = server.config(tls="no-tls")      # the same, plain text
        with server.client() as imap:             # an IMAPClient logged in as the user
            imap.create_folder("Archive")

Each server has a folder of its own (mode 0755: the auth process runs as ``dovecot`` and must reach the
users file), mail owned by 65534 (nobody), a fresh self-signed certificate for ``127.0.0.1`` and
``localhost`` and an instance name of its own, so several run at once. It is stopped by SIGTERM to its
own process.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from imapclient import IMAPClient

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
HOST = "127.0.0.1"
NOBODY = 65534
_START_SECONDS = 10.0

_CONFIG = """\
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
instance_name = kloset-test-dovecot-{port}
protocols = imap
listen = {host}
ssl = yes
ssl_cert = <{dir}/cert.pem
ssl_key = <{dir}/key.pem
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
# Failed logins (a test of a wrong password) would otherwise slow every later login from 127.0.0.1.
login_trusted_networks = 127.0.0.0/8
mail_max_userip_connections = 50
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={uid} home={dir}/mail/%u
}}
mail_location = maildir:~/Maildir:LAYOUT=fs
# Test mail need not survive a crash of the machine: filling a server goes several times faster.
mail_fsync = never
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    address = {tls_address}
    port = {tls_port}
  }}
}}
"""


@dataclass
class DovecotServer:
    """What a client needs to reach a running dovecot."""

    host: str
    port: int
    tls_port: int | None  # the implicit-TLS listener, when one was asked for
    user: str
    password: str
    ca_file: str  # the self-signed certificate the server presents
    directory: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def log(self) -> str:
        return (self.directory / "dovecot.log").read_text(errors="replace")

    def config(self, mailbox: str = "", **keys: str) -> dict[str, str]:
        """A full imap connector config: STARTTLS verified against ``ca_file``, unless ``keys`` say else."""
        port = self.tls_port if keys.get("tls") == "tls" else self.port
        location = f"imap://{self.host}:{port}" + (f"/{mailbox}" if mailbox else "")
        return {"location": location, "username": self.user, "password": self.password,
                "tls_ca_file": self.ca_file, **keys}

    def client(self) -> IMAPClient:
        """An IMAPClient logged in over plain text, for tests to fill and inspect the mail store."""
        imap = IMAPClient(self.host, self.port, ssl=False, timeout=10)
        imap.login(self.user, self.password)
        return imap

    def start(self) -> None:
        """Start dovecot (again, after :meth:`stop`, on the same mail and ports)."""
        with open(self.directory / "stdout.log", "ab") as out:
            self.process = subprocess.Popen([DOVECOT, "-F", "-c", str(self.directory / "dovecot.conf")],
                                            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        _wait_ready(self.process, self.port, self.directory)

    def stop(self) -> None:
        """SIGTERM to dovecot's own process, then at once to the processes it started.

        Left to dovecot, its processes serve their open connections for seconds after it stops and
        it waits for them: this way clients see the stop at once."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        children = _children(process.pid)
        process.send_signal(signal.SIGTERM)
        _signal(children)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _signal(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def _children(pid: int) -> list[int]:
    """The processes ``pid`` started, theirs in turn after them."""
    try:
        direct = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return direct + [grandchild for child in direct for grandchild in _children(child)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def write_certificate(directory: Path) -> Path:
    """A self-signed EC certificate for 127.0.0.1 and localhost: ``cert.pem`` and ``key.pem``."""
    key = ec.generate_private_key(ec.SECP256R1())
    # A name of its own: certificates trusted together (one bundle for two servers) are told apart by
    # subject, and two named alike would each be checked against the other's key.
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"kloset test {directory.name}")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address(HOST))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file = directory / "key.pem"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    return directory / "cert.pem"


def _wait_ready(process: subprocess.Popen[bytes], port: int, directory: Path) -> None:
    """Until a connection to ``port`` reads the greeting; the log is in the error when it never does."""
    deadline = time.monotonic() + _START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1) as s:
            if s.recv(64).startswith(b"* OK"):
                return
        time.sleep(0.01)
    log = directory / "dovecot.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    raise RuntimeError(f"dovecot did not start on port {port}: {text[-2000:]}")


@contextlib.contextmanager
def dovecot(*, implicit_tls: bool = False, user: str = "test", password: str = "secret") -> Iterator[DovecotServer]:
    """Start a dovecot, yield how to reach it, stop it and remove its folder."""
    directory = Path(tempfile.mkdtemp(prefix="kloset-dovecot-"))
    directory.chmod(0o755)
    server = None
    try:
        ca_file = write_certificate(directory)
        (directory / "users").write_text(f"{user}:{{PLAIN}}{password}::::\n")
        (directory / "mail").mkdir()
        os.chown(directory / "mail", NOBODY, NOBODY)
        port = free_port()
        tls_port = free_port() if implicit_tls else None
        (directory / "dovecot.conf").write_text(_CONFIG.format(
            dir=directory, host=HOST, port=port, uid=NOBODY,
            tls_address=HOST if tls_port else "", tls_port=tls_port or 0))
        server = DovecotServer(HOST, port, tls_port, user, password, str(ca_file), directory)
        server.start()
        yield server
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(directory, ignore_errors=True)
