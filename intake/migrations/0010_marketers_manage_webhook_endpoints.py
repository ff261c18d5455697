"""Marketers, who set up the capture forms, also set up the webhook endpoints (before, only a
superuser could, and no demo login was one)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CODENAMES = ["add_webhookendpoint", "change_webhookendpoint", "delete_webhookendpoint"]


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
    dependencies = [("intake", "0009_import_mapped_like")]

    operations = [migrations.RunPython(forwards, backwards)]
