"""Fill the database with a realistic demo: users, sources, campaigns, the capture form
``contact``, and leads with their activities, stage history and engagement events.

Idempotent: users, sources, campaigns and the form are created once; leads are topped up to
``--leads`` (default 300), so a second run adds nothing. Rows are written in chunks of plain
tuples (``insert_rows``), fast enough for ``--leads 100000``; beyond ``RICH_UP_TO`` leads each
lead gets fewer page views and no newsletter history.

Scores are not invented: each lead's events (how it arrived, what qualified it, a burst of
activity whose recency makes it hot, warm or cold) are stored, then the scoring app scores
them with ``scoring.services.leads_score_replay``: score, fit, engagement, temperature,
scoring state with ``next_cooling_at`` and score history, so the lead page's explanation adds
up to the score and the cooling sweep knows every lead.

The stages are history made by people and rules, so the replay applies no stage rule. The
events are also planned to agree with the model's forward-only stage rules: a hand-raiser
(demo request, contact sales, quote request) comes only before an SQL move, three or more
product-usage events before a PQL move, the qualifying activity before an MQL move; raw, MQL
and PQL leads never raise their hand, and raw leads have no product usage and a modest fit, so
the next real event does not jump a seeded lead to another stage.

Each part is a small function (``seed_users``, ``seed_sources``, ``seed_campaigns``,
``seed_leads``...) so that other apps can add their own demo data beside it.
"""

import datetime
import json
import operator
import random
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, connections, models, transaction
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init
from django.utils import timezone
from django.utils.duration import duration_microseconds

from core.db import analyze, copy_in, copy_value
from intake.services import capture_form_ensure_demo
from leads import roles
from leads.models import Activity, Campaign, Lead, LeadSource, LostReason, Stage, StageChange
from scoring.models import EngagementEvent, EventType, LeadScoringState, ScoreChange
from scoring.services import ReplayRows, leads_score_planned, replay_rows_write, replay_setup

DEFAULT_DEBUG_PASSWORD = "demo-pass-123"  # noqa: S105 - the documented demo password, used only in DEBUG
DEMO_EMAIL_DOMAIN = ".example"  # every demo lead's e-mail ends with it (RFC 2606: never a real address)
CHUNK = 2_000
HISTORY_DAYS = 180

# username: (first name, last name, role group, is_staff)
DEMO_USERS = {
    "manager": ("Morgan", "Hale", roles.MANAGER, True),
    "marketer": ("Priya", "Raman", roles.MARKETER, True),
    "rep1": ("Sam", "Ortega", roles.REP, False),
    "rep2": ("Jordan", "Kim", roles.REP, False),
}

SOURCES = {
    "Website": "Organic visits to the website and its forms.",
    "Google Ads": "Paid search.",
    "LinkedIn": "Paid social and organic posts.",
    "Webinar": "Registrations and attendees of our webinars.",
    "Referral": "Introductions from customers and partners.",
    "Trade show": "Badge scans and meetings at events.",
    "Free trial": "Product sign-ups (the product-led path).",
    "Content": "E-books, guides and the newsletter.",
}

# name: (source, utm_campaign, cost, days ago it started, length in days)
CAMPAIGNS = {
    "Spring search push": ("Google Ads", "spring-search", "8200.00", 170, 60),
    "Pipeline webinar series": ("Webinar", "pipeline-webinars", "3500.00", 150, 120),
    "LinkedIn ABM - mid-market": ("LinkedIn", "abm-midmarket", "12400.00", 120, 90),
    "SaaS Connect booth": ("Trade show", "saas-connect", "15000.00", 95, 3),
    "Lead scoring e-book": ("Content", "scoring-ebook", "1800.00", 140, 140),
    "Trial to paid nurture": ("Free trial", "trial-nurture", "600.00", 80, 80),
    "Brand search always-on": ("Google Ads", "brand-search", "4300.00", 180, 180),
}

