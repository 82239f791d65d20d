"""The fault-injection suite: kills, a full disk, damaged bytes and dropped connections (docs/faults.md).

Run on its own as ``python -m tests.faults.run``; pytest runs it at a reduced size (test_suite.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

# The suite reuses the other test packages (engine's trees, the servers), which pytest makes importable
# by putting tests/ on the path; a run of its own does the same.
_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
