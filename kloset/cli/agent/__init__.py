"""kloset agent: start, stop or show the agent that keeps stores open for quick read-only commands.

The agent starts by itself after a command that opens a store, unless ``KLOSET_AGENT=off``; it
leaves after ``KLOSET_AGENT_IDLE`` seconds (600) without a request. See docs/agent.md.
"""

from __future__ import annotations

import argparse
import datetime
import sys

from ..context import Context


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=["status", "start", "stop"], default="status",
                        help="status (the default), start or stop")
    parser.add_argument("--idle", type=float, default=None,
                        help="with start: seconds without a request before the agent leaves")
    parser.add_argument("--json", action="store_true", help="with status: print a JSON object")


def run(args: argparse.Namespace, context: Context) -> int:
    from kloset.errors import ConfigError

    from .. import render
    from . import client, wire

    if not wire.supported():
        raise ConfigError("the agent needs Linux")
    status = client.ask("status")
    if args.action == "stop":
        if status is None:
            print("no agent runs")
            return 0
        client.ask("stop")
        print(f"agent {status['pid']} stopped")
        return 0
    if args.action == "start":
        if status is None:
            try:
                client.spawn(idle=args.idle)
            except wire.WireError as e:
                raise ConfigError(str(e)) from e
            status = client.wait_until_listening()
            if status is None:
                print("kloset: error: the agent did not start; see its log, "
                      f"{wire.folder() / 'agent.log'}", file=sys.stderr)
                return 1
        print(f"agent {status['pid']} listens on {wire.socket_path()}")
        return 0
    if status is None:
        if args.json:
            render.write_json({"running": False})
        else:
            print("no agent runs" + ("" if wire.enabled() else " (KLOSET_AGENT is off)"))
        return 0
    if args.json:
        render.write_json({"running": True, **status})
        return 0
    since = datetime.datetime.fromtimestamp(status["since"]).strftime("%Y-%m-%d %H:%M:%S")
    print(f"agent {status['pid']}, since {since}, {status['served']} commands served, "
          f"leaves after {status['idle']:g} s idle")
    for location in status["stores"]:
        print(f"  {location}")
    return 0
