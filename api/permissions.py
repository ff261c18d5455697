"""Who may call what. Per-record reach is the selectors' job (another rep's lead is a 404)."""

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

LEAD_PERMISSIONS = {
    "GET": ("leads.view_lead",),
    "POST": ("leads.change_lead",),
    "PATCH": ("leads.change_lead",),
}


class RolePermissions(BasePermission):
    """The view's ``required_permissions[method]`` (by default the leads' view/change permissions).

    All three roles hold them; a user in no role gets 403.
    """

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        required = getattr(view, "required_permissions", LEAD_PERMISSIONS)
        method = "GET" if request.method in ("HEAD", "OPTIONS") else request.method
        if method not in required:
            return True  # the view answers 405 for a method it does not have
        return user.has_perms(required[method])
