"""The import rules of docs/architecture.md hold: checked on the real import graph.

Two checks: the import-linter contracts in pyproject.toml (the layers, and each app's
surface modules protected), and a rule that covers apps and surface modules not yet
listed there: no app imports another app's ``api``, ``admin``, ``fields``, ``forms`` or
``views`` (core's shared ``admin_tools``, ``fields``, ``requests`` are the homes for what
surfaces share, so they are not surfaces).
"""

from __future__ import annotations

import sys
import textwrap
import tomllib
from pathlib import Path

import grimp
import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parent.parent
SURFACES = {"api", "admin", "fields", "forms", "views"}
SHARED = {"core.fields", "core.admin_tools", "core.requests", "core.serializers"}


def root_packages() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(config["tool"]["importlinter"]["root_packages"])


def surface_of(module: str) -> str | None:
    """``labs.api`` and ``dashboard.views.agenda`` are surfaces of their app."""
    parts = module.split(".")
    if len(parts) < 2 or parts[1] not in SURFACES or ".".join(parts[:2]) in SHARED:
        return None
    return parts[0]


def surface_imports_across_apps(graph: grimp.ImportGraph) -> list[str]:
    found = []
    for imported in sorted(graph.modules):
        owner = surface_of(imported)
        if owner is None:
            continue
        for importer in sorted(graph.find_modules_that_directly_import(imported)):
            if importer.split(".")[0] not in (owner, "config"):
                found.append(f"{importer} -> {imported}")
    return found


def test_the_import_linter_contracts_hold(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert lint_imports(no_cache=True, no_logo=True) == 0, "see the broken contracts above"


def test_no_app_imports_another_apps_surface():
    graph = grimp.build_graph(*root_packages(), cache_dir=None)
    assert surface_imports_across_apps(graph) == []


def test_the_surface_rule_catches_an_app_importing_another_apps_api(tmp_path, monkeypatch):
    # given two throwaway apps, one importing the other's api and fields
    for name, body in {
        "alpha/__init__.py": "",
        "alpha/api.py": "",
        "alpha/fields.py": "",
        "beta/__init__.py": "",
        "beta/services.py": "import alpha.api\nfrom alpha import fields\n",
        "beta/api.py": "",
    }.items():
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(textwrap.dedent(body))
    monkeypatch.syspath_prepend(str(tmp_path))

    # when the rule reads their graph
    graph = grimp.build_graph("alpha", "beta", cache_dir=None)
    found = surface_imports_across_apps(graph)

    # then both crossings are named, and an app's own surface is not
    assert found == ["beta.services -> alpha.api", "beta.services -> alpha.fields"]
    for name in ("alpha", "alpha.api", "alpha.fields", "beta", "beta.services", "beta.api"):
        sys.modules.pop(name, None)


@pytest.mark.parametrize(
    ("module", "owner"),
    [
        ("labs.api", "labs"),
        ("dashboard.views.agenda", "dashboard"),
        ("core.fields", None),
        ("core.api", "core"),
        ("scheduling.services", None),
    ],
)
def test_what_counts_as_a_surface(module, owner):
    assert surface_of(module) == owner
