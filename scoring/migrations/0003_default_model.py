"""The default scoring model, published as version 1, and the custom attributes it reads.

Points were tuned on the X Education lead data (see docs/scoring.md and
bench/scoring_quality.py): the form a lead came through, a referral, the lead's
occupation, time on the website and the last two-way contact predict conversion best.
The hand-raiser, product and content rules follow common B2B practice.
"""

from django.db import migrations
from django.utils import timezone

CUSTOM_FIELDS = [
    ("lead_origin", "Lead origin", "text", "How the lead arrived, e.g. Lead Add Form, Landing Page Submission, API."),
    ("occupation", "Current occupation", "text", "e.g. Working Professional, Student, Unemployed."),
]

FIT_RULES = [
    # name, attribute, operator, value, points
    ("Came through a lead form", "attributes.lead_origin", "in", ["Lead Add Form", "Quick Add Form"], 50),
    ("Referred or from a partner site", "source", "in", ["Reference", "Welingak Website"], 25),
    ("Arrived through the chat bot", "source", "eq", "Olark Chat", -5),
    ("Told us their occupation", "attributes.occupation", "is_set", None, 15),
    ("Working professional", "attributes.occupation", "eq", "Working Professional", 30),
    ("Senior title (VP)", "title", "contains", "VP", 20),
    ("Senior title (Director or Head)", "title", "contains", "Director", 15),
    ("Company of 50+ people", "company_size", "gte", 50, 10),
    ("Free-mail address", "free_mail", "eq", True, -10),
]

ENGAGEMENT_RULES = [
    # name, event type, property, operator, value, points, cap per day, cap total, half-life days
    ("Website visit", "page_view", "", "", None, 1, None, 5, 30),
    ("Long website visit (2+ minutes)", "page_view", "seconds", "gte", 120, 5, None, 40, 30),
    ("Very long website visit (10+ minutes)", "page_view", "seconds", "gte", 600, 10, None, 40, 30),
    ("Pricing page view", "pricing_page_view", "", "", None, 10, 10, 30, 14),
    ("Form submission", "form_submission", "", "", None, 5, 10, 20, 30),
    ("Content download", "content_download", "", "", None, 10, 20, 30, 30),
    ("Attended webinar", "webinar_attended", "", "", None, 15, None, 30, 30),
    ("Newsletter sign-up", "newsletter_signup", "", "", None, 5, None, 5, 60),
    ("E-mail opened", "email_open", "", "", None, 8, 8, 16, 14),
    ("E-mail link clicked", "email_click", "", "", None, 5, 10, 20, 14),
    ("Replied to an e-mail", "email_reply", "", "", None, 20, 20, 40, 30),
    ("Text message exchanged", "sms_sent", "", "", None, 30, 30, 30, 30),
    ("Phone conversation", "phone_conversation", "", "", None, 30, 30, 30, 30),
    ("Chat-bot conversation only", "chat_conversation", "", "", None, -10, None, 10, None),
    ("Demo request", "demo_request", "", "", None, 40, 40, 40, 30),
    ("Quote request", "quote_request", "", "", None, 40, 40, 40, 30),
    ("Asked to talk to sales", "contact_sales", "", "", None, 30, 30, 30, 30),
    ("Meeting booked", "meeting_booked", "", "", None, 30, 30, 30, 30),
    ("Trial sign-up", "trial_signup", "", "", None, 20, None, 20, 30),
    ("Product usage", "product_usage", "", "", None, 5, 10, 30, 14),
    ("Unsubscribed", "unsubscribe", "", "", None, -20, None, 20, None),
    ("E-mail bounced", "email_bounced", "", "", None, -15, None, 15, None),
]

STAGE_RULES = [
    # name, to stage, min score, min fit, event types, min events, window days
    ("Marketing qualified", "mql", 50, 30, [], 1, 30),
    ("Product qualified", "pql", 0, 0, ["product_usage"], 3, 14),
    ("Sales qualified (hand-raiser)", "sql", 0, 40, ["demo_request", "contact_sales", "quote_request"], 1, 30),
]


def create_default_model(apps, schema_editor):
    CustomFieldDefinition = apps.get_model("leads", "CustomFieldDefinition")
    for key, label, field_type, help_text in CUSTOM_FIELDS:
        CustomFieldDefinition.objects.get_or_create(
            key=key, defaults={"label": label, "field_type": field_type, "help_text": help_text}
        )
    ScoringModel = apps.get_model("scoring", "ScoringModel")
    EventType = apps.get_model("scoring", "EventType")
    if ScoringModel.objects.exists():
        return
    model = ScoringModel.objects.create(
        version=1,
        name="Default model",
        notes="Tuned on the X Education data set (docs/scoring.md).",
        status="published",
        published_at=timezone.now(),
        fit_weight=0.5,
        hot_at=50,
        hot_until=40,
        warm_at=20,
        warm_until=15,
    )
    for name, attribute, operator, value, points in FIT_RULES:
        model.fit_rules.create(name=name, attribute=attribute, operator=operator, value=value, points=points)
    types = {t.key: t for t in EventType.objects.all()}
    for name, key, prop, operator, value, points, per_day, total, half_life in ENGAGEMENT_RULES:
        model.engagement_rules.create(
            name=name,
            event_type=types[key],
            property_name=prop,
            operator=operator,
            value=value,
            points=points,
            cap_per_day=per_day,
            cap_total=total,
            half_life_days=half_life,
        )
    for name, to_stage, min_score, min_fit, event_types, min_events, window in STAGE_RULES:
        model.stage_rules.create(
            name=name,
            to_stage=to_stage,
            min_score=min_score,
            min_fit=min_fit,
            event_types=event_types,
            min_events=min_events,
            window_days=window,
        )


def remove_default_model(apps, schema_editor):
    apps.get_model("scoring", "ScoringModel").objects.filter(version=1, name="Default model").delete()


class Migration(migrations.Migration):
    dependencies = [("scoring", "0002_default_event_types"), ("leads", "0002_roles")]

    operations = [migrations.RunPython(create_default_model, remove_default_model)]
