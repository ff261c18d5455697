"""PostgreSQL: lead_engaged_idx orders never-engaged leads last, as the lead list does.

The list sorts by ``last_engaged_at DESC NULLS LAST``; an index in PostgreSQL's default
order for DESC (NULLS FIRST) cannot serve that, and every page sorted the whole table.
SQLite cannot declare NULLS LAST in an index, so the model keeps the plain definition and
only PostgreSQL's index is rebuilt under the same name.
"""

from django.db import migrations

NULLS_LAST = 'CREATE INDEX lead_engaged_idx ON leads_lead (last_engaged_at DESC NULLS LAST, id DESC)'
PLAIN = 'CREATE INDEX lead_engaged_idx ON leads_lead (last_engaged_at DESC, id DESC)'


def _rebuild(definition):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute("DROP INDEX IF EXISTS lead_engaged_idx")
        schema_editor.execute(definition)

    return run


class Migration(migrations.Migration):
    dependencies = [("leads", "0003_lead_index_trim")]

    operations = [migrations.RunPython(_rebuild(NULLS_LAST), _rebuild(PLAIN))]