FIRST_NAMES = [
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Lucas",
    "Sophia",
    "Mateo",
    "Mia",
    "Elijah",
    "Amara",
    "Hiroshi",
    "Chloe",
    "Arjun",
    "Zoe",
    "Mohammed",
    "Lena",
    "Diego",
    "Freya",
    "Kwame",
    "Ingrid",
    "Rafael",
    "Aisha",
    "Tomas",
    "Yuki",
    "Oscar",
    "Nadia",
    "Felix",
    "Priyanka",
    "Erik",
    "Camila",
    "Jonas",
    "Leila",
    "Marco",
    "Hannah",
    "Samuel",
    "Grace",
    "Viktor",
    "Isabel",
    "Daniel",
    "Fatima",
    "Henrik",
    "Lucia",
    "Ethan",
    "Sara",
    "Omar",
    "Julia",
    "Kenji",
    "Clara",
    "Ravi",
    "Emily",
    "Pablo",
    "Anya",
    "Benjamin",
    "Maya",
    "Luca",
    "Nora",
    "Andre",
    "Wei",
    "Sofia",
]
LAST_NAMES = [
    "Smith",
    "Johnson",
    "Garcia",
    "Müller",
    "Rossi",
    "Nguyen",
    "Kowalski",
    "Silva",
    "Andersen",
    "Dubois",
    "Tanaka",
    "Patel",
    "Okafor",
    "Schmidt",
    "Fernandez",
    "Larsen",
    "Cohen",
    "Novak",
    "Moreau",
    "Khan",
    "Jensen",
    "O'Brien",
    "Martins",
    "Weber",
    "Ivanova",
    "Haddad",
    "Lindqvist",
    "Costa",
    "Fischer",
    "Reyes",
    "Nakamura",
    "Singh",
    "Walsh",
    "Bauer",
    "Romano",
    "Park",
    "Eriksen",
    "Mensah",
    "Herrera",
    "Vogel",
    "Ali",
    "Keller",
    "Dalton",
    "Hoffmann",
    "Sato",
    "Brennan",
    "Petrov",
    "Lopez",
    "Meyer",
    "Chen",
]
# company: (e-mail domain, industry, employees, country, city)
COMPANIES = (
    ("Northwind Logistics", "northwind-logistics", "Logistics", 850, "United States", "Chicago"),
    ("Brightpath Health", "brightpath-health", "Healthcare", 2300, "United States", "Boston"),
    ("Kestrel Analytics", "kestrel-analytics", "Software", 120, "United Kingdom", "London"),
    ("Alpenglow Outdoor", "alpenglow", "Retail", 430, "Germany", "Munich"),
    ("Harbor & Finch Legal", "harborfinch", "Legal services", 65, "United States", "Seattle"),
    ("Quantia Fintech", "quantia", "Financial services", 310, "Netherlands", "Amsterdam"),
    ("Solaris Energy Systems", "solaris-energy", "Energy", 1800, "Spain", "Madrid"),
    ("Lumen Learning Co", "lumenlearning", "Education", 240, "Canada", "Toronto"),
    ("Vireo Biotech", "vireo-bio", "Biotech", 140, "Switzerland", "Basel"),
    ("Copperleaf Manufacturing", "copperleaf-mfg", "Manufacturing", 3200, "United States", "Detroit"),
    ("Tidewater Insurance", "tidewater-ins", "Insurance", 5100, "United States", "Charlotte"),
    ("Nimbus Cloudworks", "nimbuscloud", "Software", 75, "Ireland", "Dublin"),
    ("Orchard Foods", "orchard-foods", "Food & beverage", 960, "France", "Lyon"),
    ("Meridian Hotels", "meridian-hotels", "Hospitality", 4200, "Portugal", "Lisbon"),
    ("Pinecrest Realty", "pinecrest-realty", "Real estate", 55, "United States", "Denver"),
    ("Atlas Freight", "atlasfreight", "Logistics", 1500, "Poland", "Warsaw"),
    ("Bluefin Media", "bluefin-media", "Media", 90, "Australia", "Sydney"),
    ("Cobalt Security", "cobalt-sec", "Software", 410, "Israel", "Tel Aviv"),
    ("Evergreen Dental Group", "evergreen-dental", "Healthcare", 180, "United States", "Portland"),
    ("Fjord Maritime", "fjord-maritime", "Logistics", 700, "Norway", "Bergen"),
    ("Granite Peak Capital", "granitepeak", "Financial services", 45, "United States", "New York"),
    ("Helix Robotics", "helix-robotics", "Manufacturing", 260, "Japan", "Osaka"),
    ("Ironbridge Construction", "ironbridge", "Construction", 1200, "United Kingdom", "Manchester"),
    ("Juniper Retail Group", "juniper-retail", "Retail", 6400, "United States", "Atlanta"),
    ("Keystone Telecom", "keystone-tel", "Telecommunications", 8800, "Germany", "Frankfurt"),
    ("Larkspur Design Studio", "larkspur", "Marketing services", 25, "Denmark", "Copenhagen"),
    ("Monarch Pharma", "monarch-pharma", "Pharmaceuticals", 3900, "Belgium", "Brussels"),
    ("Nova Mobility", "nova-mobility", "Automotive", 2100, "Sweden", "Gothenburg"),
    ("Oakline Software", "oakline", "Software", 340, "United States", "Austin"),
    ("Parallax Games", "parallax-games", "Media", 150, "Finland", "Helsinki"),
    ("Redwood Accounting", "redwood-cpa", "Professional services", 38, "United States", "San Diego"),
    ("Saffron Hospitality", "saffron-hosp", "Hospitality", 520, "India", "Bengaluru"),
    ("Terra Agritech", "terra-agri", "Agriculture", 210, "Brazil", "São Paulo"),
    ("Umbra Cybernetics", "umbra-cyber", "Software", 60, "Estonia", "Tallinn"),
    ("Vantage Staffing", "vantage-staffing", "Professional services", 1100, "United States", "Dallas"),
    ("Willow Care Homes", "willowcare", "Healthcare", 760, "United Kingdom", "Bristol"),
    ("Xenon Semiconductors", "xenon-semi", "Electronics", 4600, "South Korea", "Seoul"),
    ("Yellowstone Outfitters", "yellowstone-out", "Retail", 140, "United States", "Bozeman"),
    ("Zephyr Airlines", "zephyr-air", "Transportation", 9500, "Italy", "Milan"),
    ("Clearwater Utilities", "clearwater-util", "Energy", 2700, "Canada", "Vancouver"),
)
# job title: fit weight (decision makers score higher)
TITLES = (
    ("VP of Sales", 30),
    ("Head of Marketing", 28),
    ("Chief Revenue Officer", 35),
    ("Marketing Operations Manager", 22),
    ("Sales Operations Lead", 22),
    ("Director of Demand Generation", 26),
    ("Revenue Operations Manager", 24),
    ("CEO", 32),
    ("Founder", 30),
    ("Account Executive", 10),
    ("Marketing Coordinator", 6),
    ("Growth Marketer", 12),
    ("Business Development Representative", 8),
    ("IT Manager", 10),
    ("Office Manager", 2),
    ("Customer Success Manager", 8),
    ("Product Manager", 12),
    ("Intern", 0),
)

