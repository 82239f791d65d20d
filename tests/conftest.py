"""What every test shares."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def _no_agent() -> Iterator[None]:
    # Commands run as real processes would otherwise leave an agent behind, shared between tests;
    # the agent's own tests turn it on, each with a folder of its own.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KLOSET_AGENT", "off")
        yield


@pytest.fixture(autouse=True, scope="session")
def _no_installed_plugins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    # The user's installed plugin packages must not stand in for the connectors under test; tests that
    # install packages point $KLOSET_PLUGINS_DIR at a folder of their own.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KLOSET_PLUGINS_DIR", str(tmp_path_factory.mktemp("plugins")))
        yield
