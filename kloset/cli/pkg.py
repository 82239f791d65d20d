"""kloset pkg: plugin packages, built from a manifest.yaml, installed, listed and removed.

    kloset pkg create MANIFEST [VERSION] [-o DIR]     kloset pkg show [NAME] [--json]
    kloset pkg add FILE.ptar                          kloset pkg rm NAME
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from typing import Any

from kloset.errors import NotFound
from kloset.plugin import package
from kloset.plugin.installed import Package, plugins_dir, scan
from kloset.plugin.manifest import ConnectorSpec

from . import render
from .context import Context


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="build NAME-vVERSION.ptar from a manifest and its folder")
    create.add_argument("manifest", metavar="MANIFEST", help="the package's manifest.yaml")
    create.add_argument("version", nargs="?", metavar="VERSION", help="the version (replaces the manifest's)")
    create.add_argument("-o", "--output-dir", metavar="DIR", help="where to write the package (default: here)")
    add = actions.add_parser("add", help="install a package")
    add.add_argument("file", metavar="FILE.ptar")
    rm = actions.add_parser("rm", help="remove an installed package")
    rm.add_argument("name", metavar="NAME")
    show = actions.add_parser("show", help="list the installed packages, or show one")
    show.add_argument("name", nargs="?", metavar="NAME")
    show.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace, context: Context) -> int:
    action: str = args.action
    if action == "create":
        path = package.create(args.manifest, args.version, args.output_dir)
        print(f"wrote {path} ({render.size(os.path.getsize(path))})")
    elif action == "add":
        p = package.add(args.file)
        print(f"installed {p.name} v{p.version}: {_served(p)}")
    elif action == "rm":
        package.rm(args.name)
        print(f"removed {args.name}")
    else:
        return _show(args.name, args.json)
    return 0


def _show(name: str | None, as_json: bool) -> int:
    current = scan()
    packages = list(current.packages)
    if name is not None:
        packages = [p for p in packages if p.name == name]
        if not packages:
            why = current.broken.get(name)
            raise NotFound(f"package {name!r} is unusable: {why}" if why else f"no package {name!r} is installed")
    else:
        for folder, why in current.broken.items():
            print(f"kloset: warning: {plugins_dir() / folder}: not a usable package: {why}", file=sys.stderr)
    if as_json:
        render.write_json([_as_dict(p) for p in packages])
        return 0
    if not packages:
        print(f"no plugin packages installed (in {plugins_dir()})")
    for p in packages:
        m = p.manifest
        print(f"{p.name} v{p.version}" + (f": {m.description}" if m.description else ""))
        if name is not None:
            details = [("folder", str(p.folder)), ("api version", m.api_version), ("homepage", m.homepage),
                       ("license", m.license), ("tags", ", ".join(m.tags))]
            render.write_lines("  " + line for line in render.table([(k + ":", v) for k, v in details if v]))
        for spec in m.connectors:
            print(f"  {spec.type}: " + ", ".join(_scheme(spec, s) for s in spec.protocols))
            if name is not None:
                print(f"    command: {' '.join(spec.command)}")
    return 0


def _scheme(spec: ConnectorSpec, scheme: str) -> str:
    return f"{scheme} (overrides the built-in {scheme} {spec.type})" if scheme in _builtin(spec.type) else scheme


@functools.cache
def _builtin(kind: str) -> frozenset[str]:
    from kloset.registry import schemes

    return frozenset(schemes(kind, plugins=False))


def _served(p: Package) -> str:
    return "; ".join(f"{spec.type} {', '.join(spec.protocols)}" for spec in p.manifest.connectors)


def _as_dict(p: Package) -> dict[str, Any]:
    m = p.manifest
    return {"name": p.name, "version": p.version, "folder": str(p.folder), "description": m.description,
            "api_version": m.api_version, "homepage": m.homepage, "license": m.license, "tags": list(m.tags),
            "connectors": [{"type": s.type, "protocols": list(s.protocols), "command": s.command,
                            "location_flags": list(s.location_flags),
                            "overrides": [x for x in s.protocols if x in _builtin(s.type)]}
                           for s in m.connectors]}
