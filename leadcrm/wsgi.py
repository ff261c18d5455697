import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadcrm.settings.base")

application = get_wsgi_application()

# What is loaded by now (Django, the apps, their modules and caches) lives as long as the
# process: keep it out of the garbage collector's full passes, which would otherwise walk all
# of it again every few requests that allocate much (a batch of events does).
gc.freeze()