# The funnel: where leads end up (weights; most raw, fewer MQL, fewer SQL, a few won and lost).
STAGE_WEIGHTS = {
    Stage.RAW: 52,
    Stage.MQL: 20,
    Stage.PQL: 5,
    Stage.SQL: 10,
    Stage.WON: 5,
    Stage.LOST: 8,
}
# The youngest a lead in each final stage can be, in days (sales cycles take weeks).
MIN_AGE_DAYS = {Stage.MQL: 5, Stage.PQL: 10, Stage.SQL: 25, Stage.WON: 60, Stage.LOST: 15}
# The path each final stage took (a lost lead is lost from one of these).
PATHS = {
    Stage.RAW: [Stage.RAW],
    Stage.MQL: [Stage.RAW, Stage.MQL],
    Stage.PQL: [Stage.RAW, Stage.PQL],
    Stage.SQL: [Stage.RAW, Stage.MQL, Stage.SQL],
    Stage.WON: [Stage.RAW, Stage.MQL, Stage.SQL, Stage.WON],
}
LOST_FROM_WEIGHTS = {Stage.RAW: 40, Stage.MQL: 35, Stage.SQL: 25}
LOST_REASON_WEIGHTS = {
    LostReason.NOT_A_FIT: 30,
    LostReason.NO_RESPONSE: 30,
    LostReason.NO_BUDGET: 15,
    LostReason.COMPETITOR: 12,
    LostReason.BAD_TIMING: 10,
    LostReason.OTHER: 3,
}
# The default scoring model's stage rules (scoring migration 0003), named as the scoring app names them.
STAGE_RULES = {
    Stage.MQL: "Marketing qualified (scoring model v1)",
    Stage.PQL: "Product qualified (scoring model v1)",
}

# Custom attributes that the default scoring model's fit rules read (scoring migration 0003).
LEAD_ORIGINS = ("Lead Add Form", "Landing Page Submission", "API", "Lead Import")
OCCUPATIONS = ("Working Professional", "Business Owner", "Student", "Other")
# How recently a lead was last active, by final stage (weights): most leads have gone quiet.
RECENCY_WEIGHTS = {
    Stage.RAW: {"hot": 1, "warm": 9, "cold": 90},
    Stage.MQL: {"hot": 4, "warm": 22, "cold": 74},
    Stage.PQL: {"hot": 12, "warm": 33, "cold": 55},
    Stage.SQL: {"hot": 22, "warm": 30, "cold": 48},
    Stage.WON: {"hot": 2, "warm": 15, "cold": 83},
    Stage.LOST: {"hot": 0, "warm": 5, "cold": 95},
}
# What a burst of activity looks like at each stage. Raw, MQL and PQL leads never raise their
# hand (a demo request would make them sales-qualified), and only PQL leads and later use the product.
BURSTS = {
    Stage.RAW: ("webinar_attended", "content_download", "content_download", "page_view", "page_view", "email_click"),
    Stage.MQL: ("pricing_page_view", "pricing_page_view", "webinar_attended", "page_view", "page_view", "email_click"),
    Stage.PQL: ("product_usage", "product_usage", "pricing_page_view", "pricing_page_view", "email_reply", "page_view"),
    Stage.SQL: ("phone_conversation", "email_reply", "pricing_page_view", "pricing_page_view", "page_view"),
    Stage.WON: ("product_usage", "product_usage", "email_reply", "page_view"),
    Stage.LOST: ("page_view", "email_open"),
}
PAGES = ("/", "/features", "/integrations", "/customers", "/blog/lead-scoring-101", "/blog/speed-to-lead", "/docs")
ASSETS = ("Lead scoring e-book", "Pipeline benchmark report 2026", "MQL-to-SQL playbook")
WEBINARS = ("Scoring that sales trusts", "Nurture sequences that convert", "Pipeline reviews in 20 minutes")
FEATURES = ("pipeline_board", "scoring_model", "sequences", "reports", "csv_import")
EVENT_SOURCES = {"email_open": "email", "email_click": "email", "email_reply": "email", "unsubscribe": "email"}
EVENT_SOURCES.update({"trial_signup": "product", "product_usage": "product", "phone_conversation": "sales"})
RICH_UP_TO = 5_000  # up to this many leads, each lead gets its full browsing and newsletter history

CALL_NOTES = (
    "Left a voicemail, will try again Thursday.",
    "Good discovery call: evaluating three vendors, decision this quarter.",
    "Asked for pricing for 25 seats.",
    "Not the decision maker; introduced us to their Head of Sales.",
    "Interested in the scoring and nurture features; wants a demo for the team.",
    "Using spreadsheets today and outgrowing them.",
)
EMAIL_SUBJECTS = (
    "Following up on your demo request",
    "Pricing and next steps",
    "Case study: how a team like yours doubled MQL-to-SQL",
    "Checking in",
    "Agenda for our call",
)
NOTES = (
    "Budget approved for Q3. Champion is the VP of Sales.",
    "Competitor in the deal; they like our reporting better.",
    "Security review needed before signing.",
    "Prefers e-mail over phone.",
    "Came in through the webinar; asked good questions about integrations.",
)
TASKS = (
    "Call back about pricing",
    "Send the proposal",
    "Book a demo with the team",
    "Follow up after the trial",
    "Check in after the security review",
)


@dataclass
class SeedContext:
    """What the parts of the seed share: the clock, the dice and the rows made so far."""

    now: datetime.datetime
    rng: random.Random
    users: dict[str, AbstractUser] = field(default_factory=dict)
    sources: dict[str, LeadSource] = field(default_factory=dict)
    campaigns: list[Campaign] = field(default_factory=list)
    rich: bool = True
    event_type_ids: dict[str, int] = field(default_factory=dict)


