"""What ``kloset source``, ``kloset destination`` and ``kloset store`` share: the named entries of one
kind (``@name``), added, changed, shown, listed, removed and pinged.

    kloset store add NAME LOCATION [KEY=VALUE...]     kloset store show [NAME] [--secrets]
    kloset store set NAME KEY=VALUE...                kloset store ls
    kloset store unset NAME KEY...                    kloset store ping NAME
    kloset store rm NAME
"""

from __future__ import annotations

import argparse
import sys

from kloset.config import Entries, Kind, is_secret, parse_assignments
from kloset.errors import KlosetError

from . import render
from .context import Context

#: What ``show`` prints for a secret's value unless asked for secrets.
HIDDEN = "********"


class EntryCommand:
    """The command of one kind of entry; its module exposes ``configure`` and ``run``."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind

    def configure(self, parser: argparse.ArgumentParser) -> None:
        kind = self.kind
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        add = actions.add_parser("add", help=f"name a new {kind}")
        add.add_argument("name", metavar="NAME")
        add.add_argument("location", metavar="LOCATION", help="a path or a URL")
        add.add_argument("keys", nargs="*", metavar="KEY=VALUE", help="connector keys (user, password, tls...)")
        change = actions.add_parser("set", help=f"set keys of a {kind} (location included)")
        change.add_argument("name", metavar="NAME")
        change.add_argument("keys", nargs="+", metavar="KEY=VALUE")
        unset = actions.add_parser("unset", help=f"remove keys of a {kind}")
        unset.add_argument("name", metavar="NAME")
        unset.add_argument("keys", nargs="+", metavar="KEY")
        rm = actions.add_parser("rm", help=f"forget a {kind}")
        rm.add_argument("name", metavar="NAME")
        show = actions.add_parser("show", help=f"show a {kind}, or all of them, as YAML")
        show.add_argument("name", nargs="?", metavar="NAME")
        show.add_argument("--secrets", action="store_true", help="show passwords, secrets and tokens too")
        actions.add_parser("ls", help=f"list the {kind}s: name and location")
        ping = actions.add_parser("ping", help=f"check that the {kind} can be reached"
                                  + (" and opened" if kind == "store" else ""))
        ping.add_argument("name", metavar="NAME")

    def run(self, args: argparse.Namespace, context: Context) -> int:
        entries = Entries(self.kind)
        action: str = args.action
        if action == "add":
            entries.add(args.name, args.location, parse_assignments(args.keys))
        elif action == "set":
            entries.set(args.name, parse_assignments(args.keys))
        elif action == "unset":
            entries.unset(args.name, args.keys)
        elif action == "rm":
            entries.remove(args.name)
        elif action == "show":
            _show(entries, args.name, args.secrets)
        elif action == "ls":
            render.write_lines(render.table([(name, hidden_password(e["location"]))
                                             for name, e in entries.all().items()]))
        else:
            return self._ping(entries, args.name)
        return 0

    def _ping(self, entries: Entries, name: str) -> int:
        label = f"{self.kind} {name} ({hidden_password(entries.get(name)['location'])})"
        try:
            what = ping(self.kind, name)
        except KlosetError as e:
            print(f"kloset: {label}: {e}", file=sys.stderr)
            return e.exit_code
        print(f"{label}: ok{what}")
        return 0


def ping(kind: Kind, name: str) -> str:
    """Build the connector of an entry and ping it (a store is opened); a note on what answered."""
    reference = "@" + name
    if kind == "store":
        import kloset

        # A ping says whether the store answers now: its retries would only delay the answer.
        with kloset.open({"location": reference, "retries": "0"}) as store:
            return f", {'encrypted' if store.encrypted else 'plaintext'} store {store.id}"
    from kloset.location import connector_config
    from kloset.registry import exporter_for
    from kloset.store import importer_for

    connector = importer_for(reference) if kind == "source" else exporter_for(connector_config(reference, kind))
    try:
        connector.ping()
    finally:
        connector.close()
    return ""


def _show(entries: Entries, name: str | None, secrets: bool) -> None:
    import yaml

    shown = {name: entries.get(name)} if name is not None else entries.all()
    if not secrets:
        shown = {n: {k: HIDDEN if is_secret(k) else hidden_password(v) if k == "location" else v
                     for k, v in e.items()} for n, e in shown.items()}
    if shown:
        sys.stdout.write(yaml.safe_dump(shown, default_flow_style=False, sort_keys=True, allow_unicode=True))


def hidden_password(location: str) -> str:
    """A location with the password of its URL's user part (``scheme://user:password@host``) hidden."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(location)
        password = parts.password
    except ValueError:
        return location
    if not password:
        return location
    user = parts.username or ""
    return parts._replace(netloc=parts.netloc.replace(f"{user}:{password}@", f"{user}:{HIDDEN}@", 1)).geturl()
