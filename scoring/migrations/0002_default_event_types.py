"""The default event types (DESIGN section 2), so a fresh install can log events at once."""

from django.db import migrations

EVENT_TYPES = [
    # key, label, category, loggable by reps on the lead page
    ("page_view", "Page view", "web", False),
    ("pricing_page_view", "Pricing page view", "web", False),
    ("form_submission", "Form submission", "web", True),
    ("chat_conversation", "Chat conversation", "web", True),
    ("content_download", "Content download", "content", False),
    ("webinar_attended", "Attended webinar", "content", True),
    ("newsletter_signup", "Newsletter sign-up", "email", False),
    ("email_open", "E-mail opened", "email", False),
    ("email_click", "E-mail link clicked", "email", False),
    ("email_reply", "Replied to an e-mail", "email", True),
    ("sms_sent", "Text message exchanged", "email", True),
    ("demo_request", "Demo request", "hand_raiser", True),
    ("quote_request", "Quote request", "hand_raiser", True),
    ("contact_sales", "Asked to talk to sales", "hand_raiser", True),
    ("trial_signup", "Trial sign-up", "product", False),
    ("product_usage", "Product usage", "product", False),
    ("meeting_booked", "Meeting booked", "sales", True),
    ("phone_conversation", "Phone conversation", "sales", True),
    ("unsubscribe", "Unsubscribed", "negative", False),
    ("email_bounced", "E-mail bounced", "negative", False),
]


def create_event_types(apps, schema_editor):
    EventType = apps.get_model("scoring", "EventType")
    for key, label, category, loggable in EVENT_TYPES:
        EventType.objects.update_or_create(
            key=key, defaults={"label": label, "category": category, "loggable_by_reps": loggable}
        )


def remove_event_types(apps, schema_editor):
    EventType = apps.get_model("scoring", "EventType")
    EventType.objects.filter(key__in=[key for key, *_ in EVENT_TYPES], events__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("scoring", "0001_initial")]

    operations = [migrations.RunPython(create_event_types, remove_event_types)]