class Command(BaseCommand):
    help = "Fill a realistic demo (users, sources, campaigns, leads with activities and stage history). Idempotent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--leads", type=int, default=300, help="How many demo leads there should be (300).")
        parser.add_argument("--seed", type=int, default=2026, help="Random seed, for repeatable data.")

    def handle(self, *args: object, **options: Any) -> None:
        target = int(options["leads"])
        if target < 0:
            raise CommandError("--leads must be zero or more.")
        password = demo_password()
        ctx = SeedContext(now=timezone.now(), rng=random.Random(options["seed"]))  # noqa: S311
        started = timezone.now()
        ctx.users = seed_users(password)
        ctx.sources = seed_sources()
        ctx.campaigns = seed_campaigns(ctx)
        capture_form_ensure_demo()
        ctx.rich = target <= RICH_UP_TO
        ctx.event_type_ids = dict(EventType.objects.values_list("key", "id"))
        created = seed_leads(ctx, target=target)
        seconds = (timezone.now() - started).total_seconds()
        total = demo_leads().count()
        if created:
            self.stdout.write(self.style.SUCCESS(f"Created {created} demo leads ({total} in all) in {seconds:.1f}s."))
        else:
            self.stdout.write(f"Demo data already present ({total} demo leads); nothing to add.")
        self.stdout.write(f"Demo logins: {', '.join(DEMO_USERS)} (password from DEMO_PASSWORD or the default).")


def demo_password() -> str:
    """The demo users' password: DEMO_PASSWORD, or the documented default in DEBUG only."""
    if settings.DEMO_PASSWORD:
        return settings.DEMO_PASSWORD
    if settings.DEBUG:
        return DEFAULT_DEBUG_PASSWORD
    raise CommandError(
        "Refusing to create demo users with a known password while DEBUG is off: set DEMO_PASSWORD to seed."
    )


def demo_leads() -> models.QuerySet[Lead]:
    return Lead.objects.filter(email__endswith=DEMO_EMAIL_DOMAIN)


def seed_users(password: str) -> dict[str, AbstractUser]:
    """The demo users with their role groups; a new user gets the password, an existing one keeps theirs."""
    user_model = get_user_model()
    users: dict[str, AbstractUser] = {}
    for username, (first_name, last_name, role, is_staff) in DEMO_USERS.items():
        user, created = user_model.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first_name,
                "last_name": last_name,
                "email": f"{username}@leadcrm.example",
                "is_staff": is_staff,
            },
        )
        if created:
            user.set_password(password)
            user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=role))
        users[username] = user
    return users


def seed_sources() -> dict[str, LeadSource]:
    sources = {}
    for name, description in SOURCES.items():
        sources[name], _ = LeadSource.objects.get_or_create(name=name, defaults={"description": description})
    return sources


def seed_campaigns(ctx: SeedContext) -> list[Campaign]:
    today = ctx.now.date()
    campaigns = []
    for name, (source, utm, cost, started_days_ago, length) in CAMPAIGNS.items():
        starts_on = today - datetime.timedelta(days=started_days_ago)
        campaign, _ = Campaign.objects.get_or_create(
            name=name,
            defaults={
                "source": ctx.sources[source],
                "utm_campaign": utm,
                "cost": Decimal(cost),
                "starts_on": starts_on,
                "ends_on": starts_on + datetime.timedelta(days=length),
            },
        )
        campaigns.append(campaign)
    return campaigns


def seed_leads(ctx: SeedContext, *, target: int) -> int:
    """Top the demo leads up to ``target``, in chunks; returns how many were created.

    A planning thread works one chunk ahead: while this thread writes a chunk (waiting on the
    database most of the time), the next one is planned and scored in memory."""
    existing = demo_leads().count()
    missing = max(0, target - existing)
    if not missing:
        return 0
    if connection.vendor == "sqlite" and missing > CHUNK:
        # A large seed outgrows SQLite's 2 MB page cache: its index writes then read pages back
        # all the time. A bigger cache for this connection, while the seed runs.
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size = -262144")  # KiB: 256 MB at most
    setup = replay_setup()
    ids = IdSource([Lead, StageChange, Activity, EngagementEvent])
    for campaign in ctx.campaigns:
        campaign.source  # noqa: B018 - loaded here: the planning thread must not query
    sizes = [min(CHUNK, missing - start) for start in range(0, missing, CHUNK)]
    starts = [existing + start for start in range(0, missing, CHUNK)]
    created = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="seed-plan") as planner:
        try:
            pending = planner.submit(prepare_chunk, ctx, ids, setup, starts[0], sizes[0])
            for number in range(len(sizes)):
                chunk = pending.result()
                if number + 1 < len(sizes):
                    pending = planner.submit(prepare_chunk, ctx, ids, setup, starts[number + 1], sizes[number + 1])
                created += write_chunk(ctx, chunk)
        finally:
            planner.submit(connections.close_all).result()  # the planning thread's own connection
    if created:
        analyze(Lead, StageChange, Activity, EngagementEvent, ScoreChange, LeadScoringState)
    return created


@dataclass
class PreparedChunk:
    """A chunk of planned leads with their rows, ids given and scores worked out."""

    plans: "list[LeadPlan]"
    changes: list[StageChange]
    activities: list[Activity]
    events: list[EngagementEvent]
    scored: ReplayRows


