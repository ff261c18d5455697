"""Who may call what. Per-record reach is the selectors' job (another rep's lead is a 404)."""

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

READ_METHODS = ("GET", "HEAD", "OPTIONS")


class LeadPermissions(BasePermission):
    """Reading needs ``leads.view_lead``; creating ``leads.add_lead``; changing ``leads.change_lead``."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        if request.method in READ_METHODS:
            return user.has_perm("leads.view_lead")
        if request.method == "POST" and getattr(view, "creates_leads", False):
            return user.has_perm("leads.add_lead")
        return user.has_perm("leads.change_lead")
