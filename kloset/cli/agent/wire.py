"""Where the agent listens and how its messages travel.

The agent listens on a Unix socket in a folder only its user can enter: ``$KLOSET_AGENT_DIR``, else
``$XDG_RUNTIME_DIR/kloset``, else ``/tmp/kloset-UID``. A message is a 4-byte big-endian length and
that many bytes of JSON; a request to run a command carries the caller's stdin, stdout and stderr as
file descriptors beside its first message, so the command writes straight to the caller's terminal
or pipe. This module imports the standard library only: the command line loads it before anything
else, on every run.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import struct
import sys
from pathlib import Path
from typing import Any

#: Bumped when a message changes meaning; an agent of another version is not spoken to.
PROTOCOL = 1
_LENGTH = struct.Struct(">I")
_MAX_MESSAGE = 1 << 20
_UCRED = struct.Struct("3i")


class WireError(Exception):
    """The other end broke the protocol, went away, or is not to be trusted."""


def supported() -> bool:
    # Peer credentials (SO_PEERCRED) are how the agent knows who is calling.
    return sys.platform.startswith("linux") and hasattr(socket, "AF_UNIX")


def enabled() -> bool:
    """False when ``$KLOSET_AGENT`` is off, 0, no or false, or the platform has no agent."""
    return supported() and os.environ.get("KLOSET_AGENT", "").lower() not in ("off", "0", "no", "false")


def folder(create: bool = False) -> Path:
    """The agent's folder, made user-only when ``create``; refused if anyone else could enter it."""
    env = os.environ.get("KLOSET_AGENT_DIR")
    if env:
        path = Path(env)
    elif os.environ.get("XDG_RUNTIME_DIR"):
        path = Path(os.environ["XDG_RUNTIME_DIR"]) / "kloset"
    else:
        path = Path("/tmp") / f"kloset-{os.getuid()}"
    if create:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = os.lstat(path)
    # Another user's folder, a symlink, or one others may write to could hand us someone else's socket.
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise WireError(f"{path} is not a folder of this user's alone")
    return path


def socket_path() -> Path:
    return folder() / "agent.sock"


def build() -> str:
    """What identifies the code that runs: an agent of another build (an upgrade, an edit) steps down.

    The folders' modification times change when files in them are replaced, as installers and most
    editors do."""
    here = Path(__file__).resolve().parent
    roots = [here.parent.parent, here.parent, here]
    stamps = ",".join(str(os.stat(p).st_mtime_ns) for p in roots)
    return f"{PROTOCOL}:{sys.executable}:{roots[0]}:{stamps}"


def peer_uid(sock: socket.socket) -> int:
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    return int(_UCRED.unpack(raw)[1])


def send(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogateescape")
    frame = _LENGTH.pack(len(data)) + data
    if fds:
        sent = socket.send_fds(sock, [frame], fds)
        frame = frame[sent:]
    if frame:
        sock.sendall(frame)


def receive(sock: socket.socket, max_fds: int = 0) -> tuple[dict[str, Any], list[int]]:
    """One message, and the descriptors that came with it (owned by the caller from here on)."""
    fds: list[int] = []
    head = b""
    while len(head) < _LENGTH.size:
        if max_fds and not fds:
            part, got, _, _ = socket.recv_fds(sock, _LENGTH.size - len(head), max_fds)
            fds.extend(got)
        else:
            part = sock.recv(_LENGTH.size - len(head))
        if not part:
            _close_all(fds)
            raise WireError("the other end went away")
        head += part
    (size,) = _LENGTH.unpack(head)
    if size > _MAX_MESSAGE:
        _close_all(fds)
        raise WireError(f"a message of {size} bytes is too large")
    body = bytearray()
    while len(body) < size:
        part = sock.recv(size - len(body))
        if not part:
            _close_all(fds)
            raise WireError("the other end went away in the middle of a message")
        body += part
    try:
        message = json.loads(bytes(body).decode("utf-8", "surrogateescape"))
    except ValueError as e:
        _close_all(fds)
        raise WireError(f"a message that is not JSON: {e}") from e
    if not isinstance(message, dict):
        _close_all(fds)
        raise WireError("a message that is not a JSON object")
    return message, fds


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)