class IdSource:
    """Ids for the seed's new rows, handed out before they are written (the planning thread
    works ahead of the writes): from each table's sequence on PostgreSQL; on SQLite counted on
    from the largest id, read once here (the seed is the only writer while it runs)."""

    def __init__(self, models_: list[type[models.Model]]) -> None:
        self.postgres = connection.vendor == "postgresql"
        self.next: dict[type[models.Model], int] = {}
        if not self.postgres:
            with connection.cursor() as cursor:
                for model in models_:
                    quote = connection.ops.quote_name
                    pk_column = model._meta.pk.column
                    assert pk_column is not None  # a primary key has a column
                    table, column = quote(model._meta.db_table), quote(pk_column)
                    cursor.execute(f"SELECT COALESCE(MAX({column}), 0) FROM {table}")  # noqa: S608
                    self.next[model] = cursor.fetchone()[0] + 1

    def give(self, rows: Sequence[models.Model]) -> None:
        if not rows:
            return
        meta = rows[0]._meta
        if self.postgres:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                    [meta.db_table, meta.pk.column, len(rows)],
                )
                ids = [row[0] for row in cursor.fetchall()]
        else:
            first = self.next[type(rows[0])]
            self.next[type(rows[0])] = first + len(rows)
            ids = list(range(first, first + len(rows)))
        for obj, pk in zip(rows, ids, strict=True):
            obj.pk = pk


def prepare_chunk(ctx: SeedContext, ids: IdSource, setup: Any, first_index: int, size: int) -> PreparedChunk:
    """Plan ``size`` leads from ``first_index`` on, give every row its id and score the leads
    from their planned events in memory (``leads_score_planned``): each row is then written
    once, complete."""
    plans = [plan_lead(ctx, first_index + offset) for offset in range(size)]
    leads = [plan.lead for plan in plans]
    ids.give(leads)
    changes, activities, events = [], [], []
    events_by_lead: dict[int, list[EngagementEvent]] = {}
    for plan in plans:
        for change in plan.stage_changes:
            change.lead_id = plan.lead.pk
            changes.append(change)
        for activity in plan.activities:
            activity.lead_id = plan.lead.pk
            activities.append(activity)
        mine = [
            build(
                EngagementEvent,
                lead_id=plan.lead.pk,
                event_type_id=ctx.event_type_ids[key],
                occurred_at=occurred_at,
                recorded_at=occurred_at,
                properties=properties,
                source=EVENT_SOURCES.get(key, "web"),
            )
            for key, occurred_at, properties in plan.events
        ]
        events_by_lead[plan.lead.pk] = mine
        events += mine
    for rows in (changes, activities, events):
        ids.give(rows)
    scored = leads_score_planned(leads=leads, events=events_by_lead, now=ctx.now, setup=setup)
    return PreparedChunk(plans=plans, changes=changes, activities=activities, events=events, scored=scored)


def write_chunk(ctx: SeedContext, chunk: PreparedChunk) -> int:
    """Write a prepared chunk in one transaction (leads already there are left out); returns
    how many leads it added."""
    emails = [plan.lead.email for plan in chunk.plans]
    taken = set(Lead.objects.filter(email__in=emails).values_list("email", flat=True))
    if taken:  # written by an earlier run: leave those leads and their rows out
        gone = {plan.lead.pk for plan in chunk.plans if plan.lead.email in taken}
        chunk.plans = [plan for plan in chunk.plans if plan.lead.pk not in gone]
        chunk.changes = [row for row in chunk.changes if row.lead_id not in gone]
        chunk.activities = [row for row in chunk.activities if row.lead_id not in gone]
        chunk.events = [row for row in chunk.events if row.lead_id not in gone]
        chunk.scored = ReplayRows(
            state_rows=[row for row in chunk.scored.state_rows if row[0] not in gone],
            history_rows=[row for row in chunk.scored.history_rows if row[0] not in gone],
        )
    if not chunk.plans:
        return 0
    with transaction.atomic():  # a chunk is written and scored whole, or not at all
        if connection.vendor == "postgresql":
            # Demo data: a crash loses at most the last chunk, which the next run writes again.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        insert_rows([plan.lead for plan in chunk.plans], now=ctx.now)
        insert_rows(chunk.changes, now=ctx.now)
        insert_rows(chunk.activities, now=ctx.now)
        insert_rows(chunk.events, now=ctx.now)
        replay_rows_write(chunk.scored)
    return len(chunk.plans)


@dataclass
class LeadPlan:
    """One lead to write, with its history (bound to the lead once it has an id)."""

    lead: Lead
    stage_changes: list[StageChange]
    activities: list[Activity]
    events: list[tuple[str, datetime.datetime, dict[str, object]]] = field(default_factory=list)


_BLUEPRINTS: dict[type, tuple[dict[str, Any], list[tuple[str, Callable[[], Any]]], dict[str, str]]] = {}


def build(model: type[models.Model], **values: Any) -> Any:
    """``model(**values)`` for a new row, without the per-field work of ``Model.__init__``
    (which was a fifth of the seed's time): defaults once per model, then the given values;
    a related object given by field name sets its id and is cached as ``Model.__init__`` does."""
    blueprint = _BLUEPRINTS.get(model)
    if blueprint is None:
        if pre_init.has_listeners(model) or post_init.has_listeners(model):
            return model(**values)  # someone listens: build it the ordinary way, every time
        fixed: dict[str, Any] = {}
        made: list[tuple[str, Callable[[], Any]]] = []
        for model_field in model._meta.concrete_fields:
            if model_field.has_default() and callable(model_field.default):
                made.append((model_field.attname, model_field.default))
            else:
                fixed[model_field.attname] = model_field.get_default()
        relations = {f.name: f.attname for f in model._meta.concrete_fields if f.is_relation}
        blueprint = _BLUEPRINTS[model] = (fixed, made, relations)
    fixed, made, relations = blueprint
    obj = model.__new__(model)
    obj._state = ModelState()
    data = obj.__dict__
    data.update(fixed)
    for attname, default in made:
        data[attname] = default()
    for name, value in values.items():
        id_attname = relations.get(name)
        if id_attname is None:
            data[name] = value
        else:
            data[id_attname] = None if value is None else value.pk
            obj._state.fields_cache[name] = value
    return obj


