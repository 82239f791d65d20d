"""The example plugin of docs/plugins.md ("Writing a plugin"), word for word: its files taken from the
page's code blocks, packaged with ``kloset pkg create``, installed with ``kloset pkg add`` and used to
back up a zip file through ``zip://``, each command a process of its own."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

from .test_seed_flow import Flow

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
# A fenced block that names the file it is: ```python title="zipsrc/importer.py"
BLOCK = re.compile(r'^```\w* title="([^"]+)"\n(.*?)^```$', re.M | re.S)
ENTRIES = {"notes.txt": b"plain text\n", "photos/2024/beach.jpg": bytes(range(256)) * 300,
           "photos/empty": b"", "docs/deep/er/file.md": b"# deep\n"}


def section(text: str, title: str) -> str:
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def example(folder: Path) -> dict[str, str]:
    """The files the section's titled code blocks hold, written below ``folder``."""
    files = dict(BLOCK.findall(section(DOC.read_text(), "Writing a plugin")))
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(content)
    return files


def write_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("photos/", b"")  # a folder entry of its own, as zip tools write them
        for name, content in entries.items():
            z.writestr(name, content)
    return path


def test_the_example_is_under_a_hundred_lines(tmp_path: Path) -> None:
    assert sum(content.count("\n") for content in example(tmp_path).values()) < 100


@pytest.fixture
def flow(tmp_path: Path) -> Flow:
    """The example written out, packaged and installed."""
    flow = Flow(tmp_path)
    files = example(tmp_path)
    assert sorted(files) == ["zipsrc/__init__.py", "zipsrc/importer.py", "zipsrc/manifest.yaml", "zipsrc/plugin.py"]
    assert flow.run("pkg", "create", "zipsrc/manifest.yaml").startswith(f"wrote {tmp_path / 'zipsrc-v1.0.0.ptar'} (")
    assert flow.run("pkg", "add", "zipsrc-v1.0.0.ptar") == "installed zipsrc v1.0.0: importer zip\n"
    return flow


def test_the_example_backs_up_a_zip_file_through_its_plugin(tmp_path: Path, flow: Flow) -> None:
    write_zip(tmp_path / "archive.zip", ENTRIES)
    store = str(tmp_path / "store")
    flow.run("at", store, "create")
    flow.processes()
    assert "created snapshot" in flow.run("at", store, "backup", "zip://archive.zip")
    assert flow.plugin_children("backup") == [[str(flow.plugins / "zipsrc" / "plugin.py"), "importer"]]
    flow.run("at", store, "restore", "--to", str(tmp_path / "restored"), "latest")
    restored = tmp_path / "restored"
    assert sorted(str(p.relative_to(restored)) for p in restored.rglob("*") if p.is_file()) == sorted(ENTRIES)
    for name, content in ENTRIES.items():
        assert (restored / name).read_bytes() == content, name


def test_an_unsafe_entry_name_is_an_error_of_the_snapshot_and_the_rest_is_kept(tmp_path: Path, flow: Flow) -> None:
    write_zip(tmp_path / "archive.zip", {"../escape.txt": b"no", "kept.txt": b"yes"})
    store = str(tmp_path / "store")
    flow.run("at", store, "create")
    assert "created snapshot" in flow.run("at", store, "backup", "zip://archive.zip")
    flow.run("at", store, "restore", "--to", str(tmp_path / "restored"), "latest")
    assert (tmp_path / "restored" / "kept.txt").read_bytes() == b"yes"
    assert not (tmp_path / "escape.txt").exists()


def test_a_missing_zip_file_fails_the_backup_as_not_found(tmp_path: Path, flow: Flow) -> None:
    store = str(tmp_path / "store")
    flow.run("at", store, "create")
    done = flow.call("at", store, "backup", "zip://nowhere.zip")
    assert done.returncode == 3  # NotFound's exit code: the plugin's error reached the host typed
    assert f"plugin zipsrc/importer: zip: {tmp_path / 'nowhere.zip'}: no such file" in done.stderr


def test_a_file_that_is_not_a_zip_is_a_config_error(tmp_path: Path, flow: Flow) -> None:
    (tmp_path / "fake.zip").write_bytes(b"not a zip at all")
    store = str(tmp_path / "store")
    flow.run("at", store, "create")
    done = flow.call("at", store, "backup", "zip://fake.zip")
    assert done.returncode == 2
    assert "not a zip file" in done.stderr
