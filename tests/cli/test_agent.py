"""The agent, through the real `kloset` command: each test has its own agent folder and stops its agent."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kloset.cli.agent import wire

pytestmark = pytest.mark.skipif(not wire.supported(), reason="the agent needs Linux")

PASSPHRASE = "agent test passphrase"
KLOSET = [sys.executable, "-c", "import sys; from kloset.cli.main import main; sys.argv[0] = 'kloset'; main()"]
COUNT = "SELECT count(*) AS n FROM files WHERE snapshot_id = (SELECT snapshot_id FROM snapshots " \
        "ORDER BY timestamp DESC LIMIT 1) AND type = 'file'"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = dict(os.environ, KLOSET_AGENT="on", KLOSET_AGENT_DIR=str(tmp_path / "agent"),
               KLOSET_PASSPHRASE=PASSPHRASE, XDG_CACHE_HOME=str(tmp_path / "cache"),
               XDG_DATA_HOME=str(tmp_path / "data"))
    env.pop("KLOSET_PASSPHRASE_CMD", None)
    env.pop("KLOSET_REPOSITORY", None)
    yield env
    subprocess.run([*KLOSET, "agent", "stop"], env=env, capture_output=True, timeout=60)
    # Also one that was still starting, which `stop` could not reach yet.
    for pid in _agents_of(env):
        os.kill(pid, signal.SIGKILL)


def _agents_of(env: dict[str, str]) -> list[int]:
    """Every agent process that uses this test's folder."""
    mine = f"KLOSET_AGENT_DIR={env['KLOSET_AGENT_DIR']}".encode()
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and b"kloset.cli.agent.server" in (proc / "cmdline").read_bytes() \
                    and mine in (proc / "environ").read_bytes().split(b"\0"):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def _agent_pid(env: dict[str, str]) -> int | None:
    """The running agent's pid: it holds its lock file for as long as it lives."""
    lock = Path(env["KLOSET_AGENT_DIR"]) / "agent.lock"
    try:
        f = lock.open()
    except FileNotFoundError:
        return None
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return int(f.read())
    return None


def kloset(env: dict[str, str], *argv: str, stdin: bytes | None = None,
           **overrides: str) -> subprocess.CompletedProcess[str]:
    e = dict(env, **overrides)
    return subprocess.run([*KLOSET, *argv], env=e, capture_output=True, timeout=120,
                          input=stdin.decode() if stdin is not None else "", text=True)