def insert_rows(rows: Sequence[models.Model], *, now: datetime.datetime) -> None:
    """Insert new model instances of one model, their ids given (``IdSource``).

    Profiling showed ``bulk_create`` spending most of its time compiling SQL per value; this
    prepares each column once per type and sends plain rows (``executemany`` on SQLite, COPY
    on PostgreSQL), which makes ``--leads 100000`` several times faster.
    """
    if not rows:
        return
    meta = rows[0]._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    fields = list(meta.concrete_fields)
    postgres = connection.vendor == "postgresql"
    for obj in rows:
        obj._state.adding = False
    with connection.cursor() as cursor:
        # Most columns go out as they are; only the others are converted, value by value.
        converters = [
            (index, convert)
            for index, convert in enumerate(_column_converter(f, now=now, postgres=postgres) for f in fields)
            if convert is not None
        ]
        read = operator.attrgetter(*(model_field.attname for model_field in fields))
        values = []
        for obj in rows:
            row = list(read(obj))
            for index, convert in converters:
                row[index] = convert(row[index])
            values.append(row)
        if postgres:  # COPY: a fraction of the cost of INSERT for this many rows
            copy_in(
                cursor,
                meta.db_table,
                [str(model_field.column) for model_field in fields],
                ([copy_value(value) for value in row] for row in values),
            )
        else:
            columns = ", ".join(quote(model_field.get_attname_column()[1] or "") for model_field in fields)
            # Only quoted names are formatted in; values travel as parameters.
            placeholders = ", ".join(["%s"] * len(fields))
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", values)  # noqa: S608


def _column_converter(
    model_field: models.Field, *, now: datetime.datetime, postgres: bool
) -> Callable[[Any], Any] | None:
    """How one column's Python value becomes a database value (what ``get_db_prep_save`` does,
    per type); None when it goes out as it is."""
    kind = model_field.get_internal_type()
    fills_now = getattr(model_field, "auto_now", False) or getattr(model_field, "auto_now_add", False)
    if kind == "JSONField":
        encoder = model_field.encoder  # type: ignore[attr-defined]
        return lambda value: None if value is None else json.dumps(value, cls=encoder)
    if kind == "DateTimeField":
        if postgres:
            return (lambda value: now if value is None else value) if fills_now else None
        # What the SQLite backend stores for an aware datetime: naive UTC text.
        return lambda value: (
            (now if value is None and fills_now else value).astimezone(datetime.UTC).replace(tzinfo=None).isoformat(" ")
            if value is not None or fills_now
            else None
        )
    if kind == "DurationField" and not postgres:
        return lambda value: None if value is None else duration_microseconds(value)
    if kind == "DecimalField" and not postgres:
        return lambda value: None if value is None else str(value)
    if kind == "DateField" and not postgres:
        return lambda value: None if value is None else value.isoformat()
    return None


_Choice = TypeVar("_Choice")


def _pick(rng: random.Random, weights: Mapping[_Choice, int]) -> _Choice:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _created_at(ctx: SeedContext, *, min_days: int = 0) -> datetime.datetime:
    # More leads recently than six months ago (marketing grows), never in the future; a lead
    # needs some weeks to get far down the funnel.
    days = HISTORY_DAYS * (1 - ctx.rng.random() ** 0.7)
    if days < min_days:
        days = min_days + (HISTORY_DAYS - min_days) * ctx.rng.random()
    return ctx.now - datetime.timedelta(days=days, seconds=ctx.rng.randint(0, 86_399))


def plan_lead(ctx: SeedContext, index: int) -> LeadPlan:
    rng = ctx.rng
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    company, domain, industry, size, country, city = rng.choice(COMPANIES)
    title = rng.choice(TITLES)[0]
    final = _pick(rng, STAGE_WEIGHTS)
    created_at = _created_at(ctx, min_days=MIN_AGE_DAYS.get(final, 0))
    campaign = rng.choice(ctx.campaigns) if rng.random() < 0.6 else None
    source = campaign.source if campaign else ctx.sources[rng.choice(list(SOURCES))]
    if final == Stage.PQL:
        source = ctx.sources["Free trial"]
    assert source is not None  # the demo campaigns are made with their source

    lost_from = _pick(rng, LOST_FROM_WEIGHTS) if final == Stage.LOST else None
    path = PATHS[lost_from or final] + ([Stage.LOST] if final == Stage.LOST else [])
    owner = _owner_for(ctx, final)

    clean = "".join(ch for ch in f"{first}.{last}".lower() if ch.isascii() and (ch.isalnum() or ch == "."))
    lead = build(
        Lead,
        email=f"{clean}.{index}@{domain}{DEMO_EMAIL_DOMAIN}",
        first_name=first,
        last_name=last,
        phone=f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
        title=title,
        company=company,
        website=f"https://www.{domain}{DEMO_EMAIL_DOMAIN}",
        company_size=size,
        industry=industry,
        country=country,
        city=city,
        annual_revenue=Decimal(size * rng.randint(90, 260) * 1000),
        source=source,
        campaign=campaign,
        first_touch_utm=_utm(source, campaign),
        last_touch_utm=_utm(source, campaign),
        owner=owner,
        attributes=_attributes(rng, final),
        email_opt_in=rng.random() < 0.7,
        do_not_call=rng.random() < 0.03,
        unsubscribed=rng.random() < 0.02,
        created_at=created_at,
    )
    lead.consent_at = created_at if lead.email_opt_in else None
    if final in (Stage.SQL, Stage.WON):
        lead.budget = rng.choice(["Approved", "Pending approval", "$20-50k"])
        lead.authority = rng.choice(["Decision maker", "Champion, VP signs", "Economic buyer involved"])
        lead.need = rng.choice(["Replace spreadsheets", "Score inbound leads", "Faster follow-up on demo requests"])
        lead.timeline = rng.choice(["This quarter", "Next quarter", "Within 30 days"])

    changes = _plan_stage_changes(ctx, lead, path, owner)
    lead.stage = path[-1]
    lead.stage_entered_at = changes[-1].changed_at
    lead.lost_reason = _pick(rng, LOST_REASON_WEIGHTS) if final == Stage.LOST else ""
    if final == Stage.LOST:
        changes[-1].reason = LostReason(lead.lost_reason).label
    activities = _plan_activities(ctx, lead, owner, final)
    touches = [a.occurred_at for a in activities if a.kind in Activity.TOUCH_KINDS]
    lead.first_touched_at = min(touches) if touches else None
    lead.updated_at = max([lead.stage_entered_at, *[a.occurred_at for a in activities]])
    events = _plan_events(ctx, lead, final, changes)
    return LeadPlan(lead=lead, stage_changes=changes, activities=activities, events=events)


