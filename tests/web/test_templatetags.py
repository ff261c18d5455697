import datetime

from django.utils import timezone

from web.templatetags.crm import ago, initials, score_bar, stage_badge, temperature_badge, timesince_duration


def test_badges_escape_and_label():
    assert ">Customer<" in stage_badge("won")
    assert "stage-lost" in stage_badge("lost")
    assert "bi-fire" in temperature_badge("hot") and "</i> Hot</span>" in temperature_badge("hot")
    assert "&lt;x&gt;" in stage_badge("<x>")


def test_score_bar_clamps_to_0_100():
    assert 'style="width: 100%"' in score_bar(140)
    assert 'style="width: 0%"' in score_bar(None)
    assert "score-high" in score_bar(75) and "score-mid" in score_bar(40) and "score-low" in score_bar(39)


def test_initials_skip_markup_and_use_e_mail_names():
    assert initials("Ada Lovelace") == "AL"
    assert initials("<script>alert(1)</script> Tester") == "SA"
    assert initials("jane.doe@example.org") == "JD"
    assert initials("") == "?"


def test_compact_relative_times():
    now = timezone.now()
    assert ago(now - datetime.timedelta(seconds=20), now) == "just now"
    assert ago(now - datetime.timedelta(minutes=5), now) == "5m ago"
    assert ago(now - datetime.timedelta(hours=3), now) == "3h ago"
    assert ago(now - datetime.timedelta(days=9), now) == "1w ago"
    assert ago(now - datetime.timedelta(days=100), now) == "3mo ago"
    assert ago(now + datetime.timedelta(hours=2), now) == "in 2h"
    assert ago(None) == ""


def test_duration_in_words():
    assert timesince_duration(datetime.timedelta(days=3, hours=5)) == "3 days"
    assert timesince_duration(datetime.timedelta(hours=1)) == "1 hour"
    assert timesince_duration(datetime.timedelta(seconds=5)) == "less than a minute"
