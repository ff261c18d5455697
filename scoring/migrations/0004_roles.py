"""Scoring permissions for the role groups: marketers edit the model; reps and managers log events."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

MARKETER = "Marketer"
REP = "Sales rep"
MANAGER = "Sales manager"

MODEL_EDITING = [
    f"{action}_{model}"
    for model in ("scoringmodel", "fitrule", "engagementrule", "stagerule", "eventtype")
    for action in ("view", "add", "change", "delete")
]
ROLE_PERMISSIONS = {
    MARKETER: MODEL_EDITING + ["view_engagementevent", "add_engagementevent", "view_scorechange", "view_rescorerun"],
    REP: ["view_eventtype", "view_engagementevent", "add_engagementevent", "view_scorechange"],
    MANAGER: ["view_eventtype", "view_engagementevent", "add_engagementevent", "view_scorechange", "view_scoringmodel"],
}


def grant(apps, schema_editor):
    config = apps.get_app_config("scoring")
    config.models_module = True
    create_permissions(config, verbosity=0, apps=apps)
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="scoring", codename__in=codenames))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group = Group.objects.filter(name=role).first()
        if group:
            group.permissions.remove(
                *Permission.objects.filter(content_type__app_label="scoring", codename__in=codenames)
            )


class Migration(migrations.Migration):
    dependencies = [("scoring", "0003_default_model"), ("leads", "0002_roles")]

    operations = [migrations.RunPython(grant, revoke)]
