"""The plugin flow word for word through the command line, each command a process of its own: the ftp
package built from connectors/ftp, installed, shown overriding the built-in connectors, a backup from
an FTP server and a restore into another folder of it, both through the plugin, then the package removed
and the built-in connectors back.

Which programs ran is read from the process tree as it was: every Python process started by these
commands notes its pid, its parent's pid and its command line (a ``sitecustomize`` on PYTHONPATH)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers.ftp import FTPServer, ftp_server

from .test_ftp_plugin import CONNECTORS, ftp_tree, same_tree

# Runs first in every Python process of the flow: one JSON line per process into $PROCESS_LOG.
TRACER = """\
import json, os
with open(os.environ["PROCESS_LOG"], "a") as log:
    argv = open("/proc/self/cmdline", "rb").read().decode(errors="replace").split("\\0")[:-1]
    log.write(json.dumps({"pid": os.getpid(), "ppid": os.getppid(), "argv": argv}) + "\\n")
"""


class Flow:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.plugins = tmp_path / "plugins"
        self.log = tmp_path / "processes.jsonl"
        tracer = tmp_path / "tracer"
        tracer.mkdir()
        (tracer / "sitecustomize.py").write_text(TRACER)
        path = os.pathsep.join(p for p in (str(tracer), os.environ.get("PYTHONPATH", "")) if p)
        self.env = {**os.environ, "KLOSET_PLUGINS_DIR": str(self.plugins), "KLOSET_AGENT": "off",
                    "XDG_CACHE_HOME": str(tmp_path / "cache"), "XDG_DATA_HOME": str(tmp_path / "data"),
                    "XDG_CONFIG_HOME": str(tmp_path / "config"), "KLOSET_PASSPHRASE": "seed flow passphrase",
                    "PROCESS_LOG": str(self.log), "PYTHONPATH": path}
        for key in ("KLOSET_REPOSITORY", "KLOSET_PASSPHRASE_CMD"):
            self.env.pop(key, None)

    def call(self, *argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kloset.cli.main", *argv], capture_output=True, text=True,
                              env=self.env, cwd=cwd or self.tmp, timeout=300)

    def run(self, *argv: str, cwd: Path | None = None) -> str:
        """``kloset ARGV...``'s output; the command must succeed."""
        done = self.call(*argv, cwd=cwd)
        assert done.returncode == 0, f"kloset {' '.join(argv)}: {done.stderr}"
        return done.stdout

    def python(self, code: str) -> str:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=self.env, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def processes(self) -> list[tuple[int, int, list[str]]]:
        """The Python processes started since the last call, as (pid, parent's pid, argv), in start order."""
        if not self.log.exists():
            return []
        lines = self.log.read_text().splitlines()
        self.log.unlink()
        return [(p["pid"], p["ppid"], p["argv"]) for p in map(json.loads, lines)]

    def plugin_children(self, command: str) -> list[list[str]]:
        """The plugins that the process of ``kloset ... COMMAND`` started, as their argv without the interpreter."""
        seen = self.processes()
        parents = {pid for pid, _, argv in seen if command in argv}
        assert parents, f"no process ran kloset {command}"
        return [argv[1:] for _, ppid, argv in seen if ppid in parents and argv[1:2] and argv[1].endswith("plugin.py")]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[FTPServer]:
    (tmp_path / "served").mkdir()
    ftp_tree(tmp_path / "served")
    with ftp_server(tmp_path / "served") as server:
        yield server


IMPORTER_MRO = ("from kloset.registry import importer_class; "
                "print(' '.join(c.__name__ for c in importer_class('ftp://x').__mro__))")


def test_the_ftp_package_serves_backup_and_restore_until_it_is_removed(tmp_path: Path, served: FTPServer) -> None:
    flow = Flow(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    assert flow.run("pkg", "create", str(CONNECTORS / "ftp" / "manifest.yaml"), cwd=out).startswith("wrote ")
    (package,) = out.glob("ftp-v*.ptar")
    assert flow.run("pkg", "add", package.name, cwd=out).startswith("installed ftp v")
    shown = flow.run("pkg", "show").splitlines()
    assert shown[1:] == ["  importer: ftp (overrides the built-in ftp importer)",
                         "  exporter: ftp (overrides the built-in ftp exporter)"]
    installed = flow.plugins / "ftp" / "plugin.py"
    assert installed.is_file()
    assert "PluginImporter" in flow.python(IMPORTER_MRO).split()

    # The password goes in a key of its own (an FTP location refuses one): named source and destination.
    base = f"ftp://{served.user}@{served.host}:{served.port}"
    flow.run("source", "add", "served", f"{base}/tree", f"password={served.password}")
    flow.run("destination", "add", "back", f"{base}/restored", f"password={served.password}")
    store = str(tmp_path / "store")
    flow.run("at", store, "create")
    flow.processes()

    assert "created snapshot" in flow.run("at", store, "backup", "@served")
    assert flow.plugin_children("backup") == [[str(installed), "importer"]]
    flow.run("at", store, "restore", "--to", "@back", "latest")
    assert flow.plugin_children("restore") == [[str(installed), "exporter"]]
    same_tree(served.root / "restored")
    flow.run("at", store, "restore", "--to", str(tmp_path / "local"), "latest")
    same_tree(tmp_path / "local")
    flow.run("at", store, "check")

    assert flow.run("pkg", "rm", "ftp") == "removed ftp\n"
    assert not (flow.plugins / "ftp").exists()
    assert flow.run("pkg", "show") == f"no plugin packages installed (in {flow.plugins})\n"
    assert "FTPImporter" in flow.python(IMPORTER_MRO).split()
    flow.processes()
    flow.run("at", store, "backup", "@served")
    assert flow.plugin_children("backup") == []  # the built-in connector, in the command's own process
