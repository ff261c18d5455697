import pytest

from scoring import services


@pytest.fixture(autouse=True)
def _fresh_scoring_caches():
    # Model versions and event type ids are cached per process; test databases reuse numbers.
    services.clear_caches()
    yield
    services.clear_caches()