def status(env: dict[str, str]) -> dict[str, object]:
    out = kloset(env, "agent", "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def wait_for(env: dict[str, str], location: str, timeout: float = 60.0) -> dict[str, object]:
    """The agent's status once it holds ``location``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = status(env)
        if s["running"] and location in s["stores"]:  # type: ignore[operator]
            return s
        time.sleep(0.1)
    raise AssertionError(f"the agent never held {location}: {status(env)}")


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    (root / "docs").mkdir(parents=True)
    (root / "a.txt").write_text("alpha\n")
    (root / "docs" / "b.txt").write_text("bravo\n")
    (root / "blob.bin").write_bytes(bytes(range(256)) * 4000)
    return root


@pytest.fixture
def store(tmp_path: Path, env: dict[str, str], src: Path) -> str:
    """A store with one snapshot of ``src``, held by a running agent."""
    location = str(tmp_path / "store")
    assert kloset(env, "at", location, "create").returncode == 0
    out = kloset(env, "at", location, "backup", str(src))
    assert out.returncode == 0, out.stderr
    wait_for(env, location)
    return location


def served(env: dict[str, str]) -> int:
    return int(status(env)["served"])  # type: ignore[call-overload]


def test_a_command_that_opens_a_store_starts_the_agent_which_then_serves_queries(
        env: dict[str, str], store: str) -> None:
    before = served(env)
    via_agent = kloset(env, "at", store, "sql", COUNT)
    in_process = kloset(env, "at", store, "sql", COUNT, KLOSET_AGENT="off")
    assert via_agent.returncode == 0, via_agent.stderr
    assert via_agent.stdout == in_process.stdout
    assert via_agent.stdout.split()[-1] == "3"
    assert served(env) == before + 1
    for argv in (["ls"], ["ls", "latest"], ["info", "latest", "--json"], ["sql", "--csv", COUNT]):
        a, b = kloset(env, "at", store, *argv), kloset(env, "at", store, *argv, KLOSET_AGENT="off")
        assert (a.returncode, a.stdout) == (b.returncode, b.stdout), argv
    assert served(env) == before + 5


def test_cat_passes_bytes_through_unchanged(env: dict[str, str], store: str, src: Path) -> None:
    out = subprocess.run([*KLOSET, "at", store, "cat", "latest:blob.bin"], env=env, capture_output=True, timeout=60)
    assert out.returncode == 0
    assert out.stdout == (src / "blob.bin").read_bytes()


def test_a_relative_location_and_the_callers_working_directory(env: dict[str, str], store: str,
                                                               tmp_path: Path) -> None:
    (tmp_path / "here.csv").write_text("a,b\n1,2\n3,4\n")
    out = subprocess.run([*KLOSET, "at", "store", "sql", "SELECT count(*) FROM read_csv('here.csv')"],
                         env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "2"
    assert status(env)["stores"] == [store]


def test_a_wrong_passphrase_is_refused_and_does_not_evict_the_right_one(env: dict[str, str], store: str) -> None:
    wrong = kloset(env, "at", store, "sql", COUNT, KLOSET_PASSPHRASE="not it")
    assert wrong.returncode == 4
    assert "passphrase" in wrong.stderr
    assert wrong.stdout == ""
    right = kloset(env, "at", store, "sql", COUNT)
    assert right.returncode == 0 and right.stdout.split()[-1] == "3"


def test_without_a_passphrase_the_command_runs_in_its_own_process(env: dict[str, str], store: str) -> None:
    before = served(env)
    e = {k: v for k, v in env.items() if k != "KLOSET_PASSPHRASE"}
    out = subprocess.run([*KLOSET, "at", store, "ls"], env=e, capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    assert out.returncode == 4
    assert "needs a passphrase" in out.stderr
    assert served(env) == before


def test_the_passphrase_command_is_honoured(env: dict[str, str], store: str, tmp_path: Path) -> None:
    script = tmp_path / "pass.sh"
    script.write_text(f"#!/bin/sh\necho '{PASSPHRASE}'\n")
    script.chmod(0o700)
    e = {k: v for k, v in env.items() if k != "KLOSET_PASSPHRASE"}
    before = served(env)
    out = subprocess.run([*KLOSET, "at", store, "sql", COUNT], env=dict(e, KLOSET_PASSPHRASE_CMD=str(script)),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert served(env) == before + 1


def test_it_sees_what_other_processes_changed_in_the_store(env: dict[str, str], store: str, src: Path,
                                                           tmp_path: Path) -> None:
    (src / "new.txt").write_text("new\n")
    assert kloset(env, "at", store, "backup", str(src), KLOSET_AGENT="off").returncode == 0
    out = kloset(env, "at", store, "sql", "SELECT count(*) FROM snapshots")
    assert out.stdout.split()[-1] == "2"
    assert kloset(env, "at", store, "sql", COUNT).stdout.split()[-1] == "4"

    # The store deleted and made anew at the same place, with another passphrase: opened afresh.
    shutil.rmtree(store)
    new = "another passphrase"
    assert kloset(env, "at", store, "create", KLOSET_PASSPHRASE=new, KLOSET_AGENT="off").returncode == 0
    empty = kloset(env, "at", store, "sql", "SELECT count(*) FROM snapshots", KLOSET_PASSPHRASE=new)
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout.split()[-1] == "0"
    old = kloset(env, "at", store, "sql", "SELECT count(*) FROM snapshots")
    assert old.returncode == 4


def test_errors_come_back_as_the_command_gives_them(env: dict[str, str], store: str, tmp_path: Path) -> None:
    bad = kloset(env, "at", store, "sql", "SELEC nonsense")
    assert bad.returncode == 2
    assert "syntax error" in bad.stderr.lower()
    missing = kloset(env, "at", str(tmp_path / "nowhere"), "ls")
    assert missing.returncode == 3
    usage = kloset(env, "at", store, "ls", "--no-such-option")
    assert usage.returncode == 2
    assert "usage: kloset ls" in usage.stderr
    # the agent is still there
    assert kloset(env, "at", store, "sql", COUNT).returncode == 0


def test_the_interactive_prompt_runs_in_the_callers_process(env: dict[str, str], store: str) -> None:
    before = served(env)
    out = kloset(env, "at", store, "sql", "--csv", stdin=b"SELECT 41 + 1 AS x;\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "x\n42\n"
    assert served(env) == before


def test_a_reader_that_goes_away_early(env: dict[str, str], store: str) -> None:
    query = "SELECT * FROM range(200000)"
    out = subprocess.run(["sh", "-c", f"{' '.join(map(_quote, KLOSET))} at {store} sql --csv '{query}' | head -2"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout == "range\n0\n"
    assert "Traceback" not in out.stderr
    assert kloset(env, "at", store, "sql", COUNT).returncode == 0


def _quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'"


LONG = "SELECT count(*) FROM range(100000000000) a WHERE hash(a.range) = 42"


def test_ctrl_c_stops_the_query_in_the_agent(env: dict[str, str], store: str) -> None:
    proc = subprocess.Popen([*KLOSET, "at", store, "sql", LONG], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "interrupted" in err
    again = kloset(env, "at", store, "sql", COUNT)  # answered at once: the long query was stopped
    assert again.returncode == 0 and again.stdout.split()[-1] == "3"


def test_a_command_that_stops_waiting_for_a_busy_agent_runs_once_in_its_own_process(
        env: dict[str, str], store: str) -> None:
    long = subprocess.Popen([*KLOSET, "at", store, "sql", LONG], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)
    waited = kloset(env, "at", store, "sql", COUNT, KLOSET_AGENT_WAIT="1")
    assert waited.returncode == 0, waited.stderr
    assert waited.stdout == kloset(env, "at", store, "sql", COUNT, KLOSET_AGENT="off").stdout
    long.send_signal(signal.SIGINT)
    long.communicate(timeout=30)
    time.sleep(0.5)  # the agent now reads the waiting command's request: it must not run it
    assert kloset(env, "at", store, "sql", COUNT).stdout == waited.stdout
    assert served(env) == 2  # the long query and the last one


def test_an_agent_that_dies_mid_command_is_reported(env: dict[str, str], store: str) -> None:
    pid = _agent_pid(env)
    assert pid is not None
    proc = subprocess.Popen([*KLOSET, "at", store, "sql", LONG], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)
    os.kill(pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "the agent stopped while running the command" in err
    # The next command runs in its own process, and starts an agent anew in place of the dead one.
    out = kloset(env, "at", store, "sql", COUNT)
    assert out.returncode == 0 and out.stdout.split()[-1] == "3"
    assert wait_for(env, store)["pid"] != pid


def test_a_stale_socket_is_replaced(env: dict[str, str], tmp_path: Path, src: Path) -> None:
    agent_dir = Path(env["KLOSET_AGENT_DIR"])
    agent_dir.mkdir(mode=0o700)
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(agent_dir / "agent.sock"))
    dead.close()  # the file stays, nobody listens
    location = str(tmp_path / "store")
    out = kloset(env, "at", location, "create")
    assert out.returncode == 0, out.stderr
    wait_for(env, location)
    assert kloset(env, "at", location, "ls").returncode == 0


def test_a_folder_others_may_enter_is_not_used(env: dict[str, str], tmp_path: Path) -> None:
    agent_dir = Path(env["KLOSET_AGENT_DIR"])
    agent_dir.mkdir()
    agent_dir.chmod(0o777)
    location = str(tmp_path / "store")
    assert kloset(env, "at", location, "create").returncode == 0
    assert kloset(env, "at", location, "ls").returncode == 0  # in-process
    time.sleep(0.5)
    assert not (agent_dir / "agent.sock").exists()
    started = kloset(env, "agent", "start")
    assert started.returncode == 2
    assert "not a folder of this user's alone" in started.stderr


def test_an_agent_of_another_build_steps_down(env: dict[str, str], store: str) -> None:
    pid = _agent_pid(env)
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(str(Path(env["KLOSET_AGENT_DIR"]) / "agent.sock"))
    with sock, open(os.devnull, "w") as null:
        wire.send(sock, {"op": "run", "build": "another", "argv": ["ls"], "location": store,
                         "passphrase": PASSPHRASE, "cwd": "/"}, [null.fileno()] * 3)
        reply, _ = wire.receive(sock)
    assert reply == {"accepted": False, "why": "another build"}
    deadline = time.monotonic() + 10
    while _agent_pid(env) == pid:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert kloset(env, "at", store, "ls").returncode == 0  # in-process, then a current agent starts
    assert wait_for(env, store)["pid"] != pid


def test_it_leaves_when_idle(env: dict[str, str], tmp_path: Path) -> None:
    location = str(tmp_path / "store")
    assert kloset(env, "at", location, "create", "--plaintext", KLOSET_AGENT_IDLE="1").returncode == 0
    wait_for(env, location)
    deadline = time.monotonic() + 30
    while _agent_pid(env) is not None:  # not status(): asking is a request, which the idle time counts from
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert not (Path(env["KLOSET_AGENT_DIR"]) / "agent.sock").exists()


def test_a_plaintext_store_needs_no_passphrase(env: dict[str, str], tmp_path: Path, src: Path) -> None:
    location = str(tmp_path / "plain")
    assert kloset(env, "at", location, "create", "--plaintext").returncode == 0
    assert kloset(env, "at", location, "backup", str(src)).returncode == 0
    wait_for(env, location)
    e = {k: v for k, v in env.items() if k != "KLOSET_PASSPHRASE"}
    before = served(env)
    out = subprocess.run([*KLOSET, "at", location, "sql", COUNT], env=e, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and out.stdout.split()[-1] == "3"
    assert served(env) == before + 1


def test_start_status_and_stop(env: dict[str, str]) -> None:
    assert status(env) == {"running": False}
    started = kloset(env, "agent", "start")
    assert started.returncode == 0, started.stderr
    s = status(env)
    assert s["running"] and s["stores"] == []
    assert kloset(env, "agent").stdout.startswith(f"agent {s['pid']}")
    assert kloset(env, "agent", "stop").returncode == 0
    deadline = time.monotonic() + 10
    while _agent_pid(env) is not None:
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.mark.skipif(os.getuid() != 0, reason="needs to become another user")
def test_another_user_cannot_reach_the_agent(env: dict[str, str], store: str) -> None:
    sock_path = str(Path(env["KLOSET_AGENT_DIR"]) / "agent.sock")
    probe = ("import os, socket\nos.setgid(65534); os.setuid(65534)\n"
             f"s = socket.socket(socket.AF_UNIX)\ntry:\n    s.connect({sock_path!r})\n"
             "except PermissionError:\n    print('refused')\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "refused", out.stderr


def test_a_named_store_runs_in_the_callers_process_with_its_entry(tmp_path: Path, env: dict[str, str],
                                                                   src: Path) -> None:
    # The entry's passphrase lives in the caller's config: the agent never sees the store.
    env = dict(env, KLOSET_CONFIG_DIR=str(tmp_path / "config"))
    env.pop("KLOSET_PASSPHRASE")
    assert kloset(env, "store", "add", "st", str(tmp_path / "named"), "passphrase=entry secret").returncode == 0
    assert kloset(env, "at", "@st", "create").returncode == 0
    assert kloset(env, "at", "@st", "backup", str(src)).returncode == 0
    for _ in range(2):
        out = kloset(env, "at", "@st", "ls")
        assert out.returncode == 0, out.stderr
        assert str(src) in out.stdout
    assert _agent_pid(env) is None


def test_a_relative_ptar_path_is_held_by_the_agent_under_its_absolute_location(
        tmp_path: Path, env: dict[str, str], src: Path) -> None:
    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*KLOSET, *argv], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)

    assert run("ptar", "-o", "b.ptar", str(src)).returncode == 0
    for _ in range(2):  # the second is answered by the agent the first one started
        out = run("at", "b.ptar", "ls")
        assert out.returncode == 0, out.stderr
        assert str(src) in out.stdout
    wait_for(env, f"ptar://{tmp_path / 'b.ptar'}")
