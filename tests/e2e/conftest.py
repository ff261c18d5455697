"""Playwright (sync API) driving Debian's Chromium against pytest-django's live server."""

import pytest

from tests.conftest import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM:
        pytest.skip("needs Chromium: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def sign_in(live_server, page):
    from tests.factories import PASSWORD

    def _sign_in(user):
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{live_server.url}/")
        return page

    return _sign_in


def _rerun_data_migrations() -> None:
    """Run every migration's RunPython step again, in order, against the state it was written for."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.db.migrations.operations.special import RunPython

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes(), clean_start=True)
    with connection.schema_editor(atomic=True) as schema_editor:
        for migration, _backwards in plan:
            steps = [op for op in migration.operations if isinstance(op, RunPython)]
            if not steps:
                continue
            state = executor.loader.project_state((migration.app_label, migration.name), at_end=False)
            for operation in migration.operations:
                if isinstance(operation, RunPython):
                    operation.code(state.apps, schema_editor)
                else:
                    operation.state_forwards(migration.app_label, state)


@pytest.fixture(autouse=True)
def _data_from_migrations(transactional_db):
    """Transactional tests end with a flush, which also drops rows that data migrations made
    (role groups, default scoring model...). Put them back when they are missing."""
    from django.contrib.auth.models import Group

    from leads import roles

    if not Group.objects.filter(name=roles.REP).exists():
        _rerun_data_migrations()
