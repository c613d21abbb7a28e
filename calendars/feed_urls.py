"""The public feed URL (/calendar/{token}.ics): no login, the token is the key."""

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
