"""Drop the single-column index of webhook deliveries' endpoint: the unique constraint on
(endpoint, origin) leads with it. The foreign-key constraint stays as it is."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("intake", "0004_capture_form_assignment"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="webhookdelivery",
                    name="endpoint",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="deliveries",
                        to="intake.webhookendpoint",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "intake_webhookdelivery_endpoint_id_5a068d43"',
                    'CREATE INDEX "intake_webhookdelivery_endpoint_id_5a068d43" ON "intake_webhookdelivery" ("endpoint_id")',
                ),
            ],
        ),
    ]
