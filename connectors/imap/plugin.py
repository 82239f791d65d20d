"""The IMAP connector as a plugin: ``plugin.py importer`` or ``plugin.py exporter`` (see manifest.yaml).

The folder is imported as a package of its own, so that an installed package runs the connector modules
it ships, whichever kloset serves the plugin protocol."""

from __future__ import annotations

import importlib
import sys

if __name__ == "__main__":
    from kloset.sdk import package, run_exporter, run_importer

    imap = package(__file__).__name__
    kind = sys.argv[1] if len(sys.argv) > 1 else ""
    if kind == "importer":
        run_importer(importlib.import_module(imap + ".importer").IMAPImporter)
    elif kind == "exporter":
        run_exporter(importlib.import_module(imap + ".exporter").IMAPExporter)
    else:
        sys.exit(f"usage: {sys.argv[0]} importer|exporter")
