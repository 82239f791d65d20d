"""Where a store's passphrase comes from: the argument, $KLOSET_PASSPHRASE, a command, or a prompt."""

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

    Order: the argument, ``KLOSET_PASSPHRASE``, ``command`` or ``KLOSET_PASSPHRASE_CMD`` (its stdout,
    trailing newline removed), then an interactive prompt when stdin is a terminal and ``prompt``."""
    if passphrase is not None:
        return passphrase
    env = os.environ.get("KLOSET_PASSPHRASE")
    if env is not None:
        return env
    cmd = command or os.environ.get("KLOSET_PASSPHRASE_CMD")
    if cmd:
        try:
            out = subprocess.run(shlex.split(cmd), capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError) as e:
            raise ConfigError(f"passphrase command failed: {e}") from e
        return out.rstrip("\n")
    if prompt and sys.stdin is not None and sys.stdin.isatty():
        first = getpass.getpass("passphrase: ")
        if confirm and getpass.getpass("passphrase (again): ") != first:
            raise AuthenticationError("the passphrases do not match")
        return first
    raise AuthenticationError("this store needs a passphrase: pass it, or set KLOSET_PASSPHRASE "
                              "or KLOSET_PASSPHRASE_CMD")