def _attributes(rng: random.Random, final: Stage) -> dict[str, str]:
    """Lead origin and occupation: qualified leads mostly came through a form and work."""
    qualified = final not in (Stage.RAW, Stage.LOST)
    origin = rng.choices(LEAD_ORIGINS, [6, 2, 1, 1] if qualified else [0, 5, 2, 3])[0]
    occupation = rng.choices((*OCCUPATIONS, ""), [6, 2, 0, 1, 1] if qualified else [0, 1, 2, 2, 6])[0]
    return {"lead_origin": origin, "occupation": occupation} if occupation else {"lead_origin": origin}


def _plan_events(
    ctx: SeedContext, lead: Lead, final: Stage, changes: list[StageChange]
) -> list[tuple[str, datetime.datetime, dict[str, object]]]:
    """What the lead did, oldest first: how it arrived, what qualified it (before the stage
    change that says so), the newsletter, and a burst whose recency makes it hot, warm or cold."""
    rng, now, created = ctx.rng, ctx.now, lead.created_at
    rich = ctx.rich
    events: list[tuple[str, datetime.datetime, dict[str, object]]] = []

    def add(key: str, at: datetime.datetime, **properties: object) -> None:
        if created <= at <= now:
            events.append((key, at, properties or _properties(rng, key)))

    def before(moment: datetime.datetime, low_hours: float, high_hours: float) -> datetime.datetime:
        return max(created, moment - datetime.timedelta(hours=rng.uniform(low_hours, high_hours)))

    source = lead.source.name if lead.source else ""
    add("form_submission" if rng.random() < 0.6 else "page_view", created)
    if source == "Content":
        add("content_download", created + datetime.timedelta(minutes=2))
    elif source == "Webinar":
        add("webinar_attended", created + datetime.timedelta(minutes=5))
    elif source == "Free trial":
        add("trial_signup", created + datetime.timedelta(minutes=3))
    for _ in range(rng.randint(1, 4) if rich else rng.randint(0, 1)):
        add("page_view", created + datetime.timedelta(minutes=rng.uniform(1, 90)))

    reached = {change.to_stage: change.changed_at for change in changes}
    if Stage.MQL in reached:  # the engagement that made the lead marketing-qualified
        moment = reached[Stage.MQL]
        for key in ("page_view", rng.choice(["content_download", "webinar_attended"]), "pricing_page_view"):
            add(key, before(moment, 2, 240))
    if Stage.PQL in reached:  # a trial, then enough product usage to be product-qualified
        moment = reached[Stage.PQL]
        add("trial_signup", before(moment, 120, 240))
        for _ in range(rng.randint(3, 6)):
            add("product_usage", before(moment, 1, 110))
    if Stage.SQL in reached:  # a hand-raiser before sales accepted the lead, then a meeting
        moment = reached[Stage.SQL]
        add("pricing_page_view", before(moment, 30, 90))
        add(rng.choice(["demo_request", "demo_request", "contact_sales", "quote_request"]), before(moment, 2, 28))
        if rng.random() < 0.5:
            add("meeting_booked", min(now, moment + datetime.timedelta(hours=rng.uniform(2, 96))))

    if lead.email_opt_in and rich:  # the monthly newsletter: some open it, fewer click
        sent = created + datetime.timedelta(days=rng.uniform(3, 30))
        while sent < now:
            if rng.random() < 0.35:
                add("email_open", sent + datetime.timedelta(hours=rng.uniform(0.2, 30)))
                if rng.random() < 0.3:
                    add("email_click", sent + datetime.timedelta(hours=rng.uniform(0.5, 31)))
            sent += datetime.timedelta(days=30)
    if rich:
        for _ in range(rng.randint(0, 5)):
            add("page_view", created + (now - created) * rng.random())

    recency = _pick(rng, RECENCY_WEIGHTS[final])
    if recency != "cold":
        days_ago = rng.uniform(0.1, 4) if recency == "hot" else rng.uniform(8, 30)
        start = now - datetime.timedelta(days=days_ago)
        burst = BURSTS[final] if recency == "hot" else BURSTS[final][: rng.randint(2, 4)]
        for key in burst:
            add(key, start + datetime.timedelta(hours=rng.uniform(0, 20)))
    if lead.unsubscribed:
        add("unsubscribe", created + (now - created) * rng.uniform(0.3, 1.0))
    events.sort(key=lambda event: event[1])
    return events


