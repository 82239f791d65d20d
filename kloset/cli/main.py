"""The ``kloset`` command: ``kloset [at LOCATION] COMMAND [ARGS...]``.

Each command lives in its own module (``kloset.cli.<command>``) with ``configure(parser)`` and
``run(args, context) -> exit code``; only the module of the command being run is imported.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from kloset import KlosetError, __version__
from kloset.allocator import release_large_buffers, without_pandas

if TYPE_CHECKING:
    # Loaded by the command, not here: it pulls in the engine, which a command the agent runs never needs.
    from .context import Context

COMMANDS: dict[str, str] = {
    "create": "create a store",
    "backup": "back up a directory into a new snapshot",
    "ls": "list snapshots, or the entries of a snapshot",
    "cat": "write a file of a snapshot to stdout",
    "restore": "restore a snapshot, or part of it, into a directory",
    "info": "show the store, or one snapshot's header",
    "diff": "show what changed between two snapshots",
    "locate": "find entries by name or path pattern in every snapshot",
    "check": "verify snapshots and stored data",
    "rm": "forget snapshots",
    "prune": "forget the snapshots a retention policy does not keep",
    "maintenance": "give back the space of data no snapshot uses (garbage collection, repacking)",
    "sync": "copy snapshots to, from or both ways with another store",
    "cache": "rebuild this machine's cache of the store's index",
    "analyze": "find personal data and e-mail messages in a snapshot's content",
    "sql": "query snapshots with SQL (needs kloset[sql])",
    "agent": "show, start or stop the agent that keeps stores open for quick queries",
    "ptar": "write paths into a new single-file .ptar store",
    "archive": "stream a snapshot, or part of it, out as a tar or zip archive",
    "source": "add, change, show, list, remove or ping named sources (@name)",
    "destination": "add, change, show, list, remove or ping named restore destinations (@name)",
    "store": "add, change, show, list, remove or ping named stores (@name)",
    "pkg": "create, add, remove or show plugin packages (.ptar)",
}

EPILOG = """\
commands:
{commands}

LOCATION is a path, a URL or @name (a store entry: see `kloset store`); without `at`, the store is
$KLOSET_REPOSITORY, else one under the user's data directory. SNAP is a unique prefix of a snapshot
ID, or `latest`; SNAP:PATH names an entry (a relative PATH is taken from the snapshot's root). The
passphrase of an encrypted store comes from the store entry's passphrase or passphrase_cmd,
$KLOSET_PASSPHRASE, the output of $KLOSET_PASSPHRASE_CMD, or a prompt.

exit codes:
  0    ok
  1    error
  2    usage or configuration error
  3    not found (store, snapshot, path)
  4    authentication (wrong or missing passphrase)
  5    integrity (damaged data; a restore that could not write every file)
  6    the store is locked
  7    transient failure (I/O, network): worth retrying
  8    plugin failure
  9    unsafe path in a snapshot
  10   check found damage
  11   unsupported by the connector
  130  interrupted
"""


class Command(Protocol):
    def configure(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace, context: Context) -> int: ...


def _top_parser() -> argparse.ArgumentParser:
    width = max(map(len, COMMANDS))
    listing = "\n".join(f"  {name.ljust(width)}  {text}" for name, text in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="kloset", usage="kloset [at LOCATION] COMMAND [ARGS...]",
        description="A deduplicating, compressing, encrypting backup engine.",
        epilog=EPILOG.format(commands=listing), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"kloset {__version__}")
    parser.add_argument("command", choices=list(COMMANDS), metavar="COMMAND", help="one of the commands below")
    return parser


def _plakar_spelling(argv: list[str]) -> list[str]:
    """Plakar spells restore's target `-to`; argparse takes single-dash options as letters only."""
    out: list[str] = []
    for i, a in enumerate(argv):
        if a == "--":
            return out + argv[i:]
        out.append("--to" if a == "-to" else "--to=" + a[4:] if a.startswith("-to=") else a)
    return out


def _dispatch(argv: list[str], own_process: bool = False) -> int:
    from .context import Context

    location: str | None = None
    if argv[:1] == ["at"]:
        if len(argv) < 2:
            _top_parser().error("`at` needs a LOCATION")
        location, argv = argv[1], argv[2:]
    return _execute(argv, Context(location, own_process))


def _execute(argv: list[str], context: Context) -> int:
    top = _top_parser()
    if not argv:
        top.print_usage(sys.stderr)
        top.exit(2, "kloset: error: a COMMAND is needed (see kloset --help)\n")
    # Only the head decides the command: options after it belong to the command's own parser.
    name = top.parse_args(argv[:1]).command
    rest = argv[1:]
    if name == "restore":
        rest = _plakar_spelling(rest)
    module: Command = importlib.import_module(f"{__package__}.{name}")
    parser = argparse.ArgumentParser(prog=f"kloset {name}", description=COMMANDS[name])
    module.configure(parser)
    args = parser.parse_args(rest)
    return module.run(args, context)


def _tolerate_odd_names() -> None:
    # Paths that are not UTF-8 travel as lone surrogates; print them back as the bytes they were.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="surrogateescape")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code (argparse's own exits are returned, not raised).

    Called without ``argv`` (as the ``kloset`` script and ``python -m kloset.cli.main`` do), it is the
    process's entry point and ends the process itself, see :func:`_exit`."""
    _tolerate_odd_names()
    if argv is not None:
        return _run(list(argv))
    from .agent import client

    args = sys.argv[1:]
    code = client.run(args)
    if code is None:
        # This process is ours: tune it (see kloset.allocator). No command here builds a DataFrame.
        release_large_buffers()
        without_pandas()
        code = _run(args, own_process=True)
        client.warm(args, code)
    _exit(code)
    return code


def _run(argv: list[str], own_process: bool = False) -> int:
    return _guarded(lambda: _dispatch(argv, own_process))


def run_parsed(argv: list[str], context: Context) -> int:
    """Run ``COMMAND ARGS`` (no ``at``) for the store of ``context``, as the agent does for a caller."""
    return _guarded(lambda: _execute(argv, context))


def _guarded(command: Callable[[], int]) -> int:
    """The command's exit code, with errors printed as the command line prints them."""
    try:
        return command()
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    except KlosetError as e:
        print(f"kloset: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("kloset: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`kloset cat ... | head`): stay quiet about it, as Unix tools do.
        _discard_stdout()
        return 141
    except OSError as e:
        print(f"kloset: error: {e}", file=sys.stderr)
        return 1


def _discard_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _exit(code: int) -> None:
    """Flush and leave without the interpreter's teardown.

    Every store is closed by now and nothing is left to clean up, while the teardown of numpy, pyarrow
    and their thread pools costs a noticeable part of a short command's run, and pyarrow's pools can
    even abort it now and then ("terminate called without an active exception", exit 134, after the
    command succeeded: apache/arrow#34314)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _discard_stdout()
        code = code or 141
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
