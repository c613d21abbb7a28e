"""The ``staff`` permission group: what a staff member may do in the admin (SPEC RBAC).

SPEC gives staff "everything in the admin" except where a record must not change:
the audit trail and the Celery results are evidence, so staff only view them; the
login-lockout records may be viewed and deleted (deleting unlocks an account).
Permissions of Django's internals (content types, sessions, raw permissions) are not
granted. Superusers keep every permission regardless of this group.

The group is synchronised after every ``migrate`` (``dashboard.apps`` connects
``staff_group_sync`` to ``post_migrate``), so the models an app adds later are covered
without a data migration that would freeze the list at one point in time. Accounts
join or leave the group when their role changes (``staff_group_membership_sync``).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission

from accounts.models import Role, User

STAFF_GROUP = "staff"

# Apps whose models are evidence or machinery: staff read them, never edit them.
VIEW_ONLY_APPS = frozenset({"audit", "django_celery_results", "token_blacklist", "admin"})
# Lockout records: viewed, and deleted to unlock an account.
VIEW_AND_DELETE_APPS = frozenset({"axes"})
# Django internals: nothing.
EXCLUDED_APPS = frozenset({"contenttypes", "sessions"})
EXCLUDED_MODELS = frozenset({("auth", "permission")})


def staff_permissions() -> list[Permission]:
    """Every permission the staff group holds, by the rules in the module docstring."""
    chosen = []
    permissions = Permission.objects.select_related("content_type")
    for permission in permissions.exclude(content_type__app_label__in=EXCLUDED_APPS):
        app_label = permission.content_type.app_label
        model = permission.content_type.model
        action = permission.codename.split("_", 1)[0]
        if (app_label, model) in EXCLUDED_MODELS:
            continue
        if app_label in VIEW_ONLY_APPS and action != "view":
            continue
        if app_label in VIEW_AND_DELETE_APPS and action not in ("view", "delete"):
            continue
        chosen.append(permission)
    return chosen


def staff_group_sync(**_: Any) -> Group:
    """Create or refresh the group and put every staff-role account in it (idempotent)."""
    group, _created = Group.objects.get_or_create(name=STAFF_GROUP)
    group.permissions.set(staff_permissions())
    members = User.objects.filter(role=Role.STAFF).exclude(groups=group)
    group.user_set.add(*members)
    return group


def staff_group_membership_sync(user: User) -> None:
    """A staff-role account is in the group; any other role is not."""
    group = Group.objects.filter(name=STAFF_GROUP).first()
    if group is None:  # before the first migrate finished (e.g. in a migration)
        return
    if user.role == Role.STAFF:
        user.groups.add(group)
    else:
        user.groups.remove(group)
