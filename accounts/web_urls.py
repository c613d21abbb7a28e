"""Browser pages of accounts (outside the API): the password reset link's target.

The names are Django's own (``password_reset_confirm``, ``password_reset_complete``):
its views and templates look them up without a namespace.
"""

from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import web

urlpatterns = [
    path(
        "password-reset/<uidb64>/<token>/",
        web.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
]
