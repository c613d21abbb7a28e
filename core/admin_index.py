"""The admin index grouped by what staff do, instead of one section per Django app.

Domain-free: the groups are data (``IndexLayout``) that the top app hands to the site
(``dashboard/admin_index.py``: ``admin.site.index_layout = ...``). A group names its
models as ``"app_label.model_name"`` or a whole app as ``"app_label"``; a model no group
names falls into the layout's default group, so a new app's admin never disappears from
the index. A group may be for superusers only (the machinery: task results, lockouts,
token blacklists), and may start with links to pages that are not model lists (the front
desk's booking page), each shown to those with its permission.

``get_app_list`` with an ``app_label`` (an app's own index page, ``/admin/<app>/``) is
Django's, unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib import admin
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

AppDict = dict[str, Any]


@dataclass(frozen=True)
class IndexLink:
    """A page of the admin that is not a model list, listed first in its group."""

    name: str
    url_name: str
    permission: str  # "app_label.codename"


@dataclass(frozen=True)
class IndexGroup:
    key: str  # a slug: the section's CSS class is "app-group-<key>"
    name: str
    members: tuple[str, ...] = ()  # "app_label.model_name" or "app_label"
    links: tuple[IndexLink, ...] = ()
    superuser_only: bool = False


@dataclass(frozen=True)
class IndexLayout:
    groups: tuple[IndexGroup, ...]
    default_key: str  # the group of every model no group names

    def group_of(self, app_label: str, model_name: str) -> tuple[IndexGroup, int]:
        """The group a model is listed in, and its place there (named models first, in
        the order named; then those of a named app; then the rest)."""
        label = f"{app_label}.{model_name}"
        for group in self.groups:
            if label in group.members:
                return group, group.members.index(label)
        for group in self.groups:
            if app_label in group.members:
                return group, len(group.members) + group.members.index(app_label)
        default = next(g for g in self.groups if g.key == self.default_key)
        return default, 2 * len(default.members)


@dataclass
class _Section:
    group: IndexGroup
    rows: list[tuple[int, str, AppDict]] = field(default_factory=list)


def grouped_app_list(
    app_list: list[AppDict], layout: IndexLayout, request: HttpRequest
) -> list[AppDict]:
    """Django's app list (apps with their models, as the user may see them) regrouped by
    ``layout``: groups in the layout's order, empty ones and superuser-only ones for
    anyone else left out."""
    sections = {group.key: _Section(group) for group in layout.groups}
    for app in app_list:
        for model in app["models"]:
            group, place = layout.group_of(app["app_label"], model["object_name"].lower())
            sections[group.key].rows.append((place, str(model["name"]), model))
    user = request.user
    grouped = []
    for section in sections.values():
        if section.group.superuser_only and not getattr(user, "is_superuser", False):
            continue
        models = _links(section.group, request) + [
            model for _, _, model in sorted(section.rows, key=lambda row: row[:2])
        ]
        if models:
            grouped.append(_app_dict(section.group, models))
    return grouped


def _links(group: IndexGroup, request: HttpRequest) -> list[AppDict]:
    shown = []
    for link in group.links:
        if not request.user.has_perm(link.permission):
            continue
        try:
            url = reverse(link.url_name)
        except NoReverseMatch:
            continue
        shown.append(
            {
                "name": link.name,
                "object_name": link.url_name.rsplit(":", 1)[-1],
                "admin_url": url,
                "add_url": None,
                "view_only": False,
                "perms": {"view": True},
                "is_link": True,
            }
        )
    return shown


def _app_dict(group: IndexGroup, models: list[AppDict]) -> AppDict:
    return {
        "name": group.name,
        "app_label": f"group-{group.key}",
        "app_url": "",  # no page of its own: the caption is plain text
        "has_module_perms": True,
        "models": models,
        "is_group": True,
    }


class GroupedIndexSite(admin.AdminSite):
    """An admin site whose index (and navigation sidebar) follows ``index_layout``, under
    Carebook's own header and titles."""

    site_header = "Carebook back office"
    site_title = "Carebook back office"
    index_title = "Front desk, records and imports"
    index_layout: IndexLayout | None = None

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[AppDict]:
        app_list = super().get_app_list(request, app_label)
        if app_label is not None or self.index_layout is None:
            return app_list
        return grouped_app_list(app_list, self.index_layout, request)


def index_layout_set(site: admin.AdminSite, layout: IndexLayout) -> None:
    """Give ``site`` (the project's, a ``GroupedIndexSite``) its index layout."""
    if not isinstance(site, GroupedIndexSite):
        raise ImproperlyConfigured(f"{type(site).__name__} cannot group its index.")
    site.index_layout = layout
