"""An in-process SFTP server (asyncssh) on 127.0.0.1 that logs users in with a password.

    with password_sftp() as server:
        server.config("dir")     # {"location": "sftp://kloset@127.0.0.1:PORT/dir", "password": ...}

Each session is chrooted to ``root``: the server's ``/`` is that folder. No root rights needed and no
system user made, which is why password logins are tested here rather than against sshd.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator

import asyncssh

from .sshd import HOST, SSHServer, write_known_hosts

USERNAME = "kloset"
PASSWORD = "correct horse"
#: A password on which the server drops the connection in the middle of authenticating.
DROP = "drop the line"


class _PasswordServer(asyncssh.SSHServer):
    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        if password == DROP:
            self._conn.abort()
        return username == USERNAME and password == PASSWORD


@contextlib.contextmanager
def password_sftp(root: str | None = None) -> Iterator[SSHServer]:
    """Serve ``root`` (a new temporary folder if None) until the block ends."""
    with tempfile.TemporaryDirectory(prefix="kloset-asyncssh-") as directory:
        served = root or os.path.join(directory, "root")
        os.makedirs(served, exist_ok=True)
        host_key = asyncssh.generate_private_key("ssh-ed25519")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="asyncssh-server", daemon=True)
        thread.start()

        async def listen() -> asyncssh.SSHAcceptor:
            return await asyncssh.listen(
                HOST, 0, server_host_keys=[host_key], server_factory=_PasswordServer,
                sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=served.encode()))

        acceptor = asyncio.run_coroutine_threadsafe(listen(), loop).result(10)
        port = acceptor.get_port()
        known_hosts = os.path.join(directory, "known_hosts")
        write_known_hosts(known_hosts, port, host_key.export_public_key("openssh").decode().strip())

        def kill() -> None:
            async def stop() -> None:
                acceptor.close()
                await acceptor.wait_closed()

            if not loop.is_closed() and loop.is_running():
                asyncio.run_coroutine_threadsafe(stop(), loop).result(10)

        server = SSHServer(HOST, port, USERNAME, "", known_hosts, served, password=PASSWORD, served_root="/",
                           kill=kill)
        async def end_sessions() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            yield server
        finally:
            kill()
            asyncio.run_coroutine_threadsafe(end_sessions(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()
