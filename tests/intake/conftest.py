import uuid

import pytest


@pytest.fixture(autouse=True)
def _own_rate_limit_keys(settings):
    # The capture rate limit counts in the shared cache (Redis when configured); give each
    # test its own keys instead of flushing a cache that other processes may use.
    settings.INTAKE_RATE_LIMIT_PREFIX = f"test-{uuid.uuid4().hex}"
