"""The fault-injection suite as tests: a reduced size in every run, the full size marked slow.

Wrong outcomes that come from known faults of the product (KNOWN) make the test an expected failure
until they are fixed; any other wrong outcome fails it, and so does a run that injected too little."""

from __future__ import annotations

import os

import pytest

from .run import FULL, REDUCED, Size, run
from .tally import Tally

#: Known faults of the product, by the words of the wrong outcome they cause, and where they lie.
KNOWN: dict[str, str] = {}


def _judge(tally: Tally, size: Size) -> None:
    print(tally.table())
    assert tally.injected("kill -9") >= size.kills, tally.table()
    for row in tally.rows.values():
        assert row.injected > 0 or row.skipped, f"{row.kind} / {row.target}: nothing injected"
    unknown = [w for w in tally.wrong() if not any(k in w for k in KNOWN)]
    assert not unknown, "\n".join(unknown)
    met = sorted({why for w in tally.wrong() for k, why in KNOWN.items() if k in w})
    if met:
        pytest.xfail("known faults of the product: " + "; ".join(met))


def test_faults_at_a_reduced_size_leave_every_store_whole_and_truthful() -> None:
    _judge(run(REDUCED, seed=20261130), REDUCED)


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.skipif(not os.environ.get("KLOSET_FAULTS_FULL"),
                    reason="the full size (over 10 minutes) runs on its own: python -m tests.faults.run, "
                           "or KLOSET_FAULTS_FULL=1 pytest tests/faults")
def test_faults_at_full_size_leave_every_store_whole_and_truthful() -> None:
    _judge(run(FULL, seed=20261201), FULL)
