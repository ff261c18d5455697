"""A web worker settles what it loaded at start-up out of the garbage collector's way."""

import subprocess
import sys

from django.conf import settings


def test_the_wsgi_module_freezes_what_it_loaded():
    probe = "import gc, leadcrm.wsgi; print(gc.get_freeze_count() > 10_000)"
    env = {"DJANGO_SETTINGS_MODULE": "leadcrm.settings.base", "PATH": "/usr/bin:/bin"}
    shown = subprocess.run(
        [sys.executable, "-c", probe], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, check=True
    ).stdout.split()

    assert shown == ["True"]
