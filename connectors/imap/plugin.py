"""The IMAP connector as a plugin: ``plugin.py importer`` or ``plugin.py exporter`` (see manifest.yaml).

The folder is imported as a package of its own, so that an installed package runs the connector modules
it ships, whichever kloset serves the plugin protocol."""

if __name__ == "__main__":
    from kloset.sdk import run

    run(__file__, importer="importer:IMAPImporter", exporter="exporter:IMAPExporter")
