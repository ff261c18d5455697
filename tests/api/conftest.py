import pytest

from scoring import services as scoring_services


@pytest.fixture(autouse=True)
def _fresh_scoring_caches():
    # The scoring service caches model versions and event type ids per process; test databases reuse ids.
    scoring_services.clear_caches()
    yield
    scoring_services.clear_caches()
