"""What every POST on a lead's page goes through (``lead_action``), shared by the lead views."""

import functools
from typing import Any, cast

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django_htmx.middleware import HtmxDetails

from core.errors import LeadErased
from leads import selectors


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails  # set by django_htmx's middleware


def is_partial(request: HttpRequest) -> bool:
    htmx = cast(HtmxHttpRequest, request).htmx
    return bool(htmx) and not htmx.boosted


def lead_action(view: Any) -> Any:
    """A POST on a lead outside the user's reach still answers 404 (whether it exists is not
    told), but it says why that may be and keeps what the person wrote: the lead may have gone
    to another rep, or been claimed from the pool by one, while the page was open. From the
    page's htmx forms the browser is sent to the lead list, which shows the same message.

    A POST on a lead whose personal data was erased since the page was shown changes nothing
    and goes back to the lead's page, which says so."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, lead_id: int, *args: Any, **kwargs: Any) -> HttpResponse:
        if selectors.lead_is_erased(user=request.user, lead_id=lead_id):
            # A form of a page shown before the lead was erased: nothing changes it any more.
            return erased_redirect(request, lead_id)
        try:
            return cast(HttpResponse, view(request, lead_id, *args, **kwargs))
        except Http404:
            pass
        message = (
            "That lead is not one you can work on: it may have gone to another rep while the page was "
            "open. Nothing was saved."
        )
        written = " ".join(request.POST.get(name, "").strip() for name in ("subject", "body", "reason")).strip()
        if is_partial(request):
            messages.error(request, f"{message} What you wrote: “{written[:500]}”" if written else message)
            return HttpResponse(status=404, headers={"HX-Redirect": reverse("lead_list")})
        return render(request, "leads/out_of_reach.html", {"message": message, "written": written}, status=404)

    return wrapped


def erased_redirect(request: HttpRequest, lead_id: int) -> HttpResponse:
    messages.error(request, f"{LeadErased.MESSAGE} Nothing was saved.")
    url = reverse("lead_detail", args=[lead_id])
    if is_partial(request):
        return HttpResponse(status=409, headers={"HX-Redirect": url})
    return redirect(url)
