"""The three roles as groups, with their permissions."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

REP = "Sales rep"
MARKETER = "Marketer"
MANAGER = "Sales manager"

ROLE_PERMISSIONS = {
    REP: [
        "view_lead", "add_lead", "change_lead",
        "view_activity", "add_activity", "change_activity",
        "view_stagechange", "view_leadsource", "view_campaign",
    ],
    MARKETER: [
        "view_lead", "add_lead", "change_lead", "view_all_leads",
        "view_activity", "view_stagechange",
        "view_leadsource", "add_leadsource", "change_leadsource", "delete_leadsource",
        "view_campaign", "add_campaign", "change_campaign", "delete_campaign",
        "view_customfielddefinition", "add_customfielddefinition",
        "change_customfielddefinition", "delete_customfielddefinition",
    ],
    MANAGER: [
        "view_lead", "add_lead", "change_lead", "view_all_leads", "assign_lead",
        "view_activity", "add_activity", "change_activity",
        "view_stagechange", "view_leadsource", "view_campaign", "view_customfielddefinition",
    ],
}


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations; make sure ours exist now.
    leads_config = apps.get_app_config("leads")
    leads_config.models_module = True
    create_permissions(leads_config, verbosity=0, apps=apps)
    leads_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        permissions = Permission.objects.filter(content_type__app_label="leads", codename__in=codenames)
        group.permissions.add(*permissions)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
