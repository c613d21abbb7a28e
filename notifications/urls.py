from django.urls import path

from notifications import api

urlpatterns = [
    path(
        "me/notification-preferences/",
        api.NotificationPreferencesApi.as_view(),
        name="me-notification-preferences",
    ),
]
