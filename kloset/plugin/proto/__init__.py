"""The plugin protocol's .proto files and the Python modules generated from them
(``python -m kloset.plugin.proto`` regenerates them)."""
