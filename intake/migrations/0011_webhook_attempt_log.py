"""Webhook deliveries keep a log of their tries and the time of the next one, and marketers, who
set up the endpoints, may send a delivery again (the admin's "Send again" needs change rights)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations, models

CODENAMES = ["change_webhookdelivery"]


def forwards(apps, schema_editor):
    config = apps.get_app_config("intake")
    config.models_module = True
    create_permissions(config, verbosity=0, apps=apps)
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="Marketer")
    group.permissions.add(*Permission.objects.filter(content_type__app_label="intake", codename__in=CODENAMES))


def backwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group in Group.objects.filter(name="Marketer"):
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="intake", codename__in=CODENAMES))


class Migration(migrations.Migration):
    dependencies = [("intake", "0010_marketers_manage_webhook_endpoints")]

    operations = [
        migrations.AddField(
            model_name="webhookdelivery",
            name="attempt_log",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="next_attempt_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(forwards, backwards),
    ]
