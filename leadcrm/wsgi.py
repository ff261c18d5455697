import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

from core.process import settle_long_lived_objects

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadcrm.settings.base")

application = get_wsgi_application()

# Load the URLconf, and with it every view, serializer and form module, now rather than in
# the first request each worker serves: that request would otherwise take about a second.
get_resolver().reverse_dict  # noqa: B018 - the lookup builds the resolver's tables

# What is loaded by now lives as long as the process: keep it out of the garbage collector's
# full passes, which would otherwise walk all of it again every few requests that allocate much
# (a list of events does): core.process.
settle_long_lived_objects()
