"""Where a store's passphrase comes from: the argument, its entry, the environment, or a prompt."""

from __future__ import annotations

import getpass
import os
import shlex
import subprocess
import sys

from .errors import AuthenticationError, ConfigError

#: The environment variables a passphrase comes from.
ENVIRONMENT = ("KLOSET_PASSPHRASE", "KLOSET_PASSPHRASE_CMD")


def resolve(passphrase: str | None = None, *, command: str | None = None, confirm: bool = False,
            prompt: bool = True) -> str:
    """The passphrase, from the first source that has one.

    Order: the argument, ``command`` (a store entry's ``passphrase_cmd``), ``KLOSET_PASSPHRASE``,
    ``KLOSET_PASSPHRASE_CMD``, then an interactive prompt when stdin is a terminal and ``prompt``.
    A command's stdout is the passphrase, its trailing newline removed.

    What names one store (the argument, its entry) comes before the environment, which holds for
    every store the session opens: as in Plakar, where a store's configured passphrase is used before
    ``PLAKAR_PASSPHRASE``. A store entry's own ``passphrase`` key is passed as the argument."""
    if passphrase is not None:
        return passphrase
    if command:
        return _run(command)
    env = os.environ.get("KLOSET_PASSPHRASE")
    if env is not None:
        return env
    cmd = os.environ.get("KLOSET_PASSPHRASE_CMD")
    if cmd:
        return _run(cmd)
    if prompt and sys.stdin is not None and sys.stdin.isatty():
        first = getpass.getpass("passphrase: ")
        if confirm and getpass.getpass("passphrase (again): ") != first:
            raise AuthenticationError("the passphrases do not match")
        return first
    raise AuthenticationError("this store needs a passphrase: pass it, give its entry a passphrase or "
                              "passphrase_cmd key, or set KLOSET_PASSPHRASE or KLOSET_PASSPHRASE_CMD")


def _run(command: str) -> str:
    try:
        out = subprocess.run(shlex.split(command), capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError, ValueError) as e:
        raise ConfigError(f"passphrase command failed: {e}") from e
    return out.rstrip("\n")
