"""factory_boy factories for the domain models."""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from leads import roles
from leads.models import Activity, Campaign, Lead, LeadSource, Stage, StageChange

PASSWORD = "test-pass-123"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))
        if create:
            self.save()


def rep(**kwargs: object):
    return UserFactory(role=roles.REP, **kwargs)


def manager(**kwargs: object):
    return UserFactory(role=roles.MANAGER, **kwargs)


def marketer(**kwargs: object):
    return UserFactory(role=roles.MARKETER, is_staff=True, **kwargs)


class LeadSourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LeadSource
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Source {n}")


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    source = factory.SubFactory(LeadSourceFactory)


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    email = factory.Sequence(lambda n: f"lead{n}@example.org")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    company = factory.Faker("company")
    title = factory.Faker("job")
    stage = Stage.RAW
    stage_entered_at = factory.LazyFunction(timezone.now)
    score = 10


class ActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Activity

    lead = factory.SubFactory(LeadFactory)
    kind = Activity.Kind.NOTE
    body = "Spoke briefly."
    occurred_at = factory.LazyFunction(timezone.now)
    actor = None
    # As activity_log sets it: a task is its writer's to do unless the test says otherwise.
    assignee = factory.LazyAttribute(lambda o: o.actor if o.kind == Activity.Kind.TASK else None)


class StageChangeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StageChange

    lead = factory.SubFactory(LeadFactory)
    from_stage = Stage.RAW
    to_stage = Stage.MQL
    changed_at = factory.LazyFunction(timezone.now)
