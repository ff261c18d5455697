"""Give the roles intake's permissions, and create the demo capture form ``contact``."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

MARKETER = "Marketer"
MANAGER = "Sales manager"
REP = "Sales rep"

ROLE_PERMISSIONS = {
    REP: ["export_leads"],
    MARKETER: [
        "import_leads", "export_leads", "merge_leads", "export_lead_data",
        "view_captureform", "add_captureform", "change_captureform", "delete_captureform",
        "view_formsubmission", "view_csvimport", "view_webhookendpoint", "view_webhookdelivery",
    ],
    MANAGER: [
        "import_leads", "export_leads", "merge_leads", "export_lead_data", "erase_lead",
        "view_captureform", "view_formsubmission", "view_csvimport", "view_mergerecord",
    ],
}

CONTACT_FIELDS = [
    {"key": "email", "label": "Work e-mail", "required": True},
    {"key": "first_name", "label": "First name", "required": False},
    {"key": "last_name", "label": "Last name", "required": False},
    {"key": "company", "label": "Company", "required": False},
    {"key": "email_opt_in", "label": "Keep me informed", "required": False},
]


def forwards(apps, schema_editor):
    config = apps.get_app_config("intake")
    config.models_module = True
    create_permissions(config, verbosity=0, apps=apps)
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="intake", codename__in=codenames)
        )
    LeadSource = apps.get_model("leads", "LeadSource")
    CaptureForm = apps.get_model("intake", "CaptureForm")
    source, _ = LeadSource.objects.get_or_create(name="Website", defaults={"description": "Forms on our website"})
    CaptureForm.objects.get_or_create(
        slug="contact",
        defaults={
            "name": "Contact us",
            "title": "Talk to us",
            "intro": "Tell us who you are and we will get back to you within one business day.",
            "fields": CONTACT_FIELDS,
            "consent_text": "Yes, send me news and offers by e-mail. I can unsubscribe at any time.",
            "source": source,
        },
    )


def backwards(apps, schema_editor):
    apps.get_model("intake", "CaptureForm").objects.filter(slug="contact").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("intake", "0001_initial"),
        ("leads", "0002_roles"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
