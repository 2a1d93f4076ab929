"""Shared fixtures: small populations, generated once per session (they are deterministic)."""

import pytest

from kit.population import make_population


@pytest.fixture(scope="session")
def small_pop():
    return make_population(6_000, random_state=7)
