"""A plugin that fails before it serves, as its arguments say: ``exit CODE``, ``signal``, ``garbage``
(writes what is not gRPC to stdout, then waits for the host to hang up) or ``sleep`` (never answers)."""

import os
import signal
import sys
import time

what = sys.argv[1]
if what == "exit":
    sys.exit(int(sys.argv[2]))
if what == "signal":
    os.kill(os.getpid(), signal.SIGKILL)
if what == "garbage":
    sys.stdout.buffer.write(b"Hello! This is not HTTP/2.\n" * 64)
    sys.stdout.flush()
    sys.stdin.buffer.read()
if what == "sleep":
    time.sleep(60)
