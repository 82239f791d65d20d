"""The command line's side of the agent: hand a command over, or tell the agent about a store.

Everything here fails soft: when no agent answers, or it cannot take the command, the command runs in
this process as if there were no agent. Only the standard library and the light ``kloset`` modules
are imported, since this runs first on every command.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

from kloset import passphrase as passphrases
from kloset.errors import KlosetError
from kloset.location import connector_config, default_location

from . import wire

#: The commands the agent runs: they read the store and write nothing to it.
SERVED = frozenset({"sql", "ls", "info", "cat", "diff", "locate"})
#: The commands after which the agent is told to keep the store open.
WARMING = SERVED | {"create", "backup", "restore", "check", "rm", "analyze"}
#: The environment a served command may look at, passed along since the agent's own is not the caller's.
PASSED_ENV = ("TZ", "COLUMNS", "LINES", "NO_COLOR")
#: How long a command waits for a busy agent (opening a large store, say) before running in-process;
#: ``$KLOSET_AGENT_WAIT`` seconds when set.
ACCEPT_TIMEOUT = 10.0
#: The default idle time after which the agent leaves, forgetting the stores and keys it held.
IDLE = 600.0


def split(argv: list[str]) -> tuple[str | None, list[str]]:
    """``[at LOCATION] COMMAND ARGS`` as (LOCATION or None, [COMMAND, ARGS...])."""
    if argv[:1] == ["at"] and len(argv) >= 2:
        return argv[1], argv[2:]
    return None, argv


def canonical(location: str | None) -> str:
    """The store's location as the agent keys it: paths made absolute, the default one resolved."""
    location = default_location() if location is None else location
    return connector_config(location)["location"]


def _named(location: str | None) -> bool:
    """A named store (``@name``): its commands run in the caller's process, where the entry's keys and
    passphrase are, and never reach the agent."""
    return (default_location() if location is None else location).startswith("@")


def _passphrase() -> str | None:
    """The passphrase when it can be had without asking anyone (else the command runs in-process,
    which asks, or reports why it cannot)."""
    try:
        return passphrases.resolve(prompt=False)
    except KlosetError:
        return None


def _connect(timeout: float | None) -> socket.socket | None:
    try:
        path = wire.socket_path()
    except (OSError, wire.WireError):
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        return None
    return sock


def run(argv: list[str]) -> int | None:
    """Run the command in the agent; its exit code, or None when it must run in this process."""
    if not wire.enabled():
        return None
    location, rest = split(argv)
    if not rest or rest[0] not in SERVED or _named(location):
        return None
    try:
        request: dict[str, Any] = {
            "op": "run", "build": wire.build(), "argv": rest, "location": canonical(location),
            "passphrase": _passphrase(), "cwd": os.getcwd(),
            "env": {k: os.environ[k] for k in PASSED_ENV if k in os.environ}}
    except Exception:
        return None  # a location or folder we cannot resolve: the in-process run says why
    try:
        wait = float(os.environ.get("KLOSET_AGENT_WAIT", ACCEPT_TIMEOUT))
    except ValueError:
        wait = ACCEPT_TIMEOUT
    sock = _connect(wait)
    if sock is None:
        return None
    with sock:
        try:
            return _exchange(sock, request)
        except KeyboardInterrupt:
            # Closing the socket (as this return does) tells the agent to stop the command.
            print("kloset: interrupted", file=sys.stderr)
            return 130


def _exchange(sock: socket.socket, request: dict[str, Any]) -> int | None:
    try:
        wire.send(sock, request)
        reply, _ = wire.receive(sock)
        if not reply.get("accepted"):
            return None
        # Only now the streams: an agent that answers too late gets none, and cannot run the command.
        wire.send(sock, {"streams": True}, [0, 1, 2])
    except (OSError, wire.WireError):
        return None  # not taken: nothing has run yet
    sock.settimeout(None)
    try:
        reply, _ = wire.receive(sock)
    except (OSError, wire.WireError):
        print("kloset: error: the agent stopped while running the command; run it again, "
              "or with KLOSET_AGENT=off", file=sys.stderr)
        return 1
    code = reply.get("code")
    return code if isinstance(code, int) else 1


def warm(argv: list[str], code: int) -> None:
    """After a command ran in this process: have the agent keep its store open for the next ones.

    Starts the agent when none runs. Best effort: a failure here never changes the command's outcome."""
    if code != 0 or not wire.enabled():
        return
    location, rest = split(argv)
    if not rest or rest[0] not in WARMING or any(a in ("-h", "--help") for a in rest) or _named(location):
        return
    try:
        message = {"op": "warm", "build": wire.build(), "location": canonical(location),
                   "passphrase": os.environ.get("KLOSET_PASSPHRASE")}
        sock = _connect(0.5)
        if sock is None:
            spawn(message)
            return
        with sock:
            wire.send(sock, message)
    except Exception:
        return


def _agent_env() -> dict[str, str]:
    # The agent takes each store's passphrase from the command that asks; never from its environment.
    return {k: v for k, v in os.environ.items() if k not in passphrases.ENVIRONMENT}


def spawn(first: dict[str, Any] | None = None, idle: float | None = None) -> subprocess.Popen[bytes]:
    """Start an agent in its own session, handing it ``first`` (a warm message) through its stdin.

    Not waited for: it opens the store while the caller goes on (or exits)."""
    folder = wire.folder(create=True)
    cmd = [sys.executable, "-m", "kloset.cli.agent.server",
           "--idle", str(idle if idle is not None else float(os.environ.get("KLOSET_AGENT_IDLE", IDLE)))]
    with open(folder / "agent.log", "ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log,
                                start_new_session=True, env=_agent_env(), cwd="/")
    assert proc.stdin is not None
    with contextlib.suppress(OSError):
        proc.stdin.write(json.dumps(first or {}).encode())
    with contextlib.suppress(OSError):
        proc.stdin.close()
    return proc


def ask(op: str, timeout: float = 5.0) -> dict[str, Any] | None:
    """Send ``op`` (``status``, ``stop``) and return the agent's answer, or None when none runs."""
    sock = _connect(timeout)
    if sock is None:
        return None
    with sock:
        try:
            wire.send(sock, {"op": op})
            reply, _ = wire.receive(sock)
        except (OSError, wire.WireError):
            return None
    return reply


def wait_until_listening(timeout: float = 30.0) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = ask("status", timeout=1.0)
        if status is not None:
            return status
        time.sleep(0.05)
    return None
