"""docker-compose.yml, the Dockerfile and .env.example agree with the settings.

No Docker engine runs in the test environment, so these read the files: the services
and their commands, and every environment variable against what the settings read.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
APP_SERVICES = ("web", "worker", "beat", "migrate")
SETTINGS_VARIABLE = re.compile(r"""\benv(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]*)["']""")
INTERPOLATION = re.compile(r"\$\{([A-Z][A-Z0-9_]*)")
ENV_EXAMPLE_LINE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$")
# Read by Django itself or by the compose file's postgres container, not through settings' env().
NOT_FROM_SETTINGS = {"DJANGO_SETTINGS_MODULE"}
COMPOSE_ONLY = {"POSTGRES_PASSWORD", "WEB_PORT"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _settings_variables() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "leadcrm" / "settings").glob("*.py"):
        names |= set(SETTINGS_VARIABLE.findall(path.read_text()))
    return names


def _env_example() -> dict[str, tuple[str, bool]]:
    """name -> (value, set): ``set`` is False for a commented-out line."""
    entries = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = ENV_EXAMPLE_LINE.match(line.strip())
        if match:
            entries[match.group(1)] = (match.group(2), not line.startswith("#"))
    return entries


def _command(service: dict) -> list[str]:
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else [str(part) for part in command]


def test_compose_has_the_services_of_the_multi_machine_layout(compose):
    services = compose["services"]

    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)
    for name in ("postgres", "redis", "web", "worker", "beat"):
        assert "healthcheck" in services[name], f"{name} has no health check"
        assert services[name]["healthcheck"]["test"], name


def test_postgres_keeps_its_data_in_a_named_volume(compose):
    volumes = compose["services"]["postgres"]["volumes"]

    named = [volume.split(":")[0] for volume in volumes if volume.endswith(":/var/lib/postgresql/data")]
    assert named == ["postgres-data"]
    assert "postgres-data" in compose["volumes"]


def test_web_runs_gunicorn_on_the_project_wsgi_app(compose):
    command = _command(compose["services"]["web"])

    assert command[0] == "gunicorn"
    assert "leadcrm.wsgi:application" in command
    assert settings.WSGI_APPLICATION == "leadcrm.wsgi.application"
    assert compose["services"]["web"]["healthcheck"]["test"][-1].count("/healthz") == 1


def test_worker_consumes_every_queue_that_tasks_are_routed_to(compose):
    command = _command(compose["services"]["worker"])

    assert command[:3] == ["celery", "--app=leadcrm", "worker"]
    queues = next(part.split("=", 1)[1] for part in command if part.startswith("--queues="))
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()} | {settings.CELERY_TASK_DEFAULT_QUEUE}
    assert set(queues.split(",")) == routed
    assert f'QUEUES = "{queues}"' in (ROOT / "bin" / "run").read_text()


def test_there_is_exactly_one_beat(compose):
    beats = [name for name, service in compose["services"].items() if "beat" in _command(service)]

    assert beats == ["beat"]
    assert compose["services"]["beat"].get("deploy", {}).get("replicas", 1) == 1


def test_app_services_get_only_variables_that_the_settings_read(compose):
    read = _settings_variables() | NOT_FROM_SETTINGS

    for name in APP_SERVICES:
        environment = compose["services"][name]["environment"]
        unknown = sorted(set(environment) - read)
        assert unknown == [], f"{name} sets variables the settings never read: {unknown}"
        assert environment["DJANGO_SETTINGS_MODULE"] == "leadcrm.settings.production"
        assert environment["DATABASE_URL"].startswith("postgres://")
        assert "@postgres:5432/" in environment["DATABASE_URL"]
        assert environment["REDIS_URL"] == "redis://redis:6379/0"


def test_app_services_get_every_variable_production_needs(compose):
    environment = compose["services"]["web"]["environment"]

    for required in ("DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"):
        assert required in environment


def test_every_variable_compose_interpolates_is_in_env_example(compose):
    text = (ROOT / "docker-compose.yml").read_text()
    documented = set(_env_example())

    missing = sorted(set(INTERPOLATION.findall(text)) - documented)

    assert missing == []


def test_env_example_lists_every_variable_the_settings_read():
    documented = set(_env_example())

    missing = sorted(_settings_variables() - documented)
    stale = sorted(documented - _settings_variables() - NOT_FROM_SETTINGS - COMPOSE_ONLY)

    assert missing == [], f"add these to .env.example: {missing}"
    assert stale == [], f".env.example lists variables nothing reads: {stale}"


def test_env_example_values_are_accepted_by_the_settings(tmp_path):
    values = {name: value for name, (value, is_set) in _env_example().items() if is_set and name not in COMPOSE_ONLY}
    env = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LANG")}
    env.update(values, LEADCRM_VAR_DIR=str(tmp_path))
    script = (
        "import django; django.setup(); from django.conf import settings; print(settings.DEBUG, settings.REDIS_URL)"
    )

    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True"]


def test_dockerfile_serves_the_same_app_and_collects_static_files():
    dockerfile = (ROOT / "Dockerfile").read_text()

    assert "DJANGO_SETTINGS_MODULE=leadcrm.settings.production" in dockerfile
    assert "collectstatic --no-input" in dockerfile
    assert '"leadcrm.wsgi:application"' in dockerfile
    assert "pip install -r requirements.txt" in dockerfile


def test_an_empty_database_url_means_the_embedded_database(tmp_path):
    """A .env copied from .env.example with DATABASE_URL= left blank runs on SQLite, as no line does."""
    environment = {**os.environ, "DATABASE_URL": "", "LEADCRM_VAR_DIR": str(tmp_path)}
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    probe = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'leadcrm.settings.base'); django.setup();"
        "from django.conf import settings; print(settings.DATABASES['default']['ENGINE'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "django.db.backends.sqlite3"