def _properties(rng: random.Random, key: str) -> dict[str, object]:
    if key == "page_view":
        return {"url": rng.choice(PAGES), "seconds": int(rng.lognormvariate(4.3, 1.1))}
    if key == "pricing_page_view":
        return {"url": "/pricing", "seconds": rng.randint(20, 400)}
    if key == "content_download":
        return {"asset": rng.choice(ASSETS)}
    if key == "webinar_attended":
        return {"webinar": rng.choice(WEBINARS), "minutes": rng.randint(10, 55)}
    if key == "product_usage":
        return {"feature": rng.choice(FEATURES), "minutes": rng.randint(2, 60)}
    if key in ("email_open", "email_click"):
        return {"campaign": "newsletter"}
    if key == "form_submission":
        return {"form": "contact"}
    return {}


def _owner_for(ctx: SeedContext, final: Stage) -> AbstractUser | None:
    # The unassigned pool is mostly new raw leads; everything past raw has a rep.
    if final == Stage.RAW and ctx.rng.random() < 0.45:
        return None
    return ctx.users["rep1"] if ctx.rng.random() < 0.5 else ctx.users["rep2"]


def _utm(source: LeadSource, campaign: Campaign | None) -> dict[str, str]:
    medium = {"Google Ads": "cpc", "LinkedIn": "paid_social", "Content": "email", "Webinar": "webinar"}
    utm = {"utm_source": source.name.lower().replace(" ", "_"), "utm_medium": medium.get(source.name, "referral")}
    if campaign is not None:
        utm["utm_campaign"] = campaign.utm_campaign
    return utm


def _plan_stage_changes(
    ctx: SeedContext, lead: Lead, path: Sequence[Stage], owner: AbstractUser | None
) -> list[StageChange]:
    rng = ctx.rng
    at = lead.created_at
    changes = [
        build(StageChange, from_stage="", to_stage=path[0], changed_at=at, transition="create", reason="Lead created")
    ]
    for previous, stage in zip(path, path[1:], strict=False):
        room = (ctx.now - at).total_seconds()
        stay = datetime.timedelta(seconds=room * rng.uniform(0.05, 0.4))
        moved_at = at + stay
        by_rule = stage in STAGE_RULES
        changes.append(
            build(
                StageChange,
                from_stage=previous,
                to_stage=stage,
                changed_at=moved_at,
                actor=None if by_rule else owner,
                rule=STAGE_RULES.get(stage, ""),
                transition="lose" if stage == Stage.LOST else "advance",
                reason={Stage.SQL: "Accepted after the discovery call", Stage.WON: "Contract signed"}.get(stage, ""),
                time_in_previous_stage=stay,
            )
        )
        at = moved_at
    return changes


def _plan_activities(ctx: SeedContext, lead: Lead, owner: AbstractUser | None, final: Stage) -> list[Activity]:
    rng = ctx.rng
    if owner is None:
        return []
    count = {Stage.RAW: rng.choice([0, 0, 1]), Stage.MQL: rng.randint(0, 3), Stage.PQL: rng.randint(1, 3)}.get(
        final, rng.randint(2, 6)
    )
    span = (ctx.now - lead.created_at).total_seconds()
    activities = []
    for _ in range(count):
        kind = rng.choices(
            [Activity.Kind.CALL, Activity.Kind.EMAIL, Activity.Kind.NOTE, Activity.Kind.MEETING], [4, 4, 2, 1]
        )[0]
        occurred_at = lead.created_at + datetime.timedelta(seconds=span * rng.uniform(0.02, 1.0))
        subject, body = {
            Activity.Kind.CALL: ("Call", rng.choice(CALL_NOTES)),
            Activity.Kind.EMAIL: (rng.choice(EMAIL_SUBJECTS), "Sent from my mailbox."),
            Activity.Kind.NOTE: ("", rng.choice(NOTES)),
            Activity.Kind.MEETING: ("Discovery meeting", "Walked through the pipeline board and scoring."),
        }[kind]
        activities.append(_activity(lead, owner, kind, subject, body, occurred_at))
    if final not in (Stage.WON, Stage.LOST) and rng.random() < 0.25:
        activities.append(_task(ctx, lead, owner))
    return activities


def _task(ctx: SeedContext, lead: Lead, owner: AbstractUser) -> Activity:
    """A follow-up task: some overdue, some due today, some later; old ones mostly done."""
    rng = ctx.rng
    today_noon = ctx.now.replace(hour=12, minute=0, second=0, microsecond=0)
    when = rng.choices(["overdue", "today", "later", "done"], [3, 3, 3, 3])[0]
    if when == "overdue":
        due_at = ctx.now - datetime.timedelta(days=rng.randint(1, 6), hours=rng.randint(0, 8))
    elif when == "today":
        due_at = today_noon + datetime.timedelta(hours=rng.randint(-3, 5))
    else:
        due_at = ctx.now + datetime.timedelta(days=rng.randint(1, 10)) * (1 if when == "later" else -1)
    occurred_at = min(ctx.now, max(lead.created_at, due_at - datetime.timedelta(days=rng.randint(1, 5))))
    task = _activity(lead, owner, Activity.Kind.TASK, rng.choice(TASKS), "", occurred_at)
    task.due_at = due_at
    if when == "done":
        task.done = True
        task.done_at = min(ctx.now, due_at)
    return task


def _activity(
    lead: Lead, owner: AbstractUser, kind: str, subject: str, body: str, occurred_at: datetime.datetime
) -> Activity:
    return build(
        Activity,
        kind=kind,
        subject=subject,
        body=body,
        occurred_at=occurred_at,
        actor=owner,
        assignee=owner if kind == Activity.Kind.TASK else None,
        created_at=occurred_at,
        updated_at=occurred_at,
    )
