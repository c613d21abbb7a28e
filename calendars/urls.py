from django.urls import URLPattern, URLResolver, path

from calendars import api

urlpatterns: list[URLPattern | URLResolver] = [
    path("me/calendar-feed/", api.CalendarFeedApi.as_view(), name="me-calendar-feed"),
]
