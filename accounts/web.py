"""The page a password reset link opens (``accounts.services.password_reset_link_send``).

Django's views and templates; the new password is set by ``user_password_set``, so the
change is audited with the user as actor and revokes every token and session of theirs.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import SetPasswordForm

from accounts import services


class ServiceSetPasswordForm(SetPasswordForm):
    def save(self, commit: bool = True) -> Any:
        return services.user_password_set(
            actor=self.user,
            user=self.user,
            password=self.cleaned_data["new_password1"],
            via="reset_link",
        )


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    form_class = ServiceSetPasswordForm
