"""The public feed URL (/calendar/{token}.ics): no login, the token is the key."""

from django.urls import URLPattern, URLResolver, re_path

from calendars.views import calendar_feed

# Any token shape reaches the view (one path for every unknown token, see views.py).
urlpatterns: list[URLPattern | URLResolver] = [
    re_path(r"^(?P<token>[^/]{1,256})\.ics$", calendar_feed, name="calendar-feed"),
]
