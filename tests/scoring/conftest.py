import pytest

from scoring import services


@pytest.fixture(autouse=True)
def _fresh_scoring_caches():
    # Model versions and event type ids are cached per process; test databases reuse numbers.
    services.clear_caches()
    yield
    services.clear_caches()


@pytest.fixture
def migration_data(transactional_db):
    """Transactional tests of other suites end with a flush that also drops the rows data
    migrations made (event types, the default model, roles); put them back when missing."""
    from scoring.models import EventType

    if not EventType.objects.exists():
        from tests.e2e.conftest import _rerun_data_migrations

        _rerun_data_migrations()
        services.clear_caches()
