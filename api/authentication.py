"""Token authentication that keeps the token's user, with their permissions, in the cache.

Every API call otherwise costs three queries before any work (the token with its user, then
the user's and their groups' permissions). The cached entry lives ``API_TOKEN_CACHE_SECONDS``
and is dropped when the token is deleted or the user, their groups or their own permissions
change; a change to a *group's* permissions reaches cached tokens within that time.
"""

import hashlib
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

from api import cache, throttles


def _cache_key(key: str) -> str:
    return "api-token:" + hashlib.sha256(key.encode()).hexdigest()


class CachedTokenAuthentication(TokenAuthentication):
    """With a ``throttle_scope`` (the view's), the cache read also counts the request against
    the token's budget, in the same round trip; ``TokenRateThrottle`` reads the count."""

    def __init__(self, throttle_scope: str | None = None) -> None:
        self.throttle_scope = throttle_scope
        self.request: Any = None

    def authenticate(self, request: Any) -> tuple[Any, Token] | None:
        self.request = request
        given = get_authorization_header(request).split()
        if given and given[0].lower() != self.keyword.lower().encode():
            # "Bearer <key>" would otherwise pass for no credentials at all.
            raise AuthenticationFailed(f'Send the token as "Authorization: {self.keyword} <key>".')
        return super().authenticate(request)

    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        cache_key = _cache_key(key)
        if self.throttle_scope and self.request is not None:
            window = throttles.current_window(self.throttle_scope)
            cached, used = cache.get_and_count(
                cache_key, window.key("token-" + cache_key.rsplit(":", 1)[1][:32]), timeout=window.period + 1
            )
            self.request.throttle_counted = (window, used)
        else:
            cached = cache.get(cache_key)
        if cached is not None:
            user, token = cached
            return user, token
        user, token = super().authenticate_credentials(key)
        # Load the permissions now so that they travel with the cached user (ModelBackend's cache).
        user.get_all_permissions()
        cache.set(cache_key, (user, token), timeout=settings.API_TOKEN_CACHE_SECONDS)
        return user, token


def forget_user_tokens(user_id: Any) -> None:
    keys = list(Token.objects.filter(user_id=user_id).values_list("key", flat=True))
    if keys:
        cache.delete_many([_cache_key(key) for key in keys])


# Signals are used here for cache invalidation only (house style).
@receiver(post_delete, sender=Token)
def _token_deleted(sender: type, instance: Token, **kwargs: Any) -> None:
    cache.delete_many([_cache_key(instance.key)])


@receiver(post_save, sender=get_user_model())
def _user_saved(sender: type, instance: Any, **kwargs: Any) -> None:
    forget_user_tokens(instance.pk)


@receiver(m2m_changed, sender=get_user_model().groups.through)
@receiver(m2m_changed, sender=get_user_model().user_permissions.through)
def _user_access_changed(sender: type, instance: Any, reverse: bool, pk_set: set | None, **kwargs: Any) -> None:
    if kwargs.get("action", "").startswith("post_"):
        if reverse:  # changed from the group or permission side: instance is not a user
            for user_id in pk_set or ():
                forget_user_tokens(user_id)
        else:
            forget_user_tokens(instance.pk)
