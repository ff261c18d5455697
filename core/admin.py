"""Admin bases shared by the apps."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest


class ViewOnlyAdmin(admin.ModelAdmin):
    """Rows that only the product writes: the admin shows them and may delete them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(ViewOnlyAdmin):
    """History the product writes and nobody removes: the admin only shows it."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
