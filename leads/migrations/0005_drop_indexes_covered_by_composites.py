"""Drop the single-column indexes of three foreign keys that a composite index already leads
with (activity_lead_idx, activity_task_idx, stagechange_lead_idx): each write paid for an
index no query needs. Only the indexes go; the foreign-key constraints stay as they are."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0004_lead_engaged_index_nulls_last"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="activity",
                    name="actor",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="activities",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="activity",
                    name="lead",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="activities",
                        to="leads.lead",
                    ),
                ),
                migrations.AlterField(
                    model_name="stagechange",
                    name="lead",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="stage_changes",
                        to="leads.lead",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "leads_activity_actor_id_5a5e11a5"',
                    'CREATE INDEX "leads_activity_actor_id_5a5e11a5" ON "leads_activity" ("actor_id")',
                ),
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "leads_activity_lead_id_9cc33a14"',
                    'CREATE INDEX "leads_activity_lead_id_9cc33a14" ON "leads_activity" ("lead_id")',
                ),
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "leads_stagechange_lead_id_ff957079"',
                    'CREATE INDEX "leads_stagechange_lead_id_ff957079" ON "leads_stagechange" ("lead_id")',
                ),
            ],
        ),
    ]
