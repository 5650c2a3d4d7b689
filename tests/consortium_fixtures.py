"""Fixtures for the routing tests (issue 10), loaded with `pytest_plugins = ["tests.consortium_fixtures"]`:
the sample consortium file loaded, and staff of each member with a personal API token."""

from __future__ import annotations

from typing import Any

import pytest

from flows.organizations import load_sample
from storage import consultations as consultation_repo
from storage import staff as staff_repo
from tests.consortium import PASSWORD


@pytest.fixture
def consortium(app: Any, clock: Any) -> None:
    """The sample consortium file, loaded the way `tsunagu orgs load` does."""
    with app.extensions["tsunagu"].sessions.begin() as db:
        load_sample(db, clock())


@pytest.fixture
def staff_of(app: Any, clock: Any) -> Any:
    """staff_of("kazokukai") -> bearer headers of a new counselor of that member (None: the shared queue).
    The token is used once at once, so the counselor counts as on duty."""
    made: dict[str, int] = {}

    def _make(slug: str | None, login: str | None = None, role: str = "counselor") -> dict[str, str]:
        made[slug or ""] = made.get(slug or "", 0) + 1
        name = login or f"{slug or 'shared'}-{role}-{made[slug or '']}"
        with app.extensions["tsunagu"].sessions.begin() as db:
            org = (consultation_repo.organization_by_slug(db, slug) if slug
                   else consultation_repo.ensure_default_organization(db, clock()))
            assert org is not None, slug
            member = staff_repo.create(db, name, PASSWORD, role, org, clock(), display_name=name)
            token = staff_repo.issue_token(member, clock())
        return {"Authorization": f"Bearer {token}"}

    return _make
